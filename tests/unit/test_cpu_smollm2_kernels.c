/* Quantized-activation kernels on a real model: SmolLM2-135M-Instruct Q4_1 GGUF run
 * with every kernel family this CPU supports, teacher-forced on a greedy
 * continuation the scalar family (exact f32 activations) produced. Checks that
 * the integer-dot families pick the same next token wherever the reference is
 * not a near tie, and prints agreement and logit differences. Skips (77) when
 * the GGUF is not present (scripts/fetch-default-model.sh fetches it). */
#include "test.h"
#include "backend/cpu/ops.h"
#include "formats/gguf.h"
#include "model/model.h"

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

#define N_PROMPT 6
#if defined(__SANITIZE_ADDRESS__)
#define N_GEN 4 /* the sanitizer build runs unoptimized: keep it to seconds */
#else
#define N_GEN 26
#endif
#define N_ALL (N_PROMPT + N_GEN)

int main(void) {
    const char *path = test_smollm2_gguf();
    llmc_error err = {0};
    llmc_gguf *g = NULL;
    llmc_config cfg;
    llmc_tensor_set *ts = NULL;
    if (llmc_gguf_open(path, &g, &err) || llmc_gguf_config(g, &cfg, &err) || llmc_gguf_tensors(g, &ts, &err)) {
        fprintf(stderr, "gguf: %s\n", err.msg);
        return 1;
    }
    llmc_gguf_free(g);
    llmc_model_opts o;
    llmc_model_opts_default(&o);
    o.max_context = 64;
    llmc_model *m = NULL;
    if (llmc_model_from_tensors(&cfg, ts, &o, &m, &err)) { fprintf(stderr, "model: %s\n", err.msg); return 1; }
    const int V = llmc_model_config(m)->vocab_size;
    /* "<|im_start|>user\nWhat is the capital of France" -ish: ids valid in any 49k vocab */
    int32_t ids[N_ALL] = {1, 4093, 198, 1780, 314, 260};
    float *ref = malloc(sizeof(float) * (size_t)V * N_ALL), *got = malloc(sizeof(float) * (size_t)V * N_ALL);
    CHECK(llmc_cpu_force_kernel("scalar"));
    CHECK_INT(llmc_model_forward(m, ids, N_PROMPT, 0, ref, false, &err), LLMC_OK);
    for (int i = N_PROMPT; i < N_ALL; i++) { /* greedy continuation, scalar */
        ids[i] = argmax(ref, V);
        if (i + 1 < N_ALL) CHECK_INT(llmc_model_forward(m, ids + i, 1, i, ref, false, &err), LLMC_OK);
    }
    CHECK_INT(llmc_model_forward(m, ids, N_ALL, 0, ref, true, &err), LLMC_OK);
    static const char *fams[] = {"avx2", "avx512"};
    for (int k = 0; k < 2; k++) {
        if (!llmc_cpu_force_kernel(fams[k])) { fprintf(stderr, "note: %s not available here\n", fams[k]); continue; }
        CHECK_INT(llmc_model_forward(m, ids, N_ALL, 0, got, true, &err), LLMC_OK);
        int agree = 0, clear = 0, clear_agree = 0;
        double maxd = 0, sumsq = 0;
        for (int p = 0; p < N_ALL; p++) {
            const float *r = ref + (size_t)p * V, *q = got + (size_t)p * V;
            int a = argmax(r, V), b = argmax(q, V);
            float second = -1e30f;
            for (int i = 0; i < V; i++) if (i != a && r[i] > second) second = r[i];
            agree += a == b;
            if (r[a] - second > 0.5f) { clear++; clear_agree += a == b; }
            for (int i = 0; i < V; i++) {
                double d = fabs((double)r[i] - q[i]);
                if (d > maxd) maxd = d;
                sumsq += d * d;
            }
        }
        fprintf(stderr, "%s vs scalar: top-1 agreement %d/%d (%d/%d where the reference margin > 0.5); "
                        "logits max |diff| %.4f, rms %.5f\n",
                fams[k], agree, N_ALL, clear_agree, clear, maxd, sqrt(sumsq / ((double)V * N_ALL)));
        CHECK_MSG(clear_agree == clear, "%s: top-1 differs from scalar at a position with a clear winner", fams[k]);
        CHECK_MSG(agree >= N_ALL * 9 / 10, "%s: top-1 agreement %d/%d below 90%%", fams[k], agree, N_ALL);
        /* 8-bit activations through 30 layers: logits (spread ~±15) move by ~0.2 rms */
        CHECK_MSG(maxd < 3.0, "%s: a logit moved by %.3f", fams[k], maxd);
        CHECK_MSG(sqrt(sumsq / ((double)V * N_ALL)) < 0.5, "%s: logits rms difference too large", fams[k]);
    }
    llmc_cpu_force_kernel("auto");
    free(ref);
    free(got);
    llmc_model_free(m);
    return test_summary();
}
