/* OpenAI-compatible HTTP server (see server.h), the daemon and its routes: the API key checked
 * first, then the route; errors in OpenAI's shape, with messages that show no server internals.
 * Request parsing is server_parse.c, generations and streams server_gen.c, tool calls
 * server_tools.c, metrics server_metrics.c. Connections run thread-per-connection. */
#include "server/server.h"
#include "base/error.h"

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

#include "server/server_internal.h"
#include "grammar/toolcall.h"
#include "pipeline/pipeline_internal.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strbuf.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef struct {
    llmc_strbuf body;
    bool too_big;
    double t_arrival;
} conn_state;

bool llmc_server_built(void) { return true; }
int llmc_server_port(const llmc_server *s) { return s ? s->port : 0; }

double srv_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void srv_make_id(llmc_server *s, bool chat, char *id, size_t n) {
    pthread_mutex_lock(&s->id_mu);
    unsigned long long k = ++s->next_id;
    pthread_mutex_unlock(&s->id_mu);
    snprintf(id, n, "%s-%llx%08llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)time(NULL), k);
}

enum MHD_Result srv_send_text(llmc_server *s, struct MHD_Connection *c, const char *endpoint, unsigned code, const char *ctype, char *text) {
    if (!text) return MHD_NO; /* out of memory: drop the connection */
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    if (code == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    llmc_server_metrics_response(s->metrics, endpoint, code);
    return ok;
}

enum MHD_Result srv_send_json(llmc_server *s, struct MHD_Connection *c, const char *endpoint, unsigned code, cJSON *j) {
    char *t = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!t) return MHD_NO;
    return srv_send_text(s, c, endpoint, code, "application/json", t);
}

cJSON *srv_error_json(const char *msg, const char *type, const char *code) {
    cJSON *e = cJSON_CreateObject(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddNullToObject(o, "param");
    if (code) cJSON_AddStringToObject(o, "code", code);
    else cJSON_AddNullToObject(o, "code");
    cJSON_AddItemToObject(e, "error", o);
    return e;
}

enum MHD_Result srv_send_error(llmc_server *s, struct MHD_Connection *c, const char *endpoint, unsigned code, const char *msg,
                               const char *type, const char *ecode) {
    return srv_send_json(s, c, endpoint, code, srv_error_json(msg, type, ecode));
}

unsigned srv_status_http(llmc_status st, const char **type, const char **code) {
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

/* "NAME:LINE:COL: ..." — where the template engine places its own errors (raise_exception's
   messages, written for users, come without it). */
static bool template_internal(const char *msg) {
    for (const char *p = strchr(msg, ':'); p; p = strchr(p + 1, ':')) {
        const char *q = p + 1;
        if (*q < '0' || *q > '9') continue;
        while (*q >= '0' && *q <= '9') q++;
        if (*q != ':' || q[1] < '0' || q[1] > '9') continue;
        return true;
    }
    return false;
}

/* Copies msg into out with every occurrence of what replaced by with. */
static void replace_all(const char *msg, const char *what, const char *with, char *out, size_t n) {
    size_t k = 0, wl = what && *what ? strlen(what) : 0;
    for (const char *p = msg; *p && k + 1 < n;) {
        if (wl && !strncmp(p, what, wl)) {
            for (const char *w = with; *w && k + 1 < n; w++) out[k++] = *w;
            p += wl;
        } else out[k++] = *p++;
    }
    out[k] = 0;
}

void srv_public_message(const llmc_server *s, llmc_status st, const char *msg, char *out, size_t n) {
    switch (st) {
    case LLMC_ERR_TEMPLATE:
        if (template_internal(msg)) snprintf(out, n, "the model's chat template could not render these messages (the server log has the details)");
        else {
            char m[LLMC_ERROR_MSG_MAX];
            replace_all(msg, s->model_source, s->model_name, m, sizeof m);
            snprintf(out, n, "the model's chat template refused these messages: %s", m);
        }
        return;
    case LLMC_ERR_FORMAT: case LLMC_ERR_INVALID_ARG: case LLMC_ERR_UNSUPPORTED: case LLMC_ERR_RANGE: case LLMC_ERR_BUSY:
    case LLMC_ERR_CANCELLED: case LLMC_ERR_NOMEM:
        replace_all(msg, s->model_source, s->model_name, out, n);
        return;
    default:
        snprintf(out, n, "internal error (%s): the server log has the details", llmc_status_name(st));
        return;
    }
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
        cJSON_AddNumberToObject(o, "running", atomic_load(&s->serial_running));
        cJSON_AddNumberToObject(o, "queued", atomic_load(&s->serial_waiting));
        cJSON_AddNumberToObject(o, "parallel", 1);
    }
    return srv_send_json(s, c, "/health", 200, o);
}

/* GET /metrics: Prometheus text. */
static enum MHD_Result send_metrics(llmc_server *s, struct MHD_Connection *c) {
    llmc_server_gauges g = {0};
    if (s->eng) {
        llmc_engine_stats es;
        llmc_engine_get_stats(s->eng, &es);
        g = (llmc_server_gauges){.running = es.running, .waiting = es.queued, .kv_used = es.kv_used, .kv_budget = es.kv_budget,
                                 .prefix_bytes = es.prefix.bytes, .steps = es.steps, .prefill_computed = es.tokens_prefilled,
                                 .prefix_hit_tokens = es.prefix.hit_tokens, .prefix_evicted = es.prefix.evicted_blocks,
                                 .rejected = es.requests_rejected};
    } else {
        g.running = atomic_load(&s->serial_running);
        g.waiting = atomic_load(&s->serial_waiting);
    }
    /* counted before it is formatted, so the scrape that reads it includes itself */
    llmc_server_metrics_response(s->metrics, "/metrics", 200);
    char *text = llmc_server_metrics_format(s->metrics, &g);
    if (!text) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(text); return MHD_NO; }
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

/* The OpenAI Model object of the served model. */
static cJSON *model_json(const llmc_server *s) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "llmc");
    return m;
}

static enum MHD_Result model_not_found(llmc_server *s, struct MHD_Connection *c, const char *endpoint, const char *model) {
    char msg[400];
    snprintf(msg, sizeof msg, "The model '%.200s' does not exist: this server serves '%.150s'", model, s->model_name);
    return srv_send_error(s, c, endpoint, 404, msg, "invalid_request_error", "model_not_found");
}

/* GET /v1/models and /v1/models/{id}. */
static enum MHD_Result send_models(llmc_server *s, struct MHD_Connection *c, const char *id, bool get) {
    const char *ep = id ? "/v1/models/{id}" : "/v1/models";
    if (!get) return srv_send_error(s, c, ep, 405, id ? "use GET /v1/models/{id}" : "use GET /v1/models", "invalid_request_error", NULL);
    if (id) {
        if (!*id || !llmc_server_model_matches(id, s->model_name, s->model_source)) return model_not_found(s, c, ep, id);
        return srv_send_json(s, c, ep, 200, model_json(s));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), model_json(s));
    return srv_send_json(s, c, ep, 200, o);
}

/* POST /v1/chat/completions and /v1/completions, the body read. */
static enum MHD_Result generation_route(llmc_server *s, struct MHD_Connection *c, conn_state *cs, bool chat, bool post) {
    const char *ep = chat ? "/v1/chat/completions" : "/v1/completions";
    if (!post) return srv_send_error(s, c, ep, 405, chat ? "use POST /v1/chat/completions" : "use POST /v1/completions", "invalid_request_error", NULL);
    if (cs->too_big) {
        char msg[120];
        snprintf(msg, sizeof msg, "request body larger than %zu bytes", s->max_body);
        return srv_send_error(s, c, ep, 413, msg, "invalid_request_error", NULL);
    }
    if (cs->body.oom) return srv_send_error(s, c, ep, 500, "out of memory reading the request", "server_error", NULL);
    if (s->stopping) return srv_send_error(s, c, ep, 503, "the server is shutting down", "server_error", NULL);
    llmc_server_request rq;
    llmc_error err = {0};
    const char *body = cs->body.data ? cs->body.data : "";
    llmc_status st = chat ? llmc_server_parse_chat(body, cs->body.len, s->defaults, &rq, &err)
                          : llmc_server_parse_completion(body, cs->body.len, s->defaults, &rq, &err);
    if (st) {
        const char *type, *code;
        unsigned http = srv_status_http(st, &type, &code);
        char msg[LLMC_ERROR_MSG_MAX];
        srv_public_message(s, st, err.msg, msg, sizeof msg);
        return srv_send_error(s, c, ep, http, msg, type, code);
    }
    if (!llmc_server_model_matches(rq.model, s->model_name, s->model_source)) {
        enum MHD_Result r = model_not_found(s, c, ep, rq.model);
        llmc_server_request_free(&rq);
        return r;
    }
    return srv_answer(s, c, ep, &rq, cs->t_arrival);
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
        cs->t_arrival = srv_now_s();
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
    bool health = !strcmp(url, "/health"), metrics = !strcmp(url, "/metrics"), models = !strcmp(url, "/v1/models");
    bool model = !strncmp(url, "/v1/models/", 11), chat = !strcmp(url, "/v1/chat/completions"), compl = !strcmp(url, "/v1/completions");
    const char *ep = health ? "/health" : metrics ? "/metrics" : models ? "/v1/models" : model ? "/v1/models/{id}" : chat ? "/v1/chat/completions"
                   : compl ? "/v1/completions" : "other";
    /* the key first: without it no route (not even an unknown one) answers anything but 401 */
    if (!health && !authorized(s, c))
        return srv_send_error(s, c, ep, 401, "missing or wrong API key (Authorization: Bearer <key>)", "invalid_request_error", "invalid_api_key");
    if (health) return get ? send_health(s, c) : srv_send_error(s, c, ep, 405, "use GET /health", "invalid_request_error", NULL);
    if (metrics) return get ? send_metrics(s, c) : srv_send_error(s, c, ep, 405, "use GET /metrics", "invalid_request_error", NULL);
    if (models || model) return send_models(s, c, model ? url + 11 : NULL, get);
    if (chat || compl) return generation_route(s, c, cs, chat, post);
    char msg[300];
    snprintf(msg, sizeof msg,
             "no endpoint %.100s (llmc serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /v1/models/{id}, "
             "GET /health, GET /metrics)",
             url);
    return srv_send_error(s, c, ep, 404, msg, "invalid_request_error", "not_found");
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

/* What the chat template does with tools, and the call format of the model's vocabulary (once,
   at the first chat request, under prep_mu). */
void srv_learn_template(llmc_server *s) {
    if (s->caps_known) return;
    s->caps_known = true;
    llmc_error why = {0};
    const llmc_chat_template *ct = llmc_pipeline_chat_template(s->p, &why);
    const llmc_tokenizer *t = llmc_pipeline_tokenizer(s->p);
    int format = t ? (int)llmc_tool_format_for(t) : (int)LLMC_TOOLS_LLAMA3;
    llmc_server_template_caps_of(ct ? llmc_chat_template_text(ct) : NULL, format, &s->caps);
    LLMC_INFO("serve: tool calls in the %s format; the chat template %s tools%s", llmc_tool_format_name((llmc_tool_format)format),
              s->caps.tools ? "renders" : "ignores", s->caps.tools ? "" : " (a system message describes them)");
}

/* The engine for a CPU model (continuous batching); *max_conn leaves room for every queued request. */
static llmc_status start_engine(llmc_server *s, const llmc_server_opts *o, int *max_conn, llmc_error *err) {
    llmc_model *m = llmc_pipeline_model(s->p);
    if (!llmc_model_can_batch(m)) {
        LLMC_INFO("serve: the model runs on a GPU: one generation at a time");
        return LLMC_OK;
    }
    llmc_engine_opts eo = {0};
    eo.max_seqs = o->parallel > 0 ? o->parallel : 4;
    eo.max_queue = o->max_queue;
    eo.step_tokens = o->step_tokens;
    eo.kv_budget = o->kv_budget;
    eo.f32_tiles = o->batch_f32;
    eo.prefix_cache_bytes = o->prefix_cache == (size_t)-1 ? 0 : o->prefix_cache ? o->prefix_cache : (256u << 20);
    llmc_status st = llmc_engine_new(m, llmc_pipeline_tokenizer(s->p), &eo, &s->eng, err);
    if (st) return st;
    llmc_engine_stats es;
    llmc_engine_get_stats(s->eng, &es);
    /* every running and waiting request holds a connection: room for them all, so a request
       past the queue gets its 429 instead of a refused connection */
    if (o->max_connections <= 0) *max_conn = es.max_seqs + es.max_queue + 32;
    return LLMC_OK;
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
    s->model_source = o->model_source && *o->model_source ? strdup(o->model_source) : NULL;
    s->api_key = o->api_key && *o->api_key ? strdup(o->api_key) : NULL;
    s->max_body = o->max_body ? o->max_body : (8u << 20);
    s->defaults = o->defaults;
    s->metrics = llmc_server_metrics_new();
    pthread_mutex_init(&s->gen_mu, NULL);
    pthread_mutex_init(&s->prep_mu, NULL);
    pthread_mutex_init(&s->id_mu, NULL);
    int max_conn = o->max_connections > 0 ? o->max_connections : 32;
    llmc_status est = start_engine(s, o, &max_conn, err);
    if (est || !s->metrics || !s->model_name) {
        freeaddrinfo(ai);
        llmc_server_stop(s);
        return est ? est : llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
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
    llmc_server_metrics_free(s->metrics);
    free(s->model_name);
    free(s->model_source);
    if (s->api_key) {
        memset(s->api_key, 0, strlen(s->api_key));
        free(s->api_key);
    }
    free(s);
}

#endif
