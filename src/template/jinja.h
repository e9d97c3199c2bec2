/* Internal interface of the Jinja engine shared by its files: values (refcounted, tracked per
 * render so an error can unwind with longjmp and still free everything), the AST, the
 * evaluation context and the builtin tables. */
#ifndef LLMC_TEMPLATE_JINJA_H
#define LLMC_TEMPLATE_JINJA_H
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "template/template.h"

typedef enum {
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_TUPLE, JV_DICT, JV_NS,
    JV_MACRO, JV_FUNC, JV_METHOD, JV_LOOP, JV_CYCLER, JV_JOINER
} jv_type;

/* What a JV_LIST stands for in Python (jv.sub): filters like select/map return generators (always
 * truthy, no len(), not subscriptable), dict.items()/keys()/values() return views. */
enum { LS_LIST = 0, LS_GEN, LS_ITEMS, LS_KEYS, LS_VALUES, LS_REVITER, LS_RANGE };
static inline bool jls_iterator(int sub) { return sub == LS_GEN || sub == LS_REVITER; }

/* A JV_STR with sub == JS_MARKUP is markupsafe's Markup (from |safe, |escape): `+` with a plain
 * string escapes the plain one, as Python's Markup.__add__/__radd__ do. */
enum { JS_PLAIN = 0, JS_MARKUP = 1 };

/* Why a value is undefined, for Jinja's error messages. */
enum { UNDEF_PLAIN, UNDEF_NAME, UNDEF_ATTR, UNDEF_ELEM, UNDEF_UNSAFE };

typedef struct jobj jobj;
typedef struct {
    uint8_t t;
    uint8_t sub;       /* UNDEF_*, or the object type code of an UNDEF_ATTR owner */
    union { int64_t i; double f; jobj *o; } u;
    const char *aux;   /* undefined: the missing name (template-lifetime string) */
} jv;

struct jobj {
    jobj *prev, *next; /* the heap's registry */
    int32_t rc;        /* < 0: immortal (template constants) */
    uint8_t kind;      /* JO_* */
};
enum { JO_STR, JO_LIST, JO_DICT, JO_MACRO, JO_METHOD, JO_LOOP, JO_SCOPE, JO_BUF, JO_CYCLER };

typedef struct { jobj h; size_t len; int64_t ncp; char *s; } jstr;           /* ncp: code points, -1 unknown */
typedef struct { jobj h; size_t n, cap; jv *v; int64_t r0, r1, r2; } jlist;   /* list and tuple; r*: range(start, stop, step) */
typedef struct { jobj h; size_t n, cap; jv *k, *v; uint32_t *idx; size_t icap; } jdict; /* dict, namespace */
typedef struct { jobj h; char *s; size_t len, cap; } jbuf;
struct jnode;
struct jscope;
typedef struct { jobj h; const struct jnode *def; struct jscope *closure; jv caller; } jmacro;
typedef struct { jobj h; jv self; int method; const char *name; } jmethod;
typedef struct { jobj h; jv items; int64_t i, n; int depth; jv changed_last; bool changed_init;
                 const struct jnode *node; struct jscope *scope; /* for loop(...) in recursive loops */ } jloop;
typedef struct { jobj h; jv items; int64_t pos; } jcycler;
typedef struct jscope { jobj h; struct jscope *parent; size_t n, cap; const char **names; jv *vals; } jscope;

typedef struct { jobj *head; } jheap;

/* ---- AST ---- */
typedef enum {
    N_CONST, N_NAME, N_LIST, N_TUPLE, N_DICT, N_GETATTR, N_GETITEM, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_NEG, N_POS, N_NOT, N_BINOP, N_AND, N_OR, N_CONCAT, N_COMPARE, N_COND, N_NSREF,
    N_BODY, N_TEXT, N_EMIT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO, N_CALLBLOCK, N_FILTERBLOCK,
    N_WITH, N_BREAK, N_CONTINUE
} jnode_kind;

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
       OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN };

typedef struct jnode {
    uint8_t kind, op;
    uint8_t flag;           /* for: recursive; call: has dyn args */
    uint32_t pos;           /* byte offset in the normalized source */
    struct jnode *a, *b, *c, *d, *e; /* children; meaning per kind */
    struct jnode **items;   /* list/tuple/dict values/body/args/compare operands */
    struct jnode **keys;    /* dict keys */
    const char **names;     /* keyword names / macro params / compare ops (as items) */
    uint8_t *ops;           /* compare ops */
    int n, nkw;             /* items count; keyword arg count (kw values follow positional in items) */
    const char *name;       /* name / attribute / filter / test / macro name / text */
    size_t len;             /* text length */
    jv cval;                /* constant */
    int fn;                 /* resolved builtin filter/test id, -1 unknown */
    /* frames (for/macro/call/with/set-block/filter bodies): names first assigned in the frame and
     * unknown to enclosing frames, which jinja2 starts undefined rather than resolving from context */
    const char **undef;
    int nundef;
} jnode;

struct llmc_template {
    char *name;
    char *src;         /* normalized source (newlines -> \n, one trailing newline dropped) */
    size_t src_len;
    jnode *root;
    void *arena;       /* AST + strings */
    jheap consts;      /* immortal constant values */
    /* Top-level names whose first top-level use is an assignment: jinja2 starts them undefined
     * (not the context value) for code that reads them from loops and macros before the assignment. */
    const char **store_first;
    int n_store_first;
};

/* ---- evaluation context ---- */
typedef struct jctx {
    jheap heap;
    jmp_buf *jb;
    llmc_error *err;
    const llmc_template *tpl;
    jbuf *out, *root_out;
    uint32_t pos;
    unsigned long long steps, max_steps;
    int depth, max_depth;
    size_t max_output, max_string, max_items;
    long long now;          /* strftime_now clock (llmc_template_limits.now) */
    int ctl;           /* 0, CTL_BREAK, CTL_CONTINUE */
    uintptr_t stack_base; /* address near the bottom of the render's C stack */
    size_t max_stack;     /* bytes of C stack a render may use (deep macro recursion × deep expressions) */
    jscope *globals;
    int loop_depth;
} jctx;
enum { CTL_NONE, CTL_BREAK, CTL_CONTINUE };

/* ---- values (jinja_value.c) ---- */
#define JV_MK(tt) ((jv){ .t = (tt) })
jv jv_none(void);
jv jv_undef(void);
jv jv_bool(bool b);
jv jv_int(int64_t i);
jv jv_float(double f);
static inline jv jv_obj(uint8_t t, void *o) { jv v = { .t = t }; v.u.o = (jobj *)o; return v; }
static inline bool jv_is_obj(jv v) {
    return v.t == JV_STR || v.t == JV_LIST || v.t == JV_TUPLE || v.t == JV_DICT || v.t == JV_NS || v.t == JV_MACRO ||
           v.t == JV_METHOD || v.t == JV_LOOP || v.t == JV_CYCLER || v.t == JV_JOINER;
}
static inline jstr *JS(jv v) { return (jstr *)v.u.o; }
static inline jlist *JL(jv v) { return (jlist *)v.u.o; }
static inline jdict *JD(jv v) { return (jdict *)v.u.o; }

_Noreturn void jfail(jctx *c, llmc_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn void jfail_undef(jctx *c, jv u);
void *jalloc(jctx *c, size_t n);
void *jrealloc(jctx *c, void *p, size_t n);
void *jobj_new(jctx *c, size_t size, uint8_t kind);
void jheap_free_all(jheap *h);
jv jref(jv v);
void junref(jctx *c, jv v);

jv jstr_new(jctx *c, const char *s, size_t len);
jv jstr_cstr(jctx *c, const char *s);
jv jstr_take_buf(jctx *c, jbuf *b); /* turns the buffer into a string value; b is released */
size_t jstr_ncp(jstr *s);
jbuf *jbuf_new(jctx *c);
void jbuf_add(jctx *c, jbuf *b, const char *s, size_t n);
void jbuf_addc(jctx *c, jbuf *b, char ch);
void jbuf_adds(jctx *c, jbuf *b, const char *s);
void jbuf_free(jctx *c, jbuf *b);

jv jlist_new(jctx *c, size_t cap);
jv jtuple_new(jctx *c, size_t cap);
void jlist_push(jctx *c, jv l, jv item); /* takes item */
jv jdict_new(jctx *c);
jv jns_new(jctx *c);
void jdict_set(jctx *c, jv d, jv key, jv val); /* takes key and val */
bool jdict_get(jv d, jv key, jv *out); /* borrowed */
bool jdict_get_str(jv d, const char *key, size_t klen, jv *out);

bool jv_truthy(jv v);
bool jv_eq(jctx *c, jv a, jv b);
int jv_cmp(jctx *c, jv a, jv b); /* Python ordering; fails on unorderable */
const char *jv_type_name(jv v);
const char *jtype_repr_name(int t); /* "dict object", ... as Jinja names owners in errors */
void jv_to_str(jctx *c, jv v, jbuf *b);  /* Python str() (undefined → "") */
void jv_repr(jctx *c, jv v, jbuf *b);    /* Python repr() */
jv jv_str(jctx *c, jv v);                /* str() as a new value */
void jfmt_float(double f, char *out, size_t cap); /* Python repr of a float */
jv jv_from_json(jctx *c, const cJSON *j, int depth);
void jv_tojson(jctx *c, jv v, jbuf *b, const char *indent, const char *item_sep, const char *key_sep,
               bool sort_keys, bool ensure_ascii, int level);

/* ---- scopes, evaluation (jinja_eval.c) ---- */
jscope *jscope_new(jctx *c, jscope *parent);
void jscope_set(jctx *c, jscope *s, const char *name, jv v); /* takes v */
bool jscope_get(jscope *s, const char *name, jv *out);      /* borrowed */
jv jeval(jctx *c, jscope *s, const jnode *n);
jv jcall_value(jctx *c, jscope *s, jv callee, jv *args, int nargs, const char **kwn, jv *kwv, int nkw);
void jstep(jctx *c, unsigned long long n);
/* Fails the render when it has used more C stack than its budget (jctx.max_stack). Every function
 * that can recurse on template code or on template-built values calls it (or goes through one
 * that does): the limit holds by construction, whatever the nesting. NULL / no budget: no check. */
void jcheck_stack(jctx *c);
void jcheck_str(jctx *c, size_t len);

/* ---- builtins (jinja_builtins.c) ---- */
int jfilter_lookup(const char *name);
int jtest_lookup(const char *name);
jv jfilter_apply(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs, const char **kwn, jv *kwv, int nkw);
bool jtest_apply(jctx *c, jscope *s, int id, const char *name, jv v, jv *args, int nargs);
/* Attribute lookup as the sandbox does (methods first for `.`, items first for `[]`). */
jv jgetattr(jctx *c, jv obj, const char *name, size_t nlen, bool item_first);
jv jgetitem(jctx *c, jv obj, jv key);
jv jcall_method(jctx *c, jv self, int method, const char *mname, jv *args, int nargs, const char **kwn, jv *kwv, int nkw);
int jmethod_lookup(jv self, const char *name, size_t nlen);
jv jcall_func(jctx *c, jscope *s, int fn, jv *args, int nargs, const char **kwn, jv *kwv, int nkw);
enum { FN_RANGE, FN_NAMESPACE, FN_DICT, FN_RAISE, FN_STRFTIME, FN_CYCLER, FN_JOINER, FN_LIPSUM, FN_COUNT };
extern const char *const jfunc_names[FN_COUNT];
jv jiter_list(jctx *c, jv v);
jv jhtml_escape(jctx *c, jv v); /* Markup(escape(str(v))); Markup passes through */
jv jcall_joiner(jctx *c, jv j);
jv jpy_percent_format(jctx *c, jv fmt, jv args); /* a list/tuple to iterate (new ref); fails on non-iterables */
bool jpy_space(uint32_t cp);
size_t jutf8_next(const char *s, size_t len, size_t i, uint32_t *cp);

/* ---- parsing (jinja_parse.c) ---- */
llmc_status jinja_parse(llmc_template *t, llmc_error *err);
void jpos_linecol(const llmc_template *t, uint32_t pos, int *line, int *col);

#endif
