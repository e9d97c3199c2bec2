/* Next-token selection as transformers' generate() does it for one sequence:
 * logits processors in transformers' order (repetition penalty, then — only when
 * sampling — temperature, top-k, top-p, min-p), then argmax (greedy) or a draw
 * from the softmax (sampling) with a seedable PRNG of our own (xoshiro256**;
 * reproducible for a seed, not bit-identical to torch's RNG).
 * Defaults are GenerationConfig's global ones in transformers 5.23
 * (do_sample false, temperature 1, top_k 50, top_p 1, no min_p, penalty 1). */
#ifndef LLMC_GENERATE_SAMPLER_H
#define LLMC_GENERATE_SAMPLER_H
#include "llmc.h"
#include "backend/select.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool do_sample;            /* false: greedy (argmax after the repetition penalty) */
    float temperature;         /* 1 = off; 0 (or below) with do_sample = greedy */
    int top_k;                 /* 0 = off; ties with the k-th value are kept, as in torch */
    float top_p;               /* 1 = off */
    float min_p;               /* 0 = off */
    float repetition_penalty;  /* 1 = off; applied once per distinct id in history */
    uint64_t seed;
    bool has_seed;             /* false: seeded from the clock and address entropy */
    /* Optional constraint (constrained decoding, src/grammar): mask(user, logits, vocab) runs
       first and sets the ids it forbids to -inf (non-zero: nothing is allowed, the choice is -1);
       accept(user, id) is told the chosen id. With a mask the choice is made on the host
       (llmc_sampler_select_req asks a device for every logit). */
    int (*mask)(void *user, float *logits, int vocab);
    void (*accept)(void *user, int32_t id);
    void *mask_user;
} llmc_sampling;

void llmc_sampling_default(llmc_sampling *s);   /* greedy, transformers' defaults for the rest */

typedef struct llmc_sampler llmc_sampler;
/* Returns NULL only when out of memory. Values outside their ranges are clamped to
 * the nearest meaningful one (top_p/min_p to [0,1], negative top_k to 0, a
 * non-positive penalty to 1); validation with messages belongs to the callers
 * (CLI flags, generation_config.json). */
llmc_sampler *llmc_sampler_new(const llmc_sampling *s);
void llmc_sampler_free(llmc_sampler *s);
/* Reseeds the generator (what a fixed --seed does before each reply). */
void llmc_sampler_reseed(llmc_sampler *s, uint64_t seed);

/* logits (vocab floats) are modified in place into transformers' processed scores
 * (filtered ids at -inf); history = prompt + generated ids (for the repetition
 * penalty; ids outside [0, vocab) are ignored). Returns the chosen id, or -1 when
 * vocab <= 0 or no logit is a number. */
int32_t llmc_sampler_sample(llmc_sampler *s, float *logits, int vocab, const int32_t *history, int n_history);

/* What a device holding the logits may do first (backend/select.h): GREEDY when this
 * sampler is greedy; TOPK when it samples with 0 < top_k <= LLMC_SELECT_MAX_CAND and
 * top_k < vocab; else NONE (the host needs every logit). */
void llmc_sampler_select_req(const llmc_sampler *s, int vocab, llmc_select_req *r);
/* Finishes a TOPK choice: vals[0..n) are the device's candidates (ids ascending) after
 * penalty, temperature and top-k; runs top-p, min-p and the draw exactly as
 * llmc_sampler_sample would over the whole vocabulary. Returns an index into vals
 * (-1 when n <= 0 or no score is a number). */
int llmc_sampler_finish(llmc_sampler *s, float *vals, int n);

/* Only the processors (what transformers' logits_processor(input_ids, scores) returns),
 * no choice: for tests and for tools that show the distribution. */
void llmc_sampler_process(llmc_sampler *s, float *logits, int vocab, const int32_t *history, int n_history);

#endif
