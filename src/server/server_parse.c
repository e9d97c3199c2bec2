/* Request parsing for the server (see server.h): OpenAI chat-completions and completions bodies →
 * generation settings. Every field is checked and a bad one is refused naming it; nothing here
 * needs HTTP or a model, so all of it is unit-tested directly (tests/unit/test_server.c). */
#include "server/server.h"
#include "grammar/grammar.h"
#include "base/error.h"
#include "base/json.h"
#include "base/strbuf.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_MAX_STOPS 16
#define SRV_MAX_STOP_LEN 1024
#define SRV_MAX_PARTS 4096
#define SRV_MAX_NAME 64

void llmc_server_request_free(llmc_server_request *r) {
    if (!r) return;
    free(r->prompt);
    free(r->messages_json);
    free(r->tools_json);
    free(r->model);
    free(r->json_schema);
    free(r->grammar);
    free(r->tool_name);
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    for (int i = 0; i < r->n_tools; i++) free(r->tool_names[i]);
    memset(r, 0, sizeof *r);
}

static llmc_status oom(llmc_error *err) { return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }

/* content: a string, null, or OpenAI's list of parts, of which llmc takes text ones
   (joined with newlines, as vLLM and llama.cpp's server do). */
static llmc_status norm_content(cJSON *m, int i, llmc_error *err) {
    cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!c || cJSON_IsString(c) || cJSON_IsNull(c)) return LLMC_OK;
    if (!cJSON_IsArray(c))
        return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d].content must be a string or a list of text parts", i);
    llmc_strbuf sb;
    llmc_sb_init(&sb);
    int k = 0;
    for (const cJSON *p = c->child; p; p = p->next, k++) {
        const char *type = cJSON_IsObject(p) ? llmc_json_get_string(p, "type") : NULL;
        const char *text = cJSON_IsObject(p) ? llmc_json_get_string(p, "text") : NULL;
        if (k >= SRV_MAX_PARTS || !type || strcmp(type, "text") != 0 || !text) {
            llmc_sb_free(&sb);
            if (k >= SRV_MAX_PARTS) return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d].content has more than %d parts", i, SRV_MAX_PARTS);
            if (type && strcmp(type, "text") != 0)
                return llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: messages[%d].content[%d] is a '%.40s' part; only text parts are supported",
                                i, k, type);
            return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d].content[%d] must be {\"type\": \"text\", \"text\": string}", i, k);
        }
        if (k) llmc_sb_putc(&sb, '\n');
        llmc_sb_puts(&sb, text);
    }
    if (sb.oom) {
        llmc_sb_free(&sb);
        return oom(err);
    }
    cJSON *s = cJSON_CreateString(sb.data ? sb.data : "");
    llmc_sb_free(&sb);
    if (!s) return oom(err);
    cJSON_ReplaceItemInObjectCaseSensitive(m, "content", s);
    return LLMC_OK;
}

/* An assistant message's tool_calls: each {"id"?, "type"?: "function", "function": {"name", "arguments"}};
   arguments given as JSON text (OpenAI's way) become the object, as templates read them (vLLM does the same). */
static llmc_status norm_tool_calls(cJSON *calls, int i, llmc_error *err) {
    if (!cJSON_IsArray(calls)) return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d].tool_calls must be a list", i);
    int k = 0;
    for (cJSON *c = calls->child; c; c = c->next, k++) {
        cJSON *fn = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "function") : NULL;
        const char *type = cJSON_IsObject(c) ? llmc_json_get_string(c, "type") : NULL;
        const cJSON *id = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "id") : NULL;
        if (!cJSON_IsObject(fn) || !llmc_json_get_string(fn, "name") || (type && strcmp(type, "function")) || (id && !cJSON_IsString(id)))
            return llmc_err(err, LLMC_ERR_FORMAT,
                            "request body: messages[%d].tool_calls[%d] must be {\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}}", i, k);
        cJSON *a = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (!a || cJSON_IsNull(a) || (cJSON_IsString(a) && !a->valuestring[strspn(a->valuestring, " \t\r\n")])) {
            cJSON *o = cJSON_CreateObject();
            if (!o) return oom(err);
            if (a) cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments", o);
            else cJSON_AddItemToObject(fn, "arguments", o);
            continue;
        }
        if (cJSON_IsObject(a)) continue;
        cJSON *o = cJSON_IsString(a) ? cJSON_Parse(a->valuestring) : NULL;
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d].tool_calls[%d].function.arguments must be a JSON object (as text)", i, k);
        }
        cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments", o);
    }
    return LLMC_OK;
}

/* One message: a known role, content as that role needs it, tool fields in shape. */
static llmc_status norm_message(cJSON *m, int i, llmc_error *err) {
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    const char *role = cJSON_IsObject(m) ? llmc_json_get_string(m, "role") : NULL;
    if (!role) return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d] must be an object with a string 'role'", i);
    int r = -1;
    for (int k = 0; k < 5 && r < 0; k++)
        if (!strcmp(role, roles[k])) r = k;
    if (r < 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d]: role '%.40s' is not one of system, developer, user, assistant, tool", i,
                        role);
    if (r == 1) { /* OpenAI's developer message is the system message of older models */
        cJSON *s = cJSON_CreateString("system");
        if (!s) return oom(err);
        cJSON_ReplaceItemInObjectCaseSensitive(m, "role", s);
    }
    llmc_status st = norm_content(m, i, err);
    if (st) return st;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    if (calls && cJSON_IsNull(calls)) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, "tool_calls");
        calls = NULL;
    }
    if (r != 3 && (!c || cJSON_IsNull(c))) return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d]: 'content' is required", i);
    if (calls && r != 3) return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d]: only an assistant message has 'tool_calls'", i);
    if (calls && (st = norm_tool_calls(calls, i, err))) return st;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
    if (name && !cJSON_IsString(name) && !cJSON_IsNull(name)) return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d].name must be a string", i);
    if (r == 4 && !llmc_json_get_string(m, "tool_call_id"))
        return llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d]: a tool message needs a string 'tool_call_id'", i);
    return LLMC_OK;
}

/* A number field in [lo, hi]; absent or null → false without error. */
static bool num_field(const cJSON *j, const char *key, double lo, double hi, double *out, llmc_status *st, llmc_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return false;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        *st = llmc_err(err, LLMC_ERR_FORMAT, "request body: '%s' must be a number from %g to %g", key, lo, hi);
        return false;
    }
    *out = v->valuedouble;
    return true;
}
static bool int_field(const cJSON *j, const char *key, long long lo, long long hi, long long *out, llmc_status *st, llmc_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return false;
    if (!llmc_json_is_int(v, lo, hi)) {
        *st = llmc_err(err, LLMC_ERR_FORMAT, "request body: '%s' must be an integer from %lld to %lld", key, lo, hi);
        return false;
    }
    *out = (long long)v->valuedouble;
    return true;
}
static bool bool_field(const cJSON *j, const char *key, bool *out, llmc_status *st, llmc_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return false;
    if (!cJSON_IsBool(v)) {
        *st = llmc_err(err, LLMC_ERR_FORMAT, "request body: '%s' must be true or false", key);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

static llmc_status add_stop(llmc_server_request *r, const cJSON *s, llmc_error *err) {
    if (!cJSON_IsString(s) || !s->valuestring[0] || strlen(s->valuestring) > SRV_MAX_STOP_LEN)
        return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'stop' must be a non-empty string (at most %d bytes) or a list of them",
                        SRV_MAX_STOP_LEN);
    if (r->n_stops >= SRV_MAX_STOPS) return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'stop' has more than %d strings", SRV_MAX_STOPS);
    if (!(r->stops[r->n_stops] = strdup(s->valuestring))) return oom(err);
    r->n_stops++;
    return LLMC_OK;
}

/* response_format: text, json_object (any object) or json_schema (its schema compiled here, so a bad
   one is a 400 naming the schema path before anything runs); llama-server's "grammar" (GBNF). */
static llmc_status parse_format(const cJSON *j, llmc_server_request *r, llmc_error *err) {
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(j, "response_format");
    if (rf && !cJSON_IsNull(rf)) {
        const char *t = cJSON_IsObject(rf) ? llmc_json_get_string(rf, "type") : NULL;
        if (!t) return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}");
        if (!strcmp(t, "json_object")) {
            if (!(r->json_schema = strdup(""))) return oom(err);
        } else if (!strcmp(t, "json_schema")) {
            const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
            const cJSON *sc = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "schema") : NULL;
            const cJSON *name = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "name") : NULL;
            const cJSON *strict = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "strict") : NULL;
            if (!cJSON_IsObject(js) || !cJSON_IsObject(sc))
                return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'response_format.json_schema' must be {\"name\", \"schema\": {...}, \"strict\"}");
            if ((name && !cJSON_IsString(name)) || (strict && !cJSON_IsBool(strict) && !cJSON_IsNull(strict)))
                return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'response_format.json_schema': 'name' must be a string and 'strict' true or false");
            if (!(r->json_schema = cJSON_PrintUnformatted(sc))) return oom(err);
            char *gbnf = NULL;
            llmc_status st = llmc_grammar_schema_to_gbnf(r->json_schema, strlen(r->json_schema), &gbnf, err);
            free(gbnf);
            if (st) {
                llmc_err_prefix(err, "request body: response_format.json_schema.schema: ");
                return st;
            }
        } else if (strcmp(t, "text") != 0) {
            return llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: response_format type '%.40s' is not supported (text, json_object, json_schema)", t);
        }
    }
    const cJSON *gr = cJSON_GetObjectItemCaseSensitive(j, "grammar");
    if (gr && !cJSON_IsNull(gr)) {
        if (!cJSON_IsString(gr)) return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'grammar' must be a string (GBNF)");
        if (r->json_schema) return llmc_err(err, LLMC_ERR_FORMAT, "request body: give 'response_format' or 'grammar', not both");
        llmc_grammar *g = NULL;
        llmc_status st = llmc_grammar_from_gbnf(gr->valuestring, strlen(gr->valuestring), NULL, &g, err);
        llmc_grammar_free(g);
        if (st) {
            llmc_err_prefix(err, "request body: 'grammar': ");
            return st;
        }
        if (!(r->grammar = strdup(gr->valuestring))) return oom(err);
    }
    r->g.json_schema = r->json_schema;
    r->g.grammar = r->grammar;
    return LLMC_OK;
}

/* The sampling, length, stop, format and stream fields both endpoints share. */
static llmc_status parse_params(const cJSON *j, llmc_server_request *r, llmc_error *err) {
    llmc_status st = LLMC_OK;
    long long iv;
    double dv;
    if (int_field(j, "max_tokens", 1, 1 << 24, &iv, &st, err)) r->g.max_new_tokens = (int)iv;
    if (int_field(j, "max_completion_tokens", 1, 1 << 24, &iv, &st, err)) r->g.max_new_tokens = (int)iv;
    /* OpenAI's temperature 0 is greedy; any other sampling field asks for sampling unless
       temperature 0 said otherwise. Unset fields keep the model's generation_config. */
    bool greedy = false;
    if (num_field(j, "temperature", 0, 100, &dv, &st, err)) {
        greedy = dv == 0;
        r->g.do_sample = greedy ? 0 : 1;
        if (!greedy) r->g.temperature = (float)dv;
    }
    if (num_field(j, "top_p", 0, 1, &dv, &st, err)) { r->g.top_p = (float)dv; if (!greedy) r->g.do_sample = 1; }
    if (int_field(j, "top_k", 0, 1 << 24, &iv, &st, err)) { r->g.top_k = (int)iv; if (!greedy) r->g.do_sample = 1; }
    if (num_field(j, "min_p", 0, 1, &dv, &st, err)) { r->g.min_p = (float)dv; if (!greedy) r->g.do_sample = 1; }
    if (num_field(j, "repetition_penalty", 1e-3, 100, &dv, &st, err)) r->g.repetition_penalty = (float)dv;
    if (int_field(j, "seed", -(1LL << 53), 1LL << 53, &iv, &st, err)) { r->g.seed = (uint64_t)iv; r->g.has_seed = true; }
    const char *pen[] = {"presence_penalty", "frequency_penalty"};
    for (int k = 0; k < 2 && !st; k++)
        if (num_field(j, pen[k], -2, 2, &dv, &st, err) && dv != 0)
            st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: '%s' is not supported (use repetition_penalty)", pen[k]);
    r->n = 1;
    if (int_field(j, "n", 1, 16, &iv, &st, err)) r->n = (int)iv;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!st && model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model)) st = llmc_err(err, LLMC_ERR_FORMAT, "request body: 'model' must be a string");
        else if (model->valuestring[0] && !(r->model = strdup(model->valuestring))) st = oom(err);
    }
    if (!st) st = parse_format(j, r, err);
    if (!st) bool_field(j, "stream", &r->stream, &st, err);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
    if (!st && so && cJSON_IsObject(so)) bool_field(so, "include_usage", &r->include_usage, &st, err);
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(j, "stop");
    if (!st && stop && !cJSON_IsNull(stop)) {
        if (cJSON_IsArray(stop))
            for (const cJSON *s = stop->child; s && !st; s = s->next) st = add_stop(r, s, err);
        else st = add_stop(r, stop, err);
    }
    if (st) return st;
    if (r->n_stops) { /* the request's stop list replaces the defaults' */
        r->g.stop_strings = (const char *const *)r->stops;
        r->g.n_stop_strings = r->n_stops;
    }
    if ((r->json_schema || r->grammar) && r->n > 1)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'n' > 1 with a grammar or JSON schema is not supported");
    return LLMC_OK;
}

/* Body → object; r starts from the defaults. */
static cJSON *parse_start(const char *body, size_t len, const llmc_gen_params *defaults, llmc_server_request *r, llmc_status *st,
                          llmc_error *err) {
    memset(r, 0, sizeof *r);
    if (defaults) r->g = *defaults;
    else llmc_gen_params_default(&r->g);
    r->g.on_text = NULL;
    r->g.on_text_user = NULL;
    r->g.cancel = NULL;
    r->g.json_schema = NULL; /* only the request's own response_format / grammar */
    r->g.grammar = NULL;
    r->g.cut_stop_strings = true; /* OpenAI's stop: the reply ends before the stop string */
    r->parallel_tool_calls = true;
    cJSON *j = llmc_json_parse(body, len, "request body", err);
    if (!j) {
        *st = err ? err->code : LLMC_ERR_FORMAT;
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        *st = llmc_err(err, LLMC_ERR_FORMAT, "request body: expected a JSON object");
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

llmc_status llmc_server_parse_completion(const char *body, size_t len, const llmc_gen_params *defaults, llmc_server_request *r,
                                         llmc_error *err) {
    llmc_status st = LLMC_OK;
    cJSON *j = parse_start(body, len, defaults, r, &st, err);
    if (!j) return st;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    if (cJSON_IsArray(pr) && cJSON_GetArraySize(pr) == 1 && cJSON_IsString(pr->child)) pr = pr->child; /* ["text"] */
    if (!cJSON_IsString(pr)) {
        st = llmc_err(err, cJSON_IsArray(pr) ? LLMC_ERR_UNSUPPORTED : LLMC_ERR_FORMAT,
                      cJSON_IsArray(pr) ? "request body: 'prompt' must be one string (batches and token lists are not supported)"
                                        : "request body: 'prompt' must be a string");
    } else if (!(r->prompt = strdup(pr->valuestring))) st = oom(err);
    bool b = false;
    if (!st && bool_field(j, "echo", &b, &st, err)) r->echo = b;
    const cJSON *sfx = cJSON_GetObjectItemCaseSensitive(j, "suffix");
    if (!st && sfx && !cJSON_IsNull(sfx)) st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'suffix' (fill-in-the-middle) is not supported");
    long long iv;
    if (!st && int_field(j, "best_of", 1, 1 << 20, &iv, &st, err) && iv != 1)
        st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'best_of' must be 1");
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(j, "logprobs");
    if (!st && lp && !cJSON_IsNull(lp) && !(cJSON_IsNumber(lp) && lp->valuedouble == 0))
        st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'logprobs' is not supported");
    if (!st) st = parse_params(j, r, err);
    cJSON_Delete(j);
    if (st) llmc_server_request_free(r);
    return st;
}

static bool tool_name_ok(const char *s) {
    size_t n = strlen(s);
    if (!n || n > SRV_MAX_NAME) return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", s[i])) return false;
    return true;
}

/* tools: [{"type": "function", "function": {"name", "description"?, "parameters"?}}], names collected. */
static llmc_status parse_tools(const cJSON *tools, llmc_server_request *r, llmc_error *err) {
    if (!cJSON_IsArray(tools)) return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'tools' must be a list");
    int i = 0;
    for (const cJSON *t = tools->child; t; t = t->next, i++) {
        if (i >= LLMC_SERVER_MAX_TOOLS) return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'tools' has more than %d tools", LLMC_SERVER_MAX_TOOLS);
        const char *type = cJSON_IsObject(t) ? llmc_json_get_string(t, "type") : NULL;
        const cJSON *fn = cJSON_IsObject(t) ? cJSON_GetObjectItemCaseSensitive(t, "function") : NULL;
        if (!cJSON_IsObject(fn) || (type && strcmp(type, "function")))
            return llmc_err(err, LLMC_ERR_FORMAT, "request body: tools[%d] must be {\"type\": \"function\", \"function\": {\"name\", \"parameters\"}}", i);
        const char *name = llmc_json_get_string(fn, "name");
        if (!name || !tool_name_ok(name))
            return llmc_err(err, LLMC_ERR_FORMAT,
                            "request body: tools[%d].function.name must be a string of letters, digits, '_', '-' or '.' (at most %d)", i, SRV_MAX_NAME);
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters"), *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
        if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params))
            return llmc_err(err, LLMC_ERR_FORMAT, "request body: tools[%d].function.parameters must be a JSON Schema object", i);
        if (desc && !cJSON_IsString(desc) && !cJSON_IsNull(desc))
            return llmc_err(err, LLMC_ERR_FORMAT, "request body: tools[%d].function.description must be a string", i);
        for (int k = 0; k < r->n_tools; k++)
            if (!strcmp(r->tool_names[k], name)) return llmc_err(err, LLMC_ERR_FORMAT, "request body: tools[%d]: a second function named '%s'", i, name);
        if (!(r->tool_names[r->n_tools] = strdup(name))) return oom(err);
        r->n_tools++;
    }
    if (!(r->tools_json = cJSON_PrintUnformatted(tools))) return oom(err);
    return LLMC_OK;
}

/* tool_choice: "auto" | "none" | "required" | {"type": "function", "function": {"name"}}; parallel_tool_calls. */
static llmc_status parse_tool_choice(const cJSON *j, llmc_server_request *r, llmc_error *err) {
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(j, "tool_choice");
    llmc_status st = LLMC_OK;
    bool_field(j, "parallel_tool_calls", &r->parallel_tool_calls, &st, err);
    if (st || !tc || cJSON_IsNull(tc)) return st;
    if (cJSON_IsString(tc)) {
        const char *v = tc->valuestring;
        if (!strcmp(v, "auto")) r->tool_choice = LLMC_TOOL_CHOICE_AUTO;
        else if (!strcmp(v, "none")) r->tool_choice = LLMC_TOOL_CHOICE_NONE;
        else if (!strcmp(v, "required")) r->tool_choice = LLMC_TOOL_CHOICE_REQUIRED;
        else return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'tool_choice' must be \"auto\", \"none\", \"required\" or a named function, not '%.40s'", v);
    } else {
        const cJSON *fn = cJSON_IsObject(tc) ? cJSON_GetObjectItemCaseSensitive(tc, "function") : NULL;
        const char *type = cJSON_IsObject(tc) ? llmc_json_get_string(tc, "type") : NULL;
        const char *name = cJSON_IsObject(fn) ? llmc_json_get_string(fn, "name") : NULL;
        if (!name || (type && strcmp(type, "function")))
            return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'tool_choice' must be a string or {\"type\": \"function\", \"function\": {\"name\"}}");
        r->tool_choice = LLMC_TOOL_CHOICE_NAMED;
        if (!(r->tool_name = strdup(name))) return oom(err);
    }
    if ((r->tool_choice == LLMC_TOOL_CHOICE_REQUIRED || r->tool_choice == LLMC_TOOL_CHOICE_NAMED) && !r->n_tools)
        return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'tool_choice' %s needs 'tools'", r->tool_name ? "naming a function" : "\"required\"");
    if (r->tool_name) {
        bool found = false;
        for (int k = 0; k < r->n_tools && !found; k++) found = !strcmp(r->tool_names[k], r->tool_name);
        if (!found) return llmc_err(err, LLMC_ERR_FORMAT, "request body: 'tool_choice' names the function '%.64s', which is not in 'tools'", r->tool_name);
    }
    return LLMC_OK;
}

llmc_status llmc_server_parse_chat(const char *body, size_t len, const llmc_gen_params *defaults, llmc_server_request *r, llmc_error *err) {
    llmc_status st = LLMC_OK;
    cJSON *j = parse_start(body, len, defaults, r, &st, err);
    if (!j) return st;
    cJSON *msgs = NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "messages");
    if (!cJSON_IsArray(m) || !m->child) {
        st = llmc_err(err, LLMC_ERR_FORMAT, "request body: 'messages' must be a non-empty list of {\"role\", \"content\"} objects");
        goto done;
    }
    if (!(msgs = cJSON_Duplicate(m, true))) { st = oom(err); goto done; }
    int i = 0;
    for (cJSON *e = msgs->child; e && !st; e = e->next, i++) st = norm_message(e, i, err);
    if (st) goto done;
    if (!(r->messages_json = cJSON_PrintUnformatted(msgs))) { st = oom(err); goto done; }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
    if (tools && !cJSON_IsNull(tools) && (st = parse_tools(tools, r, err))) goto done;
    if ((st = parse_tool_choice(j, r, err))) goto done;
    bool b = false;
    if (bool_field(j, "logprobs", &b, &st, err) && b) st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'logprobs' is not supported");
    if (!st) st = parse_params(j, r, err);
    if (!st && r->tool_choice >= LLMC_TOOL_CHOICE_REQUIRED && (r->json_schema || r->grammar))
        st = llmc_err(err, LLMC_ERR_FORMAT, "request body: 'tool_choice' %s constrains the reply itself: drop 'response_format' / 'grammar'",
                      r->tool_name ? "naming a function" : "\"required\"");
    if (!st && r->tool_choice >= LLMC_TOOL_CHOICE_REQUIRED && r->n > 1)
        st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'n' > 1 with tool_choice %s is not supported", r->tool_name ? "naming a function" : "\"required\"");
    if (!st && r->tool_choice == LLMC_TOOL_CHOICE_NONE) { /* the tools are not rendered and no call is looked for */
        free(r->tools_json);
        r->tools_json = NULL;
        for (int k = 0; k < r->n_tools; k++) free(r->tool_names[k]);
        r->n_tools = 0;
    }
done:
    cJSON_Delete(msgs);
    cJSON_Delete(j);
    if (st) llmc_server_request_free(r);
    return st;
}

/* The last path component of src, trailing slashes ignored, into out. */
static void base_name(const char *src, char *out, size_t n) {
    size_t len = strlen(src);
    while (len > 1 && src[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && src[start - 1] != '/') start--;
    size_t k = len - start < n - 1 ? len - start : n - 1;
    memcpy(out, src + start, k);
    out[k] = 0;
}

bool llmc_server_model_matches(const char *model, const char *model_name, const char *model_source) {
    if (!model || !*model) return true;
    if (model_name && !strcmp(model, model_name)) return true;
    if (!model_source || !*model_source) return false;
    if (!strcmp(model, model_source)) return true;
    char b[512];
    base_name(model_source, b, sizeof b);
    if (b[0] && !strcmp(model, b)) return true;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) {
        b[n - 5] = 0;
        if (!strcmp(model, b)) return true;
    }
    return false;
}
