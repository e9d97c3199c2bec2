/* Tool calls: parsing per format (llama3 JSON, Hermes/Qwen <tool_call>, Mistral [TOOL_CALLS]),
 * malformed blocks, and the forcing grammar: a valid call in each format is accepted byte by
 * byte, a wrong function name or argument is not, and a bad parameter schema names its path. */
#include "test.h"
#include "grammar/grammar.h"
#include "grammar/toolcall.h"
#include <cjson/cJSON.h>

static void expect_calls(const char *reply, const char *want_calls, const char *want_content) {
    char *calls = NULL, *content = NULL;
    llmc_error err = {0};
    CHECK_MSG(llmc_tool_calls_parse(reply, &calls, &content, &err) == LLMC_OK, "%s: %s", reply, err.msg);
    if (want_calls) CHECK_STR(calls, want_calls);
    else CHECK_MSG(calls == NULL, "%s: calls %s", reply, calls);
    CHECK_STR(content, want_content);
    free(calls);
    free(content);
}

static void test_parse(void) {
    expect_calls("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
                 "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]", "");
    expect_calls("<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"arguments\": {\"x\": 1}}",
                 "[{\"name\":\"a\",\"arguments\":{}},{\"name\":\"b\",\"arguments\":{\"x\":1}}]", "");
    expect_calls("Let me check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"q\": \"x\"}}\n</tool_call>\n<tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>",
                 "[{\"name\":\"f\",\"arguments\":{\"q\":\"x\"}},{\"name\":\"g\",\"arguments\":{}}]", "Let me check.");
    expect_calls("[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"n\": 2}}]", "[{\"name\":\"f\",\"arguments\":{\"n\":2}}]", "");
    expect_calls("[{\"name\": \"f\", \"arguments\": {\"n\": 2}}]", "[{\"name\":\"f\",\"arguments\":{\"n\":2}}]", "");
    expect_calls("[TOOL_CALLS]get_time[ARGS]{\"tz\": \"UTC\"}", "[{\"name\":\"get_time\",\"arguments\":{\"tz\":\"UTC\"}}]", "");
    expect_calls("Hello there. {not json", NULL, "Hello there. {not json");
    expect_calls("[1, 2, 3]", NULL, "[1, 2, 3]");
    expect_calls("{\"answer\": 42}", NULL, "{\"answer\": 42}");
    char *calls = NULL, *content = NULL;
    llmc_error err = {0};
    CHECK(llmc_tool_calls_parse("<tool_call>{\"name\": 3}</tool_call>", &calls, &content, &err) == LLMC_ERR_FORMAT);
    CHECK(strstr(err.msg, "tool call 1") != NULL);
    CHECK(llmc_tool_calls_parse("[TOOL_CALLS]oops", &calls, &content, &err) == LLMC_ERR_FORMAT);
    CHECK(calls == NULL && content == NULL);
}

static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": "
    "{\"city\": {\"type\": \"string\"}, \"unit\": {\"enum\": [\"c\", \"f\"]}}, \"required\": [\"city\", \"unit\"]}}},"
    " {\"name\": \"ping\", \"parameters\": {\"type\": \"object\", \"properties\": {}}}]";

/* Does the grammar accept text as a whole? (a vocab of the 256 single bytes) */
static bool accepts(const char *gbnf, const char *text) {
    static char bytes[256][1];
    const char *toks[257];
    size_t lens[257];
    for (int i = 0; i < 256; i++) { bytes[i][0] = (char)i; toks[i] = bytes[i]; lens[i] = 1; }
    toks[256] = "";
    lens[256] = 0;
    llmc_grammar *g = NULL;
    llmc_grammar_vocab *v = NULL;
    llmc_grammar_matcher *m = NULL;
    llmc_error err = {0};
    int32_t eos = 256;
    bool ok = llmc_grammar_from_gbnf(gbnf, strlen(gbnf), NULL, &g, &err) == LLMC_OK &&
              llmc_grammar_vocab_from_bytes(toks, lens, 257, &v, &err) == LLMC_OK &&
              llmc_grammar_matcher_new(g, v, &eos, 1, &m, &err) == LLMC_OK &&
              llmc_grammar_matcher_accept_bytes(m, text, strlen(text)) && llmc_grammar_matcher_can_end(m);
    if (err.code) fprintf(stderr, "grammar: %s\n", err.msg);
    llmc_grammar_matcher_free(m);
    llmc_grammar_vocab_free(v);
    llmc_grammar_free(g);
    return ok;
}

static void test_grammar(void) {
    char *gb = NULL;
    llmc_error err = {0};
    CHECK_MSG(llmc_tool_grammar(LLMC_TOOLS_LLAMA3, TOOLS, NULL, &gb, &err) == LLMC_OK, "%s", err.msg);
    CHECK(gb && accepts(gb, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"c\"}}"));
    CHECK(gb && accepts(gb, "{\"name\":\"ping\",\"parameters\":{}}"));
    CHECK(gb && !accepts(gb, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"k\"}}"));
    CHECK(gb && !accepts(gb, "{\"name\": \"nope\", \"parameters\": {}}"));
    CHECK(gb && !accepts(gb, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}"));
    free(gb);
    CHECK(llmc_tool_grammar(LLMC_TOOLS_HERMES, TOOLS, "get_weather", &gb, &err) == LLMC_OK);
    CHECK(gb && accepts(gb, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"f\"}}\n</tool_call>"));
    CHECK(gb && !accepts(gb, "<tool_call>\n{\"name\": \"ping\", \"arguments\": {}}\n</tool_call>"));   /* named: only get_weather */
    free(gb);
    CHECK(llmc_tool_grammar(LLMC_TOOLS_MISTRAL, TOOLS, NULL, &gb, &err) == LLMC_OK);
    CHECK(gb && accepts(gb, "[{\"name\": \"ping\", \"arguments\": {}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": \"x\", \"unit\": \"c\"}}]"));
    free(gb);
    /* Each accepted text parses back to the call. */
    char *calls = NULL, *content = NULL;
    CHECK(llmc_tool_calls_parse("[{\"name\": \"ping\", \"arguments\": {}}]", &calls, &content, &err) == LLMC_OK);
    CHECK_STR(calls, "[{\"name\":\"ping\",\"arguments\":{}}]");
    free(calls); free(content);
    /* errors */
    CHECK(llmc_tool_grammar(LLMC_TOOLS_LLAMA3, TOOLS, "missing_fn", &gb, &err) == LLMC_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "missing_fn") != NULL);
    const char *bad = "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"properties\": {\"x\": {\"type\": \"int\"}}}}}]";
    CHECK(llmc_tool_grammar(LLMC_TOOLS_LLAMA3, bad, NULL, &gb, &err) == LLMC_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "$[0].function.parameters.properties.x.type") != NULL, "%s", err.msg);
    CHECK(llmc_tool_grammar(LLMC_TOOLS_LLAMA3, "{}", NULL, &gb, &err) == LLMC_ERR_FORMAT);
    llmc_tool_format f;
    CHECK(llmc_tool_format_parse("hermes", &f) && f == LLMC_TOOLS_HERMES);
    CHECK(!llmc_tool_format_parse("xml", &f));
}

int main(void) {
    test_parse();
    test_grammar();
    return test_summary();
}
