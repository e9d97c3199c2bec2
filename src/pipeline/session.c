/* Sessions and batched chat calls (include/llmc.h): the pipeline's multi-sequence engine
 * (generate/engine.h) behind a lock for prompt rendering, conversations kept as message
 * lists, and each turn submitted to the engine from the caller's thread. */
#include "pipeline/pipeline_internal.h"
#include "base/error.h"
#include "base/json.h"
#include "generate/engine.h"
#include "grammar/grammar.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_MAX_MESSAGES 100000
#define BATCH_MAX_CONVERSATIONS 4096

typedef struct {
    llmc_engine *eng;
    pthread_mutex_t prep_mu; /* the template engine and tokenizer are not re-entrant */
} pl_batch;

static void pl_batch_free(void *v) {
    pl_batch *b = v;
    if (!b) return;
    llmc_engine_free(b->eng);
    pthread_mutex_destroy(&b->prep_mu);
    free(b);
}

llmc_status llmc_pipeline_enable_batching(llmc_pipeline *p, const llmc_batching_opts *o, llmc_error *err) {
    if (!p) return llmc_err(err, LLMC_ERR_INVALID_ARG, "enable_batching: no pipeline");
    void **slot = llmc_pipeline_batch_slot(p, NULL);
    if (*slot) return llmc_err(err, LLMC_ERR_INVALID_ARG, "enable_batching: batching is already on for this pipeline");
    llmc_batching_opts def = {0};
    if (!o) o = &def;
    pl_batch *b = calloc(1, sizeof *b);
    if (!b) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_engine_opts eo = {0};
    eo.max_seqs = o->parallel;
    eo.max_queue = o->max_queue;
    eo.kv_budget = o->kv_budget_bytes;
    eo.prefix_cache_bytes = o->prefix_cache_bytes == (size_t)-1 ? 0 : o->prefix_cache_bytes ? o->prefix_cache_bytes : (256u << 20);
    llmc_status st = llmc_engine_new(llmc_pipeline_model(p), llmc_pipeline_tokenizer(p), &eo, &b->eng, err);
    if (st) { free(b); return st; }
    pthread_mutex_init(&b->prep_mu, NULL);
    *llmc_pipeline_batch_slot(p, pl_batch_free) = b;
    return LLMC_OK;
}

static pl_batch *pl_batch_of(llmc_pipeline *p) { return p ? *llmc_pipeline_batch_slot(p, NULL) : NULL; }

typedef struct { llmc_text_fn fn; void *user; } pl_text;
static int pl_on_text(void *user, int choice, const char *piece, size_t len) {
    (void)choice;
    pl_text *t = user;
    return t->fn ? t->fn(t->user, piece, len) : 0;
}

/* One turn on the engine: messages (JSON) or plain text (text != NULL) → prompt → reply. */
static llmc_status pl_engine_turn(llmc_pipeline *p, const char *messages_json, const char *text, const llmc_gen_params *g, char **reply,
                                  llmc_gen_stats *stats, llmc_error *err) {
    *reply = NULL;
    pl_batch *b = pl_batch_of(p);
    if (!b) return llmc_err(err, LLMC_ERR_INVALID_ARG, "batching is not on for this pipeline (llmc_pipeline_enable_batching)");
    llmc_gen_params def;
    if (!g) { llmc_gen_params_default(&def); g = &def; }
    int32_t *ids = NULL;
    size_t n = 0;
    pthread_mutex_lock(&b->prep_mu);
    llmc_status st = llmc_pipeline_prompt_ids(p, messages_json, NULL, text, &ids, &n, err);
    pthread_mutex_unlock(&b->prep_mu);
    if (st) return st;
    const llmc_gen_config *gc = llmc_pipeline_gen_config(p);
    llmc_engine_params ep;
    llmc_engine_params_default(&ep);
    llmc_pipeline_resolve_params(p, g, (int)n, &ep.sampling, &ep.max_new_tokens);
    ep.eos_ids = gc->eos_ids;
    ep.n_eos = gc->n_eos;
    ep.stop_strings = g->stop_strings;
    ep.n_stop_strings = g->n_stop_strings;
    ep.cut_stop = g->cut_stop_strings;
    pl_text tx = {g->on_text, g->on_text_user};
    ep.on_text = pl_on_text;
    ep.user = &tx;
    ep.cancel = g->cancel;
    llmc_engine_result r;
    st = llmc_pipeline_engine_run(p, b->eng, ids, (int)n, &ep, g->json_schema, g->grammar, &r, err);
    free(ids);
    if (st) return st;
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->stop = r.choice[0].stop;
        stats->prompt_tokens = r.prompt_tokens;
        stats->reused_tokens = r.reused_tokens;
        stats->generated_tokens = r.choice[0].n_ids;
        stats->ttft_ms = r.ttft_ms;
        stats->prefill_tokens_per_s = r.prefill_tokens_per_s;
        stats->decode_tokens_per_s = r.decode_tokens_per_s;
    }
    *reply = r.choice[0].text;
    r.choice[0].text = NULL;
    llmc_engine_result_free(&r);
    if (!*reply) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory collecting the reply");
    return LLMC_OK;
}

/* ---- sessions ---- */

struct llmc_session {
    llmc_pipeline *p;
    llmc_message *msgs;
    int n, cap;
};

static llmc_status sess_push(llmc_session *s, const char *role, const char *content, llmc_error *err) {
    if (s->n >= SESSION_MAX_MESSAGES) return llmc_err(err, LLMC_ERR_RANGE, "session: more than %d messages", SESSION_MAX_MESSAGES);
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        llmc_message *m = realloc(s->msgs, (size_t)cap * sizeof *m);
        if (!m) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        s->msgs = m;
        s->cap = cap;
    }
    s->msgs[s->n].role = strdup(role);
    s->msgs[s->n].content = strdup(content);
    if (!s->msgs[s->n].role || !s->msgs[s->n].content) {
        free(s->msgs[s->n].role);
        free(s->msgs[s->n].content);
        return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    s->n++;
    return LLMC_OK;
}

static void sess_pop(llmc_session *s) {
    if (s->n <= 0) return;
    s->n--;
    free(s->msgs[s->n].role);
    free(s->msgs[s->n].content);
}

llmc_status llmc_session_new(llmc_pipeline *p, const char *system_prompt, llmc_session **out, llmc_error *err) {
    *out = NULL;
    if (!pl_batch_of(p)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "session: batching is not on for this pipeline (llmc_pipeline_enable_batching)");
    llmc_session *s = calloc(1, sizeof *s);
    if (!s) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    s->p = p;
    if (system_prompt) {
        llmc_status st = sess_push(s, "system", system_prompt, err);
        if (st) { llmc_session_free(s); return st; }
    }
    *out = s;
    return LLMC_OK;
}

void llmc_session_free(llmc_session *s) {
    if (!s) return;
    llmc_messages_free(s->msgs, s->n);
    free(s);
}

int llmc_session_messages(const llmc_session *s, const llmc_message **msgs) {
    *msgs = s ? s->msgs : NULL;
    return s ? s->n : 0;
}

static char *sess_json(const llmc_session *s) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < s->n; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddStringToObject(m, "role", s->msgs[i].role) || !cJSON_AddStringToObject(m, "content", s->msgs[i].content)) {
            cJSON_Delete(m);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, m);
    }
    char *t = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return t;
}

llmc_status llmc_session_chat(llmc_session *s, const char *user_text, const llmc_gen_params *g, char **reply, llmc_gen_stats *stats,
                              llmc_error *err) {
    *reply = NULL;
    if (!s || !user_text) return llmc_err(err, LLMC_ERR_INVALID_ARG, "session_chat: a session and a message are needed");
    llmc_status st = sess_push(s, "user", user_text, err);
    if (st) return st;
    char *json = sess_json(s);
    if (!json) { sess_pop(s); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    char *r = NULL;
    st = pl_engine_turn(s->p, json, NULL, g, &r, stats, err);
    free(json);
    if (!st) st = sess_push(s, "assistant", r, err);
    if (st) {
        free(r);
        sess_pop(s); /* the user message goes too */
        return st;
    }
    *reply = r;
    return LLMC_OK;
}

/* ---- a list of conversations at once ---- */

typedef struct {
    llmc_pipeline *p;
    const char *json, *text;
    const llmc_gen_params *g;
    char *reply;
    llmc_gen_stats stats;
    llmc_status st;
    llmc_error err;
} batch_job;

static void *batch_worker(void *arg) {
    batch_job *j = arg;
    j->st = pl_engine_turn(j->p, j->json, j->text, j->g, &j->reply, &j->stats, &j->err);
    return NULL;
}

llmc_status llmc_pipeline_turns_batch(llmc_pipeline *p, int n, const char *const *messages_json, const char *const *texts,
                                      const llmc_gen_params *g, char **replies, llmc_gen_stats *stats, llmc_status *status,
                                      llmc_error *errs, llmc_error *err) {
    if (!p || n < 0 || (n > 0 && (!messages_json || !replies)))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "chat_batch: a pipeline, conversations and room for the replies are needed");
    if (n > BATCH_MAX_CONVERSATIONS) return llmc_err(err, LLMC_ERR_RANGE, "chat_batch: %d conversations, at most %d a call", n, BATCH_MAX_CONVERSATIONS);
    for (int i = 0; i < n; i++) replies[i] = NULL;
    if (!pl_batch_of(p)) {
        llmc_batching_opts o = {0};
        o.parallel = n < 16 ? (n > 0 ? n : 1) : 16;
        o.max_queue = BATCH_MAX_CONVERSATIONS;
        llmc_status st = llmc_pipeline_enable_batching(p, &o, err);
        if (st) return st;
    }
    batch_job *jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *jobs);
    pthread_t *th = calloc((size_t)(n > 0 ? n : 1), sizeof *th);
    bool *started = calloc((size_t)(n > 0 ? n : 1), sizeof *started);
    if (!jobs || !th || !started) {
        free(jobs); free(th); free(started);
        return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        jobs[i] = (batch_job){.p = p, .json = messages_json[i], .text = texts ? texts[i] : NULL, .g = g};
        started[i] = pthread_create(&th[i], NULL, batch_worker, &jobs[i]) == 0;
        if (!started[i]) batch_worker(&jobs[i]); /* no thread to spare: this one waits its turn here */
    }
    llmc_status first = LLMC_OK;
    for (int i = 0; i < n; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        replies[i] = jobs[i].reply;
        if (stats) stats[i] = jobs[i].stats;
        if (status) status[i] = jobs[i].st;
        if (errs) errs[i] = jobs[i].err;
        if (jobs[i].st && !first) {
            first = jobs[i].st;
            if (err) *err = jobs[i].err;
        }
    }
    free(jobs);
    free(th);
    free(started);
    return first;
}

llmc_status llmc_pipeline_chat_batch(llmc_pipeline *p, const char *const *conversations_json, int n, const llmc_gen_params *g, char **replies,
                                     llmc_gen_stats *stats, llmc_status *status, llmc_error *err) {
    return llmc_pipeline_turns_batch(p, n, conversations_json, NULL, g, replies, stats, status, NULL, err);
}

llmc_status llmc_pipeline_engine_run(llmc_pipeline *p, llmc_engine *eng, const int32_t *ids, int n, llmc_engine_params *ep,
                                     const char *json_schema, const char *grammar, llmc_engine_result *r, llmc_error *err) {
    llmc_grammar_constraint *con = NULL;
    if (json_schema || grammar) { /* constrained decoding: the sampler's mask hook */
        const llmc_gen_config *gc = llmc_pipeline_gen_config(p);
        llmc_status st = llmc_grammar_constraint_new(llmc_pipeline_tokenizer(p), llmc_model_config(llmc_pipeline_model(p))->vocab_size,
                                                     json_schema, grammar, gc->eos_ids, gc->n_eos, &con, err);
        if (st) return st;
        ep->sampling.mask = llmc_grammar_constraint_mask_cb;
        ep->sampling.accept = llmc_grammar_constraint_accept_cb;
        ep->sampling.mask_user = con;
    }
    llmc_status st = llmc_engine_run(eng, ids, n, ep, r, err);
    if (con) {
        llmc_status gs = llmc_grammar_constraint_status(con, err);
        llmc_grammar_constraint_free(con);
        if (gs && !st) llmc_engine_result_free(r);
        if (gs) st = gs;
    }
    return st;
}
