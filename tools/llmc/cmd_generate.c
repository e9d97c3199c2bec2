/* llmc generate MODEL --ids 1,2,3 -n N — greedy continuation as a JSON array of
 * ids: the prompt is prefilled as one batch, then tokens decode one at a time.
 * Like transformers' generate, it stops after an end-of-sequence token
 * (generation_config.json, else config.json) unless --ignore-eos. */
#include "cli.h"
#include "model_open.h"
#include "base/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void generate_usage(FILE *f) {
    fprintf(f, "usage: llmc generate MODEL --ids 1,2,3 -n N [options]\n\n"
               "Prints a JSON array of the generated token ids (greedy decoding).\n\n"
               "  --ids LIST                  comma-separated prompt token ids (required)\n"
               "  -n, --max-new-tokens N      tokens to generate (default 32)\n"
               "  --ignore-eos                keep going past end-of-sequence tokens\n"
               "%s", cli_model_flags_help);
}

static int argmax(const float *x, int n) {
    int best = 0;
    /* First index wins ties, as torch.argmax does. NaN never wins. */
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
    return best;
}

int cmd_generate(int argc, char **argv) {
    const char *model = NULL, *ids_s = NULL, *v;
    long long nnew = 32;
    bool bad = false, ignore_eos = false;
    cli_model_flags mf;
    cli_model_flags_init(&mf);
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) { generate_usage(stdout); return 0; }
        if (cli_opt(argc, argv, &i, "--ids", &v, &bad)) { if (bad) return 2; ids_s = v; continue; }
        if (cli_opt(argc, argv, &i, "-n", &v, &bad) || cli_opt(argc, argv, &i, "--max-new-tokens", &v, &bad)) {
            if (bad) return 2;
            if (!cli_parse_int(v, 0, 1 << 30, &nnew)) return cli_fail("-n: expected a non-negative integer (got '%s')", v);
            continue;
        }
        if (cli_flag(argv, i, "--ignore-eos")) { ignore_eos = true; continue; }
        if (cli_flag(argv, i, "--greedy")) continue;
        if ((r = cli_model_flag(argc, argv, &i, &mf)) != 0) { if (r < 0) return 2; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_fail("generate: unknown option '%s' (see llmc generate --help)", argv[i]);
        if (model) return cli_fail("generate: more than one MODEL given ('%s', '%s')", model, argv[i]);
        model = argv[i];
    }
    if (!model || !ids_s) { generate_usage(stderr); return 2; }
    int32_t *ids;
    int n;
    if (!cli_parse_ids(ids_s, &ids, &n)) return cli_fail("--ids: expected comma-separated non-negative integers");
    if (n == 0) { free(ids); return cli_fail("--ids: no token ids given"); }
    llmc_error err = {0};
    llmc_model *m = NULL;
    if (cli_open_model(model, &mf, &m, &err) != LLMC_OK) { free(ids); return cli_error(&err); }
    int V = llmc_model_config(m)->vocab_size;
    int32_t eos[LLMC_MAX_EOS];
    int neos = ignore_eos ? 0 : cli_model_eos(model, m, eos, LLMC_MAX_EOS);
    float *lg = malloc((size_t)V * sizeof *lg);
    int32_t *outv = malloc((size_t)(nnew ? nnew : 1) * sizeof *outv);
    int rc = 0, got = 0;
    if (!lg || !outv) { fprintf(stderr, "llmc: error: out of memory\n"); rc = 1; goto done; }
    if (nnew > 0 && (long long)n + nnew - 1 > llmc_model_context(m)) {
        llmc_error e2;
        rc = cli_error((llmc_err(&e2, LLMC_ERR_RANGE, "prompt of %d tokens + %lld new tokens needs %lld positions, more than the context of %d",
                                 n, nnew, (long long)n + nnew - 1, llmc_model_context(m)), &e2));
        goto done;
    }
    if (nnew > 0 && llmc_model_forward(m, ids, n, 0, lg, false, &err) != LLMC_OK) { rc = cli_error(&err); goto done; }
    for (; got < nnew;) {
        int32_t next = argmax(lg, V);
        outv[got++] = next;
        bool stop = false;
        for (int e = 0; e < neos; e++) stop |= next == eos[e];
        if (stop || got == nnew) break;
        if (llmc_model_forward(m, &next, 1, n + got - 1, lg, false, &err) != LLMC_OK) { rc = cli_error(&err); goto done; }
    }
    fputc('[', stdout);
    for (int i = 0; i < got; i++) printf(i ? ", %d" : "%d", (int)outv[i]);
    fputs("]\n", stdout);
    if (fflush(stdout) != 0) rc = 1;
done:
    free(lg);
    free(outv);
    free(ids);
    llmc_model_free(m);
    return rc;
}
