/* Chat-template engine against golden renders from transformers/jinja2 (tests/golden/templates/,
 * made by tests/golden/make_template_fixtures.py): every fixture template × the conversation
 * corpus, model-dir loading, the language suite and its error cases — byte for byte. */
#include "test.h"
#include "base/file.h"
#include "base/json.h"
#include "template/template.h"
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char golden_dir[1024], fixture_dir[1024];
/* The goldens' clock (tests/golden/make_template_fixtures.py FIXED_NOW): 2026-11-28 12:00:00 UTC. */
#define TEST_TEMPLATE_NOW 1795867200LL
static int verbose_fail = 0;

static void show_diff(const char *what, const char *got, size_t glen, const char *exp) {
    size_t elen = strlen(exp), i = 0;
    while (i < glen && i < elen && got[i] == exp[i]) i++;
    if (verbose_fail++ > 40) return;
    fprintf(stderr, "MISMATCH %s at byte %zu (got %zu bytes, expected %zu)\n  got: ...%.80s\n  exp: ...%.80s\n", what, i,
            glen, elen, got + (i > 20 ? i - 20 : 0), exp + (i > 20 ? i - 20 : 0));
}

/* expected: "expected" string, or "error" kind (+ "message" for raise_exception) */
static void check_outcome(const char *what, const cJSON *c, llmc_status st, const char *out, size_t len,
                          const llmc_error *err) {
    const char *exp = llmc_json_get_string(c, "expected");
    if (exp) {
        if (st != LLMC_OK) { CHECK_MSG(false, "%s: unexpected error: %s", what, err->msg); return; }
        bool eq = len == strlen(exp) && memcmp(out, exp, len) == 0;
        if (!eq) show_diff(what, out, len, exp);
        CHECK_MSG(eq, "%s: output differs", what);
        return;
    }
    const char *kind = llmc_json_get_string(c, "error");
    CHECK_MSG(st != LLMC_OK, "%s: expected a %s error, got output", what, kind ? kind : "?");
    if (st != LLMC_OK && kind && !strcmp(kind, "undefined"))
        CHECK_MSG(strstr(err->msg, "undefined") || strstr(err->msg, "has no attribute") || strstr(err->msg, "has no element"),
                  "%s: expected an undefined-value error, got: %s", what, err->msg);
    if (st != LLMC_OK && kind && !strcmp(kind, "syntax"))
        CHECK_MSG(strstr(err->msg, "syntax error") || strstr(err->msg, "no filter named") || strstr(err->msg, "no test named"),
                  "%s: expected a syntax error, got: %s", what, err->msg);
    if (st != LLMC_OK && kind && !strcmp(kind, "raise")) {
        const char *msg = llmc_json_get_string(c, "message");
        CHECK_MSG(msg && !strcmp(err->msg, msg), "%s: raise_exception message not verbatim: got '%s'", what, err->msg);
    }
}

static cJSON *load(const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", golden_dir, name);
    llmc_error err = { 0 };
    char *text = NULL;
    size_t len = 0;
    if (llmc_read_file(path, 64u << 20, &text, &len, &err) != LLMC_OK) { fprintf(stderr, "cannot load %s: %s\n", path, err.msg); return NULL; }
    cJSON *j = llmc_json_parse(text, len, path, &err);
    if (!j) fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
    else CHECK(llmc_template_json_mark_floats(j, text, len)); /* Python's json keeps 1.0 a float */
    free(text);
    return j;
}

static void run_lang(void) {
    cJSON *cases = load("lang_cases.json");
    CHECK(cases != NULL);
    if (!cases) return;
    int n = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        const char *name = llmc_json_get_string(c, "name"), *tpl = llmc_json_get_string(c, "template");
        llmc_error err = { 0 };
        llmc_template *t = NULL;
        char *out = NULL;
        size_t len = 0;
        llmc_status st = llmc_template_compile(tpl, strlen(tpl), name, &t, &err);
        if (st == LLMC_OK) st = llmc_template_render(t, cJSON_GetObjectItemCaseSensitive(c, "vars"), &out, &len, &err);
        char what[256];
        snprintf(what, sizeof what, "lang %s", name);
        check_outcome(what, c, st, out, len, &err);
        free(out);
        llmc_template_free(t);
    }
    printf("lang cases: %d\n", n);
    cJSON_Delete(cases);
}

static void run_chat(void) {
    cJSON *cases = load("chat_cases.json");
    CHECK(cases != NULL);
    if (!cases) return;
    int n = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        const char *tname = llmc_json_get_string(c, "template"), *where = llmc_json_get_string(c, "where");
        char path[2048];
        if (!strcmp(where, "fixtures")) {
            snprintf(path, sizeof path, "%s/templates/%s", fixture_dir, tname);
        } else snprintf(path, sizeof path, "%s/%s", golden_dir, tname);
        char *text = NULL;
        size_t tlen = 0;
        llmc_error err = { 0 };
        if (llmc_read_file(path, 1u << 24, &text, &tlen, &err) != LLMC_OK) { CHECK_MSG(false, "%s", err.msg); continue; }
        llmc_chat_template *ct = NULL;
        char *out = NULL;
        size_t len = 0;
        llmc_status st = llmc_chat_template_from_text(text, tlen, cJSON_GetObjectItemCaseSensitive(c, "special"), tname, &ct, &err);
        llmc_chat_template_set_now(ct, TEST_TEMPLATE_NOW);
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(c, "tools");
        bool agp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
        if (st == LLMC_OK)
            st = llmc_chat_template_apply(ct, cJSON_GetObjectItemCaseSensitive(c, "messages"), cJSON_IsNull(tools) ? NULL : tools,
                                          agp, cJSON_GetObjectItemCaseSensitive(c, "extra"), &out, &len, &err);
        char what[512];
        snprintf(what, sizeof what, "chat %s × %s agp=%d", tname, llmc_json_get_string(c, "conversation"), agp);
        check_outcome(what, c, st, out, len, &err);
        free(out);
        free(text);
        llmc_chat_template_free(ct);
    }
    printf("chat cases: %d\n", n);
    cJSON_Delete(cases);
}

static void run_load(void) {
    cJSON *cases = load("load_cases.json");
    CHECK(cases != NULL);
    if (!cases) return;
    int n = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/tokenizers/%s", fixture_dir, llmc_json_get_string(c, "dir"));
        llmc_error err = { 0 };
        llmc_chat_template *ct = NULL;
        char *out = NULL;
        size_t len = 0;
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(c, "tools");
        bool agp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
        llmc_status st = llmc_chat_template_load(path, &ct, &err);
        llmc_chat_template_set_now(ct, TEST_TEMPLATE_NOW);
        if (st == LLMC_OK)
            st = llmc_chat_template_apply(ct, cJSON_GetObjectItemCaseSensitive(c, "messages"), cJSON_IsNull(tools) ? NULL : tools,
                                          agp, cJSON_GetObjectItemCaseSensitive(c, "extra"), &out, &len, &err);
        char what[512];
        snprintf(what, sizeof what, "load %s × %s agp=%d", llmc_json_get_string(c, "dir"), llmc_json_get_string(c, "conversation"), agp);
        check_outcome(what, c, st, out, len, &err);
        free(out);
        llmc_chat_template_free(ct);
    }
    printf("load cases: %d\n", n);
    cJSON_Delete(cases);
}

static llmc_status render_str(const char *tpl, const char *vars_json, const llmc_template_limits *lim, char **out,
                              llmc_error *err) {
    llmc_template *t = NULL;
    *out = NULL;
    llmc_status st = llmc_template_compile(tpl, strlen(tpl), "t.jinja", &t, err);
    if (st != LLMC_OK) return st;
    cJSON *vars = vars_json ? cJSON_Parse(vars_json) : NULL;
    size_t len;
    st = llmc_template_render_ex(t, vars, lim, out, &len, err);
    cJSON_Delete(vars);
    llmc_template_free(t);
    return st;
}

static void run_engine_checks(void) {
    llmc_error err = { 0 };
    char *out = NULL;
    llmc_template_free(NULL);
    llmc_chat_template_free(NULL);

    /* errors carry template line:column */
    CHECK(render_str("line one\n{{ 1 +\n}}", NULL, NULL, &out, &err) == LLMC_ERR_TEMPLATE);
    CHECK_MSG(strstr(err.msg, "t.jinja:3:1") != NULL, "syntax error position: %s", err.msg);
    CHECK(render_str("a\nb {{ missing.attr }}", NULL, NULL, &out, &err) == LLMC_ERR_TEMPLATE);
    CHECK_MSG(strstr(err.msg, "t.jinja:2:") && strstr(err.msg, "'missing' is undefined"), "undefined error: %s", err.msg);

    /* limits: steps, recursion depth, output size, string size */
    llmc_template_limits lim = { .max_steps = 10000 };
    CHECK(render_str("{% for i in range(100000) %}{{ i }}{% endfor %}", NULL, &lim, &out, &err) == LLMC_ERR_RANGE);
    CHECK_MSG(strstr(err.msg, "max_steps") != NULL, "%s", err.msg);
    CHECK(render_str("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, NULL, &out, &err) == LLMC_ERR_RANGE);
    CHECK_MSG(strstr(err.msg, "recursion depth") != NULL, "%s", err.msg); /* max_depth, or the C-stack guard under sanitizers */
    llmc_template_limits lo = { .max_output = 1000 };
    CHECK(render_str("{% for i in range(1000) %}xxxxxxxxxx{% endfor %}", NULL, &lo, &out, &err) == LLMC_ERR_RANGE);
    CHECK_MSG(strstr(err.msg, "max_output") != NULL, "%s", err.msg);
    llmc_template_limits ls = { .max_string = 1u << 16 };
    CHECK(render_str("{{ 'ab' * 100000 }}", NULL, &ls, &out, &err) == LLMC_ERR_NOMEM);
    CHECK_MSG(strstr(err.msg, "max_string") != NULL, "%s", err.msg);
    CHECK(render_str("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", NULL, NULL, &out, &err) != LLMC_OK);
    /* quadratic string building counts copied bytes as work and stops at the step limit */
    llmc_template_limits lq = { .max_steps = 2000000 };
    CHECK(render_str("{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ ('x' * 1000) %}{% endfor %}{{ ns.s | length }}",
                     NULL, &lq, &out, &err) == LLMC_ERR_RANGE);
    CHECK_MSG(strstr(err.msg, "max_steps") != NULL, "%s", err.msg);
    /* deep nesting is refused, not a stack overflow */
    char deep[4096];
    memset(deep, 0, sizeof deep);
    strcpy(deep, "{{ ");
    for (int i = 0; i < 1000; i++) strcat(deep, "(");
    CHECK(render_str(deep, NULL, NULL, &out, &err) == LLMC_ERR_TEMPLATE);

    /* deep expressions inside deep macro recursion are refused before the C stack runs out */
    {
        char big[8192];
        strcpy(big, "{% macro f(n) %}{{ ");
        for (int i = 0; i < 150; i++) strcat(big, "- ");
        strcat(big, "f(n + 1)");
        strcat(big, " }}{% endmacro %}{{ f(0) }}");
        CHECK(render_str(big, NULL, NULL, &out, &err) == LLMC_ERR_RANGE);
        CHECK_MSG(strstr(err.msg, "recursion depth") != NULL, "%s", err.msg);
    }

    /* raise_exception message verbatim */
    CHECK(render_str("{{ raise_exception('Only user and assistant roles are supported!') }}", NULL, NULL, &out, &err) == LLMC_ERR_TEMPLATE);
    CHECK_STR(err.msg, "Only user and assistant roles are supported!");

    /* strftime_now reads the real clock: the render must fall between two readings of it (a
       midnight between them makes either day right) */
    {
        char day0[64], day1[64];
        struct tm tmv;
        time_t t0 = time(NULL);
        localtime_r(&t0, &tmv);
        strftime(day0, sizeof day0, "%Y-%m-%d", &tmv);
        CHECK(render_str("{{ strftime_now('%Y-%m-%d') }}", NULL, NULL, &out, &err) == LLMC_OK);
        time_t t1 = time(NULL);
        localtime_r(&t1, &tmv);
        strftime(day1, sizeof day1, "%Y-%m-%d", &tmv);
        CHECK_MSG(out && (!strcmp(out, day0) || !strcmp(out, day1)), "%s not in [%s, %s]", out, day0, day1);
        free(out);
    }
    /* an injected clock is read in UTC, whatever the day and zone */
    {
        llmc_template *t = NULL;
        const char *src = "{{ strftime_now('%d %B %Y %H:%M') }}";
        CHECK(llmc_template_compile(src, strlen(src), "clock", &t, &err) == LLMC_OK);
        llmc_template_limits fixed = { .now = TEST_TEMPLATE_NOW };
        size_t len = 0;
        CHECK(t && llmc_template_render_ex(t, NULL, &fixed, &out, &len, &err) == LLMC_OK);
        CHECK_STR(out, "28 November 2026 12:00");
        free(out);
        llmc_template_free(t);
    }

    /* values from JSON: every variable becomes a template variable */
    CHECK(render_str("{{ a }}|{{ b.c[1] }}|{{ d }}", "{\"a\": \"x\", \"b\": {\"c\": [1, 2.5]}, \"d\": null}", NULL, &out, &err) == LLMC_OK);
    CHECK_STR(out, "x|2.5|None");
    free(out);

    /* floats written as 1.0 stay floats once marked; unmarked integral numbers are ints */
    {
        const char *js = "{\"a\": 1.0, \"b\": [2, 3.50, -1e2, \"x1.0\"], \"c\": {\"d\": 0E0}}";
        cJSON *vars = cJSON_Parse(js);
        CHECK(llmc_template_json_mark_floats(vars, js, strlen(js)));
        llmc_template *ft = NULL;
        const char *src = "{{ a }} {{ b }} {{ c.d }} {{ a | tojson }}";
        CHECK(llmc_template_compile(src, strlen(src), "f", &ft, &err) == LLMC_OK);
        CHECK(llmc_template_render(ft, vars, &out, NULL, &err) == LLMC_OK);
        CHECK_STR(out, "1.0 [2, 3.5, -100.0, 'x1.0'] 0.0 1.0");
        free(out);
        cJSON_Delete(vars);
        vars = cJSON_Parse(js);
        CHECK(llmc_template_render(ft, vars, &out, NULL, &err) == LLMC_OK);
        CHECK_STR(out, "1 [2, 3.5, -100, 'x1.0'] 0 1");
        free(out);
        CHECK(!llmc_template_json_mark_floats(vars, "[1.0]", 5)); /* text and tree disagree: nothing marked */
        cJSON_Delete(vars);
        llmc_template_free(ft);
    }

    /* output may contain NUL bytes and must keep them */
    llmc_template *t = NULL;
    const char *nul_src = "a{{ '\\x00' }}b";
    CHECK(llmc_template_compile(nul_src, strlen(nul_src), "nul", &t, &err) == LLMC_OK);
    size_t len = 0;
    CHECK(llmc_template_render(t, NULL, &out, &len, &err) == LLMC_OK);
    CHECK(len == 3 && out[1] == 0 && out[2] == 'b');
    free(out);
    llmc_template_free(t);

    /* loading errors name the source */
    llmc_chat_template *ct = NULL;
    CHECK(llmc_chat_template_load("/nonexistent/dir/x.jinja", &ct, &err) != LLMC_OK);
    CHECK(strstr(err.msg, "/nonexistent/dir/x.jinja") != NULL);

    /* tool_use template variant is chosen when tools are given */
    const char *cfg = "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<B>\"}, \"eos_token\": \"<E>\", \"image_token\": \"<I>\","
                      " \"chat_template\": [{\"name\": \"default\", \"template\": \"D{{ bos_token }}{{ eos_token }}{{ image_token }}\"},"
                      " {\"name\": \"tool_use\", \"template\": \"T{{ tools | length }}\"}]}";
    char tmp[] = "/tmp/llmc_tpl_XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "w");
        fputs(cfg, f);
        fclose(f);
        char jpath[64];
        snprintf(jpath, sizeof jpath, "%s.json", tmp);
        rename(tmp, jpath);
        CHECK(llmc_chat_template_load(jpath, &ct, &err) == LLMC_OK);
        if (ct) {
            cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"x\"}]"), *tools = cJSON_Parse("[{}, {}]");
            CHECK(llmc_chat_template_apply(ct, msgs, NULL, false, NULL, &out, &len, &err) == LLMC_OK);
            CHECK_STR(out, "D<B><E><I>");
            free(out);
            CHECK(llmc_chat_template_apply(ct, msgs, tools, false, NULL, &out, &len, &err) == LLMC_OK);
            CHECK_STR(out, "T2");
            free(out);
            cJSON_Delete(msgs);
            cJSON_Delete(tools);
            llmc_chat_template_free(ct);
        }
        remove(jpath);
    }
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

/* A model dir: chat_template.jinja wins over tokenizer_config.json's template, special tokens still come
 * from the config, and additional_chat_templates/tool_use.jinja is used when tools are given. */
static void run_dir_loading(void) {
    char dir[] = "/tmp/llmc_tpldir_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(false); return; }
    write_file(dir, "tokenizer_config.json", "{\"bos_token\": \"<s>\", \"pad_token\": null, \"chat_template\": \"CONFIG\"}");
    write_file(dir, "chat_template.jinja", "JINJA{{ bos_token }}{{ pad_token is defined }}\n");
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/additional_chat_templates", dir);
    mkdir(sub, 0755);
    write_file(sub, "tool_use.jinja", "TOOLS{{ tools | length }}");
    llmc_error err = { 0 };
    llmc_chat_template *ct = NULL;
    char *out = NULL;
    size_t len;
    cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"x\", \"extra\": null}]"), *tools = cJSON_Parse("[{}]");
    CHECK(llmc_chat_template_load(dir, &ct, &err) == LLMC_OK);
    if (ct) {
        CHECK(llmc_chat_template_apply(ct, msgs, NULL, false, NULL, &out, &len, &err) == LLMC_OK);
        CHECK_STR(out, "JINJA<s>False");
        free(out);
        CHECK(llmc_chat_template_apply(ct, msgs, tools, false, NULL, &out, &len, &err) == LLMC_OK);
        CHECK_STR(out, "TOOLS1");
        free(out);
        llmc_chat_template_free(ct);
    }
    char p1[1200], p2[1200], p3[1200];
    snprintf(p1, sizeof p1, "%s/tool_use.jinja", sub);
    snprintf(p2, sizeof p2, "%s/chat_template.jinja", dir);
    remove(p1);
    rmdir(sub);
    remove(p2);
    CHECK(llmc_chat_template_load(dir, &ct, &err) == LLMC_OK);
    if (ct) {
        CHECK(llmc_chat_template_apply(ct, msgs, NULL, false, NULL, &out, &len, &err) == LLMC_OK);
        CHECK_STR(out, "CONFIG");
        free(out);
        llmc_chat_template_free(ct);
    }
    snprintf(p3, sizeof p3, "%s/tokenizer_config.json", dir);
    remove(p3);
    CHECK(llmc_chat_template_load(dir, &ct, &err) == LLMC_ERR_NOT_FOUND);
    rmdir(dir);
    cJSON_Delete(msgs);
    cJSON_Delete(tools);
}

/* One compiled template rendered from several threads at once gives the same text in each. */
typedef struct { const llmc_chat_template *ct; const cJSON *msgs; const char *expect; int ok; } thr_arg;
static void *thr_render(void *p) {
    thr_arg *a = p;
    a->ok = 1;
    for (int i = 0; i < 50; i++) {
        char *out = NULL;
        size_t len;
        llmc_error err;
        if (llmc_chat_template_apply(a->ct, a->msgs, NULL, true, NULL, &out, &len, &err) != LLMC_OK || strcmp(out, a->expect)) a->ok = 0;
        free(out);
    }
    return NULL;
}

static void run_threads(void) {
    const char *tpl = "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}<{{ m.role }}>{{ m.content | trim }}"
                      "{{ {'b': 1, 'a': [m.content]} | tojson(sort_keys=true) }}{% endfor %}{{ ns.n }}";
    llmc_chat_template *ct = NULL;
    llmc_error err;
    CHECK(llmc_chat_template_from_text(tpl, strlen(tpl), NULL, "threads", &ct, &err) == LLMC_OK);
    if (!ct) return;
    cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \" hi \"}, {\"role\": \"assistant\", \"content\": \"yo\"}]");
    char *expect = NULL;
    size_t len;
    CHECK(llmc_chat_template_apply(ct, msgs, NULL, true, NULL, &expect, &len, &err) == LLMC_OK);
    thr_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thr_arg){ ct, msgs, expect, 0 };
        pthread_create(&th[i], NULL, thr_render, &args[i]);
    }
    for (int i = 0; i < 4; i++) { pthread_join(th[i], NULL); CHECK(args[i].ok); }
    free(expect);
    cJSON_Delete(msgs);
    llmc_chat_template_free(ct);
}

int main(void) {
    const char *src = test_env("LLMC_SOURCE_DIR", ".");
    snprintf(golden_dir, sizeof golden_dir, "%s/tests/golden/templates", src);
    snprintf(fixture_dir, sizeof fixture_dir, "%s", test_fixture_dir());
    run_engine_checks();
    run_dir_loading();
    run_threads();
    run_lang();
    run_chat();
    run_load();
    return test_summary();
}
