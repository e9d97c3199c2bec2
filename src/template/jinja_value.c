/* Jinja engine values: the per-render heap (every object is registered so an error that
 * unwinds with longjmp still frees everything), refcounting, strings/lists/dicts, Python-exact
 * str()/repr() and float formatting, JSON in (cJSON) and out (json.dumps as transformers calls it). */
#include "template/jinja.h"
#include "base/error.h"
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

jv jv_none(void) { return JV_MK(JV_NONE); }
jv jv_undef(void) { return JV_MK(JV_UNDEF); }
jv jv_bool(bool b) { jv v = JV_MK(JV_BOOL); v.u.i = b; return v; }
jv jv_int(int64_t i) { jv v = JV_MK(JV_INT); v.u.i = i; return v; }
jv jv_float(double f) { jv v = JV_MK(JV_FLOAT); v.u.f = f; return v; }

/* ---------------------------------------------------------------- errors */

_Noreturn void jfail(jctx *c, llmc_status code, const char *fmt, ...) {
    char msg[LLMC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    if (c->tpl) jpos_linecol(c->tpl, c->pos, &line, &col);
    llmc_err(c->err, code, "%s:%d:%d: %s", c->tpl && c->tpl->name ? c->tpl->name : "<template>", line, col, msg);
    longjmp(*c->jb, 1);
}

const char *jtype_repr_name(int t) {
    switch (t) {
    case JV_DICT: return "dict object";
    case JV_LIST: return "list object";
    case JV_TUPLE: return "tuple object";
    case JV_STR: return "str object";
    case JV_INT: return "int object";
    case JV_FLOAT: return "float object";
    case JV_BOOL: return "bool object";
    case JV_NONE: return "None";
    case JV_NS: return "jinja2.utils.Namespace object";
    default: return "object";
    }
}

_Noreturn void jfail_undef(jctx *c, jv u) {
    switch (u.sub) {
    case UNDEF_NAME: jfail(c, LLMC_ERR_TEMPLATE, "'%s' is undefined", u.aux ? u.aux : "?");
    case UNDEF_ATTR:
        jfail(c, LLMC_ERR_TEMPLATE, "'%s' has no attribute '%s'", jtype_repr_name((int)u.u.i), u.aux ? u.aux : "?");
    case UNDEF_ELEM:
        jfail(c, LLMC_ERR_TEMPLATE, "%s has no element %" PRId64, u.aux ? u.aux : "object", u.u.i);
    case UNDEF_UNSAFE:
        jfail(c, LLMC_ERR_TEMPLATE, "access to attribute '%s' is unsafe (sandboxed template)", u.aux ? u.aux : "?");
    default: jfail(c, LLMC_ERR_TEMPLATE, "undefined value used");
    }
}

/* ---------------------------------------------------------------- heap */

void *jalloc(jctx *c, size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) jfail(c, LLMC_ERR_NOMEM, "out of memory");
    return p;
}

void *jrealloc(jctx *c, void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) jfail(c, LLMC_ERR_NOMEM, "out of memory");
    return q;
}

void *jobj_new(jctx *c, size_t size, uint8_t kind) {
    jobj *o = calloc(1, size);
    if (!o) jfail(c, LLMC_ERR_NOMEM, "out of memory");
    o->rc = 1;
    o->kind = kind;
    o->next = c->heap.head;
    if (o->next) o->next->prev = o;
    c->heap.head = o;
    return o;
}

static void jobj_release_own(jobj *o) {
    switch (o->kind) {
    case JO_STR: free(((jstr *)o)->s); break;
    case JO_LIST: free(((jlist *)o)->v); break;
    case JO_DICT: free(((jdict *)o)->k); free(((jdict *)o)->v); free(((jdict *)o)->idx); break;
    case JO_SCOPE: free(((jscope *)o)->names); free(((jscope *)o)->vals); break;
    case JO_BUF: free(((jbuf *)o)->s); break;
    default: break;
    }
}

void jheap_free_all(jheap *h) {
    jobj *o = h->head;
    while (o) {
        jobj *n = o->next;
        jobj_release_own(o);
        free(o);
        o = n;
    }
    h->head = NULL;
}

jv jref(jv v) {
    if (jv_is_obj(v) && v.u.o->rc > 0) v.u.o->rc++;
    return v;
}

static void unref_obj(jctx *c, jobj *o, int depth);
static void unref_v(jctx *c, jv v, int depth) {
    if (jv_is_obj(v)) unref_obj(c, v.u.o, depth);
}

static void unref_obj(jctx *c, jobj *o, int depth) {
    if (!o || o->rc <= 0) return;
    if (--o->rc > 0) return;
    /* Very deep structures are left to the end-of-render sweep instead of recursing further. */
    if (depth > 200) { o->rc = 1; return; }
    switch (o->kind) {
    case JO_LIST: { jlist *l = (jlist *)o; for (size_t i = 0; i < l->n; i++) unref_v(c, l->v[i], depth + 1); break; }
    case JO_DICT: {
        jdict *d = (jdict *)o;
        for (size_t i = 0; i < d->n; i++) { unref_v(c, d->k[i], depth + 1); unref_v(c, d->v[i], depth + 1); }
        break;
    }
    case JO_MACRO: { jmacro *m = (jmacro *)o; unref_obj(c, (jobj *)m->closure, depth + 1); unref_v(c, m->caller, depth + 1); break; }
    case JO_METHOD: unref_v(c, ((jmethod *)o)->self, depth + 1); break;
    case JO_LOOP:
        unref_v(c, ((jloop *)o)->items, depth + 1);
        unref_v(c, ((jloop *)o)->changed_last, depth + 1);
        unref_obj(c, (jobj *)((jloop *)o)->scope, depth + 1);
        break;
    case JO_CYCLER: unref_v(c, ((jcycler *)o)->items, depth + 1); break;
    case JO_SCOPE: {
        jscope *s = (jscope *)o;
        for (size_t i = 0; i < s->n; i++) unref_v(c, s->vals[i], depth + 1);
        unref_obj(c, (jobj *)s->parent, depth + 1);
        break;
    }
    default: break;
    }
    if (o->prev) o->prev->next = o->next; else c->heap.head = o->next;
    if (o->next) o->next->prev = o->prev;
    jobj_release_own(o);
    free(o);
}

void junref(jctx *c, jv v) { unref_v(c, v, 0); }

/* ---------------------------------------------------------------- strings */

void jcheck_str(jctx *c, size_t len) {
    if (len > c->max_string) jfail(c, LLMC_ERR_NOMEM, "string size limit exceeded (%zu bytes > max_string %zu)", len, c->max_string);
}

jv jstr_new(jctx *c, const char *s, size_t len) {
    jcheck_str(c, len);
    if (len >= 256) jstep(c, len >> 8);
    jstr *o = jobj_new(c, sizeof *o, JO_STR);
    o->s = malloc(len + 1);
    if (!o->s) jfail(c, LLMC_ERR_NOMEM, "out of memory");
    if (len) memcpy(o->s, s, len);
    o->s[len] = 0;
    o->len = len;
    o->ncp = -1;
    return jv_obj(JV_STR, o);
}

jv jstr_cstr(jctx *c, const char *s) { return jstr_new(c, s, strlen(s)); }

size_t jstr_ncp(jstr *s) {
    if (s->ncp < 0) {
        size_t n = 0;
        for (size_t i = 0; i < s->len; i++) n += ((unsigned char)s->s[i] & 0xC0) != 0x80;
        s->ncp = (int64_t)n;
    }
    return (size_t)s->ncp;
}

jbuf *jbuf_new(jctx *c) {
    jbuf *b = jobj_new(c, sizeof *b, JO_BUF);
    return b;
}

void jbuf_add(jctx *c, jbuf *b, const char *s, size_t n) {
    if (!n) return;
    /* copying counts as work, so quadratic string building hits the step limit */
    if (n >= 256) jstep(c, n >> 8);
    if (b->len + n + 1 > b->cap) {
        jcheck_str(c, b->len + n);
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        b->s = jrealloc(c, b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void jbuf_addc(jctx *c, jbuf *b, char ch) { jbuf_add(c, b, &ch, 1); }
void jbuf_adds(jctx *c, jbuf *b, const char *s) { jbuf_add(c, b, s, strlen(s)); }
void jbuf_free(jctx *c, jbuf *b) { if (b) unref_obj(c, &b->h, 0); }

jv jstr_take_buf(jctx *c, jbuf *b) {
    jcheck_str(c, b->len);
    jstr *o = jobj_new(c, sizeof *o, JO_STR);
    if (!b->s) { b->s = malloc(1); if (!b->s) jfail(c, LLMC_ERR_NOMEM, "out of memory"); b->s[0] = 0; }
    o->s = b->s;
    o->len = b->len;
    o->ncp = -1;
    b->s = NULL; b->len = b->cap = 0;
    jbuf_free(c, b);
    return jv_obj(JV_STR, o);
}

size_t jutf8_next(const char *str, size_t len, size_t i, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned char b = s[i];
    if (b < 0x80) { *cp = b; return i + 1; }
    int n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (n == 1 || i + n > len) { *cp = b; return i + 1; }
    uint32_t v = b & (0x7F >> n);
    for (int k = 1; k < n; k++) {
        if ((s[i + k] & 0xC0) != 0x80) { *cp = b; return i + 1; }
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    *cp = v;
    return i + n;
}

bool jpy_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

/* ---------------------------------------------------------------- lists, dicts */

static jv list_new_t(jctx *c, size_t cap, uint8_t t) {
    jlist *l = jobj_new(c, sizeof *l, JO_LIST);
    if (cap) {
        if (cap > c->max_items) cap = c->max_items;
        l->v = jalloc(c, cap * sizeof(jv));
        l->cap = cap;
    }
    return jv_obj(t, l);
}
jv jlist_new(jctx *c, size_t cap) { return list_new_t(c, cap, JV_LIST); }
jv jtuple_new(jctx *c, size_t cap) { return list_new_t(c, cap, JV_TUPLE); }

void jlist_push(jctx *c, jv lv, jv item) {
    jlist *l = JL(lv);
    if (l->n == l->cap) {
        if (l->n >= c->max_items) {
            junref(c, item);
            jfail(c, LLMC_ERR_NOMEM, "list size limit exceeded (max_items %zu)", c->max_items);
        }
        size_t cap = l->cap ? l->cap * 2 : 8;
        l->v = jrealloc(c, l->v, cap * sizeof(jv));
        l->cap = cap;
    }
    l->v[l->n++] = item;
}

jv jdict_new(jctx *c) { jdict *d = jobj_new(c, sizeof *d, JO_DICT); return jv_obj(JV_DICT, d); }
jv jns_new(jctx *c) { jdict *d = jobj_new(c, sizeof *d, JO_DICT); return jv_obj(JV_NS, d); }

/* Tuples hash their first JHASH_BUDGET elements in depth-first order only (equal keys still hash
 * equal): a lookup key as deep or as shared as a loop can build never costs more than that. */
#define JHASH_BUDGET 64
static uint64_t jhash_d(jv k, int *budget) {
    switch (k.t) {
    case JV_STR: {
        uint64_t h = 1469598103934665603ULL;
        jstr *s = JS(k);
        for (size_t i = 0; i < s->len; i++) { h ^= (unsigned char)s->s[i]; h *= 1099511628211ULL; }
        return h;
    }
    case JV_INT: case JV_BOOL: return (uint64_t)k.u.i * 0x9E3779B97F4A7C15ULL;
    case JV_FLOAT:
        if (k.u.f == floor(k.u.f) && fabs(k.u.f) < 9.2e18) return (uint64_t)(int64_t)k.u.f * 0x9E3779B97F4A7C15ULL;
        { uint64_t b; memcpy(&b, &k.u.f, 8); return b; }
    case JV_TUPLE: {
        uint64_t h = 7;
        for (size_t i = 0; i < JL(k)->n && --*budget > 0; i++) h = h * 31 + jhash_d(JL(k)->v[i], budget);
        return h;
    }
    default: return (uint64_t)k.t;
    }
}
static uint64_t jhash(jv k) { int budget = JHASH_BUDGET; return jhash_d(k, &budget); }

static bool key_eq(jv a, jv b) {
    if (a.t == JV_STR && b.t == JV_STR)
        return JS(a)->len == JS(b)->len && memcmp(JS(a)->s, JS(b)->s, JS(a)->len) == 0;
    return jv_eq(NULL, a, b);
}

static void dict_reindex(jctx *c, jdict *d) {
    size_t icap = 16;
    while (icap < d->n * 2 + 2) icap *= 2;
    free(d->idx);
    d->idx = calloc(icap, sizeof(uint32_t));
    if (!d->idx) jfail(c, LLMC_ERR_NOMEM, "out of memory");
    d->icap = icap;
    for (size_t i = 0; i < d->n; i++) {
        size_t h = jhash(d->k[i]) & (icap - 1);
        while (d->idx[h]) h = (h + 1) & (icap - 1);
        d->idx[h] = (uint32_t)(i + 1);
    }
}

static long dict_find(jdict *d, jv key) {
    if (d->idx) {
        size_t h = jhash(key) & (d->icap - 1);
        while (d->idx[h]) {
            size_t i = d->idx[h] - 1;
            if (key_eq(d->k[i], key)) return (long)i;
            h = (h + 1) & (d->icap - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < d->n; i++)
        if (key_eq(d->k[i], key)) return (long)i;
    return -1;
}

/* True when a key (a tuple; lists and dicts as internal code may store) nests deeper than `depth` levels or holds more than *budget tuples
 * (shared ones counted each time they are reached); the walk stops at either limit. */
static bool key_too_big(jv k, int depth, int *budget) {
    if (k.t != JV_TUPLE && k.t != JV_LIST && k.t != JV_DICT) return false;
    if (depth <= 0 || --*budget < 0) return true;
    if (k.t == JV_DICT) {
        for (size_t i = 0; i < JD(k)->n; i++)
            if (key_too_big(JD(k)->k[i], depth - 1, budget) || key_too_big(JD(k)->v[i], depth - 1, budget)) return true;
        return false;
    }
    for (size_t i = 0; i < JL(k)->n; i++)
        if (key_too_big(JL(k)->v[i], depth - 1, budget)) return true;
    return false;
}

/* Stored keys nest at most JDICT_KEY_DEPTH tuples deep and hold at most JDICT_KEY_TUPLES tuples,
 * so comparing any lookup key with one (key_eq, which has no context to count steps or check the
 * stack with) stays that small. */
#define JDICT_KEY_DEPTH 64
#define JDICT_KEY_TUPLES 4096
void jdict_set(jctx *c, jv dv, jv key, jv val) {
    jdict *d = JD(dv);
    int budget = JDICT_KEY_TUPLES;
    if (key.t != JV_STR && key_too_big(key, JDICT_KEY_DEPTH, &budget)) {
        junref(c, key); junref(c, val);
        jfail(c, LLMC_ERR_TEMPLATE, "dict key too complex (tuples nested over %d deep or over %d in all)",
              JDICT_KEY_DEPTH, JDICT_KEY_TUPLES);
    }
    long i = dict_find(d, key);
    if (i >= 0) {
        junref(c, key);
        junref(c, d->v[i]);
        d->v[i] = val;
        return;
    }
    if (d->n == d->cap) {
        if (d->n >= c->max_items) {
            junref(c, key); junref(c, val);
            jfail(c, LLMC_ERR_NOMEM, "dict size limit exceeded (max_items %zu)", c->max_items);
        }
        size_t cap = d->cap ? d->cap * 2 : 8;
        d->k = jrealloc(c, d->k, cap * sizeof(jv));
        d->v = jrealloc(c, d->v, cap * sizeof(jv));
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n] = val;
    d->n++;
    if (d->n >= 12 && (!d->idx || d->n * 2 + 2 > d->icap)) dict_reindex(c, d);
    else if (d->idx) {
        size_t h = jhash(key) & (d->icap - 1);
        while (d->idx[h]) h = (h + 1) & (d->icap - 1);
        d->idx[h] = (uint32_t)d->n;
    }
}


bool jdict_get(jv dv, jv key, jv *out) {
    long i = dict_find(JD(dv), key);
    if (i < 0) return false;
    *out = JD(dv)->v[i];
    return true;
}

bool jdict_get_str(jv dv, const char *key, size_t klen, jv *out) {
    jdict *d = JD(dv);
    if (d->idx) {
        jstr tmp = { .len = klen, .ncp = -1, .s = (char *)key };
        return jdict_get(dv, jv_obj(JV_STR, &tmp), out);
    }
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->k[i];
        if (k.t == JV_STR && JS(k)->len == klen && memcmp(JS(k)->s, key, klen) == 0) { *out = d->v[i]; return true; }
    }
    return false;
}

/* ---------------------------------------------------------------- truth, equality, order */


bool jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return JS(v)->len != 0;
    case JV_LIST: return jls_iterator(v.sub) || JL(v)->n != 0;
    case JV_TUPLE: return JL(v)->n != 0;
    case JV_DICT: return JD(v)->n != 0;
    default: return true;
    }
}

static bool is_num(jv v) { return v.t == JV_INT || v.t == JV_BOOL || v.t == JV_FLOAT; }

bool jv_eq(jctx *c, jv a, jv b) {
    /* c is NULL only for dict-key comparison, which a stored (small, see jdict_set) key bounds */
    if (c && c->max_stack) { jcheck_stack(c); jstep(c, 1); }
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return a.u.i == b.u.i;
        double x = a.t == JV_FLOAT ? a.u.f : (double)a.u.i, y = b.t == JV_FLOAT ? b.u.f : (double)b.u.i;
        return x == y;
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return JS(a)->len == JS(b)->len && memcmp(JS(a)->s, JS(b)->s, JS(a)->len) == 0;
    case JV_LIST: case JV_TUPLE:
        if (a.sub != b.sub) return false;
        if (jls_iterator(a.sub)) return a.u.o == b.u.o;
        if (JL(a)->n != JL(b)->n) return false;
        for (size_t i = 0; i < JL(a)->n; i++)
            if (!jv_eq(c, JL(a)->v[i], JL(b)->v[i])) return false;
        return true;
    case JV_DICT: {
        if (JD(a)->n != JD(b)->n) return false;
        for (size_t i = 0; i < JD(a)->n; i++) {
            jv o;
            if (!jdict_get(b, JD(a)->k[i], &o) || !jv_eq(c, JD(a)->v[i], o)) return false;
        }
        return true;
    }
    case JV_FUNC: return a.u.i == b.u.i;
    default: return a.u.o == b.u.o;
    }
}

const char *jv_type_name(jv v) {
    switch (v.t) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: {
        static const char *const names[] = { "list", "generator", "dict_items", "dict_keys", "dict_values", "list_reverseiterator", "range" };
        return v.sub <= LS_RANGE ? names[v.sub] : "list";
    }
    case JV_TUPLE: return "tuple";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_MACRO: return "Macro";
    case JV_LOOP: return "LoopContext";
    default: return "function";
    }
}

int jv_cmp(jctx *c, jv a, jv b) {
    if (c && c->max_stack) { jcheck_stack(c); jstep(c, 1); }
    if (a.t == JV_UNDEF) jfail_undef(c, a);
    if (b.t == JV_UNDEF) jfail_undef(c, b);
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
        double x = a.t == JV_FLOAT ? a.u.f : (double)a.u.i, y = b.t == JV_FLOAT ? b.u.f : (double)b.u.i;
        return x < y ? -1 : x > y;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = JS(a)->len < JS(b)->len ? JS(a)->len : JS(b)->len;
        int r = memcmp(JS(a)->s, JS(b)->s, n);
        if (r) return r < 0 ? -1 : 1;
        return JS(a)->len < JS(b)->len ? -1 : JS(a)->len > JS(b)->len;
    }
    if ((a.t == JV_LIST || a.t == JV_TUPLE) && a.t == b.t) {
        for (size_t i = 0; i < JL(a)->n && i < JL(b)->n; i++) {
            if (jv_eq(c, JL(a)->v[i], JL(b)->v[i])) continue;
            return jv_cmp(c, JL(a)->v[i], JL(b)->v[i]);
        }
        return JL(a)->n < JL(b)->n ? -1 : JL(a)->n > JL(b)->n;
    }
    jfail(c, LLMC_ERR_TEMPLATE, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a), jv_type_name(b));
}

/* ---------------------------------------------------------------- printing */

void jfmt_float(double f, char *out, size_t cap) {
    if (isnan(f)) { snprintf(out, cap, "nan"); return; }
    if (isinf(f)) { snprintf(out, cap, f < 0 ? "-inf" : "inf"); return; }
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf: [-]d[.ddd]e[+-]xx → digits + decimal point position (Python's 'r' repr rules) */
    const char *p = buf;
    bool neg = false;
    if (*p == '-') { neg = true; p++; }
    char digits[32];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int e = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int decpt = e + 1;
    char res[80];
    int k = 0;
    if (neg) res[k++] = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            res[k++] = '0'; res[k++] = '.';
            for (int i = 0; i < -decpt; i++) res[k++] = '0';
            for (int i = 0; i < nd; i++) res[k++] = digits[i];
        } else if (decpt >= nd) {
            for (int i = 0; i < nd; i++) res[k++] = digits[i];
            for (int i = nd; i < decpt; i++) res[k++] = '0';
            res[k++] = '.'; res[k++] = '0';
        } else {
            for (int i = 0; i < decpt; i++) res[k++] = digits[i];
            res[k++] = '.';
            for (int i = decpt; i < nd; i++) res[k++] = digits[i];
        }
        res[k] = 0;
    } else {
        res[k++] = digits[0];
        if (nd > 1) { res[k++] = '.'; for (int i = 1; i < nd; i++) res[k++] = digits[i]; }
        res[k] = 0;
        int x = decpt - 1;
        snprintf(res + k, sizeof res - k, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    }
    snprintf(out, cap, "%s", res);
}

static bool py_printable(uint32_t cp) {
    if (cp == ' ') return true;
    if (cp < 0x20 || cp == 0x7f) return false;
    if (cp < 0x7f) return true;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    switch (cat) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
        return false;
    default: return true;
    }
}

static void repr_str(jctx *c, const char *s, size_t len, jbuf *b) {
    bool has_sq = memchr(s, '\'', len) != NULL, has_dq = memchr(s, '"', len) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    jbuf_addc(c, b, q);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t j = jutf8_next(s, len, i, &cp);
        char tmp[16];
        if (cp == (uint32_t)q || cp == '\\') { tmp[0] = '\\'; tmp[1] = (char)cp; jbuf_add(c, b, tmp, 2); }
        else if (cp == '\n') jbuf_add(c, b, "\\n", 2);
        else if (cp == '\r') jbuf_add(c, b, "\\r", 2);
        else if (cp == '\t') jbuf_add(c, b, "\\t", 2);
        else if (py_printable(cp)) jbuf_add(c, b, s + i, j - i);
        else if (cp < 0x100) { snprintf(tmp, sizeof tmp, "\\x%02x", cp); jbuf_adds(c, b, tmp); }
        else if (cp < 0x10000) { snprintf(tmp, sizeof tmp, "\\u%04x", cp); jbuf_adds(c, b, tmp); }
        else { snprintf(tmp, sizeof tmp, "\\U%08x", cp); jbuf_adds(c, b, tmp); }
        i = j;
    }
    jbuf_addc(c, b, q);
}

static void repr_depth(jctx *c, jv v, jbuf *b, int depth);

static void str_depth(jctx *c, jv v, jbuf *b, int depth) {
    char tmp[64];
    switch (v.t) {
    case JV_UNDEF: return;
    case JV_NONE: jbuf_add(c, b, "None", 4); return;
    case JV_BOOL: jbuf_adds(c, b, v.u.i ? "True" : "False"); return;
    case JV_INT: snprintf(tmp, sizeof tmp, "%" PRId64, v.u.i); jbuf_adds(c, b, tmp); return;
    case JV_FLOAT: jfmt_float(v.u.f, tmp, sizeof tmp); jbuf_adds(c, b, tmp); return;
    case JV_STR: jbuf_add(c, b, JS(v)->s, JS(v)->len); return;
    default: repr_depth(c, v, b, depth); return;
    }
}

static void repr_depth(jctx *c, jv v, jbuf *b, int depth) {
    if (depth > 200) jfail(c, LLMC_ERR_TEMPLATE, "value nested too deeply to print");
    switch (v.t) {
    case JV_UNDEF: jbuf_adds(c, b, "Undefined"); return;
    case JV_STR: repr_str(c, JS(v)->s, JS(v)->len, b); return;
    case JV_LIST: case JV_TUPLE: {
        jlist *l = JL(v);
        if (v.t == JV_LIST && jls_iterator(v.sub)) {
            jbuf_adds(c, b, v.sub == LS_GEN ? "<generator object>" : "<list_reverseiterator object>");
            return;
        }
        if (v.t == JV_LIST && v.sub == LS_RANGE) {
            char tmp[96];
            if (l->r2 == 1) snprintf(tmp, sizeof tmp, "range(%" PRId64 ", %" PRId64 ")", l->r0, l->r1);
            else snprintf(tmp, sizeof tmp, "range(%" PRId64 ", %" PRId64 ", %" PRId64 ")", l->r0, l->r1, l->r2);
            jbuf_adds(c, b, tmp);
            return;
        }
        if (v.t == JV_LIST && v.sub) {
            jbuf_adds(c, b, jv_type_name(v));
            jbuf_addc(c, b, '(');
            jv plain = v;
            plain.sub = LS_LIST;
            repr_depth(c, plain, b, depth + 1);
            jbuf_addc(c, b, ')');
            return;
        }
        jbuf_addc(c, b, v.t == JV_LIST ? '[' : '(');
        for (size_t i = 0; i < l->n; i++) {
            if (i) jbuf_add(c, b, ", ", 2);
            repr_depth(c, l->v[i], b, depth + 1);
        }
        if (v.t == JV_TUPLE && l->n == 1) jbuf_addc(c, b, ',');
        jbuf_addc(c, b, v.t == JV_LIST ? ']' : ')');
        return;
    }
    case JV_DICT: case JV_NS: {
        jdict *d = JD(v);
        if (v.t == JV_NS) jbuf_adds(c, b, "<Namespace ");
        jbuf_addc(c, b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) jbuf_add(c, b, ", ", 2);
            repr_depth(c, d->k[i], b, depth + 1);
            jbuf_add(c, b, ": ", 2);
            repr_depth(c, d->v[i], b, depth + 1);
        }
        jbuf_addc(c, b, '}');
        if (v.t == JV_NS) jbuf_addc(c, b, '>');
        return;
    }
    case JV_MACRO: {
        jmacro *m = (jmacro *)v.u.o;
        jbuf_adds(c, b, "<Macro '");
        jbuf_adds(c, b, m->def && m->def->name ? m->def->name : "caller");
        jbuf_adds(c, b, "'>");
        return;
    }
    case JV_FUNC: jbuf_adds(c, b, "<function "); jbuf_adds(c, b, jfunc_names[v.u.i]); jbuf_addc(c, b, '>'); return;
    case JV_METHOD: jbuf_adds(c, b, "<built-in method "); jbuf_adds(c, b, ((jmethod *)v.u.o)->name); jbuf_addc(c, b, '>'); return;
    case JV_LOOP: jbuf_adds(c, b, "<LoopContext>"); return;
    case JV_CYCLER: jbuf_adds(c, b, "<Cycler>"); return;
    case JV_JOINER: jbuf_adds(c, b, "<Joiner>"); return;
    default: str_depth(c, v, b, depth); return;
    }
}

void jv_to_str(jctx *c, jv v, jbuf *b) { str_depth(c, v, b, 0); }
void jv_repr(jctx *c, jv v, jbuf *b) { repr_depth(c, v, b, 0); }

jv jv_str(jctx *c, jv v) {
    if (v.t == JV_STR) return jref(v);
    jbuf *b = jbuf_new(c);
    jv_to_str(c, v, b);
    return jstr_take_buf(c, b);
}

/* ---------------------------------------------------------------- JSON */

jv jv_from_json(jctx *c, const cJSON *j, int depth) {
    if (depth > 512) jfail(c, LLMC_ERR_FORMAT, "JSON input nested too deeply");
    if (!j || cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* cJSON keeps no int/float distinction: integral values become ints unless the text wrote a
         * fraction or exponent (llmc_template_json_mark_floats). */
        if (!(j->type & LLMC_TEMPLATE_JSON_FLOAT) && d == floor(d) && fabs(d) < 9.2e18) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) return jstr_cstr(c, j->valuestring ? j->valuestring : "");
    if (cJSON_IsArray(j)) {
        jv l = jlist_new(c, 0);
        for (const cJSON *e = j->child; e; e = e->next) jlist_push(c, l, jv_from_json(c, e, depth + 1));
        return l;
    }
    if (cJSON_IsObject(j)) {
        jv d = jdict_new(c);
        for (const cJSON *e = j->child; e; e = e->next)
            jdict_set(c, d, jstr_cstr(c, e->string ? e->string : ""), jv_from_json(c, e, depth + 1));
        return d;
    }
    if (cJSON_IsRaw(j) && j->valuestring) return jstr_cstr(c, j->valuestring);
    return jv_none();
}

static void json_str(jctx *c, const char *s, size_t len, jbuf *b, bool ensure_ascii) {
    jbuf_addc(c, b, '"');
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t j = jutf8_next(s, len, i, &cp);
        char tmp[16];
        switch (cp) {
        case '"': jbuf_add(c, b, "\\\"", 2); break;
        case '\\': jbuf_add(c, b, "\\\\", 2); break;
        case '\n': jbuf_add(c, b, "\\n", 2); break;
        case '\r': jbuf_add(c, b, "\\r", 2); break;
        case '\t': jbuf_add(c, b, "\\t", 2); break;
        case '\b': jbuf_add(c, b, "\\b", 2); break;
        case '\f': jbuf_add(c, b, "\\f", 2); break;
        default:
            if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
                } else snprintf(tmp, sizeof tmp, "\\u%04x", cp);
                jbuf_adds(c, b, tmp);
            } else jbuf_add(c, b, s + i, j - i);
        }
        i = j;
    }
    jbuf_addc(c, b, '"');
}

static void json_newline(jctx *c, jbuf *b, const char *indent, int level) {
    jbuf_addc(c, b, '\n');
    for (int i = 0; i < level; i++) jbuf_adds(c, b, indent);
}

static void json_key(jctx *c, jv k, jbuf *b, bool ensure_ascii) {
    char tmp[64];
    switch (k.t) {
    case JV_STR: json_str(c, JS(k)->s, JS(k)->len, b, ensure_ascii); return;
    case JV_INT: snprintf(tmp, sizeof tmp, "\"%" PRId64 "\"", k.u.i); jbuf_adds(c, b, tmp); return;
    case JV_BOOL: jbuf_adds(c, b, k.u.i ? "\"true\"" : "\"false\""); return;
    case JV_NONE: jbuf_adds(c, b, "\"null\""); return;
    case JV_FLOAT: {
        char f[48];
        if (isinf(k.u.f)) snprintf(f, sizeof f, k.u.f < 0 ? "-Infinity" : "Infinity");
        else if (isnan(k.u.f)) snprintf(f, sizeof f, "NaN");
        else jfmt_float(k.u.f, f, sizeof f);
        snprintf(tmp, sizeof tmp, "\"%s\"", f);
        jbuf_adds(c, b, tmp);
        return;
    }
    default:
        jfail(c, LLMC_ERR_TEMPLATE, "keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    }
}

static _Thread_local jctx *sort_ctx; /* qsort has no context argument; renders may run in parallel threads */
static int sort_key_cmp(const void *a, const void *b) {
    const jv *x = a, *y = b;
    return jv_cmp(sort_ctx, x[0], y[0]);
}

void jv_tojson(jctx *c, jv v, jbuf *b, const char *indent, const char *item_sep, const char *key_sep,
               bool sort_keys, bool ensure_ascii, int level) {
    char tmp[64];
    if (level > 200) jfail(c, LLMC_ERR_TEMPLATE, "value nested too deeply for tojson");
    switch (v.t) {
    case JV_NONE: jbuf_adds(c, b, "null"); return;
    case JV_BOOL: jbuf_adds(c, b, v.u.i ? "true" : "false"); return;
    case JV_INT: snprintf(tmp, sizeof tmp, "%" PRId64, v.u.i); jbuf_adds(c, b, tmp); return;
    case JV_FLOAT:
        if (isinf(v.u.f)) jbuf_adds(c, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else if (isnan(v.u.f)) jbuf_adds(c, b, "NaN");
        else { jfmt_float(v.u.f, tmp, sizeof tmp); jbuf_adds(c, b, tmp); }
        return;
    case JV_STR: json_str(c, JS(v)->s, JS(v)->len, b, ensure_ascii); return;
    case JV_LIST: case JV_TUPLE: {
        jlist *l = JL(v);
        if (v.t == JV_LIST && v.sub) jfail(c, LLMC_ERR_TEMPLATE, "Object of type %s is not JSON serializable", jv_type_name(v));
        if (!l->n) { jbuf_adds(c, b, "[]"); return; }
        jbuf_addc(c, b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) jbuf_adds(c, b, item_sep);
            if (indent) json_newline(c, b, indent, level + 1);
            jv_tojson(c, l->v[i], b, indent, item_sep, key_sep, sort_keys, ensure_ascii, level + 1);
        }
        if (indent) json_newline(c, b, indent, level);
        jbuf_addc(c, b, ']');
        return;
    }
    case JV_DICT: {
        jdict *d = JD(v);
        if (!d->n) { jbuf_adds(c, b, "{}"); return; }
        size_t *order = NULL;
        jv pairs = JV_MK(JV_NONE);
        if (sort_keys && d->n > 1) {
            /* sort (key, index) pairs held in a tracked list so an error mid-sort frees them */
            pairs = jlist_new(c, d->n * 2);
            for (size_t i = 0; i < d->n; i++) { jlist_push(c, pairs, jref(d->k[i])); jlist_push(c, pairs, jv_int((int64_t)i)); }
            jctx *saved = sort_ctx;
            sort_ctx = c;
            qsort(JL(pairs)->v, d->n, 2 * sizeof(jv), sort_key_cmp);
            sort_ctx = saved;
            order = jalloc(c, d->n * sizeof(size_t));
            for (size_t i = 0; i < d->n; i++) order[i] = (size_t)JL(pairs)->v[2 * i + 1].u.i;
        }
        jbuf_addc(c, b, '{');
        for (size_t ii = 0; ii < d->n; ii++) {
            size_t i = order ? order[ii] : ii;
            if (ii) jbuf_adds(c, b, item_sep);
            if (indent) json_newline(c, b, indent, level + 1);
            json_key(c, d->k[i], b, ensure_ascii);
            jbuf_adds(c, b, key_sep);
            jv_tojson(c, d->v[i], b, indent, item_sep, key_sep, sort_keys, ensure_ascii, level + 1);
        }
        free(order);
        junref(c, pairs);
        if (indent) json_newline(c, b, indent, level);
        jbuf_addc(c, b, '}');
        return;
    }
    case JV_UNDEF:
        jfail(c, LLMC_ERR_TEMPLATE, "Object of type Undefined is not JSON serializable");
    default:
        jfail(c, LLMC_ERR_TEMPLATE, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
}

/* ---------------------------------------------------------------- float marking */

static bool mark_walk(cJSON *j, const unsigned char *flags, size_t n, size_t *k, int depth) {
    if (depth > 1000) return false;
    for (; j; j = j->next) {
        if (cJSON_IsNumber(j)) {
            if (*k >= n) return false;
            if (flags[*k]) j->type |= LLMC_TEMPLATE_JSON_FLOAT;
            (*k)++;
        }
        if (j->child && !mark_walk(j->child, flags, n, k, depth + 1)) return false;
    }
    return true;
}

static bool count_numbers(const cJSON *j, size_t *cnt, int depth) {
    if (depth > 1000) return false;
    if (cJSON_IsNumber(j)) (*cnt)++;
    for (const cJSON *c = j->child; c; c = c->next)
        if (!count_numbers(c, cnt, depth + 1)) return false;
    return true;
}

bool llmc_template_json_mark_floats(cJSON *root, const char *text, size_t len) {
    if (!root || !text) return false;
    size_t cap = 64, n = 0;
    unsigned char *flags = malloc(cap);
    if (!flags) return false;
    for (size_t i = 0; i < len;) {
        char ch = text[i];
        if (ch == '"') {
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\') i++;
            i++;
            continue;
        }
        if (ch == '-' || (ch >= '0' && ch <= '9')) {
            bool fl = false;
            while (i < len && (strchr("0123456789+-.eE", text[i]) != NULL)) {
                if (text[i] == '.' || text[i] == 'e' || text[i] == 'E') fl = true;
                i++;
            }
            if (n == cap) {
                unsigned char *nf = realloc(flags, cap * 2);
                if (!nf) { free(flags); return false; }
                flags = nf;
                cap *= 2;
            }
            flags[n++] = fl;
            continue;
        }
        i++;
    }
    /* first count, so a mismatch marks nothing */
    size_t k = 0, cnt = 0;
    bool ok = count_numbers(root, &cnt, 0) && cnt == n;
    if (ok) {
        cJSON *saved_next = root->next;
        root->next = NULL;
        ok = mark_walk(root, flags, n, &k, 0);
        root->next = saved_next;
    }
    free(flags);
    return ok;
}
