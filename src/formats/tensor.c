/* Tensor set (open-addressing hash by name) and dtype facts. */
#include "formats/tensor.h"
#include "base/error.h"
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; int blk; size_t bytes; } g_dt[LLMC_DT_COUNT] = {
    [LLMC_DT_F32] = {"F32", 1, 4},
    [LLMC_DT_F16] = {"F16", 1, 2},
    [LLMC_DT_BF16] = {"BF16", 1, 2},
    [LLMC_DT_Q8_0] = {"Q8_0", 32, 34},
    [LLMC_DT_Q4_0] = {"Q4_0", 32, 18},
    [LLMC_DT_Q4_1] = {"Q4_1", 32, 20},
    [LLMC_DT_Q4_K] = {"Q4_K", 256, 144},
    [LLMC_DT_Q5_K] = {"Q5_K", 256, 176},
    [LLMC_DT_Q6_K] = {"Q6_K", 256, 210},
};

const char *llmc_dtype_name(llmc_dtype t) { return (unsigned)t < LLMC_DT_COUNT ? g_dt[t].name : "?"; }
int llmc_dtype_block_elems(llmc_dtype t) { return (unsigned)t < LLMC_DT_COUNT ? g_dt[t].blk : 0; }
size_t llmc_dtype_block_bytes(llmc_dtype t) { return (unsigned)t < LLMC_DT_COUNT ? g_dt[t].bytes : 0; }
size_t llmc_dtype_row_bytes(llmc_dtype t, int64_t n) {
    int b = llmc_dtype_block_elems(t);
    if (b <= 0 || n < 0) return 0;
    return (size_t)(n / b) * llmc_dtype_block_bytes(t);
}

int64_t llmc_tensor_numel(const llmc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

typedef struct { void *res; void (*fn)(void *); } attached;

struct llmc_tensor_set {
    llmc_tensor *items;
    size_t n, cap;
    size_t *slots; /* index+1 into items; 0 = empty */
    size_t nslots;
    attached *att;
    size_t natt, capatt;
};

static size_t hash_str(const char *s) {
    size_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

llmc_tensor_set *llmc_tensor_set_new(void) { return calloc(1, sizeof(llmc_tensor_set)); }

void llmc_tensor_set_free(llmc_tensor_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].name);
        free(s->items[i].owned);
    }
    for (size_t i = s->natt; i-- > 0;) s->att[i].fn(s->att[i].res);
    free(s->att);
    free(s->items);
    free(s->slots);
    free(s);
}

static bool rehash(llmc_tensor_set *s, size_t nslots) {
    size_t *sl = calloc(nslots, sizeof *sl);
    if (!sl) return false;
    for (size_t i = 0; i < s->n; i++) {
        size_t h = hash_str(s->items[i].name) & (nslots - 1);
        while (sl[h]) h = (h + 1) & (nslots - 1);
        sl[h] = i + 1;
    }
    free(s->slots);
    s->slots = sl;
    s->nslots = nslots;
    return true;
}

static size_t find_idx(const llmc_tensor_set *s, const char *name) {
    if (!s->nslots) return 0;
    size_t h = hash_str(name) & (s->nslots - 1);
    while (s->slots[h]) {
        if (strcmp(s->items[s->slots[h] - 1].name, name) == 0) return s->slots[h];
        h = (h + 1) & (s->nslots - 1);
    }
    return 0;
}

llmc_status llmc_tensor_set_add(llmc_tensor_set *s, llmc_tensor *t, llmc_error *err) {
    if (find_idx(s, t->name)) return llmc_err(err, LLMC_ERR_FORMAT, "duplicate tensor name '%s'", t->name);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        llmc_tensor *p = realloc(s->items, cap * sizeof *p);
        if (!p) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory adding tensor '%s'", t->name);
        s->items = p;
        s->cap = cap;
    }
    if ((s->n + 1) * 2 > s->nslots && !rehash(s, s->nslots ? s->nslots * 2 : 128))
        return llmc_err(err, LLMC_ERR_NOMEM, "out of memory adding tensor '%s'", t->name);
    s->items[s->n] = *t;
    size_t h = hash_str(t->name) & (s->nslots - 1);
    while (s->slots[h]) h = (h + 1) & (s->nslots - 1);
    s->slots[h] = ++s->n;
    return LLMC_OK;
}

const llmc_tensor *llmc_tensor_set_find(const llmc_tensor_set *s, const char *name) {
    size_t i = find_idx(s, name);
    return i ? &s->items[i - 1] : NULL;
}

llmc_tensor *llmc_tensor_set_find_mut(llmc_tensor_set *s, const char *name) {
    size_t i = find_idx(s, name);
    return i ? &s->items[i - 1] : NULL;
}

size_t llmc_tensor_set_count(const llmc_tensor_set *s) { return s->n; }
const llmc_tensor *llmc_tensor_set_at(const llmc_tensor_set *s, size_t i) { return i < s->n ? &s->items[i] : NULL; }

llmc_status llmc_tensor_set_attach(llmc_tensor_set *s, void *res, void (*fn)(void *), llmc_error *err) {
    if (s->natt == s->capatt) {
        size_t cap = s->capatt ? s->capatt * 2 : 8;
        attached *p = realloc(s->att, cap * sizeof *p);
        if (!p) { fn(res); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
        s->att = p;
        s->capatt = cap;
    }
    s->att[s->natt].res = res;
    s->att[s->natt].fn = fn;
    s->natt++;
    return LLMC_OK;
}

float llmc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalize */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 0x1F) bits = sign | 0x7F800000 | (man << 13);
    else bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t llmc_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFF;
    if (absx >= 0x7F800000) return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 : 0));
    if (absx >= 0x477FF000) return (uint16_t)(sign | 0x7C00); /* rounds to inf */
    if (absx < 0x38800000) { /* subnormal or zero in f16 */
        if (absx < 0x33000000) return (uint16_t)sign;
        float scaled = f < 0 ? -f : f;
        scaled *= 16777216.0f; /* 2^24: units of the f16 subnormal step (exact in f32) */
        uint32_t q = (uint32_t)scaled;
        float rem = scaled - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t e = (absx >> 23) - 112;
    uint32_t man = absx & 0x7FFFFF;
    uint32_t h = (e << 10) | (man >> 13);
    uint32_t rest = man & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float llmc_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t llmc_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7FFF + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}
