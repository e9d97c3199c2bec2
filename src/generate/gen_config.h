/* generation_config.json → decoding defaults (llmc_gen_config), read as transformers'
 * GenerationConfig reads it: do_sample, temperature, top_k, top_p, min_p,
 * repetition_penalty, max_new_tokens, max_length, eos_token_id (int or list),
 * bos_token_id, pad_token_id. null means "not set". Unknown keys are ignored (they
 * belong to other decoding modes or to Python-only features); a known key with a
 * wrong type or an out-of-range value is an error naming it. */
#ifndef LLMC_GENERATE_GEN_CONFIG_H
#define LLMC_GENERATE_GEN_CONFIG_H
#include "llmc.h"
#include "generate/sampler.h"
#include <stddef.h>

/* Which fields a generation_config.json set (transformers merges "set" values:
 * caller > model's generation_config > global defaults; the text-generation
 * pipeline adds its own defaults only for what neither set). */
enum {
    LLMC_GEN_SET_DO_SAMPLE = 1u << 0,
    LLMC_GEN_SET_TEMPERATURE = 1u << 1,
    LLMC_GEN_SET_TOP_K = 1u << 2,
    LLMC_GEN_SET_TOP_P = 1u << 3,
    LLMC_GEN_SET_MIN_P = 1u << 4,
    LLMC_GEN_SET_REPETITION_PENALTY = 1u << 5,
    LLMC_GEN_SET_MAX_NEW_TOKENS = 1u << 6,
    LLMC_GEN_SET_MAX_LENGTH = 1u << 7,
    LLMC_GEN_SET_EOS = 1u << 8,
    LLMC_GEN_SET_BOS = 1u << 9,
    LLMC_GEN_SET_PAD = 1u << 10,
};

#define LLMC_GEN_MAX_EOS 16

typedef struct {
    llmc_sampling sampling;
    int max_new_tokens;                 /* -1 unset */
    int max_length;                     /* -1 unset (prompt + new tokens, as in transformers) */
    int32_t eos_ids[LLMC_GEN_MAX_EOS];
    int n_eos;
    int32_t bos_id, pad_id;             /* -1 none */
    unsigned set;                       /* LLMC_GEN_SET_* bits of what a parse set */
} llmc_gen_config;

/* transformers' global defaults (llmc_sampling_default), lengths and ids unset. */
void llmc_gen_config_default(llmc_gen_config *g);
/* Reads path and applies what it sets on top of *g (fields it does not mention keep
 * their value: call llmc_gen_config_default first, then fill model-config ids, then load). */
llmc_status llmc_gen_config_load(const char *path, llmc_gen_config *g, llmc_error *err);
/* The same from text; `what` names the source in errors. */
llmc_status llmc_gen_config_parse(const char *json, size_t len, const char *what, llmc_gen_config *g, llmc_error *err);

/* What one generate() call uses, resolved as transformers 5.23 resolves it:
 *   call (fields with call->set bits: the caller's generate kwargs)
 *   > model (fields with model->set bits: its generation_config.json)
 *   > [pipeline: the text-generation pipeline's own defaults, each only where neither
 *      call nor model set it: max_new_tokens 256 (not when max_length is set),
 *      do_sample true, temperature 0.7 (temperature only when the result samples)]
 *   > GenerationConfig's global defaults (llmc_gen_config_default; max_length 20).
 * out->max_new_tokens is the new-token budget for a prompt of n_prompt tokens:
 * max_new_tokens when set, else max_length - n_prompt (a max_length left at its
 * global default 20 counts from the prompt end, capped by max_position_embeddings
 * when > 0), never below 1 (generate always produces one token); out->max_length =
 * n_prompt + budget. Ids (eos/bos/pad) come from call when set, else model.
 * call may be NULL (nothing set). out->set = model->set | call->set. */
void llmc_gen_config_resolve(const llmc_gen_config *model, const llmc_gen_config *call, bool pipeline, int n_prompt,
                             int max_position_embeddings, llmc_gen_config *out);

#endif
