/* JSON Schema constrained decoding over real vocabularies: many seeded random-logit
 * "models" sample under each schema on the llama3 (128k) and qwen3 vocabularies through
 * the sampler hook; every finished reply must parse and validate against the schema
 * (checked by an independent validator here), and the token bytes must concatenate to
 * what the tokenizer decodes. Plus the schema errors, which name the schema path. */
#include "test.h"
#include "grammar/grammar.h"
#include "generate/sampler.h"
#include "tokenizer/tokenizer.h"
#include <cjson/cJSON.h>
#include <oniguruma.h>
#include <math.h>
#include <stdint.h>
#include <time.h>

/* ---------------- an independent validator for the subset ---------------- */

static const cJSON *resolve(const cJSON *doc, const char *ref) {
    if (!strcmp(ref, "#")) return doc;
    const char *pre[] = {"#/$defs/", "#/definitions/"};
    for (int i = 0; i < 2; i++)
        if (!strncmp(ref, pre[i], strlen(pre[i])))
            return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, i ? "definitions" : "$defs"), ref + strlen(pre[i]));
    return NULL;
}

static size_t u8len(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool valid(const cJSON *v, const cJSON *s, const cJSON *doc, int depth);

/* A pattern search with Oniguruma (an independent regex engine). */
static bool re_search(const char *pat, const char *str) {
    static int init;
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    if (!init++) onig_initialize(&enc, 1);
    OnigRegex re;
    OnigErrorInfo einfo;
    if (onig_new(&re, (const UChar *)pat, (const UChar *)pat + strlen(pat), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo))
        return false;
    OnigRegion *reg = onig_region_new();
    const UChar *a = (const UChar *)str, *e = a + strlen(str);
    int r = onig_search(re, a, e, a, e, reg, ONIG_OPTION_NONE);
    onig_region_free(reg, 1);
    onig_free(re);
    return r >= 0;
}

static bool valid_type(const cJSON *v, const cJSON *s, const char *t, const cJSON *doc, int depth) {
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    if (!strcmp(t, "string")) {
        if (!cJSON_IsString(v)) return false;
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(s, "minLength"), *mx = cJSON_GetObjectItemCaseSensitive(s, "maxLength");
        size_t n = u8len(v->valuestring);
        if (mn && n < (size_t)mn->valuedouble) return false;
        if (mx && n > (size_t)mx->valuedouble) return false;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
        if (pat && !re_search(pat->valuestring, v->valuestring)) return false;
        return true;
    }
    if (!strcmp(t, "array")) {
        if (!cJSON_IsArray(v)) return false;
        int n = cJSON_GetArraySize(v);
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(s, "minItems"), *mx = cJSON_GetObjectItemCaseSensitive(s, "maxItems");
        if (mn && n < mn->valuedouble) return false;
        if (mx && n > mx->valuedouble) return false;
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        for (const cJSON *e = v->child; items && e; e = e->next)
            if (!valid(e, items, doc, depth + 1)) return false;
        return true;
    }
    if (!strcmp(t, "object")) {
        if (!cJSON_IsObject(v)) return false;
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
        const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
        for (const cJSON *r = cJSON_GetObjectItemCaseSensitive(s, "required") ? cJSON_GetObjectItemCaseSensitive(s, "required")->child : NULL; r; r = r->next)
            if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring)) return false;
        for (const cJSON *e = v->child; e; e = e->next) {
            for (const cJSON *f = e->next; f; f = f->next)
                if (!strcmp(e->string, f->string)) return false;   /* duplicate keys */
            const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, e->string) : NULL;
            if (ps) { if (!valid(e, ps, doc, depth + 1)) return false; }
            else if (cJSON_IsFalse(addl)) return false;
            else if (cJSON_IsObject(addl) && !valid(e, addl, doc, depth + 1)) return false;
        }
        return true;
    }
    return false;
}

static bool valid(const cJSON *v, const cJSON *s, const cJSON *doc, int depth) {
    if (depth > 200) return false;
    if (cJSON_IsTrue(s)) return true;
    const cJSON *t;
    if ((t = cJSON_GetObjectItemCaseSensitive(s, "$ref"))) { const cJSON *r = resolve(doc, t->valuestring); return r && valid(v, r, doc, depth + 1); }
    if ((t = cJSON_GetObjectItemCaseSensitive(s, "const"))) return cJSON_Compare(v, t, true);
    if ((t = cJSON_GetObjectItemCaseSensitive(s, "enum"))) {
        for (const cJSON *e = t->child; e; e = e->next)
            if (cJSON_Compare(v, e, true)) return true;
        return false;
    }
    if ((t = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) || (t = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        for (const cJSON *e = t->child; e; e = e->next)
            if (valid(v, e, doc, depth + 1)) return true;
        return false;
    }
    t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (cJSON_IsString(t)) return valid_type(v, s, t->valuestring, doc, depth);
    if (cJSON_IsArray(t)) {
        for (const cJSON *e = t->child; e; e = e->next)
            if (valid_type(v, s, e->valuestring, doc, depth)) return true;
        return false;
    }
    if (cJSON_GetObjectItemCaseSensitive(s, "properties")) return valid_type(v, s, "object", doc, depth);
    return true;
}

/* ---------------- random-logit generations ---------------- */

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}

static const char *SCHEMAS[] = {
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},\"age\":{\"type\":\"integer\"},"
    "\"ok\":{\"type\":\"boolean\"}},\"required\":[\"name\",\"age\"],\"additionalProperties\":false}",
    "{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\",\"blue\",3,null]},\"minItems\":1,\"maxItems\":4}",
    "{\"anyOf\":[{\"type\":\"number\"},{\"type\":\"string\",\"minLength\":2,\"maxLength\":5},{\"const\":{\"k\":[1,2]}}]}",
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},"
    "{\"type\":\"null\"}]}},\"required\":[\"v\",\"next\"]}},\"$ref\":\"#/$defs/node\"}",
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"],\"maxLength\":3},\"b\":{\"type\":\"array\","
    "\"items\":{\"type\":\"number\"},\"maxItems\":3},\"c\":{\"type\":\"string\",\"format\":\"date\"}},\"required\":[\"c\"]}",
    "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":6},\"minItems\":2,"
    "\"maxItems\":2}, \"x\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}},\"required\":[\"tags\",\"x\"]}",
    "{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-\\\\d{3,4}$\"},"
    "\"tag\":{\"type\":\"string\",\"pattern\":\"^(foo|ba[rz])+(\\\\.[^a-z\\\\s]?)?$\"},\"q\":{\"type\":\"string\",\"pattern\":\"^\\\"\\\\\\\\.?$\"},"
    "\"free\":{\"type\":\"string\",\"pattern\":\"^x\\\\.y\"}},\"required\":[\"code\",\"tag\",\"q\"]}",
};

typedef struct { llmc_grammar_constraint *c; int masks; double mask_ms; } gen_ctx;
static int mask_cb(void *u, float *logits, int vocab) {
    gen_ctx *g = u;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = llmc_grammar_constraint_mask_cb(g->c, logits, vocab);
    clock_gettime(CLOCK_MONOTONIC, &b);
    g->masks++;
    g->mask_ms += (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    return r;
}
static void accept_cb(void *u, int32_t id) { llmc_grammar_constraint_accept_cb(((gen_ctx *)u)->c, id); }

static void run_vocab(const char *name, int32_t eos, int n_runs) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tokenizers/%s", test_fixture_dir(), name);
    llmc_tokenizer *tok = NULL;
    llmc_error err = {0};
    CHECK_MSG(llmc_tokenizer_load(dir, &tok, &err) == LLMC_OK, "%s: %s", dir, err.msg);
    if (!tok) return;
    int vocab = (int)llmc_tokenizer_vocab_size(tok) + 7;   /* a model head wider than the tokenizer */
    float *logits = malloc((size_t)vocab * sizeof *logits);
    int finished = 0, total = 0, bad = 0;
    double mask_ms = 0;
    int masks = 0;
    for (size_t si = 0; si < sizeof SCHEMAS / sizeof *SCHEMAS; si++) {
        cJSON *schema = cJSON_Parse(SCHEMAS[si]);
        CHECK(schema != NULL);
        gen_ctx g = {0};
        CHECK_MSG(llmc_grammar_constraint_new(tok, vocab, SCHEMAS[si], NULL, &eos, 1, &g.c, &err) == LLMC_OK, "schema %zu: %s", si, err.msg);
        for (int run = 0; g.c && run < n_runs; run++) {
            llmc_grammar_constraint *c = g.c;
            llmc_grammar_constraint_free(NULL);
            /* fresh matcher state: a new constraint per reply, as the pipeline makes one per call */
            if (run) {
                llmc_grammar_constraint_free(c);
                CHECK(llmc_grammar_constraint_new(tok, vocab, SCHEMAS[si], NULL, &eos, 1, &g.c, &err) == LLMC_OK);
            }
            llmc_sampling sp;
            llmc_sampling_default(&sp);
            sp.do_sample = run % 4 != 3;   /* every fourth reply greedy */
            sp.top_k = 0;
            sp.seed = 1000 + (uint64_t)run; sp.has_seed = true;
            sp.mask = mask_cb; sp.accept = accept_cb; sp.mask_user = &g;
            llmc_sampler *s = llmc_sampler_new(&sp);
            int32_t ids[600];
            int n = 0;
            bool done = false;
            while (n < 600) {
                for (int i = 0; i < vocab; i++) logits[i] = (float)(urand() * 8.0);
                int32_t id = llmc_sampler_sample(s, logits, vocab, NULL, 0);
                if (id < 0) break;
                if (id == eos) { done = true; break; }
                ids[n++] = id;
            }
            CHECK_MSG(llmc_grammar_constraint_status(g.c, &err) == LLMC_OK, "%s schema %zu run %d: %s", name, si, run, err.msg);
            char *text = NULL;
            size_t tl = 0;
            CHECK(llmc_tokenizer_decode(tok, ids, (size_t)n, true, &text, &tl, &err) == LLMC_OK);
            total++;
            if (done && text) {
                finished++;
                cJSON *v = cJSON_Parse(text);
                bool ok = v && valid(v, schema, schema, 0);
                if (!ok) {
                    bad++;
                    if (bad < 4) fprintf(stderr, "%s schema %zu run %d: invalid reply: %s\n", name, si, run, text);
                }
                cJSON_Delete(v);
            }
            free(text);
            llmc_sampler_free(s);
        }
        printf("%s schema %zu: %d/%d finished so far\n", name, si, finished, total);
        mask_ms += g.mask_ms;
        masks += g.masks;
        llmc_grammar_constraint_free(g.c);
        cJSON_Delete(schema);
    }
    printf("%s: %d/%d replies finished, %d invalid; %d masks, mean %.1f us\n", name, finished, total, bad, masks,
           masks ? mask_ms * 1e3 / masks : 0);
    CHECK_INT(bad, 0);
    CHECK_MSG(finished * 2 >= total, "%s: only %d of %d replies finished", name, finished, total);
    free(logits);
    llmc_tokenizer_free(tok);
}

/* Token bytes as the grammar sees them agree with the tokenizer's decode. */
static void test_token_bytes(const char *name) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tokenizers/%s", test_fixture_dir(), name);
    llmc_tokenizer *tok = NULL;
    llmc_error err = {0};
    CHECK(llmc_tokenizer_load(dir, &tok, &err) == LLMC_OK);
    if (!tok) return;
    llmc_grammar_vocab *v = NULL;
    CHECK(llmc_grammar_vocab_from_tokenizer(tok, 0, &v, &err) == LLMC_OK);
    const char *text = "{\"name\": \"Ünïcode – ok\", \"n\": [1, 2.5e3]}\n";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(llmc_tokenizer_encode(tok, text, strlen(text), false, &ids, &n, &err) == LLMC_OK);
    char buf[256];
    size_t k = 0;
    for (size_t i = 0; i < n && v; i++) {
        size_t l;
        const uint8_t *b = llmc_grammar_vocab_bytes(v, ids[i], &l);
        CHECK(b != NULL && k + l < sizeof buf);
        if (b && k + l < sizeof buf) { memcpy(buf + k, b, l); k += l; }
    }
    buf[k] = 0;
    /* SentencePiece encodes a leading space the decoder drops */
    const char *got = buf[0] == ' ' && text[0] != ' ' ? buf + 1 : buf;
    CHECK_STR(got, text);
    free(ids);
    llmc_grammar_vocab_free(v);
    llmc_tokenizer_free(tok);
}

/* ---------------- errors name the schema path ---------------- */

static void expect_schema_error(const char *schema, llmc_status code, const char *path) {
    char *g = NULL;
    llmc_error err = {0};
    llmc_status st = llmc_grammar_schema_to_gbnf(schema, strlen(schema), &g, &err);
    CHECK_MSG(st == code, "%s: status %d, expected %d (%s)", schema, st, code, err.msg);
    CHECK_MSG(strstr(err.msg, path) != NULL, "%s: message '%s' lacks '%s'", schema, err.msg, path);
    free(g);
}

static void test_schema_errors(void) {
    expect_schema_error("{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"int\"}}}", LLMC_ERR_UNSUPPORTED, "$.properties.age.type");
    expect_schema_error("{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^a(?=b)$\"}}", LLMC_ERR_UNSUPPORTED, "$.items.pattern");
    expect_schema_error("{\"type\":\"string\",\"pattern\":\"(a\\\\1)\"}", LLMC_ERR_UNSUPPORTED, "offset");
    expect_schema_error("{\"type\":\"string\",\"pattern\":\"a{3,1}\"}", LLMC_ERR_UNSUPPORTED, "$.pattern");
    expect_schema_error("{\"type\":\"string\",\"pattern\":\"[\\\"]\"}", LLMC_ERR_UNSUPPORTED, "$.pattern");
    expect_schema_error("{\"properties\":{\"a\":{\"$ref\":\"#/$defs/missing\"}}}", LLMC_ERR_FORMAT, "$.properties.a.$ref");
    expect_schema_error("{\"type\":\"object\",\"required\":[\"zz\"],\"properties\":{\"a\":true}}", LLMC_ERR_UNSUPPORTED, "$.required.zz");
    expect_schema_error("{\"type\":\"string\",\"maxLength\":1000000}", LLMC_ERR_UNSUPPORTED, "$.maxLength");
    expect_schema_error("{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", LLMC_ERR_FORMAT, "$.maxItems");
    expect_schema_error("{\"type\":\"integer\",\"minimum\":3}", LLMC_ERR_UNSUPPORTED, "$.minimum");
    expect_schema_error("{\"anyOf\":[]}", LLMC_ERR_FORMAT, "$.anyOf");
    expect_schema_error("{\"type\":\"object\",\"patternProperties\":{}}", LLMC_ERR_UNSUPPORTED, "$.patternProperties");
    expect_schema_error("{\"type\": [\"string\", 3]}", LLMC_ERR_FORMAT, "$.type");
    expect_schema_error("{\"type\":", LLMC_ERR_FORMAT, "json schema");
    /* deep nesting: an error, not a stack overflow */
    char deep[8192] = "";
    for (int i = 0; i < 500; i++) strcat(deep, "{\"items\":");
    strcat(deep, "true");
    for (int i = 0; i < 500; i++) strcat(deep, "}");
    expect_schema_error(deep, LLMC_ERR_UNSUPPORTED, "nested deeper than 64");
    /* a huge enum: bounded */
    size_t cap = 1u << 20;
    char *big = malloc(cap), *p = big;
    p += sprintf(p, "{\"enum\":[");
    for (int i = 0; i < 5000; i++) p += sprintf(p, "%s%d", i ? "," : "", i);
    sprintf(p, "]}");
    expect_schema_error(big, LLMC_ERR_UNSUPPORTED, "$.enum");
    free(big);
    /* recursion without progress is refused (left recursion), recursion with it compiles */
    llmc_grammar *g = NULL;
    llmc_error err = {0};
    const char *selfref = "{\"$ref\":\"#\"}";
    CHECK(llmc_grammar_from_json_schema(selfref, strlen(selfref), &g, &err) == LLMC_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "left-recursive") != NULL, "%s", err.msg);
    const char *tree = "{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}},\"required\":[\"kids\"]}";
    CHECK_MSG(llmc_grammar_from_json_schema(tree, strlen(tree), &g, &err) == LLMC_OK, "%s", err.msg);
    llmc_grammar_free(g);
    /* json_object mode: empty schema text */
    CHECK(llmc_grammar_from_json_schema("", 0, &g, &err) == LLMC_OK);
    llmc_grammar_free(g);
}

/* The constraint cache: constraints alive together have their own matchers; a reused (idle,
   warm) matcher starts from the beginning again. */
static void test_cache(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tokenizers/llama3", test_fixture_dir());
    llmc_tokenizer *tok = NULL;
    llmc_error err = {0};
    CHECK(llmc_tokenizer_load(dir, &tok, &err) == LLMC_OK);
    if (!tok) return;
    int vocab = (int)llmc_tokenizer_vocab_size(tok);
    int32_t eos = 128009, t_true = llmc_tokenizer_token_to_id(tok, "true"), t_false = llmc_tokenizer_token_to_id(tok, "false");
    CHECK(t_true >= 0 && t_false >= 0);
    const char *schema = "{\"type\": \"boolean\"}";
    float *lg = calloc((size_t)vocab, sizeof *lg);
    llmc_grammar_constraint *a = NULL, *b = NULL, *c = NULL;
    CHECK(llmc_grammar_constraint_new(tok, vocab, schema, NULL, &eos, 1, &a, &err) == LLMC_OK);
    CHECK(llmc_grammar_constraint_new(tok, vocab, schema, NULL, &eos, 1, &b, &err) == LLMC_OK);
    if (a && b) {
        memset(lg, 0, (size_t)vocab * sizeof *lg);
        CHECK(llmc_grammar_constraint_mask_cb(a, lg, vocab) == 0);
        CHECK(isfinite(lg[t_true]) && isfinite(lg[t_false]) && !isfinite(lg[eos]));
        llmc_grammar_constraint_accept_cb(a, t_true);
        memset(lg, 0, (size_t)vocab * sizeof *lg);
        CHECK(llmc_grammar_constraint_mask_cb(a, lg, vocab) == 0);
        CHECK(!isfinite(lg[t_false]) && isfinite(lg[eos]));   /* a: done, only the end */
        memset(lg, 0, (size_t)vocab * sizeof *lg);
        CHECK(llmc_grammar_constraint_mask_cb(b, lg, vocab) == 0);
        CHECK(isfinite(lg[t_false]) && !isfinite(lg[eos]));   /* b: its own matcher, at the start */
        CHECK(llmc_grammar_constraint_status(a, &err) == LLMC_OK);
    }
    llmc_grammar_constraint_free(a);
    CHECK(llmc_grammar_constraint_new(tok, vocab, schema, NULL, &eos, 1, &c, &err) == LLMC_OK);   /* takes a's matcher */
    if (c) {
        memset(lg, 0, (size_t)vocab * sizeof *lg);
        CHECK(llmc_grammar_constraint_mask_cb(c, lg, vocab) == 0);
        CHECK(isfinite(lg[t_false]) && !isfinite(lg[eos]));
    }
    llmc_grammar_constraint_free(b);
    llmc_grammar_constraint_free(c);
    llmc_grammar_cache_clear();
    free(lg);
    llmc_tokenizer_free(tok);
}

int main(void) {
    test_cache();
    test_schema_errors();
    test_token_bytes("llama3");
    test_token_bytes("qwen3");
    test_token_bytes("llama2");
    run_vocab("llama3", 128009, 10);
    run_vocab("qwen3", 151645, 6);
    return test_summary();
}
