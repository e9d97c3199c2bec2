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
    bool cut_stop;                  /* text ends before the stop string, and on_text never sees text that
                                       may still become one (llmc_gen_params.cut_stop_strings) */
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

/* Shared with the multi-sequence engine (generate/engine.h): whether id is one of eos[0..n). */
bool llmc_generate_is_eos(const int32_t *eos, int n_eos, int32_t id);

/* Stop strings over a growing text (generate and the engine): one Knuth-Morris-Pratt matcher
 * per string, fed each new piece, so a match and the text that may still become one are known
 * in time linear in the text, whatever the strings are. */
typedef struct {
    int n;
    const char *const *stops;
    size_t *len;     /* each string's length */
    int *fail;       /* failure tables, one after another */
    size_t *fail_at; /* where each string's table begins */
    size_t *state;   /* bytes of each string matched at the end of the text so far */
    size_t fed;      /* bytes fed so far */
} llmc_stop_scan;
/* Empty strings are ignored. LLMC_ERR_NOMEM when out of memory. */
llmc_status llmc_stop_scan_init(llmc_stop_scan *s, const char *const *stops, int n, llmc_error *err);
void llmc_stop_scan_free(llmc_stop_scan *s);
/* Feeds the next bytes of the text. True when a stop string is complete now: *at = the offset
   (in the whole text fed) where the earliest-starting string among those completed begins. */
bool llmc_stop_scan_feed(llmc_stop_scan *s, const char *bytes, size_t n, size_t *at);
/* Bytes at the end of the text fed so far that are the start of some stop string (0..len-1):
   a stream holds them back until the next piece says whether the string completes. */
size_t llmc_stop_scan_pending(const llmc_stop_scan *s);
/* How much of text[0..len) a stream may show now: len minus the pending bytes, moved back to
   a UTF-8 character boundary. */
size_t llmc_stop_scan_safe(const llmc_stop_scan *s, const char *text, size_t len);

#endif
