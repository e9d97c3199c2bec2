/* Tokenizer regressions from issues 13 and 19: the cases issue 13 names, against ids the
 * real `tokenizers` library produced (tests/golden/tokenizer/issue13.json, written by
 * tests/golden/make_tok_diff_fixtures.py: a DeepSeek-style Sequence of Splits with literal
 * CR/LF in classes + ByteLevel(use_regex false), also under tokenizer_class
 * LlamaTokenizerFast; Metaspace / legacy-normalizer BPE with two leading spaces and
 * `</s> <|im_start|>`); nothing dropped silently (an unrepresentable char is an error
 * naming its position); bounded regexes (huge counted repetitions refused at load,
 * catastrophic backtracking an error naming the pre-tokenizer and pattern, 1 MB in
 * bounded time); an empty BPE vocabulary; regex errors cut on a UTF-8 boundary; the
 * byte-level round trip on the real tokenizers. */
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "base/json.h"
#include "base/file.h"
#include "base/utf8.h"
#include <stdint.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static llmc_tokenizer *load_str(const char *js, llmc_error *err) {
    llmc_tokenizer *t = NULL;
    if (llmc_tokenizer_from_json(js, strlen(js), NULL, 0, "test.json", &t, err) != LLMC_OK) return NULL;
    return t;
}

static void test_issue13_goldens(void) {
    char *data = NULL;
    size_t len = 0;
    llmc_error err = {0};
    const char *path = "tests/golden/tokenizer/issue13.json";
    if (llmc_read_file(path, 64u << 20, &data, &len, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); return; }
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    CHECK(cJSON_IsArray(root));
    size_t n_cases = 0, bad = 0;
    for (const cJSON *e = root ? root->child : NULL; e; e = e->next) {
        const char *name = llmc_json_get_string(e, "name"), *tj = llmc_json_get_string(e, "tokenizer_json");
        const char *cj = llmc_json_get_string(e, "config_json");
        llmc_tokenizer *t = NULL;
        if (!tj || llmc_tokenizer_from_json(tj, strlen(tj), cj, cj ? strlen(cj) : 0, name, &t, &err) != LLMC_OK) {
            CHECK_MSG(0, "%s: %s", name ? name : "?", err.msg);
            continue;
        }
        for (const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "cases")->child; c; c = c->next) {
            const char *text = llmc_json_get_string(c, "text");
            const cJSON *ref = cJSON_GetObjectItemCaseSensitive(c, "ids");
            int32_t *ids = NULL;
            size_t n = 0;
            llmc_status rc = llmc_tokenizer_encode(t, text, strlen(text), false, &ids, &n, &err);
            bool same = rc == LLMC_OK && (size_t)cJSON_GetArraySize(ref) == n;
            size_t i = 0;
            for (const cJSON *x = ref->child; same && x; x = x->next, i++) same = (int32_t)x->valuedouble == ids[i];
            n_cases++;
            if (!same) bad++;
            CHECK_MSG(same, "%s: \"%.60s\": %zu ids (%s), tokenizers %d", name, text, n, rc ? err.msg : "ok",
                      cJSON_GetArraySize(ref));
            /* byte-level and byte-fallback: nothing lost */
            char *back = NULL;
            size_t bl = 0;
            if (rc == LLMC_OK && llmc_tokenizer_decode(t, ids, n, false, &back, &bl, &err) == LLMC_OK && strncmp(name, "metaspace", 9)) {
                CHECK_MSG(bl == strlen(text) && memcmp(back, text, bl) == 0, "%s: round trip of \"%.60s\" gave \"%.60s\"", name, text, back);
            }
            free(back);
            free(ids);
        }
        llmc_tokenizer_free(t);
    }
    printf("issue 13 goldens: %zu cases, %zu differ from tokenizers\n", n_cases, bad);
    CHECK(n_cases >= 40);
    cJSON_Delete(root);
}

/* A char with no token, no byte fallback and no unk_token: an error naming the input byte. */
static void test_no_silent_drop(void) {
    llmc_error err = {0};
    llmc_tokenizer *t = load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[]}}", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(llmc_tokenizer_encode(t, "aab", 3, false, &ids, &n, &err), LLMC_OK);
    CHECK_INT(n, 3);
    free(ids);
    llmc_status rc = llmc_tokenizer_encode(t, "ab\xED\x95\x9C" "a", 6, false, &ids, &n, &err);
    CHECK_INT(rc, LLMC_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "byte 0") && strstr(err.msg, "U+D55C"), "message: %s", err.msg);
    CHECK(ids == NULL && n == 0);
    llmc_tokenizer_free(t);
    /* WordLevel without unk_token: the unknown word is an error too */
    t = load_str("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}},\"pre_tokenizer\":{\"type\":\"Whitespace\"}}", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK_INT(llmc_tokenizer_encode(t, "a zz", 4, false, &ids, &n, &err), LLMC_ERR_INVALID_ARG);
        CHECK_MSG(strstr(err.msg, "zz") != NULL, "message: %s", err.msg);
        llmc_tokenizer_free(t);
    }
}

static char *split_json(const char *pattern_json) {
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2},\"merges\":[]},"
             "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},\"behavior\":\"Isolated\",\"invert\":false}}",
             pattern_json);
    return buf;
}

static void test_regex_bounds(void) {
    llmc_error err = {0};
    /* counted repetitions too large for a bounded search are refused at load, by pattern */
    const char *huge[] = {"a{100000}", "((a{1000}){1000}){1000}", "(?:a{1,40}){50}"};
    for (size_t i = 0; i < 3; i++) {
        llmc_tokenizer *t = load_str(split_json(huge[i]), &err);
        CHECK_MSG(t == NULL && err.code == LLMC_ERR_UNSUPPORTED && strstr(err.msg, huge[i]), "%s: %s", huge[i], t ? "loaded" : err.msg);
        llmc_tokenizer_free(t);
    }
    size_t big = 1u << 20;
    char *text = malloc(big + 1);
    memset(text, 'a', big);
    text[big] = 0;
    /* catastrophic backtracking: an error naming the pre-tokenizer and pattern, quickly */
    llmc_tokenizer *t = load_str(split_json("(a+)+b"), &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = now_s();
        llmc_status rc = llmc_tokenizer_encode(t, text, 30000, false, &ids, &n, &err);
        double dt = now_s() - t0;
        CHECK_INT(rc, LLMC_ERR_INVALID_ARG);
        CHECK_MSG(strstr(err.msg, "Split") && strstr(err.msg, "(a+)+b"), "message: %s", err.msg);
        CHECK_MSG(dt < 20, "backtracking took %.1f s", dt);
        free(ids);
        llmc_tokenizer_free(t);
    }
    /* the largest allowed count on 1 MB of one letter (runs just under the count): bounded */
    for (size_t i = 999; i < big; i += 1000) text[i] = 'b';
    t = load_str(split_json("a{1000}|\\\\s+(?!\\\\S)|\\\\p{L}{1,3}"), &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = now_s();
        llmc_status rc = llmc_tokenizer_encode(t, text, big, false, &ids, &n, &err);
        double dt = now_s() - t0;
        CHECK_MSG(rc == LLMC_OK || strstr(err.msg, "budget"), "%s", err.msg);
        CHECK_MSG(dt < 30, "1 MB took %.1f s", dt);
        printf("1 MB under a{1000}: %.2f s, %zu ids\n", dt, n);
        free(ids);
        llmc_tokenizer_free(t);
    }
    free(text);
    /* a bad regex: the message quotes at most 200 bytes and never splits a UTF-8 char */
    char pat[400];
    memset(pat, 'x', 199);
    strcpy(pat + 199, "\xED\x95\x9C\xED\x95\x9C(");
    t = load_str(split_json(pat), &err);
    CHECK(t == NULL);
    CHECK_MSG(llmc_utf8_valid(err.msg, strlen(err.msg), NULL), "message is not UTF-8: %s", err.msg);
    CHECK(strstr(err.msg, "bad regex") != NULL);
    llmc_tokenizer_free(t);
}

static void test_empty_vocab(void) {
    llmc_error err = {0};
    llmc_tokenizer *t = load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 7;
    CHECK_INT(llmc_tokenizer_encode(t, "", 0, false, &ids, &n, &err), LLMC_OK);
    CHECK_INT(n, 0);
    free(ids);
    for (int k = 0; k < 2; k++) { /* twice: the second word comes from the per-call cache */
        CHECK_INT(llmc_tokenizer_encode(t, "abc abc", 7, false, &ids, &n, &err), LLMC_ERR_INVALID_ARG);
        free(ids);
    }
    char *s = NULL;
    CHECK_INT(llmc_tokenizer_decode(t, NULL, 0, false, &s, NULL, &err), LLMC_OK);
    CHECK_STR(s, "");
    free(s);
    llmc_tokenizer_free(t);
}

/* The real byte-level tokenizers keep every byte of adversarial text. */
static void test_real_roundtrip(void) {
    const char *fx = test_env("LLMC_FIXTURE_DIR", "build/fixtures");
    const char *names[] = {"llama3", "qwen3"};
    const char *texts[] = {"LLM을 활용하면 코드 생성", "---\nlayout: post\r\n\r\n", "a\xE2\x80\x8D" "b \xEF\xBB\xBF \xEF\xBF\xBD", /* no combining marks: Qwen3 normalizes NFC */
                           "\x01\x02\x7f  \t\t\n \n", "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 \xF4\x8F\xBF\xBF",
                           "<|im_start|>user<|im_end|> <|endoftext|>"};
    for (size_t k = 0; k < 2; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tokenizers/%s/tokenizer.json", fx, names[k]);
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
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            int32_t *ids = NULL;
            size_t n = 0;
            char *back = NULL;
            size_t bl = 0;
            size_t l = strlen(texts[i]);
            bool ok = llmc_tokenizer_encode(t, texts[i], l, false, &ids, &n, &err) == LLMC_OK &&
                      llmc_tokenizer_decode(t, ids, n, false, &back, &bl, &err) == LLMC_OK && bl == l && !memcmp(back, texts[i], l);
            CHECK_MSG(ok, "%s: \"%s\" does not round-trip", names[k], texts[i]);
            free(ids);
            free(back);
        }
        llmc_tokenizer_free(t);
    }
}

/* Hostile variants of every model type's tokenizer.json (from the differential goldens):
 * truncations, changed digits and byte flips load with an error or give a working tokenizer, never a crash. */
static void test_hostile_models(void) {
    const char *fx = test_env("LLMC_FIXTURE_DIR", "build/fixtures");
    char path[1024];
    snprintf(path, sizeof path, "%s/tokdiff/tokdiff.json", fx);
    char *data = NULL;
    size_t len = 0;
    llmc_error err = {0};
    if (llmc_read_file(path, (size_t)1 << 30, &data, &len, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); return; }
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    const char *want[] = {"wordpiece_bert", "wordlevel_ws", "unigram_metaspace", "unigram_bytelevel", "bpe_unicode_scripts",
                          "bpe_fixed_length", "bpe_ctc_decoder", "bpe_bert_suffix", "unigram_precompiled_nmt_nfkc"};
    size_t refused = 0, loaded = 0;
    uint32_t rng = 12345;
    for (const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "configs")->child; c; c = c->next) {
        const char *name = llmc_json_get_string(c, "name"), *tj = llmc_json_get_string(c, "tokenizer_json");
        bool pick = false;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) pick = pick || !strcmp(name, want[i]);
        if (!pick || !tj) continue;
        size_t tl = strlen(tj);
        char *m = malloc(tl + 1);
        for (int round = 0; round < 60; round++) {
            memcpy(m, tj, tl + 1);
            size_t ml = tl;
            rng = rng * 1103515245u + 12345u;
            if (round % 3 == 0) ml = (rng >> 8) % tl;                      /* truncation */
            else if (round % 3 == 1) for (int k = 0; k < 40; k++) {         /* digits changed: ids, scores, lengths */
                rng = rng * 1103515245u + 12345u;
                size_t at = (rng >> 8) % tl;
                while (at < tl && (m[at] < '0' || m[at] > '9')) at++;
                if (at < tl) m[at] = (char)('0' + (rng >> 4) % 10);
            } else for (int k = 0; k < 4; k++) {                            /* byte flips */
                rng = rng * 1103515245u + 12345u;
                m[(rng >> 8) % tl] = (char)"0{}[]\",:-9ae\x01"[(rng >> 3) % 14];
            }
            llmc_tokenizer *t = NULL;
            if (llmc_tokenizer_from_json(m, ml, NULL, 0, name, &t, &err) != LLMC_OK) { refused++; continue; }
            loaded++;
            const char *text = "hello world 한국어 <|im_start|> 123";
            int32_t *ids = NULL;
            size_t n = 0;
            if (llmc_tokenizer_encode(t, text, strlen(text), true, &ids, &n, &err) == LLMC_OK) {
                char *back = NULL;
                llmc_tokenizer_decode(t, ids, n, true, &back, NULL, &err);
                free(back);
            }
            free(ids);
            llmc_tokenizer_free(t);
        }
        free(m);
    }
    printf("hostile model files: %zu refused, %zu loaded\n", refused, loaded);
    CHECK(refused + loaded == sizeof want / sizeof want[0] * 60);
    cJSON_Delete(root);
}

static void b64(const unsigned char *p, size_t n, char *out) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63]; out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = 0;
}

/* Precompiled charsmaps whose trie points anywhere: refused at load or normalizing without
 * reading outside the map. */
static void test_precompiled_hostile(void) {
    uint32_t rng = 777;
    size_t loaded = 0;
    for (int round = 0; round < 300; round++) {
        unsigned char blob[4 + 4 * 8 + 8];
        size_t nu = 1 + (size_t)round % 8;
        uint32_t tb = (uint32_t)(4 * nu);
        if (round % 17 == 0) tb = 1000; /* a trie larger than the map */
        blob[0] = (unsigned char)tb; blob[1] = (unsigned char)(tb >> 8); blob[2] = 0; blob[3] = 0;
        for (size_t i = 0; i < 4 * nu + 8; i++) { rng = rng * 1103515245u + 12345u; blob[4 + i] = (unsigned char)(rng >> 16); }
        memcpy(blob + 4 + 4 * nu, "a\0bc\0\xC3\xA9\0", 8);
        char enc[128], js[512];
        b64(blob, 4 + 4 * nu + 8, enc);
        snprintf(js, sizeof js, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"unk_token\":\"a\"},"
                 "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"%s\"}}", enc);
        llmc_error err = {0};
        llmc_tokenizer *t = load_str(js, &err);
        if (!t) continue;
        loaded++;
        const char *text = "abc \xC3\xA9\xCC\x81 \xED\x95\x9C\xEA\xB5\xAD zz";
        int32_t *ids = NULL;
        size_t n = 0;
        llmc_tokenizer_encode(t, text, strlen(text), false, &ids, &n, &err);
        free(ids);
        llmc_tokenizer_free(t);
    }
    printf("hostile charsmaps: %zu of 300 loaded\n", loaded);
    CHECK(loaded > 0);
}

/* A WordPiece word of 1 MB (max_input_chars_per_word raised): bounded by the longest token. */
static void test_wordpiece_long_word(void) {
    llmc_error err = {0};
    llmc_tokenizer *t = load_str("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":100000000,"
                                 "\"vocab\":{\"[UNK]\":0,\"a\":1,\"##a\":2,\"##aa\":3}},\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"}}", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    size_t n = 1u << 20;
    char *w = malloc(n);
    memset(w, 'a', n);
    int32_t *ids = NULL;
    size_t ni = 0;
    double t0 = now_s();
    CHECK_INT(llmc_tokenizer_encode(t, w, n, false, &ids, &ni, &err), LLMC_OK);
    double dt = now_s() - t0;
    CHECK_INT(ni, 1 + (n - 1) / 2 + (n - 1) % 2); /* a, then ##aa greedily, a last ##a */
    CHECK_MSG(dt < 10, "1 MB WordPiece word took %.1f s", dt);
    free(ids);
    free(w);
    llmc_tokenizer_free(t);
}

int main(void) {
    test_wordpiece_long_word();
    test_precompiled_hostile();
    test_hostile_models();
    test_issue13_goldens();
    test_no_silent_drop();
    test_regex_bounds();
    test_empty_vocab();
    test_real_roundtrip();
    return test_summary();
}
