/* One sequence's KV cache and token ids (see kv_cache.h): per-layer K and V arrays that
 * grow by doubling (at least 64 positions) up to the sequence's maximum. */
#include "model/kv_cache.h"
#include "base/error.h"
#include <stdlib.h>
#include <string.h>

#define KV_MIN_STEP 64

size_t llmc_kv_cache_pos_bytes(int n_layers, int kv_dim) { return (size_t)2 * (size_t)n_layers * (size_t)kv_dim * sizeof(float) + sizeof(int32_t); }

size_t llmc_kv_cache_bytes(const llmc_kv_cache *kv) { return kv ? (size_t)kv->cap * llmc_kv_cache_pos_bytes(kv->n_layers, kv->kv_dim) : 0; }

void llmc_kv_cache_free(llmc_kv_cache *kv) {
    if (!kv) return;
    for (int l = 0; kv->k && l < kv->n_layers; l++) free(kv->k[l]);
    for (int l = 0; kv->v && l < kv->n_layers; l++) free(kv->v[l]);
    free(kv->k);
    free(kv->v);
    free(kv->ids);
    free(kv);
}

llmc_status llmc_kv_cache_reserve(llmc_kv_cache *kv, int n, llmc_error *err) {
    if (n <= kv->cap) return LLMC_OK;
    if (n > kv->max)
        return llmc_err(err, LLMC_ERR_RANGE, "kv cache: %d positions asked for, the sequence may hold at most %d", n, kv->max);
    long long want = (long long)kv->cap * 2;
    if (want < n) want = n;
    if (want < KV_MIN_STEP) want = KV_MIN_STEP;
    if (want > kv->max) want = kv->max;
    int cap = (int)want;
    size_t row = (size_t)kv->kv_dim * sizeof(float);
    int32_t *ids = realloc(kv->ids, (size_t)cap * sizeof *ids);
    if (!ids) goto oom;
    kv->ids = ids;
    for (int l = 0; l < kv->n_layers; l++) {
        float *k = realloc(kv->k[l], (size_t)cap * row);
        if (!k) goto oom;
        kv->k[l] = k;
        float *v = realloc(kv->v[l], (size_t)cap * row);
        if (!v) goto oom;
        kv->v[l] = v;
    }
    kv->cap = cap; /* every layer has cap positions now */
    return LLMC_OK;
oom:
    return llmc_err(err, LLMC_ERR_NOMEM, "kv cache: out of memory growing to %d positions (%zu MiB)", cap,
                    (size_t)cap * llmc_kv_cache_pos_bytes(kv->n_layers, kv->kv_dim) >> 20);
}

llmc_status llmc_kv_cache_new(int n_layers, int kv_dim, int max_pos, int reserve, llmc_kv_cache **out, llmc_error *err) {
    *out = NULL;
    if (n_layers <= 0 || kv_dim <= 0 || max_pos <= 0 || reserve < 0 || reserve > max_pos)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "kv cache: %d layers × %d floats, %d positions (reserve %d) is not a valid shape", n_layers,
                        kv_dim, max_pos, reserve);
    llmc_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv || !(kv->k = calloc((size_t)n_layers, sizeof *kv->k)) || !(kv->v = calloc((size_t)n_layers, sizeof *kv->v))) {
        llmc_kv_cache_free(kv);
        return llmc_err(err, LLMC_ERR_NOMEM, "kv cache: out of memory");
    }
    kv->n_layers = n_layers;
    kv->kv_dim = kv_dim;
    kv->max = max_pos;
    if (reserve > 0) {
        /* exactly reserve positions: a preallocated cache does not double past its need */
        int keep = kv->max;
        kv->max = reserve;
        llmc_status st = llmc_kv_cache_reserve(kv, reserve, err);
        kv->max = keep;
        if (st) { llmc_kv_cache_free(kv); return st; }
    }
    *out = kv;
    return LLMC_OK;
}

void llmc_kv_cache_truncate(llmc_kv_cache *kv, int n) {
    if (kv && n >= 0 && n < kv->len) kv->len = n;
}

void llmc_kv_cache_read(const llmc_kv_cache *kv, int pos, int n, float *k, float *v) {
    size_t row = (size_t)kv->kv_dim * sizeof(float);
    for (int l = 0; l < kv->n_layers; l++) {
        memcpy(k + (size_t)l * (size_t)n * kv->kv_dim, kv->k[l] + (size_t)pos * kv->kv_dim, (size_t)n * row);
        memcpy(v + (size_t)l * (size_t)n * kv->kv_dim, kv->v[l] + (size_t)pos * kv->kv_dim, (size_t)n * row);
    }
}

llmc_status llmc_kv_cache_append(llmc_kv_cache *kv, int n, const int32_t *ids, const float *k, const float *v, llmc_error *err) {
    llmc_status st = llmc_kv_cache_reserve(kv, kv->len + n, err);
    if (st) return st;
    size_t row = (size_t)kv->kv_dim * sizeof(float);
    for (int l = 0; l < kv->n_layers; l++) {
        memcpy(kv->k[l] + (size_t)kv->len * kv->kv_dim, k + (size_t)l * (size_t)n * kv->kv_dim, (size_t)n * row);
        memcpy(kv->v[l] + (size_t)kv->len * kv->kv_dim, v + (size_t)l * (size_t)n * kv->kv_dim, (size_t)n * row);
    }
    memcpy(kv->ids + kv->len, ids, (size_t)n * sizeof *ids);
    kv->len += n;
    kv->rope_mode = -1; /* rotated by whoever computed them */
    return LLMC_OK;
}

llmc_status llmc_kv_cache_copy(llmc_kv_cache *dst, const llmc_kv_cache *src, int n, llmc_error *err) {
    if (dst->n_layers != src->n_layers || dst->kv_dim != src->kv_dim || n < 0 || n > src->len)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "kv cache copy: shapes differ or %d positions is more than the source's %d", n, src->len);
    llmc_status st = llmc_kv_cache_reserve(dst, n, err);
    if (st) return st;
    size_t row = (size_t)src->kv_dim * sizeof(float);
    for (int l = 0; l < src->n_layers; l++) {
        memcpy(dst->k[l], src->k[l], (size_t)n * row);
        memcpy(dst->v[l], src->v[l], (size_t)n * row);
    }
    memcpy(dst->ids, src->ids, (size_t)n * sizeof *src->ids);
    dst->len = n;
    dst->rope_mode = src->rope_mode;
    return LLMC_OK;
}
