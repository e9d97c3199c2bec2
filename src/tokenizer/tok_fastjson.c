/* Fast path for the two huge members of tokenizer.json (model.vocab, model.merges):
 * cJSON would build ~400k nodes for a Llama 3 file (over 100 ms), so their spans are
 * found with a small scanner, blanked out for cJSON, and read directly here. */
#include "tokenizer/tok_fastjson.h"
#include <stdlib.h>
#include <string.h>

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const char *skip_string(const char *p, const char *e) {
    if (p >= e || *p != '"') return NULL;
    p++;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q) return NULL;
        /* escaped when preceded by an odd run of backslashes */
        size_t bs = 0;
        for (const char *r = q; r > p && r[-1] == '\\'; r--) bs++;
        if (bs % 2 == 0) return q + 1;
        p = q + 1;
    }
}

static const char *skip_value(const char *p, const char *e, int depth) {
    p = ws(p, e);
    if (p >= e || depth > 64) return NULL;
    if (*p == '"') return skip_string(p, e);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                p = skip_string(ws(p, e), e);
                if (!p) return NULL;
                p = ws(p, e);
                if (p >= e || *p != ':') return NULL;
                p++;
            }
            p = skip_value(p, e, depth + 1);
            if (!p) return NULL;
            p = ws(p, e);
            if (p < e && *p == ',') { p++; continue; }
            if (p < e && *p == close) return p + 1;
            return NULL;
        }
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') p++;
    return p;
}

static int hexv(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes the JSON string at p into buf (cap bytes); returns the position after it. */
const char *tok_fj_string(const char *p, const char *e, char *buf, size_t cap, size_t *len) {
    if (p >= e || *p != '"') return NULL;
    size_t n = 0;
    for (p++; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') { *len = n; return p + 1; }
        if (n + 4 > cap) return NULL;
        if (c != '\\') { buf[n++] = (char)c; continue; }
        if (++p >= e) return NULL;
        switch (*p) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            if (e - p < 5) return NULL;
            int h[4];
            for (int i = 0; i < 4; i++) if ((h[i] = hexv(p[1 + i])) < 0) return NULL;
            uint32_t cp = (uint32_t)(h[0] << 12 | h[1] << 8 | h[2] << 4 | h[3]);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (e - p < 7 || p[1] != '\\' || p[2] != 'u') return NULL;
                int g[4];
                for (int i = 0; i < 4; i++) if ((g[i] = hexv(p[3 + i])) < 0) return NULL;
                uint32_t lo = (uint32_t)(g[0] << 12 | g[1] << 8 | g[2] << 4 | g[3]);
                if (lo < 0xDC00 || lo > 0xDFFF) return NULL;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) return NULL;
            if (cp < 0x80) buf[n++] = (char)cp;
            else if (cp < 0x800) { buf[n++] = (char)(0xC0 | cp >> 6); buf[n++] = (char)(0x80 | (cp & 63)); }
            else if (cp < 0x10000) { buf[n++] = (char)(0xE0 | cp >> 12); buf[n++] = (char)(0x80 | (cp >> 6 & 63)); buf[n++] = (char)(0x80 | (cp & 63)); }
            else { buf[n++] = (char)(0xF0 | cp >> 18); buf[n++] = (char)(0x80 | (cp >> 12 & 63)); buf[n++] = (char)(0x80 | (cp >> 6 & 63)); buf[n++] = (char)(0x80 | (cp & 63)); }
            break;
        }
        default: return NULL;
        }
    }
    return NULL;
}

const char *tok_fj_ws(const char *p, const char *e) { return ws(p, e); }

/* Finds the value spans of root.model.vocab and root.model.merges. */
bool tok_fj_find(const char *text, size_t len, tok_fj_spans *sp) {
    memset(sp, 0, sizeof *sp);
    const char *p = ws(text, text + len), *e = text + len;
    if (p >= e || *p != '{') return false;
    p = ws(p + 1, e);
    while (p < e && *p == '"') {
        const char *ks = p;
        p = skip_string(p, e);
        if (!p) return false;
        bool is_model = p - ks == 7 && !memcmp(ks, "\"model\"", 7);
        p = ws(p, e);
        if (p >= e || *p != ':') return false;
        p = ws(p + 1, e);
        if (is_model && p < e && *p == '{') {
            const char *q = ws(p + 1, e);
            while (q < e && *q == '"') {
                const char *k2 = q;
                q = skip_string(q, e);
                if (!q) return false;
                size_t kl = (size_t)(q - k2);
                q = ws(q, e);
                if (q >= e || *q != ':') return false;
                q = ws(q + 1, e);
                const char *vs = q;
                q = skip_value(q, e, 0);
                if (!q) return false;
                if (kl == 7 && !memcmp(k2, "\"vocab\"", 7) && *vs == '{') { sp->vocab = vs; sp->vocab_end = q; }
                if (kl == 8 && !memcmp(k2, "\"merges\"", 8) && *vs == '[') { sp->merges = vs; sp->merges_end = q; }
                q = ws(q, e);
                if (q < e && *q == ',') { q = ws(q + 1, e); continue; }
                break;
            }
        }
        p = skip_value(p, e, 0);
        if (!p) return false;
        p = ws(p, e);
        if (p < e && *p == ',') { p = ws(p + 1, e); continue; }
        break;
    }
    return sp->vocab != NULL;
}
