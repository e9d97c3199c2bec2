/* JSON Schema "pattern" (an ECMA-262 regular expression) → a GBNF expression for the
 * content of a JSON string. Supported: literals and escapes, ., [classes] (ranges,
 * negation, \d \w \s inside), \d \w \s \D \W \S, groups ( ) (?: ), alternation |, the
 * quantifiers * + ? {n} {n,} {n,m} (a trailing lazy ? is ignored), ^ at the start and $ at
 * the end (without them the match may have any text around it, as the schema means).
 * The generated strings need no JSON escapes: characters that would (", \, control
 * characters) are left out of classes and `.`; a literal one in the pattern is emitted as
 * its JSON escape. Backreferences, lookaround and \b are refused naming the offset. */
#include "grammar/grm_internal.h"
#include "base/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RX_MAX_LEN   4096
#define RX_MAX_DEPTH 64
#define RX_ANY "[^\"\\\\\\x00-\\x1f]"   /* a JSON string char needing no escape */

typedef struct { const char *s, *p, *end; llmc_strbuf *o; int depth; char err[160]; } rx;

static bool rx_fail(rx *r, const char *what) {
    if (!r->err[0]) snprintf(r->err, sizeof r->err, "%s at offset %d", what, (int)(r->p - r->s));
    return false;
}

typedef struct { uint32_t lo, hi; } rrange;
typedef struct { rrange r[256]; int n; } rset;

static void set_add(rx *x, rset *s, uint32_t lo, uint32_t hi) {
    if (s->n < 256) s->r[s->n++] = (rrange){lo, hi};
    else rx_fail(x, "a character class too long");
}

static int cmp_rr(const void *a, const void *b) {
    const rrange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Writes the class (negated or not) minus the characters a JSON string would escape. */
static void emit_set(rx *x, rset *s, bool neg) {
    qsort(s->r, (size_t)s->n, sizeof *s->r, cmp_rr);
    rset m = {.n = 0};
    for (int i = 0; i < s->n; i++) {
        if (m.n && s->r[i].lo <= m.r[m.n - 1].hi + 1) { if (s->r[i].hi > m.r[m.n - 1].hi) m.r[m.n - 1].hi = s->r[i].hi; }
        else m.r[m.n++] = s->r[i];
    }
    rset c = {.n = 0};
    if (neg) {
        uint32_t next = 0;
        for (int i = 0; i < m.n; i++) {
            if (m.r[i].lo > next) c.r[c.n++] = (rrange){next, m.r[i].lo - 1};
            next = m.r[i].hi + 1;
        }
        if (next <= 0x10FFFF) c.r[c.n++] = (rrange){next, 0x10FFFF};
    } else c = m;
    llmc_strbuf *o = x->o;
    size_t at = o->len;
    llmc_sb_putc(o, '[');
    bool any = false;
    static const uint32_t cut[][2] = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
    for (int i = 0; i < c.n; i++) {
        /* split around the excluded characters */
        uint32_t lo = c.r[i].lo, hi = c.r[i].hi;
        while (lo <= hi) {
            uint32_t end = hi;
            bool skip = false;
            for (int k = 0; k < 3; k++) {
                if (lo >= cut[k][0] && lo <= cut[k][1]) { lo = cut[k][1] + 1; skip = true; break; }
                if (cut[k][0] > lo && cut[k][0] <= end) end = cut[k][0] - 1;
            }
            if (skip) continue;
            llmc_sb_printf(o, "\\U%08X-\\U%08X", lo, end);
            any = true;
            if (end == 0x10FFFF) break;
            lo = end + 1;
        }
    }
    llmc_sb_putc(o, ']');
    if (!any) { o->len = at; o->data[at] = 0; rx_fail(x, "a character class with nothing a JSON string can hold unescaped"); }
}

static bool class_escape(rx *x, char c, rset *s, bool *neg) {
    *neg = c == 'D' || c == 'W' || c == 'S';
    switch (c) {
    case 'd': case 'D': set_add(x, s, '0', '9'); return true;
    case 'w': case 'W': set_add(x, s, 'a', 'z'); set_add(x, s, 'A', 'Z'); set_add(x, s, '0', '9'); set_add(x, s, '_', '_'); return true;
    case 's': case 'S': set_add(x, s, ' ', ' '); return true;   /* the other spaces need JSON escapes */
    }
    return false;
}

/* One code point of the pattern (UTF-8), an escape resolved to its character. */
static bool rx_char(rx *x, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)x->p;
    if (*u == '\\') {
        char c = x->p[1];
        if (!c) return rx_fail(x, "a \\ at the end");
        static const char lit[] = ".\\/-^$|?*+()[]{}\"'";
        if (strchr(lit, c)) { *cp = (uint8_t)c; x->p += 2; return true; }
        if (c == 'n') { *cp = '\n'; x->p += 2; return true; }
        if (c == 't') { *cp = '\t'; x->p += 2; return true; }
        if (c == 'u' || c == 'x') {
            int n = c == 'u' ? 4 : 2;
            uint32_t v = 0;
            for (int i = 0; i < n; i++) {
                char h = x->p[2 + i];
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) return rx_fail(x, "a bad \\u or \\x escape");
                v = v * 16 + (uint32_t)d;
            }
            *cp = v;
            x->p += 2 + n;
            return true;
        }
        return rx_fail(x, "an unsupported escape (backreferences, \\b and the like)");
    }
    int n = *u < 0x80 ? 1 : (*u >> 5) == 6 ? 2 : (*u >> 4) == 14 ? 3 : (*u >> 3) == 30 ? 4 : 0;
    if (!n || x->p + n > x->end) return rx_fail(x, "invalid UTF-8");
    uint32_t v = n == 1 ? *u : n == 2 ? (*u & 0x1Fu) : n == 3 ? (*u & 0x0Fu) : (*u & 0x07u);
    for (int i = 1; i < n; i++) v = (v << 6) | (u[i] & 0x3Fu);
    *cp = v;
    x->p += n;
    return true;
}

static bool rx_class(rx *x) {
    x->p++;
    bool neg = *x->p == '^';
    if (neg) x->p++;
    rset s = {.n = 0};
    bool first = true;
    while (x->p < x->end && (*x->p != ']' || first)) {
        first = false;
        bool eneg;
        if (x->p[0] == '\\' && class_escape(x, x->p[1], &s, &eneg)) {
            if (eneg) return rx_fail(x, "\\D \\W \\S inside a class");
            x->p += 2;
            continue;
        }
        uint32_t lo, hi;
        if (!rx_char(x, &lo)) return false;
        hi = lo;
        if (x->p[0] == '-' && x->p + 1 < x->end && x->p[1] != ']') {
            x->p++;
            if (!rx_char(x, &hi)) return false;
            if (hi < lo) return rx_fail(x, "a class range that runs backwards");
        }
        set_add(x, &s, lo, hi);
    }
    if (x->p >= x->end) return rx_fail(x, "an unterminated class");
    x->p++;
    emit_set(x, &s, neg);
    return !x->err[0];
}

/* A literal character as GBNF: its JSON string form. */
static void emit_char(rx *x, uint32_t cp) {
    llmc_strbuf *o = x->o;
    if (cp == '"') llmc_sb_puts(o, "\"\\\\\\\"\"");          /* \"  */
    else if (cp == '\\') llmc_sb_puts(o, "\"\\\\\\\\\"");    /* \\  */
    else if (cp == '\n') llmc_sb_puts(o, "\"\\\\n\"");
    else if (cp == '\t') llmc_sb_puts(o, "\"\\\\t\"");
    else if (cp < 0x20) llmc_sb_printf(o, "\"\\\\u%04x\"", cp);
    else llmc_sb_printf(o, "[\\U%08X]", cp);
}

static bool rx_alt(rx *x);

static bool rx_quant(rx *x) {
    char c = *x->p;
    if (c != '*' && c != '+' && c != '?' && c != '{') return true;
    if (c == '{') {
        char *e;
        long m = strtol(x->p + 1, &e, 10), n = m;
        if (e == x->p + 1) return rx_fail(x, "a { that is not a repetition");
        if (*e == ',') { n = e[1] == '}' ? -1 : strtol(e + 1, &e, 10); if (n == -1) e++; }
        if (*e != '}' || m < 0 || m > 10000 || n > 10000 || (n >= 0 && n < m)) return rx_fail(x, "a bad or too large {m,n}");
        x->p = e + 1;
        if (n < 0) llmc_sb_printf(x->o, "{%ld,}", m);
        else llmc_sb_printf(x->o, "{%ld,%ld}", m, n);
    } else {
        llmc_sb_putc(x->o, c);
        x->p++;
    }
    if (*x->p == '?') x->p++;   /* lazy: the same language */
    if (*x->p == '*' || *x->p == '+' || *x->p == '{') return rx_fail(x, "a quantifier after a quantifier");
    return true;
}

static bool rx_seq(rx *x) {
    bool any = false;
    while (x->p < x->end && *x->p != '|' && *x->p != ')') {
        if (*x->p == '$' && x->p + 1 == x->end) break;
        if (any) llmc_sb_putc(x->o, ' ');
        char c = *x->p;
        bool neg;
        rset s = {.n = 0};
        if (c == '(') {
            x->p++;
            if (x->p[0] == '?') {
                if (x->p[1] != ':') return rx_fail(x, "lookaround and named groups are not supported");
                x->p += 2;
            }
            if (++x->depth > RX_MAX_DEPTH) return rx_fail(x, "groups nested too deep");
            llmc_sb_putc(x->o, '(');
            if (!rx_alt(x)) return false;
            x->depth--;
            if (*x->p != ')') return rx_fail(x, "a ( without )");
            x->p++;
            llmc_sb_putc(x->o, ')');
        } else if (c == '[') {
            if (!rx_class(x)) return false;
        } else if (c == '.') {
            x->p++;
            llmc_sb_puts(x->o, RX_ANY);
        } else if (c == '\\' && class_escape(x, x->p[1], &s, &neg)) {
            x->p += 2;
            emit_set(x, &s, neg);
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            return rx_fail(x, "a quantifier with nothing before it");
        } else if (c == '^') {
            return rx_fail(x, "^ other than at the start");
        } else if (c == '$') {
            return rx_fail(x, "$ other than at the end");
        } else {
            uint32_t cp;
            if (!rx_char(x, &cp)) return false;
            emit_char(x, cp);
        }
        if (x->err[0] || !rx_quant(x)) return false;
        any = true;
    }
    if (!any) llmc_sb_puts(x->o, "\"\"");
    return true;
}

static bool rx_alt(rx *x) {
    if (!rx_seq(x)) return false;
    while (*x->p == '|') {
        x->p++;
        llmc_sb_puts(x->o, " | ");
        if (!rx_seq(x)) return false;
    }
    return true;
}

bool grm_regex_to_gbnf(const char *re, llmc_strbuf *out, char *why, size_t why_len) {
    rx x;
    memset(&x, 0, sizeof x);
    size_t n = strlen(re);
    if (n > RX_MAX_LEN) { snprintf(why, why_len, "a pattern over %d bytes", RX_MAX_LEN); return false; }
    x.s = x.p = re;
    x.end = re + n;
    x.o = out;
    bool head = *x.p == '^';
    if (head) x.p++;
    bool tail = n > 0 && re[n - 1] == '$' && (n < 2 || re[n - 2] != '\\');
    llmc_sb_puts(out, "(");
    if (!head) llmc_sb_puts(out, RX_ANY "* ");
    llmc_sb_puts(out, "(");
    bool ok = rx_alt(&x);
    if (ok && x.p < x.end && !(tail && x.p + 1 == x.end)) ok = rx_fail(&x, "an unbalanced )");
    llmc_sb_puts(out, ")");
    if (!tail) llmc_sb_puts(out, " " RX_ANY "*");
    llmc_sb_puts(out, ")");
    if (!ok) snprintf(why, why_len, "%s", x.err);
    return ok;
}
