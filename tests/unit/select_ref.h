/* The token-choice contract of src/backend/select.h written out plainly on the host: what
 * a device must return for logits x, the ids seen so far and a request. test_sampler
 * checks that the sampler finishing from it draws what its full pass draws; test_cuda
 * checks the GPU kernels against it on a GPU. */
#ifndef LLMC_TEST_SELECT_REF_H
#define LLMC_TEST_SELECT_REF_H
#include "backend/select.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int select_ref_cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* ids/vals hold LLMC_SELECT_MAX_CAND entries; *n their count. Returns the kind; *id for CHOICE_ID. */
static llmc_choice_kind select_ref(const float *x, int V, const int32_t *h, int nh, const llmc_select_req *r, int32_t *id, int32_t *ids,
                                   float *vals, int *n) {
    float *y = malloc((size_t)V * sizeof *y), *tmp = malloc((size_t)V * sizeof *tmp);
    memcpy(y, x, (size_t)V * sizeof *y);
    bool div = r->mode == LLMC_SELECT_TOPK && r->temperature != 1.0f;
    if (div)
        for (int i = 0; i < V; i++) y[i] = x[i] / r->temperature;
    if (r->penalty != 1.0f)
        for (int j = 0; j < nh; j++) {
            if (h[j] < 0 || h[j] >= V) continue;
            float v = x[h[j]]; /* from the raw logit: repeats give the same value */
            v = v < 0 ? v * r->penalty : v / r->penalty;
            y[h[j]] = div ? v / r->temperature : v;
        }
    llmc_choice_kind kind = LLMC_CHOICE_LOGITS;
    *n = 0;
    *id = -1;
    if (r->mode == LLMC_SELECT_GREEDY) {
        for (int i = 0; i < V; i++)
            if (!isnan(y[i]) && (*id < 0 || y[i] > y[*id])) *id = i;
        kind = LLMC_CHOICE_ID;
    } else {
        int cnt = 0;
        for (int i = 0; i < V; i++)
            if (!isnan(y[i])) tmp[cnt++] = y[i];
        if (r->top_k > 0 && r->top_k <= cnt) {
            qsort(tmp, (size_t)cnt, sizeof *tmp, select_ref_cmp_desc);
            float thr = tmp[r->top_k - 1];
            int m = 0;
            for (int i = 0; i < V; i++)
                if (!isnan(y[i]) && y[i] >= thr) {
                    if (m < LLMC_SELECT_MAX_CAND) { ids[m] = i; vals[m] = y[i]; }
                    m++;
                }
            if (m <= LLMC_SELECT_MAX_CAND) { kind = LLMC_CHOICE_CANDIDATES; *n = m; }
        }
    }
    free(y);
    free(tmp);
    return kind;
}
#endif
