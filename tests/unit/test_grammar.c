/* Grammar module: GBNF parsing and its errors, the token mask against a brute-force check
 * over small grammars with finite languages (random vocabularies and random walks), and
 * the sampler hook. */
#include "test.h"
#include "grammar/grammar.h"
#include "generate/sampler.h"
#include <math.h>
#include <stdint.h>

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* ---------------- brute force ---------------- */

typedef struct { const char *gbnf; const char *lang[40]; } finite_case;

static const finite_case CASES[] = {
    {"root ::= (\"ab\" | \"a\" [c-d]) \"x\"?", {"ab", "abx", "ac", "acx", "ad", "adx"}},
    {"root ::= a b\na ::= \"x\"?\nb ::= \"y\" | \"yz\" | \"\"", {"", "x", "y", "yz", "xy", "xyz"}},
    {"root ::= (\"ab\"){2}", {"abab"}},
    {"root ::= [a-b]{1,2} (\"-\" | \"\")", {"a", "b", "aa", "ab", "ba", "bb", "a-", "b-", "aa-", "ab-", "ba-", "bb-"}},
    {"root ::= [\\u00e0-\\u00e2]{1,2} \"!\"",
     {"\xc3\xa0!", "\xc3\xa1!", "\xc3\xa2!", "\xc3\xa0\xc3\xa0!", "\xc3\xa0\xc3\xa1!", "\xc3\xa0\xc3\xa2!", "\xc3\xa1\xc3\xa0!",
      "\xc3\xa1\xc3\xa1!", "\xc3\xa1\xc3\xa2!", "\xc3\xa2\xc3\xa0!", "\xc3\xa2\xc3\xa1!", "\xc3\xa2\xc3\xa2!"}},
    {"root ::= [\\u0800-\\u0801\\U0001F600] \"x\" # comment\n",
     {"\xe0\xa0\x80x", "\xe0\xa0\x81x", "\xf0\x9f\x98\x80x"}},
    {"root ::= item (\",\" item)?\nitem ::= \"[\" (\"1\" | item) \"]\"",
     {"[1]", "[[1]]", "[[[1]]]", "[1],[1]", "[[1]],[1]", "[1],[[1]]", "[[1]],[[1]]"}},  /* item limited below */
    /* stacks deeper than the matcher's cut (3 nodes): cut-stack entries and their uncertain tokens */
    {"root ::= a \"\"\na ::= \"(\" b \")\" | \"<\" b \">\"\nb ::= \"[\" c \"]\"\nc ::= d \"!\"?\nd ::= \"x\" | \"y\" e\ne ::= \"z\"?",
     {"([x])", "([x!])", "([y])", "([y!])", "([yz])", "([yz!])", "<[x]>", "<[x!]>", "<[y]>", "<[y!]>", "<[yz]>", "<[yz!]>"}},
    {"root ::= (w \",\")* w\nw ::= \"{\" v \"}\"\nv ::= \"a\" | \"b\" v",
     {"{a}", "{ba}", "{bba}", "{a},{a}", "{ba},{a}", "{a},{ba}", "{a},{a},{a}"}},
};

/* Bytes of a language string are a prefix of one of the words? (item case: depth ≤ 3). */
static bool viable(const finite_case *c, const char *p, size_t n, bool *complete) {
    bool any = false;
    *complete = false;
    for (int i = 0; c->lang[i]; i++) {
        size_t l = strlen(c->lang[i]);
        if (l >= n && !memcmp(c->lang[i], p, n)) { any = true; if (l == n) *complete = true; }
    }
    if (!c->lang[0]) *complete = n == 0;
    return any;
}

/* A vocabulary of every substring (1..4 bytes) of the language's words plus some junk and
 * one special token (the eos, last id). */
static int make_vocab(const finite_case *c, char toks[][8], size_t *lens) {
    int n = 0;
    for (int i = 0; c->lang[i]; i++) {
        size_t l = strlen(c->lang[i]);
        for (size_t a = 0; a < l; a++)
            for (size_t k = 1; k <= 4 && a + k <= l; k++) {
                bool dup = false;
                for (int j = 0; j < n && !dup; j++) dup = lens[j] == k && !memcmp(toks[j], c->lang[i] + a, k);
                if (dup || n >= 480) continue;
                memcpy(toks[n], c->lang[i] + a, k);
                lens[n++] = k;
            }
    }
    static const char *junk[] = {"q", "\xff", "a\xc3", "\xc3", "\xa0", "x!", "1]]]]"};
    for (size_t j = 0; j < sizeof junk / sizeof *junk; j++) { strcpy(toks[n], junk[j]); lens[n] = strlen(junk[j]); n++; }
    lens[n++] = 0;   /* eos */
    return n;
}

static void test_brute_force(void) {
    for (size_t ci = 0; ci < sizeof CASES / sizeof *CASES; ci++) {
        const finite_case *c = &CASES[ci];
        static char toks[512][8];
        size_t lens[512];
        const char *ptr[512];
        int n = make_vocab(c, toks, lens);
        for (int i = 0; i < n; i++) ptr[i] = toks[i];
        int32_t eos = n - 1;
        llmc_error err = {0};
        llmc_grammar *g = NULL;
        llmc_grammar_vocab *v = NULL;
        llmc_grammar_matcher *m = NULL;
        /* The nested item case has an infinite language; bound it by depth in the list. */
        CHECK_MSG(llmc_grammar_from_gbnf(c->gbnf, strlen(c->gbnf), NULL, &g, &err) == LLMC_OK, "case %zu: %s", ci, err.msg);
        CHECK(llmc_grammar_vocab_from_bytes(ptr, lens, n, &v, &err) == LLMC_OK);
        CHECK(g && v && llmc_grammar_matcher_new(g, v, &eos, 1, &m, &err) == LLMC_OK);
        if (!m) { llmc_grammar_free(g); llmc_grammar_vocab_free(v); continue; }
        int mismatches = 0, walks = 0;
        for (int walk = 0; walk < 60; walk++) {
            llmc_grammar_matcher_reset(m);
            char prefix[64];
            size_t plen = 0;
            for (int stepn = 0; stepn < 12; stepn++) {
                const uint32_t *mask;
                if (llmc_grammar_matcher_mask(m, &mask, &err)) { mismatches++; break; }
                int allowed[512], na = 0;
                for (int t = 0; t < n; t++) {
                    bool complete, want;
                    if (t == eos) { viable(c, prefix, plen, &complete); want = complete; }
                    else {
                        char buf[80];
                        memcpy(buf, prefix, plen);
                        memcpy(buf + plen, toks[t], lens[t]);
                        want = plen + lens[t] < sizeof buf && viable(c, buf, plen + lens[t], &complete);
                    }
                    bool got = (mask[t >> 5] >> (t & 31)) & 1u;
                    /* Words deeper than the listed ones are in the grammar but not the list (item case). */
                    if (got != want && !((ci == 6 || ci == 8) && got && !want)) {
                        if (mismatches < 5)
                            fprintf(stderr, "case %zu prefix '%.*s' token '%.*s': mask %d, brute force %d\n", ci, (int)plen, prefix,
                                    (int)lens[t], toks[t], got, want);
                        mismatches++;
                    }
                    if (want) allowed[na++] = t;
                }
                if (!na) break;
                int t = allowed[rnd() % (uint32_t)na];
                CHECK(llmc_grammar_matcher_accept(m, t, &err) == LLMC_OK);
                if (t == eos) { walks++; break; }
                memcpy(prefix + plen, toks[t], lens[t]);
                plen += lens[t];
            }
        }
        CHECK_MSG(mismatches == 0, "case %zu: %d mask mismatches", ci, mismatches);
        CHECK_MSG(walks > 0, "case %zu: no walk reached eos", ci);
        llmc_grammar_matcher_free(m);
        llmc_grammar_vocab_free(v);
        llmc_grammar_free(g);
    }
}

/* ---------------- errors ---------------- */

static void expect_gbnf_error(const char *text, llmc_status code, const char *needle) {
    llmc_grammar *g = NULL;
    llmc_error err = {0};
    llmc_status st = llmc_grammar_from_gbnf(text, strlen(text), NULL, &g, &err);
    CHECK_MSG(st == code, "'%s': status %d, expected %d (%s)", text, st, code, err.msg);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "'%s': message '%s' lacks '%s'", text, err.msg, needle);
    CHECK(g == NULL);
    llmc_grammar_free(g);
}

static void test_gbnf_errors(void) {
    expect_gbnf_error("root ::= foo", LLMC_ERR_FORMAT, "rule 'foo' is used but not defined");
    expect_gbnf_error("root ::= root \"x\" | \"y\"", LLMC_ERR_FORMAT, "left-recursive");
    expect_gbnf_error("root ::= a\na ::= b? root\nb ::= \"q\"", LLMC_ERR_FORMAT, "left-recursive");
    expect_gbnf_error("root ::= \"abc", LLMC_ERR_FORMAT, "unterminated string");
    expect_gbnf_error("root ::= [a-", LLMC_ERR_FORMAT, "1:");
    expect_gbnf_error("root ::= \"a\"{3,1}", LLMC_ERR_FORMAT, "n < m");
    expect_gbnf_error("root ::= \"a\"{1000000}", LLMC_ERR_FORMAT, "over 100000");
    expect_gbnf_error("root ::= *", LLMC_ERR_FORMAT, "nothing before");
    expect_gbnf_error("x ::= \"a\"", LLMC_ERR_FORMAT, "no rule named 'root'");
    expect_gbnf_error("root ::= \"a\"\nroot ::= \"b\"", LLMC_ERR_FORMAT, "defined twice");
    char deep[400] = "root ::= ";
    for (int i = 0; i < 300; i++) strcat(deep, "(");
    strcat(deep, "\"a\"");
    expect_gbnf_error(deep, LLMC_ERR_FORMAT, "nested too deep");
    /* Bounded expansion: a repetition that would make millions of elements. */
    expect_gbnf_error("root ::= \"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX\"{100000}", LLMC_ERR_FORMAT, "elements");
}

/* Deep recursion is bounded by the matcher's stack depth: "((((…" past it is refused, never a hang. */
static void test_depth_bound(void) {
    const char *gb = "root ::= \"(\" root \")\" | \"x\"";
    const char *toks[] = {"(", ")", "x", ""};
    size_t lens[] = {1, 1, 1, 0};
    llmc_grammar *g = NULL;
    llmc_grammar_vocab *v = NULL;
    llmc_grammar_matcher *m = NULL;
    llmc_error err = {0};
    int32_t eos = 3;
    CHECK(llmc_grammar_from_gbnf(gb, strlen(gb), NULL, &g, &err) == LLMC_OK);
    CHECK(llmc_grammar_vocab_from_bytes(toks, lens, 4, &v, &err) == LLMC_OK);
    CHECK(llmc_grammar_matcher_new(g, v, &eos, 1, &m, &err) == LLMC_OK);
    int depth = 0;
    while (depth < 10000 && llmc_grammar_matcher_accept(m, 0, &err) == LLMC_OK) depth++;
    CHECK_MSG(depth >= 100 && depth < 1000, "nesting stopped at %d", depth);
    const uint32_t *mask;
    CHECK(llmc_grammar_matcher_mask(m, &mask, &err) == LLMC_OK);
    CHECK(!(mask[0] & 1u) && (mask[0] & 4u));   /* no deeper "(", but "x" */
    CHECK(llmc_grammar_matcher_accept(m, 2, &err) == LLMC_OK);
    for (int i = 0; i < depth; i++) CHECK_INT(llmc_grammar_matcher_accept(m, 1, &err), LLMC_OK);
    CHECK(llmc_grammar_matcher_can_end(m) && llmc_grammar_matcher_must_end(m));
    CHECK(llmc_grammar_matcher_accept(m, 3, &err) == LLMC_OK);
    CHECK(llmc_grammar_matcher_accept(m, 2, &err) == LLMC_ERR_INVALID_ARG);
    llmc_grammar_matcher_free(m);
    llmc_grammar_vocab_free(v);
    llmc_grammar_free(g);
}

/* Ambiguity is bounded work, not an explosion: 1000 identical alternatives repeated up to 200
   times (each step pops into the same continuation 1000 times), and a 4000-value enum. */
static void test_ambiguity(void) {
    static char bytes[256][1];
    const char *toks[257];
    size_t lens[257];
    for (int i = 0; i < 256; i++) { bytes[i][0] = (char)i; toks[i] = bytes[i]; lens[i] = 1; }
    toks[256] = "";
    lens[256] = 0;
    llmc_grammar_vocab *v = NULL;
    llmc_error err = {0};
    CHECK(llmc_grammar_vocab_from_bytes(toks, lens, 257, &v, &err) == LLMC_OK);
    char *big = malloc(1 << 20), *p = big;
    p += sprintf(p, "root ::= (");
    for (int i = 0; i < 1000; i++) p += sprintf(p, "%s\"a\"", i ? " | " : "");
    sprintf(p, "){0,200}");
    llmc_grammar *g = NULL;
    llmc_grammar_matcher *m = NULL;
    int32_t eos = 256;
    CHECK(llmc_grammar_from_gbnf(big, strlen(big), NULL, &g, &err) == LLMC_OK);
    CHECK(g && llmc_grammar_matcher_new(g, v, &eos, 1, &m, &err) == LLMC_OK);
    int n = 0;
    for (; m && n < 250; n++) {
        const uint32_t *mask;
        if (llmc_grammar_matcher_mask(m, &mask, &err) || !((mask['a' >> 5] >> ('a' & 31)) & 1u)) break;
        if (llmc_grammar_matcher_accept(m, 'a', &err)) break;
    }
    CHECK_MSG(n == 200, "took %d a's (%s)", n, err.msg);
    llmc_grammar_matcher_free(m);
    llmc_grammar_free(g);
    char *schema = big;
    p = schema;
    p += sprintf(p, "{\"enum\":[");
    for (int i = 0; i < 4000; i++) p += sprintf(p, "%s\"item %d\"", i ? "," : "", i);
    sprintf(p, "]}");
    CHECK(llmc_grammar_from_json_schema(schema, strlen(schema), &g, &err) == LLMC_OK);
    CHECK(g && llmc_grammar_matcher_new(g, v, &eos, 1, &m, &err) == LLMC_OK);
    const char *doc = "\"item 3999\"";
    bool ok = m != NULL;
    for (size_t i = 0; ok && doc[i]; i++) {
        const uint32_t *mask;
        ok = llmc_grammar_matcher_mask(m, &mask, &err) == LLMC_OK && ((mask[(uint8_t)doc[i] >> 5] >> (doc[i] & 31)) & 1u) &&
             llmc_grammar_matcher_accept(m, (uint8_t)doc[i], &err) == LLMC_OK;
    }
    CHECK_MSG(ok && llmc_grammar_matcher_can_end(m), "enum walk: %s", err.msg);
    CHECK(m && !llmc_grammar_matcher_accept_bytes(m, "x", 1));
    llmc_grammar_matcher_free(m);
    llmc_grammar_free(g);
    free(big);
    llmc_grammar_vocab_free(v);
}

/* ---------------- the sampler hook ---------------- */

typedef struct { llmc_grammar_matcher *m; int calls, accepted; } hook_ctx;
static int hook_mask(void *u, float *logits, int vocab) {
    hook_ctx *h = u;
    const uint32_t *mask;
    h->calls++;
    if (llmc_grammar_matcher_mask(h->m, &mask, NULL)) return 1;
    llmc_grammar_mask_apply(mask, logits, vocab);
    return 0;
}
static void hook_accept(void *u, int32_t id) {
    hook_ctx *h = u;
    if (llmc_grammar_matcher_accept(h->m, id, NULL) == LLMC_OK) h->accepted++;
}

static void test_sampler_hook(void) {
    const char *gb = "root ::= \"ab\" \"c\"*";
    const char *toks[] = {"a", "b", "c", "ab", "zz", ""};
    size_t lens[] = {1, 1, 1, 2, 2, 0};
    llmc_grammar *g = NULL;
    llmc_grammar_vocab *v = NULL;
    llmc_error err = {0};
    int32_t eos = 5;
    CHECK(llmc_grammar_from_gbnf(gb, strlen(gb), NULL, &g, &err) == LLMC_OK);
    CHECK(llmc_grammar_vocab_from_bytes(toks, lens, 6, &v, &err) == LLMC_OK);
    hook_ctx h = {0};
    CHECK(llmc_grammar_matcher_new(g, v, &eos, 1, &h.m, &err) == LLMC_OK);
    for (int greedy = 0; greedy < 2; greedy++) {
        llmc_grammar_matcher_reset(h.m);
        llmc_sampling sp;
        llmc_sampling_default(&sp);
        sp.do_sample = !greedy;
        sp.top_k = 0;
        sp.seed = 7; sp.has_seed = true;
        sp.mask = hook_mask; sp.accept = hook_accept; sp.mask_user = &h;
        llmc_sampler *s = llmc_sampler_new(&sp);
        llmc_select_req req;
        llmc_sampler_select_req(s, 6, &req);
        CHECK(req.mode == LLMC_SELECT_NONE);   /* a constraint needs every logit on the host */
        char out[64];
        int n = 0;
        for (int i = 0; i < 20; i++) {
            float lg[6] = {0.1f, 0.2f, 0.3f, 0.4f, 9.0f, greedy ? -5.0f : 0.5f};   /* "zz" is the model's favourite */
            int32_t id = llmc_sampler_sample(s, lg, 6, NULL, 0);
            CHECK(id >= 0 && id != 4);
            if (id == eos || id < 0) break;
            memcpy(out + n, toks[id], lens[id]);
            n += (int)lens[id];
        }
        out[n] = 0;
        CHECK_MSG(n >= 2 && !strncmp(out, "ab", 2) && strspn(out + 2, "c") == strlen(out + 2), "got '%s'", out);
        llmc_sampler_free(s);
    }
    CHECK(h.calls > 0 && h.accepted > 0);
    llmc_grammar_matcher_free(h.m);
    llmc_grammar_vocab_free(v);
    llmc_grammar_free(g);
}

int main(void) {
    test_brute_force();
    test_gbnf_errors();
    test_depth_bound();
    test_ambiguity();
    test_sampler_hook();
    return test_summary();
}
