/* DeepSeek-V3's Multi-head Latent Attention on the CPU, as transformers' DeepseekV3Attention
 * computes it: q = q_b(RMSNorm(q_a(x))) (or q_proj(x) without q_lora_rank), each head split
 * into q_nope | q_rope; kv_a_proj_with_mqa(x) = latent | k_rope, the latent RMS-normed and
 * expanded by kv_b_proj into each head's k_nope | v; RoPE on q_rope and on the one k_rope all
 * heads share (interleaved pairs when rope_interleave). This first form expands K and V per
 * head into the ordinary KV cache: each head's row is k_nope | k_rope (| zeros up to
 * head_dim) and v (| zeros), so the attention kernels run unchanged (zero dims add nothing
 * to q·k, and the padded output dims are dropped by lm_mla_compact before o_proj). */
#include "model/internal.h"
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
    const int vd = c->v_head_dim, qk = nope + r, kvl = c->kv_lora_rank, kvw = kvl + r, half = r / 2;
    const size_t kvd = (size_t)nh * (size_t)hd;
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
    /* q heads: q_nope | RoPE(q_rope) | zeros */
    for (int t = 0; t < n; t++) {
        const float *cs = m->rope_cs + (size_t)t * hd;
        for (int h = 0; h < nh; h++) {
            const float *src = m->mla_b + ((size_t)t * nh + (size_t)h) * qk;
            float *dst = m->q + ((size_t)t * nh + (size_t)h) * hd;
            memcpy(dst, src, (size_t)nope * sizeof *dst);
            mla_rope(src + nope, cs, half, c->rope_interleave, dst + nope);
            memset(dst + qk, 0, (size_t)(hd - qk) * sizeof *dst);
        }
    }
    /* the latent, normed and gathered into rows of kv_lora_rank, then per-head k_nope | v */
    for (int t = 0; t < n; t++) {
        float *lat = m->mla_lat + (size_t)t * kvl;
        lm_rmsnorm(m->mla_kva + (size_t)t * kvw, A->kva_norm, kvl, MLA_NORM_EPS, lat);
    }
    llmc_cpu_matmul_act(m->tp, A->wkvb, NULL, m->mla_lat, n, m->mla_b, act);
    for (int t = 0; t < n; t++) {
        float kr[LLMC_MAX_ROPE_FACTORS * 2];
        mla_rope(m->mla_kva + (size_t)t * kvw + kvl, m->rope_cs + (size_t)t * hd, half, c->rope_interleave, kr);
        llmc_kv_cache *kv = s->seg[s->seg_of[t]].kv;
        float *krow = kv->k[l] + (size_t)s->pos[t] * kvd, *vrow = kv->v[l] + (size_t)s->pos[t] * kvd;
        for (int h = 0; h < nh; h++) {
            const float *src = m->mla_b + ((size_t)t * nh + (size_t)h) * (size_t)(nope + vd);
            float *kd = krow + (size_t)h * hd, *vdst = vrow + (size_t)h * hd;
            memcpy(kd, src, (size_t)nope * sizeof *kd);
            memcpy(kd + nope, kr, (size_t)r * sizeof *kd);
            memset(kd + qk, 0, (size_t)(hd - qk) * sizeof *kd);
            memcpy(vdst, src + nope, (size_t)vd * sizeof *vdst);
            memset(vdst + vd, 0, (size_t)(hd - vd) * sizeof *vdst);
        }
    }
}

void lm_mla_compact(const llmc_model *m, int n) {
    const llmc_config *c = &m->cfg;
    const size_t hd = (size_t)c->head_dim, vd = (size_t)c->v_head_dim;
    if (hd == vd) return;
    for (size_t i = 0; i < (size_t)n * (size_t)c->num_heads; i++) memmove(m->att + i * vd, m->att + i * hd, vd * sizeof *m->att);
}
