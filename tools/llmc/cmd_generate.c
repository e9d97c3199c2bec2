/* llmc generate — placeholder until its module lands (owned by the module's issue). */
#include "cli.h"
int cmd_generate(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("'generate' is not available in this build yet");
}
