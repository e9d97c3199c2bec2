/* One model description, whatever file it came from (HF config.json or GGUF metadata). */
#ifndef LLMC_FORMATS_CONFIG_H
#define LLMC_FORMATS_CONFIG_H
#include "llmc.h"
#include "formats/tensor.h"

typedef enum {
    LLMC_ROPE_DEFAULT = 0,
    LLMC_ROPE_LINEAR,
    LLMC_ROPE_LLAMA3
} llmc_rope_type;

#define LLMC_MAX_EOS 16

typedef struct {
    char architecture[64];      /* "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM" */
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
    int rope_original_max_position;     /* llama3 */
    bool tie_word_embeddings;
    bool attention_bias;                /* q, k, v and o projections have biases */
    bool qkv_bias;                      /* Qwen2: q, k and v have biases (o has none) */
    bool qk_norm;                       /* Qwen3: RMSNorm over head_dim on every q and k head, before RoPE */
    bool fused_proj;                    /* Phi-3: self_attn.qkv_proj and mlp.gate_up_proj hold q|k|v and gate|up rows */
    bool mlp_bias;
    int bos_token_id;                   /* -1 if none */
    int eos_token_ids[LLMC_MAX_EOS];
    int num_eos;
    int pad_token_id;                   /* -1 if none */
    llmc_dtype torch_dtype;             /* dtype named by the config (F32 if absent) */
    int sliding_window;                 /* Mistral: key j visible from query i iff i - j < window; 0 = none */
} llmc_config;

#endif
