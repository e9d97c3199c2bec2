/* Generations for the server (see server.h): a parsed request made ready (messages for the chat
 * template, the grammar of a forced tool call), run on the engine or — a model on a GPU — one at a
 * time on the pipeline, and answered as one JSON reply or as server-sent events. A stream is
 * produced by a worker thread into a buffer that the connection's reader callback drains; the
 * reply's pieces pass through a tool-call stream (server_tools.c), so a call goes out as
 * delta.tool_calls and text as delta.content. */
#include "server/server.h"
#ifdef LLMC_HAVE_MHD
#include "server/server_internal.h"
#include "grammar/toolcall.h"
#include "pipeline/pipeline_internal.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strbuf.h"
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What a request produced: one reply per choice, and the usage figures. */
typedef struct {
    int n;
    char *text[LLMC_ENGINE_MAX_CHOICES];
    llmc_stop_reason stop[LLMC_ENGINE_MAX_CHOICES];
    llmc_gen_stats stats;   /* generated_tokens: all choices together */
    double t_gen;           /* when the generation was submitted (srv_now_s) */
} srv_result;

static void srv_result_free(srv_result *r) {
    for (int i = 0; i < r->n && i < LLMC_ENGINE_MAX_CHOICES; i++) free(r->text[i]);
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
    atomic_fetch_add(&s->serial_waiting, 1);
    pthread_mutex_lock(&s->gen_mu);
    atomic_fetch_sub(&s->serial_waiting, 1);
    atomic_fetch_add(&s->serial_running, 1);
    out->t_gen = srv_now_s();
    llmc_status st = rq->prompt ? llmc_pipeline_complete(s->p, rq->prompt, &rq->g, &reply, &out->stats, err)
                                : llmc_pipeline_chat_json(s->p, rq->messages_json, rq->tools_json, &rq->g, &reply, &out->stats, err);
    atomic_fetch_sub(&s->serial_running, 1);
    pthread_mutex_unlock(&s->gen_mu);
    if (st) return st;
    out->n = 1;
    out->text[0] = reply;
    out->stop[0] = out->stats.stop;
    return LLMC_OK;
}

/* The prompt ids of a request for the engine, rendered under prep_mu before anything is sent (so a
   template error or a prompt past the context is an HTTP error, streamed or not). */
typedef struct { int32_t *ids; size_t n; } srv_prompt;

static llmc_status render_prompt(llmc_server *s, const llmc_server_request *rq, srv_prompt *pr, llmc_error *err) {
    pr->ids = NULL;
    pr->n = 0;
    if (!s->eng) return LLMC_OK; /* the pipeline renders it itself */
    pthread_mutex_lock(&s->prep_mu);
    llmc_status st = llmc_pipeline_prompt_ids(s->p, rq->prompt ? NULL : rq->messages_json, rq->tools_json, rq->prompt, &pr->ids, &pr->n, err);
    pthread_mutex_unlock(&s->prep_mu);
    int ctx = llmc_pipeline_context(s->p);
    if (!st && (long long)pr->n > ctx) st = llmc_err(err, LLMC_ERR_RANGE, "the prompt is %zu tokens, more than the context of %d tokens", pr->n, ctx);
    else if (!st && (long long)pr->n == ctx)
        st = llmc_err(err, LLMC_ERR_RANGE, "the prompt is %zu tokens: no room left in the context of %d for a reply", pr->n, ctx);
    if (st) {
        free(pr->ids);
        pr->ids = NULL;
    }
    return st;
}

/* On the engine: the rendered prompt into its queue and steps. */
static llmc_status run_engine(llmc_server *s, llmc_server_request *rq, const srv_prompt *pr, srv_piece_fn fn, void *user, volatile int *cancel,
                              srv_result *out, llmc_error *err) {
    const int32_t *ids = pr->ids;
    size_t n_ids = pr->n;
    llmc_status st;
    const llmc_gen_config *gc = llmc_pipeline_gen_config(s->p);
    llmc_engine_params ep;
    llmc_engine_params_default(&ep);
    llmc_pipeline_resolve_params(s->p, &rq->g, (int)n_ids, &ep.sampling, &ep.max_new_tokens);
    ep.eos_ids = gc->eos_ids;
    ep.n_eos = gc->n_eos;
    ep.stop_strings = rq->g.stop_strings;
    ep.n_stop_strings = rq->g.n_stop_strings;
    ep.cut_stop = rq->g.cut_stop_strings;
    ep.n_choices = rq->n;
    ep.on_text = fn;
    ep.user = user;
    ep.cancel = cancel;
    llmc_engine_result r;
    out->t_gen = srv_now_s();
    st = llmc_pipeline_engine_run(s->p, s->eng, ids, (int)n_ids, &ep, rq->g.json_schema, rq->g.grammar, &r, err);
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

static llmc_status run_generation(llmc_server *s, llmc_server_request *rq, const srv_prompt *pr, srv_piece_fn fn, void *user, volatile int *cancel,
                                  srv_result *out, llmc_error *err) {
    memset(out, 0, sizeof *out);
    return s->eng ? run_engine(s, rq, pr, fn, user, cancel, out, err) : run_serial(s, rq, fn, user, cancel, out, err);
}

/* A chat request made ready for the model: its messages for the template (tools described where the
   template ignores them, history calls in the model's format) and, for tool_choice "required" or a
   named function, the grammar of a call in the model's format. */
static llmc_status prepare(llmc_server *s, llmc_server_request *rq, llmc_error *err) {
    if (rq->prompt) return LLMC_OK;
    pthread_mutex_lock(&s->prep_mu);
    srv_learn_template(s);
    pthread_mutex_unlock(&s->prep_mu);
    char *msgs = NULL;
    llmc_status st = llmc_server_prepare_messages(rq, &s->caps, &msgs, err);
    if (st) return st;
    free(rq->messages_json);
    rq->messages_json = msgs;
    if (rq->tool_choice == LLMC_TOOL_CHOICE_REQUIRED || rq->tool_choice == LLMC_TOOL_CHOICE_NAMED) {
        char *gbnf = NULL;
        st = llmc_tool_grammar((llmc_tool_format)s->caps.format, rq->tools_json, rq->tool_name, &gbnf, err);
        if (st) {
            llmc_err_prefix(err, "request body: ");
            return st;
        }
        free(rq->grammar);
        rq->grammar = gbnf;
        rq->g.grammar = gbnf;
    }
    return LLMC_OK;
}

static const char *finish_reason(llmc_stop_reason r, bool calls) {
    return calls ? "tool_calls" : r == LLMC_STOP_LENGTH ? "length" : "stop";
}

static cJSON *usage_json(const llmc_gen_stats *st) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", st->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", st->generated_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", st->prompt_tokens + st->generated_tokens);
    return u;
}

/* The request's outcome into the metrics and the log. */
static void account(llmc_server *s, const llmc_server_request *rq, const srv_result *res, const char *finish, double t_arrival, bool streamed) {
    double ttft = res->t_gen - t_arrival + res->stats.ttft_ms / 1e3, e2e = srv_now_s() - t_arrival;
    llmc_server_metrics_generation(s->metrics, finish, res->stats.prompt_tokens, res->stats.generated_tokens, ttft, e2e);
    LLMC_INFO("serve: %s%s: %d prompt tokens (%d reused), %d generated, finish %s, first token %.0f ms, decode %.1f tok/s",
              streamed ? "streamed " : "", rq->prompt ? "completion" : "chat completion", res->stats.prompt_tokens, res->stats.reused_tokens,
              res->stats.generated_tokens, finish, ttft * 1e3, res->stats.decode_tokens_per_s);
}

/* A non-streamed request's watch on its client: a thread polls the connection's socket (every
 * 100 ms) and cancels the generation when the client hangs up or the server stops, so a client
 * that leaves frees its sequence, queued or running, as a streamed one does. (A client that only
 * shuts down its sending half counts as gone: HTTP clients keep both halves open for the reply.) */
typedef struct {
    llmc_server *s;
    int fd;
    volatile int cancel;
    atomic_int done;
} srv_watch;

static void *watch_client(void *p) {
    srv_watch *w = p;
    while (!atomic_load(&w->done)) {
        if (w->s->stopping) { w->cancel = 1; break; }
        struct pollfd pf = {.fd = w->fd, .events = POLLRDHUP};
        if (poll(&pf, 1, 100) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
            LLMC_INFO("serve: the client left before its reply: generation cancelled");
            w->cancel = 1;
            break;
        }
    }
    return NULL;
}

/* The text callback of a non-streamed reply: the watch (client gone, server stopping) stops it. */
static int poll_stop(void *user, int choice, const char *piece, size_t len) {
    (void)choice;
    (void)piece;
    (void)len;
    const srv_watch *w = user;
    return w->cancel || w->s->stopping;
}

/* A chat choice's message: content, or tool calls (content null when there is no other text). */
static cJSON *chat_message(const llmc_server_request *rq, const char *reply, bool *has_calls) {
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", "assistant");
    char *calls = NULL, *content = NULL;
    llmc_error err = {0};
    *has_calls = false;
    if (rq->n_tools && llmc_server_tool_calls(rq, reply, &calls, &content, &err) == LLMC_OK && calls) {
        if (content) cJSON_AddStringToObject(msg, "content", content);
        else cJSON_AddNullToObject(msg, "content");
        cJSON *tc = cJSON_Parse(calls);
        if (tc) cJSON_AddItemToObject(msg, "tool_calls", tc);
        *has_calls = tc != NULL;
    }
    if (!*has_calls && !cJSON_GetObjectItemCaseSensitive(msg, "content")) cJSON_AddStringToObject(msg, "content", reply ? reply : "");
    free(calls);
    free(content);
    return msg;
}

static enum MHD_Result answer_blocking(llmc_server *s, struct MHD_Connection *c, const char *ep, llmc_server_request *rq, const srv_prompt *pr,
                                       double t_arrival) {
    srv_result res;
    llmc_error err = {0};
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    srv_watch w = {.s = s, .fd = ci ? ci->connect_fd : -1};
    atomic_init(&w.done, 0);
    pthread_t wt;
    bool watching = w.fd >= 0 && pthread_create(&wt, NULL, watch_client, &w) == 0;
    llmc_status st = run_generation(s, rq, pr, poll_stop, &w, watching ? &w.cancel : &s->stopping, &res, &err);
    if (watching) {
        atomic_store(&w.done, 1);
        pthread_join(wt, NULL);
    }
    bool chat = !rq->prompt;
    if (st) {
        const char *type, *code;
        unsigned http = srv_status_http(st, &type, &code);
        char msg[LLMC_ERROR_MSG_MAX];
        LLMC_INFO("serve: %s failed (%u): %s", chat ? "chat completion" : "completion", http, err.msg);
        srv_public_message(s, st, err.msg, msg, sizeof msg);
        return srv_send_error(s, c, ep, http, msg, type, code);
    }
    char id[64];
    srv_make_id(s, chat, id, sizeof id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", s->model_name);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    const char *finish0 = "stop";
    for (int i = 0; i < res.n; i++) {
        const char *reply = res.text[i];
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", i);
        bool calls = false;
        if (chat) {
            cJSON_AddItemToObject(ch, "message", chat_message(rq, reply, &calls));
        } else {
            llmc_strbuf t;
            llmc_sb_init(&t);
            if (rq->echo) llmc_sb_puts(&t, rq->prompt);
            llmc_sb_puts(&t, reply ? reply : "");
            cJSON_AddStringToObject(ch, "text", t.data ? t.data : "");
            llmc_sb_free(&t);
            cJSON_AddNullToObject(ch, "logprobs");
        }
        const char *fin = finish_reason(res.stop[i], calls);
        if (i == 0) finish0 = fin;
        cJSON_AddStringToObject(ch, "finish_reason", fin);
        cJSON_AddItemToArray(choices, ch);
    }
    cJSON_AddItemToObject(o, "usage", usage_json(&res.stats));
    account(s, rq, &res, finish0, t_arrival, false);
    srv_result_free(&res);
    return srv_send_json(s, c, ep, 200, o);
}

/* ---- streaming: a worker generates, the connection's reader sends ---- */
typedef struct stream_job stream_job;
typedef struct { stream_job *jb; int choice; } sink_ctx;
struct stream_job {
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
    double created, t_arrival;
    srv_prompt prompt;
    llmc_server_tool_stream *ts[LLMC_ENGINE_MAX_CHOICES];
    sink_ctx sc[LLMC_ENGINE_MAX_CHOICES];
    llmc_server_delta_sink sink[LLMC_ENGINE_MAX_CHOICES];
};

/* Appends one "data: <chunk>\n\n" event. */
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

/* A chunk's frame with one choice; *delta (chat) gets the choice's delta object to fill. */
static cJSON *frame(stream_job *jb, int index, const char *finish, cJSON **delta) {
    bool chat = !jb->rq.prompt;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", jb->id);
    cJSON_AddStringToObject(o, "object", chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(o, "created", jb->created);
    cJSON_AddStringToObject(o, "model", jb->s->model_name);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    if (chat) *delta = cJSON_AddObjectToObject(ch, "delta");
    else { /* a completion's chunk always has its text ("" in the last one) */
        *delta = ch;
        cJSON_AddStringToObject(ch, "text", "");
        cJSON_AddNullToObject(ch, "logprobs");
    }
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    return o;
}

/* Text: a chat's delta.content, or a completion's text. */
static void sink_content(void *user, const char *text, size_t len) {
    sink_ctx *sc = user;
    cJSON *d, *o = frame(sc->jb, sc->choice, NULL, &d);
    char *t = strndup(text, len);
    if (sc->jb->rq.prompt) cJSON_ReplaceItemInObjectCaseSensitive(d, "text", cJSON_CreateString(t ? t : ""));
    else cJSON_AddStringToObject(d, "content", t ? t : "");
    free(t);
    push_event(sc->jb, o);
}

/* delta.tool_calls[{index, ...}]: the call's object to fill. */
static cJSON *call_delta(sink_ctx *sc, int index, cJSON **o) {
    cJSON *d;
    *o = frame(sc->jb, sc->choice, NULL, &d);
    cJSON *tc = cJSON_CreateObject();
    cJSON_AddNumberToObject(tc, "index", index);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(d, "tool_calls"), tc);
    return tc;
}

static void sink_header(void *user, int index, const char *id, const char *name) {
    cJSON *o, *tc = call_delta(user, index, &o), *fn = cJSON_CreateObject();
    cJSON_AddStringToObject(tc, "id", id);
    cJSON_AddStringToObject(tc, "type", "function");
    cJSON_AddStringToObject(fn, "name", name);
    cJSON_AddStringToObject(fn, "arguments", "");
    cJSON_AddItemToObject(tc, "function", fn);
    push_event(((sink_ctx *)user)->jb, o);
}

static void sink_args(void *user, int index, const char *frag, size_t len) {
    cJSON *o, *tc = call_delta(user, index, &o), *fn = cJSON_CreateObject();
    char *t = strndup(frag, len);
    cJSON_AddStringToObject(fn, "arguments", t ? t : "");
    free(t);
    cJSON_AddItemToObject(tc, "function", fn);
    push_event(((sink_ctx *)user)->jb, o);
}

static int on_piece(void *user, int choice, const char *piece, size_t len) {
    stream_job *jb = user;
    if (choice >= 0 && choice < LLMC_ENGINE_MAX_CHOICES && jb->ts[choice])
        llmc_server_tool_stream_push(jb->ts[choice], piece, len, false, &jb->sink[choice]);
    return jb->cancel || jb->s->stopping;
}

/* The chunks after the last piece: finish reasons, then usage. */
static void stream_finish(stream_job *jb, srv_result *res) {
    const char *finish0 = "stop";
    for (int i = 0; i < res->n; i++) {
        bool complete = false;
        llmc_server_tool_stream_push(jb->ts[i], NULL, 0, true, &jb->sink[i]);
        bool calls = llmc_server_tool_stream_calls(jb->ts[i], &complete) > 0 && complete;
        const char *fin = finish_reason(res->stop[i], calls);
        if (i == 0) finish0 = fin;
        cJSON *d;
        push_event(jb, frame(jb, i, fin, &d));
    }
    if (jb->rq.include_usage) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", jb->id);
        cJSON_AddStringToObject(o, "object", jb->rq.prompt ? "text_completion" : "chat.completion.chunk");
        cJSON_AddNumberToObject(o, "created", jb->created);
        cJSON_AddStringToObject(o, "model", jb->s->model_name);
        cJSON_AddArrayToObject(o, "choices");
        cJSON_AddItemToObject(o, "usage", usage_json(&res->stats));
        push_event(jb, o);
    }
    account(jb->s, &jb->rq, res, finish0, jb->t_arrival, true);
}

static void *stream_worker(void *arg) {
    stream_job *jb = arg;
    llmc_server *s = jb->s;
    for (int i = 0; i < jb->rq.n; i++) {
        cJSON *d, *o = frame(jb, i, NULL, &d);
        if (!jb->rq.prompt) {
            cJSON_AddStringToObject(d, "role", "assistant");
            if (jb->rq.n_tools) cJSON_AddNullToObject(d, "content");
            else cJSON_AddStringToObject(d, "content", "");
            push_event(jb, o);
        } else if (jb->rq.echo) {
            cJSON_ReplaceItemInObjectCaseSensitive(d, "text", cJSON_CreateString(jb->rq.prompt));
            push_event(jb, o);
        } else cJSON_Delete(o);
    }
    srv_result res;
    llmc_error err = {0};
    llmc_status st = jb->cancel || s->stopping ? llmc_err(&err, LLMC_ERR_CANCELLED, "cancelled before it started")
                                               : run_generation(s, &jb->rq, &jb->prompt, on_piece, jb, &jb->cancel, &res, &err);
    if (st) {
        const char *type, *code;
        srv_status_http(st, &type, &code);
        char msg[LLMC_ERROR_MSG_MAX];
        LLMC_INFO("serve: streamed %s failed: %s", jb->rq.prompt ? "completion" : "chat completion", err.msg);
        srv_public_message(s, st, err.msg, msg, sizeof msg);
        push_event(jb, srv_error_json(msg, type, code));
    } else {
        stream_finish(jb, &res);
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

static void job_free(stream_job *jb) {
    pthread_mutex_destroy(&jb->mu);
    pthread_cond_destroy(&jb->cv);
    llmc_sb_free(&jb->out);
    for (int i = 0; i < LLMC_ENGINE_MAX_CHOICES; i++) llmc_server_tool_stream_free(jb->ts[i]);
    llmc_server_request_free(&jb->rq);
    free(jb->prompt.ids);
    free(jb);
}

/* The response is gone (sent, or the client left): stop the generation, reap the worker. */
static void stream_free(void *cls) {
    stream_job *jb = cls;
    jb->cancel = 1;
    pthread_join(jb->th, NULL);
    job_free(jb);
}

/* Takes rq's contents and the prompt's ids. */
static enum MHD_Result answer_stream(llmc_server *s, struct MHD_Connection *c, const char *ep, llmc_server_request *rq, srv_prompt *pr,
                                     double t_arrival) {
    /* a full queue answers 429 before the event stream starts (a race past this check still
       gets its error as an event) */
    if (s->eng && !llmc_engine_has_room(s->eng))
        return srv_send_error(s, c, ep, 429, "the request queue is full (--max-queue): try again later", "rate_limit_error", "queue_full");
    stream_job *jb = calloc(1, sizeof *jb);
    if (!jb) return srv_send_error(s, c, ep, 500, "out of memory", "server_error", NULL);
    jb->s = s;
    jb->prompt = *pr;
    pr->ids = NULL;
    jb->rq = *rq;
    memset(rq, 0, sizeof *rq); /* the job owns the request now */
    if (jb->rq.n_stops) jb->rq.g.stop_strings = (const char *const *)jb->rq.stops;
    jb->rq.g.json_schema = jb->rq.json_schema;
    if (jb->rq.grammar) jb->rq.g.grammar = jb->rq.grammar;
    llmc_sb_init(&jb->out);
    pthread_mutex_init(&jb->mu, NULL);
    pthread_cond_init(&jb->cv, NULL);
    srv_make_id(s, !jb->rq.prompt, jb->id, sizeof jb->id);
    jb->created = (double)time(NULL);
    jb->t_arrival = t_arrival;
    bool ok = true;
    for (int i = 0; i < jb->rq.n && ok; i++) {
        jb->sc[i] = (sink_ctx){jb, i};
        jb->sink[i] = (llmc_server_delta_sink){sink_content, sink_header, sink_args, &jb->sc[i]};
        ok = (jb->ts[i] = llmc_server_tool_stream_new(&jb->rq)) != NULL;
    }
    if (!ok || pthread_create(&jb->th, NULL, stream_worker, jb) != 0) {
        job_free(jb);
        return srv_send_error(s, c, ep, 500, ok ? "cannot start a generation thread" : "out of memory", "server_error", NULL);
    }
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, jb, stream_free);
    if (!r) {
        stream_free(jb);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result qok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    llmc_server_metrics_response(s->metrics, ep, 200);
    return qok;
}

enum MHD_Result srv_answer(llmc_server *s, struct MHD_Connection *c, const char *ep, llmc_server_request *rq, double t_arrival) {
    llmc_error err = {0};
    srv_prompt pr = {0};
    llmc_status st = prepare(s, rq, &err);
    if (!st) st = render_prompt(s, rq, &pr, &err);
    enum MHD_Result r;
    if (st) {
        const char *type, *code;
        unsigned http = srv_status_http(st, &type, &code);
        char msg[LLMC_ERROR_MSG_MAX];
        LLMC_INFO("serve: %s refused (%u): %s", rq->prompt ? "completion" : "chat completion", http, err.msg);
        srv_public_message(s, st, err.msg, msg, sizeof msg);
        r = srv_send_error(s, c, ep, http, msg, type, code);
    } else {
        r = rq->stream ? answer_stream(s, c, ep, rq, &pr, t_arrival) : answer_blocking(s, c, ep, rq, &pr, t_arrival);
    }
    free(pr.ids);
    llmc_server_request_free(rq);
    return r;
}

#endif
