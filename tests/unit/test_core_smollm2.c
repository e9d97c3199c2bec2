/* A real model through the core graph: SmolLM2-135M-Instruct (Q4_1 GGUF,
 * dequantized to f32 as transformers loads it) against transformers' logits
 * (top 64 per position) and greedy continuation, from
 * tests/golden/core/smollm2_gguf_reference.json. Skips (77) loudly when the GGUF
 * is absent: set LLMC_GGUF_SMOLLM2 or run scripts/fetch-default-model.sh. */
#include "test.h"
#include "base/error.h"
#include "base/json.h"
#include "formats/gguf.h"
#include "model/model.h"
#include <unistd.h>

/* llmc_gguf_tensors, then (f32) every tensor widened to F32 as --dtype f32 loads a GGUF. */
static llmc_status gguf_tensors_as(llmc_gguf *g, bool f32, llmc_tensor_set **ts, llmc_error *err) {
    llmc_status st = llmc_gguf_tensors(g, ts, err);
    if (st == LLMC_OK && f32 && (st = llmc_model_tensors_f32(*ts, err)) != LLMC_OK) {
        llmc_tensor_set_free(*ts);
        *ts = NULL;
    }
    return st;
}

static int ints(const cJSON *a, int32_t *out, int max) {
    int n = 0;
    for (const cJSON *x = a ? a->child : NULL; x && n < max; x = x->next) out[n++] = (int32_t)x->valuedouble;
    return n;
}

int main(void) {
    char rpath[1024];
    const char *path = test_smollm2_gguf();
    snprintf(rpath, sizeof rpath, "%s/tests/golden/core/smollm2_gguf_reference.json", test_env("LLMC_SOURCE_DIR", "."));
    llmc_error err = {0};
    cJSON *ref = llmc_json_parse_file(rpath, 1 << 24, &err);
    if (!ref) { fprintf(stderr, "%s\n", err.msg); return 1; }

    llmc_gguf *g = NULL;
    llmc_config cfg;
    llmc_tensor_set *ts = NULL;
    llmc_model *m = NULL;
    if (llmc_gguf_open(path, &g, &err) || llmc_gguf_config(g, &cfg, &err) || gguf_tensors_as(g, true, &ts, &err)) {
        fprintf(stderr, "gguf: %s\n", err.msg);
        return 1;
    }
    llmc_gguf_free(g);
    llmc_model_opts o;
    llmc_model_opts_default(&o);
    o.max_context = 256;
    if (llmc_model_from_tensors(&cfg, ts, &o, &m, &err) != LLMC_OK) { fprintf(stderr, "model: %s\n", err.msg); return 1; }

    int32_t prompt[64], want[64];
    int n = ints(cJSON_GetObjectItem(ref, "prompt"), prompt, 64);
    int nwant = ints(cJSON_GetObjectItem(ref, "generated"), want, 64);
    int V = cfg.vocab_size;
    float *lg = malloc((size_t)n * V * sizeof *lg);
    CHECK_INT(llmc_model_forward(m, prompt, n, 0, lg, true, &err), LLMC_OK);
    /* Tolerance: max |delta| over the reference's top-64 entries / the row's max |ref|.
     * Both sides compute in f32 on identical dequantized weights, so differences are
     * summation order through 30 layers (measured ~1e-6); 1e-4 as for the tiny F32 fixtures. */
    const cJSON *tid = cJSON_GetObjectItem(ref, "top_ids"), *tlg = cJSON_GetObjectItem(ref, "top_logits");
    const cJSON *mabs = cJSON_GetObjectItem(ref, "max_abs");
    double worst = 0;
    int t = 0;
    for (const cJSON *ri = tid->child, *rl = tlg->child, *ma = mabs->child; ri && rl && ma && t < n;
         ri = ri->next, rl = rl->next, ma = ma->next, t++) {
        int k = 0, best = 0;
        for (int j = 1; j < V; j++) if (lg[(size_t)t * V + j] > lg[(size_t)t * V + best]) best = j;
        CHECK_MSG(best == (int)ri->child->valuedouble, "position %d: argmax %d, transformers %d", t, best, (int)ri->child->valuedouble);
        for (const cJSON *i = ri->child, *l = rl->child; i && l; i = i->next, l = l->next, k++) {
            double d = fabs(lg[(size_t)t * V + (int)i->valuedouble] - l->valuedouble) / ma->valuedouble;
            if (d > worst) worst = d;
        }
    }
    CHECK_INT(t, n);
    fprintf(stderr, "SmolLM2 f32: max |delta| / max |ref| over top-64 logits = %.3g\n", worst);
    CHECK_MSG(worst < 1e-4, "logits differ by %g", worst);

    /* Greedy decode, stopping at EOS as transformers' generate does. */
    int32_t got[64];
    int ngot = 0;
    const float *last = lg + (size_t)(n - 1) * V;
    float *step = malloc((size_t)V * sizeof *step);
    memcpy(step, last, (size_t)V * sizeof *step);
    while (ngot < nwant) {
        int best = 0;
        for (int j = 1; j < V; j++) if (step[j] > step[best]) best = j;
        got[ngot++] = best;
        if (best == cfg.eos_token_ids[0] || ngot == nwant) break;
        if (llmc_model_forward(m, &got[ngot - 1], 1, n + ngot - 1, step, false, &err) != LLMC_OK) { CHECK_MSG(0, "%s", err.msg); break; }
    }
    CHECK_INT(ngot, nwant);
    for (int i = 0; i < ngot && i < nwant; i++) CHECK_MSG(got[i] == want[i], "greedy step %d: %d, transformers %d", i, got[i], want[i]);
    free(step);
    free(lg);
    llmc_model_free(m);
    cJSON_Delete(ref);
    return test_summary();
}
