/* llmc logits — placeholder until its module lands (owned by the module's issue). */
#include "cli.h"
int cmd_logits(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("'logits' is not available in this build yet");
}
