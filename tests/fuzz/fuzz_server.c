/* libFuzzer harness: the HTTP server's request parsers. Input: one byte choosing the endpoint
 * (even: /v1/chat/completions, odd: /v1/completions), then the request body. The parsed messages
 * and tools go through the JSON re-read the server does before applying a chat template. */
#include "fuzz_common.h"
#include "server/server.h"
#include "template/template.h"
#include <cjson/cJSON.h>

static void reread(const char *json) {
    if (!json) return;
    size_t n = strlen(json);
    cJSON *j = cJSON_ParseWithLength(json, n);
    if (j) {
        llmc_template_json_mark_floats(j, json, n);
        cJSON_Delete(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fz_tmpdir();
    llmc_gen_params defaults;
    llmc_gen_params_default(&defaults);
    llmc_server_request r;
    memset(&r, 0, sizeof r);
    llmc_error err;
    const char *body = (const char *)data + 1;
    llmc_status st = (data[0] & 1) ? llmc_server_parse_completion(body, size - 1, &defaults, &r, &err)
                                   : llmc_server_parse_chat(body, size - 1, &defaults, &r, &err);
    if (st == LLMC_OK) {
        reread(r.messages_json);
        reread(r.tools_json);
    }
    llmc_server_request_free(&r);
    return 0;
}
