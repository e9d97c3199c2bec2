/* llmc detokenize — placeholder until its module lands (owned by the module's issue). */
#include "cli.h"
int cmd_detokenize(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("'detokenize' is not available in this build yet");
}
