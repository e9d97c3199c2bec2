/* Options every model-running command shares (run, chat, generate, logits, bench), with the same
 * short flags everywhere: model loading (--dtype, --device, -t/--threads, --token, --revision,
 * -c/--max-context) and generation (-n/--max-new-tokens, --greedy, --temperature, --top-p,
 * --top-k, --min-p, --repetition-penalty, -s/--seed, --stop, --ignore-eos). A bad value's
 * message names the valid range. */
#ifndef LLMC_CLI_MODEL_ARGS_H
#define LLMC_CLI_MODEL_ARGS_H
#include "llmc.h"
#include "generate/sampler.h"
#include <stdio.h>

typedef struct {
    llmc_pipeline_opts pipe;
    llmc_gen_params gen;
    const char *stops[16];
    int verbose;
    bool greedy_flag;                       /* --greedy was given */
    const char *sampling_flag, *sampling_value; /* the first sampling flag given (for the --greedy warning) */
} cli_model_args;

void cli_model_args_init(cli_model_args *a);
/* If argv[*i] is a shared option, consumes it (and its value) and returns 1; returns 0 when it is
 * not one of ours; -1 on a bad value (message printed). */
int cli_model_args_parse(cli_model_args *a, int argc, char **argv, int *i);
void cli_model_args_help(FILE *f, bool with_generation);
/* The same, naming the command's own default for -n (NULL: the model's). */
void cli_model_args_help_ex(FILE *f, bool with_generation, const char *max_new_default);
/* Creates the pipeline with a loading notice on a terminal; prints the error and returns NULL on
 * failure. model_only: for id-level commands, a checkpoint without tokenizer files is fine. */
llmc_pipeline *cli_open_pipeline(cli_model_args *a, bool model_only);
/* The sampling a generate call uses from the flags alone: greedy unless sampling flags were
 * given, transformers' global defaults for the rest (as model.generate without a generation_config). */
void cli_sampling_from_flags(const cli_model_args *a, llmc_sampling *s);

#endif
