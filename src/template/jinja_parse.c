/* Jinja lexer and parser: source → tokens (with Jinja's whitespace rules: trim_blocks,
 * lstrip_blocks, '-'/'+' modifiers, raw blocks, newline normalization) → AST, following the
 * grammar and operator precedence of jinja2's parser.py. Bounded nesting; errors carry line:col. */
#include "template/jinja.h"
#include "base/error.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARSE_DEPTH 200
#define MAX_TEMPLATE_BYTES (16u << 20)

/* ---------------------------------------------------------------- arena */

typedef struct achunk { struct achunk *next; size_t used, cap; char data[]; } achunk;

enum { TK_DATA, TK_VBEGIN, TK_VEND, TK_BBEGIN, TK_BEND, TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP, TK_EOF };
typedef struct {
    uint8_t type;
    char op;           /* operator: the char, or F (//) P (**) E (==) N (!=) G (>=) L (<=) */
    uint32_t pos;
    const char *s;     /* name/string/data text */
    size_t len;
    int64_t i;
    double f;
} tok;

typedef struct {
    llmc_template *t;
    llmc_error *err;
    jmp_buf jb;
    tok *toks;
    size_t ntok, cap, ti;
    int depth;
    int loop_depth;
    jnode *macro; /* innermost macro being parsed: records use of varargs/kwargs */
    jctx cctx; /* for building constants (immortal values in t->consts) */
} P;

static void *aalloc(P *p, size_t n);

_Noreturn static void perr(P *p, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn static void perr(P *p, uint32_t pos, const char *fmt, ...) {
    char msg[LLMC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    jpos_linecol(p->t, pos, &line, &col);
    llmc_err(p->err, LLMC_ERR_TEMPLATE, "%s:%d:%d: syntax error: %s", p->t->name, line, col, msg);
    longjmp(p->jb, 1);
}

static void *aalloc(P *p, size_t n) {
    n = (n + 15) & ~(size_t)15;
    achunk *c = p->t->arena;
    if (!c || c->used + n > c->cap) {
        size_t cap = n > 65536 ? n : 65536;
        achunk *nc = malloc(sizeof *nc + cap);
        if (!nc) { llmc_err(p->err, LLMC_ERR_NOMEM, "%s: out of memory", p->t->name); longjmp(p->jb, 1); }
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        p->t->arena = nc;
        c = nc;
    }
    void *r = c->data + c->used;
    c->used += n;
    memset(r, 0, n);
    return r;
}

static char *astrdup(P *p, const char *s, size_t n) {
    char *r = aalloc(p, n + 1);
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

void jpos_linecol(const llmc_template *t, uint32_t pos, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && i < t->src_len; i++) {
        if (t->src[i] == '\n') { l++; c = 1; }
        else if (((unsigned char)t->src[i] & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

/* ---------------------------------------------------------------- lexer */

static void push_tok(P *p, tok tk) {
    if (p->ntok == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        tok *nt = realloc(p->toks, cap * sizeof(tok));
        if (!nt) { llmc_err(p->err, LLMC_ERR_NOMEM, "%s: out of memory", p->t->name); longjmp(p->jb, 1); }
        p->toks = nt;
        p->cap = cap;
    }
    p->toks[p->ntok++] = tk;
}

static bool is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f' || (ch >= 0x1c && ch <= 0x1f); }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_name0(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
static bool is_name1(char ch) { return is_name0(ch) || is_digit(ch); }

static void emit_data(P *p, size_t from, size_t to) {
    if (to > from) push_tok(p, (tok){ .type = TK_DATA, .pos = (uint32_t)from, .s = p->t->src + from, .len = to - from });
}

/* Jinja's OptionalLStrip: '-' strips all trailing whitespace of the text before a tag; otherwise
 * lstrip_blocks strips the whitespace between the line start and a block/comment tag. */
static size_t lstrip_text(const char *src, size_t from, size_t to, char sign, bool is_var, bool line_starting) {
    if (sign == '-') {
        while (to > from && is_ws(src[to - 1])) to--;
        return to;
    }
    if (sign == '+' || is_var) return to;
    size_t l = to;
    while (l > from && src[l - 1] != '\n') l--;
    if (l > from || line_starting) {
        if (l == to) return to;
        for (size_t k = l; k < to; k++)
            if (!is_ws(src[k])) return to;
        return l;
    }
    return to;
}

static bool match_word(const char *s, size_t n, size_t *i, const char *w) {
    size_t k = strlen(w);
    if (*i + k > n || memcmp(s + *i, w, k) != 0) return false;
    *i += k;
    return true;
}

/* {%(-|+|)\s*raw\s*(-%}\s*|%}) at i; returns end or 0 */
static size_t match_raw_begin(const char *s, size_t n, size_t i) {
    size_t k = i + 2;
    if (k < n && (s[k] == '-' || s[k] == '+')) k++;
    while (k < n && is_ws(s[k])) k++;
    if (!match_word(s, n, &k, "raw")) return 0;
    while (k < n && is_ws(s[k])) k++;
    if (k + 3 <= n && memcmp(s + k, "-%}", 3) == 0) { k += 3; while (k < n && is_ws(s[k])) k++; return k; }
    if (k + 2 <= n && memcmp(s + k, "%}", 2) == 0) return k + 2;
    return 0;
}

static size_t lex_string(P *p, size_t i) {
    const char *s = p->t->src;
    size_t n = p->t->src_len;
    char q = s[i];
    size_t k = i + 1;
    while (k < n && s[k] != q) {
        if (s[k] == '\\' && k + 1 < n) k++;
        k++;
    }
    if (k >= n) perr(p, (uint32_t)i, "unterminated string literal");
    /* decode Python unicode-escape */
    char *out = aalloc(p, (k - i) * 2 + 8);
    size_t o = 0;
    for (size_t j = i + 1; j < k; j++) {
        char ch = s[j];
        if (ch != '\\') { out[o++] = ch; continue; }
        char e = s[++j];
        uint32_t cp = 0;
        int nh = 0;
        switch (e) {
        case '\n': continue;
        case '\\': out[o++] = '\\'; continue;
        case '\'': out[o++] = '\''; continue;
        case '"': out[o++] = '"'; continue;
        case 'a': out[o++] = 7; continue;
        case 'b': out[o++] = 8; continue;
        case 'f': out[o++] = 12; continue;
        case 'n': out[o++] = '\n'; continue;
        case 'r': out[o++] = '\r'; continue;
        case 't': out[o++] = '\t'; continue;
        case 'v': out[o++] = 11; continue;
        case 'x': nh = 2; break;
        case 'u': nh = 4; break;
        case 'U': nh = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                int d = 0;
                while (d < 3 && j < k && s[j] >= '0' && s[j] <= '7') { cp = cp * 8 + (uint32_t)(s[j] - '0'); j++; d++; }
                j--;
                nh = -1;
                break;
            }
            out[o++] = '\\';
            out[o++] = e;
            continue;
        }
        if (nh > 0) {
            for (int d = 0; d < nh; d++) {
                char h = (j + 1 < k) ? s[j + 1] : 0;
                int v = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
                if (v < 0) perr(p, (uint32_t)j, "truncated \\%c escape in string literal", e);
                cp = cp * 16 + (uint32_t)v;
                j++;
            }
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) perr(p, (uint32_t)j, "invalid code point in string escape");
        char enc[4];
        int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (len == 1) enc[0] = (char)cp;
        else if (len == 2) { enc[0] = (char)(0xC0 | (cp >> 6)); enc[1] = (char)(0x80 | (cp & 0x3F)); }
        else if (len == 3) { enc[0] = (char)(0xE0 | (cp >> 12)); enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); enc[2] = (char)(0x80 | (cp & 0x3F)); }
        else { enc[0] = (char)(0xF0 | (cp >> 18)); enc[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); enc[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); enc[3] = (char)(0x80 | (cp & 0x3F)); }
        memcpy(out + o, enc, (size_t)len);
        o += (size_t)len;
    }
    out[o] = 0;
    push_tok(p, (tok){ .type = TK_STRING, .pos = (uint32_t)i, .s = out, .len = o });
    return k + 1;
}

static size_t digits_us(const char *s, size_t n, size_t k) {
    /* (\d+_)*\d+ ; returns end or k when no digit */
    if (k >= n || !is_digit(s[k])) return k;
    size_t e = k;
    while (e < n && is_digit(s[e])) e++;
    while (e + 1 < n && s[e] == '_' && is_digit(s[e + 1])) { e++; while (e < n && is_digit(s[e])) e++; }
    return e;
}

static size_t lex_number(P *p, size_t i) {
    const char *s = p->t->src;
    size_t n = p->t->src_len;
    /* float first, as Jinja's rules do */
    if (!(i > 0 && s[i - 1] == '.')) {
        size_t e = digits_us(s, n, i);
        size_t f = e;
        bool isf = false;
        if (f + 1 < n && s[f] == '.' && is_digit(s[f + 1])) { f = digits_us(s, n, f + 1); isf = true; }
        if (f < n && (s[f] == 'e' || s[f] == 'E')) {
            size_t g = f + 1;
            if (g < n && (s[g] == '+' || s[g] == '-')) g++;
            size_t h = digits_us(s, n, g);
            if (h > g) { f = h; isf = true; }
        }
        if (isf) {
            char buf[128];
            size_t b = 0;
            for (size_t k = i; k < f && b < sizeof buf - 1; k++) if (s[k] != '_') buf[b++] = s[k];
            buf[b] = 0;
            push_tok(p, (tok){ .type = TK_FLOAT, .pos = (uint32_t)i, .f = strtod(buf, NULL) });
            return f;
        }
    }
    int base = 10;
    size_t k = i;
    if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X')) { base = 16; k += 2; }
    else if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'o' || s[i + 1] == 'O')) { base = 8; k += 2; }
    else if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'b' || s[i + 1] == 'B')) { base = 2; k += 2; }
    uint64_t v = 0;
    bool any = false, ovf = false;
    if (base == 10 && s[i] == '0') {
        k = i + 1;
        while (k + 1 < n && s[k] == '_' && s[k + 1] == '0') k += 2;
        while (k < n && s[k] == '0') k++;
        push_tok(p, (tok){ .type = TK_INT, .pos = (uint32_t)i, .i = 0 });
        return k;
    }
    while (k < n) {
        char ch = s[k];
        int d = (ch >= '0' && ch <= '9') ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10 : -1;
        if (ch == '_' && any) { k++; continue; }
        if (d < 0 || d >= base) break;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) ovf = true;
        v = v * (uint64_t)base + (uint64_t)d;
        any = true;
        k++;
    }
    if (!any) perr(p, (uint32_t)i, "invalid integer literal");
    if (ovf || v > (uint64_t)INT64_MAX) perr(p, (uint32_t)i, "integer literal too large (llmc integers are 64-bit)");
    push_tok(p, (tok){ .type = TK_INT, .pos = (uint32_t)i, .i = (int64_t)v });
    return k;
}

/* Tokens of one {{ }} or {% %}; returns the position after the end tag. */
static size_t lex_tag(P *p, size_t i, bool block, bool *line_starting) {
    const char *s = p->t->src;
    size_t n = p->t->src_len;
    int depth = 0;
    for (;;) {
        if (i >= n) perr(p, (uint32_t)n, "unexpected end of template inside a %s tag", block ? "block" : "variable");
        if (depth == 0) {
            if (block) {
                if (i + 3 <= n && s[i] == '+' && s[i + 1] == '%' && s[i + 2] == '}') {
                    push_tok(p, (tok){ .type = TK_BEND, .pos = (uint32_t)i });
                    *line_starting = false;
                    return i + 3;
                }
                if (i + 3 <= n && s[i] == '-' && s[i + 1] == '%' && s[i + 2] == '}') {
                    push_tok(p, (tok){ .type = TK_BEND, .pos = (uint32_t)i });
                    size_t k = i + 3;
                    while (k < n && is_ws(s[k])) k++;
                    *line_starting = s[k - 1] == '\n';
                    return k;
                }
                if (i + 2 <= n && s[i] == '%' && s[i + 1] == '}') {
                    push_tok(p, (tok){ .type = TK_BEND, .pos = (uint32_t)i });
                    size_t k = i + 2;
                    if (k < n && s[k] == '\n') k++; /* trim_blocks */
                    *line_starting = s[k - 1] == '\n';
                    return k;
                }
            } else {
                if (i + 3 <= n && s[i] == '-' && s[i + 1] == '}' && s[i + 2] == '}') {
                    push_tok(p, (tok){ .type = TK_VEND, .pos = (uint32_t)i });
                    size_t k = i + 3;
                    while (k < n && is_ws(s[k])) k++;
                    *line_starting = s[k - 1] == '\n';
                    return k;
                }
                if (i + 2 <= n && s[i] == '}' && s[i + 1] == '}') {
                    push_tok(p, (tok){ .type = TK_VEND, .pos = (uint32_t)i });
                    *line_starting = false;
                    return i + 2;
                }
            }
        }
        char ch = s[i];
        if (is_ws(ch)) { i++; continue; }
        if (is_digit(ch)) { i = lex_number(p, i); continue; }
        if (is_name0(ch)) {
            size_t k = i + 1;
            while (k < n && is_name1(s[k])) k++;
            push_tok(p, (tok){ .type = TK_NAME, .pos = (uint32_t)i, .s = s + i, .len = k - i });
            i = k;
            continue;
        }
        if (ch == '\'' || ch == '"') { i = lex_string(p, i); continue; }
        char op = 0;
        size_t w = 1;
        char nx = i + 1 < n ? s[i + 1] : 0;
        switch (ch) {
        case '/': if (nx == '/') { op = 'F'; w = 2; } else op = '/'; break;
        case '*': if (nx == '*') { op = 'P'; w = 2; } else op = '*'; break;
        case '=': if (nx == '=') { op = 'E'; w = 2; } else op = '='; break;
        case '!': if (nx == '=') { op = 'N'; w = 2; } break;
        case '>': if (nx == '=') { op = 'G'; w = 2; } else op = '>'; break;
        case '<': if (nx == '=') { op = 'L'; w = 2; } else op = '<'; break;
        case '+': case '-': case '%': case '~': case '.': case ':': case '|': case ',': case ';':
            op = ch; break;
        case '(': case '[': case '{': op = ch; depth++; break;
        case ')': case ']': case '}':
            if (depth == 0) perr(p, (uint32_t)i, "unexpected '%c'", ch);
            op = ch; depth--; break;
        default: break;
        }
        if (!op) perr(p, (uint32_t)i, "unexpected char '%c'", ch);
        push_tok(p, (tok){ .type = TK_OP, .op = op, .pos = (uint32_t)i });
        i += w;
    }
}

static void lex(P *p) {
    const char *s = p->t->src;
    size_t n = p->t->src_len, pos = 0;
    bool line_starting = true;
    while (pos < n) {
        size_t i = pos;
        for (; i + 1 < n; i++)
            if (s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#')) break;
        if (i + 1 >= n) { emit_data(p, pos, n); break; }
        char kind = s[i + 1];
        size_t after = i + 2;
        char sign = 0;
        size_t raw_end = kind == '%' ? match_raw_begin(s, n, i) : 0;
        if (after < n && (s[after] == '-' || s[after] == '+')) { sign = s[after]; after++; }
        if (kind == '{' && sign == '+') sign = 0; /* '+' only matters for blocks; it is still consumed */
        size_t tend = lstrip_text(s, pos, i, sign, kind == '{', line_starting);
        emit_data(p, pos, tend);
        line_starting = false;
        if (raw_end) {
            line_starting = s[raw_end - 1] == '\n';
            /* find {%(-|+|)\s*endraw\s*(+%}|-%}\s*|%}\n?) */
            size_t k = raw_end;
            for (;; k++) {
                if (k + 1 >= n) perr(p, (uint32_t)i, "missing end of raw directive");
                if (s[k] != '{' || s[k + 1] != '%') continue;
                size_t m = k + 2;
                char esign = 0;
                if (m < n && (s[m] == '-' || s[m] == '+')) esign = s[m++];
                while (m < n && is_ws(s[m])) m++;
                if (!match_word(s, n, &m, "endraw")) continue;
                while (m < n && is_ws(s[m])) m++;
                size_t e = 0;
                if (m + 3 <= n && s[m] == '+' && s[m + 1] == '%' && s[m + 2] == '}') e = m + 3;
                else if (m + 3 <= n && s[m] == '-' && s[m + 1] == '%' && s[m + 2] == '}') { e = m + 3; while (e < n && is_ws(s[e])) e++; }
                else if (m + 2 <= n && s[m] == '%' && s[m + 1] == '}') { e = m + 2; if (e < n && s[e] == '\n') e++; }
                if (!e) continue;
                size_t cend = lstrip_text(s, raw_end, k, esign, false, line_starting);
                emit_data(p, raw_end, cend);
                line_starting = s[e - 1] == '\n';
                pos = e;
                break;
            }
            continue;
        }
        if (kind == '#') {
            size_t k = after, e = 0;
            for (; k + 1 < n; k++) {
                if (s[k] == '+' && k + 2 < n && s[k + 1] == '#' && s[k + 2] == '}') { e = k + 3; break; }
                if (s[k] == '-' && k + 2 < n && s[k + 1] == '#' && s[k + 2] == '}') { e = k + 3; while (e < n && is_ws(s[e])) e++; break; }
                if (s[k] == '#' && s[k + 1] == '}') { e = k + 2; if (e < n && s[e] == '\n') e++; break; }
            }
            if (!e) perr(p, (uint32_t)i, "missing end of comment tag");
            line_starting = s[e - 1] == '\n';
            pos = e;
            continue;
        }
        push_tok(p, (tok){ .type = kind == '{' ? TK_VBEGIN : TK_BBEGIN, .pos = (uint32_t)i });
        pos = lex_tag(p, after, kind == '%', &line_starting);
    }
    push_tok(p, (tok){ .type = TK_EOF, .pos = (uint32_t)n });
}

/* ---------------------------------------------------------------- parser helpers */

static tok *cur(P *p) { return &p->toks[p->ti]; }
static tok *look(P *p) { return &p->toks[p->ti + 1 < p->ntok ? p->ti + 1 : p->ti]; }
static tok *next(P *p) { tok *t = &p->toks[p->ti]; if (p->ti + 1 < p->ntok) p->ti++; return t; }
static bool is_op(tok *t, char op) { return t->type == TK_OP && t->op == op; }
static bool is_name(tok *t, const char *w) { return t->type == TK_NAME && t->len == strlen(w) && memcmp(t->s, w, t->len) == 0; }

static const char *tok_desc(tok *t, char *buf, size_t cap) {
    switch (t->type) {
    case TK_DATA: return "template data";
    case TK_VBEGIN: return "begin of print statement";
    case TK_VEND: return "end of print statement";
    case TK_BBEGIN: return "begin of statement block";
    case TK_BEND: return "end of statement block";
    case TK_NAME: snprintf(buf, cap, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->s); return buf;
    case TK_STRING: return "string";
    case TK_INT: return "integer";
    case TK_FLOAT: return "float";
    case TK_OP: {
        const char *m = t->op == 'F' ? "//" : t->op == 'P' ? "**" : t->op == 'E' ? "==" : t->op == 'N' ? "!=" : t->op == 'G' ? ">=" : t->op == 'L' ? "<=" : NULL;
        if (m) snprintf(buf, cap, "'%s'", m); else snprintf(buf, cap, "'%c'", t->op);
        return buf;
    }
    default: return "end of template";
    }
}

static void expect_op(P *p, char op) {
    if (!is_op(cur(p), op)) {
        char b[64];
        perr(p, cur(p)->pos, "expected '%c', got %s", op, tok_desc(cur(p), b, sizeof b));
    }
    next(p);
}

static const char *expect_name(P *p) {
    tok *t = cur(p);
    if (t->type != TK_NAME) { char b[64]; perr(p, t->pos, "expected a name, got %s", tok_desc(t, b, sizeof b)); }
    next(p);
    return astrdup(p, t->s, t->len);
}

static void expect_type(P *p, int type, const char *what) {
    if (cur(p)->type != type) { char b[64]; perr(p, cur(p)->pos, "expected %s, got %s", what, tok_desc(cur(p), b, sizeof b)); }
    next(p);
}

static jnode *mk(P *p, int kind, uint32_t pos) {
    jnode *n = aalloc(p, sizeof *n);
    n->kind = (uint8_t)kind;
    n->pos = pos;
    n->fn = -1;
    return n;
}

typedef struct { jnode **v; int n, cap; } nvec;
static void nv_push(P *p, nvec *v, jnode *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        jnode **nv = aalloc(p, (size_t)cap * sizeof *nv);
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

static void enter(P *p) { if (++p->depth > MAX_PARSE_DEPTH) perr(p, cur(p)->pos, "template nested too deeply (limit %d)", MAX_PARSE_DEPTH); }
static void leave(P *p) { p->depth--; }

static jnode *const_node(P *p, uint32_t pos, jv v) {
    jnode *n = mk(p, N_CONST, pos);
    n->cval = v;
    return n;
}

static jv const_str(P *p, const char *s, size_t len) {
    if (setjmp(*p->cctx.jb)) longjmp(p->jb, 1);
    jv v = jstr_new(&p->cctx, s, len);
    v.u.o->rc = -1;
    jstr_ncp(JS(v)); /* cached now: renders never write to shared constants (thread safety) */
    return v;
}

/* ---------------------------------------------------------------- expressions */

static jnode *parse_expression(P *p, bool with_condexpr);
static jnode *parse_tuple(P *p, bool simplified, bool with_condexpr, const char *extra_end, bool explicit_parens);
static jnode *parse_unary(P *p, bool with_filter);
static jnode *parse_primary(P *p);
static jnode *parse_postfix(P *p, jnode *node);
static jnode *parse_filter_expr(P *p, jnode *node);

/* Call arguments: positional then keyword values in items; names for keywords; c/d for * and ** args. */
static void parse_call_args(P *p, jnode *n) {
    expect_op(p, '(');
    nvec args = { 0 }, kw = { 0 };
    const char **kwn = NULL;
    int kwcap = 0;
    bool first = true;
    while (!is_op(cur(p), ')')) {
        if (!first) {
            expect_op(p, ',');
            if (is_op(cur(p), ')')) break;
        }
        first = false;
        if (is_op(cur(p), '*')) { next(p); n->c = parse_expression(p, true); }
        else if (is_op(cur(p), 'P')) { next(p); n->d = parse_expression(p, true); }
        else if (cur(p)->type == TK_NAME && is_op(look(p), '=')) {
            const char *k = expect_name(p);
            next(p);
            if (kw.n == kwcap) {
                int cap = kwcap ? kwcap * 2 : 4;
                const char **nk = aalloc(p, (size_t)cap * sizeof *nk);
                if (kw.n) memcpy(nk, kwn, (size_t)kw.n * sizeof *nk);
                kwn = nk;
                kwcap = cap;
            }
            kwn[kw.n] = k;
            nv_push(p, &kw, parse_expression(p, true));
        } else {
            if (kw.n) perr(p, cur(p)->pos, "positional argument follows keyword argument");
            nv_push(p, &args, parse_expression(p, true));
        }
    }
    next(p);
    n->n = args.n;
    n->nkw = kw.n;
    n->items = aalloc(p, (size_t)(args.n + kw.n + 1) * sizeof(jnode *));
    for (int i = 0; i < args.n; i++) n->items[i] = args.v[i];
    for (int i = 0; i < kw.n; i++) n->items[args.n + i] = kw.v[i];
    n->names = kwn;
}

static const char *dotted_name(P *p) {
    tok *t = cur(p);
    const char *nm = expect_name(p);
    while (is_op(cur(p), '.') && look(p)->type == TK_NAME) {
        next(p);
        tok *u = next(p);
        size_t len = (size_t)(u->s + u->len - t->s);
        nm = astrdup(p, t->s, len);
    }
    return nm;
}

static jnode *parse_filter(P *p, jnode *node, bool start_inline) {
    while (is_op(cur(p), '|') || start_inline) {
        if (!start_inline) next(p);
        start_inline = false;
        uint32_t pos = cur(p)->pos;
        jnode *f = mk(p, N_FILTER, pos);
        f->name = dotted_name(p);
        f->fn = jfilter_lookup(f->name);
        if (is_op(cur(p), '(')) parse_call_args(p, f);
        f->a = node;
        node = f;
    }
    return node;
}

static jnode *parse_test(P *p, jnode *node) {
    uint32_t pos = next(p)->pos; /* 'is' */
    bool negated = false;
    if (is_name(cur(p), "not")) { next(p); negated = true; }
    jnode *t = mk(p, N_TEST, pos);
    t->name = dotted_name(p);
    t->fn = jtest_lookup(t->name);
    t->a = node;
    tok *c = cur(p);
    if (is_op(c, '(')) parse_call_args(p, t);
    else if ((c->type == TK_NAME || c->type == TK_STRING || c->type == TK_INT || c->type == TK_FLOAT || is_op(c, '(') ||
              is_op(c, '[') || is_op(c, '{')) &&
             !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) perr(p, c->pos, "you cannot chain multiple tests with is");
        jnode *arg = parse_postfix(p, parse_primary(p));
        t->items = aalloc(p, sizeof(jnode *));
        t->items[0] = arg;
        t->n = 1;
    }
    if (negated) {
        jnode *nn = mk(p, N_NOT, pos);
        nn->a = t;
        return nn;
    }
    return t;
}

static jnode *parse_subscribed(P *p) {
    uint32_t pos = cur(p)->pos;
    jnode *args[3] = { 0 };
    if (is_op(cur(p), ':')) {
        next(p);
    } else {
        jnode *e = parse_expression(p, true);
        if (!is_op(cur(p), ':')) return e;
        next(p);
        args[0] = e;
    }
    if (!is_op(cur(p), ':') && !is_op(cur(p), ']') && !is_op(cur(p), ',')) args[1] = parse_expression(p, true);
    if (is_op(cur(p), ':')) {
        next(p);
        if (!is_op(cur(p), ']') && !is_op(cur(p), ',')) args[2] = parse_expression(p, true);
    }
    jnode *s = mk(p, N_SLICE, pos);
    s->a = args[0]; s->b = args[1]; s->c = args[2];
    return s;
}

static jnode *parse_subscript(P *p, jnode *node) {
    tok *t = next(p);
    if (is_op(t, '.')) {
        tok *a = cur(p);
        if (a->type == TK_NAME) {
            next(p);
            jnode *g = mk(p, N_GETATTR, a->pos);
            g->a = node;
            g->name = astrdup(p, a->s, a->len);
            g->len = a->len;
            return g;
        }
        if (a->type == TK_INT) {
            next(p);
            jnode *g = mk(p, N_GETITEM, a->pos);
            g->a = node;
            g->b = const_node(p, a->pos, jv_int(a->i));
            return g;
        }
        char b[64];
        perr(p, a->pos, "expected name or number after '.', got %s", tok_desc(a, b, sizeof b));
    }
    /* '[' */
    nvec args = { 0 };
    while (!is_op(cur(p), ']')) {
        if (args.n) expect_op(p, ',');
        if (is_op(cur(p), ']')) break;
        nv_push(p, &args, parse_subscribed(p));
    }
    expect_op(p, ']');
    jnode *g = mk(p, N_GETITEM, t->pos); /* x[] subscripts with an empty tuple, as jinja2 parses it */
    g->a = node;
    if (args.n == 1) g->b = args.v[0];
    else {
        jnode *tu = mk(p, N_TUPLE, t->pos);
        tu->items = args.v;
        tu->n = args.n;
        g->b = tu;
    }
    return g;
}

static jnode *parse_postfix(P *p, jnode *node) {
    for (;;) {
        tok *t = cur(p);
        if (is_op(t, '.') || is_op(t, '[')) node = parse_subscript(p, node);
        else if (is_op(t, '(')) {
            jnode *c = mk(p, N_CALL, t->pos);
            c->a = node;
            parse_call_args(p, c);
            node = c;
        } else break;
    }
    return node;
}

static jnode *parse_filter_expr(P *p, jnode *node) {
    for (;;) {
        tok *t = cur(p);
        if (is_op(t, '|')) node = parse_filter(p, node, false);
        else if (is_name(t, "is")) node = parse_test(p, node);
        else if (is_op(t, '(')) {
            jnode *c = mk(p, N_CALL, t->pos);
            c->a = node;
            parse_call_args(p, c);
            node = c;
        } else break;
    }
    return node;
}

static jnode *parse_primary(P *p) {
    enter(p);
    tok *t = cur(p);
    jnode *node;
    if (t->type == TK_NAME) {
        next(p);
        if (is_name(t, "true") || is_name(t, "True")) node = const_node(p, t->pos, jv_bool(true));
        else if (is_name(t, "false") || is_name(t, "False")) node = const_node(p, t->pos, jv_bool(false));
        else if (is_name(t, "none") || is_name(t, "None")) node = const_node(p, t->pos, jv_none());
        else {
            node = mk(p, N_NAME, t->pos);
            node->name = astrdup(p, t->s, t->len);
            if (p->macro && !strcmp(node->name, "varargs")) p->macro->flag |= 1;
            if (p->macro && !strcmp(node->name, "kwargs")) p->macro->flag |= 2;
        }
    } else if (t->type == TK_STRING) {
        next(p);
        if (cur(p)->type == TK_STRING) {
            size_t total = t->len;
            for (size_t k = p->ti; p->toks[k].type == TK_STRING; k++) total += p->toks[k].len;
            char *buf = aalloc(p, total + 1);
            size_t o = t->len;
            memcpy(buf, t->s, t->len);
            while (cur(p)->type == TK_STRING) { tok *u = next(p); memcpy(buf + o, u->s, u->len); o += u->len; }
            node = const_node(p, t->pos, const_str(p, buf, o));
        } else node = const_node(p, t->pos, const_str(p, t->s, t->len));
    } else if (t->type == TK_INT) {
        next(p);
        node = const_node(p, t->pos, jv_int(t->i));
    } else if (t->type == TK_FLOAT) {
        next(p);
        node = const_node(p, t->pos, jv_float(t->f));
    } else if (is_op(t, '(')) {
        next(p);
        node = parse_tuple(p, false, true, NULL, true);
        expect_op(p, ')');
    } else if (is_op(t, '[')) {
        next(p);
        nvec items = { 0 };
        while (!is_op(cur(p), ']')) {
            if (items.n) expect_op(p, ',');
            if (is_op(cur(p), ']')) break;
            nv_push(p, &items, parse_expression(p, true));
        }
        expect_op(p, ']');
        node = mk(p, N_LIST, t->pos);
        node->items = items.v;
        node->n = items.n;
    } else if (is_op(t, '{')) {
        next(p);
        nvec keys = { 0 }, vals = { 0 };
        while (!is_op(cur(p), '}')) {
            if (keys.n) expect_op(p, ',');
            if (is_op(cur(p), '}')) break;
            nv_push(p, &keys, parse_expression(p, true));
            expect_op(p, ':');
            nv_push(p, &vals, parse_expression(p, true));
        }
        expect_op(p, '}');
        node = mk(p, N_DICT, t->pos);
        node->keys = keys.v;
        node->items = vals.v;
        node->n = keys.n;
    } else {
        char b[64];
        perr(p, t->pos, "unexpected %s", tok_desc(t, b, sizeof b));
    }
    leave(p);
    return node;
}

static jnode *parse_unary(P *p, bool with_filter) {
    enter(p);
    tok *t = cur(p);
    jnode *node;
    if (is_op(t, '-') || is_op(t, '+')) {
        next(p);
        node = mk(p, is_op(t, '-') ? N_NEG : N_POS, t->pos);
        node->a = parse_unary(p, false);
    } else node = parse_primary(p);
    node = parse_postfix(p, node);
    if (with_filter) node = parse_filter_expr(p, node);
    leave(p);
    return node;
}

static jnode *binop(P *p, int op, uint32_t pos, jnode *a, jnode *b) {
    jnode *n = mk(p, N_BINOP, pos);
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(P *p) {
    jnode *left = parse_unary(p, true);
    while (is_op(cur(p), 'P')) {
        uint32_t pos = next(p)->pos;
        left = binop(p, OP_POW, pos, left, parse_unary(p, true));
    }
    return left;
}

static jnode *parse_math2(P *p) {
    jnode *left = parse_pow(p);
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, '*') ? OP_MUL : is_op(t, '/') ? OP_DIV : is_op(t, 'F') ? OP_FLOORDIV : is_op(t, '%') ? OP_MOD : -1;
        if (op < 0) break;
        next(p);
        left = binop(p, op, t->pos, left, parse_pow(p));
    }
    return left;
}

static jnode *parse_concat(P *p) {
    jnode *first = parse_math2(p);
    if (!is_op(cur(p), '~')) return first;
    nvec args = { 0 };
    nv_push(p, &args, first);
    uint32_t pos = cur(p)->pos;
    while (is_op(cur(p), '~')) { next(p); nv_push(p, &args, parse_math2(p)); }
    jnode *n = mk(p, N_CONCAT, pos);
    n->items = args.v;
    n->n = args.n;
    return n;
}

static jnode *parse_math1(P *p) {
    jnode *left = parse_concat(p);
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, '+') ? OP_ADD : is_op(t, '-') ? OP_SUB : -1;
        if (op < 0) break;
        next(p);
        left = binop(p, op, t->pos, left, parse_concat(p));
    }
    return left;
}

static jnode *parse_compare(P *p) {
    uint32_t pos = cur(p)->pos;
    jnode *expr = parse_math1(p);
    nvec ops = { 0 };
    uint8_t opcodes[64];
    for (;;) {
        tok *t = cur(p);
        int op = -1;
        if (is_op(t, 'E')) op = OP_EQ;
        else if (is_op(t, 'N')) op = OP_NE;
        else if (is_op(t, '<')) op = OP_LT;
        else if (is_op(t, 'L')) op = OP_LE;
        else if (is_op(t, '>')) op = OP_GT;
        else if (is_op(t, 'G')) op = OP_GE;
        else if (is_name(t, "in")) op = OP_IN;
        else if (is_name(t, "not") && is_name(look(p), "in")) { next(p); op = OP_NOTIN; }
        if (op < 0) break;
        next(p);
        if (ops.n >= 64) perr(p, t->pos, "too many chained comparisons");
        opcodes[ops.n] = (uint8_t)op;
        nv_push(p, &ops, parse_math1(p));
    }
    if (!ops.n) return expr;
    jnode *n = mk(p, N_COMPARE, pos);
    n->a = expr;
    n->items = ops.v;
    n->n = ops.n;
    n->ops = aalloc(p, (size_t)ops.n);
    memcpy(n->ops, opcodes, (size_t)ops.n);
    return n;
}

static jnode *parse_not(P *p) {
    if (is_name(cur(p), "not")) {
        uint32_t pos = next(p)->pos;
        enter(p);
        jnode *n = mk(p, N_NOT, pos);
        n->a = parse_not(p);
        leave(p);
        return n;
    }
    return parse_compare(p);
}

static jnode *parse_and(P *p) {
    jnode *left = parse_not(p);
    while (is_name(cur(p), "and")) {
        uint32_t pos = next(p)->pos;
        jnode *n = mk(p, N_AND, pos);
        n->a = left;
        n->b = parse_not(p);
        left = n;
    }
    return left;
}

static jnode *parse_or(P *p) {
    jnode *left = parse_and(p);
    while (is_name(cur(p), "or")) {
        uint32_t pos = next(p)->pos;
        jnode *n = mk(p, N_OR, pos);
        n->a = left;
        n->b = parse_and(p);
        left = n;
    }
    return left;
}

static jnode *parse_condexpr(P *p) {
    enter(p);
    jnode *expr1 = parse_or(p);
    while (is_name(cur(p), "if")) {
        uint32_t pos = next(p)->pos;
        jnode *expr2 = parse_or(p);
        jnode *expr3 = NULL;
        if (is_name(cur(p), "else")) { next(p); expr3 = parse_condexpr(p); }
        jnode *n = mk(p, N_COND, pos);
        n->a = expr2;
        n->b = expr1;
        n->c = expr3;
        expr1 = n;
    }
    leave(p);
    return expr1;
}

static jnode *parse_expression(P *p, bool with_condexpr) {
    enter(p);
    jnode *r = with_condexpr ? parse_condexpr(p) : parse_or(p);
    leave(p);
    return r;
}

static bool is_tuple_end(P *p, const char *extra_end) {
    tok *t = cur(p);
    if (t->type == TK_VEND || t->type == TK_BEND || t->type == TK_EOF || is_op(t, ')')) return true;
    return extra_end && is_name(t, extra_end);
}

static jnode *parse_tuple(P *p, bool simplified, bool with_condexpr, const char *extra_end, bool explicit_parens) {
    uint32_t pos = cur(p)->pos;
    nvec args = { 0 };
    bool is_tuple = false;
    for (;;) {
        if (args.n) expect_op(p, ',');
        if (is_tuple_end(p, extra_end)) break;
        nv_push(p, &args, simplified ? parse_primary(p) : parse_expression(p, with_condexpr));
        if (is_op(cur(p), ',')) is_tuple = true;
        else break;
    }
    if (!is_tuple) {
        if (args.n) return args.v[0];
        if (!explicit_parens) {
            char b[64];
            perr(p, cur(p)->pos, "expected an expression, got %s", tok_desc(cur(p), b, sizeof b));
        }
    }
    jnode *n = mk(p, N_TUPLE, pos);
    n->items = args.v;
    n->n = args.n;
    return n;
}

/* ---------------------------------------------------------------- statements */

static jnode *subparse(P *p, const char *const *end_tokens);

static bool tok_in(tok *t, const char *const *names) {
    for (; names && *names; names++)
        if (is_name(t, *names)) return true;
    return false;
}

static jnode *parse_statements(P *p, const char *const *end_tokens, bool drop_needle) {
    if (is_op(cur(p), ':')) next(p);
    expect_type(p, TK_BEND, "end of statement block");
    jnode *body = subparse(p, end_tokens);
    if (cur(p)->type == TK_EOF) {
        char want[256] = "";
        for (const char *const *e = end_tokens; *e; e++) {
            strncat(want, *e, sizeof want - strlen(want) - 8);
            if (e[1]) strcat(want, " or ");
        }
        perr(p, cur(p)->pos, "unexpected end of template; expected '%s'", want);
    }
    if (drop_needle) next(p);
    return body;
}

static bool can_assign(const jnode *n) {
    if (n->kind == N_NAME) return true;
    if (n->kind != N_TUPLE && n->kind != N_LIST) return false;
    for (int i = 0; i < n->n; i++)
        if (!can_assign(n->items[i])) return false;
    return true;
}

static jnode *parse_assign_target(P *p, bool with_tuple, bool name_only, const char *extra_end, bool with_namespace) {
    tok *t = cur(p);
    if (with_namespace && t->type == TK_NAME && is_op(look(p), '.')) {
        const char *nm = expect_name(p);
        next(p);
        const char *attr = expect_name(p);
        jnode *n = mk(p, N_NSREF, t->pos);
        n->name = nm;
        n->names = aalloc(p, sizeof(char *));
        n->names[0] = attr;
        return n;
    }
    if (name_only) {
        jnode *n = mk(p, N_NAME, t->pos);
        n->name = expect_name(p);
        return n;
    }
    jnode *target = with_tuple ? parse_tuple(p, true, true, extra_end, false) : parse_primary(p);
    if (!can_assign(target)) perr(p, target->pos, "can't assign to this expression");
    return target;
}

static void parse_signature(P *p, jnode *n) {
    expect_op(p, '(');
    nvec defs = { 0 };
    const char **names = NULL;
    int cnt = 0, cap = 0;
    bool any_default = false;
    while (!is_op(cur(p), ')')) {
        if (cnt) expect_op(p, ',');
        if (is_op(cur(p), ')')) break;
        uint32_t pos = cur(p)->pos;
        const char *nm = expect_name(p);
        jnode *def = NULL;
        if (is_op(cur(p), '=')) { next(p); def = parse_expression(p, true); any_default = true; }
        else if (any_default) perr(p, pos, "non-default argument follows default argument");
        if (cnt == cap) {
            int nc = cap ? cap * 2 : 4;
            const char **nn = aalloc(p, (size_t)nc * sizeof *nn);
            if (cnt) memcpy(nn, names, (size_t)cnt * sizeof *nn);
            names = nn;
            cap = nc;
        }
        names[cnt++] = nm;
        nv_push(p, &defs, def);
    }
    next(p);
    n->names = names;
    n->items = defs.v;
    n->n = cnt;
}

static jnode *parse_if(P *p, uint32_t pos) {
    static const char *const ends[] = { "elif", "else", "endif", NULL };
    static const char *const endif[] = { "endif", NULL };
    jnode *node = mk(p, N_IF, pos), *result = node;
    for (;;) {
        node->a = parse_tuple(p, false, false, NULL, false);
        node->b = parse_statements(p, ends, false);
        tok *t = next(p);
        if (is_name(t, "elif")) {
            jnode *n2 = mk(p, N_IF, t->pos);
            node->c = n2;
            node = n2;
            continue;
        }
        if (is_name(t, "else")) node->c = parse_statements(p, endif, true);
        break;
    }
    return result;
}

static jnode *parse_for(P *p, uint32_t pos) {
    static const char *const ends[] = { "endfor", "else", NULL };
    static const char *const endfor[] = { "endfor", NULL };
    jnode *n = mk(p, N_FOR, pos);
    n->a = parse_assign_target(p, true, false, "in", false);
    if (!is_name(cur(p), "in")) { char b[64]; perr(p, cur(p)->pos, "expected 'in', got %s", tok_desc(cur(p), b, sizeof b)); }
    next(p);
    n->b = parse_tuple(p, false, false, "recursive", false);
    if (is_name(cur(p), "if")) { next(p); n->e = parse_expression(p, true); }
    if (is_name(cur(p), "recursive")) { next(p); n->flag = 1; }
    p->loop_depth++;
    n->c = parse_statements(p, ends, false);
    p->loop_depth--;
    tok *t = next(p);
    if (!is_name(t, "endfor")) n->d = parse_statements(p, endfor, true);
    return n;
}

static jnode *parse_statement(P *p);

static jnode *parse_statement(P *p) {
    static const char *const endset[] = { "endset", NULL }, *const endmacro[] = { "endmacro", NULL },
                             *const endcall[] = { "endcall", NULL }, *const endfilter[] = { "endfilter", NULL },
                             *const endwith[] = { "endwith", NULL }, *const endblock[] = { "endblock", NULL },
                             *const endgen[] = { "endgeneration", NULL }, *const endauto[] = { "endautoescape", NULL };
    tok *t = cur(p);
    if (t->type != TK_NAME) perr(p, t->pos, "tag name expected");
    enter(p);
    jnode *r = NULL;
    next(p);
    if (is_name(t, "if")) r = parse_if(p, t->pos);
    else if (is_name(t, "for")) r = parse_for(p, t->pos);
    else if (is_name(t, "set")) {
        jnode *target = parse_assign_target(p, true, false, NULL, true);
        if (is_op(cur(p), '=')) {
            next(p);
            r = mk(p, N_SET, t->pos);
            r->a = target;
            r->b = parse_tuple(p, false, true, NULL, false);
        } else {
            r = mk(p, N_SETBLOCK, t->pos);
            r->a = target;
            r->c = parse_filter(p, NULL, false);
            r->b = parse_statements(p, endset, true);
        }
    } else if (is_name(t, "macro")) {
        r = mk(p, N_MACRO, t->pos);
        r->name = expect_name(p);
        parse_signature(p, r);
        int saved = p->loop_depth;
        jnode *saved_macro = p->macro;
        p->loop_depth = 0;
        p->macro = r;
        r->b = parse_statements(p, endmacro, true);
        p->loop_depth = saved;
        p->macro = saved_macro;
    } else if (is_name(t, "call")) {
        r = mk(p, N_CALLBLOCK, t->pos);
        if (is_op(cur(p), '(')) parse_signature(p, r);
        r->a = parse_expression(p, true);
        if (r->a->kind != N_CALL) perr(p, r->a->pos, "expected call");
        jnode *saved_macro = p->macro;
        p->macro = r;
        r->b = parse_statements(p, endcall, true);
        p->macro = saved_macro;
    } else if (is_name(t, "filter")) {
        r = mk(p, N_FILTERBLOCK, t->pos);
        r->a = parse_filter(p, NULL, true);
        r->b = parse_statements(p, endfilter, true);
    } else if (is_name(t, "with")) {
        r = mk(p, N_WITH, t->pos);
        nvec targets = { 0 }, vals = { 0 };
        while (cur(p)->type != TK_BEND) {
            if (targets.n) expect_op(p, ',');
            nv_push(p, &targets, parse_assign_target(p, true, false, NULL, false));
            expect_op(p, '=');
            nv_push(p, &vals, parse_expression(p, true));
        }
        r->keys = targets.v;
        r->items = vals.v;
        r->n = targets.n;
        r->b = parse_statements(p, endwith, true);
    } else if (is_name(t, "block")) {
        expect_name(p);
        while (is_name(cur(p), "scoped") || is_name(cur(p), "required")) next(p);
        r = parse_statements(p, endblock, true);
        if (cur(p)->type == TK_NAME) next(p);
    } else if (is_name(t, "generation")) {
        r = parse_statements(p, endgen, true);
    } else if (is_name(t, "autoescape")) {
        parse_expression(p, true);
        r = parse_statements(p, endauto, true);
    } else if (is_name(t, "print")) {
        r = mk(p, N_EMIT, t->pos);
        r->a = parse_tuple(p, false, true, NULL, false);
    } else if (is_name(t, "break") || is_name(t, "continue")) {
        if (!p->loop_depth) perr(p, t->pos, "'%.*s' outside of a loop", (int)t->len, t->s);
        r = mk(p, is_name(t, "break") ? N_BREAK : N_CONTINUE, t->pos);
    } else if (is_name(t, "include") || is_name(t, "extends") || is_name(t, "import") || is_name(t, "from")) {
        perr(p, t->pos, "'%.*s' is not supported: chat templates cannot load other templates", (int)t->len, t->s);
    } else {
        perr(p, t->pos, "encountered unknown tag '%.*s'", (int)(t->len > 40 ? 40 : t->len), t->s);
    }
    leave(p);
    return r;
}

static jnode *subparse(P *p, const char *const *end_tokens) {
    nvec body = { 0 };
    uint32_t pos = cur(p)->pos;
    for (;;) {
        tok *t = cur(p);
        if (t->type == TK_EOF) break;
        if (t->type == TK_DATA) {
            next(p);
            jnode *n = mk(p, N_TEXT, t->pos);
            n->name = t->s;
            n->len = t->len;
            nv_push(p, &body, n);
        } else if (t->type == TK_VBEGIN) {
            next(p);
            jnode *n = mk(p, N_EMIT, t->pos);
            n->a = parse_tuple(p, false, true, NULL, false);
            expect_type(p, TK_VEND, "end of print statement");
            nv_push(p, &body, n);
        } else if (t->type == TK_BBEGIN) {
            next(p);
            if (end_tokens && tok_in(cur(p), end_tokens)) break;
            jnode *n = parse_statement(p);
            nv_push(p, &body, n);
            expect_type(p, TK_BEND, "end of statement block");
        } else {
            char b[64];
            perr(p, t->pos, "unexpected %s", tok_desc(t, b, sizeof b));
        }
    }
    if (!end_tokens && cur(p)->type != TK_EOF) perr(p, cur(p)->pos, "unexpected tag");
    jnode *n = mk(p, N_BODY, pos);
    n->items = body.v;
    n->n = body.n;
    return n;
}

/* ---------------------------------------------------------------- top-level name analysis */

typedef struct { const char **names; int n, cap; const char **first; int nfirst, capfirst; } seen_set;

static bool seen_has(seen_set *ss, const char *name) {
    for (int i = 0; i < ss->n; i++)
        if (!strcmp(ss->names[i], name)) return true;
    return false;
}

static void seen_add(P *p, const char ***arr, int *n, int *cap, const char *name) {
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        const char **na = aalloc(p, (size_t)nc * sizeof *na);
        if (*n) memcpy(na, *arr, (size_t)*n * sizeof *na);
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = name;
}

static void note(P *p, seen_set *ss, const char *name, bool store) {
    if (seen_has(ss, name)) return;
    seen_add(p, &ss->names, &ss->n, &ss->cap, name);
    if (store) seen_add(p, &ss->first, &ss->nfirst, &ss->capfirst, name);
}

static void expr_loads(P *p, seen_set *ss, const jnode *n, int depth) {
    if (!n || depth > 400) return;
    if (n->kind == N_NAME || n->kind == N_NSREF) { note(p, ss, n->name, false); if (n->kind == N_NAME) return; }
    expr_loads(p, ss, n->a, depth + 1);
    expr_loads(p, ss, n->b, depth + 1);
    expr_loads(p, ss, n->c, depth + 1);
    expr_loads(p, ss, n->d, depth + 1);
    expr_loads(p, ss, n->e, depth + 1);
    if (n->kind == N_DICT)
        for (int i = 0; i < n->n; i++) expr_loads(p, ss, n->keys[i], depth + 1);
    int cnt = n->n + ((n->kind == N_CALL || n->kind == N_FILTER || n->kind == N_TEST) ? n->nkw : 0);
    if (n->kind != N_MACRO && n->kind != N_CALLBLOCK)
        for (int i = 0; i < cnt; i++) expr_loads(p, ss, n->items[i], depth + 1);
}

static void target_stores(P *p, seen_set *ss, const jnode *t, bool store) {
    if (t->kind == N_NAME) note(p, ss, t->name, store);
    else if (t->kind == N_NSREF) note(p, ss, t->name, false);
    else if (t->kind == N_TUPLE || t->kind == N_LIST)
        for (int i = 0; i < t->n; i++) target_stores(p, ss, t->items[i], store);
}

/* Walks the statements of the top-level frame in source order, as jinja2's FrameSymbolVisitor
 * does: loop, macro, block-set and with bodies are other frames; a store inside an if branch
 * counts as a read of the context value (jinja2 resolves names not stored in every branch). */
static void frame_walk(P *p, seen_set *ss, const jnode *n, bool in_branch, int depth) {
    if (!n || depth > 400) return;
    switch (n->kind) {
    case N_BODY: for (int i = 0; i < n->n; i++) frame_walk(p, ss, n->items[i], in_branch, depth + 1); break;
    case N_EMIT: expr_loads(p, ss, n->a, 0); break;
    case N_SET: expr_loads(p, ss, n->b, 0); target_stores(p, ss, n->a, !in_branch); break;
    case N_SETBLOCK: target_stores(p, ss, n->a, !in_branch); break;
    case N_IF:
        expr_loads(p, ss, n->a, 0);
        frame_walk(p, ss, n->b, true, depth + 1);
        frame_walk(p, ss, n->c, true, depth + 1);
        break;
    case N_FOR: expr_loads(p, ss, n->b, 0); break;
    case N_MACRO: note(p, ss, n->name, !in_branch); break;
    case N_CALLBLOCK: expr_loads(p, ss, n->a, 0); break;
    case N_FILTERBLOCK: expr_loads(p, ss, n->a, 0); break;
    case N_WITH: for (int i = 0; i < n->n; i++) expr_loads(p, ss, n->items[i], 0); break;
    default: break;
    }
}

typedef struct frame_stack { seen_set *ss; struct frame_stack *up; } frame_stack;

static bool known_above(frame_stack *fs, const char *name) {
    for (; fs; fs = fs->up)
        if (seen_has(fs->ss, name)) return true;
    return false;
}

static void collect_target(P *p, seen_set *decl, const jnode *t) {
    if (!t) return;
    if (t->kind == N_NAME) note(p, decl, t->name, false);
    else if (t->kind == N_TUPLE || t->kind == N_LIST)
        for (int i = 0; i < t->n; i++) collect_target(p, decl, t->items[i]);
}

static void analyze_frame(P *p, jnode *frame, jnode *body, const jnode *extra_loads, seen_set *decl, frame_stack *up, int depth);

/* Finds the frames nested directly in a frame's statements (through bodies and if branches). */
static void find_frames(P *p, jnode *n, frame_stack *fs, int depth) {
    if (!n || depth > 400) return;
    switch (n->kind) {
    case N_BODY: for (int i = 0; i < n->n; i++) find_frames(p, n->items[i], fs, depth + 1); break;
    case N_IF: find_frames(p, n->b, fs, depth + 1); find_frames(p, n->c, fs, depth + 1); break;
    case N_FOR: {
        seen_set decl = { 0 };
        collect_target(p, &decl, n->a);
        note(p, &decl, "loop", false);
        analyze_frame(p, n, n->c, n->e, &decl, fs, depth + 1);
        find_frames(p, n->d, fs, depth + 1);
        break;
    }
    case N_MACRO: case N_CALLBLOCK: {
        seen_set decl = { 0 };
        for (int i = 0; i < n->n; i++) note(p, &decl, n->names[i], false);
        note(p, &decl, "varargs", false);
        note(p, &decl, "kwargs", false);
        note(p, &decl, "caller", false);
        analyze_frame(p, n, n->b, NULL, &decl, fs, depth + 1);
        break;
    }
    case N_WITH: {
        seen_set decl = { 0 };
        for (int i = 0; i < n->n; i++) collect_target(p, &decl, n->keys[i]);
        analyze_frame(p, n, n->b, NULL, &decl, fs, depth + 1);
        break;
    }
    case N_SETBLOCK: case N_FILTERBLOCK: {
        seen_set decl = { 0 };
        analyze_frame(p, n, n->b, NULL, &decl, fs, depth + 1);
        break;
    }
    default: break;
    }
}

static void analyze_frame(P *p, jnode *frame, jnode *body, const jnode *extra_loads, seen_set *decl, frame_stack *up, int depth) {
    if (depth > 400) return;
    seen_set ss = { 0 };
    for (int i = 0; i < decl->n; i++) note(p, &ss, decl->names[i], false);
    if (frame && frame->kind == N_MACRO)
        for (int i = 0; i < frame->n; i++) expr_loads(p, &ss, frame->items[i], 0);
    expr_loads(p, &ss, extra_loads, 0);
    frame_walk(p, &ss, body, false, 0);
    if (frame) {
        for (int i = 0; i < ss.nfirst; i++)
            if (!known_above(up, ss.first[i])) {
                if (!frame->undef) frame->undef = aalloc(p, (size_t)ss.nfirst * sizeof(char *));
                frame->undef[frame->nundef++] = ss.first[i];
            }
    }
    frame_stack me = { &ss, up };
    find_frames(p, body, &me, depth + 1);
}

static void check_end_tags(P *p, jnode *root) {
    (void)root;
    if (cur(p)->type != TK_EOF) {
        char b[64];
        perr(p, cur(p)->pos, "unexpected %s", tok_desc(cur(p), b, sizeof b));
    }
}

llmc_status jinja_parse(llmc_template *t, llmc_error *err) {
    P *p = calloc(1, sizeof *p);
    if (!p) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", t->name);
    p->t = t;
    p->err = err;
    jmp_buf cjb;
    p->cctx.jb = &cjb;
    p->cctx.err = err;
    p->cctx.tpl = t;
    p->cctx.max_string = MAX_TEMPLATE_BYTES;
    p->cctx.max_steps = ~0ULL;
    p->cctx.max_items = 1u << 20;
    llmc_status st = LLMC_OK;
    if (setjmp(p->jb)) {
        st = err && err->code ? err->code : LLMC_ERR_TEMPLATE;
    } else {
        lex(p);
        jnode *root = subparse(p, NULL);
        check_end_tags(p, root);
        t->root = root;
        seen_set ss = { 0 };
        frame_walk(p, &ss, root, false, 0);
        t->store_first = ss.first;
        t->n_store_first = ss.nfirst;
        frame_stack top = { &ss, NULL };
        find_frames(p, root, &top, 0);
    }
    /* constants were built in cctx's heap: hand them to the template */
    if (p->cctx.heap.head) {
        jobj *o = p->cctx.heap.head;
        while (o->next) o = o->next;
        o->next = t->consts.head;
        if (t->consts.head) t->consts.head->prev = o;
        t->consts.head = p->cctx.heap.head;
    }
    free(p->toks);
    free(p);
    return st;
}

void jinja_arena_free(void *arena) {
    achunk *c = arena;
    while (c) { achunk *n = c->next; free(c); c = n; }
}

llmc_status llmc_template_compile(const char *src, size_t len, const char *name, llmc_template **out,
                                  llmc_error *err) {
    *out = NULL;
    if (!name) name = "<template>";
    if (!src && len) return llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: NULL template source", name);
    if (len > MAX_TEMPLATE_BYTES) return llmc_err(err, LLMC_ERR_RANGE, "%s: template is %zu bytes (limit %u)", name, len, MAX_TEMPLATE_BYTES);
    llmc_template *t = calloc(1, sizeof *t);
    if (!t) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", name);
    t->name = strdup(name);
    t->src = malloc(len + 1);
    if (!t->name || !t->src) { llmc_template_free(t); return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", name); }
    /* Jinja normalizes \r\n and \r to \n and drops one trailing newline (keep_trailing_newline=False). */
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') { t->src[o++] = '\n'; if (i + 1 < len && src[i + 1] == '\n') i++; }
        else t->src[o++] = src[i];
    }
    if (o && t->src[o - 1] == '\n') o--;
    t->src[o] = 0;
    t->src_len = o;
    llmc_error e2;
    if (!err) err = &e2;
    llmc_status st = jinja_parse(t, err);
    if (st != LLMC_OK) { llmc_template_free(t); return st; }
    *out = t;
    return LLMC_OK;
}

void llmc_template_free(llmc_template *t) {
    if (!t) return;
    jinja_arena_free(t->arena);
    jheap_free_all(&t->consts);
    free(t->src);
    free(t->name);
    free(t);
}
