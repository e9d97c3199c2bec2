/* Batch invariance of the multi-sequence forward pass: (1) every CPU kernel family and
 * dtype gives a token's matmul row bit for bit the same alone or among 37 rows under
 * LLMC_ACT_INVARIANT; (2) a row of the blocked attention kernel does not change with the
 * rows beside it; (3) SmolLM2 (Q4_1, as llmc serve runs it): the golden conversations'
 * greedy replies and logits are identical run alone and run as 16 sequences together with
 * prefill chunks and decodes mixed in each step, and the replies match transformers'
 * greedy ids; (4) the engine (generate/engine.h): 12 concurrent callers on 4 sequences get
 * those same replies, the prefix cache skips a repeated prompt's blocks without changing its
 * reply, n = 3 choices share one prefill, a cancel frees its KV at once, and the KV budget
 * and queue limit fail by name. */
#include "test.h"
#include "backend/cpu/ops.h"
#include "base/error.h"
#include "base/json.h"
#include "pipeline/pipeline_internal.h"
#include "generate/engine.h"
#include "model/model.h"
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float frnd(void) { return (float)((rnd() & 0xFFFFFF) / (double)0x1000000 * 2.0 - 1.0); }

/* Random but valid weights: random bytes with the f16 scale fields made finite. */
static void *random_weights(llmc_dtype t, int64_t rows, int64_t cols, size_t *nbytes) {
    size_t rb = llmc_dtype_row_bytes(t, cols), n = rb * (size_t)rows;
    uint8_t *p = malloc(n);
    *nbytes = n;
    if (t == LLMC_DT_F32) {
        for (size_t i = 0; i < n / 4; i++) { float f = frnd(); memcpy(p + 4 * i, &f, 4); }
        return p;
    }
    if (t == LLMC_DT_F16 || t == LLMC_DT_BF16) {
        for (size_t i = 0; i < n / 2; i++) {
            uint16_t h = t == LLMC_DT_F16 ? llmc_f32_to_f16(frnd()) : llmc_f32_to_bf16(frnd());
            memcpy(p + 2 * i, &h, 2);
        }
        return p;
    }
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
    size_t bb = llmc_dtype_block_bytes(t);
    int offs[2] = {0, -1};
    float scale = 0.01f;
    if (t == LLMC_DT_Q4_1 || t == LLMC_DT_Q4_K || t == LLMC_DT_Q5_K) offs[1] = 2;
    if (t == LLMC_DT_Q6_K) { offs[0] = 208; scale = 0.001f; }
    for (size_t b = 0; b < n / bb; b++)
        for (int k = 0; k < 2; k++)
            if (offs[k] >= 0) {
                uint16_t h = llmc_f32_to_f16(scale * frnd());
                memcpy(p + b * bb + offs[k], &h, 2);
            }
    return p;
}

/* (1) Row t of a 37-token invariant matmul == the same token alone, every family and dtype. */
static void test_matmul_invariant(void) {
    static const char *fam[] = {"scalar", "avx2", "avx512", "amx"};
    llmc_threadpool *tp = llmc_threadpool_new(2);
    const int64_t rows = 48, cols = 512;
    const int NT = 37;
    float *x = malloc(sizeof(float) * NT * cols), *y = malloc(sizeof(float) * NT * rows), *y1 = malloc(sizeof(float) * rows);
    for (int i = 0; i < NT * cols; i++) x[i] = frnd();
    int families = 0;
    for (int f = 0; f < 4; f++) {
        if (!llmc_cpu_force_kernel(fam[f])) continue;
        families++;
        for (int t = 0; t < LLMC_DT_COUNT; t++) {
            size_t nb;
            void *w = random_weights((llmc_dtype)t, rows, cols, &nb);
            llmc_tensor W = {.name = "w", .dtype = (llmc_dtype)t, .ndim = 2, .shape = {rows, cols}, .data = w, .nbytes = nb};
            for (int act = 0; act < 2; act++) {
                llmc_act_mode mode = (llmc_act_mode)((act ? LLMC_ACT_FAST : LLMC_ACT_PRECISE) | LLMC_ACT_INVARIANT);
                llmc_cpu_matmul_act(tp, &W, NULL, x, NT, y, mode);
                int bad = 0;
                for (int k = 0; k < NT; k++) {
                    llmc_cpu_matmul_act(tp, &W, NULL, x + (size_t)k * cols, 1, y1, mode);
                    bad += memcmp(y1, y + (size_t)k * rows, sizeof(float) * rows) != 0;
                }
                /* and the multi-matrix form (q/k/v in one pass) */
                const llmc_tensor *Ws[2] = {&W, &W};
                float *ys[2] = {y, y + (size_t)NT * rows / 2};
                llmc_cpu_matmul_n(tp, 1, Ws, NULL, x, NT, ys, mode);
                llmc_cpu_matmul_act(tp, &W, NULL, x + (size_t)(NT - 1) * cols, 1, y1, mode);
                bad += memcmp(y1, y + (size_t)(NT - 1) * rows, sizeof(float) * rows) != 0;
                CHECK_MSG(bad == 0, "%s %s %s: %d rows differ between a batch of %d and alone", fam[f], llmc_dtype_name((llmc_dtype)t),
                          act ? "fast" : "precise", bad, NT);
            }
            free(w);
        }
    }
    CHECK(families >= 1);
    llmc_cpu_force_kernel("auto");
    free(x); free(y); free(y1);
    llmc_threadpool_free(tp);
}

/* (2) Attention rows: each row alone == among 12 rows with other ranges (windows included). */
static void test_attention_rows_invariant(void) {
    const int hd = 64, nk = 300, R = 12;
    const size_t stride = (size_t)hd * 2;
    float *K = malloc(sizeof(float) * nk * stride), *V = malloc(sizeof(float) * nk * stride);
    for (size_t i = 0; i < (size_t)nk * stride; i++) { K[i] = frnd(); V[i] = frnd(); }
    float q[12][64], o[12][64], o1[64], scratch[64 * 64 + 512 + 512];
    const float *qp[12];
    float *op[12];
    int lo[12], hi[12];
    for (int r = 0; r < R; r++) {
        for (int d = 0; d < hd; d++) q[r][d] = frnd();
        qp[r] = q[r];
        op[r] = o[r];
        hi[r] = 17 + 23 * r;
        lo[r] = r % 3 == 0 ? 0 : hi[r] - 40 + r; /* some sliding-window rows */
        if (lo[r] < 0) lo[r] = 0;
    }
    llmc_cpu_attention_rows(R, qp, lo, hi, K, V, stride, hd, 0.125f, 0.0f, scratch, op);
    int bad = 0;
    for (int r = 0; r < R; r++) {
        const float *q1[1] = {q[r]};
        float *p1[1] = {o1};
        llmc_cpu_attention_rows(1, q1, &lo[r], &hi[r], K, V, stride, hd, 0.125f, 0.0f, scratch, p1);
        bad += memcmp(o1, o[r], sizeof o1) != 0;
    }
    CHECK_MSG(bad == 0, "%d attention rows differ alone vs in a group", bad);
    free(K);
    free(V);
}

/* ---- (3) SmolLM2 ---- */
#define N_GEN 24
#define N_SEQ 16
typedef struct {
    int32_t ids[512];
    int n_prompt, fed, n_gen;
    int32_t gen[N_GEN];
    llmc_kv_cache *kv;
    float *logits; /* N_GEN × vocab: the row each generated id came from */
} seq_t;

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

/* Runs seqs together: each step gives decodes one token each, then prompt chunks of at most
   `chunk` tokens while the step has room for `budget` tokens. Greedy, N_GEN tokens each. */
static bool g_f32_tiles; /* run_together's kernel choice */
static void run_together(llmc_model *m, seq_t *s, int ns, int budget, int chunk) {
    const int V = llmc_model_config(m)->vocab_size;
    int32_t ids[256], pos[256];
    llmc_kv_cache *seq[256];
    bool want[256];
    int owner[256];
    float *lg = malloc(sizeof(float) * (size_t)V * 256);
    llmc_error err = {0};
    for (int step = 0; step < 10000; step++) {
        int n = 0;
        for (int i = 0; i < ns && n < budget; i++) /* decodes first */
            if (s[i].n_gen > 0 && s[i].fed == s[i].n_prompt + s[i].n_gen - 1 && s[i].n_gen < N_GEN) {
                ids[n] = s[i].gen[s[i].n_gen - 1]; pos[n] = s[i].fed; seq[n] = s[i].kv; want[n] = true; owner[n] = i; n++;
            }
        for (int i = 0; i < ns && n < budget; i++)
            if (s[i].fed < s[i].n_prompt) {
                int k = s[i].n_prompt - s[i].fed;
                if (k > chunk) k = chunk;
                if (k > budget - n) k = budget - n;
                for (int j = 0; j < k; j++) {
                    ids[n] = s[i].ids[s[i].fed + j]; pos[n] = s[i].fed + j; seq[n] = s[i].kv; owner[n] = i;
                    want[n] = s[i].fed + j == s[i].n_prompt - 1;
                    n++;
                }
            }
        if (n == 0) break;
        llmc_batch b = {n, ids, seq, pos, want, true, g_f32_tiles};
        llmc_status st = llmc_model_forward_batch(m, &b, lg, &err);
        CHECK_MSG(st == LLMC_OK, "forward_batch: %s", err.msg);
        if (st) break;
        int row = 0;
        for (int t = 0; t < n; t++) {
            seq_t *q = &s[owner[t]];
            q->fed++;
            if (!want[t]) continue;
            memcpy(q->logits + (size_t)q->n_gen * V, lg + (size_t)row * V, sizeof(float) * V);
            q->gen[q->n_gen++] = argmax(lg + (size_t)row * V, V);
            row++;
        }
    }
    free(lg);
}

static int ints(const cJSON *a, int32_t *out, int max) {
    int n = 0;
    for (const cJSON *x = a ? a->child : NULL; x && n < max; x = x->next) out[n++] = (int32_t)x->valuedouble;
    return n;
}

static void test_engine(llmc_model *m, const seq_t *alone, int nc, const llmc_tokenizer *tok);

static void test_smollm2_batch_invariance(void) {
    const char *path = test_smollm2_gguf();
    char rpath[1024];
    snprintf(rpath, sizeof rpath, "%s/tests/golden/pipeline/smollm2.json", test_env("LLMC_SOURCE_DIR", "."));
    llmc_error err = {0};
    cJSON *ref = llmc_json_parse_file(rpath, 1 << 24, &err);
    CHECK_MSG(ref != NULL, "%s", err.msg);
    if (!ref) return;
    /* as llmc serve opens it: quantized weights kept, on the CPU */
    llmc_pipeline_opts po;
    llmc_pipeline_opts_default(&po);
    po.model = path;
    po.device = "cpu";
    po.n_threads = 2;
    po.max_context = 512;
    llmc_pipeline *pl = NULL;
    CHECK_INT(llmc_pipeline_create(&po, &pl, &err), LLMC_OK);
    if (!pl) return;
    llmc_model *m = llmc_pipeline_model(pl);
    const llmc_config cfg = *llmc_model_config(m);
    const int V = cfg.vocab_size;
    const cJSON *convs = cJSON_GetObjectItem(ref, "conversations");
    int32_t golden[3][64];
    int n_golden[3], nc = 0;
    static seq_t alone[3], many[N_SEQ];
    for (const cJSON *c = convs->child; c && nc < 3; c = c->next, nc++) {
        alone[nc].n_prompt = ints(cJSON_GetObjectItem(c, "prompt_ids"), alone[nc].ids, 512);
        n_golden[nc] = ints(cJSON_GetObjectItem(c, "greedy_ids"), golden[nc], 64);
    }
    CHECK_INT(nc, 3);
    /* alone: one sequence per run, the whole prompt in one call */
    for (int i = 0; i < nc; i++) {
        alone[i].logits = malloc(sizeof(float) * (size_t)V * N_GEN);
        CHECK_INT(llmc_model_seq_new(m, 0, &alone[i].kv, &err), LLMC_OK);
        run_together(m, &alone[i], 1, 256, 256);
        int k = 0;
        while (k < N_GEN && k < n_golden[i] && alone[i].gen[k] == golden[i][k]) k++;
        CHECK_MSG(k == N_GEN, "conversation %d: greedy id %d differs from transformers' (%d vs %d)", i, k, alone[i].gen[k], golden[i][k]);
    }
    /* 16 together: the goldens at seats 0, 5, 10; the rest are other prompts (goldens cut short or
       extended), all prefilled in chunks of 7 under a 48-token step budget, so every golden prompt
       is split differently and shares its steps with other prefills and decodes. */
    for (int i = 0; i < N_SEQ; i++) {
        seq_t *q = &many[i];
        const seq_t *src = &alone[i % 3];
        q->n_prompt = i % 5 == 0 && i / 5 < 3 ? alone[i / 5].n_prompt : src->n_prompt - 3 - i;
        const seq_t *from = i % 5 == 0 && i / 5 < 3 ? &alone[i / 5] : src;
        if (q->n_prompt < 4) q->n_prompt = 4;
        memcpy(q->ids, from->ids, sizeof(int32_t) * (size_t)q->n_prompt);
        q->logits = malloc(sizeof(float) * (size_t)V * N_GEN);
        CHECK_INT(llmc_model_seq_new(m, 0, &q->kv, &err), LLMC_OK);
    }
    run_together(m, many, N_SEQ, 48, 7);
    for (int i = 0; i < 3; i++) {
        const seq_t *a = &alone[i], *b = &many[5 * i];
        CHECK_INT(b->n_gen, N_GEN);
        CHECK_MSG(memcmp(a->gen, b->gen, sizeof a->gen) == 0, "conversation %d: greedy reply differs alone vs among %d", i, N_SEQ);
        CHECK_MSG(memcmp(a->logits, b->logits, sizeof(float) * (size_t)V * N_GEN) == 0, "conversation %d: logits differ alone vs among %d", i,
                  N_SEQ);
    }
    /* the same with quantized weights as f32 tiles in every step (engine option f32_tiles) */
    g_f32_tiles = true;
    seq_t *all[3 + N_SEQ];
    for (int i = 0; i < 3; i++) all[i] = &alone[i];
    for (int i = 0; i < N_SEQ; i++) all[3 + i] = &many[i];
    for (int i = 0; i < 3 + N_SEQ; i++) {
        llmc_kv_cache_free(all[i]->kv);
        CHECK_INT(llmc_model_seq_new(m, 0, &all[i]->kv, &err), LLMC_OK);
        all[i]->fed = all[i]->n_gen = 0;
    }
    for (int i = 0; i < nc; i++) {
        run_together(m, &alone[i], 1, 256, 256);
        int k = 0;
        while (k < N_GEN && k < n_golden[i] && alone[i].gen[k] == golden[i][k]) k++;
        CHECK_MSG(k == N_GEN, "f32 tiles, conversation %d: greedy id %d differs from transformers'", i, k);
    }
    run_together(m, many, N_SEQ, 48, 7);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(memcmp(alone[i].logits, many[5 * i].logits, sizeof(float) * (size_t)V * N_GEN) == 0,
                  "f32 tiles, conversation %d: logits differ alone vs among %d", i, N_SEQ);
    g_f32_tiles = false;
    /* a sequence's cache holds its ids; a rewind (pos < len) recomputes from there */
    CHECK_INT(many[0].kv->len, many[0].n_prompt + N_GEN - 1);
    CHECK(memcmp(many[0].kv->ids, many[0].ids, sizeof(int32_t) * (size_t)many[0].n_prompt) == 0);
    /* bad batches are refused by name and change nothing */
    int32_t id = 1, p = 9999;
    llmc_kv_cache *sq = many[1].kv;
    int len0 = sq->len;
    llmc_batch bad = {1, &id, &sq, &p, NULL, true, false};
    CHECK_INT(llmc_model_forward_batch(m, &bad, NULL, &err), LLMC_ERR_RANGE);
    CHECK(strstr(err.msg, "position 9999") != NULL);
    id = V + 5; p = len0;
    CHECK_INT(llmc_model_forward_batch(m, &bad, NULL, &err), LLMC_ERR_RANGE);
    CHECK(strstr(err.msg, "vocabulary") != NULL);
    CHECK_INT(sq->len, len0);
    test_engine(m, alone, nc, llmc_pipeline_tokenizer(pl));
    for (int i = 0; i < N_SEQ; i++) { llmc_kv_cache_free(many[i].kv); free(many[i].logits); }
    for (int i = 0; i < 3; i++) { llmc_kv_cache_free(alone[i].kv); free(alone[i].logits); }
    llmc_pipeline_free(pl);
    cJSON_Delete(ref);
}


/* ---- (4) the engine ---- */
typedef struct {
    llmc_engine *e;
    const int32_t *prompt;
    int n, max_new, n_choices;
    volatile int cancel;
    int cancel_after;   /* > 0: the text callback stops it after this many pieces */
    int pieces;
    llmc_status st;
    llmc_error err;
    llmc_engine_result res;
} job_t;

static int job_text(void *user, int choice, const char *piece, size_t len) {
    (void)choice; (void)piece; (void)len;
    job_t *j = user;
    j->pieces++;
    return j->cancel_after > 0 && j->pieces >= j->cancel_after;
}

static void *job_run(void *arg) {
    job_t *j = arg;
    llmc_engine_params p;
    llmc_engine_params_default(&p);
    p.max_new_tokens = j->max_new;
    p.n_choices = j->n_choices;
    p.cancel = &j->cancel;
    p.on_text = job_text;
    p.user = j;
    static const int32_t eos[1] = {2};
    p.eos_ids = eos;
    p.n_eos = 1;
    j->st = llmc_engine_run(j->e, j->prompt, j->n, &p, &j->res, &j->err);
    return NULL;
}

/* The engine stops at eos (2); the lone run went on: the reply is its prefix up to there. */
static bool same_reply(const llmc_engine_choice *c, const seq_t *a) {
    int n = 0;
    while (n < N_GEN && (n == 0 || a->gen[n - 1] != 2)) n++;
    return c->n_ids == n && memcmp(c->ids, a->gen, sizeof(int32_t) * (size_t)n) == 0;
}

static void test_engine(llmc_model *m, const seq_t *alone, int nc, const llmc_tokenizer *tok) {
    llmc_engine_opts o = {0};
    o.max_seqs = 4;
    o.step_tokens = 40;
    o.prefix_cache_bytes = 64u << 20;
    llmc_engine *e = NULL;
    llmc_error err = {0};
    CHECK_INT(llmc_engine_new(m, tok, &o, &e, &err), LLMC_OK);
    if (!e) return;
    /* 12 callers at once on 4 sequences: 8 wait in the queue, every reply is the one alone */
    job_t jobs[12];
    pthread_t th[12];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 12; i++) {
        jobs[i] = (job_t){.e = e, .prompt = alone[i % nc].ids, .n = alone[i % nc].n_prompt, .max_new = N_GEN, .n_choices = 1};
        pthread_create(&th[i], NULL, job_run, &jobs[i]);
    }
    int max_queued = 0;
    for (int k = 0; k < 200; k++) { /* watch the queue while they run (bounded: 200 × 5 ms) */
        llmc_engine_stats es;
        llmc_engine_get_stats(e, &es);
        if (es.queued > max_queued) max_queued = es.queued;
        CHECK(es.running <= 4);
        if (es.requests_done >= 12) break;
        usleep(5000);
    }
    for (int i = 0; i < 12; i++) pthread_join(th[i], NULL);
    CHECK(max_queued > 0);
    for (int i = 0; i < 12; i++) {
        CHECK_MSG(jobs[i].st == LLMC_OK, "job %d: %s", i, jobs[i].err.msg);
        if (jobs[i].st) continue;
        const seq_t *a = &alone[i % nc];
        CHECK_MSG(same_reply(&jobs[i].res.choice[0], a), "job %d: the engine's reply differs from the one alone", i);
        llmc_engine_result_free(&jobs[i].res);
    }
    /* Which concurrent job found a prompt's blocks cached depends on thread timing; once every job
       is done, each prompt is: a new request for it skips at least one 32-token block. */
    for (int i = 0; i < nc; i++) {
        if (alone[i].n_prompt <= 32) continue;
        job_t again = {.e = e, .prompt = alone[i].ids, .n = alone[i].n_prompt, .max_new = N_GEN, .n_choices = 1};
        job_run(&again);
        CHECK_MSG(again.st == LLMC_OK, "prompt %d again: %s", i, again.err.msg);
        if (again.st) continue;
        CHECK_MSG(again.res.reused_tokens >= 32, "prompt %d again reused %d tokens", i, again.res.reused_tokens);
        CHECK_MSG(same_reply(&again.res.choice[0], &alone[i]), "prompt %d again: the reply differs", i);
        llmc_engine_result_free(&again.res);
    }
    llmc_engine_stats es;
    llmc_engine_get_stats(e, &es);
    CHECK_INT(es.running, 0);
    CHECK_INT(es.kv_used, 0);
    CHECK(es.prefix.blocks > 0);
    /* n = 3: one prefill, three greedy choices, all the reply alone */
    job_t j3 = {.e = e, .prompt = alone[1].ids, .n = alone[1].n_prompt, .max_new = N_GEN, .n_choices = 3};
    job_run(&j3);
    CHECK_MSG(j3.st == LLMC_OK, "n=3: %s", j3.err.msg);
    CHECK_INT(j3.res.n_choices, 3);
    for (int c = 0; c < 3 && j3.st == LLMC_OK; c++)
        CHECK_MSG(same_reply(&j3.res.choice[c], &alone[1]), "n=3 choice %d differs", c);
    llmc_engine_result_free(&j3.res);
    /* a caller that stops mid-stream (its callback) and one cancelled from outside: KV back at once */
    job_t jc = {.e = e, .prompt = alone[0].ids, .n = alone[0].n_prompt, .max_new = 200, .n_choices = 1, .cancel_after = 3};
    job_run(&jc);
    CHECK_INT(jc.st, LLMC_OK);
    CHECK_INT(jc.res.choice[0].stop, LLMC_STOP_CANCELLED);
    CHECK(jc.res.choice[0].n_ids <= 8);
    llmc_engine_result_free(&jc.res);
    job_t jx = {.e = e, .prompt = alone[2].ids, .n = alone[2].n_prompt, .max_new = 400, .n_choices = 1};
    pthread_t tx;
    pthread_create(&tx, NULL, job_run, &jx);
    for (int k = 0; k < 12000 && jx.pieces < 2; k++) usleep(5000); /* up to 60 s on a loaded machine */
    llmc_engine_get_stats(e, &es);
    CHECK_INT(es.running, 1);
    CHECK(es.kv_used > 0);
    jx.cancel = 1;
    pthread_join(tx, NULL);
    CHECK_INT(jx.st, LLMC_OK);
    CHECK_INT(jx.res.choice[0].stop, LLMC_STOP_CANCELLED);
    llmc_engine_result_free(&jx.res);
    llmc_engine_get_stats(e, &es);
    CHECK_INT(es.running, 0);
    CHECK_INT(es.kv_used, 0);
    llmc_engine_free(e);

    /* the KV budget: a request that can never fit is refused by name; one queue slot: busy */
    o = (llmc_engine_opts){.max_seqs = 1, .max_queue = -1, .kv_budget = 200 * llmc_model_pos_bytes(m)};
    CHECK_INT(llmc_engine_new(m, tok, &o, &e, &err), LLMC_OK); /* tok: the text callback counts pieces */
    if (!e) return;
    job_t big = {.e = e, .prompt = alone[1].ids, .n = alone[1].n_prompt, .max_new = 150, .n_choices = 1};
    job_run(&big);
    CHECK_INT(big.st, LLMC_ERR_NOMEM);
    CHECK_MSG(strstr(big.err.msg, "KV budget") != NULL, "%s", big.err.msg);
    job_t a = {.e = e, .prompt = alone[0].ids, .n = alone[0].n_prompt, .max_new = 150, .n_choices = 1};
    pthread_create(&tx, NULL, job_run, &a);
    for (int k = 0; k < 12000 && a.pieces < 1; k++) usleep(5000);
    job_t b = {.e = e, .prompt = alone[0].ids, .n = alone[0].n_prompt, .max_new = 4, .n_choices = 1};
    job_run(&b);
    CHECK_INT(b.st, LLMC_ERR_BUSY);
    CHECK_MSG(strstr(b.err.msg, "queue") != NULL, "%s", b.err.msg);
    a.cancel = 1;
    pthread_join(tx, NULL);
    llmc_engine_result_free(&a.res);
    llmc_engine_free(e);
}

int main(void) {
    test_matmul_invariant();
    test_attention_rows_invariant();
    test_smollm2_batch_invariance();
    return test_summary();
}
