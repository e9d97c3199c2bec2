/* llmc logits MODEL --ids 1,2,3 — the model's logits at every position as a JSON
 * array of arrays (the reference-comparison tool; one batched forward pass). */
#include "cli.h"
#include "model_args.h"
#include "pipeline/pipeline_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void logits_usage(FILE *f) {
    fprintf(f, "usage: llmc logits MODEL --ids 1,2,3 [options]\n\n"
               "Prints a JSON array with one array of vocab_size float logits per input position.\n\n"
               "  --ids LIST                  comma-separated token ids (required)\n"
               "  --last                      only the last position's logits (still an array of arrays)\n"
               "MODEL: a model directory, a .gguf file or a Hub id (org/name).\n\n");
    cli_model_args_help(f, false);
}

int cmd_logits(int argc, char **argv) {
    const char *ids_s = NULL, *v;
    bool last_only = false, bad = false;
    cli_model_args a;
    cli_model_args_init(&a);
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) { logits_usage(stdout); return 0; }
        if (cli_opt(argc, argv, &i, "--ids", &v, &bad)) { if (bad) return 2; ids_s = v; continue; }
        if (cli_flag(argv, i, "--last")) { last_only = true; continue; }
        if ((r = cli_model_args_parse(&a, argc, argv, &i)) != 0) { if (r < 0) return 2; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_fail("logits: unknown option '%s' (see llmc logits --help)", argv[i]);
        if (a.pipe.model) return cli_fail("logits: more than one MODEL given ('%s', '%s')", a.pipe.model, argv[i]);
        a.pipe.model = argv[i];
    }
    if (!a.pipe.model || !ids_s) { logits_usage(stderr); return 2; }
    int32_t *ids;
    int n;
    if (!cli_parse_ids(ids_s, &ids, &n)) return cli_fail("--ids: expected comma-separated non-negative integers");
    if (n == 0) { free(ids); return cli_fail("--ids: no token ids given"); }
    llmc_error err = {0};
    llmc_pipeline *p = cli_open_pipeline(&a, true);
    if (!p) { free(ids); return 1; }
    llmc_model *m = llmc_pipeline_model(p);
    int V = llmc_model_config(m)->vocab_size;
    float *lg = malloc((size_t)(last_only ? 1 : n) * (size_t)V * sizeof *lg);
    int rc = 0;
    if (!lg) { fprintf(stderr, "llmc: error: out of memory for %d x %d logits\n", n, V); rc = 1; }
    else if (llmc_model_forward(m, ids, n, 0, lg, !last_only, &err) != LLMC_OK) rc = cli_error(&err);
    else {
        int rows = last_only ? 1 : n;
        fputc('[', stdout);
        for (int t = 0; t < rows; t++) {
            fputs(t ? ",\n[" : "[", stdout);
            const float *r = lg + (size_t)t * V;
            for (int j = 0; j < V; j++) {
                /* JSON has no NaN/Infinity literals; null keeps the output parseable. */
                if (r[j] != r[j] || r[j] - r[j] != 0) fputs(j ? ",null" : "null", stdout);
                else printf(j ? ",%.9g" : "%.9g", (double)r[j]);
            }
            fputc(']', stdout);
        }
        fputs("]\n", stdout);
        if (fflush(stdout) != 0) rc = 1;
    }
    free(lg);
    free(ids);
    llmc_pipeline_free(p);
    return rc;
}
