/* libFuzzer harness: the HTTP server's request parsers. Input: one byte choosing the endpoint
 * (even: /v1/chat/completions, odd: /v1/completions) and the template's tool capabilities, then the
 * request body. The parsed messages and tools go through the JSON re-read the server does before
 * applying a chat template, the messages through the template preparation, and the body itself
 * stands for a model's reply: its tool calls parsed and streamed in pieces. */
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
        if (r.messages_json) {
            llmc_server_template_caps caps = {.tools = data[0] & 2, .tool_calls = data[0] & 4, .format = (data[0] >> 3) % 3};
            char *out = NULL;
            if (llmc_server_prepare_messages(&r, &caps, &out, &err) == LLMC_OK) reread(out);
            free(out);
        }
        char *reply = strndup(body, size - 1), *calls = NULL, *content = NULL;
        if (reply && llmc_server_tool_calls(&r, reply, &calls, &content, &err) == LLMC_OK) reread(calls);
        free(calls);
        free(content);
        llmc_server_tool_stream *t = reply ? llmc_server_tool_stream_new(&r) : NULL;
        llmc_server_delta_sink k = {0};
        size_t n = reply ? strlen(reply) : 0, step = 1 + (data[0] >> 5);
        for (size_t i = 0; t && i < n; i += step) llmc_server_tool_stream_push(t, reply + i, i + step < n ? step : n - i, false, &k);
        if (t) llmc_server_tool_stream_push(t, NULL, 0, true, &k);
        llmc_server_tool_stream_free(t);
        free(reply);
    }
    llmc_server_request_free(&r);
    return 0;
}
