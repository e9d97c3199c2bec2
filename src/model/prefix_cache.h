/* Prefix cache: KV blocks of a fixed number of tokens, keyed by a hash of the whole token
 * prefix that ends with the block (so a block is only ever reused after the same prefix),
 * shared read-only between sequences, least-recently-used blocks evicted under a byte budget.
 * A sequence that begins with cached blocks copies their K/V in instead of recomputing them
 * (the copy costs a memcpy per block; the KV it yields is bit for bit what the batch-
 * invariant forward computes). Thread-safe (one internal lock). */
#ifndef LLMC_MODEL_PREFIX_CACHE_H
#define LLMC_MODEL_PREFIX_CACHE_H
#include "model/kv_cache.h"
#include <stdbool.h>

#define LLMC_PREFIX_BLOCK_MIN 16
#define LLMC_PREFIX_BLOCK_MAX 64
#define LLMC_PREFIX_BLOCK_DEFAULT 32

typedef struct llmc_prefix_cache llmc_prefix_cache;

typedef struct {
    size_t bytes, budget;      /* held / allowed */
    int blocks, block_tokens;
    long long lookups, hit_tokens, stored_blocks, evicted_blocks;
} llmc_prefix_cache_stats;

/* For sequences of n_layers × kv_dim; block tokens in [16, 64]; budget in bytes (> 0).
   NULL when out of memory or the arguments are out of range. */
llmc_prefix_cache *llmc_prefix_cache_new(int n_layers, int kv_dim, int block, size_t budget);
void llmc_prefix_cache_free(llmc_prefix_cache *pc);
/* kv must be empty. Copies the longest run of cached whole blocks that begins ids[0..n)
   and ends at or before max_tokens into kv; returns the tokens reused (0 on a miss, or
   when kv cannot grow: the sequence then prefills them itself). */
int llmc_prefix_cache_load(llmc_prefix_cache *pc, const int32_t *ids, int n, int max_tokens, llmc_kv_cache *kv);
/* Offers kv's whole blocks (positions [0, len)): the ones not cached yet are copied in,
   evicting the least recently used blocks to stay within the budget. */
void llmc_prefix_cache_store(llmc_prefix_cache *pc, const llmc_kv_cache *kv);
void llmc_prefix_cache_get_stats(llmc_prefix_cache *pc, llmc_prefix_cache_stats *out);

#endif
