/* Prefix cache (see prefix_cache.h): a chained hash table of blocks keyed by the FNV-1a
 * hash of every token up to the block's end, each block verified by its own tokens and its
 * parent's key, on one LRU list. Lookups and stores touch a path deepest block first, so a
 * prefix's early blocks are the last of it to be evicted. */
#include "model/prefix_cache.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PC_BUCKETS 4096
#define PC_MAX_PATH 4096 /* blocks along one prefix considered (bounds every loop) */

typedef struct pc_block {
    uint64_t key, parent;      /* hash of tokens [0, end), of [0, end - block) */
    int depth;                 /* block index: covers tokens [depth·B, (depth+1)·B) */
    int32_t *ids;              /* B tokens */
    float *k, *v;              /* [layer][B][kv_dim] */
    struct pc_block *hnext;    /* bucket chain */
    struct pc_block *prev, *next; /* LRU: head = most recent */
} pc_block;

struct llmc_prefix_cache {
    pthread_mutex_t mu;
    int n_layers, kv_dim, B;
    size_t budget, bytes, block_bytes;
    int blocks;
    long long lookups, hit_tokens, stored, evicted;
    pc_block *bucket[PC_BUCKETS];
    pc_block *head, *tail;
};

static uint64_t pc_hash(uint64_t h, const int32_t *ids, int n) {
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xff;
            h *= 0x100000001b3ULL;
        }
    }
    return h;
}
#define PC_SEED 0xcbf29ce484222325ULL

llmc_prefix_cache *llmc_prefix_cache_new(int n_layers, int kv_dim, int block, size_t budget) {
    if (n_layers <= 0 || kv_dim <= 0 || block < LLMC_PREFIX_BLOCK_MIN || block > LLMC_PREFIX_BLOCK_MAX || budget == 0) return NULL;
    llmc_prefix_cache *pc = calloc(1, sizeof *pc);
    if (!pc) return NULL;
    pthread_mutex_init(&pc->mu, NULL);
    pc->n_layers = n_layers;
    pc->kv_dim = kv_dim;
    pc->B = block;
    pc->budget = budget;
    pc->block_bytes = (size_t)block * (2 * (size_t)n_layers * (size_t)kv_dim * sizeof(float) + sizeof(int32_t)) + sizeof(pc_block);
    return pc;
}

static void pc_block_free(pc_block *b) {
    if (!b) return;
    free(b->ids);
    free(b->k);
    free(b->v);
    free(b);
}

void llmc_prefix_cache_free(llmc_prefix_cache *pc) {
    if (!pc) return;
    for (pc_block *b = pc->head, *n; b; b = n) {
        n = b->next;
        pc_block_free(b);
    }
    pthread_mutex_destroy(&pc->mu);
    free(pc);
}

static void pc_lru_unlink(llmc_prefix_cache *pc, pc_block *b) {
    if (b->prev) b->prev->next = b->next;
    else pc->head = b->next;
    if (b->next) b->next->prev = b->prev;
    else pc->tail = b->prev;
    b->prev = b->next = NULL;
}
static void pc_lru_front(llmc_prefix_cache *pc, pc_block *b) {
    if (pc->head == b) return;
    if (b->prev || b->next || pc->tail == b) pc_lru_unlink(pc, b);
    b->next = pc->head;
    if (pc->head) pc->head->prev = b;
    pc->head = b;
    if (!pc->tail) pc->tail = b;
}

static pc_block *pc_find(llmc_prefix_cache *pc, uint64_t key, uint64_t parent, int depth, const int32_t *ids) {
    for (pc_block *b = pc->bucket[key % PC_BUCKETS]; b; b = b->hnext)
        if (b->key == key && b->parent == parent && b->depth == depth && memcmp(b->ids, ids, (size_t)pc->B * sizeof *ids) == 0) return b;
    return NULL;
}

static void pc_evict_one(llmc_prefix_cache *pc) {
    pc_block *b = pc->tail;
    if (!b) return;
    pc_lru_unlink(pc, b);
    pc_block **pp = &pc->bucket[b->key % PC_BUCKETS];
    while (*pp && *pp != b) pp = &(*pp)->hnext;
    if (*pp) *pp = b->hnext;
    pc->bytes -= pc->block_bytes;
    pc->blocks--;
    pc->evicted++;
    pc_block_free(b);
}

/* Touches path[0..n) deepest first, so the shallowest ends most recent. */
static void pc_touch_path(llmc_prefix_cache *pc, pc_block **path, int n) {
    for (int i = n - 1; i >= 0; i--) pc_lru_front(pc, path[i]);
}

int llmc_prefix_cache_load(llmc_prefix_cache *pc, const int32_t *ids, int n, int max_tokens, llmc_kv_cache *kv) {
    if (!pc || !ids || !kv || kv->len != 0 || kv->n_layers != pc->n_layers || kv->kv_dim != pc->kv_dim) return 0;
    if (max_tokens > n) max_tokens = n;
    pthread_mutex_lock(&pc->mu);
    pc->lookups++;
    static __thread pc_block *path[PC_MAX_PATH];
    int depth = 0;
    uint64_t key = PC_SEED;
    while (depth < PC_MAX_PATH && (depth + 1) * pc->B <= max_tokens) {
        const int32_t *blk = ids + (size_t)depth * pc->B;
        uint64_t k2 = pc_hash(key, blk, pc->B);
        pc_block *b = pc_find(pc, k2, key, depth, blk);
        if (!b) break;
        path[depth++] = b;
        key = k2;
    }
    int got = 0;
    if (depth > 0 && llmc_kv_cache_reserve(kv, depth * pc->B, NULL) == LLMC_OK) {
        for (int i = 0; i < depth; i++)
            if (llmc_kv_cache_append(kv, pc->B, path[i]->ids, path[i]->k, path[i]->v, NULL) != LLMC_OK) break;
        got = kv->len;
        pc_touch_path(pc, path, depth);
        pc->hit_tokens += got;
    }
    pthread_mutex_unlock(&pc->mu);
    return got;
}

void llmc_prefix_cache_store(llmc_prefix_cache *pc, const llmc_kv_cache *kv) {
    if (!pc || !kv || kv->n_layers != pc->n_layers || kv->kv_dim != pc->kv_dim || pc->block_bytes > pc->budget) return;
    pthread_mutex_lock(&pc->mu);
    static __thread pc_block *path[PC_MAX_PATH];
    int depth = 0;
    uint64_t key = PC_SEED;
    const size_t span = (size_t)pc->n_layers * (size_t)pc->B * (size_t)pc->kv_dim;
    while (depth < PC_MAX_PATH && (depth + 1) * pc->B <= kv->len) {
        const int32_t *blk = kv->ids + (size_t)depth * pc->B;
        uint64_t k2 = pc_hash(key, blk, pc->B);
        pc_block *b = pc_find(pc, k2, key, depth, blk);
        if (!b) {
            /* room first: never evict this path's own blocks (they were touched below) */
            while (pc->bytes + pc->block_bytes > pc->budget && pc->tail) {
                bool own = false;
                for (int i = 0; i < depth && !own; i++) own = path[i] == pc->tail;
                if (own) break;
                pc_evict_one(pc);
            }
            if (pc->bytes + pc->block_bytes > pc->budget) break;
            b = calloc(1, sizeof *b);
            if (b) {
                b->ids = malloc((size_t)pc->B * sizeof *b->ids);
                b->k = malloc(span * sizeof(float));
                b->v = malloc(span * sizeof(float));
            }
            if (!b || !b->ids || !b->k || !b->v) { pc_block_free(b); break; }
            b->key = k2;
            b->parent = key;
            b->depth = depth;
            memcpy(b->ids, blk, (size_t)pc->B * sizeof *blk);
            llmc_kv_cache_read(kv, depth * pc->B, pc->B, b->k, b->v);
            b->hnext = pc->bucket[k2 % PC_BUCKETS];
            pc->bucket[k2 % PC_BUCKETS] = b;
            pc->bytes += pc->block_bytes;
            pc->blocks++;
            pc->stored++;
        }
        pc_lru_front(pc, b);
        path[depth++] = b;
        key = k2;
    }
    pc_touch_path(pc, path, depth);
    pthread_mutex_unlock(&pc->mu);
}

void llmc_prefix_cache_get_stats(llmc_prefix_cache *pc, llmc_prefix_cache_stats *out) {
    memset(out, 0, sizeof *out);
    if (!pc) return;
    pthread_mutex_lock(&pc->mu);
    out->bytes = pc->bytes;
    out->budget = pc->budget;
    out->blocks = pc->blocks;
    out->block_tokens = pc->B;
    out->lookups = pc->lookups;
    out->hit_tokens = pc->hit_tokens;
    out->stored_blocks = pc->stored;
    out->evicted_blocks = pc->evicted;
    pthread_mutex_unlock(&pc->mu);
}
