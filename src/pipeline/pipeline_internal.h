/* Pipeline internals the CLI's lower-level commands (generate, logits, bench) share:
 * opening any MODEL (Hub id, directory, .gguf) the same way `llmc run` does. */
#ifndef LLMC_PIPELINE_INTERNAL_H
#define LLMC_PIPELINE_INTERNAL_H
#include "llmc.h"
#include "generate/gen_config.h"
#include "model/model.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

/* model_only: a directory without tokenizer files still opens (tokenizer NULL) — for the
 * id-level commands. */
llmc_status llmc_pipeline_create_ex(const llmc_pipeline_opts *o, bool model_only, llmc_pipeline **out, llmc_error *err);
llmc_model *llmc_pipeline_model(llmc_pipeline *p);
/* Detaches the model: the caller owns it; the pipeline is then only good for freeing. */
llmc_model *llmc_pipeline_take_model(llmc_pipeline *p);
const llmc_tokenizer *llmc_pipeline_tokenizer(const llmc_pipeline *p); /* NULL: none (model_only) */
const llmc_gen_config *llmc_pipeline_gen_config(const llmc_pipeline *p);
/* Parses "auto|bf16|f16|f32" → -1 or an llmc_dtype; false if unknown. */
bool llmc_parse_dtype(const char *s, int *out);

#endif
