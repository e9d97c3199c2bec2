/* Tokenizer building blocks: hash maps, the added-token trie, Unicode predicates
 * matching Rust's char methods, the GPT-2 byte↔char table and Oniguruma setup. */
#include "tokenizer/tok_internal.h"
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

uint64_t tok_hash(const char *k, size_t len) {
    /* 8 bytes at a time, multiply-mix: token strings are short and hashed a lot */
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xff51afd7ed558ccdull);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, k, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        k += 8; len -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, k, len);
    h ^= v;
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ull; h ^= h >> 33;
    return h;
}

static size_t pow2_for(size_t expect) {
    size_t cap = 16;
    while (cap < expect + expect / 2 + 16) cap <<= 1; /* load factor at most 2/3 */
    return cap;
}

bool tok_smap_init(tok_smap *m, size_t expect) {
    m->cap = pow2_for(expect);
    m->n = 0;
    m->e = calloc(m->cap, sizeof *m->e);
    return m->e != NULL;
}

void tok_smap_free(tok_smap *m) { free(m->e); m->e = NULL; m->cap = m->n = 0; }

static inline const char *sent_key(const tok_sent *e) { return e->len <= TOK_INL ? e->u.inl : e->u.k; }

static bool smap_grow(tok_smap *m) {
    tok_smap nm;
    nm.cap = m->cap * 2; nm.n = 0;
    nm.e = calloc(nm.cap, sizeof *nm.e);
    if (!nm.e) return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].used) tok_smap_put(&nm, sent_key(&m->e[i]), m->e[i].len, m->e[i].val);
    free(m->e);
    *m = nm;
    return true;
}

bool tok_smap_put(tok_smap *m, const char *k, size_t len, int32_t val) {
    if (!m->e && !tok_smap_init(m, 16)) return false;
    if ((m->n + 1) * 3 > m->cap * 2 && !smap_grow(m)) return false;
    uint64_t h = tok_hash(k, len);
    size_t mask = m->cap - 1, i = h & mask;
    uint32_t tag = (uint32_t)(h >> 32);
    while (m->e[i].used) {
        if (m->e[i].tag == tag && m->e[i].len == len && memcmp(sent_key(&m->e[i]), k, len) == 0) { m->e[i].val = val; return true; }
        i = (i + 1) & mask;
    }
    tok_sent *e = &m->e[i];
    e->used = 1;
    e->len = (uint32_t)len;
    e->val = val;
    e->tag = tag;
    if (len <= TOK_INL) memcpy(e->u.inl, k, len); else e->u.k = k;
    m->n++;
    return true;
}

int32_t tok_smap_get(const tok_smap *m, const char *k, size_t len) { return tok_smap_get_h(m, k, len, tok_hash(k, len)); }

void tok_smap_prefetch(const tok_smap *m, uint64_t h) {
    if (m->e) __builtin_prefetch(&m->e[h & (m->cap - 1)]);
}

int32_t tok_smap_get_h(const tok_smap *m, const char *k, size_t len, uint64_t h) {
    if (!m->e) return -1;
    size_t mask = m->cap - 1, i = h & mask;
    uint32_t tag = (uint32_t)(h >> 32);
    while (m->e[i].used) {
        const tok_sent *e = &m->e[i];
        if (e->tag == tag && e->len == len && memcmp(sent_key(e), k, len) == 0) return e->val;
        i = (i + 1) & mask;
    }
    return -1;
}

static inline size_t u64_hash(uint64_t k) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdull; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53ull; k ^= k >> 33;
    return (size_t)k;
}

bool tok_umap_init(tok_umap *m, size_t expect) {
    m->cap = pow2_for(expect);
    m->n = 0;
    m->e = malloc(m->cap * sizeof *m->e);
    if (!m->e) return false;
    memset(m->e, 0xFF, m->cap * sizeof *m->e);
    return true;
}

void tok_umap_free(tok_umap *m) { free(m->e); m->e = NULL; m->cap = m->n = 0; }

bool tok_umap_put(tok_umap *m, uint64_t k, uint64_t v) {
    if (!m->e && !tok_umap_init(m, 16)) return false;
    if ((m->n + 1) * 3 > m->cap * 2) {
        tok_umap nm;
        if (!tok_umap_init(&nm, m->cap)) return false;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].k != UINT64_MAX) tok_umap_put(&nm, m->e[i].k, m->e[i].v);
        free(m->e);
        *m = nm;
    }
    size_t mask = m->cap - 1, i = u64_hash(k) & mask;
    while (m->e[i].k != UINT64_MAX) {
        if (m->e[i].k == k) { m->e[i].v = v; return true; }
        i = (i + 1) & mask;
    }
    m->e[i].k = k; m->e[i].v = v; m->n++;
    return true;
}

void tok_umap_prefetch(const tok_umap *m, uint64_t k) {
    if (m->e) __builtin_prefetch(&m->e[u64_hash(k) & (m->cap - 1)], 1);
}

bool tok_umap_get(const tok_umap *m, uint64_t k, uint64_t *v) {
    if (!m->e) return false;
    size_t mask = m->cap - 1, i = u64_hash(k) & mask;
    while (m->e[i].k != UINT64_MAX) {
        if (m->e[i].k == k) { *v = m->e[i].v; return true; }
        i = (i + 1) & mask;
    }
    return false;
}

/* ---- trie ---- */
static int32_t trie_node_new(tok_trie *tr) {
    if (tr->n_nodes == tr->cap_nodes) {
        size_t nc = tr->cap_nodes ? tr->cap_nodes * 2 : 64;
        int32_t *nt = realloc(tr->term, nc * sizeof *nt);
        if (!nt) return -1;
        tr->term = nt; tr->cap_nodes = nc;
    }
    tr->term[tr->n_nodes] = 0;
    return (int32_t)tr->n_nodes++;
}

bool tok_trie_add(tok_trie *tr, const char *s, size_t len, int32_t idx) {
    if (len == 0) return true; /* an empty added token never matches */
    if (tr->n_nodes == 0 && trie_node_new(tr) < 0) return false;
    uint64_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint64_t key = node << 8 | (unsigned char)s[i], child;
        if (!tok_umap_get(&tr->edges, key, &child)) {
            int32_t c = trie_node_new(tr);
            if (c < 0 || !tok_umap_put(&tr->edges, key, (uint64_t)c)) return false;
            child = (uint64_t)c;
        }
        node = child;
    }
    tr->term[node] = idx + 1;
    tr->first[(unsigned char)s[0]] = true;
    return true;
}

void tok_trie_free(tok_trie *tr) {
    tok_umap_free(&tr->edges);
    free(tr->term);
    memset(tr, 0, sizeof *tr);
}

bool tok_trie_find(const tok_trie *tr, const char *s, size_t len, size_t from, size_t *ms, size_t *me, int32_t *idx) {
    if (tr->n_nodes == 0) return false;
    for (size_t i = from; i < len; i++) {
        if (!tr->first[(unsigned char)s[i]]) continue;
        uint64_t node = 0;
        size_t best = 0;
        int32_t best_idx = -1;
        for (size_t j = i; j < len; j++) {
            uint64_t child;
            if (!tok_umap_get(&tr->edges, node << 8 | (unsigned char)s[j], &child)) break;
            node = child;
            if (tr->term[node]) { best = j + 1; best_idx = tr->term[node] - 1; }
        }
        if (best_idx >= 0) { *ms = i; *me = best; *idx = best_idx; return true; }
    }
    return false;
}

/* ---- Unicode ---- */
int tok_u8(const char *p, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)p;
    if (n == 0) { *cp = 0; return 0; }
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    if ((s[0] & 0xE0) == 0xC0 && n >= 2) { *cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F); return 2; }
    if ((s[0] & 0xF0) == 0xE0 && n >= 3) {
        *cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F); return 3;
    }
    if ((s[0] & 0xF8) == 0xF0 && n >= 4) {
        *cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        return 4;
    }
    *cp = 0xFFFD;
    return 1;
}

bool tok_is_whitespace(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool tok_is_numeric(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool tok_is_alnum(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    /* Rust's is_alphabetic is the Alphabetic property: letters, Nl and Other_Alphabetic marks;
       the marks are approximated by Mc/Mn here. */
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || k == UTF8PROC_CATEGORY_ND ||
           k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool tok_is_punct(uint32_t c) {
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* GPT-2's reversible byte → printable char table. */
const uint16_t tok_byte_to_cp[256] = {
#define R(x) x
    0x100,0x101,0x102,0x103,0x104,0x105,0x106,0x107,0x108,0x109,0x10a,0x10b,0x10c,0x10d,0x10e,0x10f,
    0x110,0x111,0x112,0x113,0x114,0x115,0x116,0x117,0x118,0x119,0x11a,0x11b,0x11c,0x11d,0x11e,0x11f,
    0x120,0x21,0x22,0x23,0x24,0x25,0x26,0x27,0x28,0x29,0x2a,0x2b,0x2c,0x2d,0x2e,0x2f,
    0x30,0x31,0x32,0x33,0x34,0x35,0x36,0x37,0x38,0x39,0x3a,0x3b,0x3c,0x3d,0x3e,0x3f,
    0x40,0x41,0x42,0x43,0x44,0x45,0x46,0x47,0x48,0x49,0x4a,0x4b,0x4c,0x4d,0x4e,0x4f,
    0x50,0x51,0x52,0x53,0x54,0x55,0x56,0x57,0x58,0x59,0x5a,0x5b,0x5c,0x5d,0x5e,0x5f,
    0x60,0x61,0x62,0x63,0x64,0x65,0x66,0x67,0x68,0x69,0x6a,0x6b,0x6c,0x6d,0x6e,0x6f,
    0x70,0x71,0x72,0x73,0x74,0x75,0x76,0x77,0x78,0x79,0x7a,0x7b,0x7c,0x7d,0x7e,0x121,
    0x122,0x123,0x124,0x125,0x126,0x127,0x128,0x129,0x12a,0x12b,0x12c,0x12d,0x12e,0x12f,0x130,0x131,
    0x132,0x133,0x134,0x135,0x136,0x137,0x138,0x139,0x13a,0x13b,0x13c,0x13d,0x13e,0x13f,0x140,0x141,
    0x142,0xa1,0xa2,0xa3,0xa4,0xa5,0xa6,0xa7,0xa8,0xa9,0xaa,0xab,0xac,0x143,0xae,0xaf,
    0xb0,0xb1,0xb2,0xb3,0xb4,0xb5,0xb6,0xb7,0xb8,0xb9,0xba,0xbb,0xbc,0xbd,0xbe,0xbf,
    0xc0,0xc1,0xc2,0xc3,0xc4,0xc5,0xc6,0xc7,0xc8,0xc9,0xca,0xcb,0xcc,0xcd,0xce,0xcf,
    0xd0,0xd1,0xd2,0xd3,0xd4,0xd5,0xd6,0xd7,0xd8,0xd9,0xda,0xdb,0xdc,0xdd,0xde,0xdf,
    0xe0,0xe1,0xe2,0xe3,0xe4,0xe5,0xe6,0xe7,0xe8,0xe9,0xea,0xeb,0xec,0xed,0xee,0xef,
    0xf0,0xf1,0xf2,0xf3,0xf4,0xf5,0xf6,0xf7,0xf8,0xf9,0xfa,0xfb,0xfc,0xfd,0xfe,0xff,
#undef R
};

static int16_t cp_to_byte_tab[0x144];
static pthread_once_t cp_once = PTHREAD_ONCE_INIT;
static void cp_init(void) {
    for (int i = 0; i < 0x144; i++) cp_to_byte_tab[i] = -1;
    for (int b = 0; b < 256; b++) cp_to_byte_tab[tok_byte_to_cp[b]] = (int16_t)b;
}

int tok_cp_to_byte(uint32_t cp) {
    pthread_once(&cp_once, cp_init);
    return cp < 0x144 ? cp_to_byte_tab[cp] : -1;
}

/* ---- regex ---- */
static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static void tok_onig_init(void) {
    OnigEncoding encs[1] = {ONIG_ENCODING_UTF8};
    onig_initialize(encs, 1);
}

int tok_u8_cut(const char *s, size_t len, size_t max) {
    if (len <= max) return (int)len;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    return (int)k;
}

/* Largest product of nested counted repetitions ({n}, {n,}, {,m}, {n,m}) in a pattern.
 * Walks escapes, \p{..}/\x{..} bodies, character classes (nested, as Oniguruma allows)
 * and groups; a quantifier applies to the atom before it (a group: its inner product). */
static unsigned long long regex_repeat_product(const char *p, size_t len) {
    enum { MAXD = 64 };
    unsigned long long inner[MAXD + 1] = {1}, last = 1, worst = 1;
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 < len && strchr("pPxgko", p[i + 1]) && i + 2 < len && (p[i + 2] == '{' || p[i + 2] == '<')) {
                char close = p[i + 2] == '{' ? '}' : '>';
                i += 2;
                while (i < len && p[i] != close) i++;
            } else i++;
            last = 1;
        } else if (c == '[') {
            int cd = 1;
            for (i++; i < len && cd > 0; i++) {
                if (p[i] == '\\') i++;
                else if (p[i] == '[') cd++;
                else if (p[i] == ']' && cd-- == 1) break;
            }
            last = 1;
        } else if (c == '(') {
            if (depth < MAXD) inner[++depth] = 1;
            last = 1;
        } else if (c == ')') {
            last = inner[depth];
            if (depth > 0) depth--;
        } else if (c == '{') {
            size_t j = i + 1;
            unsigned long long a = 0, b = 0;
            bool da = false, db = false, comma = false;
            while (j < len && p[j] >= '0' && p[j] <= '9') { if (a < 1u << 30) a = a * 10 + (unsigned)(p[j] - '0'); da = true; j++; }
            if (j < len && p[j] == ',') { comma = true; j++; }
            while (j < len && p[j] >= '0' && p[j] <= '9') { if (b < 1u << 30) b = b * 10 + (unsigned)(p[j] - '0'); db = true; j++; }
            if (j < len && p[j] == '}' && (da || db)) {
                unsigned long long cnt = a > b ? a : b;
                if (!comma) cnt = a;
                if (cnt < 1) cnt = 1;
                unsigned long long v = last * cnt;
                if (v > worst) worst = v;
                last = v;
                i = j;
            } else last = 1;
        } else last = 1;
        if (last > inner[depth]) inner[depth] = last;
        if (inner[depth] > worst) worst = inner[depth];
    }
    return worst;
}

OnigRegex tok_regex_new(const char *pat, size_t len, llmc_error *err, const char *what) {
    pthread_once(&onig_once, tok_onig_init);
    unsigned long long rep = regex_repeat_product(pat, len);
    if (rep > TOK_MAX_REPEAT) {
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: regex /%.*s%s/ repeats up to %llu times (counted repetitions, nested ones multiplied, are limited to %d)",
                 what, tok_u8_cut(pat, len, 200), pat, len > 200 ? "..." : "", rep, TOK_MAX_REPEAT);
        return NULL;
    }
    OnigRegex re = NULL;
    OnigErrorInfo einfo;
    /* tokenizers' onig crate compiles with Regex::new: no options, the default (Ruby) syntax. */
    int r = onig_new(&re, (const OnigUChar *)pat, (const OnigUChar *)pat + len, ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                     ONIG_SYNTAX_DEFAULT, &einfo);
    if (r != ONIG_NORMAL) {
        OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, r, &einfo);
        llmc_err(err, LLMC_ERR_FORMAT, "%s: bad regex /%.*s%s/: %s", what, tok_u8_cut(pat, len, 200), pat,
                 len > 200 ? "..." : "", (char *)msg);
        return NULL;
    }
    return re;
}

/* The coarse clock is cheap (no syscall, a few ns); summed over many searches its ticks
   estimate the time spent in them, and a long search is measured to within a tick. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tok_budget_init(tok_budget *b, size_t input_len) {
    memset(b, 0, sizeof *b);
    b->limit_s = TOK_RE_BUDGET_BASE_S + TOK_RE_BUDGET_PER_MB_S * (double)input_len / (1024.0 * 1024.0);
    b->retry_match = TOK_RE_RETRY_MATCH;
    b->retry_search = TOK_RE_RETRY_SEARCH;
}

void tok_budget_free(tok_budget *b) {
    if (b->mp) onig_free_match_param(b->mp);
    b->mp = NULL;
}

/* One bounded search for the leftmost match starting at or after pos, over the whole piece
 * (onig_search's range also ends the data it may match in Oniguruma 6.9, so start
 * positions cannot be windowed without changing matches). Returns onig's result
 * (the retry limits end runaway backtracking) or TOK_RE_TIMEOUT once the encode's
 * searches together spent more than the budget. */
int tok_budget_search(tok_budget *b, OnigRegex re, const char *s, size_t len, size_t pos, OnigRegion *region) {
    if (!b->mp) {
        b->mp = onig_new_match_param();
        if (!b->mp) return ONIGERR_MEMORY;
        onig_initialize_match_param(b->mp);
        onig_set_retry_limit_in_match_of_match_param(b->mp, b->retry_match);
        onig_set_retry_limit_in_search_of_match_param(b->mp, b->retry_search);
    }
    const OnigUChar *st = (const OnigUChar *)s, *end = st + len;
    double t0 = now_s();
    int r = onig_search_with_param(re, st, end, st + pos, end, region, ONIG_OPTION_NONE, b->mp);
    b->spent_s += now_s() - t0;
    if (b->spent_s > b->limit_s) return TOK_RE_TIMEOUT;
    return r;
}

void tok_node_clear(tok_node *n) {
    if (!n) return;
    free(n->a); free(n->b); free(n->pat);
    if (n->re) onig_free(n->re);
    for (size_t i = 0; i < n->n_subs; i++) tok_node_clear(&n->subs[i]);
    free(n->subs);
    memset(n, 0, sizeof *n);
}
