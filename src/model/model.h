/* A loaded model ready to run: the families of the architecture table (formats/arch.h)
 * over CPU kernels (model/load.c loads and validates, model/forward.c runs). Three parts: the weights (loaded once, read-only, shared), sequence
 * state (llmc_kv_cache, model/kv_cache.h: one per conversation, owned by the caller)
 * and the forward pass over a batch of tokens each tagged with its sequence and
 * position (llmc_model_forward_batch). llmc_model_forward is the one-sequence form over
 * a cache the model keeps for it. Weights stay views in their file dtype unless opts
 * ask for a conversion; all activations and KV caches are f32. One forward at a time
 * per model: callers that share a model serialize (the engine, generate/engine.h). */
#ifndef LLMC_MODEL_MODEL_H
#define LLMC_MODEL_MODEL_H
#include "llmc.h"
#include "formats/config.h"
#include "formats/tensor.h"
#include "backend/select.h"
#include "model/kv_cache.h"
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
/* Every tensor of ts that is not F32 (float or quantized) as an owned F32 copy: the exact
   --dtype f32 mode of a GGUF (llmc_gguf_tensors, then this, then llmc_model_from_tensors). */
llmc_status llmc_model_tensors_f32(llmc_tensor_set *ts, llmc_error *err);
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

/* ---- many sequences ---- */
/* One forward call: n tokens, token t of sequence seq[t] at position pos[t]. The tokens of
 * a sequence are contiguous, at consecutive positions, the first at most the sequence's
 * length (a smaller one rewinds it); want_logits[t] (NULL: none) asks for row t's logits. */
typedef struct {
    int n;                          /* 1..llmc_model_max_batch() */
    const int32_t *ids;
    llmc_kv_cache *const *seq;
    const int32_t *pos;
    const bool *want_logits;
    bool invariant;                 /* batch-invariant kernels: a row's results are bit for bit
                                       the same whatever else shares the call (ops.h) */
    bool f32_tiles;                 /* with invariant: quantized weights as f32 tiles (LLMC_ACT_DEQUANT) */
} llmc_batch;
/* Runs the batch: each weight matrix is read once for all its rows (one GEMM), attention runs
 * per sequence over that sequence's own KV. logits: vocab floats per asked row, in token order
 * (may be NULL when none is asked). Errors name the token, position or budget at fault and
 * leave no sequence changed. A model placed on a GPU → LLMC_ERR_UNSUPPORTED (its backend
 * holds one sequence's KV; llmc_model_can_batch says). */
llmc_status llmc_model_forward_batch(llmc_model *m, const llmc_batch *b, float *logits, llmc_error *err);
int llmc_model_max_batch(void);
bool llmc_model_can_batch(const llmc_model *m);
/* A new, empty sequence for m holding up to max_pos positions (<= 0 or past the context:
   the context); memory is taken as positions fill. Free with llmc_kv_cache_free. */
llmc_status llmc_model_seq_new(const llmc_model *m, int max_pos, llmc_kv_cache **out, llmc_error *err);
/* KV bytes one position of one sequence takes. */
size_t llmc_model_pos_bytes(const llmc_model *m);
/* Floats per position and layer in each of a sequence's K and V arrays (num_kv_heads × head_dim;
   MLA: half its latent | k_rope row): what a prefix cache for m's sequences is built with. */
int llmc_model_kv_dim(const llmc_model *m);

/* Tokens currently held in the KV cache (the next forward's largest valid pos). */
int llmc_model_cached(const llmc_model *m);
/* Bytes of weights read per decoded token (every matrix once, the head counted once when tied;
   embedding rows are looked up, not streamed, except as a tied head). */
double llmc_model_weight_bytes(const llmc_model *m);

#endif
