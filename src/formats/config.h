/* One model description, whatever file it came from (HF config.json or GGUF metadata). */
#ifndef LLMC_FORMATS_CONFIG_H
#define LLMC_FORMATS_CONFIG_H
#include "llmc.h"
#include "formats/tensor.h"
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    LLMC_ROPE_DEFAULT = 0,
    LLMC_ROPE_LINEAR,
    LLMC_ROPE_LLAMA3,
    LLMC_ROPE_LONGROPE,     /* Phi-3.5 / Phi-4-mini: short or long per-frequency factors, cos/sin scaled */
    LLMC_ROPE_YARN          /* DeepSeek-V3: YaRN (extrapolated and interpolated frequencies blended over a ramp) */
} llmc_rope_type;

#define LLMC_MAX_ROPE_FACTORS 512 /* longrope factors: rotary_dim / 2 of them */

#define LLMC_MAX_EOS 16
#define LLMC_MAX_LAYERS 4096

typedef enum { LLMC_MLP_SILU = 0, LLMC_MLP_GELU_TANH } llmc_mlp_act; /* act(gate) * up */

typedef struct {
    char architecture[64];      /* the family's HF architectures name (its row in formats/arch.h: llmc_arch_by_hf) */
    int hidden_size;
    int intermediate_size;
    int num_layers;
    int num_heads;
    int num_kv_heads;
    int head_dim;
    int vocab_size;
    int max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    llmc_rope_type rope_type;
    double rope_factor;                 /* linear and llama3 */
    double rope_low_freq_factor;        /* llama3 */
    double rope_high_freq_factor;       /* llama3 */
    int rope_original_max_position;     /* llama3; longrope: a forward call whose last position + 1 exceeds it
                                           uses the long factors (for all its tokens), else the short ones */
    int rotary_dim;                     /* Phi-3's partial_rotary_factor: RoPE turns the first rotary_dim of
                                           each head's dims (0 = all head_dim) */
    double rope_attn_factor;            /* longrope, yarn: cos and sin × this (0 = 1) */
    double yarn_beta_fast, yarn_beta_slow; /* yarn: the ramp's rotation bounds (factor: rope_factor, original
                                              context: rope_original_max_position) */
    bool yarn_truncate;                 /* yarn: the ramp's ends floored / ceiled to whole dims */
    double rope_mscale_all_dim;         /* yarn: DeepSeek-V3's softmax scale × mscale(factor, this)² (0 = none;
                                           already in attn_scale, kept for reference) */
    float rope_short_factor[LLMC_MAX_ROPE_FACTORS], rope_long_factor[LLMC_MAX_ROPE_FACTORS]; /* longrope */
    bool tie_word_embeddings;
    bool attention_bias;                /* q, k, v and o projections have biases */
    bool qkv_bias;                      /* Qwen2: q, k and v have biases (o has none) */
    bool qk_norm;                       /* Qwen3: RMSNorm over head_dim on every q and k head, before RoPE */
    bool qk_norm_full;                  /* OLMoE: RMSNorm over the whole q and k projections, before RoPE */
    bool fused_proj;                    /* Phi-3: self_attn.qkv_proj and mlp.gate_up_proj hold q|k|v and gate|up rows */
    bool mlp_bias;
    int bos_token_id;                   /* -1 if none */
    int eos_token_ids[LLMC_MAX_EOS];
    int num_eos;
    int pad_token_id;                   /* -1 if none */
    llmc_dtype torch_dtype;             /* dtype named by the config (F32 if absent) */
    int sliding_window;                 /* Mistral: key j visible from query i iff i - j < window; 0 = none */
    /* Gemma 3 (zero / false elsewhere) */
    bool per_layer_window;              /* only the layers set in sliding_layers use sliding_window */
    uint64_t sliding_layers[LLMC_MAX_LAYERS / 64];
    double rope_theta_local;            /* sliding layers' RoPE base (default RoPE); 0 = the global one */
    llmc_mlp_act mlp_act;
    bool norm_plus_one;                 /* RMSNorm scales by (1 + weight) */
    bool sandwich_norms;                /* RMSNorm on the attention and MLP outputs before each residual add,
                                           pre_feedforward_layernorm before the MLP */
    double embed_scale;                 /* embeddings × this (0 = 1) */
    double attn_scale;                  /* scores × this (0 = 1/sqrt(head_dim)) */
    double attn_softcap, final_softcap; /* Gemma 2: cap·tanh(x/cap) on attention scores / logits (0 = none) */
    bool has_nope;                      /* SmolLM3: the layers set in nope_layers use no RoPE */
    uint64_t nope_layers[LLMC_MAX_LAYERS / 64];
    /* Mixture-of-experts (num_experts 0: every layer has the dense MLP of intermediate_size) */
    int num_experts;                    /* routed experts of an MoE layer */
    int num_experts_per_tok;            /* top-k of the softmax router */
    int moe_intermediate_size;          /* each expert's MLP width */
    bool norm_topk_prob;                /* the k chosen probabilities rescaled to sum to 1 */
    int shared_expert_intermediate_size; /* Qwen2-MoE: a shared expert gated by sigmoid(x·w); 0 = none */
    uint64_t dense_layers[LLMC_MAX_LAYERS / 64]; /* with experts: layers whose MLP is dense anyway */
    /* DeepSeek-V3's router and shared experts (zero / false elsewhere) */
    bool moe_sigmoid;                   /* scores sigmoid(logits); the choice adds e_score_correction_bias,
                                           the weights do not; group-limited top-k */
    int n_group, topk_group;            /* experts split into n_group groups; only the topk_group groups
                                           with the largest sum of their top-2 biased scores are chosen from */
    double routed_scaling_factor;       /* the k weights × this (0 = 1) */
    bool shared_experts_plain;          /* the shared expert is mlp.shared_experts (width shared_expert_intermediate_size),
                                           added without a gate */
    /* DeepSeek-V3's Multi-head Latent Attention (mla false elsewhere). head_dim is then
       max(qk_nope + qk_rope, v_head_dim) rounded up to even (the q heads' and the RoPE table's
       stride; the KV cache holds the compressed latent instead, model/mla.c), num_kv_heads =
       num_heads, rotary_dim = qk_rope_head_dim, attn_scale = 1/sqrt(qk_nope + qk_rope) (× YaRN's mscale²). */
    bool mla;
    int q_lora_rank;                    /* 0: q_proj; else q_a_proj → q_a_layernorm → q_b_proj */
    int kv_lora_rank;                   /* kv_a_proj_with_mqa → latent (this wide) | k_rope */
    int qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    bool rope_interleave;               /* RoPE turns the pairs (2i, 2i+1) of the rope dims, output as evens | odds */
} llmc_config;

#define LLMC_MAX_EXPERTS 1024
#define LLMC_MAX_EXPERTS_PER_TOK 64

/* Whether layer l's MLP is a mixture of experts. */
static inline bool llmc_config_layer_moe(const llmc_config *c, int l) {
    return c->num_experts > 0 && l >= 0 && l < LLMC_MAX_LAYERS && !((c->dense_layers[l / 64] >> (l % 64)) & 1u);
}

/* The leading dims of each q/k head that RoPE rotates. */
static inline int llmc_config_rotary_dim(const llmc_config *c) { return c->rotary_dim > 0 ? c->rotary_dim : c->head_dim; }

/* Whether layer l rotates q and k (RoPE). */
static inline bool llmc_config_layer_rope(const llmc_config *c, int l) {
    return !c->has_nope || l < 0 || l >= LLMC_MAX_LAYERS || !((c->nope_layers[l / 64] >> (l % 64)) & 1u);
}

/* Whether layer l attends through the sliding window. */
static inline bool llmc_config_layer_sliding(const llmc_config *c, int l) {
    if (c->sliding_window <= 0) return false;
    if (!c->per_layer_window) return true;
    return l >= 0 && l < LLMC_MAX_LAYERS && (c->sliding_layers[l / 64] >> (l % 64)) & 1u;
}

#endif
