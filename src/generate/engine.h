/* The multi-sequence engine: many conversations on one loaded model at once (continuous
 * batching). Callers on any threads submit a prompt and block until its reply is done
 * (llmc_engine_run); one scheduler thread owns the model and, step by step:
 *   1. admits waiting requests in arrival order while fewer than max_seqs sequences run
 *      and the KV budget holds their reservation (prompt + max_new_tokens positions);
 *      others wait in the queue (at most max_queue, beyond that LLMC_ERR_BUSY); a request
 *      that could never fit fails at once with an error naming the budget;
 *   2. drops cancelled sequences (their *cancel set, or their text callback returned
 *      non-zero), freeing their KV before the step;
 *   3. builds one batch under a token budget: one token for every decoding sequence first,
 *      then prompt chunks (so a long prompt never stalls the running streams);
 *   4. runs it (llmc_model_forward_batch, batch-invariant: a reply does not depend on what
 *      else ran beside it), samples each finished row, streams text, applies stop rules.
 * Prompts that begin with blocks held in the prefix cache (model/prefix_cache.h) load
 * them instead of prefilling; every finished sequence offers its blocks to the cache.
 * n_choices > 1 (OpenAI's n): the prompt is prefilled once and its KV copied to each
 * choice, which then samples on its own (seed + choice index when seeded). */
#ifndef LLMC_GENERATE_ENGINE_H
#define LLMC_GENERATE_ENGINE_H
#include "llmc.h"
#include "generate/sampler.h"
#include "model/model.h"
#include "model/prefix_cache.h"
#include "tokenizer/tokenizer.h"

#define LLMC_ENGINE_MAX_SEQS 64
#define LLMC_ENGINE_MAX_CHOICES 16

typedef struct {
    int max_seqs;              /* sequences decoded together; 0 → 4 (at most LLMC_ENGINE_MAX_SEQS) */
    int step_tokens;           /* tokens per step; 0 → 64 (at most llmc_model_max_batch()) */
    int max_queue;             /* requests waiting beyond max_seqs; 0 → 128, -1 → none may wait */
    size_t kv_budget;          /* bytes of KV reserved by running sequences; 0 → LLMC_MODEL_KV_BUDGET */
    size_t prefix_cache_bytes; /* 0 → no prefix cache */
    int prefix_block;          /* tokens per cached block; 0 → LLMC_PREFIX_BLOCK_DEFAULT */
    bool f32_tiles;            /* quantized weights as f32 tiles in every step (llmc_batch.f32_tiles):
                                  exact f32 math, more tokens/s from ~8 sequences, slower alone */
} llmc_engine_opts;

typedef struct llmc_engine llmc_engine;

/* m (which must outlive the engine and not be used by anyone else meanwhile) must be able to
   batch (llmc_model_can_batch). tok (may be NULL: ids only) decodes text and stop strings. */
llmc_status llmc_engine_new(llmc_model *m, const llmc_tokenizer *tok, const llmc_engine_opts *o, llmc_engine **out, llmc_error *err);
/* Stops the scheduler: running and waiting requests end (LLMC_STOP_CANCELLED / LLMC_ERR_CANCELLED),
   later llmc_engine_run calls return LLMC_ERR_CANCELLED at once. Idempotent; the engine stays
   valid until llmc_engine_free (which stops it first). */
void llmc_engine_stop(llmc_engine *e);
void llmc_engine_free(llmc_engine *e);

/* Text callback: piece of choice `choice`. Called on the scheduler thread; return non-zero to
   stop that choice (reason cancelled). Must not block for long: every stream waits on it. */
typedef int (*llmc_engine_text_fn)(void *user, int choice, const char *piece, size_t len);

typedef struct {
    llmc_sampling sampling;
    int max_new_tokens;        /* < 0 → 256; bounded by the context */
    const int32_t *eos_ids; int n_eos;
    const char *const *stop_strings; int n_stop_strings;
    int n_choices;             /* 0 or 1 → one; at most LLMC_ENGINE_MAX_CHOICES and max_seqs */
    llmc_engine_text_fn on_text; void *user;
    volatile int *cancel;      /* polled every step; non-zero ends the request (queued or running) */
    bool cut_stop;             /* a choice's text ends before its stop string, and on_text never gets
                                  text that may still become one (OpenAI's stop) */
} llmc_engine_params;

typedef struct {
    int32_t *ids; int n_ids;   /* generated ids (eos included when it stopped there) */
    char *text;                /* decoded reply (special tokens skipped), NULL without a tokenizer */
    llmc_stop_reason stop;
} llmc_engine_choice;

typedef struct {
    int n_choices;
    llmc_engine_choice choice[LLMC_ENGINE_MAX_CHOICES];
    int prompt_tokens, reused_tokens;  /* reused: loaded from the prefix cache */
    double queue_ms;                   /* waiting for admission */
    double ttft_ms;                    /* submission to the first token */
    double prefill_tokens_per_s, decode_tokens_per_s;
} llmc_engine_result;

/* Generates for prompt[0..n) (copied; params and its arrays must stay valid until it returns)
   and blocks until every choice is done. Thread-safe. Errors: LLMC_ERR_BUSY (queue full),
   LLMC_ERR_NOMEM (the KV budget can never hold it; the message names the budget),
   LLMC_ERR_RANGE (prompt past the context), LLMC_ERR_CANCELLED (cancelled while waiting, or
   the engine stopped). On success free res with llmc_engine_result_free. */
llmc_status llmc_engine_run(llmc_engine *e, const int32_t *prompt, int n, const llmc_engine_params *params, llmc_engine_result *res,
                            llmc_error *err);
void llmc_engine_result_free(llmc_engine_result *r);
/* Whether a request submitted now would be taken (run or queued) rather than refused busy;
   a hint (another caller may take the room first). */
bool llmc_engine_has_room(llmc_engine *e);
void llmc_engine_params_default(llmc_engine_params *p);

typedef struct {
    int running, queued, max_seqs, max_queue;
    size_t kv_used, kv_budget;
    long long steps, tokens_prefilled, tokens_generated, requests_done, requests_rejected;
    llmc_prefix_cache_stats prefix;
} llmc_engine_stats;
void llmc_engine_get_stats(llmc_engine *e, llmc_engine_stats *out);

#endif
