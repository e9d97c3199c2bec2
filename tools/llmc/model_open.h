/* Model flags (--dtype, --device, --threads, --ctx) and MODEL → llmc_model for commands
 * that need a bare model (bench). generate/logits/run/chat use model_args.h. */
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

#endif
