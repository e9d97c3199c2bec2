/* llmc login — placeholder until its module lands (owned by the module's issue). */
#include "cli.h"
int cmd_login(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("'login' is not available in this build yet");
}
