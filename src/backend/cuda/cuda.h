/* CUDA backend as the model sees it: device strings, the memory plan that decides
 * how many layers go to the GPU, and a GPU copy of a Llama model that runs the
 * first gpu_layers layers (and the head when all fit). Always compiled: in a build
 * without CUDA the device functions fail with "CUDA is not available in this build". */
#ifndef LLMC_BACKEND_CUDA_H
#define LLMC_BACKEND_CUDA_H
#include "llmc.h"
#include "formats/config.h"
#include "formats/tensor.h"
#include "backend/select.h"
#include <stdbool.h>
#include <stddef.h>

typedef enum { LLMC_DEV_AUTO = 0, LLMC_DEV_CPU, LLMC_DEV_CUDA } llmc_device_kind;
typedef struct {
    llmc_device_kind kind;
    int index; /* cuda:N (0 for "cuda" and "auto") */
} llmc_device_req;

/* "auto", "cpu", "cuda", "cuda:N" (N < 64); NULL or "" = auto. */
llmc_status llmc_cuda_parse_device(const char *s, llmc_device_req *out, llmc_error *err);
/* True when this build has the CUDA backend compiled in. */
bool llmc_cuda_built(void);
/* Checks that device index exists and is usable; fills name/memory (info may be NULL).
   No driver, no device, or no CUDA in the build → LLMC_ERR_UNSUPPORTED with the reason. */
typedef struct {
    char name[128];
    int cc_major, cc_minor, sm_count;
    size_t total_bytes, free_bytes;
} llmc_cuda_info;
llmc_status llmc_cuda_probe(int index, llmc_cuda_info *info, llmc_error *err);

/* ---- memory plan (pure arithmetic, decided before anything is allocated) ---- */
typedef struct {
    int wbytes;         /* bytes per weight element on the GPU (2 or 4) */
    int ctx;            /* KV positions */
    int batch;          /* tokens per forward call */
    size_t free_bytes;  /* device memory free now */
    size_t reserve_bytes; /* kept free (context, cuBLAS, fragmentation) */
    int gpu_layers;     /* -1 = as many as fit; N >= 0 = exactly N (capped at the layer count) */
} llmc_cuda_plan_in;

typedef struct {
    size_t layer_bytes;    /* weights of one layer (matrices + f32 norms/biases) */
    size_t kv_layer_bytes; /* K and V of one layer at ctx (f32) */
    size_t embed_bytes, head_bytes; /* head_bytes: final norm + lm_head (0 extra when tied) */
    size_t workspace_bytes; /* activations, attention partials, logits chunk, token choice */
    size_t total_bytes;    /* what the chosen split needs */
    size_t full_bytes;     /* what everything on the GPU would need */
    size_t avail_bytes;    /* free - reserve */
    int n_layers, gpu_layers;
    bool head_on_gpu;
} llmc_cuda_plan;

size_t llmc_cuda_workspace_bytes(const llmc_config *c, int wbytes, int batch, int ctx);
/* Fills out. Auto (gpu_layers < 0): everything when it fits, else the most layers that
   fit with the head on the CPU (possibly 0). An explicit count that does not fit is
   LLMC_ERR_NOMEM saying how much is needed and what to change. */
llmc_status llmc_cuda_plan_make(const llmc_config *c, const llmc_cuda_plan_in *in, llmc_cuda_plan *out, llmc_error *err);
void llmc_cuda_plan_log(const llmc_cuda_plan *p, const char *device_name);

/* ---- the GPU model ---- */
typedef struct {
    const llmc_tensor *w[7];    /* q, k, v, o, gate, up, down */
    const llmc_tensor *b[7];    /* their biases or NULL */
    const float *ln1, *ln2;     /* f32 norm weights, hidden floats */
    const float *qn, *kn;       /* Qwen3's per-head q/k norm weights (head_dim floats) or NULL */
} llmc_cuda_layer_src;

typedef struct {
    const llmc_config *cfg;
    const llmc_tensor *embed, *lm_head; /* lm_head == embed when tied */
    const float *norm;                   /* final norm, f32 */
    const float *inv_freq;               /* head_dim/2 RoPE frequencies */
    const llmc_cuda_layer_src *layers;   /* num_layers */
    int ctx, batch;
} llmc_cuda_src;

typedef struct llmc_cuda_model llmc_cuda_model;

/* Decides where the model runs. *out = NULL: run on the CPU (device cpu, auto without a
   usable GPU or with nothing fitting — logged at info). Otherwise the GPU holds layers
   [0, llmc_cuda_gpu_layers) and, when llmc_cuda_has_head, the head. gpu_layers: -1 auto. */
llmc_status llmc_cuda_attach(const llmc_cuda_src *src, const char *device, int gpu_layers, llmc_cuda_model **out,
                             llmc_error *err);
int llmc_cuda_gpu_layers(const llmc_cuda_model *cm);
bool llmc_cuda_has_head(const llmc_cuda_model *cm);
/* As llmc_model_forward for n <= batch tokens; without the head, fills hidden (n*hidden f32)
   for the CPU to continue from layer llmc_cuda_gpu_layers.
   Multi-sequence batches (llmc_model_forward_batch) are not implemented on the GPU yet: the
   GPU copy holds one KV cache of ctx positions for one sequence, so a model placed here
   refuses batched calls (LLMC_ERR_UNSUPPORTED) and `llmc serve` runs its requests one at a
   time. A batched path needs per-sequence KV on the device (paged blocks) and attention over
   a block table; until then callers that need many sequences load the model on the CPU. */
llmc_status llmc_cuda_forward(llmc_cuda_model *cm, const int32_t *ids, int n, int pos, float *logits, bool all_logits,
                              float *hidden, llmc_error *err);
/* With the head on the GPU: the forward for the last position and the token choice of
   backend/select.h on the GPU (the CUDA graph covers it at decode). Only the id (greedy)
   or the top-k candidates cross the bus; CHOICE_LOGITS copies the raw logits to logits. */
llmc_status llmc_cuda_forward_select(llmc_cuda_model *cm, const int32_t *ids, int n, int pos, const llmc_select_req *req, llmc_choice *out,
                                     float *logits, llmc_error *err);
void llmc_cuda_model_free(llmc_cuda_model *cm);

#endif
