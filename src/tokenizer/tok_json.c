/* tokenizer.json / tokenizer_config.json loading: the model (BPE), added tokens and
 * every component, each checked; anything unsupported is an error naming it. */
#include "tokenizer/tok_internal.h"
#include "base/file.h"
#include "base/json.h"
#include "base/utf8.h"
#include "tokenizer/tok_fastjson.h"
#include <stdlib.h>
#include <string.h>

#define TOK_JSON_MAX ((size_t)512 << 20)

static char *dupn(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

static const char *jstr(const cJSON *o, const char *k) { return llmc_json_get_string(o, k); }
static bool jbool(const cJSON *o, const char *k, bool dflt) {
    bool b;
    return llmc_json_get_bool(o, k, &b) ? b : dflt;
}

static int parse_behavior(const char *s) {
    if (!s) return TB_ISOLATED;
    if (!strcmp(s, "Removed")) return TB_REMOVED;
    if (!strcmp(s, "Isolated")) return TB_ISOLATED;
    if (!strcmp(s, "MergedWithPrevious")) return TB_MERGED_PREV;
    if (!strcmp(s, "MergedWithNext")) return TB_MERGED_NEXT;
    if (!strcmp(s, "Contiguous")) return TB_CONTIGUOUS;
    return -1;
}

/* pattern: {"String": s} or {"Regex": r} */
static llmc_status parse_pattern(const cJSON *o, tok_node *n, const char *what, llmc_error *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *s;
    if (!cJSON_IsObject(p)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: missing 'pattern'", what);
    if ((s = jstr(p, "String"))) {
        n->a = strdup(s); n->a_len = strlen(s);
        return n->a ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    if ((s = jstr(p, "Regex"))) {
        n->re = tok_regex_new(s, strlen(s), err, what);
        if (!n->re) return err ? err->code : LLMC_ERR_FORMAT;
        n->pat = strdup(s);
        return n->pat ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: pattern must be String or Regex", what);
}

static llmc_status set_str(char **dst, size_t *dlen, const char *s, const char *what, const char *field, llmc_error *err) {
    if (!s) return llmc_err(err, LLMC_ERR_FORMAT, "%s: missing string field '%s'", what, field);
    *dst = strdup(s);
    if (!*dst) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    *dlen = strlen(s);
    return LLMC_OK;
}

static llmc_status parse_seq(const cJSON *arr, tok_node *n, int depth, const char *what,
                             llmc_status (*fn)(const cJSON *, tok_node *, int, const char *, llmc_error *), llmc_error *err) {
    if (!cJSON_IsArray(arr)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: Sequence needs an array", what);
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    if (cnt > 256) return llmc_err(err, LLMC_ERR_FORMAT, "%s: Sequence of %zu items is too long", what, cnt);
    n->subs = calloc(cnt ? cnt : 1, sizeof *n->subs);
    if (!n->subs) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    n->n_subs = cnt;
    size_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        llmc_status rc = fn(c, &n->subs[i], depth + 1, what, err);
        if (rc) return rc;
    }
    return LLMC_OK;
}

static llmc_status parse_normalizer(const cJSON *o, tok_node *n, int depth, const char *what, llmc_error *err) {
    if (depth > TOK_MAX_DEPTH) return llmc_err(err, LLMC_ERR_FORMAT, "%s: normalizer nesting too deep", what);
    const char *ty = jstr(o, "type");
    if (!ty) return llmc_err(err, LLMC_ERR_FORMAT, "%s: normalizer without 'type'", what);
    if (!strcmp(ty, "NFC")) n->kind = TK_N_NFC;
    else if (!strcmp(ty, "NFD")) n->kind = TK_N_NFD;
    else if (!strcmp(ty, "NFKC")) n->kind = TK_N_NFKC;
    else if (!strcmp(ty, "NFKD")) n->kind = TK_N_NFKD;
    else if (!strcmp(ty, "Lowercase")) n->kind = TK_N_LOWER;
    else if (!strcmp(ty, "StripAccents")) n->kind = TK_N_STRIP_ACCENTS;
    else if (!strcmp(ty, "ByteLevel")) n->kind = TK_N_BYTELEVEL;
    else if (!strcmp(ty, "Prepend")) { n->kind = TK_N_PREPEND; return set_str(&n->a, &n->a_len, jstr(o, "prepend"), what, "prepend", err); }
    else if (!strcmp(ty, "Append")) { n->kind = TK_N_APPEND; return set_str(&n->a, &n->a_len, jstr(o, "append"), what, "append", err); }
    else if (!strcmp(ty, "Replace")) {
        n->kind = TK_N_REPLACE;
        llmc_status rc = parse_pattern(o, n, what, err);
        return rc ? rc : set_str(&n->b, &n->b_len, jstr(o, "content"), what, "content", err);
    } else if (!strcmp(ty, "Strip")) {
        n->kind = TK_N_STRIP;
        n->f1 = jbool(o, "strip_left", true); n->f2 = jbool(o, "strip_right", true);
    } else if (!strcmp(ty, "BertNormalizer")) {
        n->kind = TK_N_BERT;
        n->f1 = jbool(o, "clean_text", true); n->f2 = jbool(o, "handle_chinese_chars", true);
        n->f4 = jbool(o, "lowercase", true);
        n->f3 = jbool(o, "strip_accents", n->f4);
    } else if (!strcmp(ty, "Precompiled")) {
        const char *m = jstr(o, "precompiled_charsmap");
        if (m && *m) return tok_precompiled_load(n, m, what, err);
        n->kind = TK_N_SEQ; /* empty map: identity */
    } else if (!strcmp(ty, "Sequence")) {
        n->kind = TK_N_SEQ;
        return parse_seq(cJSON_GetObjectItemCaseSensitive(o, "normalizers"), n, depth, what, parse_normalizer, err);
    } else return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: normalizer '%s' is not supported", what, ty);
    return LLMC_OK;
}

static int parse_scheme(const cJSON *o) {
    const char *s = jstr(o, "prepend_scheme");
    if (s) return !strcmp(s, "first") ? TS_FIRST : !strcmp(s, "never") ? TS_NEVER : TS_ALWAYS;
    return jbool(o, "add_prefix_space", true) ? TS_ALWAYS : TS_NEVER;
}

static llmc_status parse_pretok(const cJSON *o, tok_node *n, int depth, const char *what, llmc_error *err) {
    if (depth > TOK_MAX_DEPTH) return llmc_err(err, LLMC_ERR_FORMAT, "%s: pre-tokenizer nesting too deep", what);
    const char *ty = jstr(o, "type");
    if (!ty) return llmc_err(err, LLMC_ERR_FORMAT, "%s: pre_tokenizer without 'type'", what);
    if (!strcmp(ty, "Split")) {
        n->kind = TK_P_SPLIT;
        n->behavior = parse_behavior(jstr(o, "behavior"));
        if (n->behavior < 0) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: Split behavior '%s' is not supported", what, jstr(o, "behavior"));
        n->invert = jbool(o, "invert", false);
        return parse_pattern(o, n, what, err);
    }
    if (!strcmp(ty, "ByteLevel")) { n->kind = TK_P_BYTELEVEL; n->f1 = jbool(o, "add_prefix_space", true); n->f2 = jbool(o, "use_regex", true); return LLMC_OK; }
    if (!strcmp(ty, "Metaspace")) {
        n->kind = TK_P_METASPACE;
        n->scheme = parse_scheme(o);
        n->f1 = jbool(o, "split", true);
        const char *r = jstr(o, "replacement");
        return set_str(&n->a, &n->a_len, r ? r : "\xE2\x96\x81", what, "replacement", err);
    }
    if (!strcmp(ty, "Digits")) { n->kind = TK_P_DIGITS; n->f1 = jbool(o, "individual_digits", false); return LLMC_OK; }
    if (!strcmp(ty, "Whitespace")) { n->kind = TK_P_WHITESPACE; return LLMC_OK; }
    if (!strcmp(ty, "WhitespaceSplit")) { n->kind = TK_P_WSPLIT; return LLMC_OK; }
    if (!strcmp(ty, "Punctuation")) {
        n->kind = TK_P_PUNCT;
        n->behavior = parse_behavior(jstr(o, "behavior"));
        if (n->behavior < 0) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: Punctuation behavior is not supported", what);
        return LLMC_OK;
    }
    if (!strcmp(ty, "FixedLength")) {
        n->kind = TK_P_FIXED;
        long long l = 5;
        const cJSON *lj = cJSON_GetObjectItemCaseSensitive(o, "length");
        if (lj && !(llmc_json_is_int(lj, 1, 1 << 20) && (l = (long long)lj->valuedouble, true)))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: FixedLength length must be 1..%d", what, 1 << 20);
        n->n1 = (long)l;
        return LLMC_OK;
    }
    if (!strcmp(ty, "UnicodeScripts")) { n->kind = TK_P_SCRIPTS; return LLMC_OK; }
    if (!strcmp(ty, "CharDelimiterSplit")) {
        n->kind = TK_P_CHARDELIM;
        return set_str(&n->a, &n->a_len, jstr(o, "delimiter"), what, "delimiter", err);
    }
    if (!strcmp(ty, "BertPreTokenizer")) {
        /* whitespace split, then punctuation isolated */
        n->kind = TK_P_SEQ;
        n->subs = calloc(2, sizeof *n->subs);
        if (!n->subs) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        n->n_subs = 2;
        n->subs[0].kind = TK_P_WSPLIT;
        n->subs[1].kind = TK_P_PUNCT; n->subs[1].behavior = TB_ISOLATED;
        return LLMC_OK;
    }
    if (!strcmp(ty, "Sequence")) {
        n->kind = TK_P_SEQ;
        return parse_seq(cJSON_GetObjectItemCaseSensitive(o, "pretokenizers"), n, depth, what, parse_pretok, err);
    }
    return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: pre-tokenizer '%s' is not supported", what, ty);
}

static llmc_status parse_decoder(const cJSON *o, tok_node *n, int depth, const char *what, llmc_error *err) {
    if (depth > TOK_MAX_DEPTH) return llmc_err(err, LLMC_ERR_FORMAT, "%s: decoder nesting too deep", what);
    const char *ty = jstr(o, "type");
    if (!ty) return llmc_err(err, LLMC_ERR_FORMAT, "%s: decoder without 'type'", what);
    if (!strcmp(ty, "ByteLevel")) { n->kind = TK_D_BYTELEVEL; return LLMC_OK; }
    if (!strcmp(ty, "ByteFallback")) { n->kind = TK_D_BYTEFALLBACK; return LLMC_OK; }
    if (!strcmp(ty, "Fuse")) { n->kind = TK_D_FUSE; return LLMC_OK; }
    if (!strcmp(ty, "Metaspace")) {
        n->kind = TK_D_METASPACE;
        n->scheme = parse_scheme(o);
        const char *r = jstr(o, "replacement");
        return set_str(&n->a, &n->a_len, r ? r : "\xE2\x96\x81", what, "replacement", err);
    }
    if (!strcmp(ty, "Replace")) {
        n->kind = TK_D_REPLACE;
        llmc_status rc = parse_pattern(o, n, what, err);
        return rc ? rc : set_str(&n->b, &n->b_len, jstr(o, "content"), what, "content", err);
    }
    if (!strcmp(ty, "Strip")) {
        n->kind = TK_D_STRIP;
        long long a = 0, b = 0;
        llmc_json_get_int(o, "start", &a);
        llmc_json_get_int(o, "stop", &b);
        if (a < 0 || b < 0 || a > 1 << 20 || b > 1 << 20) return llmc_err(err, LLMC_ERR_FORMAT, "%s: Strip decoder start/stop out of range", what);
        n->n1 = (long)a; n->n2 = (long)b;
        return set_str(&n->a, &n->a_len, jstr(o, "content"), what, "content", err);
    }
    if (!strcmp(ty, "WordPiece")) {
        n->kind = TK_D_WORDPIECE;
        n->f1 = jbool(o, "cleanup", true);
        const char *p = jstr(o, "prefix");
        return set_str(&n->a, &n->a_len, p ? p : "##", what, "prefix", err);
    }
    if (!strcmp(ty, "CTC")) {
        n->kind = TK_D_CTC;
        n->f1 = jbool(o, "cleanup", true);
        const char *p = jstr(o, "pad_token"), *w = jstr(o, "word_delimiter_token");
        llmc_status rc = set_str(&n->a, &n->a_len, p ? p : "<pad>", what, "pad_token", err);
        return rc ? rc : set_str(&n->b, &n->b_len, w ? w : "|", what, "word_delimiter_token", err);
    }
    if (!strcmp(ty, "BPEDecoder")) {
        n->kind = TK_D_BPE;
        const char *p = jstr(o, "suffix");
        return set_str(&n->a, &n->a_len, p ? p : "</w>", what, "suffix", err);
    }
    if (!strcmp(ty, "Sequence")) {
        n->kind = TK_D_SEQ;
        return parse_seq(cJSON_GetObjectItemCaseSensitive(o, "decoders"), n, depth, what, parse_decoder, err);
    }
    return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: decoder '%s' is not supported", what, ty);
}

static bool ids_push(int32_t **v, size_t *n, int32_t id) {
    int32_t *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return false;
    nv[(*n)++] = id;
    *v = nv;
    return true;
}

/* Post-processors: every supported one wraps $A in fixed ids, so the result is a prefix and a suffix. */
static llmc_status parse_post(llmc_tokenizer *t, const cJSON *o, int depth, const char *what, llmc_error *err) {
    if (depth > TOK_MAX_DEPTH) return llmc_err(err, LLMC_ERR_FORMAT, "%s: post_processor nesting too deep", what);
    const char *ty = jstr(o, "type");
    if (!ty) return llmc_err(err, LLMC_ERR_FORMAT, "%s: post_processor without 'type'", what);
    if (!strcmp(ty, "ByteLevel")) return LLMC_OK;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "processors");
        if (!cJSON_IsArray(arr)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: post_processor Sequence needs 'processors'", what);
        for (const cJSON *c = arr->child; c; c = c->next) {
            llmc_status rc = parse_post(t, c, depth + 1, what, err);
            if (rc) return rc;
        }
        return LLMC_OK;
    }
    int32_t *pre = NULL, *suf = NULL;
    size_t npre = 0, nsuf = 0;
    if (!strcmp(ty, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(o, "single");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
        if (!cJSON_IsArray(single)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: TemplateProcessing needs 'single'", what);
        bool seen_a = false;
        for (const cJSON *it = single->child; it; it = it->next) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
            const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
            if (sq) {
                if (seen_a) { free(pre); free(suf); return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: TemplateProcessing 'single' with two sequences", what); }
                seen_a = true;
                continue;
            }
            const char *sid = st ? jstr(st, "id") : NULL;
            const cJSON *ent = sid ? cJSON_GetObjectItemCaseSensitive(sp, sid) : NULL;
            const cJSON *ids = ent ? cJSON_GetObjectItemCaseSensitive(ent, "ids") : NULL;
            if (!cJSON_IsArray(ids)) { free(pre); free(suf); return llmc_err(err, LLMC_ERR_FORMAT, "%s: TemplateProcessing special token '%s' has no ids", what, sid ? sid : "?"); }
            for (const cJSON *x = ids->child; x; x = x->next) {
                if (!llmc_json_is_int(x, 0, TOK_MAX_VOCAB - 1)) { free(pre); free(suf); return llmc_err(err, LLMC_ERR_FORMAT, "%s: bad id for special token '%s'", what, sid); }
                if (!(seen_a ? ids_push(&suf, &nsuf, (int32_t)x->valuedouble) : ids_push(&pre, &npre, (int32_t)x->valuedouble))) {
                    free(pre); free(suf); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
                }
            }
        }
    } else if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(o, "cls"), *sep = cJSON_GetObjectItemCaseSensitive(o, "sep");
        const cJSON *c1 = cJSON_GetArrayItem(cls, 1), *s1 = cJSON_GetArrayItem(sep, 1);
        if (!llmc_json_is_int(c1, 0, TOK_MAX_VOCAB - 1) || !llmc_json_is_int(s1, 0, TOK_MAX_VOCAB - 1))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s needs cls/sep [token, id]", what, ty);
        if (!ids_push(&pre, &npre, (int32_t)c1->valuedouble) || !ids_push(&suf, &nsuf, (int32_t)s1->valuedouble)) {
            free(pre); free(suf); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        }
    } else return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: post-processor '%s' is not supported", what, ty);
    /* Wrap what earlier processors produced: new prefix first, new suffix last. */
    int32_t *np = malloc((npre + t->n_post_pre + 1) * sizeof *np), *ns = malloc((nsuf + t->n_post_suf + 1) * sizeof *ns);
    if (!np || !ns) { free(np); free(ns); free(pre); free(suf); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    if (npre) memcpy(np, pre, npre * sizeof *np);
    if (t->n_post_pre) memcpy(np + npre, t->post_pre, t->n_post_pre * sizeof *np);
    if (t->n_post_suf) memcpy(ns, t->post_suf, t->n_post_suf * sizeof *ns);
    if (nsuf) memcpy(ns + t->n_post_suf, suf, nsuf * sizeof *ns);
    free(t->post_pre); free(t->post_suf); free(pre); free(suf);
    t->post_pre = np; t->n_post_pre += npre;
    t->post_suf = ns; t->n_post_suf += nsuf;
    return LLMC_OK;
}

/* Flattens nested pre-tokenizer Sequences into the stage list. */
static llmc_status flatten(llmc_tokenizer *t, tok_node *n, llmc_error *err) {
    if (n->kind == TK_P_SEQ) {
        for (size_t i = 0; i < n->n_subs; i++) {
            llmc_status rc = flatten(t, &n->subs[i], err);
            if (rc) return rc;
        }
        return LLMC_OK;
    }
    if (t->n_stages >= TOK_MAX_STAGES) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "tokenizer: more than %d pre-tokenizer stages", TOK_MAX_STAGES);
    tok_node **ns = realloc(t->stages, (t->n_stages + 1) * sizeof *ns);
    if (!ns) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->stages = ns;
    t->stages[t->n_stages++] = n;
    return LLMC_OK;
}

/* A config special token: "str" or {"content": "str", ...}. */
static const char *cfg_token(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return jstr(v, "content");
    return NULL;
}

static llmc_status ensure_ids(llmc_tokenizer *t, size_t need, llmc_error *err) {
    if (need <= t->n_ids) return LLMC_OK;
    if (need > t->ids_cap) {
        size_t cap = t->ids_cap * 2 > need ? t->ids_cap * 2 : need;
        char **ns = realloc(t->id_str, cap * sizeof *ns);
        if (!ns) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        t->id_str = ns;
        uint32_t *nl = realloc(t->id_len, cap * sizeof *nl);
        if (!nl) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        t->id_len = nl;
        uint8_t *sp = realloc(t->id_special, cap);
        if (!sp) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        t->id_special = sp;
        for (size_t i = t->ids_cap; i < cap; i++) { t->id_str[i] = NULL; t->id_len[i] = 0; t->id_special[i] = 0; }
        t->ids_cap = cap;
    }
    t->n_ids = need;
    return LLMC_OK;
}

/* Vocab entry: the id owns its string; a second string for the same id is kept in the map only. */
llmc_status tok_add_vocab(llmc_tokenizer *t, const char *s, size_t len, int32_t id, llmc_error *err);
llmc_status tok_add_vocab(llmc_tokenizer *t, const char *s, size_t len, int32_t id, llmc_error *err) {
    if (id < 0 || (size_t)id >= TOK_MAX_VOCAB) return llmc_err(err, LLMC_ERR_FORMAT, "tokenizer: token id %d out of range", id);
    if (len > TOK_MAX_TOKEN) return llmc_err(err, LLMC_ERR_FORMAT, "tokenizer: token %d is %zu bytes long", id, len);
    llmc_status rc = ensure_ids(t, (size_t)id + 1, err);
    if (rc) return rc;
    if (t->id_str[id]) {
        /* Duplicate id: keep the first string for decoding; map the other too (leaked into the map
           would be unsafe, so it is ignored, which tokenizers' vocab_r also effectively does). */
        return LLMC_OK;
    }
    t->id_str[id] = dupn(s, len);
    if (!t->id_str[id]) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->id_len[id] = (uint32_t)len;
    if (len > t->max_tok_len) t->max_tok_len = len;
    if (!tok_smap_put(&t->vocab, t->id_str[id], len, id)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    return LLMC_OK;
}

llmc_status tok_add_merge(llmc_tokenizer *t, const char *a, size_t al, const char *b, size_t bl, uint32_t rank,
                          llmc_error *err, const char *what);
llmc_status tok_add_merge(llmc_tokenizer *t, const char *a, size_t al, const char *b, size_t bl, uint32_t rank,
                          llmc_error *err, const char *what) {
    int32_t ia = tok_smap_get(&t->vocab, a, al), ib = tok_smap_get(&t->vocab, b, bl);
    if (ia < 0 || ib < 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: merge %u ('%.*s' '%.*s') uses a token not in the vocabulary", what, rank,
                        (int)(al > 64 ? 64 : al), a, (int)(bl > 64 ? 64 : bl), b);
    size_t skip = t->cont_prefix_len && bl >= t->cont_prefix_len && !memcmp(b, t->cont_prefix, t->cont_prefix_len) ? t->cont_prefix_len : 0;
    char stackbuf[256];
    size_t nl = al + bl - skip;
    char *buf = nl <= sizeof stackbuf ? stackbuf : malloc(nl);
    if (!buf) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    memcpy(buf, a, al);
    memcpy(buf + al, b + skip, bl - skip);
    int32_t nid = tok_smap_get(&t->vocab, buf, nl);
    if (buf != stackbuf) free(buf);
    if (nid < 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: merge %u ('%.*s' '%.*s') makes a token not in the vocabulary", what, rank,
                        (int)(al > 64 ? 64 : al), a, (int)(bl > 64 ? 64 : bl), b);
    if (!tok_umap_put(&t->merges, (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, (uint64_t)rank << 32 | (uint32_t)nid))
        return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    return LLMC_OK;
}

llmc_status tok_add_added(llmc_tokenizer *t, const char *s, size_t len, int32_t id, bool special, bool lstrip, bool rstrip,
                          bool single_word, bool normalized, llmc_error *err);
static llmc_status add_added(llmc_tokenizer *t, const char *s, size_t len, int32_t id, bool special, bool lstrip, bool rstrip,
                             bool single_word, bool normalized, bool json_ids, llmc_error *err);
llmc_status tok_add_added(llmc_tokenizer *t, const char *s, size_t len, int32_t id, bool special, bool lstrip, bool rstrip,
                          bool single_word, bool normalized, llmc_error *err) {
    return add_added(t, s, len, id, special, lstrip, rstrip, single_word, normalized, false, err);
}
static llmc_status add_added(llmc_tokenizer *t, const char *s, size_t len, int32_t id, bool special, bool lstrip, bool rstrip,
                             bool single_word, bool normalized, bool json_ids, llmc_error *err) {
    if (id < 0 || (size_t)id >= TOK_MAX_VOCAB) return llmc_err(err, LLMC_ERR_FORMAT, "tokenizer: added token id %d out of range", id);
    /* As tokenizers' AddedVocabulary::add_tokens (which the JSON loader calls, ignoring the ids in
       the file): a content the model or the added vocabulary already has keeps that id; a new one
       gets max(added ids) + 1, or the model's vocab size when that is larger. */
    int32_t vid = tok_smap_get(&t->added_map, s, len);
    if (vid < 0) vid = tok_smap_get(&t->vocab, s, len);
    /* the model's vocab size: distinct tokens, or a Unigram's entry count (duplicates included) */
    size_t vs = t->model == TOK_M_UNIGRAM ? t->uni_n : t->vocab.n;
    if (vid >= 0) id = vid;
    else if (json_ids) {
        int64_t mx = -1;
        for (size_t i = 0; i < t->n_added; i++) if (t->added[i].id > mx) mx = t->added[i].id;
        id = mx >= (int64_t)vs || vs == 0 ? (int32_t)(mx + 1) : (int32_t)vs;
        if (mx < 0) id = (int32_t)vs;
    }
    llmc_status rc = ensure_ids(t, (size_t)id + 1, err);
    if (rc) return rc;
    tok_added *na = realloc(t->added, (t->n_added + 1) * sizeof *na);
    if (!na) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->added = na;
    tok_added *a = &t->added[t->n_added];
    a->content = dupn(s, len);
    if (!a->content) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    a->len = len; a->id = id; a->special = special; a->lstrip = lstrip; a->rstrip = rstrip;
    a->single_word = single_word; a->normalized = normalized;
    t->n_added++;
    if (!tok_smap_put(&t->added_map, a->content, len, id)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    if (special) t->id_special[id] = 1;
    if (!t->id_str[id]) {
        t->id_str[id] = dupn(s, len);
        if (!t->id_str[id]) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        t->id_len[id] = (uint32_t)len;
    }
    return LLMC_OK;
}

llmc_status tok_set_special_str(llmc_tokenizer *t, int which, const char *s, llmc_error *err);
llmc_status tok_set_special_str(llmc_tokenizer *t, int which, const char *s, llmc_error *err) {
    free(t->special_str[which]);
    t->special_str[which] = s ? strdup(s) : NULL;
    return s && !t->special_str[which] ? llmc_err(err, LLMC_ERR_NOMEM, "out of memory") : LLMC_OK;
}

static llmc_status fast_vocab(llmc_tokenizer *t, const tok_fj_spans *fj, const char *what, llmc_error *err) {
    const char *p = fj->vocab + 1, *e = fj->vocab_end;
    char *buf = malloc(TOK_MAX_TOKEN + 8);
    size_t est = 1;
    for (const char *c = p; (c = memchr(c, ',', (size_t)(e - c))) != NULL; c++) est++;
    if (!buf || !tok_smap_init(&t->vocab, est)) { free(buf); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    llmc_status rc = LLMC_OK;
    size_t count = 0;
    for (;;) {
        p = tok_fj_ws(p, e);
        if (p < e && *p == '}') break;
        size_t kl;
        const char *q = tok_fj_string(p, e, buf, TOK_MAX_TOKEN, &kl);
        if (!q) { rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: model.vocab: bad key at byte %zu", what, (size_t)(p - fj->vocab)); break; }
        q = tok_fj_ws(q, e);
        if (q >= e || *q != ':') { rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: model.vocab: expected ':'", what); break; }
        q = tok_fj_ws(q + 1, e);
        long long v = 0;
        const char *d = q;
        while (q < e && *q >= '0' && *q <= '9' && v < TOK_MAX_VOCAB) v = v * 10 + (*q++ - '0');
        if (q == d || v >= TOK_MAX_VOCAB || (q < e && (*q == '.' || *q == 'e' || *q == 'E'))) {
            buf[kl < 64 ? kl : 64] = 0;
            rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: model.vocab['%s'] is not a valid id", what, buf);
            break;
        }
        if (++count > TOK_MAX_VOCAB) { rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: vocabulary too large", what); break; }
        if ((rc = tok_add_vocab(t, buf, kl, (int32_t)v, err))) break;
        p = tok_fj_ws(q, e);
        if (p < e && *p == ',') { p++; continue; }
        if (p < e && *p == '}') break;
        rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: model.vocab: expected ',' or '}'", what);
        break;
    }
    free(buf);
    return rc;
}

/* Merges are resolved in batches: hashes first with prefetches of their slots, then the
 * lookups, so the (memory-bound) vocab and merge tables are not probed one miss at a time. */
#define MERGE_BATCH 64
typedef struct { size_t aoff, al, boff, bl, caoff; uint32_t rank; uint64_t ha, hb, hc; } merge_ref;

static llmc_status merge_batch(llmc_tokenizer *t, llmc_strbuf *sb, merge_ref *m, size_t n, const char *what, llmc_error *err) {
    size_t skip_len = t->cont_prefix_len;
    for (size_t i = 0; i < n; i++) {
        const char *a = sb->data + m[i].aoff, *b = sb->data + m[i].boff;
        m[i].ha = tok_hash(a, m[i].al);
        m[i].hb = tok_hash(b, m[i].bl);
        tok_smap_prefetch(&t->vocab, m[i].ha);
        tok_smap_prefetch(&t->vocab, m[i].hb);
    }
    uint64_t keys[MERGE_BATCH], vals[MERGE_BATCH];
    char cat[512];
    for (size_t i = 0; i < n; i++) {
        const char *a = sb->data + m[i].aoff, *b = sb->data + m[i].boff;
        size_t al = m[i].al, bl = m[i].bl;
        int32_t ia = tok_smap_get_h(&t->vocab, a, al, m[i].ha), ib = tok_smap_get_h(&t->vocab, b, bl, m[i].hb);
        size_t skip = skip_len && bl >= skip_len && !memcmp(b, t->cont_prefix, skip_len) ? skip_len : 0;
        int32_t nid = -1;
        if (ia >= 0 && ib >= 0) {
            size_t nl = al + bl - skip;
            char *buf = nl <= sizeof cat ? cat : malloc(nl);
            if (!buf) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
            memcpy(buf, a, al);
            memcpy(buf + al, b + skip, bl - skip);
            nid = tok_smap_get(&t->vocab, buf, nl);
            if (buf != cat) free(buf);
        }
        if (ia < 0 || ib < 0 || nid < 0)
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: merge %u ('%.*s' '%.*s') %s", what, m[i].rank, (int)(al > 64 ? 64 : al), a,
                            (int)(bl > 64 ? 64 : bl), b, nid < 0 && ia >= 0 && ib >= 0 ? "makes a token not in the vocabulary"
                                                                                     : "uses a token not in the vocabulary");
        keys[i] = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
        vals[i] = (uint64_t)m[i].rank << 32 | (uint32_t)nid;
        tok_umap_prefetch(&t->merges, keys[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (!tok_umap_put(&t->merges, keys[i], vals[i])) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    return LLMC_OK;
}

static llmc_status fast_merges(llmc_tokenizer *t, const tok_fj_spans *fj, const char *what, llmc_error *err) {
    const char *p = fj->merges + 1, *e = fj->merges_end;
    char *a = malloc(TOK_MAX_TOKEN + 8);
    size_t quotes = 0;
    for (const char *c = p; (c = memchr(c, '"', (size_t)(e - c))) != NULL; c++) quotes++;
    const char *first = tok_fj_ws(p, e);
    size_t est = first < e && *first == '[' ? quotes / 4 : quotes / 2;
    if (!a || !tok_umap_init(&t->merges, est + 1)) { free(a); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    llmc_status rc = LLMC_OK;
    uint32_t rank = 0;
    merge_ref batch[MERGE_BATCH];
    size_t nb = 0;
    llmc_strbuf sb; llmc_sb_init(&sb);
    for (;; rank++) {
        p = tok_fj_ws(p, e);
        if (p < e && *p == ']') break;
        size_t al, bl;
        const char *q;
        merge_ref *r = &batch[nb];
        r->rank = rank;
        if (p < e && *p == '"') {
            q = tok_fj_string(p, e, a, TOK_MAX_TOKEN, &al);
            char *sp = q ? memchr(a, ' ', al) : NULL;
            if (!sp || sp + 1 == a + al) { rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: merge %u is not 'a b'", what, rank); break; }
            r->aoff = sb.len; r->al = (size_t)(sp - a);
            r->boff = sb.len + r->al + 1; r->bl = al - r->al - 1;
            llmc_sb_append(&sb, a, al);
        } else if (p < e && *p == '[') {
            q = tok_fj_string(tok_fj_ws(p + 1, e), e, a, TOK_MAX_TOKEN, &al);
            if (q) { r->aoff = sb.len; r->al = al; llmc_sb_append(&sb, a, al); q = tok_fj_ws(q, e); }
            if (q && q < e && *q == ',') q = tok_fj_string(tok_fj_ws(q + 1, e), e, a, TOK_MAX_TOKEN, &bl); else q = NULL;
            if (q) { r->boff = sb.len; r->bl = bl; llmc_sb_append(&sb, a, bl); q = tok_fj_ws(q, e); }
            if (!q || q >= e || *q != ']') { rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: merge %u is not [a, b]", what, rank); break; }
            q++;
        } else { rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: merge %u is neither 'a b' nor [a, b]", what, rank); break; }
        if (sb.oom) { rc = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); break; }
        if (++nb == MERGE_BATCH) {
            if ((rc = merge_batch(t, &sb, batch, nb, what, err))) break;
            nb = 0;
            sb.len = 0;
        }
        p = tok_fj_ws(q, e);
        if (p < e && *p == ',') { p++; continue; }
        if (p < e && *p == ']') break;
        rc = llmc_err(err, LLMC_ERR_FORMAT, "%s: model.merges: expected ',' or ']'", what);
        break;
    }
    if (!rc && nb) rc = merge_batch(t, &sb, batch, nb, what, err);
    llmc_sb_free(&sb);
    free(a);
    return rc;
}

/* Whether a component tree (a Sequence's items included) has a component of this type. */
static bool has_type(const cJSON *o, const char *type, int depth) {
    if (!cJSON_IsObject(o) || depth > TOK_MAX_DEPTH) return false;
    const char *ty = jstr(o, "type");
    if (ty && !strcmp(ty, type)) return true;
    static const char *lists[] = {"pretokenizers", "decoders", "normalizers", "processors"};
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, lists[k]);
        for (const cJSON *c = cJSON_IsArray(arr) ? arr->child : NULL; c; c = c->next)
            if (has_type(c, type, depth + 1)) return true;
    }
    return false;
}

/* transformers 5's LlamaTokenizer ignores tokenizer.json's normalizer, pre-tokenizer and
 * decoder and rebuilds them (models/llama/tokenization_llama.py): no normalizer,
 * Metaspace(prepend_scheme from add_prefix_space/legacy, split=False), BPE without
 * unk_token, decoder Replace/ByteFallback/Fuse(/Strip). llmc_tokenizer_load follows it
 * so prompts match the pipeline reference. */
static llmc_status llama_class_pipeline(llmc_tokenizer *t, const cJSON *cfg, llmc_error *err) {
    bool aps = jbool(cfg, "add_prefix_space", true), legacy = jbool(cfg, "legacy", false);
    if (t->normalizer) { tok_node_clear(t->normalizer); free(t->normalizer); t->normalizer = NULL; }
    tok_node_clear(&t->pretok_root);
    free(t->stages); t->stages = NULL; t->n_stages = 0;
    t->pretok_root.kind = TK_P_METASPACE;
    t->pretok_root.scheme = aps ? (legacy ? TS_ALWAYS : TS_FIRST) : TS_NEVER;
    t->pretok_root.f1 = false;
    t->pretok_root.a = strdup("\xE2\x96\x81");
    t->pretok_root.a_len = 3;
    if (!t->pretok_root.a) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_status rc = flatten(t, &t->pretok_root, err);
    if (rc) return rc;
    t->unk_id = -1;
    t->byte_fallback = true;
    t->fuse_unk = true;
    t->ignore_merges = false;
    if (t->decoder) { tok_node_clear(t->decoder); free(t->decoder); }
    t->decoder = calloc(1, sizeof *t->decoder);
    if (!t->decoder) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->decoder->kind = TK_D_SEQ;
    size_t nd = aps ? 4 : 3;
    t->decoder->subs = calloc(nd, sizeof *t->decoder->subs);
    if (!t->decoder->subs) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->decoder->n_subs = nd;
    tok_node *ds = t->decoder->subs;
    ds[0].kind = TK_D_REPLACE; ds[0].a = strdup("\xE2\x96\x81"); ds[0].a_len = 3; ds[0].b = strdup(" "); ds[0].b_len = 1;
    ds[1].kind = TK_D_BYTEFALLBACK;
    ds[2].kind = TK_D_FUSE;
    if (aps) { ds[3].kind = TK_D_STRIP; ds[3].a = strdup(" "); ds[3].a_len = 1; ds[3].n1 = 1; ds[3].n2 = 0; }
    if (!ds[0].a || !ds[0].b || (aps && !ds[3].a)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    return LLMC_OK;
}

static llmc_status load_unigram(llmc_tokenizer *t, const cJSON *root, const cJSON *cfg, const cJSON *model, const char *what,
                                llmc_error *err);
static llmc_status load_merges(llmc_tokenizer *t, const cJSON *merges, const tok_fj_spans *fj, const char *what, llmc_error *err);
static llmc_status load_rest(llmc_tokenizer *t, const cJSON *root, const cJSON *cfg, const char *what, llmc_error *err);

static llmc_status load_json(llmc_tokenizer *t, const cJSON *root, const cJSON *cfg, const tok_fj_spans *fj,
                             const char *what, llmc_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: missing object 'model'", what);
    const char *mt = jstr(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    llmc_status rc;
    if (mt ? !strcmp(mt, "BPE") : merges != NULL) t->model = TOK_M_BPE;
    else if (mt && !strcmp(mt, "WordPiece")) t->model = TOK_M_WORDPIECE;
    else if (mt && !strcmp(mt, "WordLevel")) t->model = TOK_M_WORDLEVEL;
    else if (mt && !strcmp(mt, "Unigram")) return load_unigram(t, root, cfg, model, what, err);
    else return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: model type '%s' is not supported (BPE, WordPiece, WordLevel, Unigram are)",
                         what, mt ? mt : "?");
    if (!cJSON_IsObject(vocab)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: model.vocab must be an object", what);
    if (t->model == TOK_M_BPE) {
        const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
        if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
            return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: BPE dropout is not supported (only null or 0: encoding is deterministic)", what);
        t->byte_fallback = jbool(model, "byte_fallback", false);
        t->fuse_unk = jbool(model, "fuse_unk", false);
        t->ignore_merges = jbool(model, "ignore_merges", false);
    }
    const char *s;
    if ((s = jstr(model, "continuing_subword_prefix")) && *s) { t->cont_prefix = strdup(s); t->cont_prefix_len = strlen(s); }
    else if (t->model == TOK_M_WORDPIECE && !s) { t->cont_prefix = strdup("##"); t->cont_prefix_len = 2; }
    if (t->model == TOK_M_BPE && (s = jstr(model, "end_of_word_suffix")) && *s) { t->eow_suffix = strdup(s); t->eow_suffix_len = strlen(s); }
    if (t->model == TOK_M_WORDPIECE) {
        long long mc = 100;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
        if (m && !(llmc_json_is_int(m, 0, 1 << 30) && (mc = (long long)m->valuedouble, true)))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: model.max_input_chars_per_word is not a valid count", what);
        t->wp_max_chars = (size_t)mc;
    }
    if (fj && fj->vocab) {
        if ((rc = fast_vocab(t, fj, what, err))) return rc;
    } else {
        size_t nv = (size_t)cJSON_GetArraySize(vocab);
        if (nv > TOK_MAX_VOCAB) return llmc_err(err, LLMC_ERR_FORMAT, "%s: vocabulary of %zu tokens is too large", what, nv);
        if (!tok_smap_init(&t->vocab, nv)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        for (const cJSON *c = vocab->child; c; c = c->next) {
            if (!llmc_json_is_int(c, 0, TOK_MAX_VOCAB - 1)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: model.vocab['%.64s'] is not a valid id", what, c->string);
            if ((rc = tok_add_vocab(t, c->string, strlen(c->string), (int32_t)c->valuedouble, err))) return rc;
        }
    }
    if ((s = jstr(model, "unk_token"))) {
        t->unk_id = tok_smap_get(&t->vocab, s, strlen(s));
        /* BPE needs it at load; WordPiece/WordLevel only fail (by name) when a word needs it */
        if (t->unk_id < 0 && t->model == TOK_M_BPE) return llmc_err(err, LLMC_ERR_FORMAT, "%s: unk_token '%s' is not in the vocabulary", what, s);
    } else if (t->model == TOK_M_WORDPIECE) t->unk_id = tok_smap_get(&t->vocab, "[UNK]", 5);
    else if (t->model == TOK_M_WORDLEVEL) t->unk_id = -1;
    if (t->model == TOK_M_BPE && (rc = load_merges(t, merges, fj, what, err))) return rc;
    return load_rest(t, root, cfg, what, err);
}

/* Unigram: vocab [[piece, score], ...] (id = index), unk_id, byte_fallback. */
static llmc_status load_unigram(llmc_tokenizer *t, const cJSON *root, const cJSON *cfg, const cJSON *model, const char *what,
                                llmc_error *err) {
    t->model = TOK_M_UNIGRAM;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsArray(vocab)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: Unigram model.vocab must be an array of [piece, score]", what);
    size_t nv = (size_t)cJSON_GetArraySize(vocab);
    if (nv > TOK_MAX_VOCAB) return llmc_err(err, LLMC_ERR_FORMAT, "%s: vocabulary of %zu tokens is too large", what, nv);
    if (!tok_smap_init(&t->vocab, nv)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->uni_score = malloc((nv ? nv : 1) * sizeof *t->uni_score);
    if (!t->uni_score) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->uni_min_score = nv ? 1e300 : 0;
    t->uni_n = nv;
    size_t i = 0;
    llmc_status rc;
    for (const cJSON *c = vocab->child; c; c = c->next, i++) {
        const cJSON *p = cJSON_GetArrayItem(c, 0), *sc = cJSON_GetArrayItem(c, 1);
        if (!cJSON_IsArray(c) || !cJSON_IsString(p) || !cJSON_IsNumber(sc) || !(sc->valuedouble == sc->valuedouble))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: Unigram model.vocab[%zu] is not [piece, score]", what, i);
        size_t pl = strlen(p->valuestring);
        if ((rc = tok_add_vocab(t, p->valuestring, pl, (int32_t)i, err))) return rc;
        t->uni_score[i] = sc->valuedouble;
        if (sc->valuedouble < t->uni_min_score) t->uni_min_score = sc->valuedouble;
        if (!tok_trie_add(&t->uni_trie, p->valuestring, pl, (int32_t)i)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    if (u && !cJSON_IsNull(u)) {
        if (!llmc_json_is_int(u, 0, (long long)nv - 1)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: Unigram unk_id is not an id of the vocabulary", what);
        t->unk_id = (int32_t)u->valuedouble;
    }
    t->byte_fallback = jbool(model, "byte_fallback", false);
    return load_rest(t, root, cfg, what, err);
}

static llmc_status load_merges(llmc_tokenizer *t, const cJSON *merges, const tok_fj_spans *fj, const char *what, llmc_error *err) {
    llmc_status rc;
    if (fj && fj->merges) {
        if ((rc = fast_merges(t, fj, what, err))) return rc;
    } else {
        if (merges && !cJSON_IsArray(merges)) return llmc_err(err, LLMC_ERR_FORMAT, "%s: model.merges must be an array", what);
        size_t nm = merges ? (size_t)cJSON_GetArraySize(merges) : 0;
        if (!tok_umap_init(&t->merges, nm)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        uint32_t rank = 0;
        for (const cJSON *c = merges ? merges->child : NULL; c; c = c->next, rank++) {
            if (cJSON_IsString(c)) {
                const char *m = c->valuestring, *sp = strchr(m, ' ');
                if (!sp || !sp[1]) return llmc_err(err, LLMC_ERR_FORMAT, "%s: merge %u '%.64s' is not 'a b'", what, rank, m);
                if ((rc = tok_add_merge(t, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), rank, err, what))) return rc;
            } else if (cJSON_IsArray(c) && cJSON_GetArraySize(c) == 2 && cJSON_IsString(c->child) && cJSON_IsString(c->child->next)) {
                const char *a = c->child->valuestring, *b = c->child->next->valuestring;
                if ((rc = tok_add_merge(t, a, strlen(a), b, strlen(b), rank, err, what))) return rc;
            } else return llmc_err(err, LLMC_ERR_FORMAT, "%s: merge %u is neither 'a b' nor [a, b]", what, rank);
        }
    }
    return LLMC_OK;
}

/* Added tokens, normalizer, pre-tokenizer, decoder, post-processor and config, for every model. */
static llmc_status load_rest(llmc_tokenizer *t, const cJSON *root, const cJSON *cfg, const char *what, llmc_error *err) {
    llmc_status rc;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    for (const cJSON *c = cJSON_IsArray(added) ? added->child : NULL; c; c = c->next) {
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(c, "id");
        const char *content = jstr(c, "content");
        if (!content || !llmc_json_is_int(idj, 0, TOK_MAX_VOCAB - 1))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: added_tokens entry without content/id", what);
        if ((rc = add_added(t, content, strlen(content), (int32_t)idj->valuedouble, jbool(c, "special", false),
                            jbool(c, "lstrip", false), jbool(c, "rstrip", false), jbool(c, "single_word", false),
                            jbool(c, "normalized", !jbool(c, "special", false)), true, err)))
            return rc;
    }
    const cJSON *x;
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "normalizer")) && !cJSON_IsNull(x)) {
        t->normalizer = calloc(1, sizeof *t->normalizer);
        if (!t->normalizer) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        if ((rc = parse_normalizer(x, t->normalizer, 0, what, err))) return rc;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")) && !cJSON_IsNull(x)) {
        if ((rc = parse_pretok(x, &t->pretok_root, 0, what, err))) return rc;
        if ((rc = flatten(t, &t->pretok_root, err))) return rc;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "decoder")) && !cJSON_IsNull(x)) {
        t->decoder = calloc(1, sizeof *t->decoder);
        if (!t->decoder) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        if ((rc = parse_decoder(x, t->decoder, 0, what, err))) return rc;
    }
    const char *cls = cfg ? jstr(cfg, "tokenizer_class") : NULL;
    /* A byte-level tokenizer.json under tokenizer_class LlamaTokenizer(Fast) (DeepSeek V3/R1,
       deepseek-llm, ...) is kept as the file says: rebuilding it as SentencePiece would drop
       every char the byte-level vocab spells as Ġ/Ċ/... (transformers issue 45488). */
    bool byte_level = has_type(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "ByteLevel", 0) ||
                      has_type(cJSON_GetObjectItemCaseSensitive(root, "decoder"), "ByteLevel", 0);
    if (cls && !byte_level && (!strcmp(cls, "LlamaTokenizer") || !strcmp(cls, "LlamaTokenizerFast")) &&
        (rc = llama_class_pipeline(t, cfg, err)))
        return rc;
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    bool has_post = post && !cJSON_IsNull(post);
    /* transformers rebuilds the post-processor from add_bos_token/add_eos_token when the config sets
       either, or when tokenizer.json has none (TokenizersBackend.update_post_processor). */
    bool ab = false, ae = false;
    bool explicit_flags = cfg && (cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token") ||
                                  cJSON_GetObjectItemCaseSensitive(cfg, "add_eos_token"));
    if (cfg) { ab = jbool(cfg, "add_bos_token", false); ae = jbool(cfg, "add_eos_token", false); }
    if (cfg) {
        static const char *keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        for (int i = 0; i < 4; i++)
            if ((rc = tok_set_special_str(t, i, cfg_token(cfg, keys[i]), err))) return rc;
    } else if (t->unk_id >= 0 && (rc = tok_set_special_str(t, 2, t->id_str[t->unk_id], err))) return rc;
    if (explicit_flags || (!has_post && cfg)) {
        int32_t bos = t->special_str[0] ? llmc_tokenizer_token_to_id(t, t->special_str[0]) : -1;
        int32_t eos = t->special_str[1] ? llmc_tokenizer_token_to_id(t, t->special_str[1]) : -1;
        if (ab && bos >= 0) { if (!ids_push(&t->post_pre, &t->n_post_pre, bos)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
        if (ae && eos >= 0) { if (!ids_push(&t->post_suf, &t->n_post_suf, eos)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    } else if (has_post && (rc = parse_post(t, post, 0, what, err))) return rc;
    return tok_finish(t, err);
}

llmc_status llmc_tokenizer_from_json(const char *tok_json, size_t len, const char *cfg_json, size_t cfg_len,
                                     const char *what, llmc_tokenizer **out, llmc_error *err) {
    *out = NULL;
    if (!what) what = "tokenizer.json";
    if (!tok_json) return llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: no JSON text", what);
    tok_fj_spans fj;
    char *blanked = NULL;
    bool fast = len > 4096 && tok_fj_find(tok_json, len, &fj);
    if (fast) {
        blanked = malloc(len);
        if (!blanked) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        memcpy(blanked, tok_json, len);
        size_t vo = (size_t)(fj.vocab - tok_json), vl = (size_t)(fj.vocab_end - fj.vocab);
        memset(blanked + vo, ' ', vl);
        blanked[vo] = '{'; blanked[vo + 1] = '}';
        if (fj.merges) {
            size_t mo = (size_t)(fj.merges - tok_json), ml = (size_t)(fj.merges_end - fj.merges);
            memset(blanked + mo, ' ', ml);
            blanked[mo] = '['; blanked[mo + 1] = ']';
        }
    }
    cJSON *root = llmc_json_parse(fast ? blanked : tok_json, len, what, err);
    free(blanked);
    if (!root) return err ? err->code : LLMC_ERR_FORMAT;
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return llmc_err(err, LLMC_ERR_FORMAT, "%s: not a JSON object", what); }
    cJSON *cfg = NULL;
    if (cfg_json) {
        cfg = llmc_json_parse(cfg_json, cfg_len, "tokenizer_config.json", err);
        if (!cfg) { cJSON_Delete(root); return err ? err->code : LLMC_ERR_FORMAT; }
        if (!cJSON_IsObject(cfg)) { cJSON_Delete(root); cJSON_Delete(cfg); return llmc_err(err, LLMC_ERR_FORMAT, "tokenizer_config.json: not a JSON object"); }
    }
    llmc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) { cJSON_Delete(root); cJSON_Delete(cfg); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    t->unk_id = -1;
    llmc_status rc = load_json(t, root, cfg, fast ? &fj : NULL, what, err);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    if (rc) { llmc_tokenizer_free(t); return rc; }
    *out = t;
    return LLMC_OK;
}

llmc_status llmc_tokenizer_load(const char *path, llmc_tokenizer **out, llmc_error *err) {
    *out = NULL;
    if (!path) return llmc_err(err, LLMC_ERR_INVALID_ARG, "tokenizer: no path");
    if (llmc_str_endswith(path, ".gguf") && !llmc_dir_exists(path)) return llmc_tokenizer_load_gguf(path, out, err);
    char *dir, *tokp;
    if (llmc_dir_exists(path)) { dir = strdup(path); tokp = llmc_path_join(path, "tokenizer.json"); }
    else {
        dir = llmc_path_dirname(path);
        if (llmc_str_endswith(path, "tokenizer_config.json")) tokp = llmc_path_join(dir ? dir : ".", "tokenizer.json");
        else tokp = strdup(path);
    }
    char *cfgp = dir ? llmc_path_join(dir, "tokenizer_config.json") : NULL;
    char *tj = NULL, *cj = NULL;
    size_t tl = 0, cl = 0;
    llmc_status rc;
    if (!dir || !tokp || !cfgp) { rc = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto out; }
    if (!llmc_file_exists(tokp)) { rc = llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: no such tokenizer file", tokp); goto out; }
    if ((rc = llmc_read_file(tokp, TOK_JSON_MAX, &tj, &tl, err))) goto out;
    if (llmc_file_exists(cfgp) && (rc = llmc_read_file(cfgp, 64u << 20, &cj, &cl, err))) goto out;
    rc = llmc_tokenizer_from_json(tj, tl, cj, cl, tokp, out, err);
out:
    free(dir); free(tokp); free(cfgp); free(tj); free(cj);
    return rc;
}
