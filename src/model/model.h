/* A loaded model ready to run: Llama-family graph (Llama, Mistral, SmolLM) over
 * CPU kernels, with its KV cache. Weights stay views in their file dtype unless
 * opts ask for a conversion; all activations and the KV cache are f32. */
#ifndef LLMC_MODEL_MODEL_H
#define LLMC_MODEL_MODEL_H
#include "llmc.h"
#include "formats/config.h"
#include "formats/tensor.h"
#include "backend/select.h"
#include <stdbool.h>

typedef struct llmc_model llmc_model;

typedef struct {
    int n_threads;        /* 0 = all online CPUs */
    int max_context;      /* 0 = config max_position_embeddings, bounded by a KV-cache memory budget (logged) */
    int dtype;            /* -1 = auto (keep the file dtype), or LLMC_DT_F32/F16/BF16: convert weights at load */
    const char *device;   /* NULL or "cpu" (default), "auto" (GPU when usable, else CPU), "cuda", "cuda:N" */
    int gpu_layers;       /* -1 = as many as fit (default); N = the first N layers on the GPU, the rest on the CPU */
    bool fast_activations; /* quantized weights on the CPU: 8-bit activations (LLMC_ACT_FAST, backend/cpu/ops.h) */
    int quantize;         /* -1 = none (default); LLMC_DT_Q8_0 or LLMC_DT_Q4_0: quantize float linear weights at load */
} llmc_model_opts;

/* KV-cache budget used when max_context is 0 (bytes). */
#define LLMC_MODEL_KV_BUDGET (4ull << 30)

void llmc_model_opts_default(llmc_model_opts *o);
/* HF model directory (config.json + model.safetensors or model.safetensors.index.json + shards). */
llmc_status llmc_model_load(const char *dir, const llmc_model_opts *o, llmc_model **out, llmc_error *err);
/* From an already-filled config and tensor set with HF tensor names (used by the GGUF loader);
   takes ownership of ts (also on failure). Validates every needed tensor's presence, dtype and shape. */
llmc_status llmc_model_from_tensors(const llmc_config *cfg, llmc_tensor_set *ts, const llmc_model_opts *o, llmc_model **out, llmc_error *err);
const llmc_config *llmc_model_config(const llmc_model *m);
int llmc_model_context(const llmc_model *m);      /* allocated KV positions */
/* Runs ids[0..n) at positions pos..pos+n-1 (pos <= tokens already cached; a smaller pos rewinds the cache).
   logits: NULL, or vocab floats for the last position (all_logits=false), or n*vocab (all_logits=true).
   pos+n > context → LLMC_ERR_RANGE naming both numbers; id >= vocab → LLMC_ERR_RANGE naming the id. */
llmc_status llmc_model_forward(llmc_model *m, const int32_t *ids, int n, int pos, float *logits, bool all_logits, llmc_error *err);
void llmc_model_free(llmc_model *m);

/* True when the head runs on a device that can choose the next token itself (backend/select.h). */
bool llmc_model_can_select(const llmc_model *m);
/* As llmc_model_forward for the last position, then the choice req asks for on that
   device (*out; its arrays stay valid until the next forward). CHOICE_LOGITS: the raw
   logits are in logits (vocab floats). Without such a device: LLMC_ERR_UNSUPPORTED. */
llmc_status llmc_model_forward_select(llmc_model *m, const int32_t *ids, int n, int pos, const llmc_select_req *req, llmc_choice *out,
                                      float *logits, llmc_error *err);

/* Tokens currently held in the KV cache (the next forward's largest valid pos). */
int llmc_model_cached(const llmc_model *m);
/* Bytes of weights read per decoded token (every matrix once, the head counted once when tied;
   embedding rows are looked up, not streamed, except as a tied head). */
double llmc_model_weight_bytes(const llmc_model *m);

#endif
