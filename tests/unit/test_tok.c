/* Tokenizer golden tests: id-for-id equality with the `tokenizers` library (and with
 * transformers where it rebuilds the pipeline from tokenizer_config.json), decode and
 * streaming-decode round trips, the 1 MB text, GGUF vocabularies, invalid UTF-8. */
#include "test.h"
#include "tokenizer/tokenizer.h"
#include "base/json.h"
#include "base/file.h"
#include "base/strbuf.h"
#include "base/utf8.h"
#include <pthread.h>
#include <stdint.h>

static char golden_dir[1024], fixture_dir[1024];

static bool ids_eq(const int32_t *a, size_t na, const cJSON *arr) {
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != na) return false;
    size_t i = 0;
    for (const cJSON *x = arr->child; x; x = x->next, i++) if ((int32_t)x->valuedouble != a[i]) return false;
    return true;
}

static void print_ids(const char *what, const int32_t *a, size_t n) {
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", a[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static int32_t *json_ids(const cJSON *arr, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    size_t i = 0;
    for (const cJSON *x = arr->child; x; x = x->next) v[i++] = (int32_t)x->valuedouble;
    return v;
}

static void check_stream(const llmc_tokenizer *t, const int32_t *ids, size_t n, bool skip, const char *name, int ci) {
    char *full; size_t flen;
    llmc_error err = {0};
    if (llmc_tokenizer_decode(t, ids, n, skip, &full, &flen, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); return; }
    llmc_detok_stream *s = llmc_detok_stream_new(t, skip);
    llmc_strbuf acc; llmc_sb_init(&acc);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        char *piece = NULL;
        if (llmc_detok_stream_push(s, ids[i], &piece, &err) != LLMC_OK) { ok = false; break; }
        /* each piece is whole UTF-8 */
        if (!llmc_utf8_valid(piece, strlen(piece), NULL)) ok = false;
        llmc_sb_puts(&acc, piece);
        free(piece);
    }
    char *rest = llmc_detok_stream_flush(s);
    llmc_sb_puts(&acc, rest);
    free(rest);
    bool same = ok && acc.len == flen && memcmp(acc.data ? acc.data : "", full, flen) == 0;
    CHECK_MSG(same, "%s case %d skip=%d: stream != decode", name, ci, (int)skip);
    static int shown;
    if (!same && shown++ < 2) fprintf(stderr, "  stream: [%s]\n  decode: [%s]\n", acc.data ? acc.data : "", full);
    llmc_sb_free(&acc);
    llmc_detok_stream_free(s);
    free(full);
}

/* Same LCG and fragments as make_tokenizer_fixtures.py. */
static char *big_text(const cJSON *big, size_t *len) {
    const cJSON *fr = cJSON_GetObjectItem(big, "fragments"), *se = cJSON_GetObjectItem(big, "seps");
    double seed = cJSON_GetObjectItem(big, "seed")->valuedouble, want = cJSON_GetObjectItem(big, "bytes")->valuedouble;
    uint64_t x = (uint64_t)seed;
    size_t nf = (size_t)cJSON_GetArraySize(fr), ns = (size_t)cJSON_GetArraySize(se);
    llmc_strbuf sb; llmc_sb_init(&sb);
    while (sb.len < (size_t)want) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const char *f = cJSON_GetArrayItem(fr, (int)((x >> 33) % nf))->valuestring;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const char *s = cJSON_GetArrayItem(se, (int)((x >> 33) % ns))->valuestring;
        llmc_sb_puts(&sb, f);
        llmc_sb_puts(&sb, s);
    }
    *len = sb.len;
    return llmc_sb_take(&sb);
}

static void run_cases(const llmc_tokenizer *t, const cJSON *fx, const char *name, bool hf) {
    const cJSON *cases = cJSON_GetObjectItem(fx, "cases");
    int ci = 0, fails = 0;
    for (const cJSON *c = cases->child; c; c = c->next, ci++) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        size_t tl = strlen(text);
        for (int sp = 0; sp < 2; sp++) {
            const cJSON *want = NULL;
            if (hf) want = cJSON_GetObjectItem(c, sp ? "hf_ids" : "hf_ids_plain");
            if (!want) want = cJSON_GetObjectItem(c, sp ? "ids" : "ids_plain");
            int32_t *ids = NULL; size_t n = 0;
            llmc_error err = {0};
            llmc_status rc = llmc_tokenizer_encode(t, text, tl, sp == 1, &ids, &n, &err);
            bool ok = rc == LLMC_OK && ids_eq(ids, n, want);
            CHECK_MSG(ok, "%s%s case %d add_special=%d: %s", name, hf ? " (config)" : "", ci, sp, rc ? err.msg : "ids differ");
            if (!ok && fails++ < 3) {
                fprintf(stderr, "  text: %.120s\n", text);
                print_ids("got", ids, n);
                size_t wn; int32_t *w = json_ids(want, &wn);
                print_ids("want", w, wn);
                free(w);
            }
            free(ids);
        }
        /* decode of the expected ids (tokenizers' decode) */
        const cJSON *wid = cJSON_GetObjectItem(c, hf && cJSON_GetObjectItem(c, "hf_ids") ? "hf_ids" : "ids");
        size_t n; int32_t *ids = json_ids(wid, &n);
        for (int skip = 0; skip < 2; skip++) {
            const char *key = skip ? "decoded_skip" : "decoded";
            if (hf && cJSON_GetObjectItem(c, "hf_ids")) { if (skip) continue; key = "hf_decoded"; }
            const char *want = cJSON_GetObjectItem(c, key)->valuestring;
            char *txt = NULL; size_t len = 0;
            llmc_error err = {0};
            llmc_status rc = llmc_tokenizer_decode(t, ids, n, skip == 1, &txt, &len, &err);
            bool ok = rc == LLMC_OK && len == strlen(want) && memcmp(txt, want, len) == 0;
            CHECK_MSG(ok, "%s case %d decode skip=%d", name, ci, skip);
            if (!ok && fails++ < 6) fprintf(stderr, "  got:  [%s]\n  want: [%s]\n", txt ? txt : "(null)", want);
            free(txt);
            check_stream(t, ids, n, skip == 1, name, ci);
        }
        free(ids);
    }
}

static uint64_t fnv_ids(const int32_t *ids, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) { h ^= (v >> (8 * b)) & 0xFF; h *= 0x100000001b3ull; }
    }
    return h;
}

static void run_big(const llmc_tokenizer *t, const cJSON *fx, const char *name) {
    const cJSON *big = cJSON_GetObjectItem(fx, "big");
    size_t len;
    char *text = big_text(big, &len);
    CHECK_INT(len, (long long)cJSON_GetObjectItem(big, "text_bytes")->valuedouble);
    int32_t *ids = NULL; size_t n = 0;
    llmc_error err = {0};
    CHECK_MSG(llmc_tokenizer_encode(t, text, len, false, &ids, &n, &err) == LLMC_OK, "%s big: %s", name, err.msg);
    CHECK_INT(n, (long long)cJSON_GetObjectItem(big, "n_ids")->valuedouble);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv_ids(ids, n));
    CHECK_STR(hex, cJSON_GetObjectItem(big, "fnv1a64")->valuestring);
    const cJSON *head = cJSON_GetObjectItem(big, "head");
    size_t hn = (size_t)cJSON_GetArraySize(head);
    size_t i = 0, first_bad = (size_t)-1;
    for (const cJSON *x = head->child; x && i < n; x = x->next, i++)
        if ((int32_t)x->valuedouble != ids[i]) { first_bad = i; break; }
    CHECK_MSG(first_bad == (size_t)-1 && n >= hn, "%s big: first difference at id %zu", name, first_bad);
    /* round trip: decoding the ids gives the text back */
    char *back = NULL; size_t bl = 0;
    CHECK(llmc_tokenizer_decode(t, ids, n, false, &back, &bl, &err) == LLMC_OK);
    if (strcmp(name, "llama2")) CHECK_MSG(bl == len && back && memcmp(back, text, len) == 0, "%s big: decode round trip", name);
    free(back);
    free(ids);
    free(text);
}

static cJSON *load_fixture(const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s.json", golden_dir, name);
    llmc_error err = {0};
    cJSON *j = llmc_json_parse_file(p, 64u << 20, &err);
    CHECK_MSG(j != NULL, "%s", err.msg);
    return j;
}

static void test_json_tokenizer(const char *name) {
    cJSON *fx = load_fixture(name);
    if (!fx) return;
    char dir[1200], p[1300];
    snprintf(dir, sizeof dir, "%s/tokenizers/%s", fixture_dir, name);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    char *js; size_t jl;
    llmc_error err = {0};
    if (llmc_read_file(p, 64u << 20, &js, &jl, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); cJSON_Delete(fx); return; }
    llmc_tokenizer *t = NULL;
    CHECK_MSG(llmc_tokenizer_from_json(js, jl, NULL, 0, p, &t, &err) == LLMC_OK, "%s: %s", name, err.msg);
    free(js);
    if (t) { run_cases(t, fx, name, false); run_big(t, fx, name); }
    llmc_tokenizer_free(t);
    /* With tokenizer_config.json, as transformers loads it. */
    t = NULL;
    CHECK_MSG(llmc_tokenizer_load(dir, &t, &err) == LLMC_OK, "%s: %s", name, err.msg);
    if (t) run_cases(t, fx, name, true);
    llmc_tokenizer_free(t);
    cJSON_Delete(fx);
}

/* SmolLM2: the GGUF parts (dumped into the fixture tokenizer.json by the golden script)
 * through llmc_tokenizer_from_gguf with pre "smollm". */
static void test_smollm2(void) {
    cJSON *fx = load_fixture("smollm2");
    char p[1200];
    snprintf(p, sizeof p, "%s/smollm2/tokenizer.json", golden_dir);
    llmc_error err = {0};
    cJSON *tj = llmc_json_parse_file(p, 64u << 20, &err);
    snprintf(p, sizeof p, "%s/smollm2/gguf_meta.json", golden_dir);
    cJSON *meta = llmc_json_parse_file(p, 1u << 20, &err);
    CHECK(fx && tj && meta);
    if (!fx || !tj || !meta) { cJSON_Delete(fx); cJSON_Delete(tj); cJSON_Delete(meta); return; }
    const cJSON *vocab = cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "model"), "vocab");
    const cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(tj, "model"), "merges");
    size_t nt = (size_t)cJSON_GetArraySize(vocab), nm = (size_t)cJSON_GetArraySize(merges);
    const char **toks = calloc(nt, sizeof *toks);
    int32_t *types = calloc(nt, sizeof *types);
    char **mer = calloc(nm, sizeof *mer);
    for (const cJSON *v = vocab->child; v; v = v->next) {
        size_t id = (size_t)v->valuedouble;
        if (id < nt) { toks[id] = v->string; types[id] = 1; }
    }
    const cJSON *tt = cJSON_GetObjectItem(meta, "token_types");
    for (const cJSON *v = tt->child; v; v = v->next) types[atoi(v->string)] = (int32_t)v->valuedouble;
    size_t i = 0;
    for (const cJSON *m = merges->child; m; m = m->next, i++) {
        if (cJSON_IsString(m)) mer[i] = strdup(m->valuestring);
        else {
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            mer[i] = malloc(strlen(a) + strlen(b) + 2);
            sprintf(mer[i], "%s %s", a, b);
        }
    }
    llmc_tokenizer_gguf_parts parts = {0};
    parts.model = "gpt2";
    parts.pre = cJSON_GetObjectItem(meta, "pre")->valuestring;
    parts.tokens = toks; parts.n_tokens = nt;
    parts.token_types = types;
    parts.merges = (const char *const *)mer; parts.n_merges = nm;
    parts.bos_id = (int32_t)cJSON_GetObjectItem(meta, "bos_token_id")->valuedouble;
    parts.eos_id = (int32_t)cJSON_GetObjectItem(meta, "eos_token_id")->valuedouble;
    parts.unk_id = (int32_t)cJSON_GetObjectItem(meta, "unknown_token_id")->valuedouble;
    parts.pad_id = (int32_t)cJSON_GetObjectItem(meta, "padding_token_id")->valuedouble;
    parts.add_bos = cJSON_IsTrue(cJSON_GetObjectItem(meta, "add_bos_token"));
    parts.add_eos = -1;
    llmc_tokenizer *t = NULL;
    CHECK_MSG(llmc_tokenizer_from_gguf(&parts, &t, &err) == LLMC_OK, "smollm2 gguf: %s", err.msg);
    if (t) {
        run_cases(t, fx, "smollm2-gguf", false);
        run_big(t, fx, "smollm2-gguf");
        CHECK_STR(llmc_tokenizer_special(t, "eos_token"), "<|im_end|>");
        CHECK(llmc_tokenizer_is_special(t, 2));
    }
    llmc_tokenizer_free(t);
    parts.pre = "no-such-pre";
    t = NULL;
    CHECK(llmc_tokenizer_from_gguf(&parts, &t, &err) == LLMC_ERR_UNSUPPORTED && strstr(err.msg, "no-such-pre"));
    for (i = 0; i < nm; i++) free(mer[i]);
    free(mer); free(toks); free(types);
    /* the same tokenizer as tokenizer.json */
    t = NULL;
    snprintf(p, sizeof p, "%s/smollm2/tokenizer.json", golden_dir);
    CHECK_MSG(llmc_tokenizer_load(p, &t, &err) == LLMC_OK, "%s", err.msg);
    if (t) run_cases(t, fx, "smollm2-json", false);
    llmc_tokenizer_free(t);
    cJSON_Delete(fx); cJSON_Delete(tj); cJSON_Delete(meta);
}

/* Component variants: a base tokenizer.json with its components replaced as the golden
 * script did (variants.json), each compared with what the library produced. */
static void test_variants(void) {
    cJSON *vs = load_fixture("variants");
    if (!vs) return;
    char p[1300];
    llmc_error err = {0};
    snprintf(p, sizeof p, "%s/smollm2/tokenizer.json", golden_dir);
    cJSON *smol = llmc_json_parse_file(p, 64u << 20, &err);
    snprintf(p, sizeof p, "%s/tokenizers/llama2/tokenizer.json", fixture_dir);
    cJSON *l2 = llmc_file_exists(p) ? llmc_json_parse_file(p, 64u << 20, &err) : NULL;
    CHECK(smol != NULL);
    int vi = 0;
    for (const cJSON *v = vs->child; v; v = v->next, vi++) {
        const char *base = cJSON_GetObjectItem(v, "base")->valuestring;
        cJSON *b = !strcmp(base, "smollm2") ? smol : l2;
        if (!b) { fprintf(stderr, "SKIP variant %d: base %s missing\n", vi, base); continue; }
        cJSON *j = cJSON_Duplicate(b, 1);
        const cJSON *patch = cJSON_GetObjectItem(v, "patch");
        for (const cJSON *k = patch->child; k; k = k->next) {
            if (!strcmp(k->string, "added_tokens_extra")) {
                cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
                int nid = 0;
                for (const cJSON *a = added->child; a; a = a->next) {
                    int id = (int)cJSON_GetObjectItem(a, "id")->valuedouble;
                    if (id + 1 > nid) nid = id + 1;
                }
                int nv = cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "model"), "vocab"));
                if (nv > nid) nid = nv;
                for (const cJSON *a = k->child; a; a = a->next) {
                    cJSON *c = cJSON_Duplicate(a, 1);
                    cJSON_AddNumberToObject(c, "id", nid++);
                    cJSON_AddItemToArray(added, c);
                }
            } else if (!strcmp(k->string, "model_patch")) {
                cJSON *m = cJSON_GetObjectItem(j, "model");
                for (const cJSON *f = k->child; f; f = f->next) {
                    if (cJSON_GetObjectItem(m, f->string)) cJSON_ReplaceItemInObject(m, f->string, cJSON_Duplicate(f, 1));
                    else cJSON_AddItemToObject(m, f->string, cJSON_Duplicate(f, 1));
                }
            } else {
                if (cJSON_GetObjectItem(j, k->string)) cJSON_ReplaceItemInObject(j, k->string, cJSON_Duplicate(k, 1));
                else cJSON_AddItemToObject(j, k->string, cJSON_Duplicate(k, 1));
            }
        }
        char *txt = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        llmc_tokenizer *t = NULL;
        char name[64];
        snprintf(name, sizeof name, "variant %d (%s)", vi, base);
        CHECK_MSG(llmc_tokenizer_from_json(txt, strlen(txt), NULL, 0, name, &t, &err) == LLMC_OK, "%s: %s", name, err.msg);
        free(txt);
        if (t) run_cases(t, v, name, false);
        llmc_tokenizer_free(t);
    }
    cJSON_Delete(smol); cJSON_Delete(l2); cJSON_Delete(vs);
}

/* The real GGUF file, when present: its tokenizer.ggml.* through llmc_tokenizer_load. */
static void test_real_gguf(void) {
    const char *g = test_smollm2_gguf();
    cJSON *fx = load_fixture("smollm2");
    llmc_tokenizer *t = NULL;
    llmc_error err = {0};
    CHECK_MSG(llmc_tokenizer_load(g, &t, &err) == LLMC_OK, "%s", err.msg);
    if (t && fx) run_cases(t, fx, "smollm2-real-gguf", false);
    llmc_tokenizer_free(t);
    cJSON_Delete(fx);
}

static void test_errors(void) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/tokenizers/llama3", fixture_dir);
    llmc_tokenizer *t = NULL;
    llmc_error err = {0};
    if (llmc_tokenizer_load(dir, &t, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); return; }
    int32_t *ids = NULL; size_t n = 0;
    const char bad[] = "abc\xC3(def";
    CHECK(llmc_tokenizer_encode(t, bad, sizeof bad - 1, true, &ids, &n, &err) == LLMC_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "byte offset 3") != NULL, "%s", err.msg);
    CHECK(ids == NULL);
    CHECK(llmc_tokenizer_encode(t, "", 0, true, &ids, &n, &err) == LLMC_OK && n == 1 && ids[0] == 128000);
    free(ids);
    CHECK_INT(llmc_tokenizer_token_to_id(t, "<|eot_id|>"), 128009);
    CHECK_STR(llmc_tokenizer_id_to_token(t, 128009), "<|eot_id|>");
    CHECK(llmc_tokenizer_id_to_token(t, 1 << 30) == NULL);
    CHECK_STR(llmc_tokenizer_special(t, "bos_token"), "<|begin_of_text|>");
    CHECK_STR(llmc_tokenizer_special(t, "eos_token"), "<|eot_id|>");
    CHECK(llmc_tokenizer_special(t, "pad_token") == NULL);
    CHECK_INT(llmc_tokenizer_vocab_size(t), 128256);
    /* streaming never splits a multi-byte char: 🚀 is several byte-level tokens */
    CHECK(llmc_tokenizer_encode(t, "🚀한", strlen("🚀한"), false, &ids, &n, &err) == LLMC_OK);
    llmc_detok_stream *s = llmc_detok_stream_new(t, false);
    for (size_t i = 0; i < n; i++) {
        char *piece;
        CHECK(llmc_detok_stream_push(s, ids[i], &piece, &err) == LLMC_OK);
        CHECK(llmc_utf8_valid(piece, strlen(piece), NULL));
        free(piece);
    }
    char *rest = llmc_detok_stream_flush(s);
    free(rest);
    llmc_detok_stream_free(s);
    free(ids);
    llmc_tokenizer_free(t);
    /* unsupported components are named */
    const char *uni = "{\"model\":{\"type\":\"Mystery\",\"vocab\":[]}}"; /* Unigram is supported now */
    CHECK(llmc_tokenizer_from_json(uni, strlen(uni), NULL, 0, "x.json", &t, &err) == LLMC_ERR_UNSUPPORTED && strstr(err.msg, "Mystery"));
    const char *pt = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Fancy\"}}";
    CHECK(llmc_tokenizer_from_json(pt, strlen(pt), NULL, 0, "x.json", &t, &err) == LLMC_ERR_UNSUPPORTED && strstr(err.msg, "Fancy"));
    const char *bm = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}";
    CHECK(llmc_tokenizer_from_json(bm, strlen(bm), NULL, 0, "x.json", &t, &err) == LLMC_ERR_FORMAT);
    llmc_tokenizer_free(NULL);
    llmc_detok_stream_free(NULL);
}

/* Streaming stays bounded and loses nothing on ids that never complete a character: a run of lone
 * continuation bytes streams out as it goes (not all at the flush, and not by re-decoding the whole
 * run at every push), and a character completed after such a run still reaches the reader. */
static void test_stream_bounded(void) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/tokenizers/llama3", fixture_dir);
    llmc_tokenizer *t = NULL;
    llmc_error err = {0};
    if (llmc_tokenizer_load(dir, &t, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); return; }
    /* byte-level: byte 0x80 is U+0122, 0xED U+00ED, 0x95 U+0135, 0x9C U+013C ("한" = ED 95 9C) */
    int32_t b80 = llmc_tokenizer_token_to_id(t, "\xC4\xA2"), bED = llmc_tokenizer_token_to_id(t, "\xC3\xAD"),
            b95 = llmc_tokenizer_token_to_id(t, "\xC4\xB5"), b9C = llmc_tokenizer_token_to_id(t, "\xC4\xBC");
    CHECK(b80 >= 0 && bED >= 0 && b95 >= 0 && b9C >= 0);
    enum { RUN = 5000 };
    int32_t *ids = malloc((RUN + 4) * sizeof *ids);
    for (int i = 0; i < RUN; i++) ids[i] = b80;
    llmc_detok_stream *s = llmc_detok_stream_new(t, false);
    size_t streamed = 0;
    for (int i = 0; i < RUN; i++) {
        char *piece = NULL;
        CHECK(llmc_detok_stream_push(s, ids[i], &piece, &err) == LLMC_OK);
        if (piece) streamed += strlen(piece);
        free(piece);
    }
    char *rest = llmc_detok_stream_flush(s);
    CHECK_MSG(streamed >= 3 * (RUN - 16), "a run of invalid bytes streamed only %zu bytes before the flush", streamed);
    CHECK(streamed + strlen(rest) == 3 * RUN); /* one U+FFFD per lone continuation byte, as decode gives */
    free(rest);
    llmc_detok_stream_free(s);
    check_stream(t, ids, RUN, false, "invalid-byte run", 0);
    /* 20 invalid bytes, then 한 in three byte tokens, then text */
    int32_t *hello = NULL; size_t nh = 0;
    CHECK(llmc_tokenizer_encode(t, " world", 6, false, &hello, &nh, &err) == LLMC_OK && nh >= 1);
    size_t n = 20;
    ids[n++] = bED, ids[n++] = b95, ids[n++] = b9C;
    for (size_t i = 0; i < nh && n < RUN; i++) ids[n++] = hello[i];
    check_stream(t, ids, n, false, "invalid bytes then a character", 1);
    free(hello);
    free(ids);
    llmc_tokenizer_free(t);
}

/* Hostile input: truncated and byte-flipped tokenizer.json must give an error or a working
 * tokenizer, never a crash (ASan run in CI); odd GGUF parts are refused. */
static void test_hostile(void) {
    char p[1300];
    snprintf(p, sizeof p, "%s/smollm2/tokenizer.json", golden_dir);
    char *js; size_t jl;
    llmc_error err = {0};
    if (llmc_read_file(p, 64u << 20, &js, &jl, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); return; }
    uint64_t x = 12345;
    int errors = 0, oks = 0;
    for (int k = 0; k < 24; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t cut = (size_t)((x >> 33) % jl);
        llmc_tokenizer *t = NULL;
        if (llmc_tokenizer_from_json(js, cut, NULL, 0, "cut.json", &t, &err) == LLMC_OK) oks++; else errors++;
        llmc_tokenizer_free(t);
        char *m = malloc(jl);
        memcpy(m, js, jl);
        for (int f = 0; f < 8; f++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            m[(x >> 33) % jl] = (char)(x >> 13);
        }
        t = NULL;
        if (llmc_tokenizer_from_json(m, jl, NULL, 0, "flipped.json", &t, &err) == LLMC_OK) {
            int32_t *ids = NULL; size_t n = 0;
            if (llmc_tokenizer_encode(t, "Hello 123 world", 15, true, &ids, &n, &err) == LLMC_OK) {
                char *txt = NULL; size_t tl;
                if (llmc_tokenizer_decode(t, ids, n, false, &txt, &tl, &err) == LLMC_OK) free(txt);
            }
            free(ids);
            oks++;
        } else errors++;
        llmc_tokenizer_free(t);
        free(m);
    }
    CHECK(errors > 0);
    fprintf(stderr, "hostile tokenizer.json: %d refused, %d loaded\n", errors, oks);
    free(js);
    const char *bad[] = {
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":99999999999},\"merges\":[]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Nope\"}]}}",
        "[]", "", "{\"model\":3}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llmc_tokenizer *t = NULL;
        llmc_status rc = llmc_tokenizer_from_json(bad[i], strlen(bad[i]), NULL, 0, "bad.json", &t, &err);
        CHECK_MSG(rc != LLMC_OK && t == NULL && err.msg[0], "bad tokenizer %zu accepted", i);
        llmc_tokenizer_free(t);
    }
    /* An empty-matching regex must not loop forever. */
    const char *em = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[]},"
                     "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Isolated\",\"invert\":false}}";
    llmc_tokenizer *t = NULL;
    CHECK(llmc_tokenizer_from_json(em, strlen(em), NULL, 0, "em.json", &t, &err) == LLMC_OK);
    int32_t *ids = NULL; size_t n = 0;
    CHECK(t && llmc_tokenizer_encode(t, "abba", 4, false, &ids, &n, &err) == LLMC_OK && n == 4);
    free(ids);
    llmc_tokenizer_free(t);
    llmc_tokenizer_gguf_parts gp = {0};
    gp.model = "bert";
    CHECK(llmc_tokenizer_from_gguf(&gp, &t, &err) == LLMC_ERR_UNSUPPORTED);
    const char *toks[] = {"a", "b", "ab"};
    const char *merges[] = {"a c"};
    gp.model = "gpt2"; gp.pre = "gpt2"; gp.tokens = toks; gp.n_tokens = 3; gp.merges = merges; gp.n_merges = 1;
    gp.bos_id = gp.eos_id = gp.unk_id = gp.pad_id = -1; gp.add_bos = gp.add_eos = -1;
    CHECK(llmc_tokenizer_from_gguf(&gp, &t, &err) == LLMC_ERR_FORMAT);
    /* SentencePiece-by-scores ("llama"): merges come from scores, unknown chars fall back to bytes */
    const char *st[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "h", "i", "hi", "\xE2\x96\x81hi", "<0x21>"};
    float sc[] = {0, 0, 0, -1, -2, -3, -1.5f, -0.5f, 0};
    int32_t ty[] = {2, 3, 3, 1, 1, 1, 1, 1, 6};
    llmc_tokenizer_gguf_parts sp = {0};
    sp.model = "llama"; sp.tokens = st; sp.n_tokens = 9; sp.scores = sc; sp.token_types = ty;
    sp.bos_id = 1; sp.eos_id = 2; sp.unk_id = 0; sp.pad_id = -1; sp.add_bos = -1; sp.add_eos = -1;
    t = NULL;
    CHECK(llmc_tokenizer_from_gguf(&sp, &t, &err) == LLMC_OK);
    if (t) {
        CHECK(llmc_tokenizer_encode(t, "hi!", 3, true, &ids, &n, &err) == LLMC_OK);
        CHECK(n == 3 && ids[0] == 1 && ids[1] == 7 && ids[2] == 8);
        char *txt = NULL; size_t tl = 0;
        CHECK(llmc_tokenizer_decode(t, ids, n, true, &txt, &tl, &err) == LLMC_OK);
        CHECK_STR(txt, "hi!");
        free(txt);
        free(ids);
    }
    llmc_tokenizer_free(t);
}

/* One tokenizer shared by threads (the pipeline encodes while a server decodes). */
typedef struct { const llmc_tokenizer *t; const char *text; size_t len; int32_t *ids; size_t n; int rc; } mt_job;
static void *mt_run(void *arg) {
    mt_job *j = arg;
    llmc_error err = {0};
    for (int k = 0; k < 3 && !j->rc; k++) {
        free(j->ids);
        j->ids = NULL;
        j->rc = llmc_tokenizer_encode(j->t, j->text, j->len, true, &j->ids, &j->n, &err);
    }
    return NULL;
}

static void test_threads(void) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/tokenizers/qwen3", fixture_dir);
    llmc_tokenizer *t = NULL;
    llmc_error err = {0};
    if (llmc_tokenizer_load(dir, &t, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); return; }
    const char *text = "오늘은 Rust로 HTTP 서버를 만듭니다 12345 😀 <|im_start|>user\nhi<|im_end|> the quick brown fox ";
    llmc_strbuf sb; llmc_sb_init(&sb);
    for (int i = 0; i < 200; i++) llmc_sb_puts(&sb, text);
    int32_t *ref = NULL; size_t nref = 0;
    CHECK(llmc_tokenizer_encode(t, sb.data, sb.len, true, &ref, &nref, &err) == LLMC_OK);
    mt_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (mt_job){t, sb.data, sb.len, NULL, 0, 0};
        pthread_create(&th[i], NULL, mt_run, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].rc == 0 && jobs[i].n == nref && memcmp(jobs[i].ids, ref, nref * sizeof *ref) == 0);
        free(jobs[i].ids);
    }
    free(ref);
    llmc_sb_free(&sb);
    llmc_tokenizer_free(t);
}

int main(void) {
    const char *src = test_env("LLMC_SOURCE_DIR", ".");
    snprintf(golden_dir, sizeof golden_dir, "%s/tests/golden/tokenizer", src);
    snprintf(fixture_dir, sizeof fixture_dir, "%s", test_fixture_dir());
    const char *only = getenv("TOK_ONLY");
    const char *names[] = {"llama3", "llama2", "qwen3"};
    for (int i = 0; i < 3; i++) {
        if (only && strcmp(only, names[i])) continue;
        char p[1300];
        snprintf(p, sizeof p, "%s/tokenizers/%s/tokenizer.json", fixture_dir, names[i]);
        CHECK_MSG(llmc_file_exists(p), "fixture %s missing", p);
        test_json_tokenizer(names[i]);
    }
    if (!only || !strcmp(only, "smollm2")) { test_smollm2(); test_real_gguf(); }
    if (!only || !strcmp(only, "variants")) test_variants();
    if (!only) { test_errors(); test_stream_bounded(); test_hostile(); test_threads(); }
    return test_summary();
}
