/* The forward pass, top to bottom: embeddings; per layer RMSNorm → q/k/v (+bias) →
 * (Qwen3/Gemma 3: RMSNorm of each q and k head; OLMoE: of the whole q and k) → RoPE
 * (rotate_half) → causal GQA attention over each sequence's KV cache → o_proj → residual →
 * RMSNorm → the MLP block, dense (SwiGLU / GeGLU) or mixture-of-experts (model/moe.c) →
 * residual; final norm, lm_head (tied or not). Following transformers' modeling_llama.py
 * step for step, with the family switches of formats/arch.h; DeepSeek-V3's layers run Multi-head
 * Latent Attention instead, its cache holding the compressed latent (model/mla.c). A call runs a batch of tokens
 * from any number of sequences (matrix × matrix over all rows; attention per sequence over
 * its own KV cache); attention keeps a few score rows per thread (backend/cpu/attention.c),
 * so memory beyond the KV cache is O(n). */
#include "model/internal.h"
#include "base/error.h"
#include "base/log.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lm_rmsnorm(const float *x, const float *w, int n, double eps, float *out) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) out[i] = w[i] * (x[i] * r);
}

/* cos/sin rows for each token's position, head_dim floats apart: [t][0..half) cos, [t][half..2·half)
   sin, half = rotary_dim / 2. Longrope: the long factors' frequencies for the tokens of segments
   that use them, and cos/sin × its attention factor. */
static void lm_rope_fill(const llmc_model *m, const lm_step *s, const float *inv_freq, float *tab) {
    const llmc_config *c = &m->cfg;
    const int half = llmc_config_rotary_dim(c) / 2;
    const float af = c->rope_attn_factor > 0 ? (float)c->rope_attn_factor : 1.0f;
    for (int t = 0; t < s->n; t++) {
        float *cs = tab + (size_t)t * c->head_dim;
        const float *inv = m->inv_freq_long && inv_freq == m->inv_freq && s->seg[s->seg_of[t]].rope_long ? m->inv_freq_long : inv_freq;
        for (int i = 0; i < half; i++) {
            float a = (float)s->pos[t] * inv[i];
            cs[i] = cosf(a);
            cs[half + i] = sinf(a);
            if (af != 1.0f) {
                cs[i] *= af;
                cs[half + i] *= af;
            }
        }
    }
}

/* The attention of layer l: its window (0 = none) and the scale of its scores. */
static int lm_layer_window(const llmc_config *c, int l) { return llmc_config_layer_sliding(c, l) ? c->sliding_window : 0; }
static float lm_attn_scale(const llmc_config *c) { return c->attn_scale > 0 ? (float)c->attn_scale : 1.0f / sqrtf((float)c->head_dim); }

static void lm_rope_apply(float *x, const float *cs, int half) {
    for (int i = 0; i < half; i++) {
        float a = x[i], b = x[i + half], c = cs[i], s = cs[half + i];
        x[i] = a * c - b * s;
        x[i + half] = b * c + a * s;
    }
}


typedef struct {
    llmc_model *m;
    const lm_step *s;
    int layer;
} lm_att_ctx;

/* One item: token t, K/V head kh, and up to LLMC_ATT_MAX_GROUP of the query heads
 * that share it (GQA), so each K and V row is read once for the group. */
static void lm_attention_task(void *vctx, int64_t begin, int64_t end, int tid) {
    lm_att_ctx *a = vctx;
    llmc_model *m = a->m;
    const llmc_config *c = &m->cfg;
    const int hd = c->head_dim, nh = c->num_heads, nkv = c->num_kv_heads, group = nh / nkv;
    const int chunks = (group + LLMC_ATT_MAX_GROUP - 1) / LLMC_ATT_MAX_GROUP, win = lm_layer_window(c, a->layer);
    const float scale = lm_attn_scale(c);
    float *sc = m->scores + (size_t)tid * m->score_stride;
    for (int64_t idx = begin; idx < end; idx++) {
        int t = (int)(idx / ((int64_t)nkv * chunks)), rest = (int)(idx % ((int64_t)nkv * chunks));
        int kh = rest / chunks, h0 = kh * group + (rest % chunks) * LLMC_ATT_MAX_GROUP;
        int G = kh * group + group - h0 < LLMC_ATT_MAX_GROUP ? kh * group + group - h0 : LLMC_ATT_MAX_GROUP;
        const llmc_kv_cache *kv = a->s->seg[a->s->seg_of[t]].kv;
        int qpos = a->s->pos[t], lo = 0;
        if (win > 0 && qpos - win + 1 > 0) lo = qpos - win + 1;
        const float *q[LLMC_ATT_MAX_GROUP];
        float *o[LLMC_ATT_MAX_GROUP];
        for (int g = 0; g < G; g++) {
            q[g] = m->q + ((size_t)t * nh + (size_t)(h0 + g)) * hd;
            o[g] = m->att + ((size_t)t * nh + (size_t)(h0 + g)) * hd;
        }
        size_t off = (size_t)lo * m->kv_dim + (size_t)kh * hd;
        llmc_cpu_attention(G, q, kv->k[a->layer] + off, kv->v[a->layer] + off, (size_t)m->kv_dim, hd, qpos - lo + 1, scale,
                           (float)c->attn_softcap, sc, o);
    }
}

/* Blocks of query tokens of one segment × the heads of one K/V head as rows of the blocked
 * (flash-style) kernel, so each K/V block is read once for up to LLMC_ATT_MAX_ROWS rows.
 * Item = (segment, token block, K/V head, head chunk), a segment's latest token blocks
 * (the most keys) first. A row's result does not depend on the rows beside it. */
typedef struct {
    llmc_model *m;
    const lm_step *s;
    int layer;
    int tq, hc, n_hc; /* tokens per block, heads per chunk, chunk count */
} lm_att_rows_ctx;

static void lm_attention_rows_task(void *vctx, int64_t begin, int64_t end, int tid) {
    lm_att_rows_ctx *a = vctx;
    llmc_model *m = a->m;
    const llmc_config *c = &m->cfg;
    const int hd = c->head_dim, nh = c->num_heads, nkv = c->num_kv_heads, group = nh / nkv, win = lm_layer_window(c, a->layer);
    const float scale = lm_attn_scale(c);
    float *sc = m->scores + (size_t)tid * m->score_stride;
    int si = 0;
    for (int64_t idx = begin; idx < end; idx++) {
        while (idx >= a->s->seg[si].item_end) si++;
        const lm_seg *sg = &a->s->seg[si];
        int64_t li = idx - (si ? a->s->seg[si - 1].item_end : 0);
        int n_tb = (sg->n + a->tq - 1) / a->tq;
        int tb = n_tb - 1 - (int)(li / ((int64_t)nkv * a->n_hc)), rest = (int)(li % ((int64_t)nkv * a->n_hc));
        int kh = rest / a->n_hc, h0 = kh * group + (rest % a->n_hc) * a->hc;
        int h1 = h0 + a->hc < kh * group + group ? h0 + a->hc : kh * group + group;
        int t0 = sg->t0 + tb * a->tq, t1 = t0 + a->tq < sg->t0 + sg->n ? t0 + a->tq : sg->t0 + sg->n;
        const float *q[LLMC_ATT_MAX_ROWS];
        float *o[LLMC_ATT_MAX_ROWS];
        int lo[LLMC_ATT_MAX_ROWS], hi[LLMC_ATT_MAX_ROWS], R = 0;
        for (int t = t0; t < t1; t++)
            for (int h = h0; h < h1; h++) {
                int qpos = a->s->pos[t];
                q[R] = m->q + ((size_t)t * nh + (size_t)h) * hd;
                o[R] = m->att + ((size_t)t * nh + (size_t)h) * hd;
                hi[R] = qpos;
                lo[R] = win > 0 && qpos - win + 1 > 0 ? qpos - win + 1 : 0;
                R++;
            }
        llmc_cpu_attention_rows(R, q, lo, hi, sg->kv->k[a->layer] + (size_t)kh * hd, sg->kv->v[a->layer] + (size_t)kh * hd, (size_t)m->kv_dim,
                                hd, scale, (float)c->attn_softcap, sc, o);
    }
}

llmc_act_mode lm_act(const llmc_model *m, const lm_step *s) {
    int a = (int)m->act;
    if (s->invariant) a |= LLMC_ACT_INVARIANT | (s->f32_tiles ? LLMC_ACT_DEQUANT : 0);
    return (llmc_act_mode)a;
}

static void lm_matmul(const llmc_model *m, const lm_step *s, const llmc_tensor *W, const llmc_tensor *bias, const float *x, int n, float *y) {
    llmc_cpu_matmul_act(m->tp, W, bias, x, n, y, lm_act(m, s));
}

/* Causal attention of layer l for every token over its own sequence's KV. Batch-invariant
   steps and prompt batches use the rows kernel; a one-token decode the grouped one. */
static void lm_attention(llmc_model *m, const lm_step *s, int l) {
    const llmc_config *c = &m->cfg;
    const int group = c->num_heads / c->num_kv_heads;
    if (s->invariant || (s->n > 1 && llmc_cpu_attention_rows_fast(c->head_dim))) {
        lm_att_rows_ctx a = {m, s, l, 0, 0, 0};
        a.hc = group < LLMC_ATT_MAX_ROWS ? group : LLMC_ATT_MAX_ROWS;
        a.tq = LLMC_ATT_MAX_ROWS / a.hc;
        a.n_hc = (group + a.hc - 1) / a.hc;
        llmc_threadpool_run(m->tp, lm_attention_rows_task, &a, s->seg[s->n_seg - 1].item_end);
    } else {
        lm_att_ctx a = {m, s, l};
        llmc_threadpool_run(m->tp, lm_attention_task, &a,
                            (int64_t)s->n * c->num_kv_heads * ((group + LLMC_ATT_MAX_GROUP - 1) / LLMC_ATT_MAX_GROUP));
    }
}

void lm_mlp_act(const llmc_config *c, float *g, const float *u, size_t n) {
    if (c->mlp_act == LLMC_MLP_GELU_TANH) /* gelu_pytorch_tanh, as torch computes it in f32 */
        for (size_t i = 0; i < n; i++) g[i] = 0.5f * g[i] * (1.0f + tanhf(0.7978845608028654f * (g[i] + 0.044715f * g[i] * g[i] * g[i]))) * u[i];
    else
        for (size_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void lm_mlp_run(llmc_model *m, const lm_step *s, const lm_mlp *p, int width, const float *x, int n, float *y) {
    { /* gate and up: one pass */
        const llmc_tensor *w[2] = {p->wg, p->wu}, *b[2] = {p->bg, p->bu};
        float *o[2] = {m->g, m->u};
        llmc_cpu_matmul_n(m->tp, 2, w, b, x, n, o, lm_act(m, s));
    }
    lm_mlp_act(&m->cfg, m->g, m->u, (size_t)n * width);
    lm_matmul(m, s, p->wd, p->bd, m->g, n, y);
}

/* q/k head norms (Qwen3), RoPE, and the new K/V rows into each token's sequence at its position. */
static void lm_qk_rope_store(llmc_model *m, const lm_step *s, int l) {
    const llmc_config *c = &m->cfg;
    const lm_layer *L = &m->layers[l];
    const int hd = c->head_dim, qd = c->num_heads * hd, kvd = m->kv_dim, half = llmc_config_rotary_dim(c) / 2;
    const float *rtab = m->rope_cs_local && llmc_config_layer_sliding(c, l) ? m->rope_cs_local : m->rope_cs;
    const bool rope_on = llmc_config_layer_rope(c, l);
    for (int t = 0; t < s->n; t++) {
        const float *cs = rtab + (size_t)t * hd;
        if (L->qn && c->qk_norm_full) { /* OLMoE: all of q and all of k, before the split into heads */
            lm_rmsnorm(m->q + (size_t)t * qd, L->qn, qd, c->rms_norm_eps, m->q + (size_t)t * qd);
            lm_rmsnorm(m->k + (size_t)t * kvd, L->kn, kvd, c->rms_norm_eps, m->k + (size_t)t * kvd);
        } else if (L->qn) { /* Qwen3: each head normalized over head_dim before RoPE */
            for (int h = 0; h < c->num_heads; h++) {
                float *v = m->q + (size_t)t * qd + (size_t)h * hd;
                lm_rmsnorm(v, L->qn, hd, c->rms_norm_eps, v);
            }
            for (int h = 0; h < c->num_kv_heads; h++) {
                float *v = m->k + (size_t)t * kvd + (size_t)h * hd;
                lm_rmsnorm(v, L->kn, hd, c->rms_norm_eps, v);
            }
        }
        if (rope_on) { /* SmolLM3's NoPE layers skip it */
            for (int h = 0; h < c->num_heads; h++) lm_rope_apply(m->q + (size_t)t * qd + (size_t)h * hd, cs, half);
            for (int h = 0; h < c->num_kv_heads; h++) lm_rope_apply(m->k + (size_t)t * kvd + (size_t)h * hd, cs, half);
        }
        llmc_kv_cache *kv = s->seg[s->seg_of[t]].kv;
        memcpy(kv->k[l] + (size_t)s->pos[t] * kvd, m->k + (size_t)t * kvd, (size_t)kvd * sizeof(float));
        memcpy(kv->v[l] + (size_t)s->pos[t] * kvd, m->v + (size_t)t * kvd, (size_t)kvd * sizeof(float));
    }
}

/* The layers from first_layer on, then the head for the out rows (logits: n_out × vocab).
   first_layer > 0: m->x already holds the hidden state after the GPU's layers. */
static void lm_forward_step(llmc_model *m, const lm_step *s, float *logits, int first_layer) {
    const llmc_config *c = &m->cfg;
    const int H = c->hidden_size, n = s->n;
    if (first_layer == 0) {
        llmc_cpu_embed(m->embed, s->ids, n, m->x);
        if (c->embed_scale > 0) { /* Gemma: × sqrt(hidden) */
            float es = (float)c->embed_scale;
            for (size_t i = 0; i < (size_t)n * H; i++) m->x[i] *= es;
        }
    }
    lm_rope_fill(m, s, m->inv_freq, m->rope_cs);
    if (m->inv_freq_local) lm_rope_fill(m, s, m->inv_freq_local, m->rope_cs_local);
    for (int l = first_layer; l < c->num_layers; l++) {
        lm_layer *L = &m->layers[l];
        for (int t = 0; t < n; t++) lm_rmsnorm(m->x + (size_t)t * H, L->ln1, H, c->rms_norm_eps, m->xn + (size_t)t * H);
        if (c->mla) {
            lm_mla_qkv(m, s, l);
        } else { /* q, k, v: one pass over the normed input */
            const llmc_tensor *w[3] = {L->wq, L->wk, L->wv}, *b[3] = {L->bq, L->bk, L->bv};
            float *y[3] = {m->q, m->k, m->v};
            llmc_cpu_matmul_n(m->tp, 3, w, b, m->xn, n, y, lm_act(m, s));
            lm_qk_rope_store(m, s, l);
        }
        if (c->mla) lm_mla_attention(m, s, l);
        else lm_attention(m, s, l);
        lm_matmul(m, s, L->wo, L->bo, m->att, n, m->xn);
        if (L->ln_ao) /* Gemma 3: the attention output normalized before the residual add */
            for (int t = 0; t < n; t++) lm_rmsnorm(m->xn + (size_t)t * H, L->ln_ao, H, c->rms_norm_eps, m->xn + (size_t)t * H);
        for (size_t i = 0; i < (size_t)n * H; i++) m->x[i] += m->xn[i];
        for (int t = 0; t < n; t++) lm_rmsnorm(m->x + (size_t)t * H, L->ln2, H, c->rms_norm_eps, m->xn + (size_t)t * H);
        if (L->is_moe) lm_moe_run(m, s, L, m->xn, n, m->xn);
        else lm_mlp_run(m, s, &L->mlp, c->intermediate_size, m->xn, n, m->xn);
        if (L->ln_mo)
            for (int t = 0; t < n; t++) lm_rmsnorm(m->xn + (size_t)t * H, L->ln_mo, H, c->rms_norm_eps, m->xn + (size_t)t * H);
        for (size_t i = 0; i < (size_t)n * H; i++) m->x[i] += m->xn[i];
    }
    for (int i = 0; i < s->n_seg; i++) s->seg[i].kv->rope_mode = s->seg[i].rope_long;
    if (!logits || s->n_out == 0) return;
    for (int i = 0; i < s->n_out; i++)
        lm_rmsnorm(m->x + (size_t)s->out_rows[i] * H, m->norm, H, c->rms_norm_eps, m->xn + (size_t)i * H);
    lm_matmul(m, s, m->lm_head, NULL, m->xn, s->n_out, logits);
    if (c->final_softcap > 0) { /* Gemma 2: cap · tanh(logit / cap) */
        float cap = (float)c->final_softcap;
        for (size_t i = 0; i < (size_t)s->n_out * (size_t)c->vocab_size; i++) logits[i] = cap * tanhf(logits[i] / cap);
    }
}

/* Validates a batch and lays it out as segments; makes room in each sequence and
   applies rewinds (a segment starting before its sequence's end truncates it). */
static llmc_status lm_plan_step(const llmc_model *m, const llmc_batch *b, lm_step *s, llmc_error *err) {
    if (!b || b->n <= 0 || !b->ids || !b->seq || !b->pos)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: a batch needs tokens, sequences and positions");
    if (b->n > LM_BATCH)
        return llmc_err(err, LLMC_ERR_RANGE, "model_forward_batch: %d tokens, more than the %d a call takes", b->n, LM_BATCH);
    s->n = b->n;
    s->n_seg = 0;
    s->n_out = 0;
    s->ids = b->ids;
    s->invariant = b->invariant;
    s->f32_tiles = b->f32_tiles;
    for (int t = 0; t < b->n; t++) {
        llmc_kv_cache *kv = b->seq[t];
        if (!kv || kv->n_layers != m->cfg.num_layers || kv->kv_dim != m->kv_dim)
            return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: token %d has no sequence of this model's shape", t);
        if (b->ids[t] < 0 || b->ids[t] >= m->cfg.vocab_size)
            return llmc_err(err, LLMC_ERR_RANGE, "model_forward_batch: token id %d (at index %d) is outside the vocabulary of %d", (int)b->ids[t], t,
                            m->cfg.vocab_size);
        bool start = t == 0 || b->seq[t - 1] != kv;
        if (start) {
            for (int i = 0; i < s->n_seg; i++)
                if (s->seg[i].kv == kv)
                    return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: the tokens of one sequence must be contiguous (token %d)", t);
            if (b->pos[t] < 0 || b->pos[t] > kv->len)
                return llmc_err(err, LLMC_ERR_RANGE, "model_forward_batch: position %d is past the %d tokens in the sequence's KV cache", (int)b->pos[t],
                                kv->len);
            s->seg[s->n_seg++] = (lm_seg){kv, t, 0, b->pos[t], 0, false};
        } else if (b->pos[t] != b->pos[t - 1] + 1) {
            return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: token %d of a sequence is at position %d, not %d", t, (int)b->pos[t],
                            (int)b->pos[t - 1] + 1);
        }
        lm_seg *sg = &s->seg[s->n_seg - 1];
        sg->n++;
        s->pos[t] = b->pos[t];
        s->seg_of[t] = (int16_t)(s->n_seg - 1);
        if (b->want_logits && b->want_logits[t]) s->out_rows[s->n_out++] = (int16_t)t;
    }
    const int group = m->cfg.num_heads / m->cfg.num_kv_heads, hc = group < LLMC_ATT_MAX_ROWS ? group : LLMC_ATT_MAX_ROWS;
    const int tq = LLMC_ATT_MAX_ROWS / hc, n_hc = (group + hc - 1) / hc;
    int items = 0;
    for (int i = 0; i < s->n_seg; i++) {
        lm_seg *sg = &s->seg[i];
        if ((long long)sg->pos0 + sg->n > m->ctx)
            return llmc_err(err, LLMC_ERR_RANGE, "model_forward_batch: %d tokens at position %d need %lld positions, more than the context of %d",
                            sg->n, sg->pos0, (long long)sg->pos0 + sg->n, m->ctx);
        llmc_status st = llmc_kv_cache_reserve(sg->kv, sg->pos0 + sg->n, err);
        if (st) return st;
        items += (sg->n + tq - 1) / tq * m->cfg.num_kv_heads * n_hc;
        sg->item_end = items;
        /* longrope, as transformers switches: by the call's last position + 1 */
        sg->rope_long = m->inv_freq_long && sg->pos0 + sg->n > m->cfg.rope_original_max_position;
    }
    /* Checks done: rewinds take effect, the ids go in (K/V rows follow in the forward). */
    for (int i = 0; i < s->n_seg; i++) {
        lm_seg *sg = &s->seg[i];
        memcpy(sg->kv->ids + sg->pos0, b->ids + sg->t0, (size_t)sg->n * sizeof *b->ids);
        sg->kv->len = sg->pos0 + sg->n;
    }
    return LLMC_OK;
}

/* LongRoPE: a call whose last position + 1 passes original_max_position_embeddings rotates with
 * the long factors, the others with the short ones. When a sequence's cached keys [0, upto) were
 * rotated with the other set, they are recomputed from its ids first, as transformers' Phi-3
 * drops its cache and recomputes it the first time a sequence passes that length. */
static llmc_status lm_rope_switch(llmc_model *m, llmc_kv_cache *kv, int upto, bool want_long, llmc_error *err) {
    if (!m->inv_freq_long || upto <= 0 || upto > kv->len || kv->rope_mode == (int)want_long) return LLMC_OK;
    const int keep = kv->len;
    int32_t ids[LM_BATCH], pos[LM_BATCH];
    llmc_kv_cache *seq[LM_BATCH];
    lm_step s;
    LLMC_DEBUG("model: recomputing %d cached positions with the %s longrope factors", upto, want_long ? "long" : "short");
    for (int done = 0; done < upto;) {
        int n = upto - done < LM_BATCH ? upto - done : LM_BATCH;
        for (int t = 0; t < n; t++) {
            ids[t] = kv->ids[done + t];
            pos[t] = done + t;
            seq[t] = kv;
        }
        llmc_batch b = {n, ids, seq, pos, NULL, false, false};
        llmc_status st = lm_plan_step(m, &b, &s, err);
        if (st) return st;
        s.seg[0].rope_long = want_long;
        lm_forward_step(m, &s, NULL, 0);
        done += n;
    }
    kv->len = keep; /* positions past upto were not touched */
    return LLMC_OK;
}

/* Before a batch: each sequence whose cached prefix is in the other longrope mode is recomputed. */
static llmc_status lm_rope_switch_batch(llmc_model *m, const llmc_batch *b, llmc_error *err) {
    if (!m->inv_freq_long || !b || b->n <= 0 || b->n > LM_BATCH || !b->seq || !b->pos) return LLMC_OK; /* plan_step reports bad batches */
    for (int t0 = 0, t = 0; t0 < b->n; t0 = t) {
        for (t = t0 + 1; t < b->n && b->seq[t] == b->seq[t0]; t++) {}
        llmc_kv_cache *kv = b->seq[t0];
        if (!kv || kv->n_layers != m->cfg.num_layers || kv->kv_dim != m->kv_dim) continue;
        llmc_status st = lm_rope_switch(m, kv, b->pos[t0], b->pos[t0] + (t - t0) > m->cfg.rope_original_max_position, err);
        if (st) return st;
    }
    return LLMC_OK;
}

llmc_status llmc_model_forward_batch(llmc_model *m, const llmc_batch *b, float *logits, llmc_error *err) {
    if (!m) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_batch: no model");
    if (m->cuda)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED,
                        "model_forward_batch: the model is placed on a GPU, whose backend runs one sequence (llmc_model_forward); "
                        "load it with --device cpu to batch sequences");
    lm_step s;
    llmc_status st = lm_rope_switch_batch(m, b, err);
    if (st) return st;
    st = lm_plan_step(m, b, &s, err);
    if (st) return st;
    lm_forward_step(m, &s, logits, 0);
    return LLMC_OK;
}

int llmc_model_max_batch(void) { return LM_BATCH; }
bool llmc_model_can_batch(const llmc_model *m) { return m && !m->cuda; }

llmc_status llmc_model_seq_new(const llmc_model *m, int max_pos, llmc_kv_cache **out, llmc_error *err) {
    *out = NULL;
    if (!m) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_seq_new: no model");
    if (max_pos <= 0 || max_pos > m->ctx) max_pos = m->ctx;
    return llmc_kv_cache_new(m->cfg.num_layers, m->kv_dim, max_pos, 0, out, err);
}

int llmc_model_kv_dim(const llmc_model *m) { return m->kv_dim; }

size_t llmc_model_pos_bytes(const llmc_model *m) { return llmc_kv_cache_pos_bytes(m->cfg.num_layers, m->kv_dim); }

static llmc_status lm_check_forward(const llmc_model *m, const int32_t *ids, int n, int pos, llmc_error *err) {
    if (!m || (!ids && n > 0) || n < 0) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward: invalid arguments");
    if (n == 0) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward: no tokens given");
    if (pos < 0 || pos > m->kv0->len)
        return llmc_err(err, LLMC_ERR_RANGE, "model_forward: position %d is past the %d tokens in the KV cache", pos, m->kv0->len);
    if ((long long)pos + n > m->ctx)
        return llmc_err(err, LLMC_ERR_RANGE, "model_forward: %d tokens at position %d need %lld positions, more than the context of %d",
                        n, pos, (long long)pos + n, m->ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return llmc_err(err, LLMC_ERR_RANGE, "model_forward: token id %d (at index %d) is outside the vocabulary of %d", (int)ids[i], i,
                            m->cfg.vocab_size);
    return LLMC_OK;
}

/* A one-sequence step over the model's own cache: b tokens at pos, logits of all rows or the last;
   call_end: the end of the whole call these b tokens are part of (longrope decides by it, as
   transformers sees one call however llmc cuts it into batches). */
static llmc_status lm_single_step(llmc_model *m, const int32_t *ids, int b, int pos, int call_end, bool all_rows, lm_step *s, llmc_error *err) {
    int32_t p[LM_BATCH];
    bool want[LM_BATCH];
    llmc_kv_cache *seq[LM_BATCH];
    for (int t = 0; t < b; t++) {
        p[t] = pos + t;
        want[t] = all_rows || t == b - 1;
        seq[t] = m->kv0;
    }
    llmc_batch bt = {b, ids, seq, p, want, false, false};
    llmc_status st = lm_plan_step(m, &bt, s, err);
    if (st == LLMC_OK && m->inv_freq_long && call_end > m->cfg.rope_original_max_position) s->seg[0].rope_long = true;
    return st;
}

llmc_status llmc_model_forward(llmc_model *m, const int32_t *ids, int n, int pos, float *logits, bool all_logits, llmc_error *err) {
    llmc_status st = lm_check_forward(m, ids, n, pos, err);
    if (st) return st;
    const int V = m->cfg.vocab_size;
    m->kv0->len = pos; /* the rewind takes effect even if a later batch were to fail */
    if ((st = lm_rope_switch(m, m->kv0, pos, pos + n > m->cfg.rope_original_max_position, err))) return st;
    lm_step s;
    for (int done = 0; done < n;) {
        int b = n - done < LM_BATCH ? n - done : LM_BATCH;
        bool last = done + b == n;
        float *lg = NULL;
        if (logits && all_logits) lg = logits + (size_t)done * V;
        else if (logits && last) lg = logits;
        if ((st = lm_single_step(m, ids + done, b, pos + done, pos + n, all_logits, &s, err))) return st;
        if (m->cuda) {
            /* GPU first; the CPU finishes the layers (and head) the GPU does not hold. */
            st = llmc_cuda_forward(m->cuda, ids + done, b, pos + done, lg, all_logits, m->x, err);
            if (st) { m->kv0->len = pos + done; return st; }
            if (!llmc_cuda_has_head(m->cuda)) lm_forward_step(m, &s, lg, llmc_cuda_gpu_layers(m->cuda));
        } else {
            lm_forward_step(m, &s, lg, 0);
        }
        done += b;
    }
    return LLMC_OK;
}

bool llmc_model_can_select(const llmc_model *m) { return m && m->cuda && llmc_cuda_has_head(m->cuda); }

llmc_status llmc_model_forward_select(llmc_model *m, const int32_t *ids, int n, int pos, const llmc_select_req *req, llmc_choice *out,
                                      float *logits, llmc_error *err) {
    if (!llmc_model_can_select(m)) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "model_forward_select: the head is not on a GPU");
    if (!req || !out || !logits) return llmc_err(err, LLMC_ERR_INVALID_ARG, "model_forward_select: invalid arguments");
    llmc_status st = lm_check_forward(m, ids, n, pos, err);
    if (st) return st;
    m->kv0->len = pos;
    /* Whole batches before the last one only fill the KV cache. */
    int lead = n > LM_BATCH ? (n - 1) / LM_BATCH * LM_BATCH : 0;
    if (lead && (st = llmc_model_forward(m, ids, lead, pos, NULL, false, err))) return st;
    st = llmc_cuda_forward_select(m->cuda, ids + lead, n - lead, pos + lead, req, out, logits, err);
    if (st) return st;
    /* the GPU holds every layer's K/V here; the host cache only records the ids */
    memcpy(m->kv0->ids + pos + lead, ids + lead, (size_t)(n - lead) * sizeof *ids);
    m->kv0->len = pos + n;
    return LLMC_OK;
}
