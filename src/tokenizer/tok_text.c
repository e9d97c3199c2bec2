/* Normalizers and pre-tokenizer splitting, following the semantics of the
 * tokenizers library (NormalizedString::split and its SplitDelimiterBehavior). */
#include "tokenizer/tok_text.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------- normalizers ---------------- */

static llmc_status sb_ok(llmc_strbuf *sb, llmc_error *err) {
    return sb->oom ? llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory while normalizing") : LLMC_OK;
}

static void put_cp(llmc_strbuf *sb, uint32_t c) {
    char b[4];
    int n;
    if (c < 0x80) { b[0] = (char)c; n = 1; }
    else if (c < 0x800) { b[0] = (char)(0xC0 | c >> 6); b[1] = (char)(0x80 | (c & 63)); n = 2; }
    else if (c < 0x10000) { b[0] = (char)(0xE0 | c >> 12); b[1] = (char)(0x80 | (c >> 6 & 63)); b[2] = (char)(0x80 | (c & 63)); n = 3; }
    else { b[0] = (char)(0xF0 | c >> 18); b[1] = (char)(0x80 | (c >> 12 & 63)); b[2] = (char)(0x80 | (c >> 6 & 63)); b[3] = (char)(0x80 | (c & 63)); n = 4; }
    llmc_sb_append(sb, b, (size_t)n);
}

static llmc_status unicode_form(int opts, const char *s, size_t len, llmc_strbuf *out, llmc_error *err) {
    if (len == 0) return LLMC_OK;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst, (utf8proc_option_t)opts);
    if (r < 0) { free(dst); return llmc_err(err, LLMC_ERR_INVALID_ARG, "tokenizer: normalization failed: %s", utf8proc_errmsg(r)); }
    llmc_sb_append(out, (const char *)dst, (size_t)r);
    free(dst);
    return sb_ok(out, err);
}

/* Rust char::to_lowercase per char (tokenizers lowercases char by char, so no
 * word-final sigma), with İ → i̇ as its full mapping gives. */
static void lowercase(const char *s, size_t len, llmc_strbuf *out) {
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int n = tok_u8(s + i, len - i, &c);
        if (c == 0x130) llmc_sb_append(out, "i\xCC\x87", 3);
        else put_cp(out, c < 0x80 ? (c >= 'A' && c <= 'Z' ? c + 32 : c) : (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
        i += (size_t)n;
    }
}

static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* tokenizers' StripAccents / BertNormalizer strip_accents: drops every combining mark
 * (is_combining_mark: general categories Mn, Mc and Me). */
static void strip_marks(const char *s, size_t len, llmc_strbuf *out, bool nonspacing_only) {
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int n = tok_u8(s + i, len - i, &c);
        utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
        if (k != UTF8PROC_CATEGORY_MN && (nonspacing_only || (k != UTF8PROC_CATEGORY_MC && k != UTF8PROC_CATEGORY_ME)))
            llmc_sb_append(out, s + i, (size_t)n);
        i += (size_t)n;
    }
}

static const char *node_name(int kind) {
    switch (kind) {
    case TK_P_SPLIT: return "pre-tokenizer Split";
    case TK_N_REPLACE: return "normalizer Replace";
    case TK_D_REPLACE: return "decoder Replace";
    case TK_P_BYTELEVEL: return "pre-tokenizer ByteLevel";
    case TK_P_WHITESPACE: return "pre-tokenizer Whitespace";
    default: return "tokenizer regex";
    }
}

/* Finds the matches of a Replace/Split pattern: literal (a) or regex (re). Calls
 * back on each non-overlapping match [ms, me). Empty regex matches advance one char.
 * Regex searches run under the encode's budget b (NULL: a budget for this call). */
typedef bool (*match_fn)(void *u, size_t ms, size_t me);
static llmc_status find_pattern(const tok_node *n, const char *s, size_t len, match_fn fn, void *u, tok_budget *b,
                                llmc_error *err) {
    if (!n->re) {
        if (n->a_len == 0) return LLMC_OK;
        size_t i = 0;
        while (i + n->a_len <= len) {
            const char *p = memmem(s + i, len - i, n->a, n->a_len);
            if (!p) break;
            size_t ms = (size_t)(p - s);
            if (!fn(u, ms, ms + n->a_len)) return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
            i = ms + n->a_len;
        }
        return LLMC_OK;
    }
    tok_budget local;
    if (!b) { tok_budget_init(&local, len); b = &local; }
    OnigRegion *region = onig_region_new();
    llmc_status rc = LLMC_OK;
    if (!region) { rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory"); goto out; }
    size_t pos = 0;
    bool have_last = false;
    size_t last_end = 0;
    while (pos <= len) {
        int r = tok_budget_search(b, n->re, s, len, pos, region);
        if (r == ONIG_MISMATCH) break;
        if (r < 0) {
            const char *pat = n->pat ? n->pat : "";
            size_t pl = strlen(pat);
            const char *why = r == TOK_RE_TIMEOUT ? "the encode's regex time budget is spent"
                            : r == ONIGERR_RETRY_LIMIT_IN_MATCH_OVER ? "backtracking limit of one match exceeded"
                            : r == ONIGERR_RETRY_LIMIT_IN_SEARCH_OVER ? "backtracking limit of one search exceeded"
                            : "regex search failed";
            rc = llmc_err(err, r == ONIGERR_MEMORY ? LLMC_ERR_NOMEM : LLMC_ERR_INVALID_ARG,
                          "tokenizer: %s /%.*s%s/: %s (%d) searching from byte %zu of a %zu-byte piece", node_name(n->kind),
                          tok_u8_cut(pat, pl, 200), pat, pl > 200 ? "..." : "", why, r, pos, len);
            break;
        }
        size_t ms = (size_t)region->beg[0], me = (size_t)region->end[0];
        if (ms == me && have_last && last_end == me) {
            /* As the onig crate's find_iter: no empty match right after the previous match. */
            if (pos >= len) break;
            uint32_t c;
            pos += (size_t)tok_u8(s + pos, len - pos, &c);
            continue;
        }
        if (!fn(u, ms, me)) { rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory"); break; }
        have_last = true;
        last_end = me;
        if (me == ms) {
            if (me >= len) break;
            uint32_t c;
            pos = me + (size_t)tok_u8(s + me, len - me, &c);
        } else pos = me;
    }
    onig_region_free(region, 1);
out:
    if (b == &local) tok_budget_free(&local);
    return rc;
}

typedef struct { const char *s; llmc_strbuf *out; size_t prev; const char *rep; size_t rep_len; } repl_ctx;
static bool repl_cb(void *u, size_t ms, size_t me) {
    repl_ctx *c = u;
    llmc_sb_append(c->out, c->s + c->prev, ms - c->prev);
    llmc_sb_append(c->out, c->rep, c->rep_len);
    c->prev = me;
    return !c->out->oom;
}

static llmc_status normalize_one(const tok_node *n, const char *s, size_t len, llmc_strbuf *out, tok_budget *bud,
                                 llmc_error *err) {
    switch (n->kind) {
    case TK_N_NFC: return unicode_form(UTF8PROC_STABLE | UTF8PROC_COMPOSE, s, len, out, err);
    case TK_N_NFD: return unicode_form(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, s, len, out, err);
    case TK_N_NFKC: return unicode_form(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, s, len, out, err);
    case TK_N_NFKD: return unicode_form(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, s, len, out, err);
    case TK_N_LOWER: lowercase(s, len, out); return sb_ok(out, err);
    case TK_N_PREPEND:
        if (len) { llmc_sb_append(out, n->a, n->a_len); llmc_sb_append(out, s, len); }
        return sb_ok(out, err);
    case TK_N_APPEND:
        if (len) { llmc_sb_append(out, s, len); llmc_sb_append(out, n->a, n->a_len); }
        return sb_ok(out, err);
    case TK_N_REPLACE: {
        repl_ctx c = {s, out, 0, n->b, n->b_len};
        llmc_status rc = find_pattern(n, s, len, repl_cb, &c, bud, err);
        if (rc) return rc;
        llmc_sb_append(out, s + c.prev, len - c.prev);
        return sb_ok(out, err);
    }
    case TK_N_STRIP: {
        size_t b = 0, e = len;
        if (n->f1) while (b < e) { uint32_t c; int k = tok_u8(s + b, e - b, &c); if (!tok_is_whitespace(c)) break; b += (size_t)k; }
        if (n->f2) while (e > b) {
            size_t q = e - 1;
            while (q > b && ((unsigned char)s[q] & 0xC0) == 0x80) q--;
            uint32_t c; tok_u8(s + q, e - q, &c);
            if (!tok_is_whitespace(c)) break;
            e = q;
        }
        llmc_sb_append(out, s + b, e - b);
        return sb_ok(out, err);
    }
    case TK_N_STRIP_ACCENTS: strip_marks(s, len, out, false); return sb_ok(out, err);
    case TK_N_PRECOMPILED: return tok_precompiled_apply(n, s, len, out, err);
    case TK_N_BYTELEVEL:
        for (size_t i = 0; i < len; i++) put_cp(out, tok_byte_to_cp[(unsigned char)s[i]]);
        return sb_ok(out, err);
    case TK_N_BERT: {
        /* f1 clean_text, f2 handle_chinese_chars, f3 strip_accents, f4 lowercase */
        llmc_strbuf a; llmc_sb_init(&a);
        for (size_t i = 0; i < len;) {
            uint32_t c;
            int k = tok_u8(s + i, len - i, &c);
            i += (size_t)k;
            if (n->f1) {
                if (c == 0 || c == 0xFFFD) continue;
                if (c != '\t' && c != '\n' && c != '\r') {
                    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
                    /* tokenizers' is_control: Cc, Cf, Co, Cs (unassigned code points are kept) */
                    if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
                        cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS) continue;
                }
                if (tok_is_whitespace(c)) c = ' ';
            }
            if (n->f2 && is_cjk(c)) { llmc_sb_putc(&a, ' '); put_cp(&a, c); llmc_sb_putc(&a, ' '); }
            else put_cp(&a, c);
        }
        llmc_status rc = LLMC_OK;
        if (n->f3) {
            llmc_strbuf d; llmc_sb_init(&d);
            rc = unicode_form(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, a.data ? a.data : "", a.len, &d, err);
            llmc_sb_free(&a);
            a.len = 0; a.data = NULL; a.cap = 0;
            if (!rc) strip_marks(d.data ? d.data : "", d.len, &a, true); /* Bert: Mn only */
            llmc_sb_free(&d);
        }
        if (!rc) {
            if (n->f4) lowercase(a.data ? a.data : "", a.len, out);
            else llmc_sb_append(out, a.data ? a.data : "", a.len);
        }
        llmc_sb_free(&a);
        return rc ? rc : sb_ok(out, err);
    }
    default: return llmc_err(err, LLMC_ERR_INTERNAL, "tokenizer: unknown normalizer kind %d", n->kind);
    }
}

llmc_status tok_normalize(const tok_node *n, const char *s, size_t len, llmc_strbuf *out, tok_budget *bud,
                          llmc_error *err) {
    if (!n) { llmc_sb_append(out, s, len); return sb_ok(out, err); }
    if (n->kind != TK_N_SEQ) return normalize_one(n, s, len, out, bud, err);
    llmc_strbuf cur; llmc_sb_init(&cur);
    llmc_sb_append(&cur, s, len);
    for (size_t i = 0; i < n->n_subs; i++) {
        llmc_strbuf nx; llmc_sb_init(&nx);
        llmc_status rc = tok_normalize(&n->subs[i], cur.data ? cur.data : "", cur.len, &nx, bud, err);
        llmc_sb_free(&cur);
        cur = nx;
        if (rc) { llmc_sb_free(&cur); return rc; }
    }
    llmc_sb_append(out, cur.data ? cur.data : "", cur.len);
    llmc_sb_free(&cur);
    return sb_ok(out, err);
}

/* ---------------- pre-tokenizer splitting ---------------- */

bool tok_ranges_push(tok_ranges *r, size_t off, size_t len, bool flag) {
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        tok_range *nv = realloc(r->v, nc * sizeof *nv);
        if (!nv) return false;
        r->v = nv; r->cap = nc;
    }
    r->v[r->n].off = off; r->v[r->n].len = len; r->v[r->n].flag = flag;
    r->n++;
    return true;
}

typedef struct { tok_ranges *m; size_t prev; } split_ctx;
static bool split_cb(void *u, size_t ms, size_t me) {
    split_ctx *c = u;
    if (c->prev != ms && !tok_ranges_push(c->m, c->prev, ms - c->prev, false)) return false;
    if (!tok_ranges_push(c->m, ms, me - ms, true)) return false;
    c->prev = me;
    return true;
}

typedef enum { PRED_NUMERIC, PRED_WS, PRED_PUNCT, PRED_CHAR } pred_kind;
static bool pred_match(pred_kind k, uint32_t c, uint32_t ch) {
    switch (k) {
    case PRED_NUMERIC: return tok_is_numeric(c);
    case PRED_WS: return tok_is_whitespace(c);
    case PRED_PUNCT: return tok_is_punct(c);
    default: return c == ch;
    }
}

static bool pred_matches(pred_kind k, uint32_t ch, const char *s, size_t len, tok_ranges *m) {
    size_t last = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int n = tok_u8(s + i, len - i, &c);
        if (pred_match(k, c, ch)) {
            if (last < i && !tok_ranges_push(m, last, i - last, false)) return false;
            if (!tok_ranges_push(m, i, (size_t)n, true)) return false;
            last = i + (size_t)n;
        }
        i += (size_t)n;
    }
    if (last < len && !tok_ranges_push(m, last, len - last, false)) return false;
    return true;
}

/* Applies a behaviour to a match list (flag = is match) and appends the kept,
 * non-empty pieces to out. */
static bool apply_behavior(int behavior, tok_ranges *m, tok_ranges *out) {
    size_t n = m->n;
    tok_range *v = m->v;
    switch (behavior) {
    case TB_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!v[i].flag && v[i].len && !tok_ranges_push(out, v[i].off, v[i].len, false)) return false;
        return true;
    case TB_ISOLATED:
        for (size_t i = 0; i < n; i++)
            if (v[i].len && !tok_ranges_push(out, v[i].off, v[i].len, false)) return false;
        return true;
    case TB_CONTIGUOUS: {
        size_t start = out->n;
        bool prev = false;
        for (size_t i = 0; i < n; i++) {
            if (v[i].flag == prev && out->n > start) out->v[out->n - 1].len = v[i].off + v[i].len - out->v[out->n - 1].off;
            else if (!tok_ranges_push(out, v[i].off, v[i].len, false)) return false;
            prev = v[i].flag;
        }
        break;
    }
    case TB_MERGED_PREV: {
        size_t start = out->n;
        bool prev = false;
        for (size_t i = 0; i < n; i++) {
            if (v[i].flag && !prev && out->n > start) out->v[out->n - 1].len = v[i].off + v[i].len - out->v[out->n - 1].off;
            else if (!tok_ranges_push(out, v[i].off, v[i].len, false)) return false;
            prev = v[i].flag;
        }
        break;
    }
    case TB_MERGED_NEXT: {
        /* Folded from the right: a match joins the piece that follows it. */
        size_t start = out->n;
        bool prev = false;
        for (size_t i = n; i-- > 0;) {
            if (v[i].flag && !prev && out->n > start) {
                tok_range *l = &out->v[out->n - 1];
                l->len = l->off + l->len - v[i].off;
                l->off = v[i].off;
            } else if (!tok_ranges_push(out, v[i].off, v[i].len, false)) return false;
            prev = v[i].flag;
        }
        for (size_t a = start, b = out->n; a + 1 < b; a++, b--) {
            tok_range t = out->v[a]; out->v[a] = out->v[b - 1]; out->v[b - 1] = t;
        }
        break;
    }
    default: return false;
    }
    /* Drop empties kept by the merging behaviours. */
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++) if (out->v[i].len) out->v[w++] = out->v[i];
    out->n = w;
    return true;
}

static llmc_status split_by(const tok_node *n, int behavior, bool invert, const char *s, size_t len, tok_ranges *tmp,
                            tok_ranges *out, tok_budget *bud, llmc_error *err) {
    tmp->n = 0;
    if (len == 0) return LLMC_OK;
    split_ctx c = {tmp, 0};
    llmc_status rc = find_pattern(n, s, len, split_cb, &c, bud, err);
    if (rc) return rc;
    if (c.prev != len && !tok_ranges_push(tmp, c.prev, len - c.prev, false)) goto oom;
    if (invert) for (size_t i = 0; i < tmp->n; i++) tmp->v[i].flag = !tmp->v[i].flag;
    if (!apply_behavior(behavior, tmp, out)) goto oom;
    return LLMC_OK;
oom:
    return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory while splitting");
}

static llmc_status split_pred(pred_kind k, uint32_t ch, int behavior, bool invert, const char *s, size_t len,
                              tok_ranges *tmp, tok_ranges *out, llmc_error *err) {
    tmp->n = 0;
    if (len == 0) return LLMC_OK;
    if (!pred_matches(k, ch, s, len, tmp)) goto oom;
    if (invert) for (size_t i = 0; i < tmp->n; i++) tmp->v[i].flag = !tmp->v[i].flag;
    if (!apply_behavior(behavior, tmp, out)) goto oom;
    return LLMC_OK;
oom:
    return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory while splitting");
}

/* Rust regex's Unicode \w: Alphabetic, marks, decimal digits, connector punctuation,
 * Join_Control (Other_Alphabetic beyond marks approximated by the enclosed letters). */
static bool rust_word_char(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (c == 0x200C || c == 0x200D || (c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F189)) return true;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC: return true;
    default: return false;
    }
}

/* tokenizers' Whitespace pre-tokenizer: the Rust-regex matches of \w+|[^\w\s]+, i.e. runs
 * of word chars and runs of other non-space chars; whitespace is dropped. */
static llmc_status whitespace_split(const char *s, size_t len, tok_ranges *out, llmc_error *err) {
    size_t start = 0;
    int cur = 0; /* 0 space, 1 word, 2 other */
    for (size_t i = 0; i <= len;) {
        uint32_t c = 0;
        int n = i < len ? tok_u8(s + i, len - i, &c) : 1;
        int k = i == len ? 0 : tok_is_whitespace(c) ? 0 : rust_word_char(c) ? 1 : 2;
        if (k != cur) {
            if (cur && !tok_ranges_push(out, start, i - start, false))
                return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory while splitting");
            start = i;
            cur = k;
        }
        i += (size_t)n;
    }
    return LLMC_OK;
}

/* Unicode scripts through Oniguruma's script properties (tokenizers' UnicodeScripts). */
static const char *const script_names[] = {
    "Common", "Latin", "Han", "Hiragana", "Katakana", "Hangul", "Inherited", "Cyrillic", "Greek", "Arabic", "Hebrew",
    "Devanagari", "Thai", "Bengali", "Tamil", "Telugu", "Kannada", "Malayalam", "Gujarati", "Gurmukhi", "Oriya",
    "Sinhala", "Lao", "Tibetan", "Myanmar", "Georgian", "Armenian", "Ethiopic", "Khmer", "Mongolian", "Thaana",
    "Syriac", "Cherokee", "Canadian_Aboriginal", "Ogham", "Runic", "Bopomofo", "Yi", "Braille", "Coptic", "Tifinagh",
    "Nko", "Javanese", "Balinese", "Sundanese", "Tagalog", "Vai", "Cham", "Lisu", "Adlam", "Gothic", "Glagolitic",
    "Old_Italic", "Deseret", "Shavian", "Osmanya", "Cuneiform", "Egyptian_Hieroglyphs", "Samaritan", "Mandaic",
    "Tai_Le", "New_Tai_Lue", "Tai_Tham", "Tai_Viet", "Buginese", "Batak", "Lepcha", "Ol_Chiki", "Saurashtra",
    "Kayah_Li", "Rejang", "Limbu", "Syloti_Nagri", "Meetei_Mayek", "Bamum", "Hanunoo", "Buhid", "Tagbanwa",
    "Ahom", "Anatolian_Hieroglyphs", "Avestan", "Bassa_Vah", "Bhaiksuki", "Brahmi", "Carian", "Caucasian_Albanian",
    "Chakma", "Chorasmian", "Cypriot", "Cypro_Minoan", "Dives_Akuru", "Dogra", "Duployan", "Elbasan", "Elymaic",
    "Grantha", "Gunjala_Gondi", "Hanifi_Rohingya", "Hatran", "Imperial_Aramaic", "Inscriptional_Pahlavi",
    "Inscriptional_Parthian", "Kaithi", "Kawi", "Kharoshthi", "Khitan_Small_Script", "Khojki", "Khudawadi", "Linear_A",
    "Linear_B", "Lycian", "Lydian", "Mahajani", "Makasar", "Manichaean", "Marchen", "Masaram_Gondi", "Medefaidrin",
    "Mende_Kikakui", "Meroitic_Cursive", "Meroitic_Hieroglyphs", "Miao", "Modi", "Mro", "Multani", "Nabataean",
    "Nag_Mundari", "Nandinagari", "Newa", "Nushu", "Nyiakeng_Puachue_Hmong", "Old_Hungarian", "Old_North_Arabian",
    "Old_Permic", "Old_Persian", "Old_Sogdian", "Old_South_Arabian", "Old_Turkic", "Old_Uyghur", "Osage",
    "Pahawh_Hmong", "Palmyrene", "Pau_Cin_Hau", "Phags_Pa", "Phoenician", "Psalter_Pahlavi", "Sharada", "Siddham",
    "SignWriting", "Sogdian", "Sora_Sompeng", "Soyombo", "Takri", "Tangsa", "Tangut", "Tirhuta", "Toto", "Ugaritic",
    "Vithkuqi", "Wancho", "Warang_Citi", "Yezidi", "Zanabazar_Square",
};
#define N_SCRIPTS (sizeof script_names / sizeof script_names[0])
static OnigCtype script_ctype[N_SCRIPTS];
static pthread_once_t script_once = PTHREAD_ONCE_INIT;
static void script_init(void) {
    for (size_t i = 0; i < N_SCRIPTS; i++) {
        const OnigUChar *p = (const OnigUChar *)script_names[i];
        int r = ONIGENC_PROPERTY_NAME_TO_CTYPE(ONIG_ENCODING_UTF8, (OnigUChar *)p, (OnigUChar *)p + strlen(script_names[i]));
        script_ctype[i] = r < 0 ? (OnigCtype)-1 : (OnigCtype)r;
    }
}
/* tokenizers' fixed_script: -1 Any (the space, and code points its script table does not
   list: unassigned, private use), else 1 + index; kana and U+30FC count as Han. */
static int fixed_script(uint32_t c) {
    if (c == ' ') return -1;
    if (c == 0x30FC) return 3;
    if (c < 0x80) return ((c | 32) >= 'a' && (c | 32) <= 'z') ? 2 : 1;
    for (size_t i = 0; i < N_SCRIPTS; i++) {
        if (script_ctype[i] == (OnigCtype)-1 || !ONIGENC_IS_CODE_CTYPE(ONIG_ENCODING_UTF8, c, script_ctype[i])) continue;
        return i == 3 || i == 4 ? 3 : (int)i + 1;
    }
    return -1;
}

/* Splits where the script changes (spaces join either side). As tokenizers does, text
 * before the first split point (a leading run of spaces) is not part of any piece. */
static llmc_status scripts_split(const char *s, size_t len, tok_ranges *out, llmc_error *err) {
    pthread_once(&script_once, script_init);
    int last = -2; /* none yet */
    size_t prev = SIZE_MAX;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int n = tok_u8(s + i, len - i, &c);
        int sc = fixed_script(c);
        if (sc != -1 && last != -1 && last != sc) {
            if (prev != SIZE_MAX && !tok_ranges_push(out, prev, i - prev, false)) goto oom;
            prev = i;
        }
        if (sc != -1) last = sc;
        i += (size_t)n;
    }
    if (prev != SIZE_MAX && prev < len && !tok_ranges_push(out, prev, len - prev, false)) goto oom;
    return LLMC_OK;
oom:
    return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory while splitting");
}

/* FixedLength: pieces of n chars (the last one shorter). */
static llmc_status fixed_split(const char *s, size_t len, long n, tok_ranges *out, llmc_error *err) {
    size_t start = 0;
    long k = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        i += (size_t)tok_u8(s + i, len - i, &c);
        if (++k == n || i == len) {
            if (!tok_ranges_push(out, start, i - start, false)) return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
            start = i;
            k = 0;
        }
    }
    return LLMC_OK;
}

static OnigRegex g_gpt2_re;
static pthread_once_t re_once = PTHREAD_ONCE_INIT;
static void re_init(void) {
    static const char gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    g_gpt2_re = tok_regex_new(gpt2, sizeof gpt2 - 1, NULL, "ByteLevel");
}

llmc_status tok_pretok_stage(const tok_node *n, const char *s, size_t len, bool at_start, tok_stage_out *o,
                             llmc_error *err) {
    o->ranges.n = 0;
    o->buf.len = 0;
    o->use_buf = false;
    switch (n->kind) {
    case TK_P_SPLIT:
        return split_by(n, n->behavior, n->invert, s, len, &o->tmp, &o->ranges, o->bud, err);
    case TK_P_DIGITS:
        return split_pred(PRED_NUMERIC, 0, n->f1 ? TB_ISOLATED : TB_CONTIGUOUS, false, s, len, &o->tmp, &o->ranges, err);
    case TK_P_WSPLIT:
        return split_pred(PRED_WS, 0, TB_REMOVED, false, s, len, &o->tmp, &o->ranges, err);
    case TK_P_PUNCT:
        return split_pred(PRED_PUNCT, 0, n->behavior, false, s, len, &o->tmp, &o->ranges, err);
    case TK_P_CHARDELIM: {
        uint32_t ch;
        tok_u8(n->a, n->a_len, &ch);
        return split_pred(PRED_CHAR, ch, TB_REMOVED, false, s, len, &o->tmp, &o->ranges, err);
    }
    case TK_P_WHITESPACE:
        return whitespace_split(s, len, &o->ranges, err);
    case TK_P_SCRIPTS:
        return scripts_split(s, len, &o->ranges, err);
    case TK_P_FIXED:
        return fixed_split(s, len, n->n1, &o->ranges, err);
    case TK_P_BYTELEVEL: {
        /* f1 add_prefix_space, f2 use_regex */
        const char *src = s;
        size_t slen = len;
        llmc_strbuf pre; llmc_sb_init(&pre);
        if (n->f1 && len && s[0] != ' ') {
            llmc_sb_putc(&pre, ' ');
            llmc_sb_append(&pre, s, len);
            if (pre.oom) { llmc_sb_free(&pre); return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory"); }
            src = pre.data; slen = pre.len;
        }
        llmc_status rc = LLMC_OK;
        tok_ranges *parts = &o->tmp2;
        parts->n = 0;
        if (n->f2) {
            pthread_once(&re_once, re_init);
            if (!g_gpt2_re) { llmc_sb_free(&pre); return llmc_err(err, LLMC_ERR_INTERNAL, "tokenizer: ByteLevel regex failed"); }
            tok_node tmpn = {0};
            tmpn.kind = TK_P_BYTELEVEL;
            tmpn.re = g_gpt2_re;
            rc = split_by(&tmpn, TB_ISOLATED, false, src, slen, &o->tmp, parts, o->bud, err);
        } else if (slen && !tok_ranges_push(parts, 0, slen, false)) rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
        if (!rc) {
            o->use_buf = true;
            for (size_t i = 0; i < parts->n; i++) {
                size_t start = o->buf.len;
                const unsigned char *p = (const unsigned char *)src + parts->v[i].off;
                for (size_t j = 0; j < parts->v[i].len; j++) put_cp(&o->buf, tok_byte_to_cp[p[j]]);
                if (!tok_ranges_push(&o->ranges, start, o->buf.len - start, false)) o->buf.oom = true;
            }
            if (o->buf.oom) rc = llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
        }
        llmc_sb_free(&pre);
        return rc;
    }
    case TK_P_METASPACE: {
        /* a = replacement char, f1 = split */
        o->use_buf = true;
        bool starts = len >= n->a_len && memcmp(s, n->a, n->a_len) == 0;
        bool prepend = n->scheme == TS_ALWAYS || (n->scheme == TS_FIRST && at_start);
        /* the replaced text starts with the replacement when s starts with ' ' too */
        if (len && s[0] == ' ') starts = true;
        if (prepend && !starts && len) llmc_sb_append(&o->buf, n->a, n->a_len);
        for (size_t i = 0; i < len; i++) {
            if (s[i] == ' ') llmc_sb_append(&o->buf, n->a, n->a_len);
            else llmc_sb_putc(&o->buf, s[i]);
        }
        if (o->buf.oom) return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
        if (!n->f1) {
            if (o->buf.len && !tok_ranges_push(&o->ranges, 0, o->buf.len, false))
                return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
            return LLMC_OK;
        }
        uint32_t ch;
        tok_u8(n->a, n->a_len, &ch);
        return split_pred(PRED_CHAR, ch, TB_MERGED_NEXT, false, o->buf.data ? o->buf.data : "", o->buf.len, &o->tmp,
                          &o->ranges, err);
    }
    default:
        return llmc_err(err, LLMC_ERR_INTERNAL, "tokenizer: unknown pre-tokenizer kind %d", n->kind);
    }
}

void tok_stage_out_free(tok_stage_out *o) {
    free(o->ranges.v); free(o->tmp.v); free(o->tmp2.v);
    llmc_sb_free(&o->buf);
    memset(o, 0, sizeof *o);
}
