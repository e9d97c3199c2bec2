/* Sequence state: the KV cache of one conversation plus the token ids it holds, apart from
 * the (shared, read-only) weights. Created and freed by the caller, one per sequence; the
 * forward pass (llmc_model_forward_batch) appends to it. Positions are allocated as they are
 * needed, in steps, up to the maximum given at creation, so memory follows the tokens held.
 * Not thread-safe: one user at a time (the engine's scheduler thread, or one pipeline). */
#ifndef LLMC_MODEL_KV_CACHE_H
#define LLMC_MODEL_KV_CACHE_H
#include "llmc.h"
#include <stddef.h>
#include <stdint.h>

/* Fields are read by the forward pass (model/forward.c); everyone else uses the functions. */
typedef struct llmc_kv_cache {
    int n_layers, kv_dim;
    int len;        /* positions filled: ids[0..len) and their K/V rows */
    int cap;        /* positions allocated (per layer) */
    int max;        /* the most positions it may grow to */
    float **k, **v; /* [layer] → cap × kv_dim floats */
    int32_t *ids;   /* cap */
    int rope_mode;  /* longrope models: which factors rotated the cached keys (0 short, 1 long, -1 unknown:
                       appended from elsewhere); the forward recomputes the cache when a call needs the other */
} llmc_kv_cache;

/* A cache for a model with n_layers layers of kv_dim floats per position (K and V each),
 * growing up to max_pos positions; reserve positions are allocated now (0: none yet).
 * Out of memory → LLMC_ERR_NOMEM naming the bytes. */
llmc_status llmc_kv_cache_new(int n_layers, int kv_dim, int max_pos, int reserve, llmc_kv_cache **out, llmc_error *err);
void llmc_kv_cache_free(llmc_kv_cache *kv);
/* Makes room for n positions (n <= max, else LLMC_ERR_RANGE naming both). */
llmc_status llmc_kv_cache_reserve(llmc_kv_cache *kv, int n, llmc_error *err);
/* Forgets positions from n on (n >= len: no-op). */
void llmc_kv_cache_truncate(llmc_kv_cache *kv, int n);
/* Bytes a cache holds for cap positions; per position of a model. */
size_t llmc_kv_cache_bytes(const llmc_kv_cache *kv);
size_t llmc_kv_cache_pos_bytes(int n_layers, int kv_dim);
/* Copies positions [pos, pos+n) out as k and v, each [layer][n][kv_dim] (pos+n <= len). */
void llmc_kv_cache_read(const llmc_kv_cache *kv, int pos, int n, float *k, float *v);
/* Appends n positions at len (ids, and k, v as llmc_kv_cache_read writes them). */
llmc_status llmc_kv_cache_append(llmc_kv_cache *kv, int n, const int32_t *ids, const float *k, const float *v, llmc_error *err);
/* dst holds the first n positions of src (for parallel samples of one prompt). Shapes must match. */
llmc_status llmc_kv_cache_copy(llmc_kv_cache *dst, const llmc_kv_cache *src, int n, llmc_error *err);

#endif
