/* The decoding loop: prefill the prompt (reusing a cached prefix), then sample token by
 * token until an eos id, a stop string, the token budget, the context end or a cancel. */
#ifndef LLMC_GENERATE_GENERATE_H
#define LLMC_GENERATE_GENERATE_H
#include "llmc.h"
#include "generate/sampler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    llmc_sampling sampling;
    int max_new_tokens;
    const int32_t *eos_ids; int n_eos;
    const char *const *stop_strings; int n_stop_strings;
    const llmc_tokenizer *tok;      /* for streaming text and stop strings; NULL: ids only */
    llmc_text_fn on_text; void *on_text_user;
    volatile int *cancel;
} llmc_generate_opts;

typedef struct {
    int32_t *ids;                   /* generated ids (malloc'd), eos included when it stopped there */
    int n_ids;
    int n_forwarded;                /* tokens now in the KV cache: n_cached..n_prompt + fed generated ids */
    char *text;                     /* decoded reply (skip special tokens), when tok was given */
    llmc_stop_reason stop;
    double ttft_ms, prefill_tokens_per_s, decode_tokens_per_s;
} llmc_generate_result;

/* n_cached: how many leading prompt tokens are already in the model's KV cache (0..n_prompt-1). */
llmc_status llmc_generate(llmc_model *m, const int32_t *prompt, int n_prompt, int n_cached,
                          const llmc_generate_opts *o, llmc_generate_result *res, llmc_error *err);
void llmc_generate_result_free(llmc_generate_result *r);

/* Shared with the multi-sequence engine (generate/engine.h): whether id is one of eos[0..n);
   whether one of stops ends inside the last piece_len bytes of text[0..len). */
bool llmc_generate_is_eos(const int32_t *eos, int n_eos, int32_t id);
bool llmc_generate_hit_stop(const char *const *stops, int n_stops, const char *text, size_t len, size_t piece_len);

#endif
