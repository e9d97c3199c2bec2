/* llmc download — placeholder until its module lands (owned by the module's issue). */
#include "cli.h"
int cmd_download(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_fail("'download' is not available in this build yet");
}
