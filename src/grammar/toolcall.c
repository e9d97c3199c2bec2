/* Tool calls: parsing a reply's calls (llama3 JSON, Hermes/Qwen <tool_call>, Mistral
 * [TOOL_CALLS]) and the grammar that forces one (see toolcall.h). */
#include "grammar/toolcall.h"
#include "grammar/grm_internal.h"
#include "base/error.h"
#include "base/json.h"
#include "base/strbuf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TC_MAX_TOOLS 256
#define TC_MAX_CALLS 64

bool llmc_tool_format_parse(const char *name, llmc_tool_format *out) {
    static const char *const names[] = {"llama3", "hermes", "mistral"};
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i])) { *out = (llmc_tool_format)i; return true; }
    if (name && !strcmp(name, "qwen")) { *out = LLMC_TOOLS_HERMES; return true; }
    return false;
}

const char *llmc_tool_format_name(llmc_tool_format f) {
    return f == LLMC_TOOLS_HERMES ? "hermes" : f == LLMC_TOOLS_MISTRAL ? "mistral" : "llama3";
}

llmc_tool_format llmc_tool_format_for(const llmc_tokenizer *t) {
    if (t && llmc_tokenizer_token_to_id(t, "<tool_call>") >= 0) return LLMC_TOOLS_HERMES;
    if (t && llmc_tokenizer_token_to_id(t, "[TOOL_CALLS]") >= 0) return LLMC_TOOLS_MISTRAL;
    return LLMC_TOOLS_LLAMA3;
}

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    return s;
}

/* One call object → {"name", "arguments"} appended to calls; false when it is not call-shaped. */
static bool add_call(cJSON *calls, const cJSON *obj) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "arguments");
    if (!args) args = cJSON_GetObjectItemCaseSensitive(obj, "parameters");
    if (!cJSON_IsObject(obj) || !cJSON_IsString(name) || (args && !cJSON_IsObject(args))) return false;
    if (cJSON_GetArraySize(calls) >= TC_MAX_CALLS) return false;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", name->valuestring);
    cJSON_AddItemToObject(c, "arguments", args ? cJSON_Duplicate(args, true) : cJSON_CreateObject());
    cJSON_AddItemToArray(calls, c);
    return true;
}

/* Parses one JSON value at s; *end after it. NULL when s does not start a JSON value. */
static cJSON *parse_at(const char *s, const char **end) {
    return cJSON_ParseWithOpts(s, end, false);
}

static llmc_status parse_hermes(const char *reply, cJSON *calls, llmc_strbuf *content, llmc_error *err) {
    const char *s = reply;
    for (const char *open; (open = strstr(s, "<tool_call>"));) {
        llmc_sb_append(content, s, (size_t)(open - s));
        const char *body = skip_ws(open + 11), *end;
        cJSON *v = parse_at(body, &end);
        bool ok = v && add_call(calls, v);
        cJSON_Delete(v);
        if (!ok) return llmc_err(err, LLMC_ERR_FORMAT, "tool call %d: <tool_call> is not followed by a {\"name\", \"arguments\"} object",
                                 cJSON_GetArraySize(calls) + 1);
        end = skip_ws(end);
        if (!strncmp(end, "</tool_call>", 12)) end += 12;
        s = end;
    }
    llmc_sb_puts(content, s);
    return LLMC_OK;
}

static llmc_status parse_mistral(const char *body, cJSON *calls, llmc_error *err) {
    const char *end;
    body = skip_ws(body);
    if (*body != '[') {   /* v11+: name[ARGS]{...} */
        const char *a = strstr(body, "[ARGS]");
        if (!a) return llmc_err(err, LLMC_ERR_FORMAT, "tool call: [TOOL_CALLS] is followed by neither a JSON array nor name[ARGS]{...}");
        char name[256];
        size_t n = (size_t)(a - body) < sizeof name - 1 ? (size_t)(a - body) : sizeof name - 1;
        memcpy(name, body, n);
        name[n] = 0;
        cJSON *args = parse_at(a + 6, &end), *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name);
        if (args) cJSON_AddItemToObject(o, "arguments", args);
        bool ok = args && add_call(calls, o);
        cJSON_Delete(o);
        return ok ? LLMC_OK : llmc_err(err, LLMC_ERR_FORMAT, "tool call '%s': [ARGS] is not followed by a JSON object", name);
    }
    cJSON *arr = parse_at(body, &end);
    bool ok = cJSON_IsArray(arr);
    for (const cJSON *e = ok ? arr->child : NULL; e && ok; e = e->next) ok = add_call(calls, e);
    cJSON_Delete(arr);
    return ok ? LLMC_OK : llmc_err(err, LLMC_ERR_FORMAT, "tool call: [TOOL_CALLS] is not followed by an array of {\"name\", \"arguments\"} objects");
}

/* llama3: the whole reply is one or more call objects (';' or whitespace between). */
static bool parse_llama3(const char *reply, cJSON *calls) {
    const char *s = skip_ws(reply);
    if (!strncmp(s, "<|python_tag|>", 14)) s = skip_ws(s + 14);
    if (*s != '{') return false;
    cJSON *found = cJSON_CreateArray();
    while (*s == '{') {
        const char *end;
        cJSON *v = parse_at(s, &end);
        bool ok = v && add_call(found, v);
        cJSON_Delete(v);
        if (!ok) { cJSON_Delete(found); return false; }
        s = skip_ws(end);
        if (*s == ';') s = skip_ws(s + 1);
    }
    if (*s) { cJSON_Delete(found); return false; }
    for (cJSON *e = found->child; e;) {
        cJSON *n = e->next;
        cJSON_AddItemToArray(calls, cJSON_DetachItemViaPointer(found, e));
        e = n;
    }
    cJSON_Delete(found);
    return true;
}

llmc_status llmc_tool_calls_parse(const char *reply, char **calls_out, char **content_out, llmc_error *err) {
    *calls_out = NULL;
    *content_out = NULL;
    if (!reply) return llmc_err(err, LLMC_ERR_INVALID_ARG, "tool calls: no reply");
    cJSON *calls = cJSON_CreateArray();
    llmc_strbuf content;
    llmc_sb_init(&content);
    llmc_status st = LLMC_OK;
    const char *m = strstr(reply, "[TOOL_CALLS]");
    const char *t = skip_ws(reply);
    if (strstr(reply, "<tool_call>")) st = parse_hermes(reply, calls, &content, err);
    else if (m) { llmc_sb_append(&content, reply, (size_t)(m - reply)); st = parse_mistral(m + 12, calls, err); }
    else if (*t == '[' && *skip_ws(t + 1) == '{') {
        cJSON *probe = cJSON_Parse(t);
        bool shaped = cJSON_IsArray(probe) && probe->child && cJSON_GetObjectItemCaseSensitive(probe->child, "name");
        cJSON_Delete(probe);
        if (shaped) st = parse_mistral(t, calls, err);
        else llmc_sb_puts(&content, reply);
    } else if (!parse_llama3(reply, calls)) llmc_sb_puts(&content, reply);
    if (!st) {
        /* trim the content */
        size_t a = 0, b = content.len;
        while (a < b && strchr(" \n\t\r", content.data[a])) a++;
        while (b > a && strchr(" \n\t\r", content.data[b - 1])) b--;
        *content_out = malloc(b - a + 1);
        if (*content_out) { if (b > a) memcpy(*content_out, content.data + a, b - a); (*content_out)[b - a] = 0; }
        if (cJSON_GetArraySize(calls) > 0) *calls_out = cJSON_PrintUnformatted(calls);
        if (!*content_out || (cJSON_GetArraySize(calls) > 0 && !*calls_out)) {
            free(*content_out); free(*calls_out);
            *content_out = *calls_out = NULL;
            st = llmc_err(err, LLMC_ERR_NOMEM, "tool calls: out of memory");
        }
    }
    llmc_sb_free(&content);
    cJSON_Delete(calls);
    return st;
}

/* A GBNF literal of JSON text. */
static void lit(llmc_strbuf *b, const char *s) {
    llmc_sb_putc(b, '"');
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u == '"' || *u == '\\') { llmc_sb_putc(b, '\\'); llmc_sb_putc(b, (char)*u); }
        else if (*u < 0x20) llmc_sb_printf(b, "\\x%02x", *u);
        else llmc_sb_putc(b, (char)*u);
    }
    llmc_sb_putc(b, '"');
}

/* The call alternatives: one `tcN ::= {"name": "...", "<args key>": params}` rule per tool. */
static llmc_status tool_rules(llmc_tool_format f, const cJSON *tools, const char *only, llmc_strbuf *out, llmc_strbuf *alts,
                              llmc_error *err) {
    int i = 0, n = 0;
    for (const cJSON *t = tools->child; t; t = t->next, i++) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (!fn) fn = t;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!cJSON_IsString(name)) return llmc_err(err, LLMC_ERR_FORMAT, "tools: $[%d]: no function name", i);
        if (only && strcmp(only, name->valuestring)) continue;
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        char path[96], pfx[16];
        snprintf(path, sizeof path, fn == t ? "$[%d].parameters" : "$[%d].function.parameters", i);
        snprintf(pfx, sizeof pfx, "t%d", i);
        llmc_strbuf expr;
        llmc_sb_init(&expr);
        llmc_status st = grm_schema_rules(params, pfx, path, out, &expr, err);
        if (st) { llmc_sb_free(&expr); llmc_err_prefix(err, "tools: "); return st; }
        cJSON *ns = cJSON_CreateString(name->valuestring);
        char *njson = cJSON_PrintUnformatted(ns);
        cJSON_Delete(ns);
        llmc_sb_printf(out, "tc%d ::= \"{\" ws \"\\\"name\\\"\" ws \":\" ws ", i);
        lit(out, njson ? njson : "\"\"");
        free(njson);
        llmc_sb_printf(out, " ws \",\" ws \"\\\"%s\\\"\" ws \":\" ws %s ws \"}\"\n", f == LLMC_TOOLS_LLAMA3 ? "parameters" : "arguments",
                       expr.data);
        llmc_sb_free(&expr);
        llmc_sb_printf(alts, "%stc%d", n++ ? " | " : "", i);
    }
    if (!n) return only ? llmc_err(err, LLMC_ERR_INVALID_ARG, "tools: no function named '%s'", only)
                        : llmc_err(err, LLMC_ERR_INVALID_ARG, "tools: the list is empty");
    return LLMC_OK;
}

llmc_status llmc_tool_grammar(llmc_tool_format f, const char *tools_json, const char *only_name, char **gbnf, llmc_error *err) {
    *gbnf = NULL;
    cJSON *tools = tools_json ? llmc_json_parse(tools_json, strlen(tools_json), "tools", err) : NULL;
    if (!tools) return tools_json ? (err ? err->code : LLMC_ERR_FORMAT) : llmc_err(err, LLMC_ERR_INVALID_ARG, "tools: none given");
    if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) > TC_MAX_TOOLS) {
        cJSON_Delete(tools);
        return llmc_err(err, LLMC_ERR_FORMAT, "tools: expected a JSON array of at most %d tools", TC_MAX_TOOLS);
    }
    llmc_strbuf out, alts;
    llmc_sb_init(&out);
    llmc_sb_init(&alts);
    llmc_sb_puts(&out, grm_schema_base_rules());
    llmc_status st = tool_rules(f, tools, only_name, &out, &alts, err);
    if (!st) {
        llmc_sb_printf(&out, "call ::= %s\n", alts.data);
        if (f == LLMC_TOOLS_LLAMA3) llmc_sb_puts(&out, "root ::= call\n");
        else if (f == LLMC_TOOLS_HERMES) llmc_sb_puts(&out, "tag ::= \"<tool_call>\" \"\\n\"? call \"\\n\"? \"</tool_call>\"\nroot ::= tag (\"\\n\" tag){0,3}\n");
        else llmc_sb_puts(&out, "root ::= \"[\" call (\", \" call){0,3} \"]\"\n");
        if (out.oom) st = llmc_err(err, LLMC_ERR_NOMEM, "tools: out of memory");
    }
    llmc_sb_free(&alts);
    cJSON_Delete(tools);
    if (st) { llmc_sb_free(&out); return st; }
    *gbnf = llmc_sb_take(&out);
    return LLMC_OK;
}
