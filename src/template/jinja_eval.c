/* Jinja evaluator: walks the AST with Jinja's scoping (for-loop iterations and macro calls get
 * their own scope; if does not), Python operator semantics, macros, call/filter blocks, loop
 * controls, and the limits (steps, depth, output size) that keep untrusted templates bounded. */
#include "template/jinja.h"
#include "base/error.h"
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stack guard every recursive path of the evaluator passes through (jeval, exec_node, filter
 * chains, value comparison, ...). It reads the frame address rather than a local's address: under
 * ASan's use-after-return mode locals live on a heap "fake stack", the frames do not. A context
 * without a budget (the parser's constant builder) is not checked. */
void jcheck_stack(jctx *c) {
    if (!c || !c->max_stack) return;
    uintptr_t at = (uintptr_t)__builtin_frame_address(0);
    size_t used = c->stack_base > at ? c->stack_base - at : at - c->stack_base;
    if (used > c->max_stack)
        jfail(c, LLMC_ERR_RANGE, "recursion depth limit exceeded (C stack use over %zu bytes)", c->max_stack);
}
void jstep(jctx *c, unsigned long long n) {
    c->steps += n;
    if (c->steps > c->max_steps)
        jfail(c, LLMC_ERR_RANGE, "step limit exceeded (max_steps %llu): the template runs too long", c->max_steps);
}

/* ---------------------------------------------------------------- scopes */

jscope *jscope_new(jctx *c, jscope *parent) {
    jscope *s = jobj_new(c, sizeof *s, JO_SCOPE);
    s->parent = parent;
    if (parent && parent->h.rc > 0) parent->h.rc++;
    return s;
}

void jscope_set(jctx *c, jscope *s, const char *name, jv v) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) {
            junref(c, s->vals[i]);
            s->vals[i] = v;
            return;
        }
    if (s->n == s->cap) {
        if (s->n >= c->max_items) { junref(c, v); jfail(c, LLMC_ERR_NOMEM, "too many variables in one scope"); }
        size_t cap = s->cap ? s->cap * 2 : 8;
        s->names = jrealloc(c, s->names, cap * sizeof(char *));
        s->vals = jrealloc(c, s->vals, cap * sizeof(jv));
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->vals[s->n] = v;
    s->n++;
}

bool jscope_get(jscope *s, const char *name, jv *out) {
    for (; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (s->names[i][0] == name[0] && strcmp(s->names[i], name) == 0) { *out = s->vals[i]; return true; }
    return false;
}

/* Binds a frame's assigned-before-known names to undefined (see jnode.undef). */
static void bind_undef(jctx *c, jscope *s, const jnode *frame) {
    for (int i = 0; i < frame->nundef; i++) {
        jv u = jv_undef();
        u.sub = UNDEF_NAME;
        u.aux = frame->undef[i];
        jscope_set(c, s, frame->undef[i], u);
    }
}

static void scope_release(jctx *c, jscope *s) { junref(c, jv_obj(JV_MACRO, s)); /* any obj type: refcount only */ }

/* ---------------------------------------------------------------- arithmetic */

static bool isnum(jv v) { return v.t == JV_INT || v.t == JV_BOOL || v.t == JV_FLOAT; }
static double fnum(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)v.u.i; }

static const char *op_sym(int op) {
    static const char *s[] = { "+", "-", "*", "/", "//", "%", "**" };
    return op <= OP_POW ? s[op] : "?";
}

_Noreturn static void bad_operands(jctx *c, int op, jv a, jv b) {
    if (a.t == JV_UNDEF) jfail_undef(c, a);
    if (b.t == JV_UNDEF) jfail_undef(c, b);
    if (op == OP_ADD && a.t == JV_STR)
        jfail(c, LLMC_ERR_TEMPLATE, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
    if (op == OP_ADD && a.t == JV_LIST)
        jfail(c, LLMC_ERR_TEMPLATE, "can only concatenate list (not \"%s\") to list", jv_type_name(b));
    jfail(c, LLMC_ERR_TEMPLATE, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym(op), jv_type_name(a), jv_type_name(b));
}

static jv repeat_seq(jctx *c, jv seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.t == JV_STR) {
        size_t len = JS(seq)->len;
        if (!len || !times) return jstr_new(c, "", 0);
        if (len && (uint64_t)times > c->max_string / len) jfail(c, LLMC_ERR_NOMEM, "string size limit exceeded (max_string %zu)", c->max_string);
        jbuf *b = jbuf_new(c);
        for (int64_t i = 0; i < times; i++) { jstep(c, 1); jbuf_add(c, b, JS(seq)->s, len); }
        return jstr_take_buf(c, b);
    }
    jlist *l = JL(seq);
    if (!l->n || !times) return seq.t == JV_TUPLE ? jtuple_new(c, 0) : jlist_new(c, 0);
    if ((uint64_t)times > c->max_items / l->n) jfail(c, LLMC_ERR_NOMEM, "list size limit exceeded (max_items %zu)", c->max_items);
    jv r = seq.t == JV_TUPLE ? jtuple_new(c, l->n * (size_t)times) : jlist_new(c, l->n * (size_t)times);
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < l->n; k++) { jstep(c, 1); jlist_push(c, r, jref(l->v[k])); }
    return r;
}

static jv binop(jctx *c, int op, jv a, jv b) {
    if (isnum(a) && isnum(b)) {
        bool fl = a.t == JV_FLOAT || b.t == JV_FLOAT;
        int64_t x = a.u.i, y = b.u.i, r;
        switch (op) {
        case OP_ADD:
            if (fl) return jv_float(fnum(a) + fnum(b));
            if (__builtin_add_overflow(x, y, &r)) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)");
            return jv_int(r);
        case OP_SUB:
            if (fl) return jv_float(fnum(a) - fnum(b));
            if (__builtin_sub_overflow(x, y, &r)) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)");
            return jv_int(r);
        case OP_MUL:
            if (fl) return jv_float(fnum(a) * fnum(b));
            if (__builtin_mul_overflow(x, y, &r)) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)");
            return jv_int(r);
        case OP_DIV:
            if (fnum(b) == 0.0) jfail(c, LLMC_ERR_TEMPLATE, "division by zero");
            return jv_float(fnum(a) / fnum(b));
        case OP_FLOORDIV:
            if (fl) {
                if (fnum(b) == 0.0) jfail(c, LLMC_ERR_TEMPLATE, "float floor division by zero");
                double m = fmod(fnum(a), fnum(b)), d = (fnum(a) - m) / fnum(b);
                if (m != 0 && ((fnum(b) < 0) != (m < 0))) d -= 1.0;
                double fd = floor(d);
                if (d - fd > 0.5) fd += 1.0;
                return jv_float(fd);
            }
            if (y == 0) jfail(c, LLMC_ERR_TEMPLATE, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)");
            r = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
            return jv_int(r);
        case OP_MOD:
            if (fl) {
                if (fnum(b) == 0.0) jfail(c, LLMC_ERR_TEMPLATE, "float modulo");
                double m = fmod(fnum(a), fnum(b));
                if (m != 0 && ((fnum(b) < 0) != (m < 0))) m += fnum(b);
                else if (m == 0) m = copysign(0.0, fnum(b));
                return jv_float(m);
            }
            if (y == 0) jfail(c, LLMC_ERR_TEMPLATE, "integer division or modulo by zero");
            if (y == -1) return jv_int(0);
            r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
            return jv_int(r);
        case OP_POW:
            if (!fl && y >= 0) {
                int64_t res = 1, base = x;
                int64_t e = y;
                while (e > 0) {
                    if (e & 1) { if (__builtin_mul_overflow(res, base, &res)) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)"); }
                    e >>= 1;
                    if (e && __builtin_mul_overflow(base, base, &base)) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)");
                }
                return jv_int(res);
            }
            if (fnum(a) == 0.0 && fnum(b) < 0) jfail(c, LLMC_ERR_TEMPLATE, "0.0 cannot be raised to a negative power");
            if (fnum(a) < 0 && fnum(b) != floor(fnum(b)))
                jfail(c, LLMC_ERR_UNSUPPORTED, "a negative number to a fractional power is complex (llmc has no complex numbers)");
            double pr = pow(fnum(a), fnum(b));
            if (isinf(pr) && isfinite(fnum(a)) && isfinite(fnum(b))) jfail(c, LLMC_ERR_RANGE, "(34, 'Numerical result out of range')");
            return jv_float(pr);
        }
    }
    if (op == OP_ADD) {
        if (a.t == JV_STR && b.t == JV_STR && (a.sub == JS_MARKUP) != (b.sub == JS_MARKUP)) {
            /* Markup + str and str + Markup escape the plain side and stay Markup */
            jv ea = jhtml_escape(c, a), eb = jhtml_escape(c, b);
            jbuf *buf = jbuf_new(c);
            jbuf_add(c, buf, JS(ea)->s, JS(ea)->len);
            jbuf_add(c, buf, JS(eb)->s, JS(eb)->len);
            junref(c, ea);
            junref(c, eb);
            jv r = jstr_take_buf(c, buf);
            r.sub = JS_MARKUP;
            return r;
        }
        if (a.t == JV_STR && b.t == JV_STR) {
            jcheck_str(c, JS(a)->len + JS(b)->len);
            jbuf *buf = jbuf_new(c);
            jbuf_add(c, buf, JS(a)->s, JS(a)->len);
            jbuf_add(c, buf, JS(b)->s, JS(b)->len);
            jv r = jstr_take_buf(c, buf);
            r.sub = a.sub == JS_MARKUP ? JS_MARKUP : JS_PLAIN;
            return r;
        }
        if ((a.t == JV_LIST || a.t == JV_TUPLE) && a.t == b.t && !a.sub && !b.sub) {
            jv r = a.t == JV_LIST ? jlist_new(c, JL(a)->n + JL(b)->n) : jtuple_new(c, JL(a)->n + JL(b)->n);
            for (size_t i = 0; i < JL(a)->n; i++) jlist_push(c, r, jref(JL(a)->v[i]));
            for (size_t i = 0; i < JL(b)->n; i++) jlist_push(c, r, jref(JL(b)->v[i]));
            jstep(c, JL(a)->n + JL(b)->n);
            return r;
        }
    }
    if (op == OP_MUL) {
        if ((a.t == JV_STR || a.t == JV_LIST || a.t == JV_TUPLE) && (b.t == JV_INT || b.t == JV_BOOL)) return repeat_seq(c, a, b.u.i);
        if ((b.t == JV_STR || b.t == JV_LIST || b.t == JV_TUPLE) && (a.t == JV_INT || a.t == JV_BOOL)) return repeat_seq(c, b, a.u.i);
    }
    if (op == OP_MOD && a.t == JV_STR) return jpy_percent_format(c, a, b);
    bad_operands(c, op, a, b);
}

static bool contains(jctx *c, jv container, jv item) {
    switch (container.t) {
    case JV_STR:
        if (item.t != JV_STR) {
            if (item.t == JV_UNDEF) jfail_undef(c, item);
            jfail(c, LLMC_ERR_TEMPLATE, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        }
        if (!JS(item)->len) return true;
        jstep(c, JS(container)->len / 64);
        return memmem(JS(container)->s, JS(container)->len, JS(item)->s, JS(item)->len) != NULL;
    case JV_LIST: case JV_TUPLE:
        jstep(c, JL(container)->n / 8);
        for (size_t i = 0; i < JL(container)->n; i++)
            if (jv_eq(c, JL(container)->v[i], item)) return true;
        return false;
    case JV_DICT: case JV_NS: {
        if (item.t == JV_LIST || item.t == JV_DICT) jfail(c, LLMC_ERR_TEMPLATE, "unhashable type: '%s'", jv_type_name(item));
        jv o;
        return jdict_get(container, item, &o);
    }
    case JV_UNDEF: return false;
    default:
        jfail(c, LLMC_ERR_TEMPLATE, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

static bool compare(jctx *c, int op, jv a, jv b) {
    switch (op) {
    case OP_EQ: return jv_eq(c, a, b);
    case OP_NE: return !jv_eq(c, a, b);
    case OP_LT: return jv_cmp(c, a, b) < 0;
    case OP_LE: return jv_cmp(c, a, b) <= 0;
    case OP_GT: return jv_cmp(c, a, b) > 0;
    case OP_GE: return jv_cmp(c, a, b) >= 0;
    case OP_IN: return contains(c, b, a);
    case OP_NOTIN: return !contains(c, b, a);
    }
    return false;
}

/* ---------------------------------------------------------------- slices */

static int64_t slice_idx(jctx *c, jv v, bool *none) {
    *none = false;
    if (v.t == JV_NONE || v.t == JV_UNDEF) { *none = true; return 0; }
    if (v.t == JV_INT || v.t == JV_BOOL) return v.u.i;
    jfail(c, LLMC_ERR_TEMPLATE, "slice indices must be integers or None");
}

static jv do_slice(jctx *c, jv obj, jv vstart, jv vstop, jv vstep) {
    bool ns, ne, nt;
    int64_t start = slice_idx(c, vstart, &ns), stop = slice_idx(c, vstop, &ne), step = slice_idx(c, vstep, &nt);
    if (nt) step = 1;
    if (step == 0) jfail(c, LLMC_ERR_TEMPLATE, "slice step cannot be zero");
    if (step < -INT64_MAX) step = -INT64_MAX; /* so -step cannot overflow */
    int64_t len;
    if (obj.t == JV_STR) len = (int64_t)jstr_ncp(JS(obj));
    else if ((obj.t == JV_LIST && (!obj.sub || obj.sub == LS_RANGE)) || obj.t == JV_TUPLE) len = (int64_t)JL(obj)->n;
    else if (obj.t == JV_LIST) return jv_undef(); /* generators and dict views are not subscriptable */
    else if (obj.t == JV_UNDEF) jfail_undef(c, obj);
    else jfail(c, LLMC_ERR_TEMPLATE, "'%s' object is not subscriptable", jv_type_name(obj));
    /* PySlice_AdjustIndices */
    if (ns) start = step < 0 ? len - 1 : 0;
    else {
        if (start < 0) { start += len; if (start < 0) start = step < 0 ? -1 : 0; }
        else if (start >= len) start = step < 0 ? len - 1 : len;
    }
    if (ne) stop = step < 0 ? -1 : len;
    else {
        if (stop < 0) { stop += len; if (stop < 0) stop = step < 0 ? -1 : 0; }
        else if (stop >= len) stop = step < 0 ? len - 1 : len;
    }
    int64_t count = 0;
    if (step < 0) { if (stop < start) count = (start - stop - 1) / (-step) + 1; }
    else if (start < stop) count = (stop - start - 1) / step + 1;
    jstep(c, (unsigned long long)count / 4);
    if (obj.t == JV_STR) {
        jstr *s = JS(obj);
        jbuf *b = jbuf_new(c);
        if ((int64_t)s->len == len) {
            for (int64_t i = 0, k = start; i < count; i++) { jbuf_addc(c, b, s->s[k]); if (i + 1 < count) k += step; }
        } else {
            /* code point offsets */
            size_t *offs = jalloc(c, ((size_t)len + 1) * sizeof(size_t));
            size_t k = 0;
            for (size_t i = 0; i < s->len; i++)
                if (((unsigned char)s->s[i] & 0xC0) != 0x80) offs[k++] = i;
            offs[k] = s->len;
            for (int64_t i = 0, q = start; i < count; i++) {
                jbuf_add(c, b, s->s + offs[q], offs[q + 1] - offs[q]);
                if (i + 1 < count) q += step;
            }
            free(offs);
        }
        return jstr_take_buf(c, b);
    }
    jv r = obj.t == JV_TUPLE ? jtuple_new(c, (size_t)count) : jlist_new(c, (size_t)count);
    for (int64_t i = 0, k = start; i < count; i++) { jlist_push(c, r, jref(JL(obj)->v[k])); if (i + 1 < count) k += step; }
    if (obj.t == JV_LIST && obj.sub == LS_RANGE) {
        /* a slice of a range is a range: range(r0 + start*r2, r0 + stop*r2, r2*step) */
        jlist *src = JL(obj), *dst = JL(r);
        __int128 a = (__int128)src->r0 + (__int128)start * src->r2, b = (__int128)src->r0 + (__int128)stop * src->r2,
                 st = (__int128)src->r2 * step;
        if (a >= INT64_MIN && a <= INT64_MAX && b >= INT64_MIN && b <= INT64_MAX && st >= INT64_MIN && st <= INT64_MAX) {
            r.sub = LS_RANGE;
            dst->r0 = (int64_t)a;
            dst->r1 = (int64_t)b;
            dst->r2 = (int64_t)st;
        }
    }
    return r;
}

/* ---------------------------------------------------------------- calls */

typedef struct {
    jv hold;            /* list keeping evaluated values alive */
    jv *args;
    int nargs, nkw;
    const char *kwn[64];
    jv *kwv;
} callargs;

static void eval_args(jctx *c, jscope *s, const jnode *n, callargs *ca) {
    ca->hold = jlist_new(c, (size_t)(n->n + n->nkw) + 4);
    jv dyn = JV_MK(JV_NONE), dynkw = JV_MK(JV_NONE);
    for (int i = 0; i < n->n; i++) jlist_push(c, ca->hold, jeval(c, s, n->items[i]));
    int npos = n->n;
    if (n->c) {
        dyn = jeval(c, s, n->c);
        jlist_push(c, ca->hold, dyn);
        jv l = jiter_list(c, dyn);
        jlist_push(c, ca->hold, l);
        /* positional values must be contiguous: rebuild in a fresh holder */
        jv h2 = jlist_new(c, (size_t)npos + JL(l)->n + (size_t)n->nkw + 4);
        for (int i = 0; i < npos; i++) jlist_push(c, h2, jref(JL(ca->hold)->v[i]));
        for (size_t i = 0; i < JL(l)->n; i++) jlist_push(c, h2, jref(JL(l)->v[i]));
        npos = (int)JL(h2)->n;
        jlist_push(c, h2, ca->hold); /* keep old holder alive via new one */
        ca->hold = h2;
    }
    int base = (int)JL(ca->hold)->n;
    int nkw = 0;
    for (int i = 0; i < n->nkw; i++) {
        if (nkw >= 64) jfail(c, LLMC_ERR_TEMPLATE, "too many keyword arguments");
        ca->kwn[nkw++] = n->names[i];
        jlist_push(c, ca->hold, jeval(c, s, n->items[n->n + i]));
    }
    if (n->d) {
        dynkw = jeval(c, s, n->d);
        jlist_push(c, ca->hold, dynkw);
        if (dynkw.t != JV_DICT) jfail(c, LLMC_ERR_TEMPLATE, "argument after ** must be a mapping");
        for (size_t i = 0; i < JD(dynkw)->n; i++) {
            if (nkw >= 64) jfail(c, LLMC_ERR_TEMPLATE, "too many keyword arguments");
            if (JD(dynkw)->k[i].t != JV_STR) jfail(c, LLMC_ERR_TEMPLATE, "keywords must be strings");
            ca->kwn[nkw++] = JS(JD(dynkw)->k[i])->s;
            jlist_push(c, ca->hold, jref(JD(dynkw)->v[i]));
        }
    }
    ca->args = JL(ca->hold)->v;
    ca->nargs = npos;
    ca->kwv = JL(ca->hold)->v + base;
    ca->nkw = nkw;
}

static void exec_node(jctx *c, jscope *s, const jnode *n);
static jv call_loop(jctx *c, jloop *lp, jv *args, int nargs);

static jv call_macro(jctx *c, jmacro *m, jv *args, int nargs, const char **kwn, jv *kwv, int nkw, jv caller) {
    const jnode *def = m->def;
    if (++c->depth > c->max_depth)
        jfail(c, LLMC_ERR_RANGE, "recursion depth limit exceeded (max_depth %d)", c->max_depth);
    jscope *sc = jscope_new(c, m->closure);
    bool *used = NULL;
    bool used_small[64] = { 0 };
    used = nkw <= 64 ? used_small : jalloc(c, (size_t)nkw);
    if (used != used_small) memset(used, 0, (size_t)nkw);
    for (int i = 0; i < def->n; i++) {
        const char *pn = def->names[i];
        jv v;
        bool set = false;
        if (i < nargs) { v = jref(args[i]); set = true; }
        for (int k = 0; k < nkw; k++)
            if (strcmp(kwn[k], pn) == 0) {
                if (set) { if (used != used_small) free(used); jfail(c, LLMC_ERR_TEMPLATE, "macro '%s' got multiple values for argument '%s'", def->name ? def->name : "caller", pn); }
                v = jref(kwv[k]);
                used[k] = true;
                set = true;
            }
        if (!set) {
            if (def->items[i]) v = jeval(c, sc, def->items[i]);
            else { v = jv_undef(); v.sub = UNDEF_NAME; v.aux = pn; }
        }
        jscope_set(c, sc, pn, v);
    }
    if (nargs > def->n && !(def->flag & 1))
        jfail(c, LLMC_ERR_TEMPLATE, "macro '%s' takes not more than %d argument(s)", def->name ? def->name : "caller", def->n);
    if (!(def->flag & 2))
        for (int k = 0; k < nkw; k++)
            if (!used[k] && strcmp(kwn[k], "caller") != 0) {
                const char *bad = kwn[k];
                if (used != used_small) free(used);
                jfail(c, LLMC_ERR_TEMPLATE, "macro '%s' takes no keyword argument '%s'", def->name ? def->name : "caller", bad);
            }
    jv varargs = jtuple_new(c, 0);
    for (int i = def->n; i < nargs; i++) jlist_push(c, varargs, jref(args[i]));
    jscope_set(c, sc, "varargs", varargs);
    jv kwargs = jdict_new(c);
    for (int k = 0; k < nkw; k++)
        if (!used[k]) jdict_set(c, kwargs, jstr_cstr(c, kwn[k]), jref(kwv[k]));
    if (used != used_small) free(used);
    jscope_set(c, sc, "kwargs", kwargs);
    if (caller.t != JV_UNDEF) jscope_set(c, sc, "caller", jref(caller));
    else if (m->caller.t == JV_MACRO) jscope_set(c, sc, "caller", jref(m->caller));
    bind_undef(c, sc, def);
    jbuf *saved = c->out;
    c->out = jbuf_new(c);
    int saved_ctl = c->ctl;
    exec_node(c, sc, def->b);
    c->ctl = saved_ctl;
    jv r = jstr_take_buf(c, c->out);
    c->out = saved;
    scope_release(c, sc);
    c->depth--;
    return r;
}

jv jcall_value(jctx *c, jscope *s, jv callee, jv *args, int nargs, const char **kwn, jv *kwv, int nkw) {
    switch (callee.t) {
    case JV_MACRO: return call_macro(c, (jmacro *)callee.u.o, args, nargs, kwn, kwv, nkw, jv_undef());
    case JV_FUNC: return jcall_func(c, s, (int)callee.u.i, args, nargs, kwn, kwv, nkw);
    case JV_METHOD: {
        jmethod *m = (jmethod *)callee.u.o;
        return jcall_method(c, m->self, m->method, m->name, args, nargs, kwn, kwv, nkw);
    }
    case JV_JOINER: return jcall_joiner(c, callee);
    case JV_LOOP: return call_loop(c, (jloop *)callee.u.o, args, nargs);
    case JV_UNDEF: jfail_undef(c, callee);
    default: jfail(c, LLMC_ERR_TEMPLATE, "'%s' object is not callable", jv_type_name(callee));
    }
}

static jv eval_call(jctx *c, jscope *s, const jnode *n, jv caller) {
    callargs ca;
    if (n->a->kind == N_GETATTR) {
        jv obj = jeval(c, s, n->a->a);
        int m = jmethod_lookup(obj, n->a->name, n->a->len);
        if (m >= 0) {
            c->pos = n->pos;
            eval_args(c, s, n, &ca);
            c->pos = n->pos;
            jv r = jcall_method(c, obj, m, n->a->name, ca.args, ca.nargs, ca.kwn, ca.kwv, ca.nkw);
            junref(c, ca.hold);
            junref(c, obj);
            return r;
        }
        c->pos = n->a->pos;
        jv callee = jgetattr(c, obj, n->a->name, n->a->len, false);
        junref(c, obj);
        eval_args(c, s, n, &ca);
        c->pos = n->pos;
        jv r;
        if (caller.t == JV_MACRO && callee.t == JV_MACRO)
            r = call_macro(c, (jmacro *)callee.u.o, ca.args, ca.nargs, ca.kwn, ca.kwv, ca.nkw, caller);
        else r = jcall_value(c, s, callee, ca.args, ca.nargs, ca.kwn, ca.kwv, ca.nkw);
        junref(c, ca.hold);
        junref(c, callee);
        return r;
    }
    jv callee = jeval(c, s, n->a);
    eval_args(c, s, n, &ca);
    c->pos = n->pos;
    jv r;
    if (caller.t == JV_MACRO && callee.t == JV_MACRO)
        r = call_macro(c, (jmacro *)callee.u.o, ca.args, ca.nargs, ca.kwn, ca.kwv, ca.nkw, caller);
    else r = jcall_value(c, s, callee, ca.args, ca.nargs, ca.kwn, ca.kwv, ca.nkw);
    junref(c, ca.hold);
    junref(c, callee);
    return r;
}

static jv apply_filter_node(jctx *c, jscope *s, const jnode *n, jv input /* taken */) {
    jcheck_stack(c); /* a chain of N filters recurses N deep here, without passing through jeval */
    jv v = n->a ? (n->a->kind == N_FILTER ? apply_filter_node(c, s, n->a, input) : jeval(c, s, n->a)) : input;
    callargs ca;
    eval_args(c, s, n, &ca);
    c->pos = n->pos;
    if (n->fn < 0) jfail(c, LLMC_ERR_TEMPLATE, "no filter named '%s'", n->name);
    jv r = jfilter_apply(c, s, n->fn, n->name, v, ca.args, ca.nargs, ca.kwn, ca.kwv, ca.nkw);
    junref(c, ca.hold);
    junref(c, v);
    return r;
}

/* ---------------------------------------------------------------- expressions */

/* True when jinja2 would fold the expression to a constant at compile time. */
static bool const_expr(jctx *c, const jnode *n) {
    jcheck_stack(c); /* `1+1+...` is a left-deep chain as long as the source allows */
    switch (n->kind) {
    case N_CONST: return true;
    case N_NEG: case N_POS: case N_NOT: return const_expr(c, n->a);
    case N_BINOP: case N_AND: case N_OR: return const_expr(c, n->a) && const_expr(c, n->b);
    default: return false;
    }
}

jv jeval(jctx *c, jscope *s, const jnode *n) {
    c->pos = n->pos;
    jstep(c, 1);
    jcheck_stack(c);
    switch (n->kind) {
    case N_CONST: return jref(n->cval);
    case N_NAME: {
        jv v;
        if (jscope_get(s, n->name, &v)) return jref(v);
        v = jv_undef();
        v.sub = UNDEF_NAME;
        v.aux = n->name;
        return v;
    }
    case N_LIST: case N_TUPLE: {
        jv l = n->kind == N_LIST ? jlist_new(c, (size_t)n->n) : jtuple_new(c, (size_t)n->n);
        for (int i = 0; i < n->n; i++) jlist_push(c, l, jeval(c, s, n->items[i]));
        return l;
    }
    case N_DICT: {
        jv d = jdict_new(c);
        for (int i = 0; i < n->n; i++) {
            jv k = jeval(c, s, n->keys[i]);
            if (k.t == JV_LIST || k.t == JV_DICT) { junref(c, k); jfail(c, LLMC_ERR_TEMPLATE, "unhashable type: '%s'", jv_type_name(k)); }
            jv v = jeval(c, s, n->items[i]);
            jdict_set(c, d, k, v);
        }
        return d;
    }
    case N_GETATTR: {
        jv obj = jeval(c, s, n->a);
        c->pos = n->pos;
        jv r = jgetattr(c, obj, n->name, n->len, false);
        junref(c, obj);
        return r;
    }
    case N_GETITEM: {
        jv obj = jeval(c, s, n->a);
        jv r;
        if (n->b->kind == N_SLICE) {
            const jnode *sl = n->b;
            jv a = sl->a ? jeval(c, s, sl->a) : jv_none();
            jv b = sl->b ? jeval(c, s, sl->b) : jv_none();
            jv st = sl->c ? jeval(c, s, sl->c) : jv_none();
            c->pos = n->pos;
            r = do_slice(c, obj, a, b, st);
        } else {
            jv key = jeval(c, s, n->b);
            c->pos = n->pos;
            r = jgetitem(c, obj, key);
            junref(c, key);
        }
        junref(c, obj);
        return r;
    }
    case N_CALL: return eval_call(c, s, n, jv_undef());
    case N_FILTER: return apply_filter_node(c, s, n, jv_undef());
    case N_TEST: {
        jv v = jeval(c, s, n->a);
        callargs ca;
        eval_args(c, s, n, &ca);
        c->pos = n->pos;
        if (n->fn < 0) jfail(c, LLMC_ERR_TEMPLATE, "no test named '%s'", n->name);
        bool r = jtest_apply(c, s, n->fn, n->name, v, ca.args, ca.nargs);
        junref(c, ca.hold);
        junref(c, v);
        return jv_bool(r);
    }
    case N_NEG: case N_POS: {
        jv v = jeval(c, s, n->a);
        c->pos = n->pos;
        if (v.t == JV_UNDEF) jfail_undef(c, v);
        if (v.t == JV_FLOAT) return jv_float(n->kind == N_NEG ? -v.u.f : v.u.f);
        if (v.t == JV_INT || v.t == JV_BOOL) {
            if (n->kind == N_POS) return jv_int(v.u.i);
            if (v.u.i == INT64_MIN) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)");
            return jv_int(-v.u.i);
        }
        junref(c, v);
        jfail(c, LLMC_ERR_TEMPLATE, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+', jv_type_name(v));
    }
    case N_NOT: {
        jv v = jeval(c, s, n->a);
        bool r = !jv_truthy(v);
        junref(c, v);
        return jv_bool(r);
    }
    case N_AND: {
        jv a = jeval(c, s, n->a);
        if (!jv_truthy(a)) return a;
        junref(c, a);
        return jeval(c, s, n->b);
    }
    case N_OR: {
        jv a = jeval(c, s, n->a);
        if (jv_truthy(a)) return a;
        junref(c, a);
        return jeval(c, s, n->b);
    }
    case N_BINOP: {
        if (n->op == OP_POW && n->a->kind == N_NEG && n->a->a->kind == N_CONST &&
            (n->a->a->cval.t == JV_INT || n->a->a->cval.t == JV_FLOAT) && !const_expr(c, n->b)) {
            /* jinja2 folds -1 to a constant and emits `(-1 ** y)`, which Python reads as -(1 ** y) */
            jv b = jeval(c, s, n->b);
            c->pos = n->pos;
            jv r = binop(c, OP_POW, n->a->a->cval, b);
            junref(c, b);
            if (r.t == JV_INT) {
                if (r.u.i == INT64_MIN) jfail(c, LLMC_ERR_RANGE, "integer overflow (llmc integers are 64-bit)");
                r.u.i = -r.u.i;
            } else if (r.t == JV_FLOAT) r.u.f = -r.u.f;
            return r;
        }
        jv a = jeval(c, s, n->a);
        jv b = jeval(c, s, n->b);
        c->pos = n->pos;
        jv r = binop(c, n->op, a, b);
        junref(c, a);
        junref(c, b);
        return r;
    }
    case N_CONCAT: {
        jbuf *b = jbuf_new(c);
        for (int i = 0; i < n->n; i++) {
            jv v = jeval(c, s, n->items[i]);
            jv_to_str(c, v, b);
            junref(c, v);
        }
        return jstr_take_buf(c, b);
    }
    case N_COMPARE: {
        jv left = jeval(c, s, n->a);
        for (int i = 0; i < n->n; i++) {
            jv right = jeval(c, s, n->items[i]);
            c->pos = n->items[i]->pos;
            bool ok = compare(c, n->ops[i], left, right);
            junref(c, left);
            left = right;
            if (!ok) { junref(c, left); return jv_bool(false); }
        }
        junref(c, left);
        return jv_bool(true);
    }
    case N_COND: {
        jv t = jeval(c, s, n->a);
        bool ok = jv_truthy(t);
        junref(c, t);
        if (ok) return jeval(c, s, n->b);
        if (n->c) return jeval(c, s, n->c);
        return jv_undef();
    }
    default:
        jfail(c, LLMC_ERR_INTERNAL, "cannot evaluate node kind %d as an expression", n->kind);
    }
}

/* ---------------------------------------------------------------- statements */

static void emit(jctx *c, jv v) {
    jv_to_str(c, v, c->out);
    if (c->out == c->root_out && c->out->len > c->max_output)
        jfail(c, LLMC_ERR_RANGE, "output size limit exceeded (max_output %zu bytes)", c->max_output);
}

static void assign(jctx *c, jscope *s, const jnode *target, jv v /* taken */) {
    if (target->kind == N_NAME) { jscope_set(c, s, target->name, v); return; }
    if (target->kind == N_NSREF) {
        jv ns;
        if (!jscope_get(s, target->name, &ns) || ns.t != JV_NS) {
            junref(c, v);
            jfail(c, LLMC_ERR_TEMPLATE, "cannot assign attribute on non-namespace object");
        }
        const char *attr = target->names[0];
        if (attr[0] == '_') {
            junref(c, v);
            jfail(c, LLMC_ERR_TEMPLATE, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '%s'", attr);
        }
        jdict_set(c, ns, jstr_cstr(c, attr), v);
        return;
    }
    /* tuple unpacking (nested targets allowed) */
    jv l = jiter_list(c, v);
    junref(c, v);
    if ((int)JL(l)->n != target->n) {
        size_t got = JL(l)->n;
        junref(c, l);
        if ((int)got > target->n) jfail(c, LLMC_ERR_TEMPLATE, "too many values to unpack (expected %d)", target->n);
        jfail(c, LLMC_ERR_TEMPLATE, "not enough values to unpack (expected %d, got %zu)", target->n, got);
    }
    for (int i = 0; i < target->n; i++) assign(c, s, target->items[i], jref(JL(l)->v[i]));
    junref(c, l);
}

/* Runs a for loop over iterv (taken); depth > 1 for loop(...) calls of a recursive loop. */
static void run_loop(jctx *c, jscope *s, const jnode *n, jv iterv, int depth) {
    jv items = jiter_list(c, iterv);
    junref(c, iterv);
    if (n->e) {
        jv kept = jlist_new(c, JL(items)->n);
        for (size_t i = 0; i < JL(items)->n; i++) {
            jstep(c, 1);
            jscope *fs = jscope_new(c, s);
            assign(c, fs, n->a, jref(JL(items)->v[i]));
            jv t = jeval(c, fs, n->e);
            if (jv_truthy(t)) jlist_push(c, kept, jref(JL(items)->v[i]));
            junref(c, t);
            scope_release(c, fs);
        }
        junref(c, items);
        items = kept;
    }
    size_t cnt = JL(items)->n;
    if (!cnt) {
        junref(c, items);
        if (n->d) exec_node(c, s, n->d);
        return;
    }
    /* jinja2 runs `else` unless some iteration reached the end of the body (no break/continue) */
    bool completed = false;
    jloop *lp = jobj_new(c, sizeof *lp, JO_LOOP);
    lp->items = items;
    lp->n = (int64_t)cnt;
    lp->depth = depth;
    lp->changed_last = jv_undef();
    lp->node = n;
    lp->scope = s;
    s->h.rc++;
    jv loopv = jv_obj(JV_LOOP, lp);
    c->loop_depth++;
    for (size_t i = 0; i < cnt; i++) {
        jstep(c, 1);
        lp->i = (int64_t)i;
        jscope *is = jscope_new(c, s);
        assign(c, is, n->a, jref(JL(items)->v[i]));
        jscope_set(c, is, "loop", jref(loopv));
        bind_undef(c, is, n);
        exec_node(c, is, n->c);
        scope_release(c, is);
        if (c->ctl == CTL_BREAK) { c->ctl = CTL_NONE; break; }
        if (c->ctl == CTL_CONTINUE) c->ctl = CTL_NONE;
        else completed = true;
    }
    c->loop_depth--;
    junref(c, loopv);
    if (!completed && n->d) exec_node(c, s, n->d);
}

static void exec_for(jctx *c, jscope *s, const jnode *n) {
    jv iterv = jeval(c, s, n->b);
    c->pos = n->b->pos;
    run_loop(c, s, n, iterv, 1);
}

/* loop(items) inside a `recursive` for loop renders the loop body for items, one level deeper. */
static jv call_loop(jctx *c, jloop *lp, jv *args, int nargs) {
    if (!lp->node || !lp->node->flag)
        jfail(c, LLMC_ERR_TEMPLATE, "Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
    if (nargs != 1) jfail(c, LLMC_ERR_TEMPLATE, "loop() takes exactly one argument");
    if (++c->depth > c->max_depth) jfail(c, LLMC_ERR_RANGE, "recursion depth limit exceeded (max_depth %d)", c->max_depth);
    jbuf *saved = c->out;
    c->out = jbuf_new(c);
    run_loop(c, lp->scope, lp->node, jref(args[0]), lp->depth + 1);
    jv r = jstr_take_buf(c, c->out);
    c->out = saved;
    c->depth--;
    return r;
}

static void exec_node(jctx *c, jscope *s, const jnode *n) {
    if (!n) return;
    c->pos = n->pos;
    jstep(c, 1);
    jcheck_stack(c);
    switch (n->kind) {
    case N_BODY:
        for (int i = 0; i < n->n; i++) {
            exec_node(c, s, n->items[i]);
            if (c->ctl) return;
        }
        return;
    case N_TEXT:
        jbuf_add(c, c->out, n->name, n->len);
        if (c->out == c->root_out && c->out->len > c->max_output)
            jfail(c, LLMC_ERR_RANGE, "output size limit exceeded (max_output %zu bytes)", c->max_output);
        return;
    case N_EMIT: {
        jv v = jeval(c, s, n->a);
        emit(c, v);
        junref(c, v);
        return;
    }
    case N_IF: {
        jv t = jeval(c, s, n->a);
        bool ok = jv_truthy(t);
        junref(c, t);
        exec_node(c, s, ok ? n->b : n->c);
        return;
    }
    case N_FOR:
        if (++c->depth > c->max_depth) jfail(c, LLMC_ERR_RANGE, "recursion depth limit exceeded (max_depth %d)", c->max_depth);
        exec_for(c, s, n);
        c->depth--;
        return;
    case N_SET: {
        jv v = jeval(c, s, n->b);
        c->pos = n->pos;
        assign(c, s, n->a, v);
        return;
    }
    case N_SETBLOCK: {
        jbuf *saved = c->out;
        c->out = jbuf_new(c);
        jscope *bs = jscope_new(c, s); /* the body is its own frame: its sets do not leak */
        bind_undef(c, bs, n);
        exec_node(c, bs, n->b);
        scope_release(c, bs);
        jv v = jstr_take_buf(c, c->out);
        c->out = saved;
        if (n->c) v = apply_filter_node(c, s, n->c, v);
        c->pos = n->pos;
        assign(c, s, n->a, v);
        return;
    }
    case N_MACRO: {
        jmacro *m = jobj_new(c, sizeof *m, JO_MACRO);
        m->def = n;
        m->closure = s;
        s->h.rc++;
        m->caller = jv_undef();
        jscope_set(c, s, n->name, jv_obj(JV_MACRO, m));
        return;
    }
    case N_CALLBLOCK: {
        jmacro *m = jobj_new(c, sizeof *m, JO_MACRO);
        m->def = n;
        m->closure = s;
        s->h.rc++;
        m->caller = jv_undef();
        jv caller = jv_obj(JV_MACRO, m);
        jv r = eval_call(c, s, n->a, caller);
        junref(c, caller);
        emit(c, r);
        junref(c, r);
        return;
    }
    case N_FILTERBLOCK: {
        jbuf *saved = c->out;
        c->out = jbuf_new(c);
        jscope *bs = jscope_new(c, s);
        bind_undef(c, bs, n);
        exec_node(c, bs, n->b);
        scope_release(c, bs);
        jv v = jstr_take_buf(c, c->out);
        c->out = saved;
        jv r = apply_filter_node(c, s, n->a, v);
        emit(c, r);
        junref(c, r);
        return;
    }
    case N_WITH: {
        jscope *ws = jscope_new(c, s);
        for (int i = 0; i < n->n; i++) {
            jv v = jeval(c, s, n->items[i]);
            assign(c, ws, n->keys[i], v);
        }
        bind_undef(c, ws, n);
        exec_node(c, ws, n->b);
        scope_release(c, ws);
        return;
    }
    case N_BREAK: c->ctl = CTL_BREAK; return;
    case N_CONTINUE: c->ctl = CTL_CONTINUE; return;
    default: {
        jv v = jeval(c, s, n);
        emit(c, v);
        junref(c, v);
    }
    }
}

/* ---------------------------------------------------------------- entry */

static const llmc_template_limits default_limits = {
    .max_steps = 50000000ULL, .max_depth = 200, .max_output = 64u << 20, .max_string = 64u << 20, .max_items = 1u << 20,
};


static llmc_status render_impl(const llmc_template *t, const cJSON *vars, const llmc_template_limits *limits,
                               char **out, size_t *out_len, llmc_error *const err);

/* C stack a render may use, measured from `base` (the render's frame): half of what is left below
 * it on this thread's stack, at most 4 MiB (far above what real templates need; the rest stays
 * for the caller and for the sanitizers' own reports). 256 KiB when the stack cannot be read. */
static size_t stack_budget(uintptr_t base) {
    static _Thread_local uintptr_t lo; /* lowest address of this thread's stack (0: not read yet) */
    static _Thread_local bool known;
    if (!known) {
        known = true; /* pthread_getattr_np can be slow (the main thread's reads /proc): once a thread */
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            void *addr = NULL;
            size_t sz = 0;
            if (pthread_attr_getstack(&attr, &addr, &sz) == 0 && sz) lo = (uintptr_t)addr;
            pthread_attr_destroy(&attr);
        }
    }
    size_t budget = 256u << 10;
    if (lo && base > lo) budget = (size_t)(base - lo) / 2;
    if (budget > (4u << 20)) budget = 4u << 20;
    return budget;
}

llmc_status llmc_template_render_ex(const llmc_template *t, const cJSON *vars, const llmc_template_limits *limits,
                                    char **out, size_t *out_len, llmc_error *err) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !out) return llmc_err(err, LLMC_ERR_INVALID_ARG, "llmc_template_render: NULL template or output");
    if (vars && !cJSON_IsObject(vars) && !cJSON_IsNull(vars))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: template variables must be a JSON object", t->name);
    llmc_error local;
    return render_impl(t, vars, limits, out, out_len, err ? err : &local);
}

static llmc_status render_impl(const llmc_template *t, const cJSON *vars, const llmc_template_limits *limits,
                               char **out, size_t *out_len, llmc_error *const err) {
    llmc_err_clear(err);
    const llmc_template_limits *L = limits ? limits : &default_limits;
    jctx cx;
    memset(&cx, 0, sizeof cx);
    jctx *c = &cx;
    jmp_buf jb;
    c->jb = &jb;
    c->err = err;
    c->tpl = t;
    c->max_steps = L->max_steps ? L->max_steps : default_limits.max_steps;
    c->max_depth = L->max_depth ? L->max_depth : default_limits.max_depth;
    c->max_output = L->max_output ? L->max_output : default_limits.max_output;
    c->max_string = L->max_string ? L->max_string : default_limits.max_string;
    c->max_items = L->max_items ? L->max_items : default_limits.max_items;
    c->now = L->now;
    c->stack_base = (uintptr_t)__builtin_frame_address(0);
    c->max_stack = stack_budget(c->stack_base);
    if (setjmp(jb)) {
        jheap_free_all(&c->heap);
        return err->code ? err->code : LLMC_ERR_TEMPLATE;
    }
    jscope *globals = jscope_new(c, NULL);
    for (int i = 0; i < FN_COUNT; i++) {
        jv f = JV_MK(JV_FUNC);
        f.u.i = i;
        jscope_set(c, globals, jfunc_names[i], f);
    }
    c->globals = globals;
    jscope *ts = jscope_new(c, globals);
    if (vars)
        for (const cJSON *e = vars->child; e; e = e->next)
            if (e->string) jscope_set(c, ts, e->string, jv_from_json(c, e, 0));
    for (int i = 0; i < t->n_store_first; i++) {
        jv u = jv_undef();
        u.sub = UNDEF_NAME;
        u.aux = t->store_first[i];
        jscope_set(c, ts, t->store_first[i], u);
    }
    c->out = c->root_out = jbuf_new(c);
    exec_node(c, ts, t->root);
    size_t len = c->out->len;
    char *res = malloc(len + 1);
    if (!res) { jheap_free_all(&c->heap); return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", t->name); }
    if (len) memcpy(res, c->out->s, len);
    res[len] = 0;
    jheap_free_all(&c->heap);
    *out = res;
    if (out_len) *out_len = len;
    return LLMC_OK;
}

llmc_status llmc_template_render(const llmc_template *t, const cJSON *vars, char **out, size_t *out_len,
                                 llmc_error *err) {
    return llmc_template_render_ex(t, vars, NULL, out, out_len, err);
}
