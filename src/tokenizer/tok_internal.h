/* Tokenizer internals shared by the tok_*.c files: hash maps, the component tree
 * (normalizers, pre-tokenizers, decoders) and the tokenizer object itself. */
#ifndef LLMC_TOK_INTERNAL_H
#define LLMC_TOK_INTERNAL_H
#include "tokenizer/tokenizer.h"
#include "base/error.h"
#include "base/strbuf.h"
#include "base/utf8.h"
#include <oniguruma.h>
#include <stdbool.h>
#include <stdint.h>

/* Hard bounds for untrusted files. */
#define TOK_MAX_VOCAB   (1u << 23)
#define TOK_MAX_TOKEN   65536u       /* bytes in one token string */
#define TOK_MAX_DEPTH   16           /* nesting of Sequence components */
#define TOK_MAX_STAGES  32

/* ---- string → int32 map (open addressing; keys are owned by the map's user) ---- */
/* Keys up to 16 bytes live inline (one cache line per probe, no pointer chase). */
#define TOK_INL 16
typedef struct { uint32_t tag, len; int32_t val; uint32_t used; union { char inl[TOK_INL]; const char *k; } u; } tok_sent;
typedef struct { tok_sent *e; size_t cap, n; } tok_smap;
bool tok_smap_init(tok_smap *m, size_t expect);
void tok_smap_free(tok_smap *m);
/* Inserts or overwrites; false on allocation failure. */
bool tok_smap_put(tok_smap *m, const char *k, size_t len, int32_t val);
/* Returns the value or -1. */
int32_t tok_smap_get(const tok_smap *m, const char *k, size_t len);
uint64_t tok_hash(const char *k, size_t len);
/* Batch helpers for the loader: lookups with a precomputed hash, and cache prefetches. */
int32_t tok_smap_get_h(const tok_smap *m, const char *k, size_t len, uint64_t h);
void tok_smap_prefetch(const tok_smap *m, uint64_t h);

/* ---- u64 → u64 map (key UINT64_MAX reserved) ---- */
typedef struct { uint64_t k, v; } tok_uent;
typedef struct { tok_uent *e; size_t cap, n; } tok_umap;
bool tok_umap_init(tok_umap *m, size_t expect);
void tok_umap_free(tok_umap *m);
bool tok_umap_put(tok_umap *m, uint64_t k, uint64_t v);
bool tok_umap_get(const tok_umap *m, uint64_t k, uint64_t *v);
void tok_umap_prefetch(const tok_umap *m, uint64_t k);

/* ---- Unicode helpers ---- */
bool tok_is_whitespace(uint32_t c);     /* Rust char::is_whitespace */
bool tok_is_alnum(uint32_t c);          /* Rust char::is_alphanumeric */
bool tok_is_numeric(uint32_t c);        /* Rust char::is_numeric (N*) */
bool tok_is_punct(uint32_t c);          /* ASCII punctuation or Unicode P* */
/* Decodes one code point of valid UTF-8 (input already validated); returns length. */
int tok_u8(const char *s, size_t n, uint32_t *cp);
/* Regex with Oniguruma, as the tokenizers library compiles its patterns (its onig crate:
 * Ruby syntax, no options). Counted repetitions are bounded (TOK_MAX_REPEAT, nested
 * counts multiplied) so that no pattern that loads can make a search quadratic in a huge
 * count; the error names the pattern, cut at a UTF-8 character boundary. */
#define TOK_MAX_REPEAT 1000
OnigRegex tok_regex_new(const char *pat, size_t len, llmc_error *err, const char *what);
/* Length of the longest prefix of s[0..len) of at most max bytes that ends on a UTF-8
   character boundary (for error messages). */
int tok_u8_cut(const char *s, size_t len, size_t max);

/* Per-encode regex budget: each search runs with Oniguruma retry limits (backtracking
 * in one match and in one whole search), and the searches of one encode together get a
 * time budget (time spent inside them) (TOK_RE_BUDGET_BASE_S + TOK_RE_BUDGET_PER_MB_S per MB of input).
 * Exceeding either is an error naming the component and its pattern, never a hang. */
#define TOK_RE_RETRY_MATCH   10000000ul  /* Oniguruma's default, as tokenizers runs */
#define TOK_RE_RETRY_SEARCH  100000000ul
#define TOK_RE_BUDGET_BASE_S 5.0
#define TOK_RE_BUDGET_PER_MB_S 5.0
typedef struct {
    OnigMatchParam *mp;
    double spent_s, limit_s;  /* time inside this encode's searches so far, and the cap */
    unsigned long retry_match, retry_search; /* overridable by tests */
} tok_budget;
void tok_budget_init(tok_budget *b, size_t input_len);
void tok_budget_free(tok_budget *b);
#define TOK_RE_TIMEOUT (-100000)  /* tok_budget_search: the encode's time budget is spent */
int tok_budget_search(tok_budget *b, OnigRegex re, const char *s, size_t len, size_t pos, OnigRegion *region);

/* ---- components ---- */
typedef enum {
    /* normalizers */
    TK_N_NFC = 1, TK_N_NFD, TK_N_NFKC, TK_N_NFKD, TK_N_LOWER, TK_N_PREPEND, TK_N_APPEND, TK_N_REPLACE,
    TK_N_STRIP, TK_N_STRIP_ACCENTS, TK_N_BERT, TK_N_BYTELEVEL, TK_N_PRECOMPILED, TK_N_SEQ,
    /* pre-tokenizers */
    TK_P_SPLIT, TK_P_BYTELEVEL, TK_P_METASPACE, TK_P_DIGITS, TK_P_WHITESPACE, TK_P_WSPLIT, TK_P_PUNCT,
    TK_P_BERT, TK_P_CHARDELIM, TK_P_FIXED, TK_P_SCRIPTS, TK_P_SEQ,
    /* decoders */
    TK_D_BYTELEVEL, TK_D_METASPACE, TK_D_REPLACE, TK_D_BYTEFALLBACK, TK_D_FUSE, TK_D_STRIP, TK_D_WORDPIECE,
    TK_D_BPE, TK_D_CTC, TK_D_SEQ
} tok_kind;

/* Split behaviours (tokenizers SplitDelimiterBehavior). */
enum { TB_REMOVED, TB_ISOLATED, TB_MERGED_PREV, TB_MERGED_NEXT, TB_CONTIGUOUS };
/* Metaspace prepend schemes. */
enum { TS_ALWAYS, TS_FIRST, TS_NEVER };

typedef struct tok_node {
    int kind;
    char *a; size_t a_len;   /* pattern literal / prepend text / replacement char / content / prefix */
    char *b; size_t b_len;   /* Replace: content */
    OnigRegex re;            /* Split / Replace with a Regex pattern */
    char *pat;               /* the regex source, for error messages */
    int behavior, scheme;
    bool invert, f1, f2, f3, f4; /* per kind: see tok_json.c */
    long n1, n2;
    struct tok_node *subs; size_t n_subs;
} tok_node;
void tok_node_clear(tok_node *n);

typedef struct {
    char *content; size_t len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} tok_added;

/* Byte trie over added-token contents: (node << 8 | byte) → child node; node
 * terminal → added index + 1. Leftmost-longest matching, as tokenizers' Aho-Corasick. */
typedef struct {
    tok_umap edges;
    int32_t *term; size_t n_nodes, cap_nodes;
    bool first[256];
    bool empty;
} tok_trie;

struct llmc_tokenizer {
    /* id space: model vocab and added tokens */
    char **id_str; uint32_t *id_len; size_t n_ids, ids_cap;
    uint8_t *id_special;
    tok_smap vocab;          /* model vocab: string → id */
    tok_added *added; size_t n_added;
    tok_smap added_map;      /* added content → id */
    tok_trie trie_raw, trie_norm;
    /* model */
    int model;               /* TOK_M_* */
    /* WordPiece: cont_prefix, max_input_chars_per_word; Unigram: scores by id, piece trie */
    size_t wp_max_chars;
    size_t max_tok_len;      /* longest model-vocab token in bytes (bounds WordPiece's longest-match search) */
    double *uni_score; double uni_min_score; size_t uni_n;
    tok_trie uni_trie;
    /* BPE model */
    tok_umap merges;         /* (a << 32 | b) → (rank << 32 | new id) */
    bool byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id;
    char *cont_prefix; size_t cont_prefix_len;
    char *eow_suffix; size_t eow_suffix_len;
    int32_t byte_tok[256];   /* <0xXX> ids for byte_fallback, -1 when absent */
    int32_t char_id[512];    /* ids of the byte-level chars U+0000..U+01FF as single tokens (-2 = not computed) */
    /* pipeline */
    tok_node *normalizer;
    tok_node **stages; size_t n_stages;   /* flattened pre-tokenizer */
    tok_node pretok_root;
    tok_node *decoder;
    int32_t *post_pre, *post_suf; size_t n_post_pre, n_post_suf;
    char *special_str[4];    /* bos, eos, unk, pad */
    char **retired; size_t n_retired; /* replaced id strings the vocab map may still point to */
    bool meta_first;         /* a Metaspace stage with prepend_scheme "first" */
    bool roundtrip;          /* byte-level pipeline where decode(encode(x)) == x must hold (checked in debug builds) */
};

enum { TOK_M_BPE, TOK_M_WORDPIECE, TOK_M_WORDLEVEL, TOK_M_UNIGRAM };

/* Internal entry points between files. */
llmc_status tok_finish(llmc_tokenizer *t, llmc_error *err);           /* tries, char ids */
/* bud: the encode's regex budget, NULL for one of its own. */
llmc_status tok_normalize(const tok_node *n, const char *s, size_t len, llmc_strbuf *out, tok_budget *bud,
                          llmc_error *err);
llmc_status tok_bpe_word(const llmc_tokenizer *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                         llmc_error *err);
/* WordPiece, WordLevel and Unigram (tok_models.c): one pre-tokenized word → ids. */
llmc_status tok_wordpiece_word(const llmc_tokenizer *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                               llmc_error *err);
llmc_status tok_wordlevel_word(const llmc_tokenizer *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                               llmc_error *err);
llmc_status tok_unigram_word(const llmc_tokenizer *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                             llmc_error *err);
/* Precompiled normalizer (tok_precompiled.c): n takes the decoded charsmap (a = trie units,
   n1 = their count, b = normalized strings). */
llmc_status tok_precompiled_load(tok_node *n, const char *b64, const char *what, llmc_error *err);
llmc_status tok_precompiled_apply(const tok_node *n, const char *s, size_t len, llmc_strbuf *out, llmc_error *err);
/* Decodes token strings through the decoder into out. */
llmc_status tok_decode_tokens(const llmc_tokenizer *t, const char **toks, const size_t *lens, size_t n, llmc_strbuf *out,
                              llmc_error *err);
bool tok_trie_add(tok_trie *tr, const char *s, size_t len, int32_t idx);
void tok_trie_free(tok_trie *tr);
/* Leftmost-longest match at or after from: returns true with [*ms, *me) and added index. */
bool tok_trie_find(const tok_trie *tr, const char *s, size_t len, size_t from, size_t *ms, size_t *me, int32_t *idx);
extern const uint16_t tok_byte_to_cp[256];
int tok_cp_to_byte(uint32_t cp);  /* -1 when cp is not a byte-level char */

#endif
