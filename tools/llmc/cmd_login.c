/* llmc login — stores a Hub access token where huggingface_hub reads it ($HF_HOME/token, mode 0600).
 * The token comes from --token or stdin (not echoed on a terminal) and is never printed. */
#include "cli.h"
#include "hub/hub.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int cmd_login(int argc, char **argv) {
    const char *token = NULL, *val = NULL;
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (cli_is_help(argv[i])) {
            printf("usage: llmc login [--token T]\n  Stores the token in $HF_HOME/token (shared with huggingface_hub);\n"
                   "  without --token it is read from stdin (hidden on a terminal).\n");
            return 0;
        }
        if (cli_opt(argc, argv, &i, "--token", &val, &bad)) { if (bad) return 2; token = val; }
        else return cli_fail("login: unexpected argument '%s'", argv[i]);
    }
    char buf[4096];
    if (!token) {
        bool tty = isatty(STDIN_FILENO);
        struct termios old, quiet;
        if (tty) {
            fprintf(stderr, "Hugging Face access token (https://huggingface.co/settings/tokens): ");
            fflush(stderr);
            if (tcgetattr(STDIN_FILENO, &old) == 0) {
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
            } else tty = false;
        }
        char *got = fgets(buf, sizeof buf, stdin);
        if (tty) { tcsetattr(STDIN_FILENO, TCSAFLUSH, &old); fputc('\n', stderr); }
        if (!got) return cli_fail("login: no token given (use --token T or type it on stdin)");
        token = buf;
    }
    llmc_error err = {0};
    llmc_status st = llmc_hub_login(token, NULL, &err);
    memset(buf, 0, sizeof buf);
    if (st != LLMC_OK) return cli_error(&err);
    fprintf(stderr, "llmc: token saved; llmc and huggingface_hub will use it\n");
    if (getenv("HF_TOKEN") && *getenv("HF_TOKEN"))
        fprintf(stderr, "llmc: note: HF_TOKEN is set in the environment and takes precedence over the saved token\n");
    return 0;
}
