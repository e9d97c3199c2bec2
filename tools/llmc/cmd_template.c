/* llmc template SOURCE [--vars FILE] [--messages FILE] [--tools FILE] [--add-generation-prompt]
 * — renders the model's chat template as transformers' apply_chat_template(tokenize=False) does
 * and prints the prompt byte for byte, nothing added. */
#include "cli.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "template/template.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JSON_INPUT (256u << 20)

static void template_usage(FILE *f) {
    fprintf(f, "usage: llmc template SOURCE [--messages FILE] [--tools FILE] [--vars FILE] [--add-generation-prompt]\n\n"
               "Prints the prompt the model's chat template renders, byte for byte.\n"
               "SOURCE: a model directory, tokenizer_config.json, tokenizer.json (its directory), a .jinja file or a .gguf file.\n\n"
               "  --messages FILE            JSON array of messages ({\"role\", \"content\", ...}); default []\n"
               "  --tools FILE               JSON array of tool definitions (JSON schemas)\n"
               "  --vars FILE                JSON object of extra template variables (applied last)\n"
               "  --add-generation-prompt    end with the assistant header\n");
}

static cJSON *load_json(const char *path, const char *flag, llmc_error *err) {
    char *text = NULL;
    size_t len = 0;
    if (llmc_read_file(path, MAX_JSON_INPUT, &text, &len, err) != LLMC_OK) { llmc_err_prefix(err, "%s", flag); return NULL; }
    cJSON *j = llmc_json_parse(text, len, path, err);
    if (!j) llmc_err_prefix(err, "%s", flag);
    else llmc_template_json_mark_floats(j, text, len); /* 1.0 stays a float, as Python's json.load keeps it */
    free(text);
    return j;
}

int cmd_template(int argc, char **argv) {
    const char *source = NULL, *vars_f = NULL, *msgs_f = NULL, *tools_f = NULL, *v;
    bool gen = false, bad = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { template_usage(stdout); return 0; }
        if (cli_opt(argc, argv, &i, "--vars", &v, &bad)) { if (bad) return 2; vars_f = v; continue; }
        if (cli_opt(argc, argv, &i, "--messages", &v, &bad)) { if (bad) return 2; msgs_f = v; continue; }
        if (cli_opt(argc, argv, &i, "--tools", &v, &bad)) { if (bad) return 2; tools_f = v; continue; }
        if (cli_flag(argv, i, "--add-generation-prompt")) { gen = true; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_fail("template: unknown option '%s' (see llmc template --help)", argv[i]);
        if (source) return cli_fail("template: more than one SOURCE given ('%s', '%s')", source, argv[i]);
        source = argv[i];
    }
    if (!source) { template_usage(stderr); return 2; }
    llmc_error err = { 0 };
    cJSON *vars = NULL, *msgs = NULL, *tools = NULL;
    llmc_chat_template *ct = NULL;
    char *out = NULL;
    size_t len = 0;
    int rc = 0;
    if (vars_f && !(vars = load_json(vars_f, "--vars ", &err))) { rc = cli_error(&err); goto done; }
    if (vars && !cJSON_IsObject(vars)) { rc = cli_fail("--vars %s: expected a JSON object", vars_f); goto done; }
    if (msgs_f && !(msgs = load_json(msgs_f, "--messages ", &err))) { rc = cli_error(&err); goto done; }
    if (msgs && cJSON_IsObject(msgs)) {
        /* also accept {"messages": [...]} */
        cJSON *inner = cJSON_DetachItemFromObjectCaseSensitive(msgs, "messages");
        cJSON_Delete(msgs);
        msgs = inner;
    }
    if (msgs_f && !cJSON_IsArray(msgs)) { rc = cli_fail("--messages %s: expected a JSON array of message objects", msgs_f); goto done; }
    if (!msgs) msgs = cJSON_CreateArray();
    if (tools_f && !(tools = load_json(tools_f, "--tools ", &err))) { rc = cli_error(&err); goto done; }
    if (tools && !cJSON_IsArray(tools) && !cJSON_IsNull(tools)) { rc = cli_fail("--tools %s: expected a JSON array of tool definitions", tools_f); goto done; }
    if (llmc_chat_template_load(source, &ct, &err) != LLMC_OK) { rc = cli_error(&err); goto done; }
    if (llmc_chat_template_apply(ct, msgs, tools, gen, vars, &out, &len, &err) != LLMC_OK) { rc = cli_error(&err); goto done; }
    if (len && fwrite(out, 1, len, stdout) != len) rc = cli_fail("template: write to stdout failed");
    if (fflush(stdout) != 0) rc = cli_fail("template: write to stdout failed");
done:
    free(out);
    llmc_chat_template_free(ct);
    cJSON_Delete(vars);
    cJSON_Delete(msgs);
    cJSON_Delete(tools);
    return rc;
}
