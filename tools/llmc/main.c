/* llmc — command-line entry: dispatches to one file per subcommand. */
#include "cli.h"
#include <stdio.h>
#include <string.h>

static const struct { const char *name; cli_cmd_fn fn; const char *help; } g_cmds[] = {
    {"run", cmd_run, "one chat turn, reply streamed (MODEL [--system T] [PROMPT])"},
    {"chat", cmd_chat, "interactive multi-turn chat (MODEL [--system T])"},
    {"tokenize", cmd_tokenize, "text → JSON ids (SOURCE --text T | --file F [--no-special])"},
    {"detokenize", cmd_detokenize, "ids → text (SOURCE --ids 1,2,3 [--skip-special])"},
    {"template", cmd_template, "render the chat template (SOURCE [--messages F] [--vars F] ...)"},
    {"generate", cmd_generate, "JSON array of generated ids (MODEL --ids 1,2,3 -n N)"},
    {"logits", cmd_logits, "JSON logits per position (MODEL --ids 1,2,3)"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server (MODEL [--host H] [--port N])"},
    {"bench", cmd_bench, "prefill/decode speed (MODEL [-p 512] [-n 128] [-t N] [--json])"},
    {"download", cmd_download, "fetch a model from the Hub into the cache (ORG/NAME, ORG/NAME:QUANT)"},
    {"pull", cmd_download, "the same as download"},
    {"ls", cmd_ls, "list the cached models (repos, revisions, kind, size)"},
    {"rm", cmd_rm, "delete a cached model (ORG/NAME [--revision R])"},
    {"login", cmd_login, "store a Hub access token"},
    {"logout", cmd_logout, "remove the stored Hub access token"},
};

static void usage(FILE *f) {
    fprintf(f, "llmc %s — run Hugging Face LLMs from C\n\nusage: llmc <command> [options]\n\ncommands:\n", LLMC_VERSION);
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++) fprintf(f, "  %-11s %s\n", g_cmds[i].name, g_cmds[i].help);
    fprintf(f, "\n`llmc <command> --help` for a command's options.\n");
}

static int print_version(void) {
    llmc_build_info b;
    llmc_get_build_info(&b);
    printf("llmc %s (commit %s)\n", b.version, b.commit);
    printf("backends: cpu%s%s\n", b.cuda_built ? ", cuda" : "", b.http_server ? "; server: yes" : "; server: no (libmicrohttpd missing at build)");
    printf("cpu: %s kernels; features: %s\n", b.cpu_kernel, b.cpu_features[0] ? b.cpu_features : "none");
    printf("gpu: %s\n", b.gpu);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) { usage(stdout); return 0; }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) return print_version();
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        if (strcmp(argv[1], g_cmds[i].name) == 0) return g_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "llmc: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
