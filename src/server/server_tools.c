/* Tool calls on the server (see server.h): messages made ready for the model's chat template,
 * the reply's calls as OpenAI's message.tool_calls, and the streaming of calls as deltas (a
 * scanner over the reply's call objects as they grow). The call formats are the grammar
 * module's (grammar/toolcall.h). */
#include "server/server.h"
#include "grammar/toolcall.h"
#include "base/error.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strbuf.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static llmc_status oom(llmc_error *err) { return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }

void llmc_server_template_caps_of(const char *text, int format, llmc_server_template_caps *out) {
    out->tools = text && strstr(text, "tools");
    out->tool_calls = text && strstr(text, "tool_calls");
    out->format = format;
}

/* ---- messages for the template ---- */

/* One call {"name", "arguments"} in the model's format. */
static void write_call(llmc_strbuf *b, int format, const char *name, const cJSON *args) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddItemToObject(o, format == LLMC_TOOLS_LLAMA3 ? "parameters" : "arguments", args ? cJSON_Duplicate(args, true) : cJSON_CreateObject());
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (format == LLMC_TOOLS_HERMES) llmc_sb_printf(b, "<tool_call>\n%s\n</tool_call>", t ? t : "{}");
    else llmc_sb_puts(b, t ? t : "{}");
    free(t);
}

/* An assistant message's calls written out as its content (for a template that ignores tool_calls). */
static llmc_status calls_to_content(cJSON *m, int format, llmc_error *err) {
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    const char *c = llmc_json_get_string(m, "content");
    llmc_strbuf b;
    llmc_sb_init(&b);
    if (c && *c) llmc_sb_printf(&b, "%s\n", c);
    if (format == LLMC_TOOLS_MISTRAL) llmc_sb_puts(&b, "[TOOL_CALLS][");
    int k = 0;
    for (const cJSON *tc = calls ? calls->child : NULL; tc; tc = tc->next, k++) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        if (k) llmc_sb_puts(&b, format == LLMC_TOOLS_HERMES ? "\n" : format == LLMC_TOOLS_MISTRAL ? ", " : "; ");
        write_call(&b, format, llmc_json_get_string(fn, "name"), cJSON_GetObjectItemCaseSensitive(fn, "arguments"));
    }
    if (format == LLMC_TOOLS_MISTRAL) llmc_sb_putc(&b, ']');
    cJSON *s = b.oom ? NULL : cJSON_CreateString(b.data ? b.data : "");
    llmc_sb_free(&b);
    if (!s) return oom(err);
    if (cJSON_GetObjectItemCaseSensitive(m, "content")) cJSON_ReplaceItemInObjectCaseSensitive(m, "content", s);
    else cJSON_AddItemToObject(m, "content", s);
    cJSON_DeleteItemFromObjectCaseSensitive(m, "tool_calls");
    return LLMC_OK;
}

/* The tools described for a template that does not render them: the functions as JSON and the call format. */
static char *tools_prompt(const char *tools_json, int format) {
    cJSON *tools = cJSON_Parse(tools_json);
    llmc_strbuf b;
    llmc_sb_init(&b);
    llmc_sb_puts(&b, "You can call these functions (JSON Schema of each one's parameters):\n");
    for (const cJSON *t = tools ? tools->child : NULL; t; t = t->next) {
        char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(t, "function"));
        llmc_sb_printf(&b, "%s\n", s ? s : "");
        free(s);
    }
    static const char *const how[] = {
        "To call a function, reply with only a JSON object {\"name\": function name, \"parameters\": {argument: value, ...}}.",
        "To call a function, reply with <tool_call>\n{\"name\": function name, \"arguments\": {argument: value, ...}}\n</tool_call>",
        "To call functions, reply with [TOOL_CALLS][{\"name\": function name, \"arguments\": {argument: value, ...}}]"};
    llmc_sb_puts(&b, how[format >= 0 && format <= 2 ? format : 0]);
    cJSON_Delete(tools);
    if (b.oom) { llmc_sb_free(&b); return NULL; }
    return llmc_sb_take(&b);
}

llmc_status llmc_server_prepare_messages(const llmc_server_request *r, const llmc_server_template_caps *caps, char **out, llmc_error *err) {
    *out = NULL;
    cJSON *msgs = cJSON_Parse(r->messages_json);
    if (!cJSON_IsArray(msgs)) { cJSON_Delete(msgs); return llmc_err(err, LLMC_ERR_INTERNAL, "messages: not a list after parsing"); }
    llmc_status st = LLMC_OK;
    for (cJSON *m = msgs->child; m && !st; m = m->next) {
        const char *role = llmc_json_get_string(m, "role");
        if (!role || strcmp(role, "assistant")) continue;
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (calls && !caps->tool_calls) st = calls_to_content(m, caps->format, err);
        else if (!llmc_json_get_string(m, "content")) { /* null or absent: "" for templates that add strings */
            cJSON *s = cJSON_CreateString("");
            if (!s) st = oom(err);
            else if (cJSON_GetObjectItemCaseSensitive(m, "content")) cJSON_ReplaceItemInObjectCaseSensitive(m, "content", s);
            else cJSON_AddItemToObject(m, "content", s);
        }
    }
    if (!st && r->tools_json && !caps->tools) {
        char *desc = tools_prompt(r->tools_json, caps->format);
        cJSON *first = msgs->child;
        const char *role = llmc_json_get_string(first, "role");
        if (!desc) st = oom(err);
        else if (role && !strcmp(role, "system")) {
            const char *c = llmc_json_get_string(first, "content");
            llmc_strbuf b;
            llmc_sb_init(&b);
            llmc_sb_printf(&b, "%s%s%s", c ? c : "", c && *c ? "\n\n" : "", desc);
            cJSON *s = b.oom ? NULL : cJSON_CreateString(b.data ? b.data : "");
            llmc_sb_free(&b);
            if (!s) st = oom(err);
            else cJSON_ReplaceItemInObjectCaseSensitive(first, "content", s);
        } else {
            cJSON *sys = cJSON_CreateObject();
            if (!sys || !cJSON_AddStringToObject(sys, "role", "system") || !cJSON_AddStringToObject(sys, "content", desc)) {
                cJSON_Delete(sys);
                st = oom(err);
            } else cJSON_InsertItemInArray(msgs, 0, sys);
        }
        free(desc);
    }
    if (!st && !(*out = cJSON_PrintUnformatted(msgs))) st = oom(err);
    cJSON_Delete(msgs);
    return st;
}

/* ---- the reply's calls ---- */

void llmc_server_call_id(char *id, size_t n) {
    static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char raw[24];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) { /* no entropy source: a counter-mixed clock */
        static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        static unsigned long long x;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        pthread_mutex_lock(&mu);
        x += 0x9E3779B97F4A7C15ull ^ (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 32);
        unsigned long long z = x;
        pthread_mutex_unlock(&mu);
        for (size_t i = 0; i < sizeof raw; i++) {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            raw[i] = (unsigned char)(z >> 56);
        }
    }
    if (n < 30) { if (n) id[0] = 0; return; }
    memcpy(id, "call_", 5);
    for (size_t i = 0; i < sizeof raw; i++) id[5 + i] = abc[raw[i] % 62];
    id[5 + sizeof raw] = 0;
}

static bool known_tool(const llmc_server_request *r, const char *name) {
    for (int i = 0; name && i < r->n_tools; i++)
        if (!strcmp(r->tool_names[i], name)) return true;
    return false;
}

llmc_status llmc_server_tool_calls(const llmc_server_request *r, const char *reply, char **tool_calls, char **content, llmc_error *err) {
    *tool_calls = NULL;
    *content = NULL;
    char *calls = NULL, *text = NULL;
    llmc_error perr = {0};
    if (r->n_tools && llmc_tool_calls_parse(reply ? reply : "", &calls, &text, &perr) != LLMC_OK) {
        LLMC_INFO("serve: the reply is not a well-formed tool call (%s): returned as content", perr.msg);
        calls = NULL;
        text = NULL;
    }
    cJSON *parsed = calls ? cJSON_Parse(calls) : NULL, *out = NULL;
    bool ok = cJSON_GetArraySize(parsed) > 0;
    for (const cJSON *c = parsed ? parsed->child : NULL; c && ok; c = c->next) ok = known_tool(r, llmc_json_get_string(c, "name"));
    if (ok && (out = cJSON_CreateArray())) {
        for (const cJSON *c = parsed->child; c; c = c->next) {
            cJSON *tc = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            char id[32], *args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "arguments"));
            llmc_server_call_id(id, sizeof id);
            cJSON_AddStringToObject(tc, "id", id);
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON_AddStringToObject(fn, "name", llmc_json_get_string(c, "name"));
            cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
            free(args);
            cJSON_AddItemToObject(tc, "function", fn);
            cJSON_AddItemToArray(out, tc);
            if (!r->parallel_tool_calls) break;
        }
        *tool_calls = cJSON_PrintUnformatted(out);
        cJSON_Delete(out);
    }
    cJSON_Delete(parsed);
    free(calls);
    const char *c = *tool_calls ? text : reply;
    if (c && *c && !(*content = strdup(c))) {
        free(*tool_calls);
        *tool_calls = NULL;
        free(text);
        return oom(err);
    }
    free(text);
    if (ok && !*tool_calls) return oom(err);
    return LLMC_OK;
}

/* ---- scanning calls as they grow ---- */

static bool starts(const char *t, size_t len, size_t at, const char *lit) {
    size_t n = strlen(lit);
    return at + n <= len && !memcmp(t + at, lit, n);
}
static size_t skip_ws(const char *t, size_t len, size_t i) {
    while (i < len && (t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r')) i++;
    return i;
}

/* A JSON string at t[i] == '"': the index after its closing quote, or 0 when it is not closed yet. */
static size_t scan_string(const char *t, size_t len, size_t i) {
    bool esc = false;
    for (size_t j = i + 1; j < len; j++) {
        if (esc) esc = false;
        else if (t[j] == '\\') esc = true;
        else if (t[j] == '"') return j + 1;
    }
    return 0;
}

/* A JSON value at t[i]: true when it is complete (*end after it), false with *end = len when it may
   still grow. */
static bool scan_value(const char *t, size_t len, size_t i, size_t *end) {
    *end = len;
    if (t[i] == '"') {
        size_t e = scan_string(t, len, i);
        if (e) *end = e;
        return e != 0;
    }
    if (t[i] == '{' || t[i] == '[') {
        int depth = 0;
        bool in_str = false, esc = false;
        for (size_t j = i; j < len; j++) {
            char c = t[j];
            if (in_str) {
                if (esc) esc = false;
                else if (c == '\\') esc = true;
                else if (c == '"') in_str = false;
            } else if (c == '"') in_str = true;
            else if (c == '{' || c == '[') depth++;
            else if ((c == '}' || c == ']') && --depth == 0) {
                *end = j + 1;
                return true;
            }
        }
        return false;
    }
    size_t j = i;
    while (j < len && !strchr(",}] \t\r\n", t[j])) j++;
    *end = j;
    return j < len;
}

/* One call object at t[p] == '{'; *end after it when it is closed. */
static void scan_object(const char *t, size_t len, size_t p, llmc_server_call_span *sp, size_t *end) {
    memset(sp, 0, sizeof *sp);
    size_t i = p + 1, key_at = 0, key_len = 0;
    enum { KEY, COLON, VALUE } st = KEY;
    for (;;) {
        i = skip_ws(t, len, i);
        if (i >= len) return;
        char c = t[i];
        if (st == KEY) {
            if (c == '}') { sp->done = true; *end = i + 1; return; }
            if (c == ',') { i++; continue; }
            if (c != '"') return; /* not an object of string keys: no more here */
            size_t e = scan_string(t, len, i);
            if (!e) return;
            key_at = i + 1;
            key_len = e - i - 2;
            i = e;
            st = COLON;
        } else if (st == COLON) {
            if (c != ':') return;
            i++;
            st = VALUE;
        } else {
            size_t ve;
            bool complete = scan_value(t, len, i, &ve);
            bool is_name = key_len == 4 && !memcmp(t + key_at, "name", 4);
            bool is_args = (key_len == 9 && !memcmp(t + key_at, "arguments", 9)) || (key_len == 10 && !memcmp(t + key_at, "parameters", 10));
            if (is_name && c == '"') { sp->name_at = i; sp->name_len = ve - i; sp->name_done = complete; }
            if (is_args) { sp->args_at = i; sp->args_len = ve - i; sp->args_done = complete; }
            if (!complete) return;
            i = ve;
            st = KEY;
        }
    }
}

int llmc_server_scan_calls(const char *t, size_t len, llmc_server_call_span *calls, int max) {
    size_t p = 0;
    for (int k = 0; k < 4; k++) { /* what may open the calls */
        p = skip_ws(t, len, p);
        if (starts(t, len, p, "<|python_tag|>")) p += 14;
        else if (starts(t, len, p, "[TOOL_CALLS]")) p += 12;
        else if (starts(t, len, p, "<tool_call>")) p += 11;
        else if (p < len && t[p] == '[') p++;
        else break;
    }
    int n = 0;
    if (max > LLMC_SERVER_MAX_CALLS) max = LLMC_SERVER_MAX_CALLS;
    while (n < max) {
        p = skip_ws(t, len, p);
        if (p >= len || t[p] != '{') break;
        size_t end = len;
        scan_object(t, len, p, &calls[n], &end);
        if (!calls[n++].done) break;
        p = end;
        for (;;) { /* between calls */
            p = skip_ws(t, len, p);
            if (p < len && (t[p] == ';' || t[p] == ',')) p++;
            else if (starts(t, len, p, "</tool_call>")) p += 12;
            else if (starts(t, len, p, "<tool_call>")) p += 11;
            else break;
        }
    }
    return n;
}

/* ---- streaming deltas ---- */

enum { TS_UNDECIDED, TS_CONTENT, TS_CALLS };

struct llmc_server_tool_stream {
    const llmc_server_request *r;
    int mode;
    bool no_calls;        /* decided: the reply is text */
    llmc_strbuf text;     /* the reply so far */
    size_t shown;         /* bytes of text sent as content */
    size_t calls_at;      /* where the calls begin */
    int n_calls;          /* headers sent */
    bool all_done;
    size_t args_shown[LLMC_SERVER_MAX_CALLS];
};

llmc_server_tool_stream *llmc_server_tool_stream_new(const llmc_server_request *r) {
    llmc_server_tool_stream *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->r = r;
    llmc_sb_init(&t->text);
    if (!r->n_tools) { t->mode = TS_CONTENT; t->no_calls = true; }
    return t;
}

void llmc_server_tool_stream_free(llmc_server_tool_stream *t) {
    if (!t) return;
    llmc_sb_free(&t->text);
    free(t);
}

int llmc_server_tool_stream_calls(const llmc_server_tool_stream *t, bool *all_complete) {
    if (all_complete) *all_complete = t->n_calls > 0 && t->all_done;
    return t->n_calls;
}

static const char *const MARKERS[] = {"<tool_call>", "<|python_tag|>", "[TOOL_CALLS]"};

/* How the reply's first visible text reads: a call, text, or too short to say. */
static int classify(const char *p, size_t n, bool final) {
    for (int k = 0; k < 3; k++) {
        size_t m = strlen(MARKERS[k]);
        if (n >= m && !memcmp(p, MARKERS[k], m)) return TS_CALLS;
        if (n < m && !memcmp(p, MARKERS[k], n)) return final ? TS_CONTENT : TS_UNDECIDED;
    }
    if (p[0] == '{') return TS_CALLS;
    if (p[0] == '[') {
        size_t j = skip_ws(p, n, 1);
        if (j >= n) return final ? TS_CONTENT : TS_UNDECIDED;
        return p[j] == '{' ? TS_CALLS : TS_CONTENT;
    }
    return TS_CONTENT;
}

static void send_content(llmc_server_tool_stream *t, size_t upto, const llmc_server_delta_sink *k) {
    if (upto > t->shown && k->content) k->content(k->user, t->text.data + t->shown, upto - t->shown);
    if (upto > t->shown) t->shown = upto;
}

/* Content mode: text goes out, except a tail that may begin "<tool_call>" (a Hermes call after text). */
static bool content_step(llmc_server_tool_stream *t, bool final, const llmc_server_delta_sink *k) {
    size_t len = t->text.len;
    if (!t->no_calls) {
        const char *hit = memmem(t->text.data + t->shown, len - t->shown, "<tool_call>", 11);
        if (hit) {
            size_t q = (size_t)(hit - t->text.data);
            send_content(t, q, k);
            t->calls_at = q;
            t->mode = TS_CALLS;
            return true;
        }
    }
    size_t hold = 0;
    if (!final && !t->no_calls)
        for (size_t h = len - t->shown < 10 ? len - t->shown : 10; h > 0 && !hold; h--)
            if (!memcmp(t->text.data + len - h, "<tool_call>", h)) hold = h;
    send_content(t, len - hold, k);
    return false;
}

/* Calls mode: headers once names are complete, then the arguments as they grow. Returns true when
   the reply turned out to be text (mode changed). */
static bool calls_step(llmc_server_tool_stream *t, bool final, const llmc_server_delta_sink *k) {
    llmc_server_call_span sp[LLMC_SERVER_MAX_CALLS];
    int n = llmc_server_scan_calls(t->text.data + t->calls_at, t->text.len - t->calls_at, sp, LLMC_SERVER_MAX_CALLS);
    const char *base = t->text.data + t->calls_at;
    t->all_done = true;
    for (int i = 0; i < n; i++) {
        if (!sp[i].name_done && sp[i].done && t->n_calls == 0) { /* a whole object without a name: a JSON reply */
            t->mode = TS_CONTENT;
            t->no_calls = true;
            return true;
        }
        if (!sp[i].name_done) { t->all_done = false; break; }
        if (i >= t->n_calls) {
            cJSON *nm = cJSON_ParseWithLength(base + sp[i].name_at, sp[i].name_len);
            bool ok = cJSON_IsString(nm) && known_tool(t->r, nm->valuestring) && (i == 0 || t->r->parallel_tool_calls);
            if (!ok && t->n_calls == 0) { /* a JSON reply, not a call */
                cJSON_Delete(nm);
                t->mode = TS_CONTENT;
                t->no_calls = true;
                return true;
            }
            if (!ok) { cJSON_Delete(nm); break; }
            char id[32];
            llmc_server_call_id(id, sizeof id);
            if (k->call_header) k->call_header(k->user, i, id, nm->valuestring);
            cJSON_Delete(nm);
            t->n_calls++;
        }
        if (sp[i].args_len > t->args_shown[i]) {
            if (k->call_args) k->call_args(k->user, i, base + sp[i].args_at + t->args_shown[i], sp[i].args_len - t->args_shown[i]);
            t->args_shown[i] = sp[i].args_len;
        }
        if (!sp[i].done) { t->all_done = false; break; }
    }
    if (final && t->n_calls == 0) { /* never became a call: it was text */
        t->mode = TS_CONTENT;
        t->no_calls = true;
        return true;
    }
    return false;
}

void llmc_server_tool_stream_push(llmc_server_tool_stream *t, const char *piece, size_t len, bool final, const llmc_server_delta_sink *k) {
    if (len) llmc_sb_append(&t->text, piece, len);
    if (t->text.oom || !t->text.data) return; /* nothing yet (an empty reply: nothing to send) */
    for (int guard = 0; guard < 8; guard++) {
        if (t->mode == TS_UNDECIDED) {
            size_t w = skip_ws(t->text.data, t->text.len, 0);
            int m = w < t->text.len ? classify(t->text.data + w, t->text.len - w, final) : final ? TS_CONTENT : TS_UNDECIDED;
            if (m == TS_UNDECIDED) return;
            t->mode = m; /* as text, a Hermes <tool_call> after it is still looked for */
            t->calls_at = w;
        }
        if (t->mode == TS_CONTENT) {
            if (!content_step(t, final, k)) return;
        } else if (!calls_step(t, final, k)) return;
    }
}
