/* The mixture-of-experts MLP block on the CPU (Mixtral, Qwen2-/Qwen3-MoE, OLMoE, DeepSeek-V3),
 * as transformers computes it: router logits x·Wᵀ, softmax in f32, the top k experts (their
 * probabilities renormalized to sum 1 with norm_topk_prob) — or DeepSeek-V3's sigmoid scores
 * with the bias-corrected, group-limited choice and routed_scaling_factor — and for each expert that any
 * token chose, in expert order, its gated MLP over exactly the tokens that chose it (one
 * matrix × matrix call per expert: its weights are read once per call, and the weights of
 * experts nobody chose not at all), each output scaled by the token's probability and
 * summed. Qwen2-MoE adds a shared expert scaled by sigmoid(x·w_gate), DeepSeek-V3 its plain
 * shared experts. */
#include "model/internal.h"
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* The k largest of v[0..E) among the allowed (NULL: all), distinct, into sel (ties: the lower index;
   NaN never wins a comparison, so NaN scores still give k distinct experts: the first untaken ones). */
static void moe_topk(const float *v, const bool *allowed, int E, int K, int32_t *sel) {
    bool taken[LLMC_MAX_EXPERTS] = {false};
    for (int j = 0; j < K; j++) { /* K <= the allowed count: an untaken one always remains */
        int best = -1;
        for (int e = 0; e < E; e++)
            if (!taken[e] && (!allowed || allowed[e]) && (best < 0 || v[e] > v[best])) best = e;
        taken[best] = true;
        sel[j] = best;
    }
}

/* DeepSeek-V3: scores sigmoid(logit); the choice ranks score + bias, only within the topk_group
   groups whose two best biased scores sum highest; the weights are the unbiased scores. */
static void moe_route_sigmoid(const llmc_config *c, const float *logit, const float *bias, float *score, int32_t *sel, float *w) {
    const int E = c->num_experts, K = c->num_experts_per_tok, G = c->n_group, per = E / G;
    float choice[LLMC_MAX_EXPERTS], gs[LLMC_MAX_EXPERTS];
    bool allowed[LLMC_MAX_EXPERTS], gsel[LLMC_MAX_EXPERTS] = {false};
    for (int e = 0; e < E; e++) {
        score[e] = 1.0f / (1.0f + expf(-logit[e]));
        choice[e] = bias ? score[e] + bias[e] : score[e];
    }
    for (int g = 0; g < G; g++) { /* the sum of the group's top 2 */
        int32_t top[2];
        moe_topk(choice + (size_t)g * per, NULL, per, 2, top);
        gs[g] = choice[g * per + top[0]] + choice[g * per + top[1]];
    }
    int32_t chosen[LLMC_MAX_EXPERTS];
    moe_topk(gs, NULL, G, c->topk_group, chosen);
    for (int j = 0; j < c->topk_group; j++) gsel[chosen[j]] = true;
    for (int e = 0; e < E; e++) allowed[e] = gsel[e / per];
    moe_topk(choice, allowed, E, K, sel);
    float tsum = 0;
    for (int j = 0; j < K; j++) tsum += w[j] = score[sel[j]];
    const float rsf = c->routed_scaling_factor > 0 ? (float)c->routed_scaling_factor : 1.0f;
    for (int j = 0; j < K; j++) {
        if (c->norm_topk_prob) w[j] /= tsum + 1e-20f;
        w[j] *= rsf;
    }
}

void lm_moe_route(const llmc_config *c, const float *logit, const float *bias, float *prob, int32_t *sel, float *w) {
    if (c->moe_sigmoid) {
        moe_route_sigmoid(c, logit, bias, prob, sel, w);
        return;
    }
    /* softmax over the E logits, then its top k */
    const int E = c->num_experts, K = c->num_experts_per_tok;
    float mx = logit[0];
    for (int e = 1; e < E; e++) mx = logit[e] > mx ? logit[e] : mx;
    float sum = 0;
    for (int e = 0; e < E; e++) sum += prob[e] = expf(logit[e] - mx);
    for (int e = 0; e < E; e++) prob[e] /= sum;
    moe_topk(prob, NULL, E, K, sel);
    float tsum = 0;
    for (int j = 0; j < K; j++) tsum += w[j] = prob[sel[j]];
    if (c->norm_topk_prob)
        for (int j = 0; j < K; j++) w[j] /= tsum;
}

/* Prefill: for each expert any token chose, in expert order, its MLP over exactly those tokens
   (gathered into one matrix), each output row × the token's weight into acc. */
static void moe_grouped(llmc_model *m, const lm_step *s, const lm_moe *M, const float *x, int n, float *acc) {
    const llmc_config *c = &m->cfg;
    const int H = c->hidden_size, E = c->num_experts, K = c->num_experts_per_tok, W = c->moe_intermediate_size;
    int rows[LM_BATCH];
    float wts[LM_BATCH];
    for (int e = 0; e < E; e++) {
        int cnt = 0;
        for (int t = 0; t < n; t++)
            for (int j = 0; j < K; j++)
                if (m->moe_sel[(size_t)t * K + j] == e) {
                    rows[cnt] = t;
                    wts[cnt++] = m->moe_w[(size_t)t * K + j];
                    break;
                }
        if (!cnt) continue;
        for (int r = 0; r < cnt; r++) memcpy(m->moe_x + (size_t)r * H, x + (size_t)rows[r] * H, (size_t)H * sizeof *x);
        lm_mlp_run(m, s, &M->experts[e], W, m->moe_x, cnt, m->moe_y);
        for (int r = 0; r < cnt; r++) {
            float *a = acc + (size_t)rows[r] * H;
            const float *o = m->moe_y + (size_t)r * H;
            for (int i = 0; i < H; i++) a[i] += o[i] * wts[r];
        }
    }
}

/* Decode (one token): its k experts in expert order, two at a time sharing one pass over x for
   their gate and up matrices (the same numbers as separate calls, ops.h), then each down. */
static void moe_decode(llmc_model *m, const lm_moe *M, const float *x, llmc_act_mode act, float *acc) {
    const llmc_config *c = &m->cfg;
    const int H = c->hidden_size, K = c->num_experts_per_tok, W = c->moe_intermediate_size;
    int32_t e[LLMC_MAX_EXPERTS_PER_TOK];
    float w[LLMC_MAX_EXPERTS_PER_TOK];
    for (int j = 0; j < K; j++) { /* insertion sort by expert index */
        int i = j;
        for (; i > 0 && e[i - 1] > m->moe_sel[j]; i--) {
            e[i] = e[i - 1];
            w[i] = w[i - 1];
        }
        e[i] = m->moe_sel[j];
        w[i] = m->moe_w[j];
    }
    for (int j = 0; j < K; j += 2) {
        const int pair = j + 1 < K ? 2 : 1;
        const llmc_tensor *wt[4], *bs[4];
        float *o[4];
        for (int p = 0; p < pair; p++) {
            const lm_mlp *ex = &M->experts[e[j + p]];
            wt[2 * p] = ex->wg;
            wt[2 * p + 1] = ex->wu;
            bs[2 * p] = ex->bg;
            bs[2 * p + 1] = ex->bu;
            o[2 * p] = m->g + (size_t)p * W;
            o[2 * p + 1] = m->u + (size_t)p * W;
        }
        llmc_cpu_matmul_n(m->tp, 2 * pair, wt, bs, x, 1, o, act);
        for (int p = 0; p < pair; p++) {
            const lm_mlp *ex = &M->experts[e[j + p]];
            lm_mlp_act(c, m->g + (size_t)p * W, m->u + (size_t)p * W, (size_t)W);
            llmc_cpu_matmul_act(m->tp, ex->wd, ex->bd, m->g + (size_t)p * W, 1, m->moe_y, act);
            for (int i = 0; i < H; i++) acc[i] += m->moe_y[i] * w[j + p];
        }
    }
}

void lm_moe_run(llmc_model *m, const lm_step *s, const lm_layer *L, const float *x, int n, float *y) {
    const llmc_config *c = &m->cfg;
    const lm_moe *M = &L->moe;
    const int H = c->hidden_size, E = c->num_experts, K = c->num_experts_per_tok;
    const llmc_act_mode act = lm_act(m, s);
    /* routing: m->moe_r holds n × E logits, then each token's probabilities as they are taken */
    llmc_cpu_matmul_act(m->tp, M->router, NULL, x, n, m->moe_r, act);
    for (int t = 0; t < n; t++)
        lm_moe_route(c, m->moe_r + (size_t)t * E, M->score_bias, m->moe_r + (size_t)t * E, m->moe_sel + (size_t)t * K, m->moe_w + (size_t)t * K);
    float *acc = m->moe_acc;
    memset(acc, 0, (size_t)n * H * sizeof *acc);
    if (n == 1) moe_decode(m, M, x, act, acc);
    else moe_grouped(m, s, M, x, n, acc);
    if (M->shared.wg && !M->shared_gate) { /* DeepSeek-V3: + shared_experts(x) */
        lm_mlp_run(m, s, &M->shared, c->shared_expert_intermediate_size, x, n, m->moe_y);
        for (size_t i = 0; i < (size_t)n * H; i++) acc[i] += m->moe_y[i];
    } else if (M->shared.wg) { /* Qwen2-MoE: + sigmoid(x·w_gate) · shared_expert(x) */
        lm_mlp_run(m, s, &M->shared, c->shared_expert_intermediate_size, x, n, m->moe_y);
        llmc_cpu_matmul_act(m->tp, M->shared_gate, NULL, x, n, m->moe_r, act);
        for (int t = 0; t < n; t++) {
            float g = 1.0f / (1.0f + expf(-m->moe_r[t]));
            float *a = acc + (size_t)t * H;
            const float *o = m->moe_y + (size_t)t * H;
            for (int i = 0; i < H; i++) a[i] += g * o[i];
        }
    }
    memcpy(y, acc, (size_t)n * H * sizeof *y);
}
