/* Model flags and MODEL → llmc_model for the CLI commands that run a model. */
#include "model_open.h"
#include "cli.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "formats/gguf.h"
#include "formats/tensor.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_model_flags_help[] =
    "  --dtype auto|f32|f16|bf16   weight dtype (auto: as stored; others convert at load)\n"
    "  --device auto|cpu|cuda[:N]  where to run (this build: CPU only)\n"
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
        if (strcmp(v, "auto") == 0) f->opts.dtype = -1;
        else if (strcmp(v, "f32") == 0 || strcmp(v, "float32") == 0) f->opts.dtype = LLMC_DT_F32;
        else if (strcmp(v, "f16") == 0 || strcmp(v, "float16") == 0) f->opts.dtype = LLMC_DT_F16;
        else if (strcmp(v, "bf16") == 0 || strcmp(v, "bfloat16") == 0) f->opts.dtype = LLMC_DT_BF16;
        else { cli_fail("--dtype must be auto, f32, f16 or bf16 (got '%s')", v); return -1; }
        return 1;
    }
    if (cli_opt(argc, argv, i, "--device", &v, &bad)) {
        if (bad) return -1;
        if (strcmp(v, "auto") != 0 && strcmp(v, "cpu") != 0 && strncmp(v, "cuda", 4) != 0) {
            cli_fail("--device must be auto, cpu or cuda[:N] (got '%s')", v);
            return -1;
        }
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
    if (strncmp(f->device, "cuda", 4) == 0)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "--device %s: CUDA is not available in this build (use --device cpu)", f->device);
    if (llmc_dir_exists(model)) return llmc_model_load(model, &f->opts, out, err);
    if (llmc_str_endswith(model, ".gguf") && llmc_file_exists(model)) {
        /* Config as transformers reads a GGUF (no rope scaling); --dtype f32 dequantizes at load. */
        llmc_gguf *g = NULL;
        llmc_config cfg;
        llmc_tensor_set *ts = NULL;
        bool deq = f->opts.dtype == LLMC_DT_F32;
        llmc_status st = llmc_gguf_open(model, &g, err);
        if (st == LLMC_OK) st = llmc_gguf_config(g, &cfg, err);
        if (st == LLMC_OK) st = llmc_gguf_tensors(g, deq, &ts, err);
        llmc_gguf_free(g);
        if (st != LLMC_OK) return st;
        llmc_model_opts o = f->opts;
        if (deq) o.dtype = -1;
        st = llmc_model_from_tensors(&cfg, ts, &o, out, err);
        if (st != LLMC_OK) llmc_err_prefix(err, "%s: ", model);
        return st;
    }
    if (!llmc_file_exists(model) && strchr(model, '/'))
        return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: no such model directory (Hub ids are not wired into this command yet)", model);
    return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: not a model directory", model);
}

int cli_model_eos(const char *model, const llmc_model *m, int32_t *eos, int max) {
    int n = 0;
    if (llmc_dir_exists(model)) {
        char *p = llmc_path_join(model, "generation_config.json");
        llmc_error e;
        cJSON *j = p && llmc_file_exists(p) ? llmc_json_parse_file(p, 1 << 20, &e) : NULL;
        free(p);
        const cJSON *it = j ? cJSON_GetObjectItemCaseSensitive(j, "eos_token_id") : NULL;
        if (it) {
            if (llmc_json_is_int(it, 0, INT32_MAX)) eos[n++] = (int32_t)it->valuedouble;
            else if (cJSON_IsArray(it))
                for (const cJSON *x = it->child; x && n < max; x = x->next)
                    if (llmc_json_is_int(x, 0, INT32_MAX)) eos[n++] = (int32_t)x->valuedouble;
            cJSON_Delete(j);
            return n;
        }
        cJSON_Delete(j);
    }
    const llmc_config *c = llmc_model_config(m);
    for (int i = 0; i < c->num_eos && n < max; i++) eos[n++] = c->eos_token_ids[i];
    return n;
}
