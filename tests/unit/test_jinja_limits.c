/* The template engine's limits hold by construction: every recursive path of the parser and the
 * evaluator (filter and test chains, calls, attribute and item chains, operators, macros, elif
 * chains, values built deep at run time) ends in a clear error, never a stack overflow, for chains
 * 10^5 and 10^6 long, on the main thread's stack and on a small thread stack. Issue 19's crash
 * (12,000 chained filters, also through a chat template) is reproduced here. */
#include "test.h"
#include "template/template.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Template text: head, `unit` n times, mid, `close` n times, tail (malloc'd). */
static char *repeat2(const char *head, const char *unit, size_t n, const char *mid, const char *close, const char *tail) {
    size_t hl = strlen(head), ul = strlen(unit), ml = strlen(mid), cl = strlen(close), tl = strlen(tail);
    char *s = malloc(hl + (ul + cl) * n + ml + tl + 1), *o = s;
    if (!s) { fprintf(stderr, "out of memory\n"); exit(1); }
    memcpy(o, head, hl), o += hl;
    for (size_t i = 0; i < n; i++) memcpy(o, unit, ul), o += ul;
    memcpy(o, mid, ml), o += ml;
    for (size_t i = 0; i < n; i++) memcpy(o, close, cl), o += cl;
    memcpy(o, tail, tl + 1);
    return s;
}
static char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
    return repeat2(head, unit, n, tail, "", "");
}

/* Compiles and renders; returns the status of whichever step failed (LLMC_OK when both ran). */
static llmc_status compile_render(const char *src, char **out, llmc_error *err) {
    llmc_template *t = NULL;
    *out = NULL;
    llmc_status st = llmc_template_compile(src, strlen(src), "limits.jinja", &t, err);
    if (st != LLMC_OK) return st;
    size_t len = 0;
    st = llmc_template_render(t, NULL, out, &len, err);
    llmc_template_free(t);
    return st;
}

/* A hostile template must fail with an error naming a limit: not crash, not succeed silently. */
static void expect_limit(const char *what, const char *src) {
    llmc_error err = { 0 };
    char *out = NULL;
    llmc_status st = compile_render(src, &out, &err);
    bool named = strstr(err.msg, "limit") || strstr(err.msg, "too deep") || strstr(err.msg, "too complex") ||
                 strstr(err.msg, "too large") || strstr(err.msg, "too long");
    CHECK_MSG(st != LLMC_OK && named, "%s: status %d, error '%s'", what, (int)st, err.msg);
    if (getenv("LLMC_TEST_VERBOSE")) fprintf(stderr, "%s: %s\n", what, err.msg);
    free(out);
}

/* A template under the limits renders to `want`. */
static void expect_out(const char *what, const char *src, const char *want) {
    llmc_error err = { 0 };
    char *out = NULL;
    llmc_status st = compile_render(src, &out, &err);
    CHECK_MSG(st == LLMC_OK && out && strcmp(out, want) == 0, "%s: status %d, error '%s', output '%.60s'", what,
              (int)st, err.msg, out ? out : "(null)");
    free(out);
}

/* Either renders to `want` or fails with the C stack limit. */
static void expect_out_or_limit(const char *what, const char *src, const char *want) {
    llmc_error err = { 0 };
    char *out = NULL;
    llmc_status st = compile_render(src, &out, &err);
    CHECK_MSG((st == LLMC_OK && out && strcmp(out, want) == 0) || (st == LLMC_ERR_RANGE && strstr(err.msg, "limit")),
              "%s: status %d, error '%s'", what, (int)st, err.msg);
    free(out);
}

/* may_render: the output, for constructs an optimizing compiler may run without recursion (the
 * elif chain's tail call becomes a loop under gcc -O2); NULL: must fail. */
typedef struct { const char *name, *head, *unit, *mid, *close, *tail, *may_render; } chain;

/* One template per construct whose nesting the source length alone sets. */
static const chain chains[] = {
    { "filter |e", "{{ 1", "|e", " }}", "", "", NULL },
    { "filter |string", "{{ 1", "|string", " }}", "", "", NULL },
    { "filter |replace", "{{ 'a'", "|replace('a','b')", " }}", "", "", NULL },
    { "set with filters", "{% set x = 1", "|e", " %}{{ x }}", "", "", NULL },
    { "filter block", "{% filter e", "|e", " %}x{% endfilter %}", "", "", NULL },
    { "set block with filters", "{% set x | e", "|e", " %}x{% endset %}{{ x }}", "", "", NULL },
    { "macro default argument", "{% macro m(a=1", "|e", ") %}{{ a }}{% endmacro %}{{ m() }}", "", "", NULL },
    { "tests and filters", "{{ 1", " is number|string", " }}", "", "", NULL },
    { "test chain", "{{ 1", " is divisibleby 1|e", " }}", "", "", NULL },
    { "call chain", "{{ x", "()", " }}", "", "", NULL },
    { "attribute chain", "{{ x", ".a", " }}", "", "", NULL },
    { "item chain", "{{ x", "[0]", " }}", "", "", NULL },
    { "slice chain", "{{ x", "[:]", " }}", "", "", NULL },
    { "method call chain", "{{ 'a'", ".upper()", " }}", "", "", NULL },
    { "addition chain", "{{ 1", "+1", " }}", "", "", NULL },
    { "power of a constant sum", "{{ -1 ** (1", "+1", ") }}", "", "", NULL },
    { "and chain", "{{ 1", " and 1", " }}", "", "", NULL },
    { "or chain", "{{ 0", " or 0", " }}", "", "", NULL },
    { "comparison chain", "{{ 1", " < 2", " }}", "", "", NULL },
    { "elif chain", "{% if 0 %}", "{% elif 0 %}", "{% else %}z{% endif %}", "", "", "z" },
    { "parentheses", "{{ ", "(", "1", ")", " }}", NULL },
    { "nested lists", "{{ ", "[", "1", "]", " }}", NULL },
    { "nested dicts", "{{ ", "{1: ", "1", "}", " }}", NULL },
    { "nested call arguments", "{{ x", "(x", "", ")", " }}", NULL },
    { "nested subscripts", "{{ x", "[x", "", "]", " }}", NULL },
    { "nested filter arguments", "{{ 1", "|default(1", "", ")", " }}", NULL },
    { "nested conditionals", "{{ ", "1 if 1 else ", "1", "", " }}", NULL },
    { "unary minus", "{{ ", "-", "1 }}", "", "", NULL },
    { "not chain", "{{ ", "not ", "1 }}", "", "", NULL },
    { "nested if blocks", "", "{% if 1 %}", "x", "{% endif %}", "", NULL },
    { "nested for blocks", "", "{% for i in [1] %}", "x", "{% endfor %}", "", NULL },
    { "nested filter blocks", "", "{% filter e %}", "x", "{% endfilter %}", "", NULL },
    { "nested with blocks", "", "{% with a = 1 %}", "x", "{% endwith %}", "", NULL },
    { "nested macro definitions", "", "{% macro m() %}", "x", "{% endmacro %}", "", NULL },
    { "nested call blocks", "{% macro m() %}{{ caller() }}{% endmacro %}", "{% call m() %}", "x", "{% endcall %}", "", NULL },
    { "nested macro calls", "{% macro m(a) %}{{ a }}{% endmacro %}{{ ", "m(", "1", ")", " }}", NULL },
};

static void test_chains(size_t n) {
    for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) {
        char *src = repeat2(chains[i].head, chains[i].unit, n, chains[i].mid, chains[i].close, chains[i].tail);
        char what[96];
        snprintf(what, sizeof what, "%s x %zu", chains[i].name, n);
        if (chains[i].may_render) expect_out_or_limit(what, src, chains[i].may_render);
        else expect_limit(what, src);
        free(src);
    }
}

/* Macros and values: recursion a short source drives arbitrarily deep. */
static void test_runtime_depth(void) {
    expect_limit("macro recursion", "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}");
    expect_limit("recursive loop", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}");
    expect_limit("caller recursion",
                 "{% macro m() %}{{ caller() }}{% endmacro %}{% macro r() %}{% call m() %}{{ r() }}{% endcall %}{% endmacro %}{{ r() }}");
    static const char *const deep_ops[] = { "==", "<", "in [", "is sameas", "|unique|list == [" };
    /* range() stops at 10^5 items (the sandbox's MAX_RANGE): 10^6 is two nested loops */
    static const char *const loops[2][2] = {
        { "{% for i in range(100000) %}", "{% endfor %}" },
        { "{% for i in range(1000) %}{% for j in range(1000) %}", "{% endfor %}{% endfor %}" },
    };
    for (int li = 0; li < 2; li++) {
        const char *lb = loops[li][0], *le = loops[li][1];
        size_t n = li ? 1000000 : 100000;
        char src[512];
        for (size_t k = 0; k < sizeof deep_ops / sizeof deep_ops[0]; k++) {
            const char *op = deep_ops[k];
            const char *close = strchr(op, '[') ? "]" : "";
            snprintf(src, sizeof src,
                     "{%% set ns = namespace(a=1, b=1) %%}%s{%% set ns.a = [ns.a] %%}"
                     "{%% set ns.b = [ns.b] %%}%s{{ ns.a %s ns.b%s }}", lb, le, op, close);
            char what[64];
            snprintf(what, sizeof what, "values %zu deep, %s", n, op);
            if (k == 3) expect_out(what, src, "False"); /* identity: no recursion at all */
            else expect_limit(what, src);
        }
        snprintf(src, sizeof src,
                 "{%% set ns = namespace(t=1) %%}%s{%% set ns.t = (ns.t,) %%}%s{{ {ns.t: 1} }}", lb, le);
        expect_limit("deep tuple as a dict key", src);
        snprintf(src, sizeof src,
                 "{%% set ns = namespace(t='a') %%}%s{%% set ns.t = (ns.t,) %%}%s{{ 'abc'.startswith(ns.t) }}", lb, le);
        expect_limit("deep tuple of prefixes", src);
        snprintf(src, sizeof src,
                 "{%% set ns = namespace(t=1) %%}%s{%% set ns.t = [ns.t] %%}%s{{ ns.t|string|length }}", lb, le);
        expect_limit("deep list printed", src);
    }
    /* Shared sub-values: 2^80 paths through 80 tuples. Comparison counts steps; keys are refused. */
    const char *dag = "{% set ns = namespace(a=1, b=1) %}{% for i in range(80) %}{% set ns.a = (ns.a, ns.a) %}"
                      "{% set ns.b = (ns.b, ns.b) %}{% endfor %}";
    char src[512];
    snprintf(src, sizeof src, "%s{{ ns.a == ns.b }}", dag);
    expect_limit("shared tuples compared", src);
    snprintf(src, sizeof src, "%s{{ {ns.a: 1}|length }}", dag);
    expect_limit("shared tuples as a dict key", src);
    /* map('map', 'map', ...) over a deeply nested list: one level of recursion per argument */
    char *m = repeat("{% set ns = namespace(t=[1]) %}{% for i in range(100000) %}{% set ns.t = [ns.t] %}{% endfor %}"
                     "{{ ns.t|map('map'", ", 'map'", 100000, ")|list|length }}");
    expect_limit("map of map of ...", m);
    free(m);
}

/* What real templates do stays well inside the limits. */
static void test_within_limits(void) {
    char *src = repeat("{{ 1", "|e", 100, " }}");
    expect_out("100 filters", src, "1");
    free(src);
    src = repeat("{{ 0", "+1", 1000, " }}");
    expect_out("1000 additions", src, "1000");
    free(src);
    expect_out("macro recursion 50 deep",
               "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{% else %}done{% endif %}{% endmacro %}{{ m(50) }}", "done");
    expect_out("tuple keys", "{% set d = {(1, (2, 3)): 'x'} %}{{ d[(1, (2, 3))] }}", "x");
    expect_out("nested list equality", "{{ [[[1]]] == [[[1]]] }}", "True");
    expect_out("power of a negative constant", "{{ -1 ** (1 + 1) }}", "1");
    expect_out("power of a negative constant, variable exponent", "{% set y = 2 %}{{ -1 ** y }}", "-1");
}

/* Issue 19: 12,000 chained filters in a chat template (a GGUF's tokenizer.chat_template) crashed
 * `llmc template`, `llmc run` and `llmc serve`. Now the apply fails with the depth error, or
 * renders where the stack allows it. */
static void test_chat_template_chain(void) {
    char *src = repeat("{{ bos_token }}{{ 1", "|e", 12000, " }}");
    llmc_chat_template *ct = NULL;
    llmc_error err = { 0 };
    llmc_status st = llmc_chat_template_from_text(src, strlen(src), NULL, "gguf:tokenizer.chat_template", &ct, &err);
    CHECK_MSG(st == LLMC_OK, "from_text: %s", err.msg);
    if (st == LLMC_OK) {
        cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"hi\"}]");
        cJSON *tools = cJSON_Parse("[{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]");
        char *out = NULL;
        size_t len = 0;
        st = llmc_chat_template_apply(ct, msgs, tools, true, NULL, &out, &len, &err);
        CHECK_MSG((st == LLMC_OK && out && strcmp(out, "1") == 0) ||
                      (st == LLMC_ERR_RANGE && strstr(err.msg, "recursion depth limit")),
                  "apply: status %d, error '%s'", (int)st, err.msg);
        free(out);
        cJSON_Delete(msgs);
        cJSON_Delete(tools);
        llmc_chat_template_free(ct);
    }
    free(src);
    src = repeat("{{ 1", "|e", 12000, " }}");
    char *out = NULL;
    st = compile_render(src, &out, &err);
    CHECK_MSG((st == LLMC_OK && out && strcmp(out, "1") == 0) ||
                  (st == LLMC_ERR_RANGE && strstr(err.msg, "recursion depth limit")),
              "render: status %d, error '%s'", (int)st, err.msg);
    free(out);
    free(src);
}

static void *small_stack_main(void *arg) {
    (void)arg;
    test_chains(100000);
    char *src = repeat("{{ 1", "|e", 100, " }}");
    expect_out("100 filters on a small stack", src, "1");
    free(src);
    return NULL;
}

int main(void) {
    test_chat_template_chain();
    test_within_limits();
    test_chains(100000);
    test_chains(1000000);
    test_runtime_depth();
    /* The budget follows the thread's own stack: 512 KiB (a server thread may have little). */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    CHECK(pthread_attr_setstacksize(&attr, 512u << 10) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, &attr, small_stack_main, NULL) == 0);
    pthread_join(th, NULL);
    pthread_attr_destroy(&attr);
    return test_summary();
}
