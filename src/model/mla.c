/* DeepSeek-V3's Multi-head Latent Attention on the CPU, in the absorbed form: the KV cache
 * holds, per position and layer, only the RMS-normed latent (kv_lora_rank floats) and the one
 * RoPE'd k_rope all heads share (qk_rope_head_dim) — not each head's K and V. The math is
 * transformers' DeepseekV3Attention reordered: with kv_b_proj's rows for head h split into
 * W_k (qk_nope × latent) and W_v (v_head_dim × latent),
 *   q_nope·k_nope_j = (W_kᵀ q_nope)·latent_j   and   Σ_j p_j v_j = W_v (Σ_j p_j latent_j),
 * so a query is absorbed once into latent space, scores are q_lat·latent_j + q_rope·k_rope_j
 * (× 1/sqrt(qk_head_dim), YaRN's mscale² included), and the weighted latent sum is expanded
 * by W_v per head. q comes from q_proj or q_b(RMSNorm(q_a(x))); RoPE turns q_rope and k_rope
 * (interleaved pairs when rope_interleave, as apply_rotary_pos_emb_interleave).
 * Cache row layout (kv_dim = ceil((kv_lora_rank + qk_rope_head_dim) / 2) floats in each of the
 * cache's k and v arrays): one virtual row latent | k_rope | zero, its first kv_dim floats in
 * k[l], the rest in v[l]; model/load.c sizes kv_dim so. */
#include "model/internal.h"
#include <math.h>
#include <string.h>

/* transformers builds q_a_layernorm and kv_a_layernorm with DeepseekV3RMSNorm's default eps. */
#define MLA_NORM_EPS 1e-6

/* out (r floats) = x rotated by the token's cos/sin row cs (half = r / 2 frequencies).
   Interleaved: the pairs (x[2i], x[2i+1]), written as the rotated evens then odds (as
   transformers' apply_rotary_pos_emb_interleave); else rotate_half over (x[i], x[i + half]). */
static void mla_rope(const float *x, const float *cs, int half, bool interleave, float *out) {
    for (int i = 0; i < half; i++) {
        float a = interleave ? x[2 * i] : x[i], b = interleave ? x[2 * i + 1] : x[i + half], c = cs[i], s = cs[half + i];
        out[i] = a * c - b * s;
        out[i + half] = b * c + a * s;
    }
}

void lm_mla_qkv(llmc_model *m, const lm_step *s, int l) {
    const llmc_config *c = &m->cfg;
    const lm_mla *A = &m->layers[l].mla;
    const int n = s->n, nh = c->num_heads, hd = c->head_dim, nope = c->qk_nope_head_dim, r = c->qk_rope_head_dim;
    const int qk = nope + r, kvl = c->kv_lora_rank, kvw = kvl + r, half = r / 2, kvd = m->kv_dim;
    const llmc_act_mode act = lm_act(m, s);
    /* q_a (or q) and kv_a: one pass over the normed input */
    if (c->q_lora_rank > 0) {
        const llmc_tensor *w[2] = {A->wqa, A->wkva}, *b[2] = {A->bqa, A->bkva};
        float *y[2] = {m->mla_qa, m->mla_kva};
        llmc_cpu_matmul_n(m->tp, 2, w, b, m->xn, n, y, act);
        for (int t = 0; t < n; t++) {
            float *qa = m->mla_qa + (size_t)t * c->q_lora_rank;
            lm_rmsnorm(qa, A->qa_norm, c->q_lora_rank, MLA_NORM_EPS, qa);
        }
        llmc_cpu_matmul_act(m->tp, A->wqb, NULL, m->mla_qa, n, m->mla_b, act);
    } else {
        const llmc_tensor *w[2] = {A->wqb, A->wkva}, *b[2] = {NULL, A->bkva};
        float *y[2] = {m->mla_b, m->mla_kva};
        llmc_cpu_matmul_n(m->tp, 2, w, b, m->xn, n, y, act);
    }
    /* q heads into m->q (heads head_dim apart): q_nope | RoPE(q_rope) */
    for (int t = 0; t < n; t++) {
        const float *cs = m->rope_cs + (size_t)t * hd;
        for (int h = 0; h < nh; h++) {
            const float *src = m->mla_b + ((size_t)t * nh + (size_t)h) * qk;
            float *dst = m->q + ((size_t)t * nh + (size_t)h) * hd;
            memcpy(dst, src, (size_t)nope * sizeof *dst);
            mla_rope(src + nope, cs, half, c->rope_interleave, dst + nope);
        }
    }
    /* the cache row: RMSNorm(latent) | RoPE(k_rope) | zeros, split over k[l] and v[l] */
    for (int t = 0; t < n; t++) {
        float *row = m->mla_row;
        const float *kva = m->mla_kva + (size_t)t * kvw;
        lm_rmsnorm(kva, A->kva_norm, kvl, MLA_NORM_EPS, row);
        mla_rope(kva + kvl, m->rope_cs + (size_t)t * hd, half, c->rope_interleave, row + kvl);
        memset(row + kvw, 0, (size_t)(2 * kvd - kvw) * sizeof *row);
        llmc_kv_cache *kv = s->seg[s->seg_of[t]].kv;
        memcpy(kv->k[l] + (size_t)s->pos[t] * kvd, row, (size_t)kvd * sizeof *row);
        memcpy(kv->v[l] + (size_t)s->pos[t] * kvd, row + kvd, (size_t)kvd * sizeof *row);
    }
}

typedef struct {
    llmc_model *m;
    const lm_step *s;
    int layer;
} mla_ctx;

/* Items (token, head): absorb q into latent space, attend over the cached rows [0, pos], expand
   the weighted latent sum by W_v into m->att's heads of v_head_dim (o_proj's input). */
static void mla_attention_task(void *vctx, int64_t begin, int64_t end, int tid) {
    const mla_ctx *a = vctx;
    llmc_model *m = a->m;
    const llmc_config *c = &m->cfg;
    const lm_mla *A = &m->layers[a->layer].mla;
    const int nh = c->num_heads, hd = c->head_dim, nope = c->qk_nope_head_dim, r = c->qk_rope_head_dim, vd = c->v_head_dim;
    const int kvl = c->kv_lora_rank, kvd = m->kv_dim, kb = nope + vd;
    const float scale = c->attn_scale > 0 ? (float)c->attn_scale : 1.0f / sqrtf((float)(nope + r));
    float *qv = m->scores + (size_t)tid * m->score_stride, *ov = qv + 2 * kvd, *sc = ov + 2 * kvd;
    for (int64_t idx = begin; idx < end; idx++) {
        const int t = (int)(idx / nh), h = (int)(idx % nh);
        const float *q = m->q + ((size_t)t * nh + (size_t)h) * hd;
        const float *wk = A->wkb + (size_t)h * kb * kvl, *wv = wk + (size_t)nope * kvl;
        /* qv = W_kᵀ q_nope | q_rope | 0 */
        for (int i = 0; i < kvl; i++) qv[i] = 0;
        for (int d = 0; d < nope; d++) {
            const float qd = q[d], *w = wk + (size_t)d * kvl;
            for (int i = 0; i < kvl; i++) qv[i] += qd * w[i];
        }
        memcpy(qv + kvl, q + nope, (size_t)r * sizeof *qv);
        memset(qv + kvl + r, 0, (size_t)(2 * kvd - kvl - r) * sizeof *qv);
        const llmc_kv_cache *kv = a->s->seg[a->s->seg_of[t]].kv;
        const int np = a->s->pos[t] + 1;
        const float *K = kv->k[a->layer], *V = kv->v[a->layer];
        float mx = -INFINITY;
        for (int j = 0; j < np; j++) {
            const float *ra = K + (size_t)j * kvd, *rb = V + (size_t)j * kvd;
            float dot = 0;
            for (int i = 0; i < kvd; i++) dot += qv[i] * ra[i];
            for (int i = 0; i < kvd; i++) dot += qv[kvd + i] * rb[i];
            sc[j] = dot * scale;
            mx = sc[j] > mx ? sc[j] : mx;
        }
        float sum = 0;
        for (int j = 0; j < np; j++) sum += sc[j] = expf(sc[j] - mx);
        const float inv = 1.0f / sum;
        memset(ov, 0, (size_t)kvl * sizeof *ov);
        for (int j = 0; j < np; j++) { /* the latent part of the row only: k_rope is no value */
            const float p = sc[j] * inv, *ra = K + (size_t)j * kvd, *rb = V + (size_t)j * kvd;
            for (int i = 0; i < kvl && i < kvd; i++) ov[i] += p * ra[i];
            for (int i = kvd; i < kvl; i++) ov[i] += p * rb[i - kvd];
        }
        float *out = m->att + ((size_t)t * nh + (size_t)h) * vd;
        for (int e = 0; e < vd; e++) {
            const float *w = wv + (size_t)e * kvl;
            float acc = 0;
            for (int i = 0; i < kvl; i++) acc += w[i] * ov[i];
            out[e] = acc;
        }
    }
}

void lm_mla_attention(llmc_model *m, const lm_step *s, int l) {
    mla_ctx a = {m, s, l};
    llmc_threadpool_run(m->tp, mla_attention_task, &a, (int64_t)s->n * m->cfg.num_heads);
}
