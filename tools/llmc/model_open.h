/* Shared by `generate`, `logits` (and later `bench`): the model flags
 * (--dtype, --device, --threads, --ctx) and the one place that turns MODEL into a
 * loaded llmc_model, so GGUF files and Hub ids can be wired in here alone. */
#ifndef LLMC_CLI_MODEL_OPEN_H
#define LLMC_CLI_MODEL_OPEN_H
#include "llmc.h"
#include "model/model.h"

typedef struct {
    llmc_model_opts opts;
    const char *device; /* "auto" unless given */
} cli_model_flags;

void cli_model_flags_init(cli_model_flags *f);
/* If argv[*i] is one of the model flags, consumes it (and its value) and returns 1;
 * returns -1 on a bad value (message printed), 0 when it is not a model flag. */
int cli_model_flag(int argc, char **argv, int *i, cli_model_flags *f);
/* Help text lines for the model flags. */
extern const char cli_model_flags_help[];
/* Opens MODEL: a model directory or a .gguf file (Hub ids: wired by the pipeline). */
llmc_status cli_open_model(const char *model, const cli_model_flags *f, llmc_model **out, llmc_error *err);
/* End-of-sequence ids for generation: generation_config.json's eos_token_id if the
 * directory has one, else the config's. Returns the count (<= max). */
int cli_model_eos(const char *model, const llmc_model *m, int32_t *eos, int max);

#endif
