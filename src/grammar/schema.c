/* JSON Schema → GBNF (then compiled by gbnf.c). The subset OpenAI's strict mode and vLLM
 * accept: type (one or a list), object properties / required / additionalProperties,
 * array items / minItems / maxItems, string minLength / maxLength, pattern (regex.c) and
 * the formats date, time, date-time, uuid,
 * number, integer, boolean, null, enum, const, anyOf / oneOf (as anyOf), allOf of one
 * schema, $ref into the document ($defs, definitions, any JSON pointer; recursion becomes a
 * recursive rule, bounded by the matcher's stack depth). Properties come out in schema
 * order; properties beyond the listed ones are never generated (strict mode: the output
 * validates whether additionalProperties is absent, true or false). Anything else is an
 * error naming the schema path. Numbers are bounded in length (16 integer digits, 16
 * fraction digits, 3 exponent digits) so every reply parses as a double. */
#include "grammar/grm_internal.h"
#include "base/error.h"
#include "base/json.h"
#include "base/strbuf.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SC_MAX_DEPTH   64
#define SC_MAX_RULES   20000
#define SC_MAX_ENUM    4096
#define SC_MAX_TEXT    (8u << 20)
#define SC_MAX_LEN     10000     /* minLength/maxLength, minItems/maxItems expanded */
#define SC_PATH        256

typedef struct { char *ref; int rule; } sc_ref;

typedef struct {
    llmc_strbuf out;
    const char *pfx;            /* rule name prefix (several schemas in one grammar) */
    const cJSON *doc;
    sc_ref *refs; int n_refs, cap_refs;
    int n_rules, depth;
    llmc_status st; llmc_error *err;
} sc;

static const char SC_BASE[] =
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,16}\n"
    "jchar ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
    "jstr ::= \"\\\"\" jchar* \"\\\"\"\n"
    "jint ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
    "jnum ::= jint (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n"
    "jbool ::= \"true\" | \"false\"\n"
    "jnull ::= \"null\"\n"
    "jvalue ::= jobject | jarray | jstr | jnum | jbool | jnull\n"
    "jobject ::= \"{\" ws (jstr ws \":\" ws jvalue ws (\",\" ws jstr ws \":\" ws jvalue ws)*)? \"}\"\n"
    "jarray ::= \"[\" ws (jvalue ws (\",\" ws jvalue ws)*)? \"]\"\n"
    "jdate ::= [0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01])\n"
    "jtime ::= ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? (\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])\n"
    "jhex ::= [0-9a-f]\n"
    "juuid ::= jhex{8} \"-\" jhex{4} \"-\" jhex{4} \"-\" jhex{4} \"-\" jhex{12}\n";

static bool sc_fail(sc *c, llmc_status code, const char *path, const char *what) {
    if (!c->st) c->st = llmc_err(c->err, code, "json schema: %s: %s", path, what);
    return false;
}

static void path_join(char *dst, const char *base, const char *fmt, const char *arg) {
    char tail[160];
    snprintf(tail, sizeof tail, fmt, arg);
    snprintf(dst, SC_PATH, "%s%s", base, tail);
}

/* A GBNF literal for raw text (JSON text of a key or value). */
static void put_literal(llmc_strbuf *b, const char *s) {
    llmc_sb_putc(b, '"');
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u == '"' || *u == '\\') { llmc_sb_putc(b, '\\'); llmc_sb_putc(b, (char)*u); }
        else if (*u < 0x20) llmc_sb_printf(b, "\\x%02x", *u);
        else llmc_sb_putc(b, (char)*u);
    }
    llmc_sb_putc(b, '"');
}

/* JSON text of a value as a GBNF literal. */
static bool put_json_literal(sc *c, llmc_strbuf *b, const cJSON *v, const char *path) {
    char *t = cJSON_PrintUnformatted(v);
    if (!t) return sc_fail(c, LLMC_ERR_NOMEM, path, "out of memory");
    put_literal(b, t);
    free(t);
    return true;
}

static int new_rule(sc *c, const char *path) {
    if (c->n_rules >= SC_MAX_RULES) { sc_fail(c, LLMC_ERR_NOMEM, path, "the schema needs more than 20000 rules"); return -1; }
    return c->n_rules++;
}

static bool emit_rule(sc *c, int id, llmc_strbuf *body, const char *path) {
    llmc_sb_printf(&c->out, "%ss%d ::= %s\n", c->pfx, id, body->data ? body->data : "");
    if (c->out.oom) return sc_fail(c, LLMC_ERR_NOMEM, path, "out of memory");
    if (c->out.len > SC_MAX_TEXT) return sc_fail(c, LLMC_ERR_NOMEM, path, "the grammar would be over 8 MiB");
    return true;
}

static bool gen(sc *c, const cJSON *s, const char *path, llmc_strbuf *ref_out);

/* A JSON pointer "#/a/b" inside the document. */
static const cJSON *resolve(const cJSON *doc, const char *ref) {
    if (ref[0] != '#') return NULL;
    const cJSON *cur = doc;
    const char *p = ref + 1;
    while (*p == '/' && cur) {
        p++;
        char key[256];
        size_t k = 0;
        while (*p && *p != '/' && k + 1 < sizeof key) {
            if (p[0] == '~' && p[1] == '0') { key[k++] = '~'; p += 2; }
            else if (p[0] == '~' && p[1] == '1') { key[k++] = '/'; p += 2; }
            else key[k++] = *p++;
        }
        key[k] = 0;
        if (cJSON_IsArray(cur)) {
            char *e;
            long i = strtol(key, &e, 10);
            cur = *e || e == key ? NULL : cJSON_GetArrayItem(cur, (int)i);
        } else cur = cJSON_GetObjectItemCaseSensitive(cur, key);
    }
    return *p ? NULL : cur;
}

static bool gen_ref(sc *c, const char *ref, const char *path, llmc_strbuf *o) {
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, ref)) { llmc_sb_printf(o, "%ss%d", c->pfx, c->refs[i].rule); return true; }
    const cJSON *t = resolve(c->doc, ref);
    if (!t) return sc_fail(c, LLMC_ERR_FORMAT, path, "$ref does not point into this schema (only \"#...\" references are supported)");
    if (c->n_refs == c->cap_refs) {
        int cap = c->cap_refs ? c->cap_refs * 2 : 16;
        sc_ref *r = realloc(c->refs, (size_t)cap * sizeof *r);
        if (!r) return sc_fail(c, LLMC_ERR_NOMEM, path, "out of memory");
        c->refs = r;
        c->cap_refs = cap;
    }
    int id = new_rule(c, path);
    if (id < 0) return false;
    c->refs[c->n_refs].ref = strdup(ref);
    c->refs[c->n_refs].rule = id;
    if (!c->refs[c->n_refs].ref) return sc_fail(c, LLMC_ERR_NOMEM, path, "out of memory");
    c->n_refs++;
    char tpath[SC_PATH];
    snprintf(tpath, sizeof tpath, "$%s", ref + 1);
    for (char *q = tpath; *q; q++) if (*q == '/') *q = '.';
    llmc_strbuf body;
    llmc_sb_init(&body);
    bool ok = gen(c, t, tpath, &body) && emit_rule(c, id, &body, tpath);
    llmc_sb_free(&body);
    if (ok) llmc_sb_printf(o, "%ss%d", c->pfx, id);
    return ok;
}

/* Object: properties in order, each optional unless required; F_k / A_k rules (nothing /
 * something emitted before property k) keep the commas right. */
static bool gen_object(sc *c, const cJSON *s, const char *path, llmc_strbuf *o) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    char p2[SC_PATH];
    if (props && !cJSON_IsObject(props)) { path_join(p2, path, ".properties%s", ""); return sc_fail(c, LLMC_ERR_FORMAT, p2, "expected an object"); }
    if (req && !cJSON_IsArray(req)) { path_join(p2, path, ".required%s", ""); return sc_fail(c, LLMC_ERR_FORMAT, p2, "expected an array of names"); }
    int n = props ? cJSON_GetArraySize(props) : 0;
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next) {
        if (!cJSON_IsString(r)) { path_join(p2, path, ".required%s", ""); return sc_fail(c, LLMC_ERR_FORMAT, p2, "expected property names (strings)"); }
        if (!props || !cJSON_GetObjectItemCaseSensitive(props, r->valuestring)) {
            path_join(p2, path, ".required.%s", r->valuestring);
            return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "a required property that is not under properties");
        }
    }
    if (n == 0) {
        if (cJSON_IsFalse(addl)) { llmc_sb_puts(o, "\"{\" ws \"}\""); return true; }
        if (cJSON_IsObject(addl)) {
            path_join(p2, path, ".additionalProperties%s", "");
            llmc_strbuf v;
            llmc_sb_init(&v);
            bool ok = gen(c, addl, p2, &v);
            if (ok) llmc_sb_printf(o, "\"{\" ws (jstr ws \":\" ws (%s) ws (\",\" ws jstr ws \":\" ws (%s) ws)*)? \"}\"", v.data, v.data);
            llmc_sb_free(&v);
            return ok;
        }
        llmc_sb_puts(o, "jobject");
        return true;
    }
    int *vr = malloc((size_t)n * sizeof *vr);
    bool *rq = calloc((size_t)n, sizeof *rq);
    char **keys = calloc((size_t)n, sizeof *keys);
    bool ok = vr && rq && keys;
    if (!ok) sc_fail(c, LLMC_ERR_NOMEM, path, "out of memory");
    int i = 0;
    for (const cJSON *p = props->child; ok && p; p = p->next, i++) {
        path_join(p2, path, ".properties.%s", p->string);
        for (const cJSON *r = req ? req->child : NULL; r; r = r->next)
            if (!strcmp(r->valuestring, p->string)) rq[i] = true;
        vr[i] = new_rule(c, p2);
        llmc_strbuf body;
        llmc_sb_init(&body);
        ok = vr[i] >= 0 && gen(c, p, p2, &body) && emit_rule(c, vr[i], &body, p2);
        llmc_sb_free(&body);
        cJSON *ks = ok ? cJSON_CreateString(p->string) : NULL;
        keys[i] = ks ? cJSON_PrintUnformatted(ks) : NULL;
        cJSON_Delete(ks);
        if (ok && !keys[i]) ok = sc_fail(c, LLMC_ERR_NOMEM, path, "out of memory");
    }
    int a_next = -1, f_next = -1;   /* A_{k+1}, F_{k+1}; -1: epsilon */
    for (int k = n - 1; ok && k >= 0; k--) {
        int a = new_rule(c, path), f = new_rule(c, path);
        if (a < 0 || f < 0) { ok = false; break; }
        llmc_strbuf kv, body;
        llmc_sb_init(&kv);
        llmc_sb_init(&body);
        put_literal(&kv, keys[k]);
        llmc_sb_printf(&kv, " ws \":\" ws %ss%d ws", c->pfx, vr[k]);
        char an[32] = "", fn[32] = "";
        if (a_next >= 0) snprintf(an, sizeof an, " %.8ss%d", c->pfx, a_next);
        if (f_next >= 0) snprintf(fn, sizeof fn, "%.8ss%d", c->pfx, f_next);
        llmc_sb_printf(&body, "\",\" ws %s%s%s%s", kv.data, an, rq[k] ? "" : " | ", rq[k] ? "" : (a_next >= 0 ? an + 1 : "\"\""));
        ok = emit_rule(c, a, &body, path);
        body.len = 0;
        llmc_sb_printf(&body, "%s%s%s%s", kv.data, an, rq[k] ? "" : " | ", rq[k] ? "" : (f_next >= 0 ? fn : "\"\""));
        if (ok) ok = emit_rule(c, f, &body, path);
        llmc_sb_free(&kv);
        llmc_sb_free(&body);
        a_next = a;
        f_next = f;
    }
    if (ok) llmc_sb_printf(o, "\"{\" ws %ss%d \"}\"", c->pfx, f_next);
    for (int k = 0; keys && k < n; k++) free(keys[k]);
    free(keys); free(vr); free(rq);
    return ok;
}

static bool get_bound(sc *c, const cJSON *s, const char *key, const char *path, long long *out, bool *has) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    *has = v != NULL;
    if (!v) return true;
    char p2[SC_PATH];
    path_join(p2, path, ".%s", key);
    if (!llmc_json_is_int(v, 0, SC_MAX_LEN)) return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "expected an integer from 0 to 10000");
    *out = (long long)v->valuedouble;
    return true;
}

/* "{min,max}" for a repetition (max < 0: unbounded). */
static void put_range(llmc_strbuf *o, long long min, long long max) {
    if (max < 0) llmc_sb_printf(o, "{%lld,}", min);
    else llmc_sb_printf(o, "{%lld,%lld}", min, max);
}

static bool gen_array(sc *c, const cJSON *s, const char *path, llmc_strbuf *o) {
    char p2[SC_PATH];
    if (cJSON_GetObjectItemCaseSensitive(s, "prefixItems")) { path_join(p2, path, ".prefixItems%s", ""); return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "not supported"); }
    long long min = 0, max = -1;
    bool hmin, hmax;
    if (!get_bound(c, s, "minItems", path, &min, &hmin) || !get_bound(c, s, "maxItems", path, &max, &hmax)) return false;
    if (!hmax) max = -1;
    if (max >= 0 && max < min) { path_join(p2, path, ".maxItems%s", ""); return sc_fail(c, LLMC_ERR_FORMAT, p2, "less than minItems"); }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    llmc_strbuf it;
    llmc_sb_init(&it);
    path_join(p2, path, ".items%s", "");
    bool ok = true;
    if (items && !cJSON_IsTrue(items)) {
        int id = new_rule(c, p2);
        llmc_strbuf body;
        llmc_sb_init(&body);
        ok = id >= 0 && gen(c, items, p2, &body) && emit_rule(c, id, &body, p2);
        llmc_sb_free(&body);
        llmc_sb_printf(&it, "%ss%d", c->pfx, id);
    } else llmc_sb_puts(&it, "jvalue");
    if (ok) {
        if (max == 0) llmc_sb_puts(o, "\"[\" ws \"]\"");
        else {
            llmc_sb_printf(o, "\"[\" ws %s%s ws (\",\" ws %s ws)", min ? "" : "(", it.data, it.data);
            put_range(o, min ? min - 1 : 0, max < 0 ? -1 : max - 1);
            llmc_sb_printf(o, "%s \"]\"", min ? "" : ")?");
        }
    }
    llmc_sb_free(&it);
    return ok;
}

static bool gen_string(sc *c, const cJSON *s, const char *path, llmc_strbuf *o) {
    char p2[SC_PATH];
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
    if (pat) {
        path_join(p2, path, ".pattern%s", "");
        if (!cJSON_IsString(pat)) return sc_fail(c, LLMC_ERR_FORMAT, p2, "expected a string");
        if (cJSON_GetObjectItemCaseSensitive(s, "minLength") || cJSON_GetObjectItemCaseSensitive(s, "maxLength") ||
            cJSON_GetObjectItemCaseSensitive(s, "format"))
            return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "a pattern together with minLength/maxLength/format");
        char why[200];
        llmc_sb_puts(o, "\"\\\"\" ");
        if (!grm_regex_to_gbnf(pat->valuestring, o, why, sizeof why)) return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, why);
        llmc_sb_puts(o, " \"\\\"\"");
        return true;
    }
    const char *fmt = llmc_json_get_string(s, "format");
    if (fmt) {
        const char *r = !strcmp(fmt, "date") ? "jdate" : !strcmp(fmt, "time") ? "jtime" : !strcmp(fmt, "date-time") ? "jdate \"T\" jtime"
                      : !strcmp(fmt, "uuid") ? "juuid" : NULL;
        path_join(p2, path, ".format%s", "");
        if (!r) return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "unsupported format (date, time, date-time, uuid are)");
        llmc_sb_printf(o, "\"\\\"\" %s \"\\\"\"", r);
        return true;
    }
    long long min = 0, max = -1;
    bool hmin, hmax;
    if (!get_bound(c, s, "minLength", path, &min, &hmin) || !get_bound(c, s, "maxLength", path, &max, &hmax)) return false;
    if (!hmax) max = -1;
    if (max >= 0 && max < min) { path_join(p2, path, ".maxLength%s", ""); return sc_fail(c, LLMC_ERR_FORMAT, p2, "less than minLength"); }
    if (!hmin && !hmax) { llmc_sb_puts(o, "jstr"); return true; }
    llmc_sb_puts(o, "\"\\\"\" jchar");
    put_range(o, min, max);
    llmc_sb_puts(o, " \"\\\"\"");
    return true;
}

static bool gen_type(sc *c, const cJSON *s, const char *type, const char *path, llmc_strbuf *o) {
    if (!strcmp(type, "object")) return gen_object(c, s, path, o);
    if (!strcmp(type, "array")) return gen_array(c, s, path, o);
    if (!strcmp(type, "string")) return gen_string(c, s, path, o);
    static const char *const num_kw[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"};
    if (!strcmp(type, "number") || !strcmp(type, "integer")) {
        for (size_t i = 0; i < sizeof num_kw / sizeof *num_kw; i++)
            if (cJSON_GetObjectItemCaseSensitive(s, num_kw[i])) {
                char p2[SC_PATH];
                path_join(p2, path, ".%s", num_kw[i]);
                return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "numeric bounds are not supported yet");
            }
        llmc_sb_puts(o, type[0] == 'n' ? "jnum" : "jint");
        return true;
    }
    if (!strcmp(type, "boolean")) { llmc_sb_puts(o, "jbool"); return true; }
    if (!strcmp(type, "null")) { llmc_sb_puts(o, "jnull"); return true; }
    char p2[SC_PATH];
    path_join(p2, path, ".type%s", "");
    return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "unknown type (object, array, string, number, integer, boolean, null)");
}

static const char *const SC_KNOWN[] = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength",
    "maxLength", "format", "pattern", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "strict", "deprecated", "readOnly",
    "writeOnly", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "prefixItems", "name"};

static bool check_keywords(sc *c, const cJSON *s, const char *path) {
    for (const cJSON *k = s->child; k; k = k->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof SC_KNOWN / sizeof *SC_KNOWN && !known; i++) known = !strcmp(k->string, SC_KNOWN[i]);
        if (!known) {
            char p2[SC_PATH];
            path_join(p2, path, ".%s", k->string);
            return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "unsupported keyword");
        }
    }
    return true;
}

/* Alternatives over an array of schemas (anyOf / oneOf / enum values when lit). */
static bool gen_alts(sc *c, const cJSON *arr, const char *path, const char *kw, bool lit, llmc_strbuf *o) {
    char p2[SC_PATH];
    path_join(p2, path, ".%s", kw);
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n <= 0) return sc_fail(c, LLMC_ERR_FORMAT, p2, "expected a non-empty array");
    if (n > SC_MAX_ENUM) return sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "more than 4096 alternatives");
    llmc_sb_putc(o, '(');
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        if (i) llmc_sb_puts(o, " | ");
        char p3[SC_PATH];
        snprintf(p3, sizeof p3, "%s[%d]", p2, i);
        if (lit ? !put_json_literal(c, o, e, p3) : !gen(c, e, p3, o)) return false;
        if (o->len > SC_MAX_TEXT) return sc_fail(c, LLMC_ERR_NOMEM, p2, "the alternatives are over 8 MiB of grammar");
    }
    llmc_sb_putc(o, ')');
    return true;
}

/* Appends to o a GBNF expression for schema s (at path). */
static bool gen(sc *c, const cJSON *s, const char *path, llmc_strbuf *o) {
    if (c->st) return false;
    if (cJSON_IsTrue(s)) { llmc_sb_puts(o, "jvalue"); return true; }
    if (!cJSON_IsObject(s)) return sc_fail(c, LLMC_ERR_FORMAT, path, "expected a schema object");
    if (++c->depth > SC_MAX_DEPTH) { c->depth--; return sc_fail(c, LLMC_ERR_UNSUPPORTED, path, "nested deeper than 64 levels"); }
    bool ok = check_keywords(c, s, path);
    const cJSON *t;
    char p2[SC_PATH];
    if (!ok) {
    } else if ((t = cJSON_GetObjectItemCaseSensitive(s, "$ref"))) {
        path_join(p2, path, ".$ref%s", "");
        ok = cJSON_IsString(t) ? gen_ref(c, t->valuestring, p2, o) : sc_fail(c, LLMC_ERR_FORMAT, p2, "expected a string");
    } else if ((t = cJSON_GetObjectItemCaseSensitive(s, "const"))) {
        path_join(p2, path, ".const%s", "");
        ok = put_json_literal(c, o, t, p2);
    } else if ((t = cJSON_GetObjectItemCaseSensitive(s, "enum"))) {
        ok = gen_alts(c, t, path, "enum", true, o);
    } else if ((t = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) || (t = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        ok = gen_alts(c, t, path, t->string, false, o);
    } else if ((t = cJSON_GetObjectItemCaseSensitive(s, "allOf"))) {
        path_join(p2, path, ".allOf%s", "");
        if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) != 1) ok = sc_fail(c, LLMC_ERR_UNSUPPORTED, p2, "only an allOf of one schema is supported");
        else { path_join(p2, path, ".allOf[0]%s", ""); ok = gen(c, t->child, p2, o); }
    } else if ((t = cJSON_GetObjectItemCaseSensitive(s, "type"))) {
        if (cJSON_IsString(t)) ok = gen_type(c, s, t->valuestring, path, o);
        else if (cJSON_IsArray(t) && cJSON_GetArraySize(t) > 0) {
            llmc_sb_putc(o, '(');
            int i = 0;
            for (const cJSON *e = t->child; ok && e; e = e->next, i++) {
                if (i) llmc_sb_puts(o, " | ");
                path_join(p2, path, ".type%s", "");
                ok = cJSON_IsString(e) ? gen_type(c, s, e->valuestring, path, o) : sc_fail(c, LLMC_ERR_FORMAT, p2, "expected type names");
            }
            llmc_sb_putc(o, ')');
        } else {
            path_join(p2, path, ".type%s", "");
            ok = sc_fail(c, LLMC_ERR_FORMAT, p2, "expected a type name or a list of them");
        }
    } else if (cJSON_GetObjectItemCaseSensitive(s, "properties") || cJSON_GetObjectItemCaseSensitive(s, "additionalProperties")) {
        ok = gen_object(c, s, path, o);
    } else if (cJSON_GetObjectItemCaseSensitive(s, "items")) {
        ok = gen_array(c, s, path, o);
    } else {
        llmc_sb_puts(o, "jvalue");
    }
    c->depth--;
    if (ok && o->oom) ok = sc_fail(c, LLMC_ERR_NOMEM, path, "out of memory");
    return ok;
}

const char *grm_schema_base_rules(void) { return SC_BASE; }

llmc_status grm_schema_rules(const cJSON *doc, const char *prefix, const char *path, llmc_strbuf *out, llmc_strbuf *expr,
                             llmc_error *err) {
    sc c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.pfx = prefix;
    c.doc = doc;
    llmc_sb_init(&c.out);
    if (!doc) llmc_sb_puts(expr, "jobject");
    else gen(&c, doc, path, expr);
    if (!c.st && (c.out.oom || expr->oom)) c.st = llmc_err(err, LLMC_ERR_NOMEM, "json schema: out of memory");
    if (!c.st) llmc_sb_append(out, c.out.data ? c.out.data : "", c.out.len);
    for (int i = 0; i < c.n_refs; i++) free(c.refs[i].ref);
    free(c.refs);
    llmc_sb_free(&c.out);
    return c.st;
}

llmc_status llmc_grammar_schema_to_gbnf(const char *schema_json, size_t len, char **gbnf, llmc_error *err) {
    *gbnf = NULL;
    cJSON *doc = NULL;
    bool empty = true;
    for (size_t i = 0; schema_json && i < len; i++)
        if (schema_json[i] != ' ' && schema_json[i] != '\n' && schema_json[i] != '\t' && schema_json[i] != '\r') empty = false;
    if (!empty) {
        doc = llmc_json_parse(schema_json, len, "json schema", err);
        if (!doc) return err ? err->code : LLMC_ERR_FORMAT;
    }
    llmc_strbuf out, root;
    llmc_sb_init(&out);
    llmc_sb_init(&root);
    llmc_sb_puts(&out, SC_BASE);
    llmc_status st = grm_schema_rules(doc, "", "$", &out, &root, err);
    if (!st) llmc_sb_printf(&out, "root ::= ws %s ws\n", root.data);
    if (!st && out.oom) st = llmc_err(err, LLMC_ERR_NOMEM, "json schema: out of memory");
    llmc_sb_free(&root);
    cJSON_Delete(doc);
    if (st) { llmc_sb_free(&out); return st; }
    *gbnf = llmc_sb_take(&out);
    return LLMC_OK;
}

llmc_status llmc_grammar_from_json_schema(const char *schema_json, size_t len, llmc_grammar **out, llmc_error *err) {
    *out = NULL;
    char *g = NULL;
    llmc_status st = llmc_grammar_schema_to_gbnf(schema_json, len, &g, err);
    if (st) return st;
    st = llmc_grammar_from_gbnf(g, strlen(g), "root", out, err);
    if (st) llmc_err_prefix(err, "json schema compiled to a grammar that failed: ");
    free(g);
    return st;
}
