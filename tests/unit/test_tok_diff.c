/* Differential tokenizer test: tokenizers trained by the real `tokenizers` library
 * (tests/golden/make_tok_diff_fixtures.py: every model type, many normalizer /
 * pre-tokenizer / decoder / post-processor combinations, added-token flags) and texts
 * none of them saw, adversarial ones included. For every config and text, llmc's ids
 * must equal tokenizers' (a recorded null = tokenizers failed, llmc must fail too);
 * decode of the recorded ids must equal tokenizers' decode; and where tokenizers
 * round-trips every text losslessly, llmc must too. The real tokenizers the tests ship
 * are checked on the same texts. Prints the counts. */
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "base/json.h"
#include "base/file.h"
#include <stdint.h>

static int32_t *arr_ids(const cJSON *a, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    if (!v) return NULL;
    size_t i = 0;
    for (const cJSON *x = a->child; x; x = x->next) v[i++] = (int32_t)x->valuedouble;
    return v;
}

static void show(const char *what, const int32_t *v, size_t n) {
    fprintf(stderr, "    %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 24; i++) fprintf(stderr, " %d", v[i]);
    fprintf(stderr, "%s\n", n > 24 ? " ..." : "");
}

typedef struct { size_t cases, id_bad, dec_cases, dec_bad, rt_cases, rt_bad, load_bad; } counts;

/* One config: returns the number of id mismatches. */
static size_t run_config(const cJSON *cfg, const cJSON *texts, counts *c) {
    const char *name = llmc_json_get_string(cfg, "name");
    /* the tokenizer.json text exactly as tokenizers' to_str() wrote it */
    const char *js = llmc_json_get_string(cfg, "tokenizer_json");
    llmc_tokenizer *t = NULL;
    llmc_error err = {0};
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(cfg, "ids");
    size_t n_texts = (size_t)cJSON_GetArraySize(texts);
    if (!js || llmc_tokenizer_from_json(js, strlen(js), NULL, 0, name, &t, &err) != LLMC_OK) {
        CHECK_MSG(0, "%s: load failed: %s", name, err.msg);
        c->load_bad++;
        c->cases += n_texts;
        c->id_bad += n_texts;
        return n_texts;
    }
    size_t bad = 0, shown = 0, i = 0;
    const cJSON *e = ids->child;
    for (const cJSON *tx = texts->child; tx && e; tx = tx->next, e = e->next, i++) {
        const char *s = tx->valuestring;
        int32_t *got = NULL;
        size_t ng = 0;
        llmc_status rc = llmc_tokenizer_encode(t, s, strlen(s), true, &got, &ng, &err);
        c->cases++;
        bool ok;
        size_t nr = 0;
        int32_t *ref = NULL;
        if (cJSON_IsNull(e)) ok = rc != LLMC_OK;
        else {
            ref = arr_ids(e, &nr);
            ok = rc == LLMC_OK && ng == nr && (nr == 0 || memcmp(got, ref, nr * sizeof *ref) == 0);
        }
        if (!ok) {
            bad++;
            if (shown++ < 3) {
                fprintf(stderr, "  %s text %zu: \"%.80s\"\n", name, i, s);
                if (rc) fprintf(stderr, "    llmc error: %s\n", err.msg); else show("llmc      ", got, ng);
                if (ref) show("tokenizers", ref, nr); else fprintf(stderr, "    tokenizers: error\n");
            }
        }
        free(got);
        free(ref);
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu texts differ from tokenizers", name, bad, i);
    c->id_bad += bad;
    /* decode of tokenizers' ids */
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg, "decoded");
    size_t dbad = 0;
    e = ids->child;
    i = 0;
    for (const cJSON *d = cJSON_IsArray(dec) ? dec->child : NULL; d && e; d = d->next, e = e->next, i++) {
        if (!cJSON_IsString(d) || cJSON_IsNull(e)) continue;
        size_t nr;
        int32_t *ref = arr_ids(e, &nr);
        char *txt = NULL;
        size_t tl = 0;
        c->dec_cases++;
        llmc_status rc = llmc_tokenizer_decode(t, ref, nr, false, &txt, &tl, &err);
        if (rc || tl != strlen(d->valuestring) || memcmp(txt, d->valuestring, tl) != 0) {
            if (dbad++ < 2) fprintf(stderr, "  %s decode %zu:\n    llmc:       [%s]\n    tokenizers: [%s]\n", name, i,
                                    rc ? err.msg : txt, d->valuestring);
        }
        free(txt);
        free(ref);
    }
    CHECK_MSG(dbad == 0, "%s: %zu decodes differ", name, dbad);
    c->dec_bad += dbad;
    /* lossless round trip where tokenizers has one */
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "lossless"))) {
        size_t rbad = 0;
        for (const cJSON *tx = texts->child; tx; tx = tx->next) {
            const char *s = tx->valuestring;
            int32_t *got = NULL;
            size_t ng = 0;
            char *back = NULL;
            size_t bl = 0;
            c->rt_cases++;
            if (llmc_tokenizer_encode(t, s, strlen(s), false, &got, &ng, &err) != LLMC_OK ||
                llmc_tokenizer_decode(t, got, ng, false, &back, &bl, &err) != LLMC_OK || bl != strlen(s) ||
                memcmp(back, s, bl) != 0) {
                if (rbad++ < 2) fprintf(stderr, "  %s: round trip lost text: \"%.60s\" -> \"%.60s\"\n", name, s, back ? back : err.msg);
            }
            free(got);
            free(back);
        }
        CHECK_MSG(rbad == 0, "%s: %zu texts do not round-trip", name, rbad);
        c->rt_bad += rbad;
    }
    llmc_tokenizer_free(t);
    return bad;
}

/* The real tokenizers the tests ship (Mistral-style llama2, Llama 3, Qwen3, SmolLM2) on the
 * same texts: tokenizers' ids (no special tokens), loaded as Tokenizer.from_file does. */
static void run_real(const cJSON *real, const cJSON *texts, const char *fx, size_t *n_tok, size_t *cases, size_t *bad) {
    for (const cJSON *r = real ? real->child : NULL; r; r = r->next) {
        const char *name = llmc_json_get_string(r, "name"), *rel = llmc_json_get_string(r, "path");
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "in_fixture_dir")) ? fx : ".", rel);
        char *js = NULL;
        size_t jl = 0;
        llmc_error err = {0};
        llmc_tokenizer *t = NULL;
        if (llmc_read_file(path, 64u << 20, &js, &jl, &err) != LLMC_OK ||
            llmc_tokenizer_from_json(js, jl, NULL, 0, path, &t, &err) != LLMC_OK) {
            CHECK_MSG(0, "%s: %s", path, err.msg);
            free(js);
            continue;
        }
        free(js);
        (*n_tok)++;
        size_t b = 0, shown = 0;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "ids")->child;
        for (const cJSON *tx = texts->child; tx && e; tx = tx->next, e = e->next) {
            int32_t *got = NULL;
            size_t ng = 0, nr = 0;
            int32_t *ref = arr_ids(e, &nr);
            llmc_status rc = llmc_tokenizer_encode(t, tx->valuestring, strlen(tx->valuestring), false, &got, &ng, &err);
            (*cases)++;
            if (rc || ng != nr || (nr && memcmp(got, ref, nr * sizeof *ref))) {
                b++;
                if (shown++ < 3) {
                    fprintf(stderr, "  %s: \"%.60s\"\n", name, tx->valuestring);
                    show("llmc      ", got, ng);
                    show("tokenizers", ref, nr);
                }
            }
            free(got);
            free(ref);
        }
        CHECK_MSG(b == 0, "real %s: %zu texts differ from tokenizers", name, b);
        *bad += b;
        llmc_tokenizer_free(t);
    }
}

int main(void) {
    const char *fx = test_env("LLMC_FIXTURE_DIR", "build/fixtures");
    char path[1024];
    snprintf(path, sizeof path, "%s/tokdiff/tokdiff.json", fx);
    char *data = NULL;
    size_t len = 0;
    llmc_error err = {0};
    if (llmc_read_file(path, (size_t)1 << 30, &data, &len, &err) != LLMC_OK) {
        CHECK_MSG(0, "%s: %s (tests/golden/make_tok_diff_fixtures.py writes it; cmake unpacks the .xz)", path, err.msg);
        return test_summary();
    }
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    CHECK_MSG(root != NULL, "%s: not JSON", path);
    if (!root) return test_summary();
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(root, "texts");
    const cJSON *cfgs = cJSON_GetObjectItemCaseSensitive(root, "configs");
    counts c = {0};
    size_t n_cfg = 0, cfg_bad = 0;
    for (const cJSON *cfg = cfgs ? cfgs->child : NULL; cfg; cfg = cfg->next, n_cfg++)
        if (run_config(cfg, texts, &c)) cfg_bad++;
    size_t n_texts = (size_t)cJSON_GetArraySize(texts);
    size_t n_real = 0, real_cases = 0, real_bad = 0;
    run_real(cJSON_GetObjectItemCaseSensitive(root, "real"), texts, fx, &n_real, &real_cases, &real_bad);
    CHECK_MSG(n_real >= 4, "only %zu real tokenizers checked", n_real);
    printf("tokdiff real tokenizers: %zu x %zu texts, %zu mismatches\n", n_real, n_texts, real_bad);
    CHECK_MSG(n_cfg >= 50 && n_texts >= 2000, "differential suite too small: %zu configs x %zu texts", n_cfg, n_texts);
    printf("tokdiff (tokenizers %s): %zu configs x %zu texts = %zu encodes, %zu mismatches (%zu configs differ, %zu fail to load); "
           "%zu decodes, %zu differ; %zu lossless round trips, %zu lost text\n",
           llmc_json_get_string(root, "tokenizers_version") ? llmc_json_get_string(root, "tokenizers_version") : "?",
           n_cfg, n_texts, c.cases, c.id_bad, cfg_bad, c.load_bad, c.dec_cases, c.dec_bad, c.rt_cases, c.rt_bad);
    cJSON_Delete(root);
    return test_summary();
}
