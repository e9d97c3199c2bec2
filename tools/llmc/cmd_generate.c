/* llmc generate MODEL --ids 1,2,3 -n N — the continuation as a JSON array of ids: the
 * prompt is prefilled as one batch, then tokens decode one at a time. Greedy unless
 * sampling flags are given. Like transformers' generate, it stops after an
 * end-of-sequence token (generation_config.json, else config.json) unless --ignore-eos. */
#include "cli.h"
#include "model_args.h"
#include "base/error.h"
#include "generate/generate.h"
#include "pipeline/pipeline_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void generate_usage(FILE *f) {
    fprintf(f, "usage: llmc generate MODEL --ids 1,2,3 -n N [options]\n\n"
               "Prints a JSON array of the generated token ids (greedy unless sampling flags are given).\n"
               "MODEL: a model directory, a .gguf file or a Hub id (org/name).\n\n"
               "  --ids LIST                  comma-separated prompt token ids (required)\n\n");
    cli_model_args_help_ex(f, true, "32");
}

int cmd_generate(int argc, char **argv) {
    const char *ids_s = NULL, *v;
    long long nnew = 32;
    bool bad = false;
    cli_model_args a;
    cli_model_args_init(&a);
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) { generate_usage(stdout); return 0; }
        if (cli_opt(argc, argv, &i, "--ids", &v, &bad)) { if (bad) return 2; ids_s = v; continue; }
        if ((r = cli_model_args_parse(&a, argc, argv, &i)) != 0) { if (r < 0) return 2; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_fail("generate: unknown option '%s' (see llmc generate --help)", argv[i]);
        if (a.pipe.model) return cli_fail("generate: more than one MODEL given ('%s', '%s')", a.pipe.model, argv[i]);
        a.pipe.model = argv[i];
    }
    if (!a.pipe.model || !ids_s) { generate_usage(stderr); return 2; }
    if (a.gen.max_new_tokens >= 0) nnew = a.gen.max_new_tokens;
    int32_t *ids;
    int n;
    if (!cli_parse_ids(ids_s, &ids, &n)) return cli_fail("--ids: expected comma-separated non-negative integers");
    if (n == 0) { free(ids); return cli_fail("--ids: no token ids given"); }
    llmc_pipeline *p = cli_open_pipeline(&a, true);
    if (!p) { free(ids); return 1; }
    llmc_model *m = llmc_pipeline_model(p);
    int rc = 0;
    llmc_error err = {0};
    /* generate() produces its first token from the prompt's last position, so the cache
     * needs n + N - 1 positions. */
    if ((long long)n + nnew - 1 > llmc_model_context(m)) {
        llmc_err(&err, LLMC_ERR_RANGE, "prompt of %d tokens + %lld new tokens needs %lld positions, more than the context of %d",
                 n, nnew, (long long)n + nnew - 1, llmc_model_context(m));
        rc = cli_error(&err);
    } else {
        const llmc_gen_config *gc = llmc_pipeline_gen_config(p);
        llmc_generate_opts go;
        memset(&go, 0, sizeof go);
        cli_sampling_from_flags(&a, &go.sampling);
        go.max_new_tokens = (int)nnew;
        go.eos_ids = gc->eos_ids;
        go.n_eos = a.gen.ignore_eos ? 0 : gc->n_eos;
        go.stop_strings = a.gen.stop_strings;
        go.n_stop_strings = a.gen.n_stop_strings;
        go.tok = a.gen.n_stop_strings ? llmc_pipeline_tokenizer(p) : NULL;
        llmc_generate_result res;
        if (llmc_generate(m, ids, n, 0, &go, &res, &err) != LLMC_OK) {
            rc = cli_error(&err);
        } else {
            fputc('[', stdout);
            for (int i = 0; i < res.n_ids; i++) printf(i ? ", %d" : "%d", (int)res.ids[i]);
            fputs("]\n", stdout);
            if (a.verbose)
                fprintf(stderr, "llmc: prompt %d tokens, %d generated (stop: %s), prefill %.1f tok/s, decode %.1f tok/s\n", n,
                        res.n_ids, llmc_stop_reason_name(res.stop), res.prefill_tokens_per_s, res.decode_tokens_per_s);
            llmc_generate_result_free(&res);
        }
    }
    if (fflush(stdout) != 0) rc = 1;
    free(ids);
    llmc_pipeline_free(p);
    return rc;
}
