/* llmc logout — placeholder until its module lands (owned by the module's issue). */
#include "cli.h"
int cmd_logout(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("'logout' is not available in this build yet");
}
