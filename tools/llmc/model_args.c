/* Shared model/generation options and pipeline opening for the CLI. */
#include "model_args.h"
#include "cli.h"
#include "pipeline/pipeline_internal.h"
#include "base/file.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cli_model_args_init(cli_model_args *a) {
    memset(a, 0, sizeof *a);
    llmc_pipeline_opts_default(&a->pipe);
    llmc_gen_params_default(&a->gen);
}

void cli_model_args_help(FILE *f, bool with_generation) { cli_model_args_help_ex(f, with_generation, NULL); }

void cli_model_args_help_ex(FILE *f, bool with_generation, const char *max_new_default) {
    fputs("model options:\n"
          "  --dtype auto|bf16|f16|f32   weight dtype (auto: as stored; f32 dequantizes GGUF weights)\n"
          "  --device auto|cpu|cuda[:N]  where to run (auto: GPU when present, else CPU)\n"
          "  --gpu-layers N              put only the first N layers on the GPU (default: as many as fit)\n"
          "  -t, --threads N             CPU threads (default: all cores)\n"
          "  --quantize q8_0|q4_0        quantize a float checkpoint's linear weights at load (embeddings and\n"
          "                              lm_head: q8_0): less memory, faster CPU decode\n"
          "  --fast-act                  quantized weights: 8-bit activations as llama.cpp (faster; top-1\n"
          "                              may flip on near-ties; default ~15-bit, matching f32 math);\n"
          "                              bf16 weights: prefill on AMX tiles with bf16 activations\n"
          "  -c, --max-context N         KV-cache positions (default: the model's, bounded by memory; --ctx too)\n"
          "  --token T                   Hub access token (default: HF_TOKEN, then ~/.cache/huggingface/token)\n"
          "  --revision R                Hub revision (branch, tag or commit)\n"
          "  -v, --verbose               loading details, prompt tokens, time to first token, tokens/s\n", f);
    if (!with_generation) return;
    fprintf(f, "generation options (unset ones come from the model's generation_config.json):\n"
               "  -n, --max-new-tokens N      tokens to generate, at least 1 (default: %s)\n",
            max_new_default ? max_new_default : "generation_config's max_new_tokens, else 256");
    fputs("  --greedy                    no sampling (a sampling flag given with it is ignored, with a warning)\n"
              "  --temperature T             0 to 100 (0: greedy)\n"
              "  --top-k K  --top-p P  --min-p P  --repetition-penalty R\n"
              "                              K >= 0, P in [0, 1], R in (0, 100]\n"
              "  -s, --seed S                reproducible sampling\n"
              "  --ignore-eos                keep generating past end-of-sequence tokens (to -n)\n"
              "  --stop TEXT                 stop when the reply contains TEXT (repeatable)\n"
              "  --json-schema FILE          constrain the reply to JSON valid under the JSON Schema in FILE\n"
              "  --json-object               constrain the reply to a JSON object (any)\n"
              "  --grammar FILE              constrain the reply to the GBNF grammar in FILE (llama.cpp's format)\n", f);
}

/* A bad value: the message names the option, the value and what is valid. */
static int bad(const char *opt, const char *v, const char *valid) {
    fprintf(stderr, "llmc: error: bad value for %s: '%s' (%s)\n", opt, v ? v : "", valid);
    return -1;
}

/* --greedy against sampling flags: greedy wins, and says so (whichever came first). */
static void warn_greedy(cli_model_args *a, const char *flag, const char *v) {
    if (a->greedy_flag && flag)
        fprintf(stderr, "llmc: warning: --greedy is given, so %s %s has no effect (drop --greedy to sample)\n", flag, v);
}

static void note_sampling(cli_model_args *a, const char *flag, const char *v) {
    if (!a->sampling_flag) { a->sampling_flag = flag; a->sampling_value = v; }
    warn_greedy(a, flag, v);
}

int cli_model_args_parse(cli_model_args *a, int argc, char **argv, int *i) {
    const char *v = NULL;
    bool missing = false;
    long long n;
    double d;
    if (cli_flag(argv, *i, "-v") || cli_flag(argv, *i, "--verbose")) { a->verbose++; return 1; }
    if (cli_flag(argv, *i, "--greedy")) {
        a->gen.do_sample = 0;
        a->greedy_flag = true;
        if (a->sampling_flag) warn_greedy(a, a->sampling_flag, a->sampling_value);
        return 1;
    }
    if (cli_flag(argv, *i, "--ignore-eos")) { a->gen.ignore_eos = true; return 1; }
    if (cli_flag(argv, *i, "--fast-act")) { a->pipe.fast_activations = 1; return 1; }
    if (cli_opt(argc, argv, i, "--dtype", &v, &missing)) { if (missing) return -1; a->pipe.dtype = v; return 1; }
    if (cli_opt(argc, argv, i, "--device", &v, &missing)) { if (missing) return -1; a->pipe.device = v; return 1; }
    if (cli_opt(argc, argv, i, "--quantize", &v, &missing)) { if (missing) return -1; a->pipe.quantize = v; return 1; }
    if (cli_opt(argc, argv, i, "--gpu-layers", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_int(v, 0, 1 << 16, &n)) return bad("--gpu-layers", v, "an integer from 0 to 65536");
        a->pipe.gpu_layers = (int)n;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--token", &v, &missing)) { if (missing) return -1; a->pipe.token = v; return 1; }
    if (cli_opt(argc, argv, i, "--revision", &v, &missing)) { if (missing) return -1; a->pipe.revision = v; return 1; }
    if (cli_opt(argc, argv, i, "--threads", &v, &missing) || cli_opt(argc, argv, i, "-t", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_int(v, 1, 1024, &n)) return bad("--threads", v, "an integer from 1 to 1024");
        a->pipe.n_threads = (int)n;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--max-context", &v, &missing) || cli_opt(argc, argv, i, "--ctx", &v, &missing) ||
        cli_opt(argc, argv, i, "-c", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_int(v, 1, 1 << 24, &n)) return bad("--max-context", v, "an integer from 1 to 16777216");
        a->pipe.max_context = (int)n;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--max-new-tokens", &v, &missing) || cli_opt(argc, argv, i, "-n", &v, &missing)) {
        if (missing) return -1;
        /* transformers refuses max_new_tokens=0 too: nothing would be generated */
        if (!cli_parse_int(v, 1, 1 << 24, &n)) return bad("--max-new-tokens", v, "an integer from 1 to 16777216");
        a->gen.max_new_tokens = (int)n;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--temperature", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_double(v, &d) || d < 0 || d > 100) return bad("--temperature", v, "a number from 0 to 100; 0 is greedy");
        a->gen.temperature = (float)d;
        note_sampling(a, "--temperature", v);
        if (a->gen.do_sample < 0) a->gen.do_sample = d > 0;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--top-p", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_double(v, &d) || d < 0 || d > 1) return bad("--top-p", v, "a number from 0 to 1; 1 disables it");
        a->gen.top_p = (float)d;
        note_sampling(a, "--top-p", v);
        if (a->gen.do_sample < 0) a->gen.do_sample = 1;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--min-p", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_double(v, &d) || d < 0 || d > 1) return bad("--min-p", v, "a number from 0 to 1; 0 disables it");
        a->gen.min_p = (float)d;
        note_sampling(a, "--min-p", v);
        if (a->gen.do_sample < 0) a->gen.do_sample = 1;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--top-k", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_int(v, 0, 1 << 30, &n)) return bad("--top-k", v, "an integer >= 0; 0 disables it");
        a->gen.top_k = (int)n;
        note_sampling(a, "--top-k", v);
        if (a->gen.do_sample < 0) a->gen.do_sample = 1;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--repetition-penalty", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_double(v, &d) || d <= 0 || d > 100) return bad("--repetition-penalty", v, "a number in (0, 100]; 1 disables it");
        a->gen.repetition_penalty = (float)d;
        return 1;
    }
    bool schema = false;
    if ((schema = cli_opt(argc, argv, i, "--json-schema", &v, &missing)) || cli_opt(argc, argv, i, "--grammar", &v, &missing)) {
        if (missing) return -1;
        char *text = NULL;
        size_t len = 0;
        llmc_error err = {0};
        if (llmc_read_file(v, 16u << 20, &text, &len, &err)) { fprintf(stderr, "llmc: error: %s\n", err.msg); return -1; }
        if (schema) a->gen.json_schema = text;   /* lives as long as the process */
        else a->gen.grammar = text;
        return 1;
    }
    if (cli_flag(argv, *i, "--json-object")) { a->gen.json_schema = ""; return 1; }
    if (cli_opt(argc, argv, i, "--seed", &v, &missing) || cli_opt(argc, argv, i, "-s", &v, &missing)) {
        if (missing) return -1;
        if (!cli_parse_int(v, 0, (long long)9e18, &n)) return bad("--seed", v, "an integer from 0 to 9e18");
        a->gen.seed = (uint64_t)n;
        a->gen.has_seed = true;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--stop", &v, &missing)) {
        if (missing) return -1;
        if (a->gen.n_stop_strings >= 16) return bad("--stop", v, "at most 16 stop strings");
        a->stops[a->gen.n_stop_strings++] = v;
        a->gen.stop_strings = a->stops;
        return 1;
    }
    return 0;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reading the weights from disk: a bar once it has taken more than a second (a warm page cache
 * never shows one), as transformers shows "Loading checkpoint shards". */
static void loading_progress(uint64_t done, uint64_t total, int finished) {
    static double t0, last;
    static bool shown;
    double t = mono_s();
    if (!t0) t0 = t;
    if (!shown && (finished || t - t0 < 1.0)) return;
    if (!finished && t - last < 0.1) return;
    shown = true;
    last = t;
    double pct = total ? 100.0 * (double)done / (double)total : 100;
    int w = 30, fill = (int)(pct / 100 * w + 0.5);
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    if (isatty(2)) fprintf(stderr, "\r\033[Kloading weights [%s] %5.1f%% %.2f/%.2f GB%s", bar, pct, done / 1e9, total / 1e9, finished ? "\n" : "");
    else if (finished) fprintf(stderr, "llmc: loaded %.2f GB of weights from disk in %.1f s\n", total / 1e9, t - t0);
}

/* Download progress: one line per file, redrawn in place on a terminal; then the loading bar. */
static void progress(void *user, const char *what, uint64_t done, uint64_t total, int finished) {
    (void)user;
    if (!strcmp(what, LLMC_PROGRESS_LOADING)) { loading_progress(done, total, finished); return; }
    if (!isatty(2)) {
        if (finished) fprintf(stderr, "llmc: fetched %s (%.1f MB)\n", what, done / 1e6);
        return;
    }
    double pct = total ? 100.0 * done / total : 0;
    fprintf(stderr, "\r%-40.40s %5.1f%% %8.1f MB%s", what, pct, done / 1e6, finished ? "\n" : "");
}

llmc_pipeline *cli_open_pipeline(cli_model_args *a, bool model_only) {
    cli_install_logger(a->verbose);
    a->pipe.progress = progress;
    bool tty = isatty(2);
    if (tty) fprintf(stderr, "loading %s ...", a->pipe.model);
    llmc_pipeline *p = NULL;
    llmc_error err = {0};
    llmc_status st = llmc_pipeline_create_ex(&a->pipe, model_only, &p, &err);
    if (tty) fprintf(stderr, "\r\033[K");
    if (st) { cli_error(&err); return NULL; }
    if (a->verbose) fprintf(stderr, "llmc: %s\n", llmc_pipeline_describe(p));
    return p;
}

void cli_sampling_from_flags(const cli_model_args *a, llmc_sampling *s) {
    llmc_sampling_default(s);
    const llmc_gen_params *g = &a->gen;
    s->do_sample = g->do_sample > 0;
    if (g->temperature >= 0) s->temperature = g->temperature;
    if (g->top_k >= 0) s->top_k = g->top_k;
    if (g->top_p >= 0) s->top_p = g->top_p;
    if (g->min_p >= 0) s->min_p = g->min_p;
    if (g->repetition_penalty >= 0) s->repetition_penalty = g->repetition_penalty;
    if (g->has_seed) { s->seed = g->seed; s->has_seed = true; }
}
