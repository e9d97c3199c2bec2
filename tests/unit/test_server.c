/* The server's request parsing (OpenAI chat-completions bodies → generation settings):
 * fields map as OpenAI clients mean them, unset ones stay unset, content parts join,
 * and every bad or unsupported field is refused with a message naming it. The HTTP side
 * runs in tests/e2e/serve_smollm2.sh. Without libmicrohttpd, starting says why. */
#include "test.h"
#include "server/server.h"
#include "base/error.h"

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
                    "\"stream_options\":{\"include_usage\":true},\"presence_penalty\":0,\"n\":1,\"tools\":[{\"type\":\"function\"}],"
                    "\"response_format\":{\"type\":\"text\"},\"user\":\"ignored\"}", NULL, &r, &err), LLMC_OK);
    CHECK_STR(r.messages_json, "[{\"role\":\"user\",\"content\":\"a\\nb\"}]");
    CHECK_INT(r.g.max_new_tokens, 9); /* max_completion_tokens wins, as OpenAI's newer name */
    CHECK(r.g.do_sample == 1 && r.g.temperature == 0.6f && r.g.top_p == 0.9f && r.g.top_k == 20 && r.g.min_p == 0.05f);
    CHECK(r.g.repetition_penalty == 1.1f && r.g.has_seed && r.g.seed == 42);
    CHECK(r.g.n_stop_strings == 2 && !strcmp(r.g.stop_strings[0], "\n\n") && !strcmp(r.g.stop_strings[1], "END"));
    CHECK(r.stream && r.include_usage && r.tools_json && !strcmp(r.tools_json, "[{\"type\":\"function\"}]"));
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
    BAD("\"response_format\":{\"type\":\"json_object\"}", LLMC_ERR_UNSUPPORTED, "response_format");
#undef BAD
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
                       "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"tools\":[{\"a\":1.0}],\"seed\":1}";
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
            llmc_server_request_free(&r);
        } else {
            bad++;
            CHECK(err.msg[0] && r.messages_json == NULL);
        }
    }
    free(buf);
    CHECK_MSG(ok > 0 && bad > 0, "ok %d bad %d", ok, bad);
}

int main(void) {
    test_fields();
    test_completion();
    test_mutations();
    test_refusals();
    test_start();
    return test_summary();
}
