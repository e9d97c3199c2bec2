/* What the model's two halves share: the loaded weights (llmc_model, filled and validated
 * by model/load.c) and the forward pass over them (model/forward.c, MoE blocks in
 * model/moe.c). Not a public header: only src/model/ includes it. */
#ifndef LLMC_MODEL_INTERNAL_H
#define LLMC_MODEL_INTERNAL_H
#include "model/model.h"
#include "backend/cpu/ops.h"
#include "backend/cuda/cuda.h"
#include "formats/arch.h"

/* Tokens per prefill batch: bounds the activation scratch (about
 * B × (4·hidden + 2·intermediate) floats) whatever the prompt length. */
#define LM_BATCH 256

/* A gated MLP: down(act(x·gateᵀ + bg) · (x·upᵀ + bu)) + bd; biases may be NULL. */
typedef struct {
    const llmc_tensor *wg, *wu, *wd, *bg, *bu, *bd;
} lm_mlp;

/* A mixture-of-experts block: router logits x·routerᵀ, softmax, the top k experts (their
 * probabilities renormalized when cfg.norm_topk_prob), the weighted sum of their MLPs; plus
 * a shared expert scaled by sigmoid(x·shared_gateᵀ) when shared.wg is set (Qwen2-MoE). */
typedef struct {
    const llmc_tensor *router;      /* [num_experts, hidden] */
    lm_mlp *experts;                /* num_experts (owned array of views into the set) */
    lm_mlp shared;
    const llmc_tensor *shared_gate; /* [1, hidden]; NULL with DeepSeek-V3's ungated shared experts */
    float *score_bias;              /* DeepSeek-V3's e_score_correction_bias as f32 (owned), else NULL */
} lm_moe;

/* DeepSeek-V3's Multi-head Latent Attention (model/mla.c): q from q_proj or the q_a → norm → q_b
   path, the latent | k_rope from kv_a_proj_with_mqa, per-head k_nope | v from kv_b_proj. */
typedef struct {
    const llmc_tensor *wqa, *bqa, *wqb; /* q_a_proj [q_lora, hidden] (+bias), q_b_proj or q_proj [heads·qk, ·] */
    const llmc_tensor *wkva, *bkva;     /* kv_a_proj_with_mqa [kv_lora + rope, hidden] (+bias) */
    const llmc_tensor *wkvb;            /* kv_b_proj [heads·(nope + v), kv_lora] */
    float *qa_norm, *kva_norm;          /* q_a_layernorm (NULL without q_lora_rank), kv_a_layernorm (owned) */
    float *wkb;                         /* kv_b_proj as f32 (owned): per head nope rows W_k then v rows W_v, latent wide */
} lm_mla;

typedef struct {
    const llmc_tensor *wq, *wk, *wv, *wo, *bq, *bk, *bv, *bo; /* MLA: only wo (+ bo) */
    lm_mla mla;
    bool is_moe;          /* the MLP block: mlp (dense) or moe */
    lm_mlp mlp;
    lm_moe moe;
    float *ln1, *ln2;     /* norm weights as f32 (owned) */
    float *qn, *kn;       /* q/k norm weights (owned): per head (Qwen3, head_dim floats) or whole (OLMoE), or NULL */
    float *ln_ao, *ln_mo; /* Gemma: norms of the attention and MLP outputs (owned) or NULL */
} lm_layer;

struct llmc_model {
    llmc_config cfg;
    const llmc_arch *arch;
    llmc_tensor_set *ts;
    llmc_threadpool *tp;
    const llmc_tensor *embed, *lm_head;
    float *norm;
    lm_layer *layers;
    float *inv_freq; /* rotary_dim/2 (longrope: the short factors') */
    float *inv_freq_long; /* longrope: the long factors' inv_freq, else NULL */
    float *inv_freq_local, *rope_cs_local; /* Gemma 3's sliding layers (their own RoPE base), or NULL */
    int ctx;
    llmc_act_mode act; /* activation precision for quantized weights */
    int kv_dim;      /* num_kv_heads * head_dim (MLA: half the latent | k_rope row, model/mla.c) */
    int mlp_width;   /* the widest MLP of any block (dense, expert or shared): g/u scratch columns */
    llmc_kv_cache *kv0; /* the sequence llmc_model_forward runs on (ctx positions) */
    /* scratch */
    float *x, *xn, *q, *k, *v, *att, *g, *u, *rope_cs;
    float *moe_x, *moe_y, *moe_acc; /* MoE (else NULL): one expert's gathered rows, their outputs, the block's sum (B × hidden each) */
    float *moe_r;                   /* router logits, B × experts */
    float *mla_qa, *mla_kva, *mla_row, *mla_b; /* MLA (else NULL): B × q_lora, B × (kv_lora + rope), one cache row
                                                  (2·kv_dim), B × heads·qk */
    int32_t *moe_sel;               /* chosen experts, B × k */
    float *moe_w;                   /* their weights, B × k */
    float *scores; /* [threads][score_stride]: attention scratch */
    size_t score_stride; /* max(LLMC_ATT_MAX_GROUP·ctx, 64·head_dim + 512) floats */
    int nthreads;
    llmc_cuda_model *cuda; /* non-NULL: layers [0, llmc_cuda_gpu_layers) (and maybe the head) run on the GPU */
};

/* One forward call, as the layers see it: tokens [0, n) in segments, each a run of
 * consecutive positions of one sequence; out rows: the tokens whose logits are wanted. */
typedef struct {
    llmc_kv_cache *kv;
    int t0, n, pos0;
    int item_end; /* attention items of segments [0..this] (rows kernel) */
    bool rope_long; /* longrope: this call's RoPE uses the long factors (its last position + 1 passes the original context) */
} lm_seg;

typedef struct {
    int n, n_seg, n_out;
    const int32_t *ids;
    int32_t pos[LM_BATCH];
    int16_t seg_of[LM_BATCH];
    int16_t out_rows[LM_BATCH];
    lm_seg seg[LM_BATCH];
    bool invariant, f32_tiles;
} lm_step;

/* The kernels' mode for this step (ops.h). */
llmc_act_mode lm_act(const llmc_model *m, const lm_step *s);
/* g = act(g) · u elementwise (SiLU or tanh-GeLU, as the config says). */
void lm_mlp_act(const llmc_config *c, float *g, const float *u, size_t n);
/* MLA (model/mla.c, absorbed form): from the normed input m->xn, each token's q heads into m->q
   (q_nope | q_rope, heads head_dim apart) and its cache row (latent | k_rope) for layer l. */
void lm_mla_qkv(llmc_model *m, const lm_step *s, int l);
/* MLA: attention of layer l in latent space into m->att (heads of v_head_dim: o_proj's input).
   Scratch per thread: m->scores, 4·kv_dim + ctx floats. */
void lm_mla_attention(llmc_model *m, const lm_step *s, int l);
/* The widest latent an MLA cache row holds (kv_lora_rank). */
#define LLMC_MLA_MAX_LATENT 8192
/* RMSNorm of n floats × w (f32, as transformers). */
void lm_rmsnorm(const float *x, const float *w, int n, double eps, float *out);
/* y (n × hidden) = the dense MLP of x (n × hidden); uses m->g and m->u. */
void lm_mlp_run(llmc_model *m, const lm_step *s, const lm_mlp *p, int width, const float *x, int n, float *y);
/* One token's routing: logit (num_experts) → prob (num_experts scratch: softmax probabilities, or
   DeepSeek-V3's sigmoid scores), the k chosen experts (distinct, whatever the scores, NaN
   included) into sel and their weights into w. bias: the choice's correction (sigmoid only) or NULL. */
void lm_moe_route(const llmc_config *c, const float *logit, const float *bias, float *prob, int32_t *sel, float *w);
/* y (n × hidden) = the MoE block of layer L on x (n × hidden): tokens grouped by expert so
   each chosen expert's weights are read once per call and no other expert's at all. */
void lm_moe_run(llmc_model *m, const lm_step *s, const lm_layer *L, const float *x, int n, float *y);

#endif
