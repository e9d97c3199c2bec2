/* Model flags and MODEL → llmc_model for commands that need a bare model (bench). The
 * opening itself is the pipeline's (Hub ids, directories, GGUF), not a second copy. */
#include "model_open.h"
#include "cli.h"
#include "base/error.h"
#include "pipeline/pipeline_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_model_flags_help[] =
    "  --dtype auto|f32|f16|bf16   weight dtype (auto: as stored; others convert at load)\n"
    "  --device auto|cpu|cuda[:N]  where to run\n"
    "  --threads N                 CPU threads (default: all online CPUs)\n"
    "  --ctx, --max-context N      KV-cache positions (default: max_position_embeddings, within a memory budget)\n";

void cli_model_flags_init(cli_model_flags *f) {
    llmc_model_opts_default(&f->opts);
    f->device = "auto";
}

int cli_model_flag(int argc, char **argv, int *i, cli_model_flags *f) {
    const char *v = NULL;
    bool bad = false;
    long long n;
    if (cli_opt(argc, argv, i, "--dtype", &v, &bad)) {
        if (bad) return -1;
        if (!llmc_parse_dtype(v, &f->opts.dtype)) { cli_fail("--dtype must be auto, f32, f16 or bf16 (got '%s')", v); return -1; }
        return 1;
    }
    if (cli_opt(argc, argv, i, "--device", &v, &bad)) {
        if (bad) return -1;
        f->device = v;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--threads", &v, &bad) || cli_opt(argc, argv, i, "-t", &v, &bad)) {
        if (bad) return -1;
        if (!cli_parse_int(v, 0, 1024, &n)) { cli_fail("--threads must be an integer in [0, 1024] (got '%s')", v); return -1; }
        f->opts.n_threads = (int)n;
        return 1;
    }
    if (cli_opt(argc, argv, i, "--ctx", &v, &bad) || cli_opt(argc, argv, i, "--max-context", &v, &bad)) {
        if (bad) return -1;
        if (!cli_parse_int(v, 1, 1 << 30, &n)) { cli_fail("--ctx must be a positive integer (got '%s')", v); return -1; }
        f->opts.max_context = (int)n;
        return 1;
    }
    return 0;
}

llmc_status cli_open_model(const char *model, const cli_model_flags *f, llmc_model **out, llmc_error *err) {
    *out = NULL;
    static const char *const names[] = {[LLMC_DT_F32] = "f32", [LLMC_DT_F16] = "f16", [LLMC_DT_BF16] = "bf16"};
    llmc_pipeline_opts po;
    llmc_pipeline_opts_default(&po);
    po.model = model;
    po.device = f->device;
    po.n_threads = f->opts.n_threads;
    po.max_context = f->opts.max_context;
    po.dtype = f->opts.dtype >= 0 && f->opts.dtype <= LLMC_DT_BF16 ? names[f->opts.dtype] : "auto";
    llmc_pipeline *p = NULL;
    llmc_status st = llmc_pipeline_create_ex(&po, true, &p, err);
    if (st) return st;
    *out = llmc_pipeline_take_model(p);
    llmc_pipeline_free(p);
    return LLMC_OK;
}
