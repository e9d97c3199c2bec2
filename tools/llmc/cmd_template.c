/* llmc template — placeholder until its module lands (owned by the module's issue). */
#include "cli.h"
int cmd_template(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("'template' is not available in this build yet");
}
