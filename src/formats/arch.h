/* The architecture table: one row per model family llmc runs — its Hugging Face
 * `architectures` name, `model_type`, GGUF `general.architecture` name, the config
 * defaults its transformers config class uses, whether llama.cpp's converter permuted
 * its q/k rows, the graph features it switches on and the backends that run it.
 * The HF and GGUF config readers, the model loader and forward pass, and the CUDA
 * backend's "can I run this" answer all read it; adding a dense family is one row
 * here (plus the config fields it reads, when it has new ones) and a golden fixture.
 * In formats/ (not model/) because both config readers need it; model/ and backend/
 * include it, never the other way round. */
#ifndef LLMC_FORMATS_ARCH_H
#define LLMC_FORMATS_ARCH_H
#include "formats/config.h"
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    LLMC_FAM_LLAMA = 0,
    LLMC_FAM_MISTRAL,
    LLMC_FAM_QWEN2,
    LLMC_FAM_QWEN3,
    LLMC_FAM_PHI3,
    LLMC_FAM_GEMMA2,
    LLMC_FAM_GEMMA3,
    LLMC_FAM_SMOLLM3,
    LLMC_FAM_MIXTRAL,
    LLMC_FAM_QWEN2_MOE,
    LLMC_FAM_QWEN3_MOE,
    LLMC_FAM_OLMOE,
    LLMC_FAM_DEEPSEEK_V3,
    LLMC_FAM_COUNT
} llmc_family;

/* Feature flags: what the config reader sets and the graph runs for the family. */
#define LLMC_ARCH_QKV_BIAS     0x0001u /* q, k, v always have biases, o none (Qwen2) */
#define LLMC_ARCH_QK_NORM      0x0002u /* RMSNorm over head_dim of every q and k head (Qwen3, Gemma 3) */
#define LLMC_ARCH_QK_NORM_FULL 0x0004u /* RMSNorm over the whole q and k projections (OLMoE) */
#define LLMC_ARCH_FUSED_PROJ   0x0008u /* qkv_proj and gate_up_proj fused (Phi-3) */
#define LLMC_ARCH_GEMMA        0x0010u /* GeGLU, (1 + w) and sandwich norms, scaled embeddings */
#define LLMC_ARCH_NOPE         0x0020u /* layers without RoPE (SmolLM3) */
#define LLMC_ARCH_MOE          0x0040u /* mixture-of-experts MLP blocks */
#define LLMC_ARCH_WINDOW_ALL   0x0080u /* config sliding_window applies to every layer (Mistral, Phi-3, Mixtral) */
#define LLMC_ARCH_ATTN_BIAS_FIELD 0x0100u /* the config's attention_bias is read (else no attention biases) */
#define LLMC_ARCH_MLP_BIAS_FIELD 0x0800u /* the config's mlp_bias is read (else no MLP biases) */
#define LLMC_ARCH_QWEN_WINDOW  0x0200u /* Qwen's per-layer windows (use_sliding_window / max_window_layers): refused */
#define LLMC_ARCH_SHARED_EXPERT 0x0400u /* a shared expert with a sigmoid gate next to the routed ones (Qwen2-MoE) */
#define LLMC_ARCH_LONGROPE     0x1000u /* partial_rotary_factor and longrope ("su", "yarn" read as longrope) are read (Phi-3) */
#define LLMC_ARCH_MLA          0x2000u /* Multi-head Latent Attention and the sigmoid group-limited router (DeepSeek-V3) */

/* Backends. */
#define LLMC_BACKEND_CPU  0x1u
#define LLMC_BACKEND_CUDA 0x2u

typedef struct {
    llmc_family family;
    const char *hf_arch;       /* "LlamaForCausalLM" */
    const char *model_type;    /* "llama" */
    const char *gguf_arch;     /* llama.cpp's name ("llama"), or NULL when llmc reads no GGUF of it */
    const char *label;         /* for messages: "Llama", "Qwen3-MoE" */
    int default_max_pos;       /* max_position_embeddings when the config omits it */
    int default_head_dim;      /* head_dim when omitted (0 = hidden_size / num_attention_heads) */
    bool default_tie;          /* tie_word_embeddings when omitted */
    bool gguf_permute_qk;      /* llama.cpp's converter permuted q/k rows per head */
    unsigned flags;            /* LLMC_ARCH_* */
    unsigned backends;         /* LLMC_BACKEND_*: the backends that run the family */
    const char *cuda_missing;  /* when CUDA does not run it: what the CUDA kernels lack (for the log line) */
} llmc_arch;

/* The row for a Hugging Face architectures[0] name / a model_type / a GGUF
   general.architecture; NULL when llmc has none. */
const llmc_arch *llmc_arch_by_hf(const char *hf_arch);
const llmc_arch *llmc_arch_by_model_type(const char *model_type);
const llmc_arch *llmc_arch_by_gguf(const char *gguf_arch);
const llmc_arch *llmc_arch_by_family(llmc_family f);

/* Whether backend (LLMC_BACKEND_*) runs the family. */
static inline bool llmc_arch_runs_on(const llmc_arch *a, unsigned backend) { return a && (a->backends & backend); }

/* False when the CUDA backend runs c; else true with why (n bytes, NUL-terminated) naming the
   family or the feature: the family's row first, then the features a config of a CUDA family
   can still carry (longrope, partial rotary). The one place CUDA's "can I run this" comes from. */
bool llmc_arch_cuda_declines(const llmc_config *c, char *why, size_t n);

/* The supported names, comma-separated, into buf (always NUL-terminated): which = 0 HF
   architectures, 1 model_types, 2 GGUF architectures. Returns buf. */
const char *llmc_arch_names(int which, char *buf, size_t n);

#endif
