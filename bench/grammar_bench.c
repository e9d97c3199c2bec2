/* Grammar mask cost (not a test): per-token time of llmc_grammar_matcher_mask on a real
 * vocabulary, for JSON schemas, two ways:
 *   forced  — a valid JSON document per schema, tokenized by the tokenizer and fed token by
 *             token (as a model writing it would), a fresh matcher per document (cold masks);
 *   sampled — seeded random-logit replies under the schema (sampler + mask + accept).
 * (forced also warm: one matcher reset between documents, caches kept.)
 * Prints one line per case: steps, median / p90 / p99 / max µs of the mask, mean, and the
 * setup costs (schema compile, vocab + trie build).
 * usage: grammar_bench TOKENIZER_DIR [REPLIES (default 20)] */
#include "grammar/grammar.h"
#include "generate/sampler.h"
#include "tokenizer/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

typedef struct { const char *name, *schema, *doc; } bcase;
static const bcase CASES[] = {
    {"person", "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
               "\"email\":{\"type\":\"string\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
               "\"required\":[\"name\",\"age\"],\"additionalProperties\":false}",
     "{\"name\": \"Ada Lovelace\", \"age\": 36, \"email\": \"ada@analytical.engine\", \"tags\": [\"math\", \"poetry of science\", \"notes\"]}"},
    {"order", "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
              "\"properties\":{\"sku\":{\"type\":\"string\"},\"qty\":{\"type\":\"integer\"},\"price\":{\"type\":\"number\"}},"
              "\"required\":[\"sku\",\"qty\",\"price\"]}},\"status\":{\"enum\":[\"new\",\"paid\",\"shipped\"]},"
              "\"note\":{\"type\":[\"string\",\"null\"]}},\"required\":[\"id\",\"items\",\"status\",\"note\"]}",
     "{\n  \"id\": \"A-1029\",\n  \"items\": [\n    {\"sku\": \"pen-blue\", \"qty\": 12, \"price\": 1.25},\n    {\"sku\": \"notebook\", "
     "\"qty\": 3, \"price\": 4.5}\n  ],\n  \"status\": \"paid\",\n  \"note\": null\n}"},
    {"json_object", "", "{\"summary\": \"The meeting moved to Thursday.\", \"attendees\": [\"Kim\", \"Lee\", \"Park\"], \"room\": 4, "
                        "\"details\": {\"remote\": true, \"link\": null}}"},
};

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n, double setup_compile, double setup_vocab) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += t[i];
    printf("%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\n", what, n, n ? t[n / 2] : 0, n ? t[n * 9 / 10] : 0, n ? t[n * 99 / 100] : 0,
           n ? t[n - 1] : 0, n ? sum / n : 0, setup_compile, setup_vocab);
}

typedef struct { llmc_grammar_matcher *m; double *t; int n, cap; } sctx;
static int smask(void *u, float *logits, int vocab) {
    sctx *c = u;
    const uint32_t *mask;
    double a = now_us();
    if (llmc_grammar_matcher_mask(c->m, &mask, NULL)) return 1;
    double b = now_us();
    if (c->n < c->cap) c->t[c->n++] = b - a;
    llmc_grammar_mask_apply(mask, logits, vocab);
    return 0;
}
static void saccept(void *u, int32_t id) { llmc_grammar_matcher_accept(((sctx *)u)->m, id, NULL); }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: grammar_bench TOKENIZER_DIR [REPLIES]\n"); return 2; }
    int replies = argc > 2 ? atoi(argv[2]) : 20;
    llmc_tokenizer *tok = NULL;
    llmc_error err = {0};
    if (llmc_tokenizer_load(argv[1], &tok, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int vocab = (int)llmc_tokenizer_vocab_size(tok);
    const char *eos_s = llmc_tokenizer_special(tok, "eos_token");
    int32_t eos = eos_s ? llmc_tokenizer_token_to_id(tok, eos_s) : -1;
    double t0 = now_us();
    llmc_grammar_vocab *v = NULL;
    if (llmc_grammar_vocab_from_tokenizer(tok, vocab, &v, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t_vocab = (now_us() - t0) / 1e3;
    printf("case\tsteps\tmedian_us\tp90_us\tp99_us\tmax_us\tmean_us\tcompile_ms\tvocab_ms\n");
    int cap = 1 << 20;
    double *t = malloc((size_t)cap * sizeof *t);
    float *logits = malloc((size_t)vocab * sizeof *logits);
    uint64_t rs = 42;
    for (size_t ci = 0; ci < sizeof CASES / sizeof *CASES; ci++) {
        const bcase *c = &CASES[ci];
        llmc_grammar *g = NULL;
        t0 = now_us();
        if (llmc_grammar_from_json_schema(c->schema, strlen(c->schema), &g, &err)) { fprintf(stderr, "%s: %s\n", c->name, err.msg); return 1; }
        double t_comp = (now_us() - t0) / 1e3;
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (llmc_tokenizer_encode(tok, c->doc, strlen(c->doc), false, &ids, &n_ids, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        /* forced: cold = a fresh matcher per document; warm = one matcher reset between documents
           (its caches kept: what a repeated schema sees), the first document not counted */
        for (int warm = 0; warm < 2; warm++) {
            int n = 0;
            llmc_grammar_matcher *m = NULL;
            for (int r = 0; r < replies + warm; r++) {
                if (!m && llmc_grammar_matcher_new(g, v, &eos, 1, &m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
                llmc_grammar_matcher_reset(m);
                for (size_t i = 0; i <= n_ids && n < cap; i++) {
                    const uint32_t *mask;
                    double a = now_us();
                    if (llmc_grammar_matcher_mask(m, &mask, &err)) { fprintf(stderr, "%s: %s\n", c->name, err.msg); return 1; }
                    if (!warm || r > 0) t[n++] = now_us() - a;
                    int32_t id = i < n_ids ? ids[i] : eos;
                    if (!((mask[id >> 5] >> (id & 31)) & 1u) || llmc_grammar_matcher_accept(m, id, &err)) {
                        fprintf(stderr, "%s: the document's token %zu (%d) is not allowed: %s\n", c->name, i, id, err.msg);
                        return 1;
                    }
                }
                if (!warm) { llmc_grammar_matcher_free(m); m = NULL; }
            }
            llmc_grammar_matcher_free(m);
            char name[64];
            snprintf(name, sizeof name, "%s forced %s", c->name, warm ? "warm" : "cold");
            report(name, t, n, t_comp, t_vocab);
        }
        /* sampled */
        sctx sc = {NULL, t, 0, cap};
        for (int r = 0; r < replies; r++) {
            if (llmc_grammar_matcher_new(g, v, &eos, 1, &sc.m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            llmc_sampling sp;
            llmc_sampling_default(&sp);
            sp.do_sample = true; sp.top_k = 0; sp.seed = (uint64_t)r; sp.has_seed = true;
            sp.mask = smask; sp.accept = saccept; sp.mask_user = &sc;
            llmc_sampler *s = llmc_sampler_new(&sp);
            for (int step = 0; step < 400; step++) {
                for (int i = 0; i < vocab; i++) {
                    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
                    logits[i] = (float)((rs >> 40) & 0xFFFF) / 8192.0f;
                }
                int32_t id = llmc_sampler_sample(s, logits, vocab, NULL, 0);
                if (id < 0 || id == eos) break;
            }
            llmc_sampler_free(s);
            llmc_grammar_matcher_free(sc.m);
        }
        char name[64];
        snprintf(name, sizeof name, "%s sampled", c->name);
        report(name, t, sc.n, t_comp, t_vocab);
        free(ids);
        llmc_grammar_free(g);
    }
    free(t);
    free(logits);
    llmc_grammar_vocab_free(v);
    llmc_tokenizer_free(tok);
    return 0;
}
