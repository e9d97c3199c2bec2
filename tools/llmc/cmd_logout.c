/* llmc logout — removes the stored Hub access token ($HF_HOME/token). */
#include "cli.h"
#include "hub/hub.h"
#include <stdio.h>
#include <stdlib.h>

int cmd_logout(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { printf("usage: llmc logout\n  Removes the token saved by `llmc login`.\n"); return 0; }
        return cli_fail("logout: unexpected argument '%s'", argv[i]);
    }
    llmc_error err = {0};
    if (llmc_hub_logout(NULL, &err) != LLMC_OK) return cli_error(&err);
    fprintf(stderr, "llmc: logged out (token removed)\n");
    if (getenv("HF_TOKEN") && *getenv("HF_TOKEN"))
        fprintf(stderr, "llmc: note: HF_TOKEN is still set in the environment\n");
    return 0;
}
