/* The server's request parsing (OpenAI chat-completions bodies → generation settings):
 * fields map as OpenAI clients mean them, unset ones stay unset, content parts join,
 * and every bad or unsupported field is refused with a message naming it; response_format,
 * grammar, tools and tool_choice; messages made ready for a template; tool calls out of a
 * reply and streamed as deltas; stop strings matched over a growing text (what the engine and
 * the generation loop hold back), and the same cut on the real model through both paths; the
 * Prometheus text of /metrics. The HTTP side runs in tests/e2e/serve_smollm2.sh. Without
 * libmicrohttpd, starting says why. */
#include "test.h"
#include "server/server.h"
#include "generate/generate.h"
#include "grammar/toolcall.h"
#include "base/error.h"
#include "base/json.h"
#include "base/strbuf.h"

static llmc_status parse(const char *body, const llmc_gen_params *def, llmc_server_request *r, llmc_error *err) {
    return llmc_server_parse_chat(body, strlen(body), def, r, err);
}

static void expect_err(const char *body, llmc_status code, const char *needle, int line) {
    llmc_server_request r;
    llmc_error err = {0};
    llmc_status st = parse(body, NULL, &r, &err);
    CHECK_MSG(st == code, "line %d: status %d (%s), expected %d", line, (int)st, err.msg, (int)code);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "line %d: '%s' lacks '%s'", line, err.msg, needle);
    CHECK_MSG(r.messages_json == NULL && r.n_stops == 0, "line %d: nothing is left allocated on failure", line);
}
#define EXPECT_ERR(b, c, n) expect_err(b, c, n, __LINE__)

static void test_fields(void) {
    llmc_server_request r;
    llmc_error err = {0};
    CHECK_INT(parse("{\"model\":\"x\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"안녕\"}]}", NULL, &r,
                    &err), LLMC_OK);
    /* nothing set: the model's generation_config decides */
    CHECK(r.g.max_new_tokens == -1 && r.g.do_sample == -1 && r.g.temperature < 0 && r.g.top_p < 0 && r.g.top_k < 0 && !r.g.has_seed);
    CHECK(!r.stream && !r.include_usage && !r.tools_json && r.g.n_stop_strings == 0);
    CHECK_STR(r.messages_json, "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"안녕\"}]");
    llmc_server_request_free(&r);

    CHECK_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],"
                    "\"max_tokens\":7,\"max_completion_tokens\":9,\"temperature\":0.6,\"top_p\":0.9,\"top_k\":20,\"min_p\":0.05,"
                    "\"repetition_penalty\":1.1,\"seed\":42,\"stop\":[\"\\n\\n\",\"END\"],\"stream\":true,"
                    "\"stream_options\":{\"include_usage\":true},\"presence_penalty\":0,\"n\":1,"
                    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                    "\"response_format\":{\"type\":\"text\"},\"user\":\"ignored\"}", NULL, &r, &err), LLMC_OK);
    CHECK_STR(r.messages_json, "[{\"role\":\"user\",\"content\":\"a\\nb\"}]");
    CHECK_INT(r.g.max_new_tokens, 9); /* max_completion_tokens wins, as OpenAI's newer name */
    CHECK(r.g.do_sample == 1 && r.g.temperature == 0.6f && r.g.top_p == 0.9f && r.g.top_k == 20 && r.g.min_p == 0.05f);
    CHECK(r.g.repetition_penalty == 1.1f && r.g.has_seed && r.g.seed == 42);
    CHECK(r.g.n_stop_strings == 2 && !strcmp(r.g.stop_strings[0], "\n\n") && !strcmp(r.g.stop_strings[1], "END"));
    CHECK(r.stream && r.include_usage && r.tools_json && !strcmp(r.tools_json, "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"));
    CHECK(r.n_tools == 1 && !strcmp(r.tool_names[0], "f") && r.tool_choice == LLMC_TOOL_CHOICE_AUTO && r.parallel_tool_calls);
    CHECK(r.g.cut_stop_strings && !r.g.json_schema && !r.g.grammar && !r.model);
    llmc_server_request_free(&r);

    /* temperature 0 is greedy, and stays greedy whatever top_p says */
    CHECK_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":0,\"top_p\":0.5,\"stop\":\"###\"}", NULL, &r, &err),
              LLMC_OK);
    CHECK(r.g.do_sample == 0 && r.g.n_stop_strings == 1 && !strcmp(r.g.stop_strings[0], "###"));
    llmc_server_request_free(&r);
    /* top_p alone samples; content null and extra message fields pass through */
    CHECK_INT(parse("{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}],\"top_p\":0.5}", NULL, &r, &err), LLMC_OK);
    CHECK(r.g.do_sample == 1 && r.g.top_p == 0.5f && strstr(r.messages_json, "\"tool_calls\":[]"));
    llmc_server_request_free(&r);

    /* server defaults (llmc serve's flags) fill what a request leaves unset */
    llmc_gen_params def;
    llmc_gen_params_default(&def);
    def.max_new_tokens = 64;
    def.do_sample = 0;
    static const char *const stops[] = {"STOP"};
    def.stop_strings = stops;
    def.n_stop_strings = 1;
    CHECK_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &def, &r, &err), LLMC_OK);
    CHECK(r.g.max_new_tokens == 64 && r.g.do_sample == 0 && r.g.n_stop_strings == 1 && r.g.stop_strings == stops);
    llmc_server_request_free(&r);
    CHECK_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":3,\"stop\":\"Z\"}", &def, &r, &err), LLMC_OK);
    CHECK(r.g.max_new_tokens == 3 && r.g.n_stop_strings == 1 && !strcmp(r.g.stop_strings[0], "Z"));
    llmc_server_request_free(&r);
}

static void test_completion(void) {
    llmc_server_request r;
    llmc_error err = {0};
    const char *full = "{\"prompt\":\"Once upon\",\"max_tokens\":5,\"echo\":true,\"temperature\":0,\"stream\":true}";
    CHECK_INT(llmc_server_parse_completion(full, strlen(full), NULL, &r, &err), LLMC_OK);
    CHECK(r.prompt && !strcmp(r.prompt, "Once upon") && r.echo && r.stream && r.g.max_new_tokens == 5 && r.g.do_sample == 0 && !r.messages_json);
    llmc_server_request_free(&r);
    const char *one = "{\"prompt\":[\"x\"],\"logprobs\":null,\"best_of\":1}";
    CHECK_INT(llmc_server_parse_completion(one, strlen(one), NULL, &r, &err), LLMC_OK);
    CHECK(r.prompt && !strcmp(r.prompt, "x") && !r.echo);
    llmc_server_request_free(&r);
    const struct { const char *body; llmc_status code; const char *needle; } bad[] = {
        {"{}", LLMC_ERR_FORMAT, "'prompt'"},
        {"{\"prompt\":7}", LLMC_ERR_FORMAT, "'prompt'"},
        {"{\"prompt\":[\"a\",\"b\"]}", LLMC_ERR_UNSUPPORTED, "batches"},
        {"{\"prompt\":[1,2,3]}", LLMC_ERR_UNSUPPORTED, "token lists"},
        {"{\"prompt\":\"x\",\"suffix\":\"y\"}", LLMC_ERR_UNSUPPORTED, "suffix"},
        {"{\"prompt\":\"x\",\"best_of\":3}", LLMC_ERR_UNSUPPORTED, "best_of"},
        {"{\"prompt\":\"x\",\"logprobs\":5}", LLMC_ERR_UNSUPPORTED, "logprobs"},
        {"{\"prompt\":\"x\",\"echo\":\"yes\"}", LLMC_ERR_FORMAT, "'echo'"},
        {"{\"prompt\":\"x\",\"top_p\":2}", LLMC_ERR_FORMAT, "'top_p'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        llmc_status st = llmc_server_parse_completion(bad[i].body, strlen(bad[i].body), NULL, &r, &err);
        CHECK_MSG(st == bad[i].code && strstr(err.msg, bad[i].needle) && !r.prompt, "%s → %d %s", bad[i].body, (int)st, err.msg);
    }
}

static void test_refusals(void) {
    EXPECT_ERR("{\"messages\":[", LLMC_ERR_FORMAT, "line 1, column");
    EXPECT_ERR("[1,2]", LLMC_ERR_FORMAT, "JSON object");
    EXPECT_ERR("{}", LLMC_ERR_FORMAT, "'messages'");
    EXPECT_ERR("{\"messages\":[]}", LLMC_ERR_FORMAT, "'messages'");
    EXPECT_ERR("{\"messages\":[{\"content\":\"x\"}]}", LLMC_ERR_FORMAT, "messages[0]");
    EXPECT_ERR("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"user\",\"content\":5}]}", LLMC_ERR_FORMAT, "messages[1].content");
    EXPECT_ERR("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", LLMC_ERR_UNSUPPORTED, "image_url");
    EXPECT_ERR("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", LLMC_ERR_FORMAT, "messages[0].content[0]");
    const char *M = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],";
    char b[512];
#define BAD(field, code, needle)                  \
    snprintf(b, sizeof b, "%s%s}", M, field); \
    EXPECT_ERR(b, code, needle)
    BAD("\"max_tokens\":0", LLMC_ERR_FORMAT, "'max_tokens'");
    BAD("\"max_tokens\":1.5", LLMC_ERR_FORMAT, "'max_tokens'");
    BAD("\"max_tokens\":\"9\"", LLMC_ERR_FORMAT, "'max_tokens'");
    BAD("\"temperature\":-1", LLMC_ERR_FORMAT, "'temperature'");
    BAD("\"top_p\":1.5", LLMC_ERR_FORMAT, "'top_p'");
    BAD("\"top_k\":-2", LLMC_ERR_FORMAT, "'top_k'");
    BAD("\"seed\":\"x\"", LLMC_ERR_FORMAT, "'seed'");
    BAD("\"stream\":1", LLMC_ERR_FORMAT, "'stream'");
    BAD("\"stop\":\"\"", LLMC_ERR_FORMAT, "'stop'");
    BAD("\"stop\":[\"a\",3]", LLMC_ERR_FORMAT, "'stop'");
    BAD("\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]", LLMC_ERR_FORMAT,
        "more than 16");
    BAD("\"tools\":{}", LLMC_ERR_FORMAT, "'tools'");
    BAD("\"n\":17", LLMC_ERR_FORMAT, "'n'");
    BAD("\"n\":0", LLMC_ERR_FORMAT, "'n'");
    BAD("\"frequency_penalty\":0.5", LLMC_ERR_UNSUPPORTED, "frequency_penalty");
    BAD("\"logprobs\":true", LLMC_ERR_UNSUPPORTED, "logprobs");
    BAD("\"response_format\":{\"type\":\"xml\"}", LLMC_ERR_UNSUPPORTED, "response_format type 'xml'");
    BAD("\"response_format\":\"json\"", LLMC_ERR_FORMAT, "'response_format'");
    BAD("\"response_format\":{\"type\":\"json_schema\"}", LLMC_ERR_FORMAT, "'response_format.json_schema'");
    BAD("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\"}}", LLMC_ERR_FORMAT, "'response_format.json_schema'");
    BAD("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":1,\"schema\":{}}}", LLMC_ERR_FORMAT, "'name'");
    /* an invalid or unsupported schema: 400 naming the schema path */
    BAD("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\",\"schema\":"
        "{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"int\"}}}}}",
        LLMC_ERR_UNSUPPORTED, "$.properties.age.type");
    BAD("\"grammar\":5", LLMC_ERR_FORMAT, "'grammar'");
    BAD("\"grammar\":\"root ::= undefined_rule\"", LLMC_ERR_FORMAT, "undefined_rule");
    BAD("\"grammar\":\"root ::= \\\"a\\\"\",\"response_format\":{\"type\":\"json_object\"}", LLMC_ERR_FORMAT, "not both");
    BAD("\"response_format\":{\"type\":\"json_object\"},\"n\":2", LLMC_ERR_UNSUPPORTED, "'n' > 1");
    BAD("\"model\":5", LLMC_ERR_FORMAT, "'model'");
    /* tools and tool_choice */
    BAD("\"tools\":[{\"type\":\"function\"}]", LLMC_ERR_FORMAT, "tools[0]");
    BAD("\"tools\":[{\"type\":\"retrieval\",\"function\":{\"name\":\"f\"}}]", LLMC_ERR_FORMAT, "tools[0]");
    BAD("\"tools\":[{\"function\":{\"name\":\"f\"}},{\"function\":{\"name\":\"bad name\"}}]", LLMC_ERR_FORMAT, "tools[1].function.name");
    BAD("\"tools\":[{\"function\":{\"name\":\"f\",\"parameters\":[]}}]", LLMC_ERR_FORMAT, "tools[0].function.parameters");
    BAD("\"tools\":[{\"function\":{\"name\":\"f\"}},{\"function\":{\"name\":\"f\"}}]", LLMC_ERR_FORMAT, "a second function named 'f'");
    BAD("\"tool_choice\":\"required\"", LLMC_ERR_FORMAT, "needs 'tools'");
    BAD("\"tool_choice\":\"always\"", LLMC_ERR_FORMAT, "'tool_choice'");
    BAD("\"tool_choice\":{\"type\":\"function\"}", LLMC_ERR_FORMAT, "'tool_choice'");
    BAD("\"tools\":[{\"function\":{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}",
        LLMC_ERR_FORMAT, "'g', which is not in 'tools'");
    BAD("\"tools\":[{\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"}",
        LLMC_ERR_FORMAT, "constrains the reply");
    BAD("\"tools\":[{\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"required\",\"n\":3", LLMC_ERR_UNSUPPORTED, "'n' > 1");
    BAD("\"parallel_tool_calls\":\"yes\"", LLMC_ERR_FORMAT, "'parallel_tool_calls'");
#undef BAD
    /* messages: roles, the content each needs, tool fields */
    EXPECT_ERR("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"user\"}]}", LLMC_ERR_FORMAT,
               "request body: messages[1]: 'content' is required");
    EXPECT_ERR("{\"messages\":[{\"role\":\"system\",\"content\":null}]}", LLMC_ERR_FORMAT, "messages[0]: 'content' is required");
    EXPECT_ERR("{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", LLMC_ERR_FORMAT, "role 'wizard' is not one of");
    EXPECT_ERR("{\"messages\":[{\"role\":\"tool\",\"content\":\"21\"}]}", LLMC_ERR_FORMAT, "'tool_call_id'");
    EXPECT_ERR("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]}", LLMC_ERR_FORMAT, "only an assistant");
    EXPECT_ERR("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}", LLMC_ERR_FORMAT, "messages[0].tool_calls");
    EXPECT_ERR("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{}}]}]}", LLMC_ERR_FORMAT, "messages[0].tool_calls[0]");
    EXPECT_ERR("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{oops\"}}]}]}",
               LLMC_ERR_FORMAT, "messages[0].tool_calls[0].function.arguments");
    EXPECT_ERR("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"name\":3}]}", LLMC_ERR_FORMAT, "messages[0].name");
}

static void test_start(void) {
    llmc_server *s = NULL;
    llmc_error err = {0};
    llmc_server_opts o;
    memset(&o, 0, sizeof o);
    if (!llmc_server_built()) {
        CHECK(llmc_server_start((llmc_pipeline *)&o, &o, &s, &err) == LLMC_ERR_UNSUPPORTED && !s && strstr(err.msg, "libmicrohttpd"));
        fprintf(stderr, "note: built without libmicrohttpd: the HTTP server is left out\n");
        return;
    }
    o.port = 70000;
    CHECK(llmc_server_start((llmc_pipeline *)&o, &o, &s, &err) == LLMC_ERR_INVALID_ARG && !s);
    /* A port in use is an error naming it (no request arrives, so the pipeline is not touched). */
    o.port = 0;
    CHECK_MSG(llmc_server_start((llmc_pipeline *)&o, &o, &s, &err) == LLMC_OK && s && llmc_server_port(s) > 0, "%s", err.msg);
    llmc_server *t = NULL;
    llmc_server_opts o2 = o;
    o2.port = llmc_server_port(s);
    char want[32];
    snprintf(want, sizeof want, ":%d", o2.port);
    CHECK_MSG(llmc_server_start((llmc_pipeline *)&o, &o2, &t, &err) == LLMC_ERR_IO && !t && strstr(err.msg, want), "%s", err.msg);
    llmc_server_stop(s);
    llmc_server_stop(NULL);
}

/* Hostile bodies: truncations and byte flips of a full request parse or fail cleanly
   (the ASan build runs this too), and a failure frees everything. */
static void test_mutations(void) {
    const char *base = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\uC548\ub155 a\\n\"}]},"
                       "{\"role\":\"assistant\",\"content\":null}],\"max_tokens\":7,\"temperature\":0.5,\"top_k\":3,\"stop\":[\"x\",\"y\"],"
                       "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"tools\":[{\"type\":\"function\",\"function\":"
                       "{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"}}}}}],"
                       "\"tool_choice\":\"auto\",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":"
                       "{\"type\":\"object\",\"properties\":{\"k\":{\"enum\":[1.0,\"b\"]}}}}},\"seed\":1}";
    size_t n = strlen(base);
    char *buf = malloc(n + 1);
    uint64_t rs = 99;
    int ok = 0, bad = 0;
    for (int it = 0; it < 4000; it++) {
        memcpy(buf, base, n + 1);
        size_t len = n;
        rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
        if (it % 3 == 0) len = (size_t)(rs >> 33) % (n + 1); /* truncated */
        else
            for (int f = 0; f < 1 + it % 4; f++) {
                rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[(rs >> 33) % n] = (char)(rs >> 17);
            }
        llmc_server_request r;
        llmc_error err = {0};
        if (llmc_server_parse_chat(buf, len, NULL, &r, &err) == LLMC_OK) {
            ok++;
            CHECK(r.messages_json != NULL);
            llmc_server_template_caps caps = {.tools = it & 1, .tool_calls = it & 2, .format = it % 3};
            char *out = NULL;
            CHECK(llmc_server_prepare_messages(&r, &caps, &out, &err) == LLMC_OK && out);
            free(out);
            llmc_server_request_free(&r);
        } else {
            bad++;
            CHECK(err.msg[0] && r.messages_json == NULL);
        }
    }
    free(buf);
    CHECK_MSG(ok > 0 && bad > 0, "ok %d bad %d", ok, bad);
}


/* What parses: response_format, grammar, tools and tool_choice, tool history, the model name. */
static void test_structured_fields(void) {
    llmc_server_request r;
    llmc_error err = {0};
    CHECK_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"},\"model\":\"m\"}", NULL,
                    &r, &err), LLMC_OK);
    CHECK(r.json_schema && !*r.json_schema && r.g.json_schema == r.json_schema && !r.g.grammar && r.model && !strcmp(r.model, "m"));
    llmc_server_request_free(&r);
    CHECK_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                    "{\"name\":\"p\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                    "\"required\":[\"a\"],\"additionalProperties\":false}}},\"model\":\"\"}", NULL, &r, &err), LLMC_OK);
    CHECK(r.g.json_schema && strstr(r.g.json_schema, "\"required\":[\"a\"]") && !r.model);
    llmc_server_request_free(&r);
    CHECK_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"grammar\":\"root ::= \\\"yes\\\" | \\\"no\\\"\","
                    "\"response_format\":{\"type\":\"text\"}}", NULL, &r, &err), LLMC_OK);
    CHECK(r.g.grammar && !strcmp(r.g.grammar, "root ::= \"yes\" | \"no\"") && !r.g.json_schema);
    llmc_server_request_free(&r);

    const char *tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"d\",\"parameters\":"
                        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}},{\"function\":{\"name\":\"add\"}}]";
    char b[2048];
    snprintf(b, sizeof b, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":"
             "{\"type\":\"function\",\"function\":{\"name\":\"add\"}},\"parallel_tool_calls\":false}", tools);
    CHECK_MSG(parse(b, NULL, &r, &err) == LLMC_OK, "%s", err.msg);
    CHECK(r.tool_choice == LLMC_TOOL_CHOICE_NAMED && r.tool_name && !strcmp(r.tool_name, "add") && r.n_tools == 2 && !r.parallel_tool_calls);
    llmc_server_request_free(&r);
    snprintf(b, sizeof b, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":\"required\"}", tools);
    CHECK(parse(b, NULL, &r, &err) == LLMC_OK && r.tool_choice == LLMC_TOOL_CHOICE_REQUIRED && r.tools_json);
    llmc_server_request_free(&r);
    /* "none": the tools are neither rendered nor looked for */
    snprintf(b, sizeof b, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":\"none\"}", tools);
    CHECK(parse(b, NULL, &r, &err) == LLMC_OK && r.tool_choice == LLMC_TOOL_CHOICE_NONE && !r.tools_json && r.n_tools == 0);
    llmc_server_request_free(&r);

    /* history: an assistant's calls (content null or absent; arguments as JSON text become the object),
       the tool's answer, a developer message as the system one */
    CHECK_MSG(parse("{\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"w?\"},"
                    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
                    "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
                    "{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"add\",\"arguments\":\"\"}}]},"
                    "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":[{\"type\":\"text\",\"text\":\"21 C\"}]}]}",
                    NULL, &r, &err) == LLMC_OK, "%s", err.msg);
    CHECK_MSG(r.messages_json && strstr(r.messages_json, "{\"role\":\"system\",\"content\":\"Be brief.\"}") &&
              strstr(r.messages_json, "\"arguments\":{\"city\":\"Paris\"}") && strstr(r.messages_json, "\"arguments\":{}") &&
              strstr(r.messages_json, "\"tool_call_id\":\"call_1\",\"content\":\"21 C\""), "%s", r.messages_json);
    llmc_server_request_free(&r);
}

static void test_model_names(void) {
    const char *src = "/models/cache/SmolLM2-135M-Instruct.Q4_1.gguf";
    CHECK(llmc_server_model_matches(NULL, "served", src) && llmc_server_model_matches("", "served", src));
    CHECK(llmc_server_model_matches("served", "served", src) && llmc_server_model_matches(src, "served", src));
    CHECK(llmc_server_model_matches("SmolLM2-135M-Instruct.Q4_1.gguf", "served", src));
    CHECK(llmc_server_model_matches("SmolLM2-135M-Instruct.Q4_1", "served", src));
    CHECK(!llmc_server_model_matches("gpt-4o", "served", src) && !llmc_server_model_matches("SmolLM2", "served", src));
    CHECK(!llmc_server_model_matches("cache", "served", src) && !llmc_server_model_matches("x", "served", NULL));
    CHECK(llmc_server_model_matches("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"));
    CHECK(llmc_server_model_matches("SmolLM2-135M-Instruct", "x", "HuggingFaceTB/SmolLM2-135M-Instruct"));
    CHECK(llmc_server_model_matches("dir", "x", "./models/dir//"));
}

static llmc_status parse_ok(const char *body, llmc_server_request *r) {
    llmc_error err = {0};
    llmc_status st = parse(body, NULL, r, &err);
    if (st) fprintf(stderr, "parse: %s\n", err.msg);
    return st;
}

#define TOOLS2 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"," \
               "\"properties\":{\"city\":{\"type\":\"string\"}}}}},{\"type\":\"function\",\"function\":{\"name\":\"add\"}}]"

/* Messages for a template: tools described where it ignores them, history calls written in the
   model's format where it ignores tool_calls; a template that knows both gets them as they are. */
static void test_prepare(void) {
    llmc_server_request r;
    llmc_error err = {0};
    CHECK_INT(parse_ok("{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"w?\"},"
                       "{\"role\":\"assistant\",\"content\":\"Looking.\",\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"name\":\"get_weather\","
                       "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"function\":{\"name\":\"add\",\"arguments\":{\"a\":1}}}]},"
                       "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"21\"},{\"role\":\"assistant\",\"content\":null}]," TOOLS2 "}",
                       &r), LLMC_OK);
    llmc_server_template_caps caps;
    llmc_server_template_caps_of("{% for m in messages %}{{ m['content'] }}{% endfor %}", LLMC_TOOLS_LLAMA3, &caps);
    CHECK(!caps.tools && !caps.tool_calls && caps.format == LLMC_TOOLS_LLAMA3);
    char *out = NULL;
    CHECK_INT(llmc_server_prepare_messages(&r, &caps, &out, &err), LLMC_OK);
    cJSON *m = cJSON_Parse(out);
    const char *sys = llmc_json_get_string(cJSON_GetArrayItem(m, 0), "content");
    CHECK_MSG(sys && !strncmp(sys, "Be brief.\n\n", 11) && strstr(sys, "{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"") &&
              strstr(sys, "\"parameters\": {argument: value, ...}"), "%s", sys ? sys : "(null)");
    const cJSON *a = cJSON_GetArrayItem(m, 2);
    CHECK_STR(llmc_json_get_string(a, "content"), "Looking.\n{\"name\":\"get_weather\",\"parameters\":{\"city\":\"Paris\"}}; "
                                                  "{\"name\":\"add\",\"parameters\":{\"a\":1}}");
    CHECK(!cJSON_GetObjectItem(a, "tool_calls") && cJSON_GetArraySize(m) == 5);
    CHECK_STR(llmc_json_get_string(cJSON_GetArrayItem(m, 4), "content"), "");
    /* the reply's own format parses back as the calls written */
    char *calls = NULL, *content = NULL;
    CHECK(llmc_tool_calls_parse(llmc_json_get_string(a, "content") + 9, &calls, &content, &err) == LLMC_OK && calls &&
          strstr(calls, "\"name\":\"add\"") && strstr(calls, "\"city\":\"Paris\""));
    free(calls);
    free(content);
    cJSON_Delete(m);
    free(out);

    /* Hermes and Mistral formats; no system message: one is put first */
    llmc_server_request_free(&r);
    CHECK_INT(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
                       "{\"name\":\"add\",\"arguments\":{\"a\":1}}}]}]," TOOLS2 "}", &r), LLMC_OK);
    llmc_server_template_caps_of("x", LLMC_TOOLS_HERMES, &caps);
    CHECK_INT(llmc_server_prepare_messages(&r, &caps, &out, &err), LLMC_OK);
    m = cJSON_Parse(out);
    CHECK(!strcmp(llmc_json_get_string(cJSON_GetArrayItem(m, 0), "role"), "system") && strstr(llmc_json_get_string(cJSON_GetArrayItem(m, 0), "content"), "<tool_call>"));
    CHECK_STR(llmc_json_get_string(cJSON_GetArrayItem(m, 2), "content"), "<tool_call>\n{\"name\":\"add\",\"arguments\":{\"a\":1}}\n</tool_call>");
    cJSON_Delete(m);
    free(out);
    llmc_server_template_caps_of("x", LLMC_TOOLS_MISTRAL, &caps);
    CHECK_INT(llmc_server_prepare_messages(&r, &caps, &out, &err), LLMC_OK);
    m = cJSON_Parse(out);
    CHECK_STR(llmc_json_get_string(cJSON_GetArrayItem(m, 2), "content"), "[TOOL_CALLS][{\"name\":\"add\",\"arguments\":{\"a\":1}}]");
    cJSON_Delete(m);
    free(out);
    /* a template that renders tools and tool_calls (Qwen3's): messages as parsed, content "" for null */
    llmc_server_template_caps_of("{%- if tools %}{{ tools | tojson }}{% endif %}{% for tc in message.tool_calls %}", LLMC_TOOLS_HERMES, &caps);
    CHECK(caps.tools && caps.tool_calls);
    CHECK_INT(llmc_server_prepare_messages(&r, &caps, &out, &err), LLMC_OK);
    CHECK_MSG(out && !strstr(out, "\"system\"") && strstr(out, "\"tool_calls\":[{\"function\":{\"name\":\"add\",\"arguments\":{\"a\":1}}}],\"content\":\"\""),
              "%s", out);
    free(out);
    llmc_server_request_free(&r);
}

/* The reply's calls as message.tool_calls. */
static void test_tool_calls(void) {
    llmc_server_request r;
    llmc_error err = {0};
    CHECK_INT(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}]," TOOLS2 "}", &r), LLMC_OK);
    char *calls = NULL, *content = NULL;
    CHECK_INT(llmc_server_tool_calls(&r, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", &calls, &content, &err), LLMC_OK);
    cJSON *c = calls ? cJSON_Parse(calls) : NULL;
    const cJSON *c0 = cJSON_GetArrayItem(c, 0), *fn = cJSON_GetObjectItem(c0, "function");
    const char *id = llmc_json_get_string(c0, "id");
    CHECK(cJSON_GetArraySize(c) == 1 && !content && !strcmp(llmc_json_get_string(c0, "type"), "function"));
    CHECK_STR(llmc_json_get_string(fn, "name"), "get_weather");
    CHECK_STR(llmc_json_get_string(fn, "arguments"), "{\"city\":\"Paris\"}");
    CHECK(id && strlen(id) == 29 && !strncmp(id, "call_", 5) && strspn(id + 5, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == 24);
    cJSON_Delete(c);
    free(calls);
    /* Hermes calls after text: the text stays as content; two calls, two ids */
    CHECK_INT(llmc_server_tool_calls(&r, "Let me check.\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}\n</tool_call>\n"
                                         "<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call>", &calls, &content, &err), LLMC_OK);
    c = calls ? cJSON_Parse(calls) : NULL;
    CHECK(cJSON_GetArraySize(c) == 2 && content && !strcmp(content, "Let me check."));
    CHECK(strcmp(llmc_json_get_string(cJSON_GetArrayItem(c, 0), "id"), llmc_json_get_string(cJSON_GetArrayItem(c, 1), "id")) != 0);
    cJSON_Delete(c);
    free(calls);
    free(content);
    /* a JSON reply naming no tool is content; so is prose */
    CHECK_INT(llmc_server_tool_calls(&r, "{\"name\": \"Bob\", \"age\": 3}", &calls, &content, &err), LLMC_OK);
    CHECK(!calls && content && !strcmp(content, "{\"name\": \"Bob\", \"age\": 3}"));
    free(content);
    CHECK_INT(llmc_server_tool_calls(&r, "It is sunny.", &calls, &content, &err), LLMC_OK);
    CHECK(!calls && content && !strcmp(content, "It is sunny."));
    free(content);
    CHECK_INT(llmc_server_tool_calls(&r, "", &calls, &content, &err), LLMC_OK);
    CHECK(!calls && !content);
    /* a malformed call block: the reply as content */
    CHECK_INT(llmc_server_tool_calls(&r, "<tool_call>{\"name\": \"add\", \"arguments\": ", &calls, &content, &err), LLMC_OK);
    CHECK(!calls && content && !strncmp(content, "<tool_call>", 11));
    free(content);
    /* parallel_tool_calls false: the first call only */
    r.parallel_tool_calls = false;
    CHECK_INT(llmc_server_tool_calls(&r, "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {}}, {\"name\": \"add\", \"arguments\": {\"a\": 2}}]",
                                     &calls, &content, &err), LLMC_OK);
    c = calls ? cJSON_Parse(calls) : NULL;
    CHECK(cJSON_GetArraySize(c) == 1 && !content);
    cJSON_Delete(c);
    free(calls);
    llmc_server_request_free(&r);
}

/* ---- streamed deltas: a recording sink ---- */
typedef struct {
    llmc_strbuf content, args[4];
    char names[4][64], ids[4][40];
    int headers, args_before_header, order_bad;
    int last_index;
} rec_sink;

static void rec_content(void *u, const char *t, size_t n) { llmc_sb_append(&((rec_sink *)u)->content, t, n); }
static void rec_header(void *u, int i, const char *id, const char *name) {
    rec_sink *r = u;
    if (i != r->headers) r->order_bad++;
    if (i < 4) {
        snprintf(r->names[i], sizeof r->names[i], "%s", name);
        snprintf(r->ids[i], sizeof r->ids[i], "%s", id);
    }
    r->headers++;
}
static void rec_args(void *u, int i, const char *t, size_t n) {
    rec_sink *r = u;
    if (i >= r->headers) r->args_before_header++;
    if (i < 4) llmc_sb_append(&r->args[i], t, n);
}

/* Feeds text in pieces of `step` bytes (0: at once) through a tool stream into a fresh sink. */
static llmc_server_tool_stream *feed(const llmc_server_request *r, const char *text, size_t step, rec_sink *rs) {
    memset(rs, 0, sizeof *rs);
    llmc_sb_init(&rs->content);
    for (int i = 0; i < 4; i++) llmc_sb_init(&rs->args[i]);
    llmc_server_delta_sink k = {rec_content, rec_header, rec_args, rs};
    llmc_server_tool_stream *t = llmc_server_tool_stream_new(r);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += step ? step : n) llmc_server_tool_stream_push(t, text + i, step && i + step < n ? step : n - i, false, &k);
    llmc_server_tool_stream_push(t, NULL, 0, true, &k);
    return t;
}
static void rec_free(rec_sink *rs) {
    llmc_sb_free(&rs->content);
    for (int i = 0; i < 4; i++) llmc_sb_free(&rs->args[i]);
}

static void test_tool_stream(void) {
    llmc_server_request r;
    CHECK_INT(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}]," TOOLS2 "}", &r), LLMC_OK);
    const char *llama = "  {\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par\\\"is\", \"n\": [1, {\"x\": \"}\"}]}}";
    for (size_t step = 0; step <= 5; step++) {
        rec_sink rs;
        llmc_server_tool_stream *t = feed(&r, llama, step, &rs);
        bool complete = false;
        CHECK_MSG(llmc_server_tool_stream_calls(t, &complete) == 1 && complete && rs.headers == 1 && !rs.args_before_header && !rs.order_bad,
                  "step %zu: %d headers", step, rs.headers);
        CHECK_STR(rs.names[0], "get_weather");
        CHECK(!strncmp(rs.ids[0], "call_", 5) && strlen(rs.ids[0]) == 29);
        CHECK_MSG(rs.args[0].data && !strcmp(rs.args[0].data, "{\"city\": \"Par\\\"is\", \"n\": [1, {\"x\": \"}\"}]}"), "step %zu: %s", step,
                  rs.args[0].data ? rs.args[0].data : "(none)");
        CHECK(rs.content.len == 0);
        llmc_server_tool_stream_free(t);
        rec_free(&rs);
    }
    /* arguments before the name: held until the name is known */
    rec_sink rs;
    llmc_server_tool_stream *t = feed(&r, "{\"arguments\": {\"a\": 1}, \"name\": \"add\"}", 1, &rs);
    CHECK(rs.headers == 1 && !rs.args_before_header && rs.args[0].data && !strcmp(rs.args[0].data, "{\"a\": 1}"));
    llmc_server_tool_stream_free(t);
    rec_free(&rs);
    /* Hermes: text, then two calls */
    t = feed(&r, "Sure.\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1}}\n</tool_call>\n<tool_call>\n"
                 "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>", 2, &rs);
    CHECK(rs.headers == 2 && !rs.order_bad && rs.content.data && !strcmp(rs.content.data, "Sure.\n"));
    CHECK(!strcmp(rs.names[1], "get_weather") && rs.args[1].data && !strcmp(rs.args[1].data, "{\"city\": \"Oslo\"}"));
    llmc_server_tool_stream_free(t);
    rec_free(&rs);
    /* Mistral's array */
    t = feed(&r, "[{\"name\": \"add\", \"arguments\": {}}, {\"name\": \"add\", \"arguments\": {\"b\": 2}}]", 3, &rs);
    CHECK(rs.headers == 2 && rs.args[1].data && !strcmp(rs.args[1].data, "{\"b\": 2}"));
    llmc_server_tool_stream_free(t);
    rec_free(&rs);
    /* prose, a JSON object that names no tool, a lone '<': all content, in order, nothing lost */
    const char *texts[] = {"It is sunny in Paris.", "{\"name\": \"Bob\", \"age\": 3}", "a < b and <tool_ is not a call", "   ", "[1, 2]", "<",
                           "{\"fruits\": [\"apple\"]} and more", "{oops"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        for (size_t step = 0; step <= 3; step++) {
            t = feed(&r, texts[i], step, &rs);
            CHECK_MSG(rs.headers == 0 && rs.content.data && !strcmp(rs.content.data, texts[i]), "'%s' step %zu: '%s'", texts[i], step,
                      rs.content.data ? rs.content.data : "(none)");
            llmc_server_tool_stream_free(t);
            rec_free(&rs);
        }
    /* a call cut short (max_tokens): the header went out, the call is not complete */
    t = feed(&r, "{\"name\": \"add\", \"parameters\": {\"a\": 1", 1, &rs);
    bool complete = true;
    CHECK(llmc_server_tool_stream_calls(t, &complete) == 1 && !complete && rs.args[0].data && !strcmp(rs.args[0].data, "{\"a\": 1"));
    llmc_server_tool_stream_free(t);
    rec_free(&rs);
    /* without tools every piece is content at once */
    llmc_server_request plain;
    CHECK_INT(parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}]}", &plain), LLMC_OK);
    t = feed(&plain, "{\"name\": \"add\", \"parameters\": {}}", 4, &rs);
    CHECK(rs.headers == 0 && rs.content.data && !strcmp(rs.content.data, "{\"name\": \"add\", \"parameters\": {}}"));
    llmc_server_tool_stream_free(t);
    rec_free(&rs);
    llmc_server_request_free(&plain);
    llmc_server_request_free(&r);

    /* the scanner alone */
    llmc_server_call_span sp[LLMC_SERVER_MAX_CALLS];
    const char *two = "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\"";
    CHECK_INT(llmc_server_scan_calls(two, strlen(two), sp, LLMC_SERVER_MAX_CALLS), 2);
    CHECK(sp[0].done && sp[0].name_done && sp[0].args_done && sp[1].name_done && !sp[1].done && !sp[1].args_len);
    CHECK(sp[1].name_len == 3 && !memcmp(two + sp[1].name_at, "\"b\"", 3));
    CHECK_INT(llmc_server_scan_calls("plain text", 10, sp, LLMC_SERVER_MAX_CALLS), 0);
    CHECK_INT(llmc_server_scan_calls("{\"name\": \"a\", \"x\": tru", 22, sp, LLMC_SERVER_MAX_CALLS), 1);
    CHECK(sp[0].name_done && !sp[0].done);
}

/* ---- stop strings over a growing text (generate/generate.h; what the engine and the loop use) ---- */

/* The naive answers: the earliest start of any stop string in text, and the longest tail that begins one. */
static long naive_find(const char *const *stops, int n, const char *text, size_t len) {
    long best = -1;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(stops[i]);
        for (size_t p = 0; k && p + k <= len; p++)
            if (!memcmp(text + p, stops[i], k)) { if (best < 0 || (long)p < best) best = (long)p; break; }
    }
    return best;
}
static size_t naive_pending(const char *const *stops, int n, const char *text, size_t len) {
    size_t best = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(stops[i]);
        for (size_t h = k ? k - 1 : 0; h > best; h--)
            if (h <= len && !memcmp(text + len - h, stops[i], h)) { best = h; break; }
    }
    return best;
}

static void test_stop_scan(void) {
    static const char *const stops[] = {"three", "aab", "</s>"};
    llmc_stop_scan s;
    llmc_error err = {0};
    CHECK_INT(llmc_stop_scan_init(&s, stops, 3, &err), LLMC_OK);
    size_t at = 0;
    CHECK(!llmc_stop_scan_feed(&s, "One two th", 10, &at) && llmc_stop_scan_pending(&s) == 2);
    CHECK(llmc_stop_scan_safe(&s, "One two th", 10) == 8); /* "One two " may show, "th" waits */
    CHECK(llmc_stop_scan_feed(&s, "ree four", 8, &at) && at == 8);
    llmc_stop_scan_free(&s);
    /* overlapping: "aaab" holds "aab" from 1; the earliest start wins when two complete in one piece */
    CHECK_INT(llmc_stop_scan_init(&s, stops, 3, &err), LLMC_OK);
    CHECK(!llmc_stop_scan_feed(&s, "xaa", 3, &at) && llmc_stop_scan_pending(&s) == 2);
    CHECK(!llmc_stop_scan_feed(&s, "a", 1, &at) && llmc_stop_scan_pending(&s) == 2);
    CHECK(llmc_stop_scan_feed(&s, "b", 1, &at) && at == 2);
    llmc_stop_scan_free(&s);
    static const char *const two[] = {"cd", "abcdef"};
    CHECK_INT(llmc_stop_scan_init(&s, two, 2, &err), LLMC_OK);
    CHECK(llmc_stop_scan_feed(&s, "xabcdef", 7, &at) && at == 1); /* both complete in this piece: "abcdef" starts first */
    llmc_stop_scan_free(&s);
    static const char *const late[] = {"bcd", "abcdefg"};
    CHECK_INT(llmc_stop_scan_init(&s, late, 2, &err), LLMC_OK);
    CHECK(!llmc_stop_scan_feed(&s, "zabc", 4, &at) && llmc_stop_scan_pending(&s) == 3);
    CHECK(llmc_stop_scan_feed(&s, "d", 1, &at) && at == 2);
    llmc_stop_scan_free(&s);
    /* the safe point never splits a UTF-8 character */
    static const char *const ko[] = {"\xEC\x95\x88\xEB\x85\x95"}; /* 안녕 */
    CHECK_INT(llmc_stop_scan_init(&s, ko, 1, &err), LLMC_OK);
    const char *t = "hi \xEC\x95\x88";
    CHECK(!llmc_stop_scan_feed(&s, t, strlen(t), &at) && llmc_stop_scan_pending(&s) == 3 && llmc_stop_scan_safe(&s, t, strlen(t)) == 3);
    llmc_stop_scan_free(&s);
    /* no stop strings: nothing waits */
    CHECK_INT(llmc_stop_scan_init(&s, NULL, 0, &err), LLMC_OK);
    CHECK(!llmc_stop_scan_feed(&s, "abc", 3, &at) && llmc_stop_scan_pending(&s) == 0);
    llmc_stop_scan_free(&s);

    /* random texts and strings over a small alphabet, fed in random pieces: the same as the naive search */
    uint64_t rs = 12345;
#define RND() (rs = rs * 6364136223846793005ULL + 1442695040888963407ULL, (unsigned)(rs >> 33))
    int bad = 0;
    for (int it = 0; it < 3000; it++) {
        char sbuf[3][8], text[64];
        const char *sp[3];
        int ns = 1 + RND() % 3;
        for (int i = 0; i < ns; i++) {
            int k = 1 + RND() % 5;
            for (int j = 0; j < k; j++) sbuf[i][j] = (char)('a' + RND() % 3);
            sbuf[i][k] = 0;
            sp[i] = sbuf[i];
        }
        size_t len = RND() % 40;
        for (size_t j = 0; j < len; j++) text[j] = (char)('a' + RND() % 3);
        text[len] = 0;
        CHECK_INT(llmc_stop_scan_init(&s, sp, ns, &err), LLMC_OK);
        size_t fed = 0;
        long found = -1;
        while (fed < len) {
            size_t piece = 1 + RND() % 4;
            if (piece > len - fed) piece = len - fed;
            long want = naive_find(sp, ns, text, fed + piece);
            bool hit = llmc_stop_scan_feed(&s, text + fed, piece, &at);
            fed += piece;
            if (hit != (want >= 0) || (hit && (long)at != want)) { bad++; break; }
            if (hit) { found = want; break; }
            if (llmc_stop_scan_pending(&s) != naive_pending(sp, ns, text, fed)) { bad++; break; }
        }
        (void)found;
        llmc_stop_scan_free(&s);
    }
#undef RND
    CHECK_MSG(bad == 0, "%d of 3000 random cases differ from the naive search", bad);
}

/* ---- the stop cut on the real model: the generation loop and the engine agree ---- */
typedef struct { llmc_strbuf all; int pieces; } piece_rec;
static int rec_piece(void *u, const char *p, size_t n) {
    piece_rec *r = u;
    llmc_sb_append(&r->all, p, n);
    r->pieces++;
    return 0;
}

static void test_stop_cut_model(void) {
    llmc_pipeline_opts po;
    llmc_pipeline_opts_default(&po);
    po.model = test_smollm2_gguf();
    po.n_threads = 2;
    llmc_pipeline *p = NULL;
    llmc_error err = {0};
    if (llmc_pipeline_create(&po, &p, &err)) { CHECK_MSG(0, "%s", err.msg); return; }
    const char *msgs = "[{\"role\":\"user\",\"content\":\"Count: one two three four five. Now repeat it.\"}]";
    llmc_gen_params g;
    llmc_gen_params_default(&g);
    g.do_sample = 0;
    g.max_new_tokens = 24;
    char *full = NULL;
    CHECK_INT(llmc_pipeline_chat_json(p, msgs, NULL, &g, &full, NULL, &err), LLMC_OK);
    const char *three = full ? strstr(full, "three") : NULL;
    CHECK_MSG(three != NULL, "the greedy reply has 'three': %s", full ? full : "(none)");
    if (!three) { free(full); llmc_pipeline_free(p); return; }
    size_t cut = (size_t)(three - full);
    static const char *const stops[] = {"three", "thr33"};
    g.stop_strings = stops;
    g.n_stop_strings = 2;
    /* transformers' way (the default): the reply ends with the stop string */
    char *kept = NULL;
    llmc_gen_stats st;
    CHECK_INT(llmc_pipeline_chat_json(p, msgs, NULL, &g, &kept, &st, &err), LLMC_OK);
    CHECK(kept && st.stop == LLMC_STOP_STRING && strlen(kept) >= cut + 5 && !strncmp(kept, full, cut + 5));
    free(kept);
    /* OpenAI's: cut before it; the streamed pieces are exactly the reply, never a part of the stop string */
    g.cut_stop_strings = true;
    piece_rec pr = {.pieces = 0};
    llmc_sb_init(&pr.all);
    g.on_text = rec_piece;
    g.on_text_user = &pr;
    char *r1 = NULL;
    CHECK_INT(llmc_pipeline_chat_json(p, msgs, NULL, &g, &r1, &st, &err), LLMC_OK);
    CHECK_MSG(r1 && strlen(r1) == cut && !strncmp(r1, full, cut) && st.stop == LLMC_STOP_STRING, "cut reply '%s'", r1 ? r1 : "");
    CHECK(pr.all.data && r1 && !strcmp(pr.all.data, r1) && !strstr(pr.all.data, "th"));
    llmc_sb_free(&pr.all);
    /* the engine (a session) gives the same */
    CHECK_INT(llmc_pipeline_enable_batching(p, NULL, &err), LLMC_OK);
    llmc_session *s = NULL;
    CHECK_INT(llmc_session_new(p, NULL, &s, &err), LLMC_OK);
    llmc_sb_init(&pr.all);
    char *r2 = NULL;
    CHECK_INT(llmc_session_chat(s, "Count: one two three four five. Now repeat it.", &g, &r2, &st, &err), LLMC_OK);
    CHECK_MSG(r1 && r2 && !strcmp(r1, r2) && st.stop == LLMC_STOP_STRING, "engine '%s' vs loop '%s'", r2 ? r2 : "", r1 ? r1 : "");
    CHECK(pr.all.data && r2 && !strcmp(pr.all.data, r2));
    llmc_sb_free(&pr.all);
    /* no stop string hit: everything held back comes out at the end */
    static const char *const never[] = {"zzz-never"};
    g.stop_strings = never;
    g.n_stop_strings = 1;
    g.on_text = NULL;
    char *r3 = NULL;
    llmc_session_free(s);
    CHECK_INT(llmc_session_new(p, NULL, &s, &err), LLMC_OK);
    CHECK_INT(llmc_session_chat(s, "Count: one two three four five. Now repeat it.", &g, &r3, &st, &err), LLMC_OK);
    CHECK(r3 && !strcmp(r3, full) && st.stop != LLMC_STOP_STRING);
    llmc_session_free(s);
    free(r1);
    free(r2);
    free(r3);
    free(full);

    /* the public tool-call API: the model's call format (SmolLM2: Llama 3 JSON) forced, then parsed back */
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"add\",\"parameters\":{\"type\":\"object\","
                        "\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"}},\"required\":[\"a\",\"b\"]}}}]";
    char *gbnf = NULL, *reply = NULL, *calls = NULL, *content = NULL;
    CHECK_INT(llmc_pipeline_tool_grammar(p, tools, "add", &gbnf, &err), LLMC_OK);
    llmc_gen_params_default(&g);
    g.do_sample = 0;
    g.max_new_tokens = 60;
    g.grammar = gbnf;
    CHECK_INT(llmc_pipeline_chat_json(p, "[{\"role\":\"user\",\"content\":\"What is 2 plus 3?\"}]", tools, &g, &reply, &st, &err), LLMC_OK);
    CHECK_MSG(reply && llmc_parse_tool_calls(reply, &calls, &content, &err) == LLMC_OK && calls && strstr(calls, "{\"name\":\"add\",\"arguments\":{\"a\":") &&
              content && !*content && st.stop == LLMC_STOP_EOS, "%s -> %s", reply ? reply : "", calls ? calls : err.msg);
    llmc_free(gbnf);
    CHECK(llmc_pipeline_tool_grammar(p, tools, "sub", &gbnf, &err) == LLMC_ERR_INVALID_ARG && strstr(err.msg, "'sub'") && !gbnf);
    llmc_free(reply);
    llmc_free(calls);
    llmc_free(content);
    llmc_pipeline_free(p);
}

/* ---- /metrics text ---- */

/* Every line a comment or `name{labels} value` (Prometheus text format 0.0.4); the value of a series. */
static bool prom_valid(const char *text, int *samples) {
    *samples = 0;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        if (!e) return false; /* the text ends with a newline */
        if (*l != '#') {
            const char *p = l;
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')) return false;
            while (p < e && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')) p++;
            if (p < e && *p == '{') {
                const char *q = memchr(p, '}', (size_t)(e - p));
                if (!q) return false;
                p = q + 1;
            }
            if (p >= e || *p != ' ') return false;
            char *end;
            strtod(p + 1, &end);
            if (end != e) return false;
            (*samples)++;
        } else if (strncmp(l, "# HELP ", 7) && strncmp(l, "# TYPE ", 7)) return false;
        l = e + 1;
    }
    return true;
}
static double prom_value(const char *text, const char *series) {
    char key[200];
    snprintf(key, sizeof key, "\n%s ", series);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void test_metrics(void) {
    llmc_server_metrics *m = llmc_server_metrics_new();
    llmc_server_gauges g = {.running = 2, .waiting = 5, .kv_used = 1024, .kv_budget = 4096, .steps = 7, .prefix_hit_tokens = 64};
    char *t0 = llmc_server_metrics_format(m, &g);
    int n0 = 0;
    CHECK_MSG(t0 && prom_valid(t0, &n0) && n0 > 20, "%s", t0 ? t0 : "");
    CHECK(prom_value(t0, "llmc_num_requests_running") == 2 && prom_value(t0, "llmc_num_requests_waiting") == 5);
    CHECK(prom_value(t0, "llmc_prompt_tokens_total") == 0 && prom_value(t0, "llmc_time_to_first_token_seconds_count") == 0);
    CHECK(strstr(t0, "# TYPE llmc_time_to_first_token_seconds histogram\n") && strstr(t0, "# TYPE llmc_http_requests_total counter\n"));
    free(t0);
    llmc_server_metrics_response(m, "/v1/chat/completions", 200);
    llmc_server_metrics_response(m, "/v1/chat/completions", 200);
    llmc_server_metrics_response(m, "other", 401);
    llmc_server_metrics_generation(m, "stop", 40, 11, 0.3, 1.3);    /* 10 tokens at 0.1 s */
    llmc_server_metrics_generation(m, "tool_calls", 60, 1, 0.02, 0.02);
    char *t1 = llmc_server_metrics_format(m, &g);
    int n1 = 0;
    CHECK(t1 && prom_valid(t1, &n1) && n1 > n0);
    CHECK(prom_value(t1, "llmc_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}") == 2);
    CHECK(prom_value(t1, "llmc_http_requests_total{endpoint=\"other\",status=\"401\"}") == 1);
    CHECK(prom_value(t1, "llmc_request_success_total{finished_reason=\"tool_calls\"}") == 1);
    CHECK(prom_value(t1, "llmc_prompt_tokens_total") == 100 && prom_value(t1, "llmc_generation_tokens_total") == 12);
    CHECK(prom_value(t1, "llmc_time_to_first_token_seconds_count") == 2 && prom_value(t1, "llmc_time_to_first_token_seconds_bucket{le=\"0.02\"}") == 1);
    CHECK(prom_value(t1, "llmc_time_to_first_token_seconds_bucket{le=\"0.25\"}") == 1 && prom_value(t1, "llmc_time_to_first_token_seconds_bucket{le=\"0.5\"}") == 2);
    CHECK(prom_value(t1, "llmc_time_to_first_token_seconds_bucket{le=\"+Inf\"}") == 2);
    CHECK(fabs(prom_value(t1, "llmc_time_to_first_token_seconds_sum") - 0.32) < 1e-6);
    CHECK(prom_value(t1, "llmc_time_per_output_token_seconds_count") == 10 && prom_value(t1, "llmc_time_per_output_token_seconds_bucket{le=\"0.075\"}") == 0);
    CHECK(prom_value(t1, "llmc_time_per_output_token_seconds_bucket{le=\"0.1\"}") == 10);
    CHECK(prom_value(t1, "llmc_e2e_request_latency_seconds_count") == 2 && prom_value(t1, "llmc_steps_total") == 7);
    /* buckets never decrease */
    double prev = 0;
    bool mono = true;
    for (const char *p = t1; (p = strstr(p, "llmc_e2e_request_latency_seconds_bucket{")); p++) {
        double v = strtod(strchr(p, ' ') + 1, NULL);
        mono &= v >= prev;
        prev = v;
    }
    CHECK(mono && prev == 2);
    free(t1);
    llmc_server_metrics_free(m);
    char *t2 = llmc_server_metrics_format(NULL, NULL);
    int n2 = 0;
    CHECK(t2 && prom_valid(t2, &n2));
    free(t2);
}

int main(void) {
    test_fields();
    test_completion();
    test_mutations();
    test_refusals();
    test_structured_fields();
    test_model_names();
    test_prepare();
    test_tool_calls();
    test_tool_stream();
    test_stop_scan();
    test_metrics();
    test_start();
    test_stop_cut_model();
    return test_summary();
}
