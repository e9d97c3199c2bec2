/* GBNF (llama.cpp's grammar format) → the compiled byte-level rule form (grm_internal.h).
 * Character classes become byte-sequence alternatives (code point ranges split into UTF-8
 * byte ranges); repetitions become helper rules; undefined and left-recursive rules are
 * refused. Every count is bounded (GRM_MAX_*). */
#include "grammar/grm_internal.h"
#include "base/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { grm_elem *e; uint32_t n, cap; } gvec;

typedef struct {
    const char *text, *s, *end;
    gvec *rules; char **names; uint8_t *defined; uint32_t n_rules, cap_rules;
    uint32_t *ht; uint32_t ht_cap;          /* name hash → rule id + 1 (named rules only) */
    grm_set *sets; uint32_t n_sets, cap_sets;
    size_t total_el;
    int depth;
    llmc_status st; llmc_error *err;
} gp;

#define GP_MAX_DEPTH 200

static void gp_fail(gp *p, const char *at, const char *fmt, const char *arg) {
    if (p->st) return;
    int line = 1, col = 1;
    for (const char *c = p->text; c < at && c < p->end; c++) {
        if (*c == '\n') { line++; col = 1; } else col++;
    }
    p->st = llmc_err(p->err, LLMC_ERR_FORMAT, "grammar: %d:%d: ", line, col);
    size_t k = strlen(p->err ? p->err->msg : "");
    if (p->err && k < sizeof p->err->msg) snprintf(p->err->msg + k, sizeof p->err->msg - k, fmt, arg ? arg : "");
}

static uint32_t name_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static bool ht_grow(gp *p) {
    uint32_t cap = p->ht_cap ? p->ht_cap * 2 : 256;
    uint32_t *ht = calloc(cap, sizeof *ht);
    if (!ht) return false;
    for (uint32_t i = 0; i < p->ht_cap; i++) {
        if (!p->ht[i]) continue;
        const char *nm = p->names[p->ht[i] - 1];
        uint32_t h = name_hash(nm, strlen(nm)) & (cap - 1);
        while (ht[h]) h = (h + 1) & (cap - 1);
        ht[h] = p->ht[i];
    }
    free(p->ht);
    p->ht = ht;
    p->ht_cap = cap;
    return true;
}

static int64_t rule_add(gp *p, const char *name, size_t n) {
    if (p->n_rules >= GRM_MAX_RULES) { gp_fail(p, p->s, "more than %s rules", "262144"); return -1; }
    if (p->n_rules == p->cap_rules) {
        uint32_t cap = p->cap_rules ? p->cap_rules * 2 : 64;
        gvec *r = realloc(p->rules, cap * sizeof *r);
        if (r) p->rules = r;
        char **nm = realloc(p->names, cap * sizeof *nm);
        if (nm) p->names = nm;
        uint8_t *d = realloc(p->defined, cap);
        if (d) p->defined = d;
        if (!r || !nm || !d) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); return -1; }
        p->cap_rules = cap;
    }
    char *c = malloc(n + 1);
    if (!c) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); return -1; }
    memcpy(c, name, n);
    c[n] = 0;
    uint32_t id = p->n_rules++;
    memset(&p->rules[id], 0, sizeof p->rules[id]);
    p->names[id] = c;
    p->defined[id] = 0;
    return id;
}

/* The id of a named rule, created (undefined) on first use. */
static int64_t rule_get(gp *p, const char *name, size_t n) {
    if ((p->n_rules + 1) * 2 > p->ht_cap && !ht_grow(p)) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); return -1; }
    uint32_t h = name_hash(name, n) & (p->ht_cap - 1);
    while (p->ht[h]) {
        const char *nm = p->names[p->ht[h] - 1];
        if (strlen(nm) == n && !memcmp(nm, name, n)) return p->ht[h] - 1;
        h = (h + 1) & (p->ht_cap - 1);
    }
    int64_t id = rule_add(p, name, n);
    if (id >= 0) p->ht[h] = (uint32_t)id + 1;
    return id;
}

/* A helper rule named after its parent ("value_3"), defined by construction. */
static int64_t rule_anon(gp *p, uint32_t parent) {
    char buf[96];
    snprintf(buf, sizeof buf, "%.60s_%u", p->names[parent], p->n_rules);
    int64_t id = rule_add(p, buf, strlen(buf));
    if (id >= 0) p->defined[id] = 1;
    return id;
}

static bool push(gp *p, uint32_t rule, uint32_t type, uint32_t v) {
    if (p->st) return false;
    if (++p->total_el > GRM_MAX_ELEMS) { gp_fail(p, p->s, "the grammar expands past %s elements", "4M"); return false; }
    gvec *g = &p->rules[rule];
    if (g->n == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 8;
        grm_elem *e = realloc(g->e, cap * sizeof *e);
        if (!e) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); return false; }
        g->e = e;
        g->cap = cap;
    }
    g->e[g->n].type = type;
    g->e[g->n].v = v;
    g->n++;
    return true;
}

static int64_t set_intern(gp *p, const grm_set *s) {
    for (uint32_t i = p->n_sets; i-- > 0 && i + 64 >= p->n_sets;)   /* recent sets repeat */
        if (!memcmp(&p->sets[i], s, sizeof *s)) return i;
    if (p->n_sets == p->cap_sets) {
        uint32_t cap = p->cap_sets ? p->cap_sets * 2 : 64;
        if (cap > GRM_MAX_ELEMS) { gp_fail(p, p->s, "too many character sets%s", ""); return -1; }
        grm_set *n = realloc(p->sets, cap * sizeof *n);
        if (!n) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); return -1; }
        p->sets = n;
        p->cap_sets = cap;
    }
    p->sets[p->n_sets] = *s;
    return p->n_sets++;
}

static bool push_byte_range(gp *p, uint32_t rule, uint8_t lo, uint8_t hi) {
    grm_set s;
    memset(&s, 0, sizeof s);
    for (unsigned b = lo; b <= hi; b++) s.w[b >> 6] |= 1ull << (b & 63);
    int64_t id = set_intern(p, &s);
    return id >= 0 && push(p, rule, GRM_BYTES, (uint32_t)id);
}

/* ---------------- lexing ---------------- */

static void skip_space(gp *p, bool newline_ok) {
    while (p->s < p->end) {
        char c = *p->s;
        if (c == ' ' || c == '\t' || c == '\r' || (newline_ok && c == '\n')) p->s++;
        else if (c == '#') { while (p->s < p->end && *p->s != '\n') p->s++; }
        else break;
    }
}

static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One (possibly escaped) character of a literal or class as a code point; raw: set when it
 * came as \xHH (a byte, not a code point). */
static bool parse_char(gp *p, uint32_t *cp, bool *raw) {
    *raw = false;
    if (p->s >= p->end) { gp_fail(p, p->s, "unexpected end of grammar%s", ""); return false; }
    const uint8_t *u = (const uint8_t *)p->s;
    if (*u == '\\') {
        if (p->s + 1 >= p->end) { gp_fail(p, p->s, "a \\ at the end%s", ""); return false; }
        char c = p->s[1];
        int nhex = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (nhex) {
            uint32_t v = 0;
            for (int i = 0; i < nhex; i++) {
                int h = p->s + 2 + i < p->end ? hexval(p->s[2 + i]) : -1;
                if (h < 0) { gp_fail(p, p->s, "bad \\%c escape", NULL); return false; }
                v = v * 16 + (uint32_t)h;
            }
            if (v > 0x10FFFF) { gp_fail(p, p->s, "escape past U+10FFFF%s", ""); return false; }
            p->s += 2 + nhex;
            *cp = v;
            *raw = c == 'x' && v >= 0x80;
            return true;
        }
        static const char from[] = "nrt\\\"[]-/^|.()", to[] = "\n\r\t\\\"[]-/^|.()";
        const char *f = memchr(from, c, sizeof from - 1);
        if (!f) { gp_fail(p, p->s, "unknown escape%s", ""); return false; }
        *cp = (uint8_t)to[f - from];
        p->s += 2;
        return true;
    }
    int n = *u < 0x80 ? 1 : (*u >> 5) == 6 ? 2 : (*u >> 4) == 14 ? 3 : (*u >> 3) == 30 ? 4 : 0;
    if (!n || p->s + n > p->end) { gp_fail(p, p->s, "invalid UTF-8%s", ""); return false; }
    uint32_t v = n == 1 ? *u : n == 2 ? (*u & 0x1Fu) : n == 3 ? (*u & 0x0Fu) : (*u & 0x07u);
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) { gp_fail(p, p->s, "invalid UTF-8%s", ""); return false; }
        v = (v << 6) | (u[i] & 0x3Fu);
    }
    p->s += n;
    *cp = v;
    return true;
}

static int utf8_put(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | (cp >> 6)); o[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12)); o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18)); o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---------------- character classes ---------------- */

typedef struct { uint32_t lo, hi; } cprange;

static int cmp_range(const void *a, const void *b) {
    const cprange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* One aligned run [lo, hi] of n-byte code points as an alternative of byte ranges; split
 * where a continuation position would not cover its full span (the UTF-8 range algorithm). */
static void utf8_seq(gp *p, uint32_t rule, uint32_t lo, uint32_t hi, int n, bool *first) {
    if (p->st) return;
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) { utf8_seq(p, rule, lo, lo | m, n, first); utf8_seq(p, rule, (lo | m) + 1, hi, n, first); return; }
            if ((hi & m) != m) { utf8_seq(p, rule, lo, (hi & ~m) - 1, n, first); utf8_seq(p, rule, hi & ~m, hi, n, first); return; }
        }
    }
    uint8_t a[4], b[4];
    utf8_put(lo, a);
    utf8_put(hi, b);
    if (!*first) push(p, rule, GRM_ALT, 0);
    *first = false;
    for (int i = 0; i < n; i++) push_byte_range(p, rule, a[i], b[i]);
}

/* Emits the class (sorted, merged code point ranges; negate: the complement) into rule `into`:
 * one BYTES element for an ASCII-only class, else a REF to a helper rule of alternatives. */
static void emit_class(gp *p, uint32_t into, cprange *r, size_t n, bool negate) {
    qsort(r, n, sizeof *r, cmp_range);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && r[i].lo <= r[k - 1].hi + 1) { if (r[i].hi > r[k - 1].hi) r[k - 1].hi = r[i].hi; }
        else r[k++] = r[i];
    }
    n = k;
    cprange *c = malloc((n + 3) * sizeof *c);  /* complement and surrogate removal */
    if (!c) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); return; }
    size_t m = 0;
    if (negate) {
        uint32_t next = 0;
        for (size_t i = 0; i < n; i++) {
            if (r[i].lo > next) c[m++] = (cprange){next, r[i].lo - 1};
            next = r[i].hi + 1;
        }
        if (next <= 0x10FFFF) c[m++] = (cprange){next, 0x10FFFF};
    } else {
        memcpy(c, r, n * sizeof *c);
        m = n;
    }
    grm_set ascii;
    memset(&ascii, 0, sizeof ascii);
    bool has_ascii = false, has_multi = false;
    for (size_t i = 0; i < m; i++) {
        for (uint32_t b = c[i].lo; b <= c[i].hi && b < 0x80; b++) { ascii.w[b >> 6] |= 1ull << (b & 63); has_ascii = true; }
        if (c[i].hi >= 0x80) has_multi = true;
    }
    if (!has_multi) {
        if (!has_ascii) gp_fail(p, p->s, "an empty character class%s", "");
        else { int64_t id = set_intern(p, &ascii); if (id >= 0) push(p, into, GRM_BYTES, (uint32_t)id); }
        free(c);
        return;
    }
    int64_t rule = rule_anon(p, into);
    if (rule < 0) { free(c); return; }
    bool first = true;
    if (has_ascii) {
        int64_t id = set_intern(p, &ascii);
        if (id >= 0) push(p, (uint32_t)rule, GRM_BYTES, (uint32_t)id);
        first = false;
    }
    static const uint32_t bound[4][2] = {{0x80, 0x7FF}, {0x800, 0xD7FF}, {0xE000, 0xFFFF}, {0x10000, 0x10FFFF}};
    static const int nb[4] = {2, 3, 3, 4};
    for (size_t i = 0; i < m && !p->st; i++)
        for (int b = 0; b < 4; b++) {
            uint32_t lo = c[i].lo > bound[b][0] ? c[i].lo : bound[b][0], hi = c[i].hi < bound[b][1] ? c[i].hi : bound[b][1];
            if (lo <= hi) utf8_seq(p, (uint32_t)rule, lo, hi, nb[b], &first);
        }
    push(p, (uint32_t)rule, GRM_END, 0);
    push(p, into, GRM_REF, (uint32_t)rule);
    free(c);
}

static void parse_class(gp *p, uint32_t rule) {
    p->s++; /* [ */
    bool negate = p->s < p->end && *p->s == '^';
    if (negate) p->s++;
    size_t n = 0, cap = 16;
    cprange *r = malloc(cap * sizeof *r);
    if (!r) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); return; }
    while (!p->st && p->s < p->end && *p->s != ']') {
        uint32_t lo, hi;
        bool raw;
        if (!parse_char(p, &lo, &raw)) break;
        hi = lo;
        if (p->s + 1 < p->end && *p->s == '-' && p->s[1] != ']') {
            p->s++;
            if (!parse_char(p, &hi, &raw)) break;
            if (hi < lo) { gp_fail(p, p->s, "a class range runs backwards%s", ""); break; }
        }
        if (n == cap) {
            if (cap >= (1u << 20)) { gp_fail(p, p->s, "a character class too long%s", ""); break; }
            cprange *g = realloc(r, (cap *= 2) * sizeof *r);
            if (!g) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); break; }
            r = g;
        }
        r[n++] = (cprange){lo, hi};
    }
    if (!p->st && p->s >= p->end) gp_fail(p, p->s, "unterminated character class%s", "");
    if (!p->st) { p->s++; emit_class(p, rule, r, n, negate); }
    free(r);
}

/* ---------------- repetition ---------------- */

/* Replaces the symbol rules[rule][start..] by X{min,max} (max UINT32_MAX: unbounded). */
static void emit_repeat(gp *p, uint32_t rule, uint32_t start, uint32_t min, uint32_t max) {
    gvec *g = &p->rules[rule];
    uint32_t k = g->n - start;
    if (!k) { gp_fail(p, p->s, "a repetition with nothing before it%s", ""); return; }
    grm_elem *x = malloc(k * sizeof *x);
    if (!x) { p->st = llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); return; }
    memcpy(x, g->e + start, k * sizeof *x);
    p->total_el -= k;
    g->n = start;
    for (uint32_t i = 0; i < min && !p->st; i++)
        for (uint32_t j = 0; j < k; j++) push(p, rule, x[j].type, x[j].v);
    if (max == UINT32_MAX) {
        int64_t r = rule_anon(p, rule);          /* r ::= X r | ε */
        if (r >= 0) {
            for (uint32_t j = 0; j < k; j++) push(p, (uint32_t)r, x[j].type, x[j].v);
            push(p, (uint32_t)r, GRM_REF, (uint32_t)r);
            push(p, (uint32_t)r, GRM_ALT, 0);
            push(p, (uint32_t)r, GRM_END, 0);
            push(p, rule, GRM_REF, (uint32_t)r);
        }
    } else {
        int64_t prev = -1;                       /* o_i ::= X o_{i-1} | ε */
        for (uint32_t i = min; i < max && !p->st; i++) {
            int64_t r = rule_anon(p, rule);
            if (r < 0) break;
            for (uint32_t j = 0; j < k; j++) push(p, (uint32_t)r, x[j].type, x[j].v);
            if (prev >= 0) push(p, (uint32_t)r, GRM_REF, (uint32_t)prev);
            push(p, (uint32_t)r, GRM_ALT, 0);
            push(p, (uint32_t)r, GRM_END, 0);
            prev = r;
        }
        if (prev >= 0) push(p, rule, GRM_REF, (uint32_t)prev);
    }
    free(x);
}

static bool parse_uint(gp *p, uint32_t *v) {
    const char *s0 = p->s;
    uint64_t x = 0;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
        x = x * 10 + (uint64_t)(*p->s++ - '0');
        if (x > GRM_MAX_REPEAT) { gp_fail(p, s0, "a repetition count over %s", "100000"); return false; }
    }
    if (p->s == s0) { gp_fail(p, s0, "expected a number%s", ""); return false; }
    *v = (uint32_t)x;
    return true;
}

static void parse_braces(gp *p, uint32_t rule, uint32_t start) {
    p->s++;
    skip_space(p, true);
    uint32_t min, max;
    if (!parse_uint(p, &min)) return;
    skip_space(p, true);
    max = min;
    if (p->s < p->end && *p->s == ',') {
        p->s++;
        skip_space(p, true);
        if (p->s < p->end && *p->s == '}') max = UINT32_MAX;
        else if (!parse_uint(p, &max)) return;
        skip_space(p, true);
    }
    if (p->s >= p->end || *p->s != '}') { gp_fail(p, p->s, "expected } to close a repetition%s", ""); return; }
    p->s++;
    if (max < min) { gp_fail(p, p->s, "a repetition {m,n} with n < m%s", ""); return; }
    emit_repeat(p, rule, start, min, max);
}

/* ---------------- rules ---------------- */

static void parse_alternatives(gp *p, uint32_t rule, bool nested);

static void parse_sequence(gp *p, uint32_t rule, bool nested) {
    uint32_t last = UINT32_MAX;  /* where the last symbol starts */
    for (;;) {
        skip_space(p, nested);
        if (p->st || p->s >= p->end) return;
        char c = *p->s;
        uint32_t here = p->rules[rule].n;
        if (c == '"') {
            p->s++;
            while (!p->st && p->s < p->end && *p->s != '"') {
                uint32_t cp;
                bool raw;
                if (!parse_char(p, &cp, &raw)) return;
                uint8_t b[4];
                int n = raw ? (b[0] = (uint8_t)cp, 1) : utf8_put(cp, b);
                for (int i = 0; i < n; i++) push_byte_range(p, rule, b[i], b[i]);
            }
            if (p->s >= p->end) { gp_fail(p, p->s, "unterminated string literal%s", ""); return; }
            p->s++;
            last = here;
        } else if (c == '[') {
            parse_class(p, rule);
            last = here;
        } else if (c == '.') {
            p->s++;
            cprange all = {0, 0x10FFFF};
            emit_class(p, rule, &all, 1, false);
            last = here;
        } else if (c == '(') {
            p->s++;
            if (++p->depth > GP_MAX_DEPTH) { gp_fail(p, p->s, "groups nested too deep%s", ""); return; }
            int64_t sub = rule_anon(p, rule);
            if (sub < 0) return;
            parse_alternatives(p, (uint32_t)sub, true);
            p->depth--;
            if (p->st) return;
            if (p->s >= p->end || *p->s != ')') { gp_fail(p, p->s, "expected )%s", ""); return; }
            p->s++;
            push(p, rule, GRM_REF, (uint32_t)sub);
            last = here;
        } else if (is_name_char(c)) {
            const char *n0 = p->s;
            while (p->s < p->end && is_name_char(*p->s)) p->s++;
            const char *after = p->s;
            skip_space(p, true);
            if (!nested && p->s + 2 < p->end && !memcmp(p->s, "::=", 3)) { p->s = n0; return; }  /* the next rule */
            p->s = after;
            int64_t r = rule_get(p, n0, (size_t)(after - n0));
            if (r < 0) return;
            push(p, rule, GRM_REF, (uint32_t)r);
            last = here;
        } else if (c == '*' || c == '+' || c == '?') {
            if (last == UINT32_MAX) { gp_fail(p, p->s, "'%s' with nothing before it", c == '*' ? "*" : c == '+' ? "+" : "?"); return; }
            p->s++;
            emit_repeat(p, rule, last, c == '+' ? 1 : 0, c == '?' ? 1 : UINT32_MAX);
            last = UINT32_MAX;
        } else if (c == '{') {
            if (last == UINT32_MAX) { gp_fail(p, p->s, "'{' with nothing before it%s", ""); return; }
            parse_braces(p, rule, last);
            last = UINT32_MAX;
        } else {
            return;  /* | ) newline or something the caller judges */
        }
    }
}

static void parse_alternatives(gp *p, uint32_t rule, bool nested) {
    for (;;) {
        parse_sequence(p, rule, nested);
        if (p->st) return;
        const char *save = p->s;
        skip_space(p, true);
        if (p->s < p->end && *p->s == '|') {
            p->s++;
            push(p, rule, GRM_ALT, 0);
            continue;
        }
        if (!nested) p->s = save;
        push(p, rule, GRM_END, 0);
        return;
    }
}

static void parse_all(gp *p) {
    for (;;) {
        skip_space(p, true);
        if (p->st || p->s >= p->end) return;
        const char *n0 = p->s;
        while (p->s < p->end && is_name_char(*p->s)) p->s++;
        if (p->s == n0) { gp_fail(p, p->s, "expected a rule name%s", ""); return; }
        const char *n1 = p->s;
        skip_space(p, true);
        if (p->s + 3 > p->end || memcmp(p->s, "::=", 3)) { gp_fail(p, p->s, "expected ::= after the rule name%s", ""); return; }
        p->s += 3;
        int64_t r = rule_get(p, n0, (size_t)(n1 - n0));
        if (r < 0) return;
        if (p->defined[r]) { gp_fail(p, n0, "rule '%s' is defined twice", p->names[r]); return; }
        p->defined[r] = 1;
        parse_alternatives(p, (uint32_t)r, false);
        if (p->st) return;
        skip_space(p, false);
        if (p->s < p->end && *p->s != '\n') { gp_fail(p, p->s, "unexpected character in rule '%s'", p->names[r]); return; }
    }
}

/* Refuses left recursion (a rule reachable from itself without consuming a byte), which
 * would make the automaton's expansion endless. Iterative: grammars may have many rules. */
static llmc_status check_left_recursion(const llmc_grammar *g, char **names, llmc_error *err) {
    uint32_t n = g->n_rules;
    uint8_t *nullable = calloc(n, 1), *color = calloc(n, 1);
    uint32_t *stk = malloc((size_t)n * 2 * sizeof *stk);
    llmc_status st = LLMC_OK;
    if (!nullable || !color || !stk) { st = llmc_err(err, LLMC_ERR_NOMEM, "grammar: out of memory"); goto out; }
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t r = 0; r < n; r++) {
            if (nullable[r]) continue;
            for (uint32_t a = g->alt_off[r]; a < g->alt_off[r + 1] && !nullable[r]; a++) {
                uint32_t i = g->alts[a];
                while (g->el[i].type == GRM_REF && nullable[g->el[i].v]) i++;
                if (grm_is_end(&g->el[i])) { nullable[r] = 1; changed = true; }
            }
        }
    }
    /* DFS over "r may start with s" edges; stk holds (rule, next alternative index) frames. */
    for (uint32_t r0 = 0; r0 < n && !st; r0++) {
        if (color[r0]) continue;
        uint32_t sp = 0;
        stk[sp++] = r0; stk[sp++] = 0;
        color[r0] = 1;
        while (sp && !st) {
            uint32_t r = stk[sp - 2], k = stk[sp - 1]++;
            /* k enumerates (alternative, leading ref) pairs: walk them in order. */
            uint32_t seen = 0, next = UINT32_MAX;
            for (uint32_t a = g->alt_off[r]; a < g->alt_off[r + 1] && next == UINT32_MAX; a++)
                for (uint32_t i = g->alts[a]; g->el[i].type == GRM_REF; i++) {
                    if (seen++ == k) { next = g->el[i].v; break; }
                    if (!nullable[g->el[i].v]) break;
                }
            if (next == UINT32_MAX) { color[r] = 2; sp -= 2; continue; }
            if (color[next] == 1) {
                st = llmc_err(err, LLMC_ERR_FORMAT, "grammar: rule '%s' is left-recursive (it can reach itself without consuming input)", names[next]);
            } else if (!color[next]) {
                color[next] = 1;
                stk[sp++] = next; stk[sp++] = 0;
            }
        }
    }
out:
    free(nullable); free(color); free(stk);
    return st;
}

static llmc_status flatten(gp *p, uint32_t root, llmc_grammar **out) {
    llmc_grammar *g = calloc(1, sizeof *g);
    size_t n_alts = 0;
    for (uint32_t r = 0; r < p->n_rules; r++)
        for (uint32_t i = 0; i < p->rules[r].n; i++) n_alts += grm_is_end(&p->rules[r].e[i]);
    if (g) {
        g->el = malloc((p->total_el + 1) * sizeof *g->el);
        g->alt_off = malloc((p->n_rules + 1) * sizeof *g->alt_off);
        g->alts = malloc((n_alts + 1) * sizeof *g->alts);
    }
    if (!g || !g->el || !g->alt_off || !g->alts) { llmc_grammar_free(g); return llmc_err(p->err, LLMC_ERR_NOMEM, "grammar: out of memory"); }
    uint32_t pos = 0, na = 0;
    for (uint32_t r = 0; r < p->n_rules; r++) {
        g->alt_off[r] = na;
        g->alts[na++] = pos;
        for (uint32_t i = 0; i < p->rules[r].n; i++) {
            g->el[pos++] = p->rules[r].e[i];
            if (p->rules[r].e[i].type == GRM_ALT) g->alts[na++] = pos;
        }
    }
    g->alt_off[p->n_rules] = na;
    g->n_el = pos;
    g->n_rules = p->n_rules;
    g->sets = p->sets;
    g->n_sets = p->n_sets;
    p->sets = NULL;
    g->root = root;
    llmc_status st = check_left_recursion(g, p->names, p->err);
    if (st) { llmc_grammar_free(g); return st; }
    *out = g;
    return LLMC_OK;
}

llmc_status llmc_grammar_from_gbnf(const char *text, size_t len, const char *root, llmc_grammar **out, llmc_error *err) {
    *out = NULL;
    if (!text) return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar: no text");
    if (len > GRM_MAX_TEXT) return llmc_err(err, LLMC_ERR_NOMEM, "grammar: %zu bytes, over the 16 MiB limit", len);
    gp p;
    memset(&p, 0, sizeof p);
    p.text = p.s = text;
    p.end = text + len;
    p.err = err;
    parse_all(&p);
    const char *rn = root ? root : "root";
    int64_t r = -1;
    if (!p.st) {
        for (uint32_t i = 0; i < p.n_rules; i++)
            if (!p.defined[i]) { p.st = llmc_err(err, LLMC_ERR_FORMAT, "grammar: rule '%s' is used but not defined", p.names[i]); break; }
    }
    if (!p.st) {
        for (uint32_t i = 0; i < p.n_rules && r < 0; i++)
            if (!strcmp(p.names[i], rn)) r = i;
        if (r < 0) p.st = llmc_err(err, LLMC_ERR_FORMAT, "grammar: no rule named '%s' to start from", rn);
    }
    if (!p.st) p.st = flatten(&p, (uint32_t)r, out);
    for (uint32_t i = 0; i < p.n_rules; i++) { free(p.rules[i].e); free(p.names[i]); }
    free(p.rules); free(p.names); free(p.defined); free(p.ht); free(p.sets);
    return p.st;
}

void llmc_grammar_free(llmc_grammar *g) {
    if (!g) return;
    free(g->el); free(g->sets); free(g->alt_off); free(g->alts);
    free(g);
}

int llmc_grammar_n_rules(const llmc_grammar *g) { return g ? (int)g->n_rules : 0; }
