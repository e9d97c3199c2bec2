/* Shared CLI plumbing: command table, error printing, option parsing helpers. */
#ifndef LLMC_CLI_H
#define LLMC_CLI_H
#include "llmc.h"
#include <stdbool.h>
#include <stdint.h>

/* One subcommand: argv[0] is the subcommand name. Returns the process exit code. */
typedef int (*cli_cmd_fn)(int argc, char **argv);

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);

/* Prints "llmc: error: <msg>" to stderr; returns 1 (or 2 for usage errors). */
int cli_error(const llmc_error *err);
int cli_fail(const char *fmt, ...);          /* usage-style error, returns 2 */
/* stderr log sink; level threshold set by cli_set_verbose. */
void cli_install_logger(int verbosity);      /* 0: warnings, 1: info, 2: debug */
/* Ctrl-C sets the returned flag (for llmc_gen_params.cancel) instead of ending the
 * program; no SA_RESTART, so a blocking read at a prompt returns with EINTR. */
volatile int *cli_catch_sigint(void);
/* llmc_gen_params.on_text that writes each piece to stdout as it comes. */
int cli_stream_stdout(void *user, const char *piece, size_t len);

/* Option matching: if argv[*i] is `name` (followed by a value) or `name=value`,
 * stores the value, advances *i past it, and returns true. Missing value → *bad=true. */
bool cli_opt(int argc, char **argv, int *i, const char *name, const char **val, bool *bad);
bool cli_flag(char **argv, int i, const char *name);
bool cli_is_help(const char *a);
/* Parses "1,2,3" (spaces allowed) into a malloc'd array. */
bool cli_parse_ids(const char *s, int32_t **ids, int *n);
bool cli_parse_int(const char *s, long long lo, long long hi, long long *out);
bool cli_parse_double(const char *s, double *out);

#endif
