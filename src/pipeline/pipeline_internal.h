/* Pipeline internals the CLI's lower-level commands (generate, logits, bench) share:
 * opening any MODEL (Hub id, directory, .gguf) the same way `llmc run` does. */
#ifndef LLMC_PIPELINE_INTERNAL_H
#define LLMC_PIPELINE_INTERNAL_H
#include "llmc.h"
#include "generate/gen_config.h"
#include "model/model.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"
#include "generate/engine.h"

/* model_only: a directory without tokenizer files still opens (tokenizer NULL) — for the
 * id-level commands. */
llmc_status llmc_pipeline_create_ex(const llmc_pipeline_opts *o, bool model_only, llmc_pipeline **out, llmc_error *err);
llmc_model *llmc_pipeline_model(llmc_pipeline *p);
/* Detaches the model: the caller owns it; the pipeline is then only good for freeing. */
llmc_model *llmc_pipeline_take_model(llmc_pipeline *p);
const llmc_tokenizer *llmc_pipeline_tokenizer(const llmc_pipeline *p); /* NULL: none (model_only) */
/* The chat template; NULL when the model has none, and then *why (may be NULL) says why. */
const llmc_chat_template *llmc_pipeline_chat_template(const llmc_pipeline *p, llmc_error *why);
const llmc_gen_config *llmc_pipeline_gen_config(const llmc_pipeline *p);
/* The prompt ids a request renders to (malloc'd): text != NULL → as llmc_pipeline_complete
   encodes it; else the chat messages (JSON array) and tools (or NULL) through the template,
   as llmc_pipeline_chat_json does. Safe to call from several threads at once only under
   the caller's lock (the template engine is not re-entrant). */
llmc_status llmc_pipeline_prompt_ids(llmc_pipeline *p, const char *messages_json, const char *tools_json, const char *text, int32_t **ids,
                                     size_t *n, llmc_error *err);
/* g over the model's generation_config over the pipeline's defaults, as a call would resolve them. */
void llmc_pipeline_resolve_params(const llmc_pipeline *p, const llmc_gen_params *g, int n_prompt, llmc_sampling *s, int *max_new);
/* Where session.c keeps its engine state on p; free_fn (when non-NULL) is recorded and runs
   first in llmc_pipeline_free. */
void **llmc_pipeline_batch_slot(llmc_pipeline *p, void (*free_fn)(void *));
/* One engine request for p's model (session.c): with json_schema or grammar set, the sampler's mask
   hook keeps the reply in the grammar, and a grammar failure is the call's error (r is then freed).
   ep's other fields as the caller set them. */
llmc_status llmc_pipeline_engine_run(llmc_pipeline *p, llmc_engine *eng, const int32_t *ids, int n, llmc_engine_params *ep,
                                     const char *json_schema, const char *grammar, llmc_engine_result *r, llmc_error *err);
/* n turns generated together on p's engine (batching enabled with up to 16 parallel when it is
   off): turn i is the conversation messages_json[i] (a JSON array), or, when texts and texts[i]
   are non-NULL, the plain text texts[i] (messages_json[i] then ignored; may be NULL). replies[i]
   (malloc'd, NULL on failure), stats[i], status[i], errs[i] (each array may be NULL) get each
   outcome; returns LLMC_OK when all succeeded, else the first failure (err describes it). */
llmc_status llmc_pipeline_turns_batch(llmc_pipeline *p, int n, const char *const *messages_json, const char *const *texts,
                                      const llmc_gen_params *g, char **replies, llmc_gen_stats *stats, llmc_status *status,
                                      llmc_error *errs, llmc_error *err);
/* Parses "auto|bf16|f16|f32" → -1 or an llmc_dtype; false if unknown. */
bool llmc_parse_dtype(const char *s, int *out);

#endif
