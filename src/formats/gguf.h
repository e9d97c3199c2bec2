/* GGUF (llama.cpp's single-file model format): metadata key/values, the llama
 * model description (llmc_config) and tensors renamed to Hugging Face names with
 * PyTorch [out, in] shapes, the Q/K row permutation of llama.cpp's converter undone.
 *
 * The file is untrusted: every count, length, offset, shape and type is checked
 * against the file size and fixed bounds before anything is allocated or read.
 * Little-endian GGUF version 2 and 3 only. */
#ifndef LLMC_FORMATS_GGUF_H
#define LLMC_FORMATS_GGUF_H
#include "llmc.h"
#include "formats/config.h"
#include "formats/tensor.h"
#include <stddef.h>
#include <stdint.h>

typedef struct llmc_gguf llmc_gguf;

/* Maps path read-only and validates header, metadata and tensor table.
 * Tensor types llmc cannot compute with are accepted here (the metadata and the
 * tokenizer stay readable); llmc_gguf_tensors rejects them. */
llmc_status llmc_gguf_open(const char *path, llmc_gguf **out, llmc_error *err);
void llmc_gguf_free(llmc_gguf *g);

uint32_t llmc_gguf_version(const llmc_gguf *g);

/* Metadata by key. Each getter returns false when the key is absent or has
 * another type. */
bool llmc_gguf_has_key(const llmc_gguf *g, const char *key);
/* Any integer type holding a value >= 0 (a negative one returns false). */
bool llmc_gguf_get_u64(const llmc_gguf *g, const char *key, uint64_t *out);
/* Any integer type, as a signed value (a u64 above INT64_MAX returns false). */
bool llmc_gguf_get_i64(const llmc_gguf *g, const char *key, int64_t *out);
/* float32 / float64, or any integer type. */
bool llmc_gguf_get_f64(const llmc_gguf *g, const char *key, double *out);
bool llmc_gguf_get_bool(const llmc_gguf *g, const char *key, bool *out);
/* NUL-terminated copy owned by g (NULL when absent / not a string). A string
 * holding a NUL byte reads as cut there: use llmc_gguf_get_str_len for the length. */
const char *llmc_gguf_get_str(const llmc_gguf *g, const char *key);
bool llmc_gguf_get_str_len(const llmc_gguf *g, const char *key, const char **s, size_t *len);

/* Arrays; the memory is owned by g.
 * Strings: NUL-terminated copies; lens (may be NULL) gives each byte length. */
bool llmc_gguf_get_str_array(const llmc_gguf *g, const char *key, const char *const **items, size_t *n);
bool llmc_gguf_get_str_array_lens(const llmc_gguf *g, const char *key, const size_t **lens);
/* float32 arrays (also float64 arrays, narrowed). */
bool llmc_gguf_get_f32_array(const llmc_gguf *g, const char *key, const float **items, size_t *n);
/* Integer arrays of any element type whose every value fits an int32. */
bool llmc_gguf_get_i32_array(const llmc_gguf *g, const char *key, const int32_t **items, size_t *n);

/* Number of metadata keys. */
size_t llmc_gguf_key_count(const llmc_gguf *g);

/* Tensor table in file order, GGUF names and GGUF dims (ne[0] innermost). */
size_t llmc_gguf_tensor_count(const llmc_gguf *g);
typedef struct {
    const char *name;        /* GGUF name ("blk.0.attn_q.weight") */
    uint32_t ggml_type;      /* ggml type id as stored */
    const char *type_name;   /* "Q4_K", "IQ2_XS", ... or "type 77" */
    bool supported;          /* llmc has an llmc_dtype for it */
    int n_dims;
    int64_t ne[LLMC_MAX_DIMS];
    uint64_t offset;         /* from the start of the file */
    uint64_t nbytes;         /* 0 when the type is unsupported (size unknown) */
} llmc_gguf_tensor_info;
bool llmc_gguf_tensor_at(const llmc_gguf *g, size_t i, llmc_gguf_tensor_info *info);
/* Index of a tensor by GGUF name, or -1. */
long llmc_gguf_find_tensor(const llmc_gguf *g, const char *name);

/* The model description, as transformers' GGUF loader builds it. general.architecture
 * must be a GGUF name of the architecture table (formats/arch.h: llama, qwen2, qwen3,
 * qwen2moe, qwen3moe, olmoe, phi3, gemma2, gemma3, smollm3; anything else is
 * LLMC_ERR_UNSUPPORTED naming it); a llama
 * file with <arch>.expert_count is Mixtral, one named "mistral" Mistral. Reads <arch>.*
 * keys (context_length, embedding_length, block_count, feed_forward_length,
 * attention.head_count(_kv), attention.layer_norm_rms_epsilon, attention.key_length,
 * rope.freq_base, rope.dimension_count; MoE: expert_count, expert_used_count,
 * expert_feed_forward_length, expert_shared_feed_forward_length, expert_weights_norm),
 * vocab size from token_embd.weight (else <arch>.vocab_size, else the token list),
 * bos/eos/pad from tokenizer.ggml.*, tie_word_embeddings = no output.weight tensor.
 * Absent keys take the family's config-class defaults. What would change the math and
 * is not implemented (partial rotary, per-layer head counts) is an error.
 * Rope scaling (llama.rope.scaling.*, rope_freqs.weight) is NOT applied here for llama, qwen and
 * MoE files, because transformers 5.23 ignores it for GGUF llama files (a warning is logged):
 * call llmc_gguf_apply_rope_scaling to get the scaling the file describes. phi3's LongRoPE
 * (rope_factors_{short,long}.weight), gemma2/gemma3 (softcaps, windows, linear scaling) and
 * smollm3 (NoPE every 4th layer) are read as llama.cpp runs them. */
llmc_status llmc_gguf_config(const llmc_gguf *g, llmc_config *cfg, llmc_error *err);

/* Sets cfg's rope scaling from the file (phi3: already set by llmc_gguf_config, left as it is;
 * gemma3: llmc_gguf_config calls this for its full-attention layers): llama.rope.scaling.type linear (+ factor),
 * or llama 3 scaling recovered from rope_freqs.weight (llama.cpp stores it only as
 * per-frequency divisors; an equivalent factor/low/high/original-context set is
 * derived and every divisor checked). Other scaling types → LLMC_ERR_UNSUPPORTED. */
llmc_status llmc_gguf_apply_rope_scaling(const llmc_gguf *g, llmc_config *cfg, llmc_error *err);

/* Tensors renamed to Hugging Face names:
 *   token_embd.weight → model.embed_tokens.weight, output_norm.weight → model.norm.weight,
 *   output.weight → lm_head.weight, blk.N.attn_{q,k,v,output} → model.layers.N.self_attn.{q,k,v,o}_proj,
 *   blk.N.ffn_{gate,up,down} → model.layers.N.mlp.{gate,up,down}_proj,
 *   blk.N.attn_norm → model.layers.N.input_layernorm, blk.N.ffn_norm → model.layers.N.post_attention_layernorm,
 *   blk.N.attn_{q,k}_norm → model.layers.N.self_attn.{q,k}_norm,
 *   MoE: blk.N.ffn_gate_inp → model.layers.N.mlp.gate, blk.N.ffn_{gate,up,down}_exps →
 *   model.layers.N.mlp.experts.{gate,up,down}_proj (stacked: [experts, out, in]; model/load.c
 *   views them per expert), blk.N.ffn_{gate,up,down}_shexp → model.layers.N.mlp.shared_expert.*,
 *   blk.N.ffn_gate_inp_shexp → model.layers.N.mlp.shared_expert_gate; old Mixtral files' blk.N.ffn_{gate,up,down}.E
 *   → model.layers.N.block_sparse_moe.experts.E.{w1,w3,w2};
 *   Phi-3: blk.N.attn_qkv → self_attn.qkv_proj, blk.N.ffn_up → mlp.gate_up_proj (gate|up);
 *   Gemma: blk.N.post_attention_norm / post_ffw_norm → post_attention_layernorm / post_feedforward_layernorm,
 *   blk.N.ffn_norm → pre_feedforward_layernorm (norm weights as stored: 1 + w)
 * (.weight and .bias alike). Shapes are PyTorch order (GGUF's ne reversed). For the families
 * whose q/k rows llama.cpp's converter permuted (formats/arch.h), attn_q / attn_k rows (weight
 * and bias) are un-permuted into owned copies (a byte move: rows are whole blocks in every
 * format, so quantized rows move as they are); every other tensor is a view into the mmap in
 * its file type (llmc_model_tensors_f32, model/model.h, widens them to F32).
 * rope_freqs.weight (llama 3 frequency factors) is not returned (see
 * llmc_gguf_apply_rope_scaling); any other unknown tensor name is an error (it would be
 * silently ignored otherwise). A tensor of a type llmc does not support →
 * LLMC_ERR_UNSUPPORTED naming tensor and type. The set holds its own reference to the
 * mmap: g may be freed before the set. */
llmc_status llmc_gguf_tensors(llmc_gguf *g, llmc_tensor_set **out, llmc_error *err);

/* The HF name for a GGUF llama tensor name (malloc'd), or NULL when unknown. */
char *llmc_gguf_hf_name(const char *gguf_name);

#endif
