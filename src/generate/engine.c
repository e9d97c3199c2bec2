/* The multi-sequence engine (see engine.h): a request queue, a scheduler thread that runs
 * batched steps over the running sequences, and per-sequence sampling, streaming and stop
 * rules. Requests live on their callers' stacks; the scheduler signals each when done and
 * never touches it afterwards. */
#include "generate/engine.h"
#include "generate/generate.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strbuf.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { SEQ_PREFILL, SEQ_WAIT_FORK, SEQ_DECODE } eng_state;

struct eng_req;
typedef struct {
    struct eng_req *req;
    int choice;
    eng_state state;
    llmc_kv_cache *kv;
    llmc_sampler *smp;
    llmc_detok_stream *ds;
    llmc_strbuf text;
    llmc_stop_scan scan;      /* the request's stop strings over text */
    size_t shown;             /* text bytes handed to on_text */
    int32_t *hist;            /* prompt, then generated ids */
    int n_prompt, n_gen, fed; /* fed: hist tokens in the KV cache */
    int max_new;
    llmc_stop_reason stop;
} eng_seq;

typedef struct eng_req {
    const int32_t *prompt;
    int n_prompt, need_pos;   /* need_pos: positions reserved per choice */
    size_t reserve;           /* KV bytes for all choices */
    const llmc_engine_params *p;
    llmc_engine_result *res;
    llmc_status st;
    llmc_error err;
    bool done;
    pthread_cond_t cv;
    struct eng_req *next;
    int n_live;
    double t_submit, t_admit, t_first, t_prefilled;
    eng_seq *seqs[LLMC_ENGINE_MAX_CHOICES];
} eng_req;

struct llmc_engine {
    llmc_model *m;
    const llmc_tokenizer *tok;
    llmc_engine_opts o;
    int vocab, ctx;
    size_t pos_bytes;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* work arrived */
    bool stop;
    eng_req *q_head, *q_tail;
    int n_queued, n_running;  /* running: sequences (under mu, for stats) */
    size_t kv_used;
    long long done_reqs, rejected;
    _Atomic long long steps, prefilled, generated; /* written by the scheduler, read by stats */
    /* scheduler thread only */
    eng_seq *run[LLMC_ENGINE_MAX_SEQS];
    int n_run;
    float *logits;            /* step_tokens × vocab */
    llmc_prefix_cache *pc;
};

static double eng_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void llmc_engine_params_default(llmc_engine_params *p) {
    memset(p, 0, sizeof *p);
    llmc_sampling_default(&p->sampling);
    p->max_new_tokens = -1;
    p->n_choices = 1;
}

void llmc_engine_result_free(llmc_engine_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_choices && i < LLMC_ENGINE_MAX_CHOICES; i++) {
        free(r->choice[i].ids);
        free(r->choice[i].text);
    }
    memset(r, 0, sizeof *r);
}

/* ---- sequences (scheduler thread) ---- */

static void seq_free(eng_seq *s) {
    if (!s) return;
    llmc_kv_cache_free(s->kv);
    llmc_sampler_free(s->smp);
    llmc_detok_stream_free(s->ds);
    llmc_sb_free(&s->text);
    llmc_stop_scan_free(&s->scan);
    free(s->hist);
    free(s);
}

/* The request's last sequence ended: stats in, caller woken. */
static void req_complete(llmc_engine *e, eng_req *r) {
    double t = eng_now_ms();
    llmc_engine_result *res = r->res;
    res->queue_ms = r->t_admit - r->t_submit;
    res->ttft_ms = r->t_first > 0 ? r->t_first - r->t_submit : 0;
    if (r->t_prefilled > r->t_admit) res->prefill_tokens_per_s = (r->n_prompt - res->reused_tokens) / ((r->t_prefilled - r->t_admit) / 1e3);
    int gen = 0;
    for (int i = 0; i < res->n_choices; i++) gen += res->choice[i].n_ids;
    if (gen > res->n_choices && t > r->t_first) res->decode_tokens_per_s = (gen - res->n_choices) / ((t - r->t_first) / 1e3);
    pthread_mutex_lock(&e->mu);
    e->kv_used -= r->reserve;
    e->done_reqs++;
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&e->mu);
}

/* Streams s's text up to upto (from what it showed already); non-zero when the callback stops it. */
static int seq_show(eng_req *r, eng_seq *s, size_t upto) {
    if (upto <= s->shown) return 0;
    size_t from = s->shown;
    s->shown = upto;
    return r->p->on_text && r->st == LLMC_OK ? r->p->on_text(r->p->user, s->choice, s->text.data + from, upto - from) : 0;
}

/* Ends sequence s (its result kept unless the request failed), offers its blocks to the
   prefix cache, frees its KV at once. */
static void seq_finish(llmc_engine *e, eng_seq *s) {
    eng_req *r = s->req;
    if (s->ds) {
        char *rest = s->stop == LLMC_STOP_STRING && r->p->cut_stop ? NULL : llmc_detok_stream_flush(s->ds);
        if (rest && *rest) llmc_sb_puts(&s->text, rest);
        free(rest);
        if (s->stop != LLMC_STOP_CANCELLED) seq_show(r, s, s->text.len); /* what was held back */
    }
    if (r->st == LLMC_OK) {
        llmc_engine_choice *c = &r->res->choice[s->choice];
        c->ids = malloc(((size_t)s->n_gen + 1) * sizeof *c->ids);
        if (c->ids) memcpy(c->ids, s->hist + s->n_prompt, (size_t)s->n_gen * sizeof *c->ids);
        c->n_ids = s->n_gen;
        c->stop = s->stop;
        c->text = e->tok ? llmc_sb_take(&s->text) : NULL;
        if (!c->ids || s->text.oom || (e->tok && !c->text)) r->st = llmc_err(&r->err, LLMC_ERR_NOMEM, "out of memory collecting the reply");
    }
    if (e->pc && s->kv && s->kv->len > 0 && s->state != SEQ_WAIT_FORK) llmc_prefix_cache_store(e->pc, s->kv);
    for (int i = 0; i < e->n_run; i++)
        if (e->run[i] == s) {
            memmove(&e->run[i], &e->run[i + 1], (size_t)(e->n_run - i - 1) * sizeof *e->run);
            e->n_run--;
            break;
        }
    r->seqs[s->choice] = NULL;
    seq_free(s);
    pthread_mutex_lock(&e->mu);
    e->n_running--;
    pthread_mutex_unlock(&e->mu);
    if (--r->n_live == 0) req_complete(e, r);
}

/* Fails every live sequence of r with st (the first error is kept). */
static void req_fail(llmc_engine *e, eng_req *r, llmc_status st, const llmc_error *err) {
    if (r->st == LLMC_OK) {
        r->st = st;
        if (err) r->err = *err;
        else llmc_err(&r->err, st, "generation failed");
    }
    for (int i = 0; i < LLMC_ENGINE_MAX_CHOICES && r->n_live > 0; i++)
        if (r->seqs[i]) seq_finish(e, r->seqs[i]);
}

/* Takes id as the next token of s: stream it, check the stop rules. Returns true when s ended. */
static bool seq_accept(llmc_engine *e, eng_seq *s, int32_t id) {
    eng_req *r = s->req;
    if (id < 0 || id >= e->vocab) {
        llmc_error err;
        llmc_err(&err, LLMC_ERR_FORMAT, "generation step %d: the model gave no usable logit (all NaN): the weights may be corrupt", s->n_gen);
        req_fail(e, r, err.code, &err);
        return true;
    }
    if (r->t_first == 0) r->t_first = eng_now_ms();
    s->hist[s->n_prompt + s->n_gen++] = id;
    bool eos = llmc_generate_is_eos(r->p->eos_ids, r->p->n_eos, id);
    bool end = false;
    if (s->ds) {
        char *piece = NULL;
        llmc_error err = {0};
        if (llmc_detok_stream_push(s->ds, id, &piece, &err) != LLMC_OK) {
            req_fail(e, r, err.code, &err);
            return true;
        }
        size_t plen = strlen(piece), at = 0;
        llmc_sb_append(&s->text, piece, plen);
        free(piece);
        bool hit = plen && llmc_stop_scan_feed(&s->scan, s->text.data + s->text.len - plen, plen, &at) && !eos;
        if (hit && r->p->cut_stop) { /* the reply ends where the stop string begins */
            s->text.len = at;
            if (s->text.data) s->text.data[at] = 0;
        }
        size_t upto = hit || !r->p->cut_stop ? s->text.len : llmc_stop_scan_safe(&s->scan, s->text.data, s->text.len);
        if (seq_show(r, s, upto)) { s->stop = LLMC_STOP_CANCELLED; end = true; }
        else if (hit) { s->stop = LLMC_STOP_STRING; end = true; }
    }
    if (!end && eos) { s->stop = LLMC_STOP_EOS; end = true; }
    if (!end && (s->n_gen >= s->max_new || s->fed + 1 > s->kv->max)) { s->stop = LLMC_STOP_LENGTH; end = true; }
    e->generated++;
    if (end) seq_finish(e, s);
    return end;
}

static eng_seq *seq_new(llmc_engine *e, eng_req *r, int choice, llmc_error *err) {
    eng_seq *s = calloc(1, sizeof *s);
    if (!s) { llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); return NULL; }
    s->req = r;
    s->choice = choice;
    s->n_prompt = r->n_prompt;
    s->max_new = r->need_pos - r->n_prompt;
    s->stop = LLMC_STOP_LENGTH;
    llmc_sb_init(&s->text);
    llmc_sampling sp = r->p->sampling;
    if (sp.has_seed) sp.seed += (uint64_t)choice;
    s->smp = llmc_sampler_new(&sp);
    s->hist = malloc(((size_t)r->need_pos + 1) * sizeof *s->hist);
    if (e->tok) s->ds = llmc_detok_stream_new(e->tok, true);
    llmc_error serr;
    bool scan_ok = llmc_stop_scan_init(&s->scan, r->p->stop_strings, r->p->n_stop_strings, &serr) == LLMC_OK;
    if (!s->smp || !s->hist || (e->tok && !s->ds) || !scan_ok) {
        seq_free(s);
        llmc_err(err, LLMC_ERR_NOMEM, "out of memory starting a sequence");
        return NULL;
    }
    memcpy(s->hist, r->prompt, (size_t)r->n_prompt * sizeof *s->hist);
    llmc_status st = llmc_model_seq_new(e->m, r->need_pos, &s->kv, err);
    if (!st) st = llmc_kv_cache_reserve(s->kv, r->need_pos, err);
    if (st) { seq_free(s); return NULL; }
    return s;
}

/* Sets up an admitted request's sequences (choice 0 prefills; the others wait to be forked). */
static void req_start(llmc_engine *e, eng_req *r) {
    r->t_admit = eng_now_ms();
    int n = r->res->n_choices;
    for (int c = 0; c < n; c++) {
        llmc_error err = {0};
        eng_seq *s = seq_new(e, r, c, &err);
        if (!s) {
            /* the ones made so far end with the error */
            r->n_live = c;
            pthread_mutex_lock(&e->mu);
            e->n_running -= n - c;
            pthread_mutex_unlock(&e->mu);
            if (c == 0) { r->st = err.code; r->err = err; req_complete(e, r); }
            else req_fail(e, r, err.code, &err);
            return;
        }
        s->state = c == 0 ? SEQ_PREFILL : SEQ_WAIT_FORK;
        r->seqs[c] = s;
        e->run[e->n_run++] = s;
    }
    r->n_live = n;
    eng_seq *s0 = r->seqs[0];
    if (e->pc) {
        s0->fed = llmc_prefix_cache_load(e->pc, r->prompt, r->n_prompt, r->n_prompt - 1, s0->kv);
        r->res->reused_tokens = s0->fed;
    }
}

/* ---- one step ---- */

#define ENG_BATCH 256 /* most tokens a step holds (also bounded by llmc_model_max_batch) */
typedef struct {
    int32_t ids[ENG_BATCH], pos[ENG_BATCH];
    llmc_kv_cache *seq[ENG_BATCH];
    bool want[ENG_BATCH];
    eng_seq *owner[ENG_BATCH];
} eng_batch;

/* The prompt of s is in: copy its KV and logits row to the waiting choices, then each samples. */
static void seq_prefilled(llmc_engine *e, eng_seq *s, float *row) {
    eng_req *r = s->req;
    r->t_prefilled = eng_now_ms();
    if (e->pc) llmc_prefix_cache_store(e->pc, s->kv);
    float *copy = NULL;
    for (int c = 1; c < r->res->n_choices; c++) {
        eng_seq *f = r->seqs[c];
        if (!f || f->state != SEQ_WAIT_FORK) continue;
        llmc_error err = {0};
        if (!copy && !(copy = malloc((size_t)e->vocab * sizeof *copy))) { req_fail(e, r, LLMC_ERR_NOMEM, NULL); return; }
        if (llmc_kv_cache_copy(f->kv, s->kv, s->fed, &err) != LLMC_OK) { free(copy); req_fail(e, r, err.code, &err); return; }
        f->fed = s->fed;
        f->state = SEQ_DECODE;
        memcpy(copy, row, (size_t)e->vocab * sizeof *copy);
        seq_accept(e, f, llmc_sampler_sample(f->smp, copy, e->vocab, f->hist, f->n_prompt));
        if (r->st) { free(copy); return; }
    }
    free(copy);
    s->state = SEQ_DECODE;
    seq_accept(e, s, llmc_sampler_sample(s->smp, row, e->vocab, s->hist, s->n_prompt));
}

static void eng_step(llmc_engine *e) {
    /* cancelled requests go first: their memory comes back before the step */
    for (int i = 0; i < e->n_run;) {
        eng_req *r = e->run[i]->req;
        if (!(r->p->cancel && *r->p->cancel)) { i++; continue; }
        for (int c = 0; c < LLMC_ENGINE_MAX_CHOICES && r->n_live > 0; c++)
            if (r->seqs[c]) {
                r->seqs[c]->stop = LLMC_STOP_CANCELLED;
                seq_finish(e, r->seqs[c]);
            }
        i = 0; /* the list changed; every pass removes at least one sequence */
    }
    static __thread eng_batch b;
    int n = 0, budget = e->o.step_tokens;
    for (int i = 0; i < e->n_run && n < budget; i++) { /* decodes first */
        eng_seq *s = e->run[i];
        if (s->state != SEQ_DECODE) continue;
        b.ids[n] = s->hist[s->fed];
        b.pos[n] = s->fed;
        b.seq[n] = s->kv;
        b.want[n] = true;
        b.owner[n++] = s;
    }
    for (int i = 0; i < e->n_run && n < budget; i++) { /* then prompt chunks */
        eng_seq *s = e->run[i];
        if (s->state != SEQ_PREFILL) continue;
        int k = s->n_prompt - s->fed;
        if (k > budget - n) k = budget - n;
        for (int j = 0; j < k; j++) {
            b.ids[n] = s->hist[s->fed + j];
            b.pos[n] = s->fed + j;
            b.seq[n] = s->kv;
            b.want[n] = s->fed + j == s->n_prompt - 1;
            b.owner[n++] = s;
        }
        e->prefilled += k;
    }
    if (n == 0) return;
    llmc_batch bt = {n, b.ids, b.seq, b.pos, b.want, true, e->o.f32_tiles};
    llmc_error err = {0};
    llmc_status st = llmc_model_forward_batch(e->m, &bt, e->logits, &err);
    e->steps++;
    if (st) { /* nothing changed in any sequence: fail the requests of this step */
        LLMC_WARN("engine: step of %d tokens failed: %s", n, err.msg);
        for (int t = 0; t < n; t++) {
            bool live = false;
            for (int i = 0; i < e->n_run && !live; i++) live = e->run[i] == b.owner[t];
            if (live) req_fail(e, b.owner[t]->req, st, &err);
        }
        return;
    }
    for (int t = 0; t < n; t++) b.owner[t]->fed++;
    /* rows in token order; a sequence may end (and be freed) while the rows are handed out */
    int row = 0;
    for (int t = 0; t < n; t++) {
        if (!b.want[t]) continue;
        eng_seq *s = b.owner[t];
        float *lg = e->logits + (size_t)row++ * e->vocab;
        bool live = false;
        for (int i = 0; i < e->n_run && !live; i++) live = e->run[i] == s;
        if (!live) continue;
        if (s->state == SEQ_PREFILL) seq_prefilled(e, s, lg);
        else seq_accept(e, s, llmc_sampler_sample(s->smp, lg, e->vocab, s->hist, s->n_prompt + s->n_gen));
    }
}

/* ---- admission and the scheduler thread ---- */

/* Under mu: moves requests that fit from the queue into out (arrival order; stops at the first
   that does not fit, so none is overtaken); cancelled waiting ones end here. */
static int eng_admit(llmc_engine *e, eng_req **out) {
    int n = 0;
    for (eng_req **pp = &e->q_head; *pp;) {
        eng_req *r = *pp;
        if (r->p->cancel && *r->p->cancel) {
            *pp = r->next;
            e->n_queued--;
            r->st = llmc_err(&r->err, LLMC_ERR_CANCELLED, "cancelled while waiting for a sequence");
            r->done = true;
            pthread_cond_signal(&r->cv);
            continue;
        }
        int nc = r->res->n_choices;
        if (e->n_running + nc > e->o.max_seqs || e->kv_used + r->reserve > e->o.kv_budget) break;
        *pp = r->next;
        e->n_queued--;
        e->n_running += nc;
        e->kv_used += r->reserve;
        out[n++] = r;
        if (n == LLMC_ENGINE_MAX_SEQS) break;
    }
    e->q_tail = NULL;
    for (eng_req *r = e->q_head; r; r = r->next) e->q_tail = r;
    return n;
}

static void *eng_main(void *arg) {
    llmc_engine *e = arg;
    eng_req *adm[LLMC_ENGINE_MAX_SEQS];
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        int na = eng_admit(e, adm);
        if (na == 0 && e->n_run == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&e->cv, &e->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&e->mu);
        for (int i = 0; i < na; i++) req_start(e, adm[i]);
        eng_step(e);
        pthread_mutex_lock(&e->mu);
    }
    /* stopping: queued requests fail, running ones end as cancelled */
    while (e->q_head) {
        eng_req *r = e->q_head;
        e->q_head = r->next;
        r->st = llmc_err(&r->err, LLMC_ERR_CANCELLED, "the server is shutting down");
        r->done = true;
        pthread_cond_signal(&r->cv);
    }
    e->q_tail = NULL;
    e->n_queued = 0;
    pthread_mutex_unlock(&e->mu);
    while (e->n_run > 0) {
        eng_seq *s = e->run[0];
        s->stop = LLMC_STOP_CANCELLED;
        seq_finish(e, s);
    }
    return NULL;
}

llmc_status llmc_engine_new(llmc_model *m, const llmc_tokenizer *tok, const llmc_engine_opts *o, llmc_engine **out, llmc_error *err) {
    *out = NULL;
    if (!m) return llmc_err(err, LLMC_ERR_INVALID_ARG, "engine: no model");
    if (!llmc_model_can_batch(m))
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "engine: the model is placed on a GPU, whose backend runs one sequence at a time");
    llmc_engine *e = calloc(1, sizeof *e);
    if (!e) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_engine_opts def = {0};
    e->o = o ? *o : def;
    if (e->o.max_seqs <= 0) e->o.max_seqs = 4;
    if (e->o.max_seqs > LLMC_ENGINE_MAX_SEQS) e->o.max_seqs = LLMC_ENGINE_MAX_SEQS;
    if (e->o.step_tokens <= 0) e->o.step_tokens = 64;
    if (e->o.step_tokens > llmc_model_max_batch()) e->o.step_tokens = llmc_model_max_batch();
    if (e->o.step_tokens > ENG_BATCH) e->o.step_tokens = ENG_BATCH;
    if (e->o.step_tokens < e->o.max_seqs) e->o.step_tokens = e->o.max_seqs; /* every decode fits a step */
    if (e->o.max_queue == 0) e->o.max_queue = 128;
    if (e->o.max_queue < 0) e->o.max_queue = 0;
    if (e->o.kv_budget == 0) e->o.kv_budget = LLMC_MODEL_KV_BUDGET;
    if (e->o.prefix_block == 0) e->o.prefix_block = LLMC_PREFIX_BLOCK_DEFAULT;
    e->m = m;
    e->tok = tok;
    const llmc_config *c = llmc_model_config(m);
    e->vocab = c->vocab_size;
    e->ctx = llmc_model_context(m);
    e->pos_bytes = llmc_model_pos_bytes(m);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->logits = malloc((size_t)e->o.step_tokens * (size_t)e->vocab * sizeof *e->logits);
    if (!e->logits) { llmc_engine_free(e); return llmc_err(err, LLMC_ERR_NOMEM, "engine: out of memory for the logits of a step"); }
    if (e->o.prefix_cache_bytes) {
        e->pc = llmc_prefix_cache_new(c->num_layers, llmc_model_kv_dim(m), e->o.prefix_block, e->o.prefix_cache_bytes);
        if (!e->pc) {
            llmc_engine_free(e);
            return llmc_err(err, LLMC_ERR_INVALID_ARG, "engine: prefix cache blocks of %d tokens (16 to 64) and a budget above 0 are needed",
                            o ? o->prefix_block : 0);
        }
    }
    if (pthread_create(&e->th, NULL, eng_main, e) != 0) { llmc_engine_free(e); return llmc_err(err, LLMC_ERR_INTERNAL, "engine: cannot start the scheduler thread"); }
    e->started = true;
    LLMC_INFO("engine: %d sequences at once, %d tokens a step, KV budget %zu MiB, prefix cache %zu MiB (%d-token blocks)", e->o.max_seqs,
              e->o.step_tokens, e->o.kv_budget >> 20, e->o.prefix_cache_bytes >> 20, e->o.prefix_block);
    *out = e;
    return LLMC_OK;
}

void llmc_engine_stop(llmc_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cv);
    bool join = e->started;
    e->started = false;
    pthread_mutex_unlock(&e->mu);
    if (join) pthread_join(e->th, NULL);
}

void llmc_engine_free(llmc_engine *e) {
    if (!e) return;
    llmc_engine_stop(e);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    llmc_prefix_cache_free(e->pc);
    free(e->logits);
    free(e);
}

/* Under mu: one more request can wait (requests the free sequences will take next do not
   count against max_queue). */
static bool llmc_engine_has_room_locked(const llmc_engine *e) {
    int free_seqs = e->o.max_seqs - e->n_running;
    if (free_seqs < 0) free_seqs = 0;
    return e->n_queued < e->o.max_queue + free_seqs;
}

bool llmc_engine_has_room(llmc_engine *e) {
    if (!e) return false;
    pthread_mutex_lock(&e->mu);
    bool ok = !e->stop && llmc_engine_has_room_locked(e);
    pthread_mutex_unlock(&e->mu);
    return ok;
}

llmc_status llmc_engine_run(llmc_engine *e, const int32_t *prompt, int n, const llmc_engine_params *params, llmc_engine_result *res,
                            llmc_error *err) {
    memset(res, 0, sizeof *res);
    if (!e || !prompt || !params) return llmc_err(err, LLMC_ERR_INVALID_ARG, "engine_run: an engine, a prompt and parameters are needed");
    if (n <= 0) return llmc_err(err, LLMC_ERR_INVALID_ARG, "the prompt is empty: generation needs at least one token");
    if (n > e->ctx) return llmc_err(err, LLMC_ERR_RANGE, "the prompt is %d tokens, more than the context of %d tokens", n, e->ctx);
    for (int i = 0; i < n; i++)
        if (prompt[i] < 0 || prompt[i] >= e->vocab)
            return llmc_err(err, LLMC_ERR_RANGE, "prompt token %d (at index %d) is outside the vocabulary of %d", (int)prompt[i], i, e->vocab);
    int nc = params->n_choices > 1 ? params->n_choices : 1;
    if (nc > LLMC_ENGINE_MAX_CHOICES || nc > e->o.max_seqs)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "n = %d choices: at most %d (the sequences decoded together)", nc,
                        e->o.max_seqs < LLMC_ENGINE_MAX_CHOICES ? e->o.max_seqs : LLMC_ENGINE_MAX_CHOICES);
    int max_new = params->max_new_tokens < 0 ? 256 : params->max_new_tokens;
    if (max_new < 1) max_new = 1;
    if ((long long)n + max_new > e->ctx) max_new = e->ctx - n;
    eng_req r;
    memset(&r, 0, sizeof r);
    r.n_prompt = n;
    r.need_pos = n + (max_new > 0 ? max_new : 0);
    r.reserve = (size_t)r.need_pos * e->pos_bytes * (size_t)nc;
    r.p = params;
    r.res = res;
    res->n_choices = nc;
    res->prompt_tokens = n;
    if (max_new <= 0) return llmc_err(err, LLMC_ERR_RANGE, "the prompt is %d tokens: no room left in the context of %d for a reply", n, e->ctx);
    if (r.reserve > e->o.kv_budget)
        return llmc_err(err, LLMC_ERR_NOMEM, "the request needs %zu MiB of KV cache (%d positions x %d choices), more than the KV budget of %zu MiB",
                        (r.reserve + (1u << 20) - 1) >> 20, r.need_pos, nc, e->o.kv_budget >> 20);
    int32_t *copy = malloc((size_t)n * sizeof *copy);
    if (!copy) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    memcpy(copy, prompt, (size_t)n * sizeof *copy);
    r.prompt = copy;
    pthread_cond_init(&r.cv, NULL);
    r.t_submit = eng_now_ms();
    pthread_mutex_lock(&e->mu);
    llmc_status st = LLMC_OK;
    if (e->stop) st = llmc_err(err, LLMC_ERR_CANCELLED, "the server is shutting down");
    else if (!llmc_engine_has_room_locked(e)) {
        e->rejected++;
        st = llmc_err(err, LLMC_ERR_BUSY, "%d requests are running and %d waiting, the most the queue takes (--max-queue %d): try again later",
                      e->n_running, e->n_queued, e->o.max_queue);
    } else {
        if (e->q_tail) e->q_tail->next = &r;
        else e->q_head = &r;
        e->q_tail = &r;
        e->n_queued++;
        pthread_cond_signal(&e->cv);
        while (!r.done) pthread_cond_wait(&r.cv, &e->mu);
        st = r.st;
        if (st && err) *err = r.err;
    }
    pthread_mutex_unlock(&e->mu);
    pthread_cond_destroy(&r.cv);
    free(copy);
    if (st) llmc_engine_result_free(res);
    return st;
}

void llmc_engine_get_stats(llmc_engine *e, llmc_engine_stats *out) {
    memset(out, 0, sizeof *out);
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    out->running = e->n_running;
    out->queued = e->n_queued;
    out->max_seqs = e->o.max_seqs;
    out->max_queue = e->o.max_queue;
    out->kv_used = e->kv_used;
    out->kv_budget = e->o.kv_budget;
    out->steps = e->steps;
    out->tokens_prefilled = e->prefilled;
    out->tokens_generated = e->generated;
    out->requests_done = e->done_reqs;
    out->requests_rejected = e->rejected;
    pthread_mutex_unlock(&e->mu);
    llmc_prefix_cache_get_stats(e->pc, &out->prefix);
}
