/* Tensor views shared by every weight format (safetensors, GGUF):
 * a name, a dtype, a shape and a pointer into mmap'd (or converted) memory.
 * Shapes are listed outermost first, as in PyTorch: a Linear weight is
 * [out_features, in_features] and rows are contiguous. */
#ifndef LLMC_FORMATS_TENSOR_H
#define LLMC_FORMATS_TENSOR_H
#include "llmc.h"
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LLMC_DT_F32 = 0,
    LLMC_DT_F16,
    LLMC_DT_BF16,
    /* llama.cpp block formats: a row of n elements is n/block_size blocks. */
    LLMC_DT_Q8_0,  /* 32 elems: f16 d, int8 q[32] */
    LLMC_DT_Q4_0,  /* 32 elems: f16 d, 16 bytes of nibbles */
    LLMC_DT_Q4_1,  /* 32 elems: f16 d, f16 m, 16 bytes of nibbles */
    LLMC_DT_Q4_K,  /* 256 elems super-block */
    LLMC_DT_Q5_K,
    LLMC_DT_Q6_K,
    LLMC_DT_COUNT
} llmc_dtype;

const char *llmc_dtype_name(llmc_dtype t);
/* Elements per block (1 for plain types) and bytes per block. */
int llmc_dtype_block_elems(llmc_dtype t);
size_t llmc_dtype_block_bytes(llmc_dtype t);
/* Bytes of a row of n elements (n must be a multiple of the block size). */
size_t llmc_dtype_row_bytes(llmc_dtype t, int64_t n);

#define LLMC_MAX_DIMS 4
typedef struct {
    char *name;                    /* owned */
    llmc_dtype dtype;
    int ndim;
    int64_t shape[LLMC_MAX_DIMS];  /* outermost first */
    const void *data;              /* view (mmap) or owned converted copy, see owned */
    size_t nbytes;
    void *owned;                   /* non-NULL when data is a heap copy to free */
    bool mapped;                   /* data is a view into a read-only file mapping (MAP_PRIVATE,
                                      never written): its pages can be dropped once converted */
} llmc_tensor;

int64_t llmc_tensor_numel(const llmc_tensor *t);

/* A named collection of tensors with O(1) lookup. Backing files (mmaps) are
 * attached so they live as long as the views. */
typedef struct llmc_tensor_set llmc_tensor_set;
llmc_tensor_set *llmc_tensor_set_new(void);
void llmc_tensor_set_free(llmc_tensor_set *s);
/* Adds a tensor (takes ownership of t->name and t->owned). Fails on a duplicate name. */
llmc_status llmc_tensor_set_add(llmc_tensor_set *s, llmc_tensor *t, llmc_error *err);
const llmc_tensor *llmc_tensor_set_find(const llmc_tensor_set *s, const char *name);
llmc_tensor *llmc_tensor_set_find_mut(llmc_tensor_set *s, const char *name);
size_t llmc_tensor_set_count(const llmc_tensor_set *s);
const llmc_tensor *llmc_tensor_set_at(const llmc_tensor_set *s, size_t i);
/* Keeps an opaque resource alive with the set (e.g. an llmc_mmap*); freed with fn. */
llmc_status llmc_tensor_set_attach(llmc_tensor_set *s, void *res, void (*fn)(void *), llmc_error *err);

/* Half-precision conversions (round-to-nearest-even for the narrowing ones). */
float llmc_f16_to_f32(uint16_t h);
uint16_t llmc_f32_to_f16(float f);
float llmc_bf16_to_f32(uint16_t b);
uint16_t llmc_f32_to_bf16(float f);

#endif
