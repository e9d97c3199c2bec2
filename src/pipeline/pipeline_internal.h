/* Pipeline internals the CLI's lower-level commands (generate, logits, bench) share:
 * opening any MODEL (Hub id, directory, .gguf) the same way `llmc run` does. */
#ifndef LLMC_PIPELINE_INTERNAL_H
#define LLMC_PIPELINE_INTERNAL_H
#include "llmc.h"
#include "generate/gen_config.h"
#include "model/model.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

llmc_model *llmc_pipeline_model(llmc_pipeline *p);
const llmc_tokenizer *llmc_pipeline_tokenizer(const llmc_pipeline *p);
const llmc_gen_config *llmc_pipeline_gen_config(const llmc_pipeline *p);
/* Forget the cached prompt (the next call prefills from scratch). */
void llmc_pipeline_reset(llmc_pipeline *p);
/* Parses "auto|bf16|f16|f32" → -1 or an llmc_dtype; false if unknown. */
bool llmc_parse_dtype(const char *s, int *out);

#endif
