/* llmc run — one chat turn, the reply streamed to stdout (or the pipeline's JSON with --json). */
#include "cli.h"
#include "model_args.h"
#include "base/file.h"
#include "base/json.h"
#include "base/strbuf.h"
#include "grammar/toolcall.h"
#include "pipeline/pipeline_internal.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void) {
    printf("usage: llmc run MODEL [--system TEXT] [PROMPT]\n"
           "       llmc run MODEL --messages FILE\n\n"
           "One chat turn with MODEL (Hub id org/name, model directory, or .gguf file). The reply is\n"
           "streamed to stdout. Without PROMPT (and without --messages) the prompt is read from stdin.\n\n"
           "  --system TEXT        system message\n"
           "  --messages FILE      a JSON array of {\"role\", \"content\"} messages (the whole conversation)\n"
           "  --raw                PROMPT is plain text to continue, no chat template (as pipe(\"text\"))\n"
           "  --json               print [{\"generated_text\": [messages...]}] as the transformers pipeline returns\n"
           "  --tools FILE         a JSON array of tools (OpenAI format) for the chat template; the reply is printed\n"
           "                       as an assistant message with its tool_calls parsed out (JSON)\n"
           "  --tool-choice C      auto (default), required (constrained to a call) or a function name\n"
           "  --tool-format F      llama3 | hermes | mistral call format (default: from the vocabulary)\n\n");
    cli_model_args_help(stdout, true);
}

static char *read_stdin(void) {
    llmc_strbuf sb;
    llmc_sb_init(&sb);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        if (sb.len + n > (64u << 20)) { llmc_sb_free(&sb); return NULL; }
        llmc_sb_append(&sb, buf, n);
    }
    /* A trailing newline from `echo` is not part of the prompt. */
    while (sb.len && (sb.data[sb.len - 1] == '\n' || sb.data[sb.len - 1] == '\r')) sb.data[--sb.len] = 0;
    return llmc_sb_take(&sb);
}

/* --tools: the tools text for the template and, for tool_choice required / NAME, the grammar
   that forces a call in the model's format (a.gen.grammar). Returns 0 or an exit code. */
static int tools_setup(llmc_pipeline *p, cli_model_args *a, const char *file, const char *choice, bool format_set,
                       llmc_tool_format format, char **tools, char **gbnf) {
    llmc_error err = {0};
    size_t len;
    if (llmc_read_file(file, 16u << 20, tools, &len, &err)) return cli_error(&err);
    if (!strcmp(choice, "auto") || !strcmp(choice, "none")) return 0;
    if (a->gen.json_schema || a->gen.grammar) return cli_fail("run: --tool-choice %s constrains the reply itself; drop --json-schema/--grammar", choice);
    if (!format_set) format = llmc_tool_format_for(llmc_pipeline_tokenizer(p));
    if (llmc_tool_grammar(format, *tools, strcmp(choice, "required") ? choice : NULL, gbnf, &err)) return cli_error(&err);
    a->gen.grammar = *gbnf;
    return 0;
}

/* The reply as an OpenAI-style assistant message: content and tool_calls (arguments as JSON text). */
static int print_tool_reply(const char *reply) {
    char *calls = NULL, *content = NULL;
    llmc_error err = {0};
    if (llmc_tool_calls_parse(reply, &calls, &content, &err)) {
        fprintf(stderr, "llmc: warning: %s; printing the reply as content\n", err.msg);
        content = strdup(reply);
    }
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", "assistant");
    if (content && *content) cJSON_AddStringToObject(msg, "content", content);
    else cJSON_AddNullToObject(msg, "content");
    cJSON *parsed = calls ? cJSON_Parse(calls) : NULL, *out = cJSON_CreateArray();
    int i = 0;
    for (const cJSON *c = parsed ? parsed->child : NULL; c; c = c->next, i++) {
        cJSON *tc = cJSON_CreateObject(), *fn = cJSON_CreateObject();
        char id[32];
        snprintf(id, sizeof id, "call_%d", i);
        cJSON_AddStringToObject(tc, "id", id);
        cJSON_AddStringToObject(tc, "type", "function");
        cJSON_AddStringToObject(fn, "name", cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring);
        char *args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "arguments"));
        cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
        free(args);
        cJSON_AddItemToObject(tc, "function", fn);
        cJSON_AddItemToArray(out, tc);
    }
    if (i) cJSON_AddItemToObject(msg, "tool_calls", out);
    else cJSON_Delete(out);
    char *s = cJSON_Print(msg);
    printf("%s\n", s ? s : "");
    free(s);
    cJSON_Delete(msg);
    cJSON_Delete(parsed);
    free(calls);
    free(content);
    return 0;
}

/* --json --raw: as the pipeline returns for a string, the prompt and its continuation. */
static void print_json_text(const char *prompt, const char *reply) {
    cJSON *out = cJSON_CreateArray(), *rec = cJSON_CreateObject();
    size_t a1 = strlen(prompt), b1 = strlen(reply);
    char *joined = malloc(a1 + b1 + 1);
    if (joined) {
        memcpy(joined, prompt, a1);
        memcpy(joined + a1, reply, b1 + 1);
    }
    cJSON_AddStringToObject(rec, "generated_text", joined ? joined : "");
    free(joined);
    cJSON_AddItemToArray(out, rec);
    char *o = cJSON_Print(out);
    printf("%s\n", o);
    free(o);
    cJSON_Delete(out);
}

/* --json: the conversation out, the assistant's reply appended (or the final assistant message
   continued), as [{"generated_text": [messages...]}]. Takes msgs. */
static void print_json_conversation(cJSON *msgs, const char *reply) {
    int n = cJSON_GetArraySize(msgs);
    cJSON *last = cJSON_GetArrayItem(msgs, n - 1);
    cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    if (cJSON_IsString(role) && !strcmp(role->valuestring, "assistant")) {
        cJSON *c = cJSON_GetObjectItemCaseSensitive(last, "content");
        const char *old = cJSON_IsString(c) ? c->valuestring : "";
        size_t a1 = strlen(old), b1 = strlen(reply);
        char *joined = malloc(a1 + b1 + 1);
        if (joined) {
            memcpy(joined, old, a1);
            memcpy(joined + a1, reply, b1 + 1);
            cJSON_ReplaceItemInObjectCaseSensitive(last, "content", cJSON_CreateString(joined));
            free(joined);
        }
    } else {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", reply);
        cJSON_AddItemToArray(msgs, m);
    }
    cJSON *out = cJSON_CreateArray(), *rec = cJSON_CreateObject();
    cJSON_AddItemToObject(rec, "generated_text", msgs);
    cJSON_AddItemToArray(out, rec);
    char *s = cJSON_Print(out);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(out);
}

int cmd_run(int argc, char **argv) {
    cli_model_args a;
    cli_model_args_init(&a);
    const char *system = NULL, *messages_file = NULL, *prompt = NULL;
    bool json = false, missing = false, raw = false, tool_format_set = false;
    const char *tools_file = NULL, *tool_choice = "auto";
    llmc_tool_format tool_format = LLMC_TOOLS_LLAMA3;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { help(); return 0; }
        int r = cli_model_args_parse(&a, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *v;
        if (cli_opt(argc, argv, &i, "--system", &v, &missing)) { if (missing) return 2; system = v; }
        else if (cli_opt(argc, argv, &i, "--messages", &v, &missing)) { if (missing) return 2; messages_file = v; }
        else if (cli_opt(argc, argv, &i, "--tools", &v, &missing)) { if (missing) return 2; tools_file = v; }
        else if (cli_opt(argc, argv, &i, "--tool-choice", &v, &missing)) { if (missing) return 2; tool_choice = v; }
        else if (cli_opt(argc, argv, &i, "--tool-format", &v, &missing)) {
            if (missing) return 2;
            if (!llmc_tool_format_parse(v, &tool_format)) return cli_fail("run: --tool-format is llama3, hermes or mistral, not '%s'", v);
            tool_format_set = true;
        }
        else if (cli_flag(argv, i, "--json")) json = true;
        else if (cli_flag(argv, i, "--raw")) raw = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_fail("run: unknown option '%s' (see llmc run --help)", argv[i]);
        else if (!a.pipe.model) a.pipe.model = argv[i];
        else if (!prompt) prompt = argv[i];
        else return cli_fail("run: more than one prompt given (quote the prompt)");
    }
    if (!a.pipe.model) { help(); return 2; }

    cJSON *msgs = NULL;
    char *owned_prompt = NULL, *msgs_text = NULL;
    llmc_error err = {0};
    if (raw && (messages_file || system)) return cli_fail("run: --raw continues plain text; it takes no --messages or --system");
    if (messages_file) {
        if (prompt || system) return cli_fail("run: --messages holds the whole conversation; do not also give PROMPT or --system");
        /* The text goes to the pipeline as written (floats like 1.0 keep their type). */
        size_t len;
        if (llmc_read_file(messages_file, 64u << 20, &msgs_text, &len, &err)) return cli_error(&err);
        msgs = llmc_json_parse(msgs_text, len, messages_file, &err);
        if (!msgs) { free(msgs_text); return cli_error(&err); }
        if (!cJSON_IsArray(msgs)) { cJSON_Delete(msgs); free(msgs_text); return cli_fail("%s: expected a JSON array of messages", messages_file); }
    } else {
        if (!prompt) {
            if (isatty(0)) fprintf(stderr, "llmc: reading the prompt from stdin (end it with Ctrl-D; or give PROMPT as an argument)\n");
            owned_prompt = read_stdin();
            if (!owned_prompt) return cli_fail("run: could not read the prompt from stdin");
            prompt = owned_prompt;
        }
        msgs = cJSON_CreateArray();
        if (system) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "system");
            cJSON_AddStringToObject(m, "content", system);
            cJSON_AddItemToArray(msgs, m);
        }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", prompt);
        cJSON_AddItemToArray(msgs, m);
    }

    llmc_pipeline *p = cli_open_pipeline(&a, false);
    if (!p) { cJSON_Delete(msgs); free(owned_prompt); free(msgs_text); return 1; }

    volatile int *cancel = cli_catch_sigint();
    a.gen.cancel = cancel;
    if (!json && !tools_file) a.gen.on_text = cli_stream_stdout;
    char *tools = NULL, *tool_gbnf = NULL;
    if (tools_file) {
        int trc = tools_setup(p, &a, tools_file, tool_choice, tool_format_set, tool_format, &tools, &tool_gbnf);
        if (trc) { cJSON_Delete(msgs); free(owned_prompt); free(msgs_text); llmc_pipeline_free(p); return trc; }
        if (raw || json) { free(tools); free(tool_gbnf); cJSON_Delete(msgs); free(owned_prompt); free(msgs_text); llmc_pipeline_free(p);
                           return cli_fail("run: --tools prints the assistant message itself; it takes no --raw or --json"); }
    }

    char *text = raw ? NULL : msgs_text ? msgs_text : cJSON_PrintUnformatted(msgs);
    msgs_text = NULL;
    char *reply = NULL;
    llmc_gen_stats stats = {0};
    llmc_status st = raw ? llmc_pipeline_complete(p, prompt, &a.gen, &reply, &stats, &err)
                         : llmc_pipeline_chat_json(p, text, tools, &a.gen, &reply, &stats, &err);
    free(text);
    free(tools);
    free(tool_gbnf);
    int rc = 0;
    if (st) {
        if (!json) fflush(stdout);
        rc = cli_error(&err);
    } else if (tools_file) {
        rc = print_tool_reply(reply);
    } else if (json && raw) {
        print_json_text(prompt, reply);
    } else if (json) {
        print_json_conversation(msgs, reply);
        msgs = NULL;
    } else {
        printf("\n");
    }
    if (!st && stats.stop == LLMC_STOP_CANCELLED) {
        fflush(stdout);
        fprintf(stderr, "llmc: interrupted after %d tokens\n", stats.generated_tokens);
        rc = 130; /* as a shell reports SIGINT: scripts can tell the reply was cut */
    }
    if (!st && a.verbose)
        fprintf(stderr, "llmc: prompt %d tokens (%d reused), %d generated, stop: %s; time to first token %.1f ms, "
                        "prefill %.1f tok/s, decode %.1f tok/s\n",
                stats.prompt_tokens, stats.reused_tokens, stats.generated_tokens, llmc_stop_reason_name(stats.stop),
                stats.ttft_ms, stats.prefill_tokens_per_s, stats.decode_tokens_per_s);
    free(reply);
    cJSON_Delete(msgs);
    free(owned_prompt);
    llmc_pipeline_free(p);
    return rc;
}
