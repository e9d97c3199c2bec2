/* OpenAI-compatible HTTP server (see server.h): request parsing always; the HTTP side
 * when libmicrohttpd was found (LLMC_HAVE_MHD). Connections run thread-per-connection;
 * a streamed reply is produced by a worker thread into a buffer that the connection's
 * reader callback drains as server-sent events. */
#include "server/server.h"
#include "generate/engine.h"
#include "grammar/grammar.h"
#include "pipeline/pipeline_internal.h"
#include "base/error.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strbuf.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- request parsing ---------- */

#define SRV_MAX_STOPS 16
#define SRV_MAX_STOP_LEN 1024
#define SRV_MAX_PARTS 4096

void llmc_server_request_free(llmc_server_request *r) {
    if (!r) return;
    free(r->prompt);
    free(r->messages_json);
    free(r->tools_json);
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    memset(r, 0, sizeof *r);
}

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
        return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    cJSON *s = cJSON_CreateString(sb.data ? sb.data : "");
    llmc_sb_free(&sb);
    if (!s) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    cJSON_ReplaceItemInObjectCaseSensitive(m, "content", s);
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
    if (!(r->stops[r->n_stops] = strdup(s->valuestring))) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    r->n_stops++;
    return LLMC_OK;
}

/* The sampling, length, stop and stream fields both endpoints share. */
static llmc_status parse_params(const cJSON *j, llmc_server_request *r, llmc_error *err);

/* Body → object; r starts from the defaults. */
static cJSON *parse_start(const char *body, size_t len, const llmc_gen_params *defaults, llmc_server_request *r, llmc_status *st,
                          llmc_error *err) {
    memset(r, 0, sizeof *r);
    if (defaults) r->g = *defaults;
    else llmc_gen_params_default(&r->g);
    r->g.on_text = NULL;
    r->g.on_text_user = NULL;
    r->g.cancel = NULL;
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
    } else if (!(r->prompt = strdup(pr->valuestring))) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
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
    if (!(msgs = cJSON_Duplicate(m, true))) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto done; }
    int i = 0;
    for (cJSON *e = msgs->child; e && !st; e = e->next, i++) {
        if (!cJSON_IsObject(e) || !llmc_json_get_string(e, "role"))
            st = llmc_err(err, LLMC_ERR_FORMAT, "request body: messages[%d] must be an object with a string 'role'", i);
        else st = norm_content(e, i, err);
    }
    if (st) goto done;
    if (!(r->messages_json = cJSON_PrintUnformatted(msgs))) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto done; }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
    if (tools && !cJSON_IsNull(tools)) {
        if (!cJSON_IsArray(tools)) { st = llmc_err(err, LLMC_ERR_FORMAT, "request body: 'tools' must be a list"); goto done; }
        if (!(r->tools_json = cJSON_PrintUnformatted(tools))) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto done; }
    }
    bool b = false;
    if (bool_field(j, "logprobs", &b, &st, err) && b) st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'logprobs' is not supported");
    if (!st) st = parse_params(j, r, err);
done:
    cJSON_Delete(msgs);
    cJSON_Delete(j);
    if (st) llmc_server_request_free(r);
    return st;
}

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
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(j, "response_format");
    if (!st && rf && !cJSON_IsNull(rf)) {
        const char *t = cJSON_IsObject(rf) ? llmc_json_get_string(rf, "type") : NULL;
        if (!t || strcmp(t, "text") != 0)
            st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'response_format' other than {\"type\": \"text\"} is not supported");
    }
    bool_field(j, "stream", &r->stream, &st, err);
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
    return LLMC_OK;
}

#ifndef LLMC_HAVE_MHD

bool llmc_server_built(void) { return false; }
llmc_status llmc_server_start(llmc_pipeline *p, const llmc_server_opts *o, llmc_server **out, llmc_error *err) {
    (void)p;
    (void)o;
    *out = NULL;
    return llmc_err(err, LLMC_ERR_UNSUPPORTED,
                    "this build has no HTTP server: libmicrohttpd was not found (apt-get install libmicrohttpd-dev, then rebuild)");
}
int llmc_server_port(const llmc_server *s) { (void)s; return 0; }
void llmc_server_stop(llmc_server *s) { (void)s; }

#else

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>

struct llmc_server {
    struct MHD_Daemon *d;
    llmc_pipeline *p;
    char *model_name, *api_key;
    size_t max_body;
    int port;
    const llmc_gen_params *defaults;
    pthread_mutex_t gen_mu; /* without the engine: one generation at a time */
    pthread_mutex_t prep_mu; /* template rendering and tokenizing (not re-entrant) */
    llmc_engine *eng;       /* NULL: a GPU model, one generation at a time */
    pthread_mutex_t id_mu;
    unsigned long long next_id;
    volatile int stopping;
};

typedef struct {
    llmc_strbuf body;
    bool too_big;
} conn_state;

bool llmc_server_built(void) { return true; }
int llmc_server_port(const llmc_server *s) { return s ? s->port : 0; }

static void make_id(llmc_server *s, bool chat, char *id, size_t n) {
    pthread_mutex_lock(&s->id_mu);
    unsigned long long k = ++s->next_id;
    pthread_mutex_unlock(&s->id_mu);
    snprintf(id, n, "%s-%llx%08llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)time(NULL), k);
}

/* What a request produced: one reply per choice, and the usage figures. */
typedef struct {
    int n;
    char *text[16];
    llmc_stop_reason stop[16];
    llmc_gen_stats stats;   /* generated_tokens: all choices together */
} srv_result;

static void srv_result_free(srv_result *r) {
    for (int i = 0; i < r->n && i < 16; i++) free(r->text[i]);
    memset(r, 0, sizeof *r);
}

/* Text of choice `choice`; non-zero stops it. */
typedef int (*srv_piece_fn)(void *user, int choice, const char *piece, size_t len);
typedef struct { srv_piece_fn fn; void *user; } srv_piece_adapter;
static int srv_piece0(void *user, const char *piece, size_t len) {
    srv_piece_adapter *a = user;
    return a->fn(a->user, 0, piece, len);
}

/* One generation at a time on the pipeline (a model on a GPU). */
static llmc_status run_serial(llmc_server *s, llmc_server_request *rq, srv_piece_fn fn, void *user, volatile int *cancel, srv_result *out,
                              llmc_error *err) {
    if (rq->n > 1) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'n' > 1 needs the multi-sequence engine, which a model on a GPU does not run");
    srv_piece_adapter ad = {fn, user};
    rq->g.on_text = srv_piece0;
    rq->g.on_text_user = &ad;
    rq->g.cancel = cancel;
    char *reply = NULL;
    pthread_mutex_lock(&s->gen_mu);
    llmc_status st = rq->prompt ? llmc_pipeline_complete(s->p, rq->prompt, &rq->g, &reply, &out->stats, err)
                                : llmc_pipeline_chat_json(s->p, rq->messages_json, rq->tools_json, &rq->g, &reply, &out->stats, err);
    pthread_mutex_unlock(&s->gen_mu);
    if (st) return st;
    out->n = 1;
    out->text[0] = reply;
    out->stop[0] = out->stats.stop;
    return LLMC_OK;
}

/* On the engine: the prompt rendered under prep_mu, then the engine's queue and steps. */
static llmc_status run_engine(llmc_server *s, llmc_server_request *rq, srv_piece_fn fn, void *user, volatile int *cancel, srv_result *out,
                              llmc_error *err) {
    int32_t *ids = NULL;
    size_t n_ids = 0;
    pthread_mutex_lock(&s->prep_mu);
    llmc_status st = llmc_pipeline_prompt_ids(s->p, rq->prompt ? NULL : rq->messages_json, rq->tools_json, rq->prompt, &ids, &n_ids, err);
    pthread_mutex_unlock(&s->prep_mu);
    if (st) return st;
    const llmc_gen_config *gc = llmc_pipeline_gen_config(s->p);
    llmc_engine_params ep;
    llmc_engine_params_default(&ep);
    llmc_pipeline_resolve_params(s->p, &rq->g, (int)n_ids, &ep.sampling, &ep.max_new_tokens);
    ep.eos_ids = gc->eos_ids;
    ep.n_eos = gc->n_eos;
    ep.stop_strings = rq->g.stop_strings;
    ep.n_stop_strings = rq->g.n_stop_strings;
    ep.n_choices = rq->n;
    ep.on_text = fn;
    ep.user = user;
    ep.cancel = cancel;
    if ((rq->g.json_schema || rq->g.grammar) && rq->n > 1) {
        free(ids);
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "request body: 'n' > 1 with a grammar or JSON schema is not supported");
    }
    llmc_engine_result r;
    st = llmc_pipeline_engine_run(s->p, s->eng, ids, (int)n_ids, &ep, rq->g.json_schema, rq->g.grammar, &r, err);
    free(ids);
    if (st) return st;
    out->n = r.n_choices;
    out->stats.prompt_tokens = r.prompt_tokens;
    out->stats.reused_tokens = r.reused_tokens;
    out->stats.ttft_ms = r.ttft_ms;
    out->stats.prefill_tokens_per_s = r.prefill_tokens_per_s;
    out->stats.decode_tokens_per_s = r.decode_tokens_per_s;
    for (int i = 0; i < r.n_choices; i++) {
        out->text[i] = r.choice[i].text;
        r.choice[i].text = NULL;
        out->stop[i] = r.choice[i].stop;
        out->stats.generated_tokens += r.choice[i].n_ids;
    }
    out->stats.stop = out->stop[0];
    llmc_engine_result_free(&r);
    return LLMC_OK;
}

static llmc_status run_generation(llmc_server *s, llmc_server_request *rq, srv_piece_fn fn, void *user, volatile int *cancel, srv_result *out,
                                  llmc_error *err) {
    memset(out, 0, sizeof *out);
    return s->eng ? run_engine(s, rq, fn, user, cancel, out, err) : run_serial(s, rq, fn, user, cancel, out, err);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned code, const char *ctype, char *text) {
    if (!text) return MHD_NO; /* out of memory: drop the connection */
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, cJSON *j) {
    char *t = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!t) return MHD_NO;
    return send_text(c, code, "application/json", t);
}

/* OpenAI's error shape. */
static cJSON *error_json(const char *msg, const char *type, const char *code) {
    cJSON *e = cJSON_CreateObject(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "type", type);
    if (code) cJSON_AddStringToObject(o, "code", code);
    else cJSON_AddNullToObject(o, "code");
    cJSON_AddItemToObject(e, "error", o);
    return e;
}
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *msg, const char *type, const char *ecode) {
    return send_json(c, code, error_json(msg, type, ecode));
}

static unsigned status_http(llmc_status st, const char **type, const char **code) {
    *code = NULL;
    switch (st) {
    case LLMC_ERR_RANGE: *type = "invalid_request_error"; *code = "context_length_exceeded"; return 400;
    case LLMC_ERR_FORMAT: case LLMC_ERR_INVALID_ARG: case LLMC_ERR_UNSUPPORTED: case LLMC_ERR_TEMPLATE:
        *type = "invalid_request_error";
        return 400;
    case LLMC_ERR_CANCELLED: *type = "server_error"; return 503;
    case LLMC_ERR_BUSY: *type = "rate_limit_error"; *code = "queue_full"; return 429;
    default: *type = "server_error"; return 500;
    }
}

static const char *finish_reason(llmc_stop_reason r) { return r == LLMC_STOP_LENGTH ? "length" : "stop"; }

static cJSON *usage_json(const llmc_gen_stats *st) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", st->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", st->generated_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", st->prompt_tokens + st->generated_tokens);
    return u;
}

/* The text callback of a non-streamed reply: only the server's shutdown stops it. */
static int poll_stop(void *user, int choice, const char *piece, size_t len) {
    (void)choice;
    (void)piece;
    (void)len;
    return ((llmc_server *)user)->stopping;
}

static enum MHD_Result chat_blocking(llmc_server *s, struct MHD_Connection *c, llmc_server_request *rq) {
    srv_result res;
    llmc_error err = {0};
    llmc_status st = run_generation(s, rq, poll_stop, s, &s->stopping, &res, &err);
    bool chat = !rq->prompt;
    if (st) {
        const char *type, *code;
        unsigned http = status_http(st, &type, &code);
        LLMC_INFO("serve: %s failed (%u): %s", chat ? "chat completion" : "completion", http, err.msg);
        return send_error(c, http, err.msg, type, code);
    }
    char id[64];
    make_id(s, chat, id, sizeof id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", s->model_name);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    for (int i = 0; i < res.n; i++) {
        const char *reply = res.text[i];
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", i);
        if (chat) {
            cJSON *msg = cJSON_CreateObject();
            cJSON_AddStringToObject(msg, "role", "assistant");
            cJSON_AddStringToObject(msg, "content", reply ? reply : "");
            cJSON_AddItemToObject(ch, "message", msg);
        } else {
            llmc_strbuf t;
            llmc_sb_init(&t);
            if (rq->echo) llmc_sb_puts(&t, rq->prompt);
            llmc_sb_puts(&t, reply ? reply : "");
            cJSON_AddStringToObject(ch, "text", t.data ? t.data : "");
            llmc_sb_free(&t);
            cJSON_AddNullToObject(ch, "logprobs");
        }
        cJSON_AddStringToObject(ch, "finish_reason", finish_reason(res.stop[i]));
        cJSON_AddItemToArray(choices, ch);
    }
    cJSON_AddItemToObject(o, "usage", usage_json(&res.stats));
    llmc_gen_stats stats = res.stats;
    srv_result_free(&res);
    LLMC_INFO("serve: %s: %d prompt tokens (%d reused), %d generated, stop %s, first token %.0f ms, decode %.1f tok/s",
              chat ? "chat completion" : "completion", stats.prompt_tokens, stats.reused_tokens, stats.generated_tokens,
              llmc_stop_reason_name(stats.stop), stats.ttft_ms, stats.decode_tokens_per_s);
    return send_json(c, 200, o);
}

/* ---- streaming: a worker generates, the connection's reader sends ---- */
typedef struct {
    llmc_server *s;
    llmc_server_request rq;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    llmc_strbuf out;   /* event bytes; [sent, len) not yet handed to MHD */
    size_t sent;
    bool done;
    volatile int cancel;
    char id[64];
    double created;
} stream_job;

/* Appends one "data: <chunk>\n\n" event (delta content/role, or a finish reason). */
static void push_event(stream_job *jb, cJSON *o) {
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    pthread_mutex_lock(&jb->mu);
    if (jb->sent == jb->out.len) { /* everything went out: start over at the front */
        jb->out.len = 0;
        jb->sent = 0;
    }
    if (t) {
        llmc_sb_puts(&jb->out, "data: ");
        llmc_sb_puts(&jb->out, t);
        llmc_sb_puts(&jb->out, "\n\n");
    }
    pthread_cond_signal(&jb->cv);
    pthread_mutex_unlock(&jb->mu);
    free(t);
}

/* One event: a chat delta (role and/or content), or a completion's text piece. */
static cJSON *chunk(stream_job *jb, int index, const char *role, const char *content, size_t len, const char *finish) {
    bool chat = !jb->rq.prompt;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", jb->id);
    cJSON_AddStringToObject(o, "object", chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(o, "created", jb->created);
    cJSON_AddStringToObject(o, "model", jb->s->model_name);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    char *c = content ? strndup(content, len) : NULL;
    if (chat) {
        cJSON *d = cJSON_CreateObject();
        if (role) cJSON_AddStringToObject(d, "role", role);
        if (content) cJSON_AddStringToObject(d, "content", c ? c : "");
        cJSON_AddItemToObject(ch, "delta", d);
    } else {
        cJSON_AddStringToObject(ch, "text", c ? c : "");
        cJSON_AddNullToObject(ch, "logprobs");
    }
    free(c);
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    return o;
}

static int on_piece(void *user, int choice, const char *piece, size_t len) {
    stream_job *jb = user;
    push_event(jb, chunk(jb, choice, NULL, piece, len, NULL));
    return jb->cancel || jb->s->stopping;
}

static void *stream_worker(void *arg) {
    stream_job *jb = arg;
    llmc_server *s = jb->s;
    for (int i = 0; i < jb->rq.n; i++) {
        if (!jb->rq.prompt) push_event(jb, chunk(jb, i, "assistant", "", 0, NULL));
        else if (jb->rq.echo) push_event(jb, chunk(jb, i, NULL, jb->rq.prompt, strlen(jb->rq.prompt), NULL));
    }
    srv_result res;
    llmc_error err = {0};
    llmc_status st = jb->cancel || s->stopping ? llmc_err(&err, LLMC_ERR_CANCELLED, "cancelled before it started")
                                               : run_generation(s, &jb->rq, on_piece, jb, &jb->cancel, &res, &err);
    if (st) {
        const char *type, *code;
        status_http(st, &type, &code);
        LLMC_INFO("serve: streamed %s failed: %s", jb->rq.prompt ? "completion" : "chat completion", err.msg);
        push_event(jb, error_json(err.msg, type, code));
    } else {
        for (int i = 0; i < res.n; i++) push_event(jb, chunk(jb, i, NULL, NULL, 0, finish_reason(res.stop[i])));
        if (jb->rq.include_usage) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", jb->id);
            cJSON_AddStringToObject(o, "object", jb->rq.prompt ? "text_completion" : "chat.completion.chunk");
            cJSON_AddNumberToObject(o, "created", jb->created);
            cJSON_AddStringToObject(o, "model", s->model_name);
            cJSON_AddArrayToObject(o, "choices");
            cJSON_AddItemToObject(o, "usage", usage_json(&res.stats));
            push_event(jb, o);
        }
        LLMC_INFO("serve: streamed %s: %d prompt tokens (%d reused), %d generated, stop %s, first token %.0f ms, decode %.1f tok/s",
                  jb->rq.prompt ? "completion" : "chat completion", res.stats.prompt_tokens, res.stats.reused_tokens, res.stats.generated_tokens,
                  llmc_stop_reason_name(res.stats.stop), res.stats.ttft_ms, res.stats.decode_tokens_per_s);
        srv_result_free(&res);
    }
    pthread_mutex_lock(&jb->mu);
    llmc_sb_puts(&jb->out, "data: [DONE]\n\n");
    jb->done = true;
    pthread_cond_signal(&jb->cv);
    pthread_mutex_unlock(&jb->mu);
    return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_job *jb = cls;
    pthread_mutex_lock(&jb->mu);
    while (jb->sent == jb->out.len && !jb->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&jb->cv, &jb->mu, &ts);
    }
    size_t n = jb->out.len - jb->sent;
    if (n > max) n = max;
    if (n) memcpy(buf, jb->out.data + jb->sent, n);
    jb->sent += n;
    bool end = n == 0 && jb->done;
    pthread_mutex_unlock(&jb->mu);
    if (end) return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

/* The response is gone (sent, or the client left): stop the generation, reap the worker. */
static void stream_free(void *cls) {
    stream_job *jb = cls;
    jb->cancel = 1;
    pthread_join(jb->th, NULL);
    pthread_mutex_destroy(&jb->mu);
    pthread_cond_destroy(&jb->cv);
    llmc_sb_free(&jb->out);
    llmc_server_request_free(&jb->rq);
    free(jb);
}

static enum MHD_Result chat_stream(llmc_server *s, struct MHD_Connection *c, llmc_server_request *rq) {
    /* a full queue answers 429 before the event stream starts (a race past this check still
       gets its error as an event) */
    if (s->eng && !llmc_engine_has_room(s->eng))
        return send_error(c, 429, "the request queue is full (--max-queue): try again later", "rate_limit_error", "queue_full");
    stream_job *jb = calloc(1, sizeof *jb);
    if (!jb) return send_error(c, 500, "out of memory", "server_error", NULL);
    jb->s = s;
    jb->rq = *rq;
    memset(rq, 0, sizeof *rq); /* the job owns the request now */
    if (jb->rq.n_stops) jb->rq.g.stop_strings = (const char *const *)jb->rq.stops;
    llmc_sb_init(&jb->out);
    pthread_mutex_init(&jb->mu, NULL);
    pthread_cond_init(&jb->cv, NULL);
    make_id(s, !jb->rq.prompt, jb->id, sizeof jb->id);
    jb->created = (double)time(NULL);
    if (pthread_create(&jb->th, NULL, stream_worker, jb) != 0) {
        pthread_mutex_destroy(&jb->mu);
        pthread_cond_destroy(&jb->cv);
        llmc_server_request_free(&jb->rq);
        free(jb);
        return send_error(c, 500, "cannot start a generation thread", "server_error", NULL);
    }
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, jb, stream_free);
    if (!r) {
        stream_free(jb);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

/* GET /health: the status, and with the engine how many sequences run and requests wait. */
static enum MHD_Result send_health(llmc_server *s, struct MHD_Connection *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", s->stopping ? "stopping" : "ok");
    if (s->eng) {
        llmc_engine_stats es;
        llmc_engine_get_stats(s->eng, &es);
        cJSON_AddNumberToObject(o, "running", es.running);
        cJSON_AddNumberToObject(o, "queued", es.queued);
        cJSON_AddNumberToObject(o, "parallel", es.max_seqs);
        cJSON_AddNumberToObject(o, "max_queue", es.max_queue);
        cJSON_AddNumberToObject(o, "kv_used_bytes", (double)es.kv_used);
        cJSON_AddNumberToObject(o, "kv_budget_bytes", (double)es.kv_budget);
        cJSON_AddNumberToObject(o, "prefix_cache_bytes", (double)es.prefix.bytes);
        cJSON_AddNumberToObject(o, "prefix_cache_blocks", es.prefix.blocks);
    } else {
        cJSON_AddNumberToObject(o, "parallel", 1);
    }
    return send_json(c, 200, o);
}

/* GET /metrics: Prometheus text exposition of the engine's counters. */
static enum MHD_Result send_metrics(llmc_server *s, struct MHD_Connection *c) {
    llmc_engine_stats es;
    llmc_engine_get_stats(s->eng, &es); /* zeros without the engine */
    llmc_strbuf b;
    llmc_sb_init(&b);
    llmc_sb_printf(&b, "# TYPE llmc_requests_running gauge\nllmc_requests_running %d\n", es.running);
    llmc_sb_printf(&b, "# TYPE llmc_requests_queued gauge\nllmc_requests_queued %d\n", es.queued);
    llmc_sb_printf(&b, "# TYPE llmc_kv_used_bytes gauge\nllmc_kv_used_bytes %zu\n", es.kv_used);
    llmc_sb_printf(&b, "# TYPE llmc_kv_budget_bytes gauge\nllmc_kv_budget_bytes %zu\n", es.kv_budget);
    llmc_sb_printf(&b, "# TYPE llmc_steps_total counter\nllmc_steps_total %lld\n", es.steps);
    llmc_sb_printf(&b, "# TYPE llmc_prompt_tokens_computed_total counter\nllmc_prompt_tokens_computed_total %lld\n", es.tokens_prefilled);
    llmc_sb_printf(&b, "# TYPE llmc_generated_tokens_total counter\nllmc_generated_tokens_total %lld\n", es.tokens_generated);
    llmc_sb_printf(&b, "# TYPE llmc_requests_done_total counter\nllmc_requests_done_total %lld\n", es.requests_done);
    llmc_sb_printf(&b, "# TYPE llmc_requests_rejected_total counter\nllmc_requests_rejected_total %lld\n", es.requests_rejected);
    llmc_sb_printf(&b, "# TYPE llmc_prefix_cache_bytes gauge\nllmc_prefix_cache_bytes %zu\n", es.prefix.bytes);
    llmc_sb_printf(&b, "# TYPE llmc_prefix_cache_hit_tokens_total counter\nllmc_prefix_cache_hit_tokens_total %lld\n", es.prefix.hit_tokens);
    llmc_sb_printf(&b, "# TYPE llmc_prefix_cache_evicted_blocks_total counter\nllmc_prefix_cache_evicted_blocks_total %lld\n",
                   es.prefix.evicted_blocks);
    if (b.oom) { llmc_sb_free(&b); return MHD_NO; }
    return send_text(c, 200, "text/plain; version=0.0.4", llmc_sb_take(&b));
}

/* Constant-time comparison of the bearer token. */
static bool authorized(const llmc_server *s, struct MHD_Connection *c) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    const char *k = h + 7;
    size_t a = strlen(k), b = strlen(s->api_key);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(s->api_key[i] ^ (i < a ? k[i] : 0));
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **req_cls) {
    (void)version;
    llmc_server *s = cls;
    conn_state *cs = *req_cls;
    if (!cs) { /* headers only so far */
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        llmc_sb_init(&cs->body);
        *req_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size) { /* body bytes: keep up to the limit, drop the rest */
        if (!cs->too_big && cs->body.len + *upload_data_size <= s->max_body) llmc_sb_append(&cs->body, upload_data, *upload_data_size);
        else cs->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (!strcmp(url, "/health")) {
        if (!get) return send_error(c, 405, "use GET /health", "invalid_request_error", NULL);
        return send_health(s, c);
    }
    if (!strcmp(url, "/metrics")) {
        if (!get) return send_error(c, 405, "use GET /metrics", "invalid_request_error", NULL);
        return send_metrics(s, c);
    }
    bool models = !strcmp(url, "/v1/models"), chat = !strcmp(url, "/v1/chat/completions"), compl = !strcmp(url, "/v1/completions");
    if (!models && !chat && !compl) {
        char msg[240];
        snprintf(msg, sizeof msg,
                 "no endpoint %.100s (llmc serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET /metrics)",
                 url);
        return send_error(c, 404, msg, "invalid_request_error", NULL);
    }
    if (!authorized(s, c)) return send_error(c, 401, "missing or wrong API key (Authorization: Bearer <key>)", "invalid_request_error", "invalid_api_key");
    if (models) {
        if (!get) return send_error(c, 405, "use GET /v1/models", "invalid_request_error", NULL);
        cJSON *o = cJSON_CreateObject(), *m = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddStringToObject(m, "id", s->model_name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", "llmc");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), m);
        return send_json(c, 200, o);
    }
    if (!post) return send_error(c, 405, chat ? "use POST /v1/chat/completions" : "use POST /v1/completions", "invalid_request_error", NULL);
    if (cs->too_big) {
        char msg[120];
        snprintf(msg, sizeof msg, "request body larger than %zu bytes", s->max_body);
        return send_error(c, 413, msg, "invalid_request_error", NULL);
    }
    if (cs->body.oom) return send_error(c, 500, "out of memory reading the request", "server_error", NULL);
    if (s->stopping) return send_error(c, 503, "the server is shutting down", "server_error", NULL);
    llmc_server_request rq;
    llmc_error err = {0};
    const char *body = cs->body.data ? cs->body.data : "";
    llmc_status st = chat ? llmc_server_parse_chat(body, cs->body.len, s->defaults, &rq, &err)
                          : llmc_server_parse_completion(body, cs->body.len, s->defaults, &rq, &err);
    if (st) {
        const char *type, *code;
        unsigned http = status_http(st, &type, &code);
        return send_error(c, http, err.msg, type, code);
    }
    enum MHD_Result r = rq.stream ? chat_stream(s, c, &rq) : chat_blocking(s, c, &rq);
    llmc_server_request_free(&rq);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    conn_state *cs = *req_cls;
    if (!cs) return;
    llmc_sb_free(&cs->body);
    free(cs);
    *req_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
    LLMC_WARN("serve: %s", buf);
}

llmc_status llmc_server_start(llmc_pipeline *p, const llmc_server_opts *o, llmc_server **out, llmc_error *err) {
    *out = NULL;
    if (!p || !o || o->port < 0 || o->port > 65535) return llmc_err(err, LLMC_ERR_INVALID_ARG, "serve: a pipeline and a port from 0 to 65535");
    const char *host = o->host && *o->host ? o->host : "127.0.0.1";
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0 || !ai) return llmc_err(err, LLMC_ERR_INVALID_ARG, "serve: cannot resolve host '%s': %s", host, gai_strerror(gai));
    llmc_server *s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    s->p = p;
    s->model_name = strdup(o->model_name && *o->model_name ? o->model_name : "llmc");
    s->api_key = o->api_key && *o->api_key ? strdup(o->api_key) : NULL;
    s->max_body = o->max_body ? o->max_body : (8u << 20);
    s->defaults = o->defaults;
    pthread_mutex_init(&s->gen_mu, NULL);
    pthread_mutex_init(&s->prep_mu, NULL);
    pthread_mutex_init(&s->id_mu, NULL);
    int max_conn = o->max_connections > 0 ? o->max_connections : 32;
    llmc_model *m = llmc_pipeline_model(p);
    if (llmc_model_can_batch(m)) {
        llmc_engine_opts eo = {0};
        eo.max_seqs = o->parallel > 0 ? o->parallel : 4;
        eo.max_queue = o->max_queue;
        eo.step_tokens = o->step_tokens;
        eo.kv_budget = o->kv_budget;
        eo.f32_tiles = o->batch_f32;
        eo.prefix_cache_bytes = o->prefix_cache == (size_t)-1 ? 0 : o->prefix_cache ? o->prefix_cache : (256u << 20);
        llmc_status est = llmc_engine_new(m, llmc_pipeline_tokenizer(p), &eo, &s->eng, err);
        if (est) {
            freeaddrinfo(ai);
            llmc_server_stop(s);
            return est;
        }
        llmc_engine_stats es;
        llmc_engine_get_stats(s->eng, &es);
        /* every running and waiting request holds a connection: room for them all, so a
           request past the queue gets its 429 instead of a refused connection */
        if (o->max_connections <= 0) max_conn = es.max_seqs + es.max_queue + 32;
    } else {
        LLMC_INFO("serve: the model runs on a GPU: one generation at a time");
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conn,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->idle_timeout_s > 0 ? o->idle_timeout_s : 120),
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        llmc_status st = llmc_err(err, LLMC_ERR_IO, "serve: cannot listen on %s:%d (in use, or not an address of this machine?)", host, o->port);
        llmc_server_stop(s);
        return st;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? (int)di->port : o->port;
    *out = s;
    return LLMC_OK;
}

void llmc_server_stop(llmc_server *s) {
    if (!s) return;
    s->stopping = 1;
    llmc_engine_stop(s->eng); /* running requests end (cancelled), new ones are refused */
    if (s->d) MHD_stop_daemon(s->d);
    llmc_engine_free(s->eng);
    pthread_mutex_destroy(&s->gen_mu);
    pthread_mutex_destroy(&s->prep_mu);
    pthread_mutex_destroy(&s->id_mu);
    free(s->model_name);
    if (s->api_key) {
        memset(s->api_key, 0, strlen(s->api_key));
        free(s->api_key);
    }
    free(s);
}

#endif
