/* Jinja builtins: filters, tests, global functions (range, namespace, dict, raise_exception,
 * strftime_now, cycler, joiner), the Python str/dict/list methods the sandbox allows, attribute
 * and item lookup, and Python's %-formatting and str.format. Semantics follow jinja2 3.1 and
 * CPython; mutating methods are refused as ImmutableSandboxedEnvironment does. */
#include "template/jinja.h"
#include "base/error.h"
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

const char *const jfunc_names[FN_COUNT] = { "range", "namespace", "dict", "raise_exception", "strftime_now",
                                            "cycler", "joiner", "lipsum" };

/* ---------------------------------------------------------------- argument helpers */

typedef struct {
    jv *args;
    int nargs;
    const char **kwn;
    jv *kwv;
    int nkw;
} A;
/* What a method or filter group answers for a name it does not hold (no jv has this type). */
#define NOT_HANDLED ((jv){.t = 0xFF})

static bool arg(const A *a, int idx, const char *name, jv *out) {
    if (idx >= 0 && idx < a->nargs) { *out = a->args[idx]; return true; }
    for (int i = 0; i < a->nkw; i++)
        if (name && strcmp(a->kwn[i], name) == 0) { *out = a->kwv[i]; return true; }
    return false;
}

static jv argd(const A *a, int idx, const char *name, jv def) {
    jv v;
    return arg(a, idx, name, &v) ? v : def;
}

static bool isnum(jv v) { return v.t == JV_INT || v.t == JV_BOOL || v.t == JV_FLOAT; }
static double fnum(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)v.u.i; }

static int64_t arg_int(jctx *c, const A *a, int idx, const char *name, int64_t def) {
    jv v;
    if (!arg(a, idx, name, &v) || v.t == JV_NONE) return def;
    if (v.t == JV_INT || v.t == JV_BOOL) return v.u.i;
    if (v.t == JV_FLOAT) {
        if (!(fabs(v.u.f) < 9.2e18)) jfail(c, LLMC_ERR_RANGE, "argument '%s' is out of range", name ? name : "?");
        return (int64_t)v.u.f;
    }
    if (v.t == JV_UNDEF) jfail_undef(c, v);
    jfail(c, LLMC_ERR_TEMPLATE, "argument '%s' must be an integer, not %s", name ? name : "?", jv_type_name(v));
}

static bool arg_bool(const A *a, int idx, const char *name, bool def) {
    jv v;
    if (!arg(a, idx, name, &v)) return def;
    return jv_truthy(v);
}

static jstr *need_str(jctx *c, jv v, const char *what) {
    if (v.t == JV_STR) return JS(v);
    if (v.t == JV_UNDEF) jfail_undef(c, v);
    jfail(c, LLMC_ERR_TEMPLATE, "%s must be a string, not %s", what, jv_type_name(v));
}

static const char *keep_name(jctx *c, const char *s, size_t len) {
    /* a runtime name that an undefined value points to: kept until the render ends */
    jv k = jstr_new(c, s, len);
    return JS(k)->s;
}

static jv undef_attr(jctx *c, jv obj, const char *name, size_t len, bool runtime) {
    jv u = jv_undef();
    u.sub = UNDEF_ATTR;
    u.u.i = obj.t;
    u.aux = runtime ? keep_name(c, name, len) : name;
    return u;
}

/* ---------------------------------------------------------------- unicode helpers */

static size_t cp_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static void put_cp(jctx *c, jbuf *b, uint32_t cp) {
    char enc[4];
    int n = (int)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)enc);
    if (n <= 0) { enc[0] = '?'; n = 1; }
    jbuf_add(c, b, enc, (size_t)n);
}

static bool cp_cased(uint32_t cp) {
    return utf8proc_toupper((utf8proc_int32_t)cp) != (utf8proc_int32_t)cp ||
           utf8proc_tolower((utf8proc_int32_t)cp) != (utf8proc_int32_t)cp ||
           utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_LT;
}

/* The common one-to-many mappings of Unicode SpecialCasing.txt that Python applies (utf8proc maps one to one). */
static const char *special_upper(uint32_t cp) {
    switch (cp) {
    case 0xDF: return "SS";
    case 0xFB00: return "FF";
    case 0xFB01: return "FI";
    case 0xFB02: return "FL";
    case 0xFB03: return "FFI";
    case 0xFB04: return "FFL";
    case 0xFB05: case 0xFB06: return "ST";
    case 0x149: return "\xCA\xBCN";
    default: return NULL;
    }
}
static void put_upper(jctx *c, jbuf *b, uint32_t cp) {
    const char *sp = special_upper(cp);
    if (sp) { jbuf_adds(c, b, sp); return; }
    put_cp(c, b, (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp));
}
static void put_lower(jctx *c, jbuf *b, uint32_t cp) {
    if (cp == 0x130) { jbuf_adds(c, b, "i\xCC\x87"); return; } /* İ → i + combining dot above */
    put_cp(c, b, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
}
static void put_title(jctx *c, jbuf *b, uint32_t cp) {
    if (cp == 0xDF) { jbuf_add(c, b, "Ss", 2); return; }
    put_cp(c, b, (uint32_t)utf8proc_totitle((utf8proc_int32_t)cp));
}

static jv str_upper(jctx *c, jstr *s) {
    jbuf *b = jbuf_new(c);
    for (size_t i = 0; i < s->len;) { uint32_t cp; size_t j = jutf8_next(s->s, s->len, i, &cp); if (cp < 0x80) jbuf_addc(c, b, (char)toupper((int)cp)); else put_upper(c, b, cp); i = j; }
    return jstr_take_buf(c, b);
}
static jv str_lower(jctx *c, jstr *s) {
    jbuf *b = jbuf_new(c);
    for (size_t i = 0; i < s->len;) { uint32_t cp; size_t j = jutf8_next(s->s, s->len, i, &cp); if (cp < 0x80) jbuf_addc(c, b, (char)tolower((int)cp)); else put_lower(c, b, cp); i = j; }
    return jstr_take_buf(c, b);
}
static jv str_pytitle(jctx *c, jstr *s) {
    jbuf *b = jbuf_new(c);
    bool prev_cased = false;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp;
        size_t j = jutf8_next(s->s, s->len, i, &cp);
        if (cp_cased(cp)) {
            if (prev_cased) put_lower(c, b, cp); else put_title(c, b, cp);
            prev_cased = true;
        } else { put_cp(c, b, cp); prev_cased = false; }
        i = j;
    }
    return jstr_take_buf(c, b);
}
static jv str_capitalize(jctx *c, jstr *s) {
    jbuf *b = jbuf_new(c);
    bool first = true;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp;
        size_t j = jutf8_next(s->s, s->len, i, &cp);
        if (first) put_title(c, b, cp); else put_lower(c, b, cp);
        first = false;
        i = j;
    }
    return jstr_take_buf(c, b);
}
/* Jinja's title filter: capitalize each piece between runs of [-\s({[<]. */
static bool jtitle_sep(uint32_t cp) { return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || jpy_space(cp); }
static jv str_jtitle(jctx *c, jstr *s) {
    jbuf *b = jbuf_new(c);
    bool start = true;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp;
        size_t j = jutf8_next(s->s, s->len, i, &cp);
        if (jtitle_sep(cp)) { put_cp(c, b, cp); start = true; }
        else if (start) { put_upper(c, b, cp); start = false; }
        else put_lower(c, b, cp);
        i = j;
    }
    return jstr_take_buf(c, b);
}

static bool in_chars(uint32_t cp, jstr *chars) {
    if (!chars) return jpy_space(cp);
    for (size_t i = 0; i < chars->len;) {
        uint32_t x;
        i = jutf8_next(chars->s, chars->len, i, &x);
        if (x == cp) return true;
    }
    return false;
}

static jv str_strip(jctx *c, jstr *s, jstr *chars, bool left, bool right) {
    size_t a = 0, e = s->len;
    if (left)
        while (a < e) { uint32_t cp; size_t j = jutf8_next(s->s, e, a, &cp); if (!in_chars(cp, chars)) break; a = j; }
    if (right)
        while (e > a) {
            size_t k = e - 1;
            while (k > a && ((unsigned char)s->s[k] & 0xC0) == 0x80) k--;
            uint32_t cp;
            jutf8_next(s->s, e, k, &cp);
            if (!in_chars(cp, chars)) break;
            e = k;
        }
    return jstr_new(c, s->s + a, e - a);
}

static jstr *opt_chars(jctx *c, const A *a, int idx, const char *name) {
    jv v;
    if (!arg(a, idx, name, &v) || v.t == JV_NONE) return NULL;
    return need_str(c, v, "strip characters");
}

/* byte offset of code point index (clamped Python-style start/end) */
static size_t cp_to_byte(jstr *s, int64_t idx) {
    if ((size_t)s->ncp == s->len || jstr_ncp(s) == s->len) return (size_t)idx;
    size_t k = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (((unsigned char)s->s[i] & 0xC0) != 0x80) { if ((int64_t)k == idx) return i; k++; }
    }
    return s->len;
}

static void norm_range(jctx *c, jstr *s, const A *a, int i0, int64_t *st, int64_t *en) {
    int64_t len = (int64_t)jstr_ncp(s);
    int64_t b = arg_int(c, a, i0, "start", 0), e = arg_int(c, a, i0 + 1, "end", len);
    if (b < 0) { b += len; if (b < 0) b = 0; }
    if (e < 0) { e += len; if (e < 0) e = 0; }
    if (b > len) b = len;
    if (e > len) e = len;
    *st = b;
    *en = e;
}

static int64_t byte_to_cp(jstr *s, size_t off) { return (int64_t)cp_count(s->s, off); }

/* ---------------------------------------------------------------- str.split */

static jv str_split(jctx *c, jstr *s, jv sepv, int64_t maxsplit, bool from_right) {
    jv res = jlist_new(c, 0);
    if (sepv.t == JV_NONE || sepv.t == JV_UNDEF) {
        /* whitespace runs; leading/trailing ignored */
        if (!from_right) {
            size_t i = 0;
            int64_t splits = 0;
            while (i < s->len) {
                uint32_t cp;
                size_t j;
                while (i < s->len && (j = jutf8_next(s->s, s->len, i, &cp), jpy_space(cp))) i = j;
                if (i >= s->len) break;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    size_t e = s->len;
                    while (e > i) { size_t k = e - 1; while (k > i && ((unsigned char)s->s[k] & 0xC0) == 0x80) k--; jutf8_next(s->s, e, k, &cp); if (!jpy_space(cp)) break; e = k; }
                    jlist_push(c, res, jstr_new(c, s->s + i, e - i));
                    break;
                }
                size_t st = i;
                while (i < s->len && (j = jutf8_next(s->s, s->len, i, &cp), !jpy_space(cp))) i = j;
                jlist_push(c, res, jstr_new(c, s->s + st, i - st));
                splits++;
            }
            return res;
        }
        /* rsplit(None): from the right; the head keeps its leading whitespace */
        jv rev = jlist_new(c, 0);
        size_t e = s->len;
        int64_t splits = 0;
        for (;;) {
            while (e > 0) {
                size_t k = e - 1;
                while (k > 0 && ((unsigned char)s->s[k] & 0xC0) == 0x80) k--;
                uint32_t cp;
                jutf8_next(s->s, e, k, &cp);
                if (!jpy_space(cp)) break;
                e = k;
            }
            if (e == 0) break;
            if (maxsplit >= 0 && splits >= maxsplit) { jlist_push(c, rev, jstr_new(c, s->s, e)); break; }
            size_t st = e;
            while (st > 0) {
                size_t k = st - 1;
                while (k > 0 && ((unsigned char)s->s[k] & 0xC0) == 0x80) k--;
                uint32_t cp;
                jutf8_next(s->s, st, k, &cp);
                if (jpy_space(cp)) break;
                st = k;
            }
            jlist_push(c, rev, jstr_new(c, s->s + st, e - st));
            splits++;
            e = st;
        }
        for (size_t k = JL(rev)->n; k-- > 0;) jlist_push(c, res, jref(JL(rev)->v[k]));
        junref(c, rev);
        return res;
    }
    jstr *sep = need_str(c, sepv, "separator");
    if (!sep->len) jfail(c, LLMC_ERR_TEMPLATE, "empty separator");
    if (!from_right) {
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            char *f = (maxsplit < 0 || splits < maxsplit) ? memmem(s->s + i, s->len - i, sep->s, sep->len) : NULL;
            if (!f) { jlist_push(c, res, jstr_new(c, s->s + i, s->len - i)); break; }
            jlist_push(c, res, jstr_new(c, s->s + i, (size_t)(f - (s->s + i))));
            i = (size_t)(f - s->s) + sep->len;
            splits++;
            jstep(c, 1);
        }
        return res;
    }
    /* rsplit with separator: split from the right, then reverse */
    size_t e = s->len;
    int64_t splits = 0;
    jv rev = jlist_new(c, 0);
    for (;;) {
        char *f = NULL;
        if ((maxsplit < 0 || splits < maxsplit) && e >= sep->len)
            for (size_t k = e - sep->len + 1; k-- > 0;)
                if (memcmp(s->s + k, sep->s, sep->len) == 0) { f = s->s + k; break; }
        if (!f) { jlist_push(c, rev, jstr_new(c, s->s, e)); break; }
        size_t fe = (size_t)(f - s->s);
        jlist_push(c, rev, jstr_new(c, s->s + fe + sep->len, e - fe - sep->len));
        e = fe;
        splits++;
        jstep(c, 1);
    }
    for (size_t k = JL(rev)->n; k-- > 0;) jlist_push(c, res, jref(JL(rev)->v[k]));
    junref(c, rev);
    return res;
}

static jv str_replace(jctx *c, jstr *s, jstr *old, jstr *nw, int64_t count) {
    jbuf *b = jbuf_new(c);
    if (!old->len) {
        int64_t done = 0;
        size_t i = 0;
        if (count != 0) { jbuf_add(c, b, nw->s, nw->len); done++; }
        while (i < s->len) {
            uint32_t cp;
            size_t j = jutf8_next(s->s, s->len, i, &cp);
            jbuf_add(c, b, s->s + i, j - i);
            if (count < 0 || done < count) { jbuf_add(c, b, nw->s, nw->len); done++; }
            i = j;
            jstep(c, 1);
        }
        return jstr_take_buf(c, b);
    }
    size_t i = 0;
    int64_t done = 0;
    while (i <= s->len) {
        char *f = (count < 0 || done < count) ? memmem(s->s + i, s->len - i, old->s, old->len) : NULL;
        if (!f) { jbuf_add(c, b, s->s + i, s->len - i); break; }
        jbuf_add(c, b, s->s + i, (size_t)(f - (s->s + i)));
        jbuf_add(c, b, nw->s, nw->len);
        i = (size_t)(f - s->s) + old->len;
        done++;
        jstep(c, 1);
    }
    return jstr_take_buf(c, b);
}

/* ---------------------------------------------------------------- formatting */

static void pad_to(jctx *c, jbuf *b, const char *s, size_t len, int64_t width, char align, const char *fill, size_t filllen) {
    int64_t n = (int64_t)cp_count(s, len);
    int64_t padn = width > n ? width - n : 0;
    if (padn > (int64_t)c->max_string) jfail(c, LLMC_ERR_NOMEM, "string size limit exceeded (max_string %zu)", c->max_string);
    int64_t left = 0, right = 0;
    if (align == '<') right = padn;
    else if (align == '>') left = padn;
    else if (align == '^') { left = padn / 2; right = padn - left; }
    for (int64_t i = 0; i < left; i++) jbuf_add(c, b, fill, filllen);
    jbuf_add(c, b, s, len);
    for (int64_t i = 0; i < right; i++) jbuf_add(c, b, fill, filllen);
}

/* Python format-spec mini-language for one value. */
static void format_spec(jctx *c, jbuf *out, jv v, const char *spec, size_t slen) {
    char fill[5] = " ";
    size_t filllen = 1;
    char align = 0, sign = '-', type = 0;
    bool alt = false, zero = false, comma = false;
    char sepch = ',';
    int64_t width = -1, prec = -1;
    size_t i = 0;
    if (slen >= 2) {
        size_t l = 1;
        while (l < slen && l < 4 && ((unsigned char)spec[l] & 0xC0) == 0x80) l++;
        if (l < slen && (spec[l] == '<' || spec[l] == '>' || spec[l] == '^' || spec[l] == '=')) {
            memcpy(fill, spec, l); fill[l] = 0; filllen = l; align = spec[l]; i = l + 1;
        }
    }
    if (!align && i < slen && (spec[i] == '<' || spec[i] == '>' || spec[i] == '^' || spec[i] == '=')) align = spec[i++];
    if (i < slen && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
    if (i < slen && spec[i] == '#') { alt = true; i++; }
    if (i < slen && spec[i] == '0') { zero = true; i++; }
    while (i < slen && isdigit((unsigned char)spec[i])) { width = (width < 0 ? 0 : width) * 10 + (spec[i++] - '0'); if (width > 100000) jfail(c, LLMC_ERR_RANGE, "format width too large"); }
    if (i < slen && (spec[i] == ',' || spec[i] == '_')) { comma = true; sepch = spec[i]; i++; }
    if (i < slen && spec[i] == '.') { i++; prec = 0; while (i < slen && isdigit((unsigned char)spec[i])) { prec = prec * 10 + (spec[i++] - '0'); if (prec > 1000) jfail(c, LLMC_ERR_RANGE, "format precision too large"); } }
    if (i < slen) type = spec[i++];
    if (i != slen) jfail(c, LLMC_ERR_TEMPLATE, "invalid format specifier '%.*s'", (int)slen, spec);
    (void)alt;
    char tmp[512];
    if (v.t == JV_STR || (!type && !isnum(v)) || type == 's') {
        jv sv = jv_str(c, v);
        jstr *s = JS(sv);
        size_t len = s->len;
        if (prec >= 0 && (size_t)prec < cp_count(s->s, s->len)) len = cp_to_byte(s, prec);
        pad_to(c, out, s->s, len, width, align ? align : '<', fill, filllen);
        junref(c, sv);
        return;
    }
    if (!isnum(v)) jfail(c, LLMC_ERR_TEMPLATE, "unknown format code '%c' for object of type '%s'", type ? type : 's', jv_type_name(v));
    bool isint = v.t != JV_FLOAT;
    if (!type) type = isint ? 'd' : 'r';
    char fmt[32];
    const char *sg = sign == '+' ? "+" : sign == ' ' ? " " : "";
    switch (type) {
    case 'd': case 'n':
        if (!isint) jfail(c, LLMC_ERR_TEMPLATE, "unknown format code 'd' for object of type 'float'");
        snprintf(tmp, sizeof tmp, "%s%" PRId64, (v.u.i >= 0 ? sg : ""), v.u.i);
        if (comma) {
            char g[600];
            size_t L = strlen(tmp), st = (tmp[0] == '-' || tmp[0] == '+' || tmp[0] == ' ') ? 1 : 0, o = 0;
            for (size_t k = 0; k < L; k++) {
                g[o++] = tmp[k];
                size_t rem = L - k - 1;
                if (k >= st && rem && rem % 3 == 0) g[o++] = sepch;
            }
            g[o] = 0;
            snprintf(tmp, sizeof tmp, "%s", g);
        }
        break;
    case 'x': case 'X': case 'o': case 'b': {
        if (!isint) jfail(c, LLMC_ERR_TEMPLATE, "unknown format code '%c' for object of type 'float'", type);
        uint64_t u = v.u.i < 0 ? (uint64_t)(-(v.u.i + 1)) + 1 : (uint64_t)v.u.i;
        char digs[80];
        int k = 0;
        int base = type == 'o' ? 8 : type == 'b' ? 2 : 16;
        do { int d = (int)(u % (uint64_t)base); digs[k++] = (char)(d < 10 ? '0' + d : (type == 'X' ? 'A' : 'a') + d - 10); u /= (uint64_t)base; } while (u);
        int o = 0;
        if (v.u.i < 0) tmp[o++] = '-'; else if (*sg) tmp[o++] = *sg;
        if (alt) { tmp[o++] = '0'; tmp[o++] = type == 'o' ? 'o' : type == 'b' ? 'b' : type; }
        while (k) tmp[o++] = digs[--k];
        tmp[o] = 0;
        break;
    }
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case '%': {
        double d = fnum(v);
        if (type == '%') { d *= 100; snprintf(fmt, sizeof fmt, "%%%s.%df%%%%", sg, (int)(prec < 0 ? 6 : prec)); }
        else snprintf(fmt, sizeof fmt, "%%%s.%d%c", sg, (int)(prec < 0 ? 6 : prec), type);
        snprintf(tmp, sizeof tmp, fmt, d);
        break;
    }
    case 'r': {
        char f[64];
        jfmt_float(fnum(v), f, sizeof f);
        snprintf(tmp, sizeof tmp, "%s%s", fnum(v) >= 0 ? sg : "", f);
        break;
    }
    default: jfail(c, LLMC_ERR_TEMPLATE, "unknown format code '%c'", type);
    }
    if (zero && !align) {
        /* sign-aware zero padding */
        size_t len = strlen(tmp);
        size_t signlen = (tmp[0] == '-' || tmp[0] == '+' || tmp[0] == ' ') ? 1 : 0;
        if (width > (int64_t)len) {
            jbuf_add(c, out, tmp, signlen);
            for (int64_t k = 0; k < width - (int64_t)len; k++) jbuf_addc(c, out, '0');
            jbuf_adds(c, out, tmp + signlen);
            return;
        }
    }
    if (align == '=') {
        size_t len = strlen(tmp);
        size_t signlen = (tmp[0] == '-' || tmp[0] == '+' || tmp[0] == ' ') ? 1 : 0;
        jbuf_add(c, out, tmp, signlen);
        for (int64_t k = 0; k < width - (int64_t)len; k++) jbuf_add(c, out, fill, filllen);
        jbuf_adds(c, out, tmp + signlen);
        return;
    }
    pad_to(c, out, tmp, strlen(tmp), width, align ? align : '>', fill, filllen);
}

static jv str_format(jctx *c, jstr *f, const A *a) {
    jbuf *b = jbuf_new(c);
    int autoidx = 0;
    for (size_t i = 0; i < f->len; i++) {
        char ch = f->s[i];
        if (ch == '{') {
            if (i + 1 < f->len && f->s[i + 1] == '{') { jbuf_addc(c, b, '{'); i++; continue; }
            size_t e = i + 1;
            int depth = 1;
            while (e < f->len && depth) { if (f->s[e] == '{') depth++; else if (f->s[e] == '}') depth--; if (depth) e++; }
            if (e >= f->len) jfail(c, LLMC_ERR_TEMPLATE, "Single '{' encountered in format string");
            const char *fs = f->s + i + 1;
            size_t fl = e - i - 1;
            size_t nameend = 0;
            while (nameend < fl && fs[nameend] != '!' && fs[nameend] != ':' && fs[nameend] != '.' && fs[nameend] != '[') nameend++;
            jv val;
            if (nameend == 0) {
                if (autoidx >= a->nargs) jfail(c, LLMC_ERR_TEMPLATE, "Replacement index %d out of range for positional args tuple", autoidx);
                val = a->args[autoidx++];
            } else if (isdigit((unsigned char)fs[0])) {
                int idx = atoi(fs);
                if (idx >= a->nargs) jfail(c, LLMC_ERR_TEMPLATE, "Replacement index %d out of range for positional args tuple", idx);
                val = a->args[idx];
            } else {
                bool found = false;
                for (int k = 0; k < a->nkw; k++)
                    if (strlen(a->kwn[k]) == nameend && memcmp(a->kwn[k], fs, nameend) == 0) { val = a->kwv[k]; found = true; }
                if (!found) jfail(c, LLMC_ERR_TEMPLATE, "KeyError: '%.*s'", (int)nameend, fs);
            }
            val = jref(val);
            size_t p = nameend;
            while (p < fl && (fs[p] == '.' || fs[p] == '[')) {
                if (fs[p] == '.') {
                    size_t q = p + 1;
                    while (q < fl && fs[q] != '.' && fs[q] != '[' && fs[q] != '!' && fs[q] != ':') q++;
                    if (fs[p + 1] == '_') jfail(c, LLMC_ERR_TEMPLATE, "access to attribute '%.*s' is unsafe", (int)(q - p - 1), fs + p + 1);
                    jv nv = jgetattr(c, val, keep_name(c, fs + p + 1, q - p - 1), q - p - 1, false);
                    junref(c, val);
                    val = nv;
                    p = q;
                } else {
                    size_t q = p + 1;
                    while (q < fl && fs[q] != ']') q++;
                    jv key = isdigit((unsigned char)fs[p + 1]) ? jv_int(atoll(fs + p + 1)) : jstr_new(c, fs + p + 1, q - p - 1);
                    jv nv = jgetitem(c, val, key);
                    junref(c, key);
                    junref(c, val);
                    val = nv;
                    p = q + 1;
                }
            }
            char conv = 0;
            if (p < fl && fs[p] == '!') { conv = fs[p + 1]; p += 2; }
            if (conv == 'r' || conv == 'a') {
                jbuf *rb = jbuf_new(c);
                jv_repr(c, val, rb);
                junref(c, val);
                val = jstr_take_buf(c, rb);
            } else if (conv == 's') {
                jv sv = jv_str(c, val);
                junref(c, val);
                val = sv;
            }
            if (p < fl && fs[p] == ':') format_spec(c, b, val, fs + p + 1, fl - p - 1);
            else jv_to_str(c, val, b);
            junref(c, val);
            i = e;
        } else if (ch == '}') {
            if (i + 1 < f->len && f->s[i + 1] == '}') { jbuf_addc(c, b, '}'); i++; continue; }
            jfail(c, LLMC_ERR_TEMPLATE, "Single '}' encountered in format string");
        } else jbuf_addc(c, b, ch);
    }
    return jstr_take_buf(c, b);
}

jv jpy_percent_format(jctx *c, jv fmtv, jv args) {
    jstr *f = JS(fmtv);
    jv *items = &args;
    size_t nitems = 1, used = 0;
    bool mapping = args.t == JV_DICT;
    if (args.t == JV_TUPLE) { items = JL(args)->v; nitems = JL(args)->n; }
    jbuf *b = jbuf_new(c);
    for (size_t i = 0; i < f->len; i++) {
        if (f->s[i] != '%') { jbuf_addc(c, b, f->s[i]); continue; }
        i++;
        if (i >= f->len) jfail(c, LLMC_ERR_TEMPLATE, "incomplete format");
        if (f->s[i] == '%') { jbuf_addc(c, b, '%'); continue; }
        jv val;
        bool have = false;
        if (f->s[i] == '(') {
            size_t e = i + 1;
            while (e < f->len && f->s[e] != ')') e++;
            if (!mapping) jfail(c, LLMC_ERR_TEMPLATE, "format requires a mapping");
            if (!jdict_get_str(args, f->s + i + 1, e - i - 1, &val)) jfail(c, LLMC_ERR_TEMPLATE, "KeyError: '%.*s'", (int)(e - i - 1), f->s + i + 1);
            have = true;
            i = e + 1;
        }
        char flags[8] = "";
        int nf = 0;
        while (i < f->len && strchr("-+ #0", f->s[i]) && nf < 6) flags[nf++] = f->s[i++];
        flags[nf] = 0;
        int width = -1, prec = -1;
        while (i < f->len && isdigit((unsigned char)f->s[i])) { width = (width < 0 ? 0 : width) * 10 + (f->s[i++] - '0'); if (width > 100000) jfail(c, LLMC_ERR_RANGE, "format width too large"); }
        if (i < f->len && f->s[i] == '.') { i++; prec = 0; while (i < f->len && isdigit((unsigned char)f->s[i])) { prec = prec * 10 + (f->s[i++] - '0'); if (prec > 1000) jfail(c, LLMC_ERR_RANGE, "format precision too large"); } }
        if (i >= f->len) jfail(c, LLMC_ERR_TEMPLATE, "incomplete format");
        char conv = f->s[i];
        if (!have) {
            if (used >= nitems) jfail(c, LLMC_ERR_TEMPLATE, "not enough arguments for format string");
            val = items[used++];
        }
        char spec[64], tmp[512];
        switch (conv) {
        case 's': case 'r': {
            jbuf *sb = jbuf_new(c);
            if (conv == 's') jv_to_str(c, val, sb); else jv_repr(c, val, sb);
            size_t len = sb->len;
            if (prec >= 0 && (size_t)prec < cp_count(sb->s, sb->len)) {
                jstr tmps = { .s = sb->s, .len = sb->len, .ncp = -1 };
                len = cp_to_byte(&tmps, prec);
            }
            pad_to(c, b, sb->s, len, width, strchr(flags, '-') ? '<' : '>', " ", 1);
            jbuf_free(c, sb);
            break;
        }
        case 'd': case 'i': case 'u':
            if (!isnum(val)) jfail(c, LLMC_ERR_TEMPLATE, "%%d format: a real number is required, not %s", jv_type_name(val));
            if (val.t == JV_FLOAT && !(fabs(val.u.f) < 9.2e18)) jfail(c, LLMC_ERR_RANGE, "%%d format: number out of range");
            snprintf(spec, sizeof spec, "%%%s%s%s" PRId64, flags, width >= 0 ? "*" : "", "");
            if (width >= 0) snprintf(tmp, sizeof tmp, spec, width, val.t == JV_FLOAT ? (int64_t)val.u.f : val.u.i);
            else snprintf(tmp, sizeof tmp, spec, val.t == JV_FLOAT ? (int64_t)val.u.f : val.u.i);
            jbuf_adds(c, b, tmp);
            break;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'x': case 'X': case 'o': case 'c':
            if (!isnum(val)) jfail(c, LLMC_ERR_TEMPLATE, "%%%c format: a real number is required, not %s", conv, jv_type_name(val));
            if ((conv == 'x' || conv == 'X' || conv == 'o' || conv == 'c') && val.t == JV_FLOAT && !(fabs(val.u.f) < 9.2e18))
                jfail(c, LLMC_ERR_RANGE, "%%%c format: number out of range", conv);
            if (conv == 'x' || conv == 'X' || conv == 'o' || conv == 'c') {
                snprintf(spec, sizeof spec, "%%%s%s%s%c", flags, width >= 0 ? "*" : "", "ll", conv == 'c' ? 'c' : conv);
                long long iv = val.t == JV_FLOAT ? (long long)val.u.f : (long long)val.u.i;
                if (conv == 'c') { jbuf *cb = jbuf_new(c); put_cp(c, cb, (uint32_t)iv); jbuf_add(c, b, cb->s, cb->len); jbuf_free(c, cb); break; }
                if (width >= 0) snprintf(tmp, sizeof tmp, spec, width, iv); else snprintf(tmp, sizeof tmp, spec, iv);
            } else {
                snprintf(spec, sizeof spec, "%%%s%s.%d%c", flags, width >= 0 ? "*" : "", prec < 0 ? 6 : prec, conv);
                if (width >= 0) snprintf(tmp, sizeof tmp, spec, width, fnum(val)); else snprintf(tmp, sizeof tmp, spec, fnum(val));
            }
            jbuf_adds(c, b, tmp);
            break;
        default: jfail(c, LLMC_ERR_TEMPLATE, "unsupported format character '%c'", conv);
        }
    }
    /* Python skips this check when the argument is a mapping-like object (dict, list) */
    if (!mapping && used < nitems && args.t != JV_LIST) jfail(c, LLMC_ERR_TEMPLATE, "not all arguments converted during string formatting");
    return jstr_take_buf(c, b);
}

/* ---------------------------------------------------------------- iteration, lookup */

jv jiter_list(jctx *c, jv v) {
    switch (v.t) {
    case JV_LIST: case JV_TUPLE: return jref(v);
    case JV_DICT: case JV_NS: {
        jv l = jlist_new(c, JD(v)->n);
        for (size_t i = 0; i < JD(v)->n; i++) jlist_push(c, l, jref(JD(v)->k[i]));
        return l;
    }
    case JV_STR: {
        jstr *s = JS(v);
        jv l = jlist_new(c, jstr_ncp(s));
        for (size_t i = 0; i < s->len;) {
            uint32_t cp;
            size_t j = jutf8_next(s->s, s->len, i, &cp);
            jlist_push(c, l, jstr_new(c, s->s + i, j - i));
            i = j;
        }
        jstep(c, s->len / 8);
        return l;
    }
    case JV_UNDEF: return jlist_new(c, 0);
    default: jfail(c, LLMC_ERR_TEMPLATE, "'%s' object is not iterable", jv_type_name(v));
    }
}

enum {
    M_NONE = -1,
    /* str */
    M_STRIP, M_LSTRIP, M_RSTRIP, M_SPLIT, M_RSPLIT, M_STARTSWITH, M_ENDSWITH, M_UPPER, M_LOWER, M_TITLE, M_CAPITALIZE,
    M_REPLACE, M_FIND, M_RFIND, M_INDEX, M_RINDEX, M_COUNT, M_FORMAT, M_JOIN, M_SPLITLINES, M_ISDIGIT, M_ISALPHA,
    M_ISALNUM, M_ISSPACE, M_ISUPPER, M_ISLOWER, M_ZFILL, M_CENTER, M_LJUST, M_RJUST, M_PARTITION, M_RPARTITION,
    M_CASEFOLD, M_SWAPCASE, M_REMOVEPREFIX, M_REMOVESUFFIX, M_ISNUMERIC, M_ISDECIMAL, M_ISTITLE,
    /* dict */
    M_ITEMS, M_KEYS, M_VALUES, M_GET, M_COPY,
    /* list (index/count shared by name with str) */
    M_LINDEX, M_LCOUNT,
    /* loop, cycler, joiner */
    M_CYCLE, M_CHANGED, M_NEXT, M_RESET,
    /* refused: mutate a container */
    M_UNSAFE
};

static const struct { const char *name; int id; } str_methods[] = {
    { "strip", M_STRIP }, { "lstrip", M_LSTRIP }, { "rstrip", M_RSTRIP }, { "split", M_SPLIT }, { "rsplit", M_RSPLIT },
    { "startswith", M_STARTSWITH }, { "endswith", M_ENDSWITH }, { "upper", M_UPPER }, { "lower", M_LOWER },
    { "title", M_TITLE }, { "capitalize", M_CAPITALIZE }, { "replace", M_REPLACE }, { "find", M_FIND },
    { "rfind", M_RFIND }, { "index", M_INDEX }, { "rindex", M_RINDEX }, { "count", M_COUNT }, { "format", M_FORMAT },
    { "join", M_JOIN }, { "splitlines", M_SPLITLINES }, { "isdigit", M_ISDIGIT }, { "isalpha", M_ISALPHA },
    { "isalnum", M_ISALNUM }, { "isspace", M_ISSPACE }, { "isupper", M_ISUPPER }, { "islower", M_ISLOWER },
    { "zfill", M_ZFILL }, { "center", M_CENTER }, { "ljust", M_LJUST }, { "rjust", M_RJUST },
    { "partition", M_PARTITION }, { "rpartition", M_RPARTITION }, { "casefold", M_CASEFOLD },
    { "swapcase", M_SWAPCASE }, { "removeprefix", M_REMOVEPREFIX }, { "removesuffix", M_REMOVESUFFIX },
    { "isnumeric", M_ISNUMERIC }, { "isdecimal", M_ISDECIMAL }, { "istitle", M_ISTITLE }, { NULL, 0 } };
static const struct { const char *name; int id; } dict_methods[] = {
    { "items", M_ITEMS }, { "keys", M_KEYS }, { "values", M_VALUES }, { "get", M_GET }, { "copy", M_COPY },
    { "pop", M_UNSAFE }, { "popitem", M_UNSAFE }, { "update", M_UNSAFE }, { "setdefault", M_UNSAFE },
    { "clear", M_UNSAFE }, { NULL, 0 } };
static const struct { const char *name; int id; } list_methods[] = {
    { "index", M_LINDEX }, { "count", M_LCOUNT }, { "copy", M_COPY }, { "append", M_UNSAFE }, { "extend", M_UNSAFE },
    { "insert", M_UNSAFE }, { "pop", M_UNSAFE }, { "remove", M_UNSAFE }, { "reverse", M_UNSAFE }, { "sort", M_UNSAFE },
    { "clear", M_UNSAFE }, { NULL, 0 } };

static bool name_eq(const char *a, const char *b, size_t blen) { return strlen(a) == blen && memcmp(a, b, blen) == 0; }

int jmethod_lookup(jv self, const char *name, size_t nlen) {
    switch (self.t) {
    case JV_STR:
        for (int i = 0; str_methods[i].name; i++) if (name_eq(str_methods[i].name, name, nlen)) return str_methods[i].id;
        return M_NONE;
    case JV_DICT:
        for (int i = 0; dict_methods[i].name; i++) if (name_eq(dict_methods[i].name, name, nlen)) return dict_methods[i].id;
        return M_NONE;
    case JV_LIST: case JV_TUPLE:
        for (int i = 0; list_methods[i].name; i++)
            if (name_eq(list_methods[i].name, name, nlen) && (self.t == JV_LIST || list_methods[i].id == M_LINDEX || list_methods[i].id == M_LCOUNT))
                return list_methods[i].id;
        return M_NONE;
    case JV_LOOP:
        if (name_eq("cycle", name, nlen)) return M_CYCLE;
        if (name_eq("changed", name, nlen)) return M_CHANGED;
        return M_NONE;
    case JV_CYCLER:
        if (name_eq("next", name, nlen)) return M_NEXT;
        if (name_eq("reset", name, nlen)) return M_RESET;
        return M_NONE;
    default: return M_NONE;
    }
}

static jv loop_attr(jctx *c, jloop *lp, const char *name, size_t nlen, bool *found) {
    *found = true;
    int64_t i = lp->i, n = lp->n;
    if (name_eq("index", name, nlen)) return jv_int(i + 1);
    if (name_eq("index0", name, nlen)) return jv_int(i);
    if (name_eq("revindex", name, nlen)) return jv_int(n - i);
    if (name_eq("revindex0", name, nlen)) return jv_int(n - i - 1);
    if (name_eq("first", name, nlen)) return jv_bool(i == 0);
    if (name_eq("last", name, nlen)) return jv_bool(i == n - 1);
    if (name_eq("length", name, nlen)) return jv_int(n);
    if (name_eq("depth", name, nlen)) return jv_int(lp->depth);
    if (name_eq("depth0", name, nlen)) return jv_int(lp->depth - 1);
    if (name_eq("previtem", name, nlen)) {
        if (i > 0) return jref(JL(lp->items)->v[i - 1]);
        jv u = jv_undef(); u.sub = UNDEF_PLAIN; return u;
    }
    if (name_eq("nextitem", name, nlen)) {
        if (i + 1 < n) return jref(JL(lp->items)->v[i + 1]);
        jv u = jv_undef(); u.sub = UNDEF_PLAIN; return u;
    }
    (void)c;
    *found = false;
    return jv_undef();
}

jv jgetattr(jctx *c, jv obj, const char *name, size_t nlen, bool runtime_name) {
    switch (obj.t) {
    case JV_UNDEF: jfail_undef(c, obj);
    case JV_DICT: {
        int m = jmethod_lookup(obj, name, nlen);
        if (m >= 0 || m == M_UNSAFE) {
            jmethod *bm = jobj_new(c, sizeof *bm, JO_METHOD);
            bm->self = jref(obj);
            bm->method = m;
            bm->name = runtime_name ? keep_name(c, name, nlen) : name;
            return jv_obj(JV_METHOD, bm);
        }
        jv v;
        if (jdict_get_str(obj, name, nlen, &v)) return jref(v);
        return undef_attr(c, obj, name, nlen, runtime_name);
    }
    case JV_NS: {
        jv v;
        if (jdict_get_str(obj, name, nlen, &v)) return jref(v);
        return undef_attr(c, obj, name, nlen, runtime_name);
    }
    case JV_LOOP: {
        bool found;
        jv r = loop_attr(c, (jloop *)obj.u.o, name, nlen, &found);
        if (found) return r;
        break;
    }
    case JV_CYCLER:
        if (name_eq("current", name, nlen)) {
            jcycler *cy = (jcycler *)obj.u.o;
            return jref(JL(cy->items)->v[cy->pos]);
        }
        break;
    case JV_TUPLE:
        /* groupby results are (grouper, list) named tuples */
        if (JL(obj)->n == 2 && name_eq("grouper", name, nlen)) return jref(JL(obj)->v[0]);
        if (JL(obj)->n == 2 && name_eq("list", name, nlen)) return jref(JL(obj)->v[1]);
        break;
    default: break;
    }
    int m = jmethod_lookup(obj, name, nlen);
    if (m >= 0 || m == M_UNSAFE) {
        jmethod *bm = jobj_new(c, sizeof *bm, JO_METHOD);
        bm->self = jref(obj);
        bm->method = m;
        bm->name = runtime_name ? keep_name(c, name, nlen) : name;
        return jv_obj(JV_METHOD, bm);
    }
    return undef_attr(c, obj, name, nlen, runtime_name);
}

jv jgetitem(jctx *c, jv obj, jv key) {
    switch (obj.t) {
    case JV_UNDEF: jfail_undef(c, obj);
    case JV_DICT: case JV_NS: {
        jv v;
        if (key.t != JV_LIST && key.t != JV_DICT && jdict_get(obj, key, &v)) return jref(v);
        if (key.t == JV_STR && obj.t == JV_DICT) return jgetattr(c, obj, JS(key)->s, JS(key)->len, true);
        if (key.t == JV_STR) return undef_attr(c, obj, JS(key)->s, JS(key)->len, true);
        break;
    }
    case JV_LIST: case JV_TUPLE: case JV_STR:
        if (obj.t == JV_LIST && obj.sub && obj.sub != LS_RANGE) return jv_undef(); /* generators and dict views are not subscriptable */
        if (key.t == JV_INT || key.t == JV_BOOL) {
            int64_t i = key.u.i;
            int64_t n = obj.t == JV_STR ? (int64_t)jstr_ncp(JS(obj)) : (int64_t)JL(obj)->n;
            if (i < 0) i += n;
            if (i >= 0 && i < n) {
                if (obj.t != JV_STR) return jref(JL(obj)->v[i]);
                jstr *s = JS(obj);
                size_t b = cp_to_byte(s, i), e = b + 1;
                while (e < s->len && ((unsigned char)s->s[e] & 0xC0) == 0x80) e++;
                return jstr_new(c, s->s + b, e - b);
            }
            jv u = jv_undef();
            u.sub = UNDEF_ELEM;
            u.u.i = key.u.i;
            u.aux = jtype_repr_name(obj.t);
            return u;
        }
        if (key.t == JV_STR) return jgetattr(c, obj, JS(key)->s, JS(key)->len, true);
        break;
    case JV_LOOP: case JV_CYCLER:
        if (key.t == JV_STR) return jgetattr(c, obj, JS(key)->s, JS(key)->len, true);
        break;
    default: break;
    }
    return jv_undef();
}

/* ---------------------------------------------------------------- methods */

static bool prefix_match(jctx *c, jstr *s, jv pv, size_t b, size_t e, bool suffix) {
    jcheck_stack(c); /* tuples of tuples, as deep as a loop builds them */
    if (pv.t == JV_TUPLE || pv.t == JV_LIST) {
        for (size_t i = 0; i < JL(pv)->n; i++)
            if (prefix_match(c, s, JL(pv)->v[i], b, e, suffix)) return true;
        return false;
    }
    jstr *p = need_str(c, pv, suffix ? "endswith argument" : "startswith argument");
    if (p->len > e - b) return false;
    return memcmp(suffix ? s->s + e - p->len : s->s + b, p->s, p->len) == 0;
}

static bool str_pred(jstr *s, int m) {
    if (!s->len) return false;
    bool any_cased = false;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp;
        i = jutf8_next(s->s, s->len, i, &cp);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        bool letter = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        bool numeric = digit || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
        switch (m) {
        case M_ISDIGIT: case M_ISDECIMAL: if (!digit) return false; break;
        case M_ISNUMERIC: if (!numeric) return false; break;
        case M_ISALPHA: if (!letter) return false; break;
        case M_ISALNUM: if (!letter && !numeric) return false; break;
        case M_ISSPACE: if (!jpy_space(cp)) return false; break;
        case M_ISUPPER:
            if (cp_cased(cp)) { any_cased = true; if (utf8proc_toupper((utf8proc_int32_t)cp) != (utf8proc_int32_t)cp) return false; }
            break;
        case M_ISLOWER:
            if (cp_cased(cp)) { any_cased = true; if (utf8proc_tolower((utf8proc_int32_t)cp) != (utf8proc_int32_t)cp) return false; }
            break;
        }
    }
    if (m == M_ISUPPER || m == M_ISLOWER) return any_cased;
    return true;
}

static jv str_splitlines(jctx *c, jstr *s, bool keepends) {
    jv l = jlist_new(c, 0);
    size_t st = 0, i = 0;
    while (i < s->len) {
        uint32_t cp;
        size_t j = jutf8_next(s->s, s->len, i, &cp);
        bool br = cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || cp == 0x1c || cp == 0x1d || cp == 0x1e ||
                  cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (br) {
            size_t e = j;
            if (cp == '\r' && j < s->len && s->s[j] == '\n') e = j + 1;
            jlist_push(c, l, jstr_new(c, s->s + st, (keepends ? e : i) - st));
            st = i = e;
            continue;
        }
        i = j;
    }
    if (st < s->len) jlist_push(c, l, jstr_new(c, s->s + st, s->len - st));
    return l;
}

static int64_t str_find(jctx *c, jstr *s, jstr *sub, const A *a, int i0, bool rev) {
    int64_t b, e;
    norm_range(c, s, a, i0, &b, &e);
    if (e < b) return -1;
    size_t bb = cp_to_byte(s, b), eb = cp_to_byte(s, e);
    if (sub->len > eb - bb) return -1;
    if (!rev) {
        char *f = memmem(s->s + bb, eb - bb, sub->s, sub->len);
        return f ? byte_to_cp(s, (size_t)(f - s->s)) : -1;
    }
    for (size_t k = eb - sub->len + 1; k-- > bb;)
        if (memcmp(s->s + k, sub->s, sub->len) == 0) return byte_to_cp(s, k);
    return -1;
}

/* The str methods (Python's, as the sandbox allows them); NOT_HANDLED for a name str does not have. */
static jv str_method(jctx *c, jv self, int m, const char *mname, A a) {
    jstr *s = JS(self);
    switch (m) {
    case M_STRIP: return str_strip(c, s, opt_chars(c, &a, 0, "chars"), true, true);
    case M_LSTRIP: return str_strip(c, s, opt_chars(c, &a, 0, "chars"), true, false);
    case M_RSTRIP: return str_strip(c, s, opt_chars(c, &a, 0, "chars"), false, true);
    case M_SPLIT: case M_RSPLIT:
        jstep(c, s->len / 16);
        return str_split(c, s, argd(&a, 0, "sep", jv_none()), arg_int(c, &a, 1, "maxsplit", -1), m == M_RSPLIT);
    case M_STARTSWITH: case M_ENDSWITH: {
        jv p;
        if (!arg(&a, 0, "prefix", &p) && !arg(&a, 0, "suffix", &p)) jfail(c, LLMC_ERR_TEMPLATE, "%s() takes at least 1 argument", mname);
        int64_t b, e;
        norm_range(c, s, &a, 1, &b, &e);
        if (e < b) return jv_bool(false);
        return jv_bool(prefix_match(c, s, p, cp_to_byte(s, b), cp_to_byte(s, e), m == M_ENDSWITH));
    }
    case M_UPPER: return str_upper(c, s);
    case M_LOWER: case M_CASEFOLD: return str_lower(c, s);
    case M_TITLE: return str_pytitle(c, s);
    case M_CAPITALIZE: return str_capitalize(c, s);
    case M_SWAPCASE: {
        jbuf *b = jbuf_new(c);
        for (size_t i = 0; i < s->len;) {
            uint32_t cp;
            size_t j = jutf8_next(s->s, s->len, i, &cp);
            uint32_t up = (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp);
            if (up != cp) put_cp(c, b, up); else put_lower(c, b, cp);
            i = j;
        }
        return jstr_take_buf(c, b);
    }
    case M_REPLACE: {
        jv o, n;
        if (!arg(&a, 0, "old", &o) || !arg(&a, 1, "new", &n)) jfail(c, LLMC_ERR_TEMPLATE, "replace() takes at least 2 arguments");
        return str_replace(c, s, need_str(c, o, "replace() argument 1"), need_str(c, n, "replace() argument 2"), arg_int(c, &a, 2, "count", -1));
    }
    case M_FIND: case M_RFIND: case M_INDEX: case M_RINDEX: {
        jv sub;
        if (!arg(&a, 0, "sub", &sub)) jfail(c, LLMC_ERR_TEMPLATE, "%s() takes at least 1 argument", mname);
        int64_t r = str_find(c, s, need_str(c, sub, "substring"), &a, 1, m == M_RFIND || m == M_RINDEX);
        if (r < 0 && (m == M_INDEX || m == M_RINDEX)) jfail(c, LLMC_ERR_TEMPLATE, "substring not found");
        return jv_int(r);
    }
    case M_COUNT: {
        jv subv;
        if (!arg(&a, 0, "sub", &subv)) jfail(c, LLMC_ERR_TEMPLATE, "count() takes at least 1 argument");
        jstr *sub = need_str(c, subv, "substring");
        int64_t b, e;
        norm_range(c, s, &a, 1, &b, &e);
        if (e < b) return jv_int(0);
        size_t bb = cp_to_byte(s, b), eb = cp_to_byte(s, e);
        if (!sub->len) return jv_int(e - b + 1);
        int64_t n = 0;
        for (size_t i = bb; i + sub->len <= eb;) {
            char *f = memmem(s->s + i, eb - i, sub->s, sub->len);
            if (!f) break;
            n++;
            i = (size_t)(f - s->s) + sub->len;
        }
        return jv_int(n);
    }
    case M_FORMAT: return str_format(c, s, &a);
    case M_JOIN: {
        jv it;
        if (!arg(&a, 0, "iterable", &it)) jfail(c, LLMC_ERR_TEMPLATE, "join() takes exactly one argument");
        jv l = jiter_list(c, it);
        jbuf *b = jbuf_new(c);
        for (size_t i = 0; i < JL(l)->n; i++) {
            if (i) jbuf_add(c, b, s->s, s->len);
            jv e = JL(l)->v[i];
            if (e.t != JV_STR) jfail(c, LLMC_ERR_TEMPLATE, "sequence item %zu: expected str instance, %s found", i, jv_type_name(e));
            jbuf_add(c, b, JS(e)->s, JS(e)->len);
        }
        junref(c, l);
        return jstr_take_buf(c, b);
    }
    case M_SPLITLINES: return str_splitlines(c, s, arg_bool(&a, 0, "keepends", false));
    case M_ISDIGIT: case M_ISALPHA: case M_ISALNUM: case M_ISSPACE: case M_ISUPPER: case M_ISLOWER:
    case M_ISNUMERIC: case M_ISDECIMAL:
        return jv_bool(str_pred(s, m));
    case M_ISTITLE: {
        jv t = str_pytitle(c, s);
        bool r = jv_eq(c, t, self) && str_pred(s, M_ISALPHA) ? true : jv_eq(c, t, self);
        bool anyc = false;
        for (size_t i = 0; i < s->len;) { uint32_t cp; i = jutf8_next(s->s, s->len, i, &cp); if (cp_cased(cp)) anyc = true; }
        junref(c, t);
        return jv_bool(r && anyc);
    }
    case M_ZFILL: {
        int64_t w = arg_int(c, &a, 0, "width", 0);
        int64_t n = (int64_t)jstr_ncp(s);
        if (w <= n) return jref(self);
        jcheck_str(c, (size_t)w);
        jbuf *b = jbuf_new(c);
        size_t st = 0;
        if (s->len && (s->s[0] == '-' || s->s[0] == '+')) { jbuf_addc(c, b, s->s[0]); st = 1; }
        for (int64_t i = 0; i < w - n; i++) jbuf_addc(c, b, '0');
        jbuf_add(c, b, s->s + st, s->len - st);
        return jstr_take_buf(c, b);
    }
    case M_CENTER: case M_LJUST: case M_RJUST: {
        int64_t w = arg_int(c, &a, 0, "width", 0);
        jv fv = argd(&a, 1, "fillchar", jv_none());
        const char *fill = " ";
        size_t fl = 1;
        if (fv.t == JV_STR) { fill = JS(fv)->s; fl = JS(fv)->len; }
        jbuf *b = jbuf_new(c);
        int64_t n = (int64_t)jstr_ncp(s);
        if (m == M_CENTER && w > n) {
            /* CPython: left = pad/2 + (pad & width & 1) */
            int64_t pad = w - n, left = pad / 2 + (pad & w & 1);
            for (int64_t i = 0; i < left; i++) jbuf_add(c, b, fill, fl);
            jbuf_add(c, b, s->s, s->len);
            for (int64_t i = 0; i < pad - left; i++) jbuf_add(c, b, fill, fl);
        } else pad_to(c, b, s->s, s->len, w, m == M_LJUST ? '<' : m == M_RJUST ? '>' : '<', fill, fl);
        return jstr_take_buf(c, b);
    }
    case M_PARTITION: case M_RPARTITION: {
        jv sepv;
        if (!arg(&a, 0, "sep", &sepv)) jfail(c, LLMC_ERR_TEMPLATE, "%s() takes exactly one argument", mname);
        jstr *sep = need_str(c, sepv, "separator");
        if (!sep->len) jfail(c, LLMC_ERR_TEMPLATE, "empty separator");
        char *f = NULL;
        if (m == M_PARTITION) f = memmem(s->s, s->len, sep->s, sep->len);
        else if (sep->len <= s->len)
            for (size_t k = s->len - sep->len + 1; k-- > 0;) if (memcmp(s->s + k, sep->s, sep->len) == 0) { f = s->s + k; break; }
        jv t = jtuple_new(c, 3);
        if (!f) {
            if (m == M_PARTITION) { jlist_push(c, t, jref(self)); jlist_push(c, t, jstr_new(c, "", 0)); jlist_push(c, t, jstr_new(c, "", 0)); }
            else { jlist_push(c, t, jstr_new(c, "", 0)); jlist_push(c, t, jstr_new(c, "", 0)); jlist_push(c, t, jref(self)); }
            return t;
        }
        size_t off = (size_t)(f - s->s);
        jlist_push(c, t, jstr_new(c, s->s, off));
        jlist_push(c, t, jstr_new(c, sep->s, sep->len));
        jlist_push(c, t, jstr_new(c, s->s + off + sep->len, s->len - off - sep->len));
        return t;
    }
    case M_REMOVEPREFIX: case M_REMOVESUFFIX: {
        jv pv;
        if (!arg(&a, 0, "prefix", &pv)) jfail(c, LLMC_ERR_TEMPLATE, "%s() takes exactly one argument", mname);
        jstr *p = need_str(c, pv, "argument");
        if (p->len <= s->len) {
            if (m == M_REMOVEPREFIX && memcmp(s->s, p->s, p->len) == 0) return jstr_new(c, s->s + p->len, s->len - p->len);
            if (m == M_REMOVESUFFIX && p->len && memcmp(s->s + s->len - p->len, p->s, p->len) == 0) return jstr_new(c, s->s, s->len - p->len);
        }
        return jref(self);
    }
    }
    return NOT_HANDLED;
}

jv jcall_method(jctx *c, jv self, int m, const char *mname, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    A a = { args, nargs, kwn, kwv, nkw };
    jstep(c, 1);
    if (m == M_UNSAFE)
        jfail(c, LLMC_ERR_TEMPLATE, "access to attribute '%s' of '%s' object is unsafe (the sandbox forbids modifying values)", mname, jv_type_name(self));
    if (self.t == JV_STR) {
        jv r = str_method(c, self, m, mname, a);
        if (r.t != NOT_HANDLED.t) return r;
    }
    if (self.t == JV_DICT) {
        jdict *d = JD(self);
        switch (m) {
        case M_ITEMS: {
            jv l = jlist_new(c, d->n);
            for (size_t i = 0; i < d->n; i++) {
                jv t = jtuple_new(c, 2);
                jlist_push(c, t, jref(d->k[i]));
                jlist_push(c, t, jref(d->v[i]));
                jlist_push(c, l, t);
            }
            jstep(c, d->n);
            l.sub = LS_ITEMS;
            return l;
        }
        case M_KEYS: case M_VALUES: {
            jv l = jlist_new(c, d->n);
            for (size_t i = 0; i < d->n; i++) jlist_push(c, l, jref(m == M_KEYS ? d->k[i] : d->v[i]));
            jstep(c, d->n);
            l.sub = m == M_KEYS ? LS_KEYS : LS_VALUES;
            return l;
        }
        case M_GET: {
            jv k, v;
            if (!arg(&a, 0, "key", &k)) jfail(c, LLMC_ERR_TEMPLATE, "get expected at least 1 argument, got 0");
            if (k.t != JV_LIST && k.t != JV_DICT && jdict_get(self, k, &v)) return jref(v);
            return jref(argd(&a, 1, "default", jv_none()));
        }
        case M_COPY: {
            jv r = jdict_new(c);
            for (size_t i = 0; i < d->n; i++) jdict_set(c, r, jref(d->k[i]), jref(d->v[i]));
            return r;
        }
        }
    }
    if (self.t == JV_LIST || self.t == JV_TUPLE) {
        jlist *l = JL(self);
        switch (m) {
        case M_LINDEX: case M_LCOUNT: {
            jv x;
            if (!arg(&a, 0, "value", &x)) jfail(c, LLMC_ERR_TEMPLATE, "%s() takes exactly one argument", mname);
            int64_t cnt = 0;
            for (size_t i = 0; i < l->n; i++)
                if (jv_eq(c, l->v[i], x)) { if (m == M_LINDEX) return jv_int((int64_t)i); cnt++; }
            if (m == M_LINDEX) jfail(c, LLMC_ERR_TEMPLATE, "value is not in list");
            return jv_int(cnt);
        }
        case M_COPY: {
            jv r = jlist_new(c, l->n);
            for (size_t i = 0; i < l->n; i++) jlist_push(c, r, jref(l->v[i]));
            return r;
        }
        }
    }
    if (self.t == JV_LOOP) {
        jloop *lp = (jloop *)self.u.o;
        if (m == M_CYCLE) {
            if (!nargs) jfail(c, LLMC_ERR_TEMPLATE, "no items for cycling given");
            return jref(args[lp->i % nargs]);
        }
        if (m == M_CHANGED) {
            jv t = jtuple_new(c, (size_t)nargs);
            for (int i = 0; i < nargs; i++) jlist_push(c, t, jref(args[i]));
            if (!lp->changed_init || !jv_eq(c, t, lp->changed_last)) {
                junref(c, lp->changed_last);
                lp->changed_last = t;
                lp->changed_init = true;
                return jv_bool(true);
            }
            junref(c, t);
            return jv_bool(false);
        }
    }
    if (self.t == JV_CYCLER) {
        jcycler *cy = (jcycler *)self.u.o;
        if (m == M_NEXT) {
            jv r = jref(JL(cy->items)->v[cy->pos]);
            cy->pos = (cy->pos + 1) % (int64_t)JL(cy->items)->n;
            return r;
        }
        if (m == M_RESET) { cy->pos = 0; return jv_none(); }
    }
    jfail(c, LLMC_ERR_TEMPLATE, "'%s' object has no attribute '%s'", jv_type_name(self), mname);
}

/* ---------------------------------------------------------------- global functions */

jv jcall_func(jctx *c, jscope *s, int fn, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    A a = { args, nargs, kwn, kwv, nkw };
    (void)s;
    switch (fn) {
    case FN_RANGE: {
        int64_t start = 0, stop, step = 1;
        if (nargs == 1) stop = arg_int(c, &a, 0, "stop", 0);
        else if (nargs >= 2) { start = arg_int(c, &a, 0, "start", 0); stop = arg_int(c, &a, 1, "stop", 0); step = nargs > 2 ? arg_int(c, &a, 2, "step", 1) : 1; }
        else jfail(c, LLMC_ERR_TEMPLATE, "range expected at least 1 argument, got 0");
        if (step == 0) jfail(c, LLMC_ERR_TEMPLATE, "range() arg 3 must not be zero");
        int64_t cnt = 0;
        if (step > 0 && start < stop) cnt = (int64_t)(((__int128)stop - start - 1) / step + 1);
        else if (step < 0 && start > stop) cnt = (int64_t)(((__int128)start - stop - 1) / -(__int128)step + 1);
        if (cnt > 100000 || (size_t)cnt > c->max_items)
            jfail(c, LLMC_ERR_RANGE, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        jstep(c, (unsigned long long)cnt);
        jv l = jlist_new(c, (size_t)cnt);
        for (int64_t i = 0; i < cnt; i++) jlist_push(c, l, jv_int(start + i * step));
        l.sub = LS_RANGE;
        JL(l)->r0 = start;
        JL(l)->r1 = stop;
        JL(l)->r2 = step;
        return l;
    }
    case FN_NAMESPACE: case FN_DICT: {
        jv d = fn == FN_NAMESPACE ? jns_new(c) : jdict_new(c);
        for (int i = 0; i < nargs; i++) {
            jv src = args[i];
            if (src.t == JV_DICT || src.t == JV_NS) {
                for (size_t k = 0; k < JD(src)->n; k++) jdict_set(c, d, jref(JD(src)->k[k]), jref(JD(src)->v[k]));
            } else if (src.t == JV_LIST || src.t == JV_TUPLE) {
                for (size_t k = 0; k < JL(src)->n; k++) {
                    jv pr = JL(src)->v[k];
                    if ((pr.t != JV_LIST && pr.t != JV_TUPLE) || JL(pr)->n != 2)
                        jfail(c, LLMC_ERR_TEMPLATE, "dictionary update sequence element #%zu has wrong length", k);
                    jdict_set(c, d, jref(JL(pr)->v[0]), jref(JL(pr)->v[1]));
                }
            } else if (src.t != JV_UNDEF || i > 0) {
                jfail(c, LLMC_ERR_TEMPLATE, "'%s' object is not iterable", jv_type_name(src));
            }
        }
        for (int i = 0; i < nkw; i++) {
            if (fn == FN_NAMESPACE && kwn[i][0] == '_')
                jfail(c, LLMC_ERR_TEMPLATE, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '%s'", kwn[i]);
            jdict_set(c, d, jstr_cstr(c, kwn[i]), jref(kwv[i]));
        }
        return d;
    }
    case FN_RAISE: {
        jv m = argd(&a, 0, "message", jv_undef());
        jbuf *b = jbuf_new(c);
        jv_to_str(c, m, b);
        /* the message reaches the caller verbatim, as Python's TemplateError(message) */
        llmc_err(c->err, LLMC_ERR_TEMPLATE, "%s", b->s ? b->s : "");
        longjmp(*c->jb, 1);
    }
    case FN_STRFTIME: {
        jv f = argd(&a, 0, "format", jv_undef());
        jstr *fs = need_str(c, f, "strftime_now format");
        if (fs->len > 256) jfail(c, LLMC_ERR_TEMPLATE, "strftime_now format too long");
        time_t now = c->now ? (time_t)c->now : time(NULL);
        struct tm tmv;
        if (c->now) gmtime_r(&now, &tmv);
        else localtime_r(&now, &tmv);
        char out[2048];
        size_t n = fs->len ? strftime(out, sizeof out, fs->s, &tmv) : 0;
        return jstr_new(c, out, n);
    }
    case FN_CYCLER: {
        if (!nargs) jfail(c, LLMC_ERR_TEMPLATE, "at least one item has to be provided");
        jcycler *cy = jobj_new(c, sizeof *cy, JO_CYCLER);
        cy->items = jlist_new(c, (size_t)nargs);
        for (int i = 0; i < nargs; i++) jlist_push(c, cy->items, jref(args[i]));
        return jv_obj(JV_CYCLER, cy);
    }
    case FN_JOINER: {
        jcycler *cy = jobj_new(c, sizeof *cy, JO_CYCLER);
        cy->items = jlist_new(c, 1);
        jv sep = argd(&a, 0, "sep", jv_undef());
        jlist_push(c, cy->items, sep.t == JV_UNDEF ? jstr_cstr(c, ", ") : jv_str(c, sep));
        return jv_obj(JV_JOINER, cy);
    }
    default:
        jfail(c, LLMC_ERR_UNSUPPORTED, "'%s' is not supported", jfunc_names[fn]);
    }
}

/* joiner objects are called directly */
jv jcall_joiner(jctx *c, jv j);
jv jcall_joiner(jctx *c, jv j) {
    jcycler *cy = (jcycler *)j.u.o;
    if (!cy->pos) { cy->pos = 1; return jstr_new(c, "", 0); }
    return jref(JL(cy->items)->v[0]);
}

/* ---------------------------------------------------------------- tests */

enum {
    T_DEFINED, T_UNDEFINED, T_NONE, T_STRING, T_NUMBER, T_INTEGER, T_FLOAT, T_MAPPING, T_ITERABLE, T_SEQUENCE,
    T_BOOLEAN, T_TRUE, T_FALSE, T_EVEN, T_ODD, T_DIVISIBLEBY, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_IN, T_SAMEAS,
    T_CALLABLE, T_LOWER, T_UPPER, T_ESCAPED, T_FILTER, T_TEST
};
static const struct { const char *name; int id; } tests[] = {
    { "defined", T_DEFINED }, { "undefined", T_UNDEFINED }, { "none", T_NONE }, { "string", T_STRING },
    { "number", T_NUMBER }, { "integer", T_INTEGER }, { "float", T_FLOAT }, { "mapping", T_MAPPING },
    { "iterable", T_ITERABLE }, { "sequence", T_SEQUENCE }, { "boolean", T_BOOLEAN }, { "true", T_TRUE },
    { "false", T_FALSE }, { "even", T_EVEN }, { "odd", T_ODD }, { "divisibleby", T_DIVISIBLEBY },
    { "equalto", T_EQ }, { "eq", T_EQ }, { "==", T_EQ }, { "ne", T_NE }, { "!=", T_NE }, { "lt", T_LT },
    { "lessthan", T_LT }, { "<", T_LT }, { "le", T_LE }, { "<=", T_LE }, { "gt", T_GT }, { "greaterthan", T_GT },
    { ">", T_GT }, { "ge", T_GE }, { ">=", T_GE }, { "in", T_IN }, { "sameas", T_SAMEAS }, { "callable", T_CALLABLE },
    { "lower", T_LOWER }, { "upper", T_UPPER }, { "escaped", T_ESCAPED }, { "filter", T_FILTER }, { "test", T_TEST },
    { NULL, 0 } };

int jtest_lookup(const char *name) {
    for (int i = 0; tests[i].name; i++) if (strcmp(tests[i].name, name) == 0) return tests[i].id;
    return -1;
}

static jv need_arg(jctx *c, jv *args, int nargs, const char *test) {
    if (nargs < 1) jfail(c, LLMC_ERR_TEMPLATE, "test '%s' needs an argument", test);
    return args[0];
}

bool jtest_apply(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs) {
    (void)s;
    switch (id) {
    case T_DIVISIBLEBY: case T_EQ: case T_NE: case T_LT: case T_LE: case T_GT: case T_GE: case T_IN: case T_SAMEAS:
        if (nargs > 1) jfail(c, LLMC_ERR_TEMPLATE, "test '%s' takes 2 positional arguments but %d were given", name, nargs + 1);
        break;
    default:
        if (nargs > 0) jfail(c, LLMC_ERR_TEMPLATE, "test '%s' takes 1 positional argument but %d were given", name, nargs + 1);
    }
    switch (id) {
    case T_DEFINED: return v.t != JV_UNDEF;
    case T_UNDEFINED: return v.t == JV_UNDEF;
    case T_NONE: return v.t == JV_NONE;
    case T_STRING: return v.t == JV_STR;
    case T_NUMBER: return isnum(v);
    case T_INTEGER: return v.t == JV_INT;
    case T_FLOAT: return v.t == JV_FLOAT;
    case T_MAPPING: return v.t == JV_DICT;
    case T_ITERABLE: return v.t == JV_STR || v.t == JV_LIST || v.t == JV_TUPLE || v.t == JV_DICT || v.t == JV_UNDEF || v.t == JV_LOOP;
    case T_SEQUENCE: return v.t == JV_STR || (v.t == JV_LIST && (!v.sub || v.sub == LS_RANGE)) || v.t == JV_TUPLE || v.t == JV_DICT || v.t == JV_UNDEF;
    case T_BOOLEAN: return v.t == JV_BOOL;
    case T_TRUE: return v.t == JV_BOOL && v.u.i;
    case T_FALSE: return v.t == JV_BOOL && !v.u.i;
    case T_EVEN: case T_ODD: case T_DIVISIBLEBY: {
        if (v.t == JV_UNDEF) jfail_undef(c, v);
        if (!isnum(v)) jfail(c, LLMC_ERR_TEMPLATE, "unsupported operand type(s) for %%: '%s' and 'int'", jv_type_name(v));
        if (id == T_DIVISIBLEBY) {
            jv d = need_arg(c, args, nargs, name);
            if (!isnum(d)) jfail(c, LLMC_ERR_TEMPLATE, "divisibleby needs a number");
            if (v.t == JV_FLOAT || d.t == JV_FLOAT) { if (fnum(d) == 0) jfail(c, LLMC_ERR_TEMPLATE, "float modulo"); return fmod(fnum(v), fnum(d)) == 0; }
            if (d.u.i == 0) jfail(c, LLMC_ERR_TEMPLATE, "integer division or modulo by zero");
            return d.u.i == -1 || v.u.i % d.u.i == 0;
        }
        if (v.t == JV_FLOAT) { double m = fmod(v.u.f, 2.0); if (m < 0) m += 2.0; return id == T_EVEN ? m == 0 : m == 1; }
        return id == T_EVEN ? (v.u.i % 2 == 0) : (v.u.i % 2 != 0);
    }
    case T_EQ: return jv_eq(c, v, need_arg(c, args, nargs, name));
    case T_NE: return !jv_eq(c, v, need_arg(c, args, nargs, name));
    case T_LT: return jv_cmp(c, v, need_arg(c, args, nargs, name)) < 0;
    case T_LE: return jv_cmp(c, v, need_arg(c, args, nargs, name)) <= 0;
    case T_GT: return jv_cmp(c, v, need_arg(c, args, nargs, name)) > 0;
    case T_GE: return jv_cmp(c, v, need_arg(c, args, nargs, name)) >= 0;
    case T_IN: {
        jv seq = need_arg(c, args, nargs, name);
        switch (seq.t) {
        case JV_STR:
            if (v.t != JV_STR) jfail(c, LLMC_ERR_TEMPLATE, "'in <string>' requires string as left operand, not %s", jv_type_name(v));
            return memmem(JS(seq)->s, JS(seq)->len, JS(v)->s, JS(v)->len) != NULL || !JS(v)->len;
        case JV_LIST: case JV_TUPLE:
            for (size_t i = 0; i < JL(seq)->n; i++) if (jv_eq(c, JL(seq)->v[i], v)) return true;
            return false;
        case JV_DICT: { jv o; return jdict_get(seq, v, &o); }
        case JV_UNDEF: return false;
        default: jfail(c, LLMC_ERR_TEMPLATE, "argument of type '%s' is not iterable", jv_type_name(seq));
        }
    }
    case T_SAMEAS: {
        jv o = need_arg(c, args, nargs, name);
        if (v.t != o.t) return false;
        if (jv_is_obj(v)) return v.u.o == o.u.o;
        if (v.t == JV_FLOAT) return v.u.f == o.u.f;
        return v.t == JV_NONE || v.t == JV_UNDEF || v.u.i == o.u.i;
    }
    case T_CALLABLE: return v.t == JV_MACRO || v.t == JV_FUNC || v.t == JV_METHOD || v.t == JV_JOINER || v.t == JV_UNDEF || v.t == JV_LOOP;
    case T_LOWER: case T_UPPER: {
        if (v.t != JV_STR) return false;
        jv x = id == T_LOWER ? str_lower(c, JS(v)) : str_upper(c, JS(v));
        bool r = jv_eq(c, x, v);
        junref(c, x);
        return r;
    }
    case T_ESCAPED: return false;
    case T_FILTER: return v.t == JV_STR && jfilter_lookup(JS(v)->s) >= 0;
    case T_TEST: return v.t == JV_STR && jtest_lookup(JS(v)->s) >= 0;
    }
    jfail(c, LLMC_ERR_TEMPLATE, "no test named '%s'", name);
}

/* ---------------------------------------------------------------- filters */

enum {
    F_ABS, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_DEFAULT, F_DICTSORT, F_ESCAPE, F_FIRST, F_FLOAT,
    F_FORMAT, F_GROUPBY, F_INDENT, F_INT, F_ITEMS, F_JOIN, F_LAST, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN,
    F_PPRINT, F_REJECT, F_REJECTATTR, F_REPLACE, F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SLICE,
    F_SORT, F_STRING, F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER, F_WORDCOUNT, F_STRIPTAGS
};
static const struct { const char *name; int id; } filters[] = {
    { "abs", F_ABS }, { "attr", F_ATTR }, { "batch", F_BATCH }, { "capitalize", F_CAPITALIZE }, { "center", F_CENTER },
    { "count", F_COUNT }, { "length", F_COUNT }, { "default", F_DEFAULT }, { "d", F_DEFAULT },
    { "dictsort", F_DICTSORT }, { "escape", F_ESCAPE }, { "e", F_ESCAPE }, { "forceescape", F_ESCAPE },
    { "first", F_FIRST }, { "float", F_FLOAT }, { "format", F_FORMAT }, { "groupby", F_GROUPBY },
    { "indent", F_INDENT }, { "int", F_INT }, { "items", F_ITEMS }, { "join", F_JOIN }, { "last", F_LAST },
    { "list", F_LIST }, { "lower", F_LOWER }, { "map", F_MAP }, { "max", F_MAX }, { "min", F_MIN },
    { "pprint", F_PPRINT }, { "reject", F_REJECT }, { "rejectattr", F_REJECTATTR }, { "replace", F_REPLACE },
    { "reverse", F_REVERSE }, { "round", F_ROUND }, { "safe", F_SAFE }, { "select", F_SELECT },
    { "selectattr", F_SELECTATTR }, { "slice", F_SLICE }, { "sort", F_SORT }, { "string", F_STRING },
    { "sum", F_SUM }, { "title", F_TITLE }, { "tojson", F_TOJSON }, { "trim", F_TRIM }, { "truncate", F_TRUNCATE },
    { "unique", F_UNIQUE }, { "upper", F_UPPER }, { "wordcount", F_WORDCOUNT }, { "striptags", F_STRIPTAGS },
    { NULL, 0 } };

int jfilter_lookup(const char *name) {
    for (int i = 0; filters[i].name; i++) if (strcmp(filters[i].name, name) == 0) return filters[i].id;
    return -1;
}

/* attribute getter as jinja's make_attrgetter: "a.b.0" walks items/attributes */
static jv attr_get(jctx *c, jv item, jv attr) {
    if (attr.t == JV_INT) return jgetitem(c, item, attr);
    jstr *as = need_str(c, attr, "attribute");
    jv cur = jref(item);
    size_t st = 0;
    for (size_t i = 0; i <= as->len; i++) {
        if (i < as->len && as->s[i] != '.') continue;
        const char *part = as->s + st;
        size_t plen = i - st;
        bool digits = plen > 0;
        for (size_t k = 0; k < plen; k++) if (!isdigit((unsigned char)part[k])) digits = false;
        jv key = digits ? jv_int(atoll(part)) : jstr_new(c, part, plen);
        jv nx = jgetitem(c, cur, key);
        junref(c, key);
        junref(c, cur);
        cur = nx;
        st = i + 1;
    }
    return cur;
}

static jv lower_key(jctx *c, jv v, bool case_sensitive) {
    if (!case_sensitive && v.t == JV_STR) return str_lower(c, JS(v));
    return jref(v);
}

/* stable merge sort of a jv array by precomputed keys */
static void msort(jctx *c, jv *keys, jv *vals, jv *tk, jv *tv, size_t n, bool reverse) {
    if (n < 2) return;
    size_t h = n / 2;
    msort(c, keys, vals, tk, tv, h, reverse);
    msort(c, keys + h, vals + h, tk, tv, n - h, reverse);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int r = jv_cmp(c, keys[j], keys[i]);
        bool take_right = reverse ? r > 0 : r < 0;
        if (take_right) { tk[k] = keys[j]; tv[k++] = vals[j++]; }
        else { tk[k] = keys[i]; tv[k++] = vals[i++]; }
    }
    while (i < h) { tk[k] = keys[i]; tv[k++] = vals[i++]; }
    while (j < n) { tk[k] = keys[j]; tv[k++] = vals[j++]; }
    memcpy(keys, tk, n * sizeof(jv));
    memcpy(vals, tv, n * sizeof(jv));
}

static jv sorted_by(jctx *c, jv items /* list, borrowed */, jv keys /* list, borrowed */, bool reverse) {
    size_t n = JL(items)->n;
    jv tmp = jlist_new(c, n * 2 + 1);
    jv kk = jlist_new(c, n), vv = jlist_new(c, n);
    for (size_t i = 0; i < n; i++) { jlist_push(c, kk, jref(JL(keys)->v[i])); jlist_push(c, vv, jref(JL(items)->v[i])); }
    for (size_t i = 0; i < n * 2; i++) jlist_push(c, tmp, jv_none());
    jstep(c, n * 4);
    msort(c, JL(kk)->v, JL(vv)->v, JL(tmp)->v, JL(tmp)->v + n, n, reverse);
    JL(tmp)->n = 0;
    junref(c, tmp);
    junref(c, kk);
    return vv;
}

static jv select_impl(jctx *c, jscope *s, jv seq, const A *a, bool attr_mode, bool want) {
    jv l = jiter_list(c, seq);
    jv out = jlist_new(c, JL(l)->n);
    int ti = attr_mode ? 1 : 0;
    jv attr = attr_mode ? argd(a, 0, "attribute", jv_undef()) : jv_undef();
    jv tname = argd(a, ti, NULL, jv_undef());
    int tid = -1;
    if (tname.t == JV_STR) {
        tid = jtest_lookup(JS(tname)->s);
        if (tid < 0) jfail(c, LLMC_ERR_TEMPLATE, "no test named '%s'", JS(tname)->s);
    }
    for (size_t i = 0; i < JL(l)->n; i++) {
        jstep(c, 1);
        jv item = JL(l)->v[i];
        jv x = attr_mode ? attr_get(c, item, attr) : jref(item);
        bool r = tid >= 0 ? jtest_apply(c, s, tid, JS(tname)->s, x, a->args + ti + 1, a->nargs > ti + 1 ? a->nargs - ti - 1 : 0)
                          : jv_truthy(x);
        junref(c, x);
        if (r == want) jlist_push(c, out, jref(item));
    }
    junref(c, l);
    return out;
}

static void do_indent(jctx *c, jbuf *b, jstr *s, jv width, bool first, bool blank) {
    const char *ind = "    ";
    size_t il = 4;
    char spaces[256];
    if (width.t == JV_STR) { ind = JS(width)->s; il = JS(width)->len; }
    else if (width.t == JV_INT || width.t == JV_BOOL) {
        int64_t w = width.u.i < 0 ? 0 : width.u.i;
        if (w > 200) w = 200;
        memset(spaces, ' ', (size_t)w);
        ind = spaces;
        il = (size_t)w;
    }
    /* s + "\n" then splitlines (jinja's quirk), joined back with "\n" */
    jbuf *tmpb = jbuf_new(c);
    jbuf_add(c, tmpb, s->s, s->len);
    jbuf_addc(c, tmpb, '\n');
    jstr tmps = { .s = tmpb->s, .len = tmpb->len, .ncp = -1 };
    jv lines = str_splitlines(c, &tmps, false);
    if (first) jbuf_add(c, b, ind, il);
    for (size_t i = 0; i < JL(lines)->n; i++) {
        jstr *ln = JS(JL(lines)->v[i]);
        if (i) {
            jbuf_addc(c, b, '\n');
            if (blank || ln->len) jbuf_add(c, b, ind, il);
        }
        jbuf_add(c, b, ln->s, ln->len);
    }
    junref(c, lines);
    jbuf_free(c, tmpb);
}

static double round_half_even_digits(double x, int64_t prec) {
    if (prec > 300 || isnan(x) || isinf(x)) return x;
    if (prec < -308) return copysign(0.0, x);
    char buf[512];
    if (prec < 0) {
        double p = pow(10.0, (double)-prec);
        double y = x / p;
        double r = nearbyint(y);
        return r * p;
    }
    snprintf(buf, sizeof buf, "%.*f", (int)prec, x);
    return strtod(buf, NULL);
}

static bool py_parse_int(const char *s, size_t len, int base, int64_t *out) {
    size_t i = 0;
    while (i < len && isspace((unsigned char)s[i])) i++;
    while (len > i && isspace((unsigned char)s[len - 1])) len--;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (base == 0 || base == 16 || base == 8 || base == 2) {
        if (i + 1 < len && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && (base == 0 || base == 16)) { base = 16; i += 2; }
        else if (i + 1 < len && s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O') && (base == 0 || base == 8)) { base = 8; i += 2; }
        else if (i + 1 < len && s[i] == '0' && (s[i + 1] == 'b' || s[i + 1] == 'B') && (base == 0 || base == 2)) { base = 2; i += 2; }
        else if (base == 0) base = 10;
    }
    if (i >= len) return false;
    uint64_t v = 0;
    bool any = false;
    for (; i < len; i++) {
        char ch = s[i];
        if (ch == '_' && any && i + 1 < len && s[i + 1] != '_') continue;
        int d = isdigit((unsigned char)ch) ? ch - '0' : isalpha((unsigned char)ch) ? tolower((unsigned char)ch) - 'a' + 10 : 99;
        if (d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return false;
        v = v * (uint64_t)base + (uint64_t)d;
        any = true;
    }
    if (!any || v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool py_parse_float(const char *s, size_t len, double *out) {
    char buf[128];
    size_t i = 0;
    while (i < len && isspace((unsigned char)s[i])) i++;
    while (len > i && isspace((unsigned char)s[len - 1])) len--;
    if (len - i == 0 || len - i >= sizeof buf) return false;
    size_t o = 0;
    for (size_t k = i; k < len; k++) if (s[k] != '_') buf[o++] = s[k];
    buf[o] = 0;
    /* reject hex floats and other strtod extensions Python refuses */
    for (size_t k = 0; k < o; k++) if (buf[k] == 'x' || buf[k] == 'X') return false;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (*end) return false;
    *out = d;
    return true;
}

static jv to_list_or_str_rev(jctx *c, jv v) {
    if (v.t == JV_STR) {
        jstr *s = JS(v);
        jbuf *b = jbuf_new(c);
        size_t e = s->len;
        while (e > 0) {
            size_t k = e - 1;
            while (k > 0 && ((unsigned char)s->s[k] & 0xC0) == 0x80) k--;
            jbuf_add(c, b, s->s + k, e - k);
            e = k;
        }
        return jstr_take_buf(c, b);
    }
    jv l = jiter_list(c, v);
    jv r = jlist_new(c, JL(l)->n);
    for (size_t i = JL(l)->n; i-- > 0;) jlist_push(c, r, jref(JL(l)->v[i]));
    junref(c, l);
    return r;
}

jv jhtml_escape(jctx *c, jv v) {
    if (v.t == JV_STR && v.sub == JS_MARKUP) return jref(v);
    jv sv = jv_str(c, v);
    jstr *s = JS(sv);
    jbuf *b = jbuf_new(c);
    for (size_t i = 0; i < s->len; i++) {
        switch (s->s[i]) {
        case '&': jbuf_adds(c, b, "&amp;"); break;
        case '<': jbuf_adds(c, b, "&lt;"); break;
        case '>': jbuf_adds(c, b, "&gt;"); break;
        case '"': jbuf_adds(c, b, "&#34;"); break;
        case '\'': jbuf_adds(c, b, "&#39;"); break;
        default: jbuf_addc(c, b, s->s[i]);
        }
    }
    junref(c, sv);
    jv r = jstr_take_buf(c, b);
    r.sub = JS_MARKUP;
    return r;
}

static jv filter_impl(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw);

jv jfilter_apply(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    jcheck_stack(c); /* map('map', 'map', ...) recurses once per argument */
    jv r = filter_impl(c, s, id, name, v, args, nargs, kwn, kwv, nkw);
    if (r.t != JV_LIST) return r;
    /* jinja2 returns generators from these (truthy even when empty, no len(), not subscriptable) */
    switch (id) {
    case F_SELECT: case F_REJECT: case F_SELECTATTR: case F_REJECTATTR: case F_MAP: case F_BATCH: case F_SLICE:
    case F_UNIQUE: case F_ITEMS:
        r.sub = LS_GEN;
        break;
    case F_REVERSE: r.sub = LS_REVITER; break;
    default: break;
    }
    return r;
}

/* Filters in four groups (each a switch over its own ids), so that no function runs to hundreds of
 * lines; a group answers NOT_HANDLED for the ids it does not hold. */

/* abs .. format */
static jv filters_a_to_f(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    A a = { args, nargs, kwn, kwv, nkw };
    switch (id) {
    case F_ABS:
        if (v.t == JV_FLOAT) return jv_float(fabs(v.u.f));
        if (v.t == JV_INT || v.t == JV_BOOL) {
            if (v.u.i == INT64_MIN) jfail(c, LLMC_ERR_RANGE, "integer overflow");
            return jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
        }
        if (v.t == JV_UNDEF) jfail_undef(c, v);
        jfail(c, LLMC_ERR_TEMPLATE, "bad operand type for abs(): '%s'", jv_type_name(v));
    case F_ATTR: {
        jv nm = argd(&a, 0, "name", jv_undef());
        jstr *ns = need_str(c, nm, "attribute name");
        if (v.t == JV_UNDEF) jfail_undef(c, v);
        if (ns->len && ns->s[0] == '_') { jv u = jv_undef(); u.sub = UNDEF_UNSAFE; u.aux = keep_name(c, ns->s, ns->len); return u; }
        if (v.t == JV_DICT) {
            int m = jmethod_lookup(v, ns->s, ns->len);
            if (m >= 0) return jgetattr(c, v, ns->s, ns->len, true);
            return undef_attr(c, v, ns->s, ns->len, true);
        }
        return jgetattr(c, v, ns->s, ns->len, true);
    }
    case F_BATCH: {
        int64_t n = arg_int(c, &a, 0, "linecount", 1);
        if (n <= 0) jfail(c, LLMC_ERR_TEMPLATE, "batch size must be positive");
        jv fill = argd(&a, 1, "fill_with", jv_none());
        bool has_fill = fill.t != JV_NONE;
        jv l = jiter_list(c, v);
        jv out = jlist_new(c, 0), cur = JV_MK(JV_NONE);
        for (size_t i = 0; i < JL(l)->n; i++) {
            if (cur.t == JV_NONE) cur = jlist_new(c, (size_t)n);
            jlist_push(c, cur, jref(JL(l)->v[i]));
            if ((int64_t)JL(cur)->n == n) { jlist_push(c, out, cur); cur = JV_MK(JV_NONE); }
        }
        if (cur.t != JV_NONE) {
            if (has_fill) while ((int64_t)JL(cur)->n < n) jlist_push(c, cur, jref(fill));
            jlist_push(c, out, cur);
        }
        junref(c, l);
        return out;
    }
    case F_CAPITALIZE: { jv sv = jv_str(c, v); jv r = str_capitalize(c, JS(sv)); junref(c, sv); return r; }
    case F_CENTER: {
        jv sv = jv_str(c, v);
        jv w = jv_int(arg_int(c, &a, 0, "width", 80));
        jv r = jcall_method(c, sv, M_CENTER, "center", &w, 1, NULL, NULL, 0);
        junref(c, sv);
        return r;
    }
    case F_COUNT:
        switch (v.t) {
        case JV_STR: return jv_int((int64_t)jstr_ncp(JS(v)));
        case JV_LIST: case JV_TUPLE:
            if (v.t == JV_LIST && jls_iterator(v.sub)) jfail(c, LLMC_ERR_TEMPLATE, "object of type '%s' has no len()", jv_type_name(v));
            return jv_int((int64_t)JL(v)->n);
        case JV_DICT: case JV_NS: return jv_int((int64_t)JD(v)->n);
        case JV_UNDEF: return jv_int(0);
        case JV_LOOP: return jv_int(((jloop *)v.u.o)->n);
        default: jfail(c, LLMC_ERR_TEMPLATE, "object of type '%s' has no len()", jv_type_name(v));
        }
    case F_DEFAULT: {
        jv d = argd(&a, 0, "default_value", jv_undef());
        bool boolean = arg_bool(&a, 1, "boolean", false);
        if (v.t == JV_UNDEF || (boolean && !jv_truthy(v))) return d.t == JV_UNDEF && !arg(&a, 0, "default_value", &d) ? jstr_new(c, "", 0) : jref(d);
        return jref(v);
    }
    case F_DICTSORT: {
        if (v.t == JV_UNDEF) jfail_undef(c, v);
        if (v.t != JV_DICT) jfail(c, LLMC_ERR_TEMPLATE, "dictsort expects a mapping, got %s", jv_type_name(v));
        bool cs = arg_bool(&a, 0, "case_sensitive", false);
        jv by = argd(&a, 1, "by", jv_undef());
        bool by_value = by.t == JV_STR && strcmp(JS(by)->s, "value") == 0;
        if (by.t == JV_STR && !by_value && strcmp(JS(by)->s, "key") != 0) jfail(c, LLMC_ERR_TEMPLATE, "You can only sort by either \"key\" or \"value\"");
        bool rev = arg_bool(&a, 2, "reverse", false);
        jdict *d = JD(v);
        jv items = jlist_new(c, d->n), keys = jlist_new(c, d->n);
        for (size_t i = 0; i < d->n; i++) {
            jv t = jtuple_new(c, 2);
            jlist_push(c, t, jref(d->k[i]));
            jlist_push(c, t, jref(d->v[i]));
            jlist_push(c, items, t);
            jlist_push(c, keys, lower_key(c, by_value ? d->v[i] : d->k[i], cs));
        }
        jv r = sorted_by(c, items, keys, rev);
        junref(c, items);
        junref(c, keys);
        return r;
    }
    case F_ESCAPE: return jhtml_escape(c, v);
    case F_FIRST: case F_LAST: {
        if (v.t == JV_UNDEF) { jv u = jv_undef(); u.sub = UNDEF_PLAIN; return u; }
        if (id == F_LAST && v.t == JV_LIST && jls_iterator(v.sub)) jfail(c, LLMC_ERR_TEMPLATE, "'%s' object is not reversible", jv_type_name(v));
        jv l = jiter_list(c, v);
        jv r;
        if (!JL(l)->n) { r = jv_undef(); r.sub = UNDEF_PLAIN; }
        else r = jref(JL(l)->v[id == F_FIRST ? 0 : JL(l)->n - 1]);
        junref(c, l);
        return r;
    }
    case F_FLOAT: {
        jv d = argd(&a, 0, "default", jv_float(0.0));
        if (v.t == JV_UNDEF) jfail_undef(c, v);
        if (v.t == JV_FLOAT) return v;
        if (v.t == JV_INT || v.t == JV_BOOL) return jv_float((double)v.u.i);
        if (v.t == JV_STR) { double f; if (py_parse_float(JS(v)->s, JS(v)->len, &f)) return jv_float(f); }
        return jref(d);
    }
    case F_FORMAT: {
        jv sv = jv_str(c, v);
        jv r;
        if (nkw) {
            jv d = jdict_new(c);
            for (int i = 0; i < nkw; i++) jdict_set(c, d, jstr_cstr(c, kwn[i]), jref(kwv[i]));
            r = jpy_percent_format(c, sv, d);
            junref(c, d);
        } else {
            jv t = jtuple_new(c, (size_t)nargs);
            for (int i = 0; i < nargs; i++) jlist_push(c, t, jref(args[i]));
            r = jpy_percent_format(c, sv, t);
            junref(c, t);
        }
        junref(c, sv);
        return r;
    }
    default: break;
    }
    return NOT_HANDLED;
}

/* groupby .. pprint */
static jv filters_g_to_p(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    A a = { args, nargs, kwn, kwv, nkw };
    switch (id) {
    case F_GROUPBY: {
        jv attr = argd(&a, 0, "attribute", jv_undef());
        jv def = argd(&a, 1, "default", jv_undef());
        bool cs = arg_bool(&a, 2, "case_sensitive", false);
        jv l = jiter_list(c, v);
        jv keys = jlist_new(c, JL(l)->n), raw = jlist_new(c, JL(l)->n);
        for (size_t i = 0; i < JL(l)->n; i++) {
            jv k = attr_get(c, JL(l)->v[i], attr);
            if (k.t == JV_UNDEF && def.t != JV_UNDEF) { k = jref(def); }
            jlist_push(c, keys, lower_key(c, k, cs));
            jlist_push(c, raw, k);
        }
        /* sort items and their raw keys together */
        jv pairs = jlist_new(c, JL(l)->n);
        for (size_t i = 0; i < JL(l)->n; i++) {
            jv t = jtuple_new(c, 2);
            jlist_push(c, t, jref(JL(raw)->v[i]));
            jlist_push(c, t, jref(JL(l)->v[i]));
            jlist_push(c, pairs, t);
        }
        jv sorted = sorted_by(c, pairs, keys, false);
        jv out = jlist_new(c, 0);
        jv curk = JV_MK(JV_UNDEF), curl = JV_MK(JV_NONE);
        for (size_t i = 0; i < JL(sorted)->n; i++) {
            jv pr = JL(sorted)->v[i];
            jv k = JL(pr)->v[0];
            jv lk = lower_key(c, k, cs);
            bool same = curl.t != JV_NONE && jv_eq(c, lk, curk);
            if (!same) {
                junref(c, curk);
                curk = jref(lk);
                curl = jlist_new(c, 0);
                jv g = jtuple_new(c, 2);
                jlist_push(c, g, jref(k));
                jlist_push(c, g, curl);
                jlist_push(c, out, g);
            }
            junref(c, lk);
            jlist_push(c, curl, jref(JL(pr)->v[1]));
        }
        junref(c, curk);
        junref(c, sorted); junref(c, pairs); junref(c, keys); junref(c, raw); junref(c, l);
        return out;
    }
    case F_INDENT: {
        if (v.t == JV_UNDEF) jfail_undef(c, v); /* jinja2 does `s += "\n"` on it */
        jv sv = jv_str(c, v);
        jbuf *b = jbuf_new(c);
        do_indent(c, b, JS(sv), argd(&a, 0, "width", jv_int(4)), arg_bool(&a, 1, "first", false), arg_bool(&a, 2, "blank", false));
        junref(c, sv);
        return jstr_take_buf(c, b);
    }
    case F_INT: {
        jv d = argd(&a, 0, "default", jv_int(0));
        int64_t base = arg_int(c, &a, 1, "base", 10);
        if (v.t == JV_UNDEF) jfail_undef(c, v);
        if (v.t == JV_INT || v.t == JV_BOOL) return jv_int(v.u.i);
        if (v.t == JV_FLOAT) { if (isnan(v.u.f) || isinf(v.u.f) || fabs(v.u.f) >= 9.2e18) return jref(d); return jv_int((int64_t)v.u.f); }
        if (v.t == JV_STR) {
            int64_t i;
            if (py_parse_int(JS(v)->s, JS(v)->len, (int)base, &i)) return jv_int(i);
            double f;
            if (py_parse_float(JS(v)->s, JS(v)->len, &f) && !isnan(f) && !isinf(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
        }
        return jref(d);
    }
    case F_ITEMS:
        if (v.t == JV_UNDEF) return jlist_new(c, 0);
        if (v.t != JV_DICT) jfail(c, LLMC_ERR_TEMPLATE, "Can only get item pairs from a mapping.");
        return jcall_method(c, v, M_ITEMS, "items", NULL, 0, NULL, NULL, 0);
    case F_JOIN: {
        jv d = argd(&a, 0, "d", jv_undef());
        jv attr = argd(&a, 1, "attribute", jv_undef());
        jv l = jiter_list(c, v);
        jbuf *b = jbuf_new(c);
        for (size_t i = 0; i < JL(l)->n; i++) {
            jstep(c, 1);
            if (i && d.t != JV_UNDEF) jv_to_str(c, d, b);
            if (attr.t != JV_UNDEF) { jv x = attr_get(c, JL(l)->v[i], attr); jv_to_str(c, x, b); junref(c, x); }
            else jv_to_str(c, JL(l)->v[i], b);
        }
        junref(c, l);
        return jstr_take_buf(c, b);
    }
    case F_LIST: {
        jv l = jiter_list(c, v);
        jv r = jlist_new(c, JL(l)->n);
        for (size_t i = 0; i < JL(l)->n; i++) jlist_push(c, r, jref(JL(l)->v[i]));
        junref(c, l);
        return r;
    }
    case F_LOWER: { jv sv = jv_str(c, v); jv r = str_lower(c, JS(sv)); junref(c, sv); return r; }
    case F_UPPER: { jv sv = jv_str(c, v); jv r = str_upper(c, JS(sv)); junref(c, sv); return r; }
    case F_TITLE: { jv sv = jv_str(c, v); jv r = str_jtitle(c, JS(sv)); junref(c, sv); return r; }
    case F_MAP: {
        jv l = jiter_list(c, v);
        jv out = jlist_new(c, JL(l)->n);
        jv attr;
        if (nargs == 0 && arg(&a, -1, "attribute", &attr)) {
            jv def = argd(&a, -1, "default", jv_undef());
            for (size_t i = 0; i < JL(l)->n; i++) {
                jstep(c, 1);
                jv x = attr_get(c, JL(l)->v[i], attr);
                if (x.t == JV_UNDEF && def.t != JV_UNDEF) { x = jref(def); }
                jlist_push(c, out, x);
            }
        } else {
            if (nargs < 1) jfail(c, LLMC_ERR_TEMPLATE, "map requires a filter argument");
            jstr *fname = need_str(c, args[0], "map filter name");
            int fid = jfilter_lookup(fname->s);
            if (fid < 0) jfail(c, LLMC_ERR_TEMPLATE, "no filter named '%s'", fname->s);
            for (size_t i = 0; i < JL(l)->n; i++)
                jlist_push(c, out, jfilter_apply(c, s, fid, fname->s, JL(l)->v[i], args + 1, nargs - 1, kwn, kwv, nkw));
        }
        junref(c, l);
        return out;
    }
    case F_MAX: case F_MIN: {
        bool cs = arg_bool(&a, 0, "case_sensitive", false);
        jv attr = argd(&a, 1, "attribute", jv_undef());
        jv l = jiter_list(c, v);
        if (!JL(l)->n) { junref(c, l); jv u = jv_undef(); u.sub = UNDEF_PLAIN; return u; }
        size_t best = 0;
        jv bk = JV_MK(JV_NONE);
        for (size_t i = 0; i < JL(l)->n; i++) {
            jv x = attr.t != JV_UNDEF ? attr_get(c, JL(l)->v[i], attr) : jref(JL(l)->v[i]);
            jv k = lower_key(c, x, cs);
            junref(c, x);
            if (i == 0) { bk = k; continue; }
            int r = jv_cmp(c, k, bk);
            if (id == F_MAX ? r > 0 : r < 0) { junref(c, bk); bk = k; best = i; }
            else junref(c, k);
        }
        junref(c, bk);
        jv r = jref(JL(l)->v[best]);
        junref(c, l);
        return r;
    }
    case F_PPRINT: { jbuf *b = jbuf_new(c); jv_repr(c, v, b); return jstr_take_buf(c, b); }
    default: break;
    }
    return NOT_HANDLED;
}

/* select .. tojson */
static jv filters_r_to_t(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    A a = { args, nargs, kwn, kwv, nkw };
    switch (id) {
    case F_SELECT: return select_impl(c, s, v, &a, false, true);
    case F_REJECT: return select_impl(c, s, v, &a, false, false);
    case F_SELECTATTR: return select_impl(c, s, v, &a, true, true);
    case F_REJECTATTR: return select_impl(c, s, v, &a, true, false);
    case F_REPLACE: {
        jv sv = jv_str(c, v);
        jv o = argd(&a, 0, "old", jv_undef()), n = argd(&a, 1, "new", jv_undef());
        jv os = jv_str(c, o), ns = jv_str(c, n);
        jv r = str_replace(c, JS(sv), JS(os), JS(ns), arg_int(c, &a, 2, "count", -1));
        junref(c, sv); junref(c, os); junref(c, ns);
        return r;
    }
    case F_REVERSE: return to_list_or_str_rev(c, v);
    case F_ROUND: {
        int64_t prec = arg_int(c, &a, 0, "precision", 0);
        jv mv = argd(&a, 1, "method", jv_undef());
        const char *method = mv.t == JV_STR ? JS(mv)->s : "common";
        if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
            jfail(c, LLMC_ERR_TEMPLATE, "method must be common, ceil or floor");
        if (!isnum(v)) { if (v.t == JV_UNDEF) jfail_undef(c, v); jfail(c, LLMC_ERR_TEMPLATE, "type %s doesn't define __round__ method", jv_type_name(v)); }
        if (!strcmp(method, "common")) {
            if (v.t != JV_FLOAT) {
                if (prec >= 0) return jv_int(v.u.i);
                double r = round_half_even_digits((double)v.u.i, prec);
                if (!(fabs(r) < 9.2e18)) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)");
                return jv_int((int64_t)r);
            }
            return jv_float(round_half_even_digits(v.u.f, prec));
        }
        double p = pow(10.0, (double)prec);
        double x = fnum(v) * p;
        double r = !strcmp(method, "ceil") ? ceil(x) : floor(x);
        return jv_float(r / p);
    }
    case F_SAFE: {
        if (v.t == JV_STR) { jv r = jref(v); r.sub = JS_MARKUP; return r; }
        jv r = jv_str(c, v);
        r.sub = JS_MARKUP;
        return r;
    }
    case F_SLICE: {
        int64_t n = arg_int(c, &a, 0, "slices", 1);
        if (n <= 0 || n > 100000) jfail(c, LLMC_ERR_TEMPLATE, "slices must be a positive number");
        jv fill = argd(&a, 1, "fill_with", jv_none());
        jv l = jiter_list(c, v);
        size_t len = JL(l)->n;
        size_t per = len / (size_t)n, extra = len % (size_t)n, off = 0;
        jv out = jlist_new(c, (size_t)n);
        for (int64_t k = 0; k < n; k++) {
            size_t st = (size_t)k * per + (k < (int64_t)extra ? (size_t)k : extra);
            size_t en = st + per + (k < (int64_t)extra ? 1 : 0);
            jv part = jlist_new(c, en - st + 1);
            for (size_t i = st; i < en; i++) jlist_push(c, part, jref(JL(l)->v[i]));
            if (fill.t != JV_NONE && (size_t)k >= extra) jlist_push(c, part, jref(fill));
            jlist_push(c, out, part);
            off = en;
        }
        (void)off;
        junref(c, l);
        return out;
    }
    case F_SORT: {
        bool rev = arg_bool(&a, 0, "reverse", false);
        bool cs = arg_bool(&a, 1, "case_sensitive", false);
        jv attr = argd(&a, 2, "attribute", jv_undef());
        jv l = jiter_list(c, v);
        jv keys = jlist_new(c, JL(l)->n);
        for (size_t i = 0; i < JL(l)->n; i++) {
            jv x = attr.t != JV_UNDEF ? attr_get(c, JL(l)->v[i], attr) : jref(JL(l)->v[i]);
            jlist_push(c, keys, lower_key(c, x, cs));
            junref(c, x);
        }
        jv r = sorted_by(c, l, keys, rev);
        junref(c, keys);
        junref(c, l);
        return r;
    }
    case F_STRING: return jv_str(c, v);
    case F_SUM: {
        jv attr = argd(&a, 0, "attribute", jv_undef());
        jv acc = jref(argd(&a, 1, "start", jv_int(0)));
        jv l = jiter_list(c, v);
        for (size_t i = 0; i < JL(l)->n; i++) {
            jv x = attr.t != JV_UNDEF ? attr_get(c, JL(l)->v[i], attr) : jref(JL(l)->v[i]);
            if (!isnum(x) || !isnum(acc)) jfail(c, LLMC_ERR_TEMPLATE, "unsupported operand type(s) for +: '%s' and '%s'", jv_type_name(acc), jv_type_name(x));
            if (acc.t == JV_FLOAT || x.t == JV_FLOAT) acc = jv_float(fnum(acc) + fnum(x));
            else { int64_t r; if (__builtin_add_overflow(acc.u.i, x.u.i, &r)) jfail(c, LLMC_ERR_RANGE, "integer overflow"); acc = jv_int(r); }
        }
        junref(c, l);
        return acc;
    }
    case F_TOJSON: {
        /* transformers' override: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
        bool ensure_ascii = arg_bool(&a, 0, "ensure_ascii", false);
        jv ind = argd(&a, 1, "indent", jv_none());
        jv seps = argd(&a, 2, "separators", jv_none());
        bool sort_keys = arg_bool(&a, 3, "sort_keys", false);
        char spaces[256];
        const char *indent = NULL;
        if (ind.t == JV_INT || ind.t == JV_BOOL) {
            int64_t w = ind.u.i < 0 ? 0 : ind.u.i > 200 ? 200 : ind.u.i;
            memset(spaces, ' ', (size_t)w);
            spaces[w] = 0;
            indent = spaces;
        } else if (ind.t == JV_STR) indent = JS(ind)->s;
        else if (ind.t != JV_NONE) jfail(c, LLMC_ERR_TEMPLATE, "tojson indent must be an int or a string");
        const char *item_sep = indent ? "," : ", ", *key_sep = ": ";
        if (seps.t == JV_LIST || seps.t == JV_TUPLE) {
            if (JL(seps)->n != 2) jfail(c, LLMC_ERR_TEMPLATE, "tojson separators must be a pair");
            item_sep = need_str(c, JL(seps)->v[0], "separator")->s;
            key_sep = need_str(c, JL(seps)->v[1], "separator")->s;
        }
        jbuf *b = jbuf_new(c);
        jv_tojson(c, v, b, indent, item_sep, key_sep, sort_keys, ensure_ascii, 0);
        return jstr_take_buf(c, b);
    }
    default: break;
    }
    return NOT_HANDLED;
}

/* trim .. striptags */
static jv filters_t_to_w(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    A a = { args, nargs, kwn, kwv, nkw };
    switch (id) {
    case F_TRIM: {
        jv sv = jv_str(c, v);
        jv r = str_strip(c, JS(sv), opt_chars(c, &a, 0, "chars"), true, true);
        junref(c, sv);
        return r;
    }
    case F_TRUNCATE: {
        jv sv = jv_str(c, v);
        jstr *st = JS(sv);
        int64_t length = arg_int(c, &a, 0, "length", 255);
        bool killwords = arg_bool(&a, 1, "killwords", false);
        jv endv = argd(&a, 2, "end", jv_undef());
        int64_t leeway = arg_int(c, &a, 3, "leeway", 5);
        const char *end = endv.t == JV_STR ? JS(endv)->s : "...";
        int64_t n = (int64_t)jstr_ncp(st), elen = (int64_t)cp_count(end, strlen(end));
        if (n <= length + leeway) return sv;
        int64_t keep = length - elen;
        if (keep < 0) keep = 0;
        size_t kb = cp_to_byte(st, keep);
        jbuf *b = jbuf_new(c);
        if (killwords) jbuf_add(c, b, st->s, kb);
        else {
            size_t cut = kb;
            while (cut > 0 && st->s[cut - 1] != ' ') cut--;
            if (cut == 0) cut = kb; else cut--; /* rsplit(" ", 1)[0] */
            jbuf_add(c, b, st->s, cut);
        }
        jbuf_adds(c, b, end);
        junref(c, sv);
        return jstr_take_buf(c, b);
    }
    case F_UNIQUE: {
        bool cs = arg_bool(&a, 0, "case_sensitive", false);
        jv attr = argd(&a, 1, "attribute", jv_undef());
        jv l = jiter_list(c, v);
        jv seen = jlist_new(c, 0), out = jlist_new(c, 0);
        for (size_t i = 0; i < JL(l)->n; i++) {
            jv x = attr.t != JV_UNDEF ? attr_get(c, JL(l)->v[i], attr) : jref(JL(l)->v[i]);
            jv k = lower_key(c, x, cs);
            junref(c, x);
            bool dup = false;
            jstep(c, JL(seen)->n / 8 + 1);
            for (size_t j = 0; j < JL(seen)->n && !dup; j++) dup = jv_eq(c, JL(seen)->v[j], k);
            if (dup) { junref(c, k); continue; }
            jlist_push(c, seen, k);
            jlist_push(c, out, jref(JL(l)->v[i]));
        }
        junref(c, seen);
        junref(c, l);
        return out;
    }
    case F_WORDCOUNT: {
        jv sv = jv_str(c, v);
        jstr *st = JS(sv);
        int64_t n = 0;
        bool inw = false;
        for (size_t i = 0; i < st->len;) {
            uint32_t cp;
            i = jutf8_next(st->s, st->len, i, &cp);
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
            bool w = cp == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                     (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO) || cat == UTF8PROC_CATEGORY_MN ||
                     cat == UTF8PROC_CATEGORY_MC;
            if (w && !inw) n++;
            inw = w;
        }
        junref(c, sv);
        return jv_int(n);
    }
    case F_STRIPTAGS: {
        jv sv = jv_str(c, v);
        jstr *st = JS(sv);
        jbuf *b = jbuf_new(c);
        bool intag = false, space = false, any = false;
        for (size_t i = 0; i < st->len; i++) {
            char ch = st->s[i];
            if (ch == '<') { intag = true; continue; }
            if (intag) { if (ch == '>') intag = false; continue; }
            if (isspace((unsigned char)ch)) { space = any; continue; }
            if (space) { jbuf_addc(c, b, ' '); space = false; }
            jbuf_addc(c, b, ch);
            any = true;
        }
        junref(c, sv);
        return jstr_take_buf(c, b);
    }
    default: break;
    }
    return NOT_HANDLED;
}

static jv filter_impl(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    jstep(c, 1);
    static jv (*const groups[])(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) = { filters_a_to_f, filters_g_to_p, filters_r_to_t, filters_t_to_w };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        jv r = groups[g](c, s, id, name, v, args, nargs, kwn, kwv, nkw);
        if (r.t != NOT_HANDLED.t) return r;
    }
    jfail(c, LLMC_ERR_TEMPLATE, "no filter named '%s'", name);
}
