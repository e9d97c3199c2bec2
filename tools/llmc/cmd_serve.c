/* llmc serve — an OpenAI-compatible HTTP server for one model (src/server). */
#include "cli.h"
#include "model_args.h"
#include "server/server.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void) {
    printf("usage: llmc serve MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY]\n\n"
           "Serves MODEL (Hub id org/name, model directory, or .gguf file) over HTTP with OpenAI's API:\n"
           "  POST /v1/chat/completions   messages in, the assistant's reply out (\"stream\": true for\n"
           "                              server-sent events); max_tokens, temperature, top_p, top_k,\n"
           "                              min_p, repetition_penalty, seed, stop (cut from the reply), n,\n"
           "                              response_format (json_object, json_schema), grammar (GBNF),\n"
           "                              tools + tool_choice (auto, none, required, a function)\n"
           "  POST /v1/completions        plain-text continuation of \"prompt\" (no chat template; echo)\n"
           "  GET  /v1/models[/ID]        the model (a request's \"model\": --name, MODEL as given, or\n"
           "                              MODEL's file name with or without .gguf; else 404)\n"
           "  GET  /health                {\"status\": \"ok\"} (needs no API key)\n"
           "  GET  /metrics               requests, tokens, latency histograms, queue, KV (Prometheus text)\n"
           "On the CPU, --parallel requests decode together in every step (continuous batching): each\n"
           "one's reply is the same ids as if it ran alone. Further requests wait in a queue; past\n"
           "--max-queue they get HTTP 429 (the connection limit leaves room for all of them). Prompts\n"
           "that begin with recently seen text reuse its KV blocks (--prefix-cache). A model on a GPU\n"
           "generates one reply at a time.\n\n"
           "  --host ADDR          address to listen on (default 127.0.0.1: this machine only)\n"
           "  --port N             TCP port (default 8080; 0: any free port, printed at start)\n"
           "  --api-key KEY        require \"Authorization: Bearer KEY\" on every route but /health (default:\n"
           "                       LLMC_API_KEY, else none)\n"
           "  --name ID            the model id reported to clients (default: MODEL)\n"
           "  --max-body BYTES     largest request body accepted (default 8388608)\n"
           "  --parallel N         sequences decoded together (default 4, at most 64)\n"
           "  --max-queue N        requests that may wait for a sequence (default 128; 0: none, 429 at once)\n"
           "  --step-tokens N      tokens per step: decodes first, then prompt chunks (default 64, at most 256)\n"
           "  --kv-budget MIB      KV-cache memory the running requests may reserve (default 4096); a request\n"
           "                       that can never fit is refused with an error naming it\n"
           "  --prefix-cache MIB   memory for cached prompt KV blocks, least recently used evicted (default 256; 0: off)\n"
           "  --batch-f32          Q8_0/Q4_0/Q4_1 weights as f32 tiles in every step (exact f32 math; on AVX-512\n"
           "                       more tokens/s from about 8 streams, slower for one)\n\n"
           "Generation options below are defaults for requests that do not set them.\n\n");
    cli_model_args_help(stdout, true);
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

int cmd_serve(int argc, char **argv) {
    cli_model_args a;
    cli_model_args_init(&a);
    llmc_server_opts so;
    memset(&so, 0, sizeof so);
    so.port = 8080;
    so.api_key = getenv("LLMC_API_KEY");
    bool missing = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { help(); return 0; }
        int r = cli_model_args_parse(&a, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *v;
        long long n;
        if (cli_opt(argc, argv, &i, "--host", &v, &missing)) { if (missing) return 2; so.host = v; }
        else if (cli_opt(argc, argv, &i, "--port", &v, &missing)) {
            if (missing) return 2;
            if (!cli_parse_int(v, 0, 65535, &n)) return cli_fail("serve: --port needs a number from 0 to 65535, not '%s'", v);
            so.port = (int)n;
        } else if (cli_opt(argc, argv, &i, "--api-key", &v, &missing)) { if (missing) return 2; so.api_key = v; }
        else if (cli_opt(argc, argv, &i, "--name", &v, &missing)) { if (missing) return 2; so.model_name = v; }
        else if (cli_opt(argc, argv, &i, "--max-body", &v, &missing)) {
            if (missing) return 2;
            if (!cli_parse_int(v, 1024, 1LL << 30, &n)) return cli_fail("serve: --max-body needs a byte count from 1024 to 1073741824, not '%s'", v);
            so.max_body = (size_t)n;
        } else if (!strcmp(argv[i], "--batch-f32")) {
            so.batch_f32 = true;
        } else if (cli_opt(argc, argv, &i, "--parallel", &v, &missing)) {
            if (missing) return 2;
            if (!cli_parse_int(v, 1, 64, &n)) return cli_fail("serve: --parallel needs a number from 1 to 64, not '%s'", v);
            so.parallel = (int)n;
        } else if (cli_opt(argc, argv, &i, "--max-queue", &v, &missing)) {
            if (missing) return 2;
            if (!cli_parse_int(v, 0, 100000, &n)) return cli_fail("serve: --max-queue needs a number from 0 to 100000, not '%s'", v);
            so.max_queue = n == 0 ? -1 : (int)n;
        } else if (cli_opt(argc, argv, &i, "--step-tokens", &v, &missing)) {
            if (missing) return 2;
            if (!cli_parse_int(v, 1, 256, &n)) return cli_fail("serve: --step-tokens needs a number from 1 to 256, not '%s'", v);
            so.step_tokens = (int)n;
        } else if (cli_opt(argc, argv, &i, "--kv-budget", &v, &missing)) {
            if (missing) return 2;
            if (!cli_parse_int(v, 1, 1 << 20, &n)) return cli_fail("serve: --kv-budget needs MiB from 1 to 1048576, not '%s'", v);
            so.kv_budget = (size_t)n << 20;
        } else if (cli_opt(argc, argv, &i, "--prefix-cache", &v, &missing)) {
            if (missing) return 2;
            if (!cli_parse_int(v, 0, 1 << 20, &n)) return cli_fail("serve: --prefix-cache needs MiB from 0 to 1048576, not '%s'", v);
            so.prefix_cache = n == 0 ? (size_t)-1 : (size_t)n << 20;
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_fail("serve: unknown option '%s' (see llmc serve --help)", argv[i]);
        else if (!a.pipe.model) a.pipe.model = argv[i];
        else return cli_fail("serve: more than one model given");
    }
    if (!a.pipe.model) { help(); return 2; }
    if (!llmc_server_built())
        return cli_fail("serve: this build has no HTTP server: libmicrohttpd was not found (apt-get install libmicrohttpd-dev, then rebuild)");
    char name[256];
    if (!so.model_name) { /* a Hub id as given; a local path by its last component */
        const char *m = a.pipe.model;
        bool local = m[0] == '/' || m[0] == '.' || access(m, F_OK) == 0;
        snprintf(name, sizeof name, "%s", m);
        size_t n = strlen(name);
        while (local && n > 1 && name[n - 1] == '/') name[--n] = 0;
        const char *slash = local ? strrchr(name, '/') : NULL;
        so.model_name = slash && slash[1] ? slash + 1 : name;
    }
    so.model_source = a.pipe.model; /* a request's "model" may also name it as it was given */
    if (a.verbose < 1) a.verbose = 1; /* a server reports its requests */
    llmc_pipeline *p = cli_open_pipeline(&a, false);
    if (!p) return 1;
    so.defaults = &a.gen;
    llmc_server *s = NULL;
    llmc_error err = {0};
    if (llmc_server_start(p, &so, &s, &err)) {
        llmc_pipeline_free(p);
        return cli_error(&err);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    const char *host = so.host && *so.host ? so.host : "127.0.0.1";
    fprintf(stderr, "llmc: serving %s on http://%s%s%s:%d (POST /v1/chat/completions, GET /v1/models)%s; Ctrl-C stops\n", so.model_name,
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", llmc_server_port(s), so.api_key && *so.api_key ? ", API key required" : "");
    while (!g_stop) sleep(1);
    fprintf(stderr, "llmc: stopping\n");
    llmc_server_stop(s);
    llmc_pipeline_free(p);
    return 0;
}
