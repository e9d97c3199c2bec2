/* GGUF reader: header, metadata and tensor table parsed from an untrusted mmap,
 * the llama model description, and tensors renamed to Hugging Face names.
 * Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv, then
 * n_kv × (string key, u32 type, value), n_tensors × (string name, u32 n_dims,
 * u64 ne[n_dims], u32 ggml type, u64 offset), padding to general.alignment, data. */
#include "formats/gguf.h"
#include "formats/arch.h"
#include "base/error.h"
#include "base/file.h"
#include "base/log.h"
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fixed bounds on top of "must fit in the file": they keep hostile counts from
 * turning into huge allocations or long loops before the file size catches them. */
#define GGUF_MAX_KV (1u << 16)
#define GGUF_MAX_TENSORS (1u << 20)
#define GGUF_MAX_KEY_LEN (1u << 16)
#define GGUF_MAX_NAME_LEN 256
#define GGUF_MAX_ARRAY (1u << 28)
#define GGUF_MAX_DEPTH 4 /* arrays of arrays are legal; nobody needs deep ones */
#define GGUF_MAX_ALIGN (1u << 20)
#define GGUF_DEFAULT_ALIGN 32

enum {
    GT_U8 = 0, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STR, GT_ARR, GT_U64, GT_I64, GT_F64,
    GT_COUNT
};
static const char *const g_vt_name[GT_COUNT] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                                "bool", "string", "array", "uint64", "int64", "float64"};
static const size_t g_vt_size[GT_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* ggml tensor types: name, block elements, block bytes, llmc dtype (-1: none). */
static const struct { const char *name; int blk; int bytes; int dt; } g_ggml[] = {
    [0] = {"F32", 1, 4, LLMC_DT_F32},        [1] = {"F16", 1, 2, LLMC_DT_F16},
    [2] = {"Q4_0", 32, 18, LLMC_DT_Q4_0},    [3] = {"Q4_1", 32, 20, LLMC_DT_Q4_1},
    [6] = {"Q5_0", 32, 22, -1},              [7] = {"Q5_1", 32, 24, -1},
    [8] = {"Q8_0", 32, 34, LLMC_DT_Q8_0},    [9] = {"Q8_1", 32, 40, -1},
    [10] = {"Q2_K", 256, 84, -1},            [11] = {"Q3_K", 256, 110, -1},
    [12] = {"Q4_K", 256, 144, LLMC_DT_Q4_K}, [13] = {"Q5_K", 256, 176, LLMC_DT_Q5_K},
    [14] = {"Q6_K", 256, 210, LLMC_DT_Q6_K}, [15] = {"Q8_K", 256, 292, -1},
    [16] = {"IQ2_XXS", 256, 66, -1},         [17] = {"IQ2_XS", 256, 74, -1},
    [18] = {"IQ3_XXS", 256, 98, -1},         [19] = {"IQ1_S", 256, 50, -1},
    [20] = {"IQ4_NL", 32, 18, -1},           [21] = {"IQ3_S", 256, 110, -1},
    [22] = {"IQ2_S", 256, 82, -1},           [23] = {"IQ4_XS", 256, 136, -1},
    [24] = {"I8", 1, 1, -1},                 [25] = {"I16", 1, 2, -1},
    [26] = {"I32", 1, 4, -1},                [27] = {"I64", 1, 8, -1},
    [28] = {"F64", 1, 8, -1},                [29] = {"IQ1_M", 256, 56, -1},
    [30] = {"BF16", 1, 2, LLMC_DT_BF16},     [34] = {"TQ1_0", 256, 54, -1},
    [35] = {"TQ2_0", 256, 66, -1},           [39] = {"MXFP4", 32, 17, -1},
    [40] = {"NVFP4", 64, 36, -1},            [41] = {"Q1_0", 128, 18, -1},
};
#define GGML_NTYPES (sizeof g_ggml / sizeof g_ggml[0])

typedef struct {
    atomic_int refs;
    llmc_mmap map;
} gguf_file;

typedef struct {
    char *key;
    uint32_t type;      /* GT_* */
    uint32_t arr_type;  /* element type when type == GT_ARR */
    uint64_t n;         /* array length */
    union { uint64_t u; int64_t i; double f; bool b; } v;
    bool is_signed;     /* integer scalar read as signed */
    char *str;          /* GT_STR: NUL-terminated copy */
    size_t str_len;
    /* decoded arrays (NULL when not convertible) */
    char **strs;        /* string array: pointers into strs_buf */
    size_t *strs_len;
    char *strs_buf;
    float *f32s;
    int32_t *i32s;
} gguf_kv;

typedef struct {
    char *name;
    uint32_t type;
    int n_dims;
    int64_t ne[LLMC_MAX_DIMS];
    uint64_t rel_offset;  /* from the data section start */
    uint64_t nbytes;      /* 0 for unknown types */
} gguf_tinfo;

struct llmc_gguf {
    gguf_file *file;
    uint32_t version;
    gguf_kv *kv;
    size_t n_kv;
    size_t *kv_sorted;      /* indices sorted by key */
    gguf_tinfo *ti;
    size_t n_ti;
    size_t *ti_sorted;
    uint64_t alignment;
    uint64_t data_start;
    char type_buf[32];
};

static void file_unref(void *p) {
    gguf_file *f = p;
    if (!f) return;
    if (atomic_fetch_sub(&f->refs, 1) == 1) {
        llmc_mmap_close(&f->map);
        free(f);
    }
}

static const char *ggml_type_name(uint32_t t, char *buf, size_t n) {
    if (t < GGML_NTYPES && g_ggml[t].name) return g_ggml[t].name;
    snprintf(buf, n, "type %u", t);
    return buf;
}

/* ---------- bounded cursor ---------- */

typedef struct {
    const uint8_t *p;
    uint64_t pos, size;
    const char *path;
    llmc_error *err;
} cur;

static bool need(cur *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos) {
        llmc_err(c->err, LLMC_ERR_FORMAT, "%s: truncated GGUF: %s at byte %llu needs %llu bytes, file has %llu",
                 c->path, what, (unsigned long long)c->pos, (unsigned long long)n, (unsigned long long)c->size);
        return false;
    }
    return true;
}

static bool rd_u32(cur *c, uint32_t *v, const char *what) {
    if (!need(c, 4, what)) return false;
    memcpy(v, c->p + c->pos, 4);
    c->pos += 4;
    return true;
}

static bool rd_u64(cur *c, uint64_t *v, const char *what) {
    if (!need(c, 8, what)) return false;
    memcpy(v, c->p + c->pos, 8);
    c->pos += 8;
    return true;
}

/* A GGUF string: u64 length then bytes. Returns a view (not NUL-terminated). */
static bool rd_str(cur *c, const char **s, uint64_t *len, uint64_t max, const char *what) {
    uint64_t pos0 = c->pos;
    if (!rd_u64(c, len, what)) return false;
    if (*len > max) {
        llmc_err(c->err, LLMC_ERR_FORMAT, "%s: %s at byte %llu has length %llu, more than the %llu allowed", c->path,
                 what, (unsigned long long)pos0, (unsigned long long)*len, (unsigned long long)max);
        return false;
    }
    if (*len > c->size - c->pos) {
        llmc_err(c->err, LLMC_ERR_FORMAT, "%s: %s at byte %llu: length %llu runs past the end of the file (%llu bytes)",
                 c->path, what, (unsigned long long)pos0, (unsigned long long)*len, (unsigned long long)c->size);
        return false;
    }
    *s = (const char *)c->p + c->pos;
    c->pos += *len;
    return true;
}

/* Skips one value of type t (validating it), for nested arrays we keep no data of. */
static bool skip_value(cur *c, uint32_t t, int depth, const char *key) {
    if (t >= GT_COUNT) {
        llmc_err(c->err, LLMC_ERR_FORMAT, "%s: key '%s': unknown value type %u at byte %llu", c->path, key, t,
                 (unsigned long long)c->pos);
        return false;
    }
    if (t == GT_STR) {
        const char *s;
        uint64_t n;
        return rd_str(c, &s, &n, UINT64_MAX, "string value");
    }
    if (t == GT_ARR) {
        if (depth >= GGUF_MAX_DEPTH) {
            llmc_err(c->err, LLMC_ERR_FORMAT, "%s: key '%s': arrays nested deeper than %d", c->path, key, GGUF_MAX_DEPTH);
            return false;
        }
        uint32_t et;
        uint64_t n;
        if (!rd_u32(c, &et, "array type") || !rd_u64(c, &n, "array length")) return false;
        if (et >= GT_COUNT) {
            llmc_err(c->err, LLMC_ERR_FORMAT, "%s: key '%s': unknown array element type %u", c->path, key, et);
            return false;
        }
        if (n > GGUF_MAX_ARRAY || n > c->size - c->pos) {
            llmc_err(c->err, LLMC_ERR_FORMAT, "%s: key '%s': array length %llu is more than the file can hold",
                     c->path, key, (unsigned long long)n);
            return false;
        }
        if (g_vt_size[et]) return need(c, n * g_vt_size[et], "array data") && (c->pos += n * g_vt_size[et], true);
        for (uint64_t i = 0; i < n; i++)
            if (!skip_value(c, et, depth + 1, key)) return false;
        return true;
    }
    if (!need(c, g_vt_size[t], "value")) return false;
    c->pos += g_vt_size[t];
    return true;
}

static uint64_t rd_uint_le(const uint8_t *p, size_t sz) {
    uint64_t v = 0;
    memcpy(&v, p, sz); /* little-endian host assumed (x86-64, aarch64) */
    return v;
}

static int64_t rd_int_le(const uint8_t *p, size_t sz) {
    switch (sz) {
    case 1: { int8_t x; memcpy(&x, p, 1); return x; }
    case 2: { int16_t x; memcpy(&x, p, 2); return x; }
    case 4: { int32_t x; memcpy(&x, p, 4); return x; }
    default: { int64_t x; memcpy(&x, p, 8); return x; }
    }
}

static bool vt_is_int(uint32_t t) {
    return t == GT_U8 || t == GT_I8 || t == GT_U16 || t == GT_I16 || t == GT_U32 || t == GT_I32 || t == GT_U64 ||
           t == GT_I64;
}
static bool vt_signed(uint32_t t) { return t == GT_I8 || t == GT_I16 || t == GT_I32 || t == GT_I64; }

static llmc_status nomem(cur *c, const char *key) {
    return llmc_err(c->err, LLMC_ERR_NOMEM, "%s: out of memory reading key '%s'", c->path, key);
}

static bool read_array(cur *c, gguf_kv *kv) {
    uint32_t et;
    uint64_t n;
    if (!rd_u32(c, &et, "array type") || !rd_u64(c, &n, "array length")) return false;
    if (et >= GT_COUNT) {
        llmc_err(c->err, LLMC_ERR_FORMAT, "%s: key '%s': unknown array element type %u", c->path, kv->key, et);
        return false;
    }
    if (n > GGUF_MAX_ARRAY || n > c->size - c->pos) {
        llmc_err(c->err, LLMC_ERR_FORMAT, "%s: key '%s': array length %llu is more than the file can hold", c->path,
                 kv->key, (unsigned long long)n);
        return false;
    }
    kv->arr_type = et;
    kv->n = n;
    if (et == GT_ARR) {
        for (uint64_t i = 0; i < n; i++)
            if (!skip_value(c, GT_ARR, 1, kv->key)) return false;
        return true;
    }
    if (et == GT_STR) {
        /* Two passes: validate and size, then copy into one buffer. */
        uint64_t start = c->pos, total = 0;
        for (uint64_t i = 0; i < n; i++) {
            const char *s;
            uint64_t len;
            if (!rd_str(c, &s, &len, UINT64_MAX, "string array item")) return false;
            total += len + 1;
        }
        kv->strs = malloc((n ? n : 1) * sizeof *kv->strs);
        kv->strs_len = malloc((n ? n : 1) * sizeof *kv->strs_len);
        kv->strs_buf = malloc(total ? total : 1);
        if (!kv->strs || !kv->strs_len || !kv->strs_buf) return nomem(c, kv->key), false;
        c->pos = start;
        char *w = kv->strs_buf;
        for (uint64_t i = 0; i < n; i++) {
            const char *s;
            uint64_t len;
            rd_str(c, &s, &len, UINT64_MAX, "string array item");
            memcpy(w, s, len);
            w[len] = 0;
            kv->strs[i] = w;
            kv->strs_len[i] = len;
            w += len + 1;
        }
        return true;
    }
    size_t es = g_vt_size[et];
    if (!need(c, n * es, "array data")) return false;
    const uint8_t *d = c->p + c->pos;
    c->pos += n * es;
    if (et == GT_F32 || et == GT_F64) {
        kv->f32s = malloc((n ? n : 1) * sizeof(float));
        if (!kv->f32s) return nomem(c, kv->key), false;
        for (uint64_t i = 0; i < n; i++) {
            if (et == GT_F32) memcpy(&kv->f32s[i], d + 4 * i, 4);
            else { double x; memcpy(&x, d + 8 * i, 8); kv->f32s[i] = (float)x; }
        }
    } else if (vt_is_int(et)) {
        int32_t *o = malloc((n ? n : 1) * sizeof *o);
        if (!o) return nomem(c, kv->key), false;
        bool fits = true;
        for (uint64_t i = 0; i < n && fits; i++) {
            if (vt_signed(et)) {
                int64_t x = rd_int_le(d + es * i, es);
                fits = x >= INT32_MIN && x <= INT32_MAX;
                o[i] = (int32_t)x;
            } else {
                uint64_t x = rd_uint_le(d + es * i, es);
                fits = x <= INT32_MAX;
                o[i] = (int32_t)x;
            }
        }
        if (fits) kv->i32s = o;
        else free(o);
    }
    return true;
}

static bool read_value(cur *c, gguf_kv *kv) {
    uint32_t t = kv->type;
    if (t >= GT_COUNT) {
        llmc_err(c->err, LLMC_ERR_FORMAT, "%s: key '%s': unknown value type %u", c->path, kv->key, t);
        return false;
    }
    if (t == GT_STR) {
        const char *s;
        uint64_t len;
        if (!rd_str(c, &s, &len, UINT64_MAX, "string value")) return false;
        kv->str = malloc(len + 1);
        if (!kv->str) return nomem(c, kv->key), false;
        memcpy(kv->str, s, len);
        kv->str[len] = 0;
        kv->str_len = len;
        return true;
    }
    if (t == GT_ARR) return read_array(c, kv);
    size_t es = g_vt_size[t];
    if (!need(c, es, "value")) return false;
    const uint8_t *d = c->p + c->pos;
    c->pos += es;
    if (t == GT_F32) { float f; memcpy(&f, d, 4); kv->v.f = f; }
    else if (t == GT_F64) memcpy(&kv->v.f, d, 8);
    else if (t == GT_BOOL) {
        if (*d > 1) {
            llmc_err(c->err, LLMC_ERR_FORMAT, "%s: key '%s': bool value %u is neither 0 nor 1", c->path, kv->key, *d);
            return false;
        }
        kv->v.b = *d;
    } else if (vt_signed(t)) { kv->v.i = rd_int_le(d, es); kv->is_signed = true; }
    else kv->v.u = rd_uint_le(d, es);
    return true;
}

/* ---------- sorted lookup ---------- */

/* Merge sort of indices by name (qsort has no context argument in C11). */
static void msort_idx(size_t *idx, size_t *tmp, size_t n, char *const *names_base, size_t stride) {
    if (n < 2) return;
    size_t h = n / 2;
    msort_idx(idx, tmp, h, names_base, stride);
    msort_idx(idx + h, tmp, n - h, names_base, stride);
    size_t i = 0, j = h, k = 0;
#define NAME(x) (*(char *const *)((const char *)names_base + (x) * stride))
    while (i < h && j < n) tmp[k++] = strcmp(NAME(idx[i]), NAME(idx[j])) <= 0 ? idx[i++] : idx[j++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
#undef NAME
    memcpy(idx, tmp, n * sizeof *idx);
}

static long bsearch_idx(const size_t *idx, size_t n, const char *name, char *const *names_base, size_t stride) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *s = *(char *const *)((const char *)names_base + idx[mid] * stride);
        int r = strcmp(s, name);
        if (r == 0) return (long)idx[mid];
        if (r < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static const gguf_kv *find_kv(const llmc_gguf *g, const char *key) {
    if (!g || !key || !g->n_kv) return NULL;
    long i = bsearch_idx(g->kv_sorted, g->n_kv, key, &g->kv[0].key, sizeof(gguf_kv));
    return i < 0 ? NULL : &g->kv[i];
}

long llmc_gguf_find_tensor(const llmc_gguf *g, const char *name) {
    if (!g || !name || !g->n_ti) return -1;
    return bsearch_idx(g->ti_sorted, g->n_ti, name, &g->ti[0].name, sizeof(gguf_tinfo));
}

/* ---------- open ---------- */

void llmc_gguf_free(llmc_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        free(kv->key);
        free(kv->str);
        free(kv->strs);
        free(kv->strs_len);
        free(kv->strs_buf);
        free(kv->f32s);
        free(kv->i32s);
    }
    free(g->kv);
    free(g->kv_sorted);
    for (size_t i = 0; i < g->n_ti; i++) free(g->ti[i].name);
    free(g->ti);
    free(g->ti_sorted);
    file_unref(g->file);
    free(g);
}

static bool has_nul(const char *s, uint64_t n) { return memchr(s, 0, n) != NULL; }

static llmc_status parse(llmc_gguf *g, llmc_error *err) {
    const char *path = g->file->map.path;
    cur c = {g->file->map.data, 0, g->file->map.size, path, err};
    if (c.size < 4 || memcmp(c.p, "GGUF", 4) != 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: not a GGUF file (magic bytes are not \"GGUF\")", path);
    c.pos = 4;
    uint32_t version;
    uint64_t n_ti, n_kv;
    if (!rd_u32(&c, &version, "version")) return err->code;
    if (version != 2 && version != 3) {
        if (version == 1) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (only 2 and 3)", path);
        if ((version & 0xFFFF) == 0)
            return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: big-endian GGUF (version field 0x%08x) is not supported", path, version);
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (only 2 and 3)", path, version);
    }
    g->version = version;
    if (!rd_u64(&c, &n_ti, "tensor count") || !rd_u64(&c, &n_kv, "metadata count")) return err->code;
    /* Every key/value takes at least 8+4+1 bytes, every tensor entry at least 8+4+8+4+8. */
    if (n_kv > GGUF_MAX_KV || n_kv > (c.size - c.pos) / 13)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: metadata count %llu is more than the file can hold (limit %u)", path,
                        (unsigned long long)n_kv, GGUF_MAX_KV);
    if (n_ti > GGUF_MAX_TENSORS || n_ti > (c.size - c.pos) / 32)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor count %llu is more than the file can hold (limit %u)", path,
                        (unsigned long long)n_ti, GGUF_MAX_TENSORS);

    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->kv_sorted = calloc(n_kv ? n_kv : 1, sizeof(size_t));
    if (!g->kv || !g->kv_sorted) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
    for (uint64_t i = 0; i < n_kv; i++) {
        const char *k;
        uint64_t klen;
        uint64_t kpos = c.pos;
        if (!rd_str(&c, &k, &klen, GGUF_MAX_KEY_LEN, "metadata key")) return err->code;
        if (klen == 0 || has_nul(k, klen))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: metadata key #%llu at byte %llu is empty or holds a NUL byte", path,
                            (unsigned long long)i, (unsigned long long)kpos);
        gguf_kv *kv = &g->kv[i];
        kv->key = strndup(k, klen);
        if (!kv->key) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
        g->n_kv = i + 1;
        if (!rd_u32(&c, &kv->type, "value type")) return llmc_err_prefix(err, "key '%s': ", kv->key), err->code;
        if (!read_value(&c, kv)) return err->code;
    }
    for (size_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = i;
    {
        size_t *tmp = malloc((g->n_kv ? g->n_kv : 1) * sizeof *tmp);
        if (!tmp) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
        msort_idx(g->kv_sorted, tmp, g->n_kv, &g->kv[0].key, sizeof(gguf_kv));
        free(tmp);
    }
    for (size_t i = 1; i < g->n_kv; i++)
        if (strcmp(g->kv[g->kv_sorted[i]].key, g->kv[g->kv_sorted[i - 1]].key) == 0)
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: duplicate metadata key '%s'", path, g->kv[g->kv_sorted[i]].key);

    g->alignment = GGUF_DEFAULT_ALIGN;
    const gguf_kv *al = find_kv(g, "general.alignment");
    if (al) {
        if (!vt_is_int(al->type) || (al->is_signed && al->v.i <= 0) || (!al->is_signed && al->v.u == 0))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: general.alignment must be a positive integer", path);
        uint64_t a = al->is_signed ? (uint64_t)al->v.i : al->v.u;
        if ((a & (a - 1)) != 0 || a > GGUF_MAX_ALIGN)
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: general.alignment %llu is not a power of two up to %u", path,
                            (unsigned long long)a, GGUF_MAX_ALIGN);
        g->alignment = a;
    }

    g->ti = calloc(n_ti ? n_ti : 1, sizeof *g->ti);
    g->ti_sorted = calloc(n_ti ? n_ti : 1, sizeof(size_t));
    if (!g->ti || !g->ti_sorted) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
    for (uint64_t i = 0; i < n_ti; i++) {
        const char *nm;
        uint64_t nlen, npos = c.pos;
        if (!rd_str(&c, &nm, &nlen, GGUF_MAX_NAME_LEN, "tensor name")) return err->code;
        if (nlen == 0 || has_nul(nm, nlen))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor #%llu at byte %llu: name is empty or holds a NUL byte", path,
                            (unsigned long long)i, (unsigned long long)npos);
        gguf_tinfo *t = &g->ti[i];
        t->name = strndup(nm, nlen);
        if (!t->name) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
        g->n_ti = i + 1;
        uint32_t nd;
        if (!rd_u32(&c, &nd, "tensor n_dims")) return err->code;
        if (nd < 1 || nd > LLMC_MAX_DIMS)
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': %u dimensions (1 to %d allowed)", path, t->name, nd,
                            LLMC_MAX_DIMS);
        t->n_dims = (int)nd;
        uint64_t numel = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if (!rd_u64(&c, &ne, "tensor dimension")) return err->code;
            if (ne < 1 || ne > (uint64_t)INT64_MAX)
                return llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': dimension %u is %llu", path, t->name, d,
                                (unsigned long long)ne);
            if (__builtin_mul_overflow(numel, ne, &numel) || numel > (uint64_t)INT64_MAX)
                return llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': element count overflows", path, t->name);
            t->ne[d] = (int64_t)ne;
        }
        if (!rd_u32(&c, &t->type, "tensor type") || !rd_u64(&c, &t->rel_offset, "tensor offset")) return err->code;
        if (t->type < GGML_NTYPES && g_ggml[t->type].name) {
            uint64_t blk = (uint64_t)g_ggml[t->type].blk;
            if ((uint64_t)t->ne[0] % blk != 0)
                return llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': row length %lld is not a multiple of the %s block size %llu",
                                path, t->name, (long long)t->ne[0], g_ggml[t->type].name, (unsigned long long)blk);
            if (__builtin_mul_overflow(numel / blk, (uint64_t)g_ggml[t->type].bytes, &t->nbytes))
                return llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': byte size overflows", path, t->name);
        }
        if (t->rel_offset % g->alignment != 0)
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of the alignment %llu",
                            path, t->name, (unsigned long long)t->rel_offset, (unsigned long long)g->alignment);
    }
    for (size_t i = 0; i < g->n_ti; i++) g->ti_sorted[i] = i;
    {
        size_t *tmp = malloc((g->n_ti ? g->n_ti : 1) * sizeof *tmp);
        if (!tmp) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
        msort_idx(g->ti_sorted, tmp, g->n_ti, &g->ti[0].name, sizeof(gguf_tinfo));
        free(tmp);
    }
    for (size_t i = 1; i < g->n_ti; i++)
        if (strcmp(g->ti[g->ti_sorted[i]].name, g->ti[g->ti_sorted[i - 1]].name) == 0)
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: duplicate tensor name '%s'", path, g->ti[g->ti_sorted[i]].name);

    uint64_t ds = c.pos + (g->alignment - c.pos % g->alignment) % g->alignment;
    if (n_ti > 0 && ds > c.size)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: truncated GGUF: data section starts at byte %llu, file has %llu", path,
                        (unsigned long long)ds, (unsigned long long)c.size);
    g->data_start = ds;
    uint64_t data_size = ds <= c.size ? c.size - ds : 0;
    for (size_t i = 0; i < g->n_ti; i++) {
        gguf_tinfo *t = &g->ti[i];
        if (t->rel_offset > data_size || t->nbytes > data_size - t->rel_offset)
            return llmc_err(err, LLMC_ERR_FORMAT,
                            "%s: tensor '%s': data at offset %llu + %llu bytes runs past the end of the file (data section is %llu bytes)",
                            path, t->name, (unsigned long long)t->rel_offset, (unsigned long long)t->nbytes,
                            (unsigned long long)data_size);
    }
    return LLMC_OK;
}

llmc_status llmc_gguf_open(const char *path, llmc_gguf **out, llmc_error *err) {
    *out = NULL;
    llmc_gguf *g = calloc(1, sizeof *g);
    gguf_file *f = calloc(1, sizeof *f);
    if (!g || !f) {
        free(g);
        free(f);
        return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
    }
    atomic_init(&f->refs, 1);
    g->file = f;
    llmc_status st = llmc_mmap_open(&f->map, path, err);
    if (st != LLMC_OK) {
        llmc_gguf_free(g);
        return st;
    }
    llmc_error local;
    if (!err) err = &local; /* parse reads err->code */
    if ((st = parse(g, err)) != LLMC_OK) {
        llmc_gguf_free(g);
        return st;
    }
    *out = g;
    return LLMC_OK;
}

/* ---------- getters ---------- */

uint32_t llmc_gguf_version(const llmc_gguf *g) { return g ? g->version : 0; }
bool llmc_gguf_has_key(const llmc_gguf *g, const char *key) { return find_kv(g, key) != NULL; }
size_t llmc_gguf_key_count(const llmc_gguf *g) { return g ? g->n_kv : 0; }

bool llmc_gguf_get_u64(const llmc_gguf *g, const char *key, uint64_t *out) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || !vt_is_int(kv->type)) return false;
    if (kv->is_signed) {
        if (kv->v.i < 0) return false;
        *out = (uint64_t)kv->v.i;
    } else *out = kv->v.u;
    return true;
}

bool llmc_gguf_get_i64(const llmc_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || !vt_is_int(kv->type)) return false;
    if (kv->is_signed) *out = kv->v.i;
    else {
        if (kv->v.u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)kv->v.u;
    }
    return true;
}

bool llmc_gguf_get_f64(const llmc_gguf *g, const char *key, double *out) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv) return false;
    if (kv->type == GT_F32 || kv->type == GT_F64) *out = kv->v.f;
    else if (vt_is_int(kv->type)) *out = kv->is_signed ? (double)kv->v.i : (double)kv->v.u;
    else return false;
    return true;
}

bool llmc_gguf_get_bool(const llmc_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GT_BOOL) return false;
    *out = kv->v.b;
    return true;
}

const char *llmc_gguf_get_str(const llmc_gguf *g, const char *key) {
    const gguf_kv *kv = find_kv(g, key);
    return kv && kv->type == GT_STR ? kv->str : NULL;
}

bool llmc_gguf_get_str_len(const llmc_gguf *g, const char *key, const char **s, size_t *len) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GT_STR) return false;
    *s = kv->str;
    *len = kv->str_len;
    return true;
}

bool llmc_gguf_get_str_array(const llmc_gguf *g, const char *key, const char *const **items, size_t *n) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GT_ARR || kv->arr_type != GT_STR) return false;
    *items = (const char *const *)kv->strs;
    *n = kv->n;
    return true;
}

bool llmc_gguf_get_str_array_lens(const llmc_gguf *g, const char *key, const size_t **lens) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GT_ARR || kv->arr_type != GT_STR) return false;
    *lens = kv->strs_len;
    return true;
}

bool llmc_gguf_get_f32_array(const llmc_gguf *g, const char *key, const float **items, size_t *n) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GT_ARR || !kv->f32s) return false;
    *items = kv->f32s;
    *n = kv->n;
    return true;
}

bool llmc_gguf_get_i32_array(const llmc_gguf *g, const char *key, const int32_t **items, size_t *n) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GT_ARR || !kv->i32s) return false;
    *items = kv->i32s;
    *n = kv->n;
    return true;
}

size_t llmc_gguf_tensor_count(const llmc_gguf *g) { return g ? g->n_ti : 0; }

bool llmc_gguf_tensor_at(const llmc_gguf *g, size_t i, llmc_gguf_tensor_info *info) {
    if (!g || i >= g->n_ti) return false;
    const gguf_tinfo *t = &g->ti[i];
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->ggml_type = t->type;
    info->supported = t->type < GGML_NTYPES && g_ggml[t->type].name && g_ggml[t->type].dt >= 0;
    info->type_name = (t->type < GGML_NTYPES && g_ggml[t->type].name) ? g_ggml[t->type].name : "unknown";
    info->n_dims = t->n_dims;
    memcpy(info->ne, t->ne, sizeof info->ne);
    info->offset = g->data_start + t->rel_offset;
    info->nbytes = t->nbytes;
    return true;
}

static const uint8_t *tensor_data(const llmc_gguf *g, const gguf_tinfo *t) {
    return (const uint8_t *)g->file->map.data + g->data_start + t->rel_offset;
}

/* ---------- config ---------- */

static llmc_status need_int(const llmc_gguf *g, const char *key, int lo, int hi, int *out, bool required, llmc_error *err) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv) {
        if (required) return llmc_err(err, LLMC_ERR_FORMAT, "%s: missing metadata key '%s'", g->file->map.path, key);
        return LLMC_OK;
    }
    if (kv->type == GT_ARR)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: '%s' is a per-layer array; only one value for all layers is supported",
                        g->file->map.path, key);
    int64_t v;
    if (!llmc_gguf_get_i64(g, key, &v))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' must be an integer, is %s", g->file->map.path, key,
                        kv->type < GT_COUNT ? g_vt_name[kv->type] : "?");
    if (v < lo || v > hi)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' is %lld, outside [%d, %d]", g->file->map.path, key, (long long)v,
                        lo, hi);
    *out = (int)v;
    return LLMC_OK;
}

/* Llama 3 rope scaling reaches GGUF only as rope_freqs.weight: per frequency the
 * divisor 1 (high freq), factor (low freq) or 1/((1-s)/factor + s) in between,
 * with s = (old_ctx/wavelen - low)/(high - low). The divisors depend on
 * (old_ctx, low, high) only through A = old_ctx/(high-low) and B = -low/(high-low),
 * so any triple with the same A, B computes the same frequencies: fix low = 1 and
 * solve from two in-between frequencies, then check every factor. */
static llmc_status rope_freqs_to_llama3(const llmc_gguf *g, const gguf_tinfo *t, llmc_config *cfg, llmc_error *err) {
    const char *path = g->file->map.path;
    int half = cfg->head_dim / 2;
    if (t->type != 0 || t->n_dims != 1 || t->ne[0] != half)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope_freqs.weight must be F32 of %d values (head_dim/2)", path, half);
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
    memcpy(f, tensor_data(g, t), (size_t)half * sizeof *f);
    double factor = 1;
    for (int i = 0; i < half; i++) {
        if (!(f[i] >= 1.0f - 1e-6f) || !isfinite(f[i])) {
            double bad = f[i];
            free(f);
            return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope_freqs.weight[%d] = %g is not a llama3 scaling factor", path, i, bad);
        }
        if (f[i] > factor) factor = f[i];
    }
    if (factor <= 1.0 + 1e-6) { /* all ones: no scaling */
        free(f);
        return LLMC_OK;
    }
    /* s_i for in-between frequencies, against 1/wavelen_i = inv_freq_i / 2π. */
    double x[2] = {0, 0}, s[2] = {0, 0};
    int nm = 0;
    for (int i = 0; i < half && nm < 2; i++) {
        double fi = f[i];
        if (fi > 1.0 + 1e-4 && fi < factor * (1 - 1e-4)) {
            double inv = pow(cfg->rope_theta, -2.0 * i / cfg->head_dim);
            x[nm] = inv / (2 * M_PI);
            s[nm] = (1.0 / fi - 1.0 / factor) / (1.0 - 1.0 / factor);
            nm++;
        }
    }
    double low = 1, high, old;
    if (nm == 2 && fabs(x[1] - x[0]) > 0) {
        double A = (s[1] - s[0]) / (x[1] - x[0]), B = s[0] - A * x[0];
        if (!(B < 0) || !(A > 0)) {
            free(f);
            return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope_freqs.weight does not follow llama3 rope scaling", path);
        }
        high = low - low / B;
        old = A * (high - low);
    } else {
        /* No or one in-between frequency: the split is only bounded; the common
         * Llama 3 values (low 1, high 4, 8192) are checked below like any other. */
        high = 4;
        old = 8192;
    }
    bool ok = true;
    for (int i = 0; i < half && ok; i++) {
        double inv = pow(cfg->rope_theta, -2.0 * i / cfg->head_dim), wl = 2 * M_PI / inv, want;
        if (wl < old / high) want = 1;
        else if (wl > old / low) want = factor;
        else {
            double sm = (old / wl - low) / (high - low);
            want = 1.0 / ((1 - sm) / factor + sm);
        }
        ok = fabs(want - f[i]) <= 1e-3 * want;
    }
    free(f);
    if (!ok) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope_freqs.weight does not follow llama3 rope scaling", path);
    cfg->rope_type = LLMC_ROPE_LLAMA3;
    cfg->rope_factor = factor;
    cfg->rope_low_freq_factor = low;
    cfg->rope_high_freq_factor = high;
    cfg->rope_original_max_position = (int)llround(old);
    return LLMC_OK;
}

/* "<arch>.<suffix>": the architecture's own metadata key (llama.*, qwen2.*, qwen3.*). */
static const char *arch_key(char *buf, size_t n, const char *arch, const char *suffix) {
    snprintf(buf, n, "%.40s.%s", arch, suffix);
    return buf;
}
#define AK(suffix) arch_key(kb, sizeof kb, arch, suffix)

/* Phi-3's LongRoPE as llama.cpp stores it: rope_factors_short.weight / rope_factors_long.weight
 * (F32, one per rotary pair), <arch>.rope.scaling.original_context_length and
 * .rope.scaling.attn_factor (absent: transformers' default from context_length / original).
 * Applied as the file says (transformers' GGUF loader has no longrope to compare with). */
static llmc_status gguf_phi3_rope(const llmc_gguf *g, const char *arch, llmc_config *cfg, llmc_error *err) {
    const char *path = g->file->map.path;
    char kb[96];
    long ts = llmc_gguf_find_tensor(g, "rope_factors_short.weight"), tl = llmc_gguf_find_tensor(g, "rope_factors_long.weight");
    if (ts < 0 && tl < 0) return LLMC_OK;
    const int half = llmc_config_rotary_dim(cfg) / 2;
    const long t2[2] = {ts, tl};
    float *dst[2] = {cfg->rope_short_factor, cfg->rope_long_factor};
    for (int i = 0; i < 2; i++) {
        const char *nm = i ? "rope_factors_long.weight" : "rope_factors_short.weight";
        if (t2[i] < 0) return llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' is missing (longrope needs both factor sets)", path, nm);
        const gguf_tinfo *t = &g->ti[t2[i]];
        if (t->type != 0 || t->n_dims != 1 || t->ne[0] != half || half > LLMC_MAX_ROPE_FACTORS)
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' must be F32 of %d values (rotary dims / 2)", path, nm, half);
        memcpy(dst[i], tensor_data(g, t), (size_t)half * sizeof(float));
        for (int k = 0; k < half; k++)
            if (!(dst[i][k] > 0) || !isfinite(dst[i][k])) return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s[%d] must be a positive number", path, nm, k);
    }
    int orig = 0;
    llmc_status st = need_int(g, AK("rope.scaling.original_context_length"), 1, 1 << 30, &orig, true, err);
    if (st) return st;
    double factor = (double)cfg->max_position_embeddings / orig, af = factor <= 1.0 || orig <= 1 ? 1.0 : sqrt(1 + log(factor) / log((double)orig));
    if (llmc_gguf_has_key(g, AK("rope.scaling.attn_factor")) && (!llmc_gguf_get_f64(g, AK("rope.scaling.attn_factor"), &af) || !(af > 0)))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s must be a positive number", path, AK("rope.scaling.attn_factor"));
    cfg->rope_type = LLMC_ROPE_LONGROPE;
    cfg->rope_factor = factor;
    cfg->rope_original_max_position = orig;
    cfg->rope_attn_factor = af;
    return LLMC_OK;
}

/* Gemma 2 and 3 as llama.cpp describes them. Gemma 2: <arch>.attention.sliding_window on every
 * other layer (the even ones, as transformers' default layer_types), .attn_logit_softcapping and
 * .final_logit_softcapping. Gemma 3: the window on all but every 6th layer (llama.cpp's fixed
 * pattern), q/k norms, those layers' RoPE base 10000 and the others' rope.freq_base with the
 * file's linear rope scaling. Both: GeGLU, sandwich norms, embeddings × sqrt(hidden); the
 * converter stored each norm weight as 1 + w, so norms are used as stored. query_pre_attn_scalar
 * is not in the file: llama.cpp's rule, the head dimension except for the 27B models (46 / 62
 * layers: hidden / heads). */
static llmc_status gguf_gemma(const llmc_gguf *g, const char *arch, bool gen3, llmc_config *cfg, llmc_error *err) {
    const char *path = g->file->map.path;
    char kb[96];
    llmc_status st = need_int(g, AK("attention.sliding_window"), 1, 1 << 30, &cfg->sliding_window, true, err);
    if (st) return st;
    cfg->per_layer_window = true;
    memset(cfg->sliding_layers, 0, sizeof cfg->sliding_layers);
    for (int l = 0; l < cfg->num_layers; l++)
        if (gen3 ? (l + 1) % 6 != 0 : l % 2 == 0) cfg->sliding_layers[l / 64] |= 1ull << (l % 64);
    const char *caps[2] = {"attn_logit_softcapping", "final_logit_softcapping"};
    double *dst[2] = {&cfg->attn_softcap, &cfg->final_softcap};
    for (int i = 0; i < 2; i++) {
        *dst[i] = 0;
        if (llmc_gguf_has_key(g, AK(caps[i])) && (!llmc_gguf_get_f64(g, AK(caps[i]), dst[i]) || !(*dst[i] >= 0) || !isfinite(*dst[i])))
            return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s must be a non-negative number", path, AK(caps[i]));
    }
    if (gen3 && cfg->attn_softcap > 0)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: %s is not supported for Gemma 3", path, AK("attn_logit_softcapping"));
    const int big = gen3 ? 62 : 46;
    double qs = cfg->num_layers == big ? (double)cfg->hidden_size / cfg->num_heads : cfg->head_dim;
    cfg->attn_scale = 1.0 / sqrt(qs);
    cfg->mlp_act = LLMC_MLP_GELU_TANH;
    cfg->norm_plus_one = false; /* stored as 1 + w */
    cfg->sandwich_norms = true;
    cfg->embed_scale = sqrt((double)cfg->hidden_size);
    if (gen3) {
        cfg->rope_theta_local = 10000.0;
        if ((st = llmc_gguf_apply_rope_scaling(g, cfg, err))) return st; /* linear on the full-attention layers */
    }
    return LLMC_OK;
}

/* Mixture-of-experts metadata as llama.cpp writes it: <arch>.expert_count, .expert_used_count,
 * the experts' width (.expert_feed_forward_length; Mixtral and OLMoE: feed_forward_length),
 * Qwen2-MoE's .expert_shared_feed_forward_length; .expert_weights_norm when present, else
 * llama.cpp's choice per architecture (Mixtral and Qwen3-MoE renormalize the top k). Layers
 * without blk.N.ffn_gate_inp.weight are dense. */
static llmc_status gguf_moe_config(const llmc_gguf *g, const char *arch, const llmc_arch *A, llmc_config *cfg, llmc_error *err) {
    char kb[96];
    llmc_status st;
    if ((st = need_int(g, AK("expert_count"), 1, LLMC_MAX_EXPERTS, &cfg->num_experts, true, err)) ||
        (st = need_int(g, AK("expert_used_count"), 1, LLMC_MAX_EXPERTS_PER_TOK, &cfg->num_experts_per_tok, true, err)))
        return st;
    if (cfg->num_experts_per_tok > cfg->num_experts)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s %d exceeds the %d experts", g->file->map.path, AK("expert_used_count"),
                        cfg->num_experts_per_tok, cfg->num_experts);
    cfg->moe_intermediate_size = cfg->intermediate_size;
    if ((st = need_int(g, AK("expert_feed_forward_length"), 1, 1 << 22, &cfg->moe_intermediate_size, false, err))) return st;
    if (A->flags & LLMC_ARCH_SHARED_EXPERT) {
        if ((st = need_int(g, AK("expert_shared_feed_forward_length"), 0, 1 << 22, &cfg->shared_expert_intermediate_size, false, err))) return st;
    }
    cfg->norm_topk_prob = A->family == LLMC_FAM_MIXTRAL || A->family == LLMC_FAM_QWEN3_MOE;
    bool b;
    if (llmc_gguf_get_bool(g, AK("expert_weights_norm"), &b)) cfg->norm_topk_prob = b;
    memset(cfg->dense_layers, 0, sizeof cfg->dense_layers);
    bool shared = false;
    for (int l = 0; l < cfg->num_layers; l++) {
        char tn[64];
        snprintf(tn, sizeof tn, "blk.%d.ffn_gate_inp.weight", l);
        if (llmc_gguf_find_tensor(g, tn) < 0) cfg->dense_layers[l / 64] |= 1ull << (l % 64);
        snprintf(tn, sizeof tn, "blk.%d.ffn_gate_shexp.weight", l);
        shared |= llmc_gguf_find_tensor(g, tn) >= 0;
    }
    if (!shared) cfg->shared_expert_intermediate_size = 0; /* a Qwen2-MoE file without shared experts */
    return LLMC_OK;
}

llmc_status llmc_gguf_config(const llmc_gguf *g, llmc_config *cfg, llmc_error *err) {
    memset(cfg, 0, sizeof *cfg);
    const char *path = g->file->map.path;
    const char *arch = llmc_gguf_get_str(g, "general.architecture");
    if (!arch) return llmc_err(err, LLMC_ERR_FORMAT, "%s: missing metadata key 'general.architecture'", path);
    char kb[96], names[256];
    const llmc_arch *A = llmc_arch_by_gguf(arch);
    if (!A)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: GGUF architecture '%.64s' is not supported (%s are)", path, arch,
                        llmc_arch_names(2, names, sizeof names));
    uint64_t parts = 0;
    if (llmc_gguf_get_u64(g, "split.count", &parts) && parts > 1)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED,
                        "%s: this is one part of a GGUF split in %llu files, which llmc does not read; merge the parts "
                        "first (llama-gguf-split --merge)", path, (unsigned long long)parts);
    const char *name = llmc_gguf_get_str(g, "general.name");
    uint64_t experts = 0;
    bool has_experts = llmc_gguf_get_u64(g, AK("expert_count"), &experts) && experts > 0;
    /* llama.cpp writes Mixtral as "llama" with experts; transformers reads a llama GGUF named
       like Mistral as MistralForCausalLM (the graph is the same). */
    const int def_ctx = A->default_max_pos;
    if (A->family == LLMC_FAM_LLAMA && has_experts) A = llmc_arch_by_family(LLMC_FAM_MIXTRAL);
    else if (A->family == LLMC_FAM_LLAMA && name && strcmp(name, "mistral") == 0) A = llmc_arch_by_family(LLMC_FAM_MISTRAL);
    if (has_experts && !(A->flags & LLMC_ARCH_MOE))
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: %s = %llu, but %s has no mixture-of-experts layers", path, AK("expert_count"),
                        (unsigned long long)experts, A->label);
    snprintf(cfg->architecture, sizeof cfg->architecture, "%s", A->hf_arch);
    llmc_status st;
    const int BIG = 1 << 30;
    if ((st = need_int(g, AK("embedding_length"), 1, 1 << 20, &cfg->hidden_size, true, err))) return st;
    if ((st = need_int(g, AK("feed_forward_length"), 1, 1 << 22, &cfg->intermediate_size, true, err))) return st;
    if ((st = need_int(g, AK("block_count"), 1, 4096, &cfg->num_layers, true, err))) return st;
    if ((st = need_int(g, AK("attention.head_count"), 1, 1 << 16, &cfg->num_heads, true, err))) return st;
    cfg->num_kv_heads = cfg->num_heads;
    if ((st = need_int(g, AK("attention.head_count_kv"), 1, 1 << 16, &cfg->num_kv_heads, false, err))) return st;
    if (cfg->num_heads % cfg->num_kv_heads != 0)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d", path,
                        cfg->num_heads, cfg->num_kv_heads);
    cfg->max_position_embeddings = def_ctx;
    if ((st = need_int(g, AK("context_length"), 1, BIG, &cfg->max_position_embeddings, false, err))) return st;
    int head_dim = 0, key_len = 0, val_len = 0, rot = 0;
    if ((st = need_int(g, AK("attention.key_length"), 1, 1 << 16, &key_len, false, err))) return st;
    if ((st = need_int(g, AK("attention.value_length"), 1, 1 << 16, &val_len, false, err))) return st;
    if ((st = need_int(g, AK("rope.dimension_count"), 1, 1 << 16, &rot, false, err))) return st;
    const bool phi = A->flags & LLMC_ARCH_LONGROPE; /* Phi-3: rope.dimension_count is the rotary part */
    head_dim = key_len ? key_len : rot && !phi ? rot : cfg->hidden_size / cfg->num_heads;
    if (head_dim <= 0 || head_dim % 2)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: head dimension %d must be even and positive", path, head_dim);
    if (val_len && val_len != head_dim)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: attention.value_length %d differs from key_length %d", path, val_len, head_dim);
    if (rot && rot != head_dim && (!phi || rot > head_dim || rot % 2))
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope.dimension_count %d differs from the head dimension %d (partial rotary)",
                        path, rot, head_dim);
    cfg->head_dim = head_dim;
    if (phi && rot && rot != head_dim) cfg->rotary_dim = rot;
    if ((A->flags & LLMC_ARCH_MOE) && (st = gguf_moe_config(g, arch, A, cfg, err))) return st;
    cfg->rms_norm_eps = 1e-6; /* LlamaConfig's default, which transformers keeps when the key is absent */
    if (llmc_gguf_has_key(g, AK("attention.layer_norm_rms_epsilon")) &&
        !llmc_gguf_get_f64(g, AK("attention.layer_norm_rms_epsilon"), &cfg->rms_norm_eps))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s must be a number", path, AK("attention.layer_norm_rms_epsilon"));
    if (!(cfg->rms_norm_eps >= 0 && cfg->rms_norm_eps < 1))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s %g out of range", path, AK("attention.layer_norm_rms_epsilon"), cfg->rms_norm_eps);
    cfg->rope_theta = 10000.0;
    if (llmc_gguf_has_key(g, AK("rope.freq_base")) && !llmc_gguf_get_f64(g, AK("rope.freq_base"), &cfg->rope_theta))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s must be a number", path, AK("rope.freq_base"));
    if (!(cfg->rope_theta > 1 && isfinite(cfg->rope_theta)))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: %s %g out of range", path, AK("rope.freq_base"), cfg->rope_theta);

    cfg->rope_type = LLMC_ROPE_DEFAULT;
    cfg->rope_factor = 1.0;
    /* transformers' GGUF loader reads no llama rope scaling (neither rope.scaling.*
     * nor rope_freqs.weight), so by default neither do we: same logits as the
     * reference. llmc_gguf_apply_rope_scaling applies what the file says. */
    if (phi && (st = gguf_phi3_rope(g, arch, cfg, err))) return st;
    if (!phi && A->family != LLMC_FAM_GEMMA3 && (llmc_gguf_find_tensor(g, "rope_freqs.weight") >= 0 || llmc_gguf_has_key(g, AK("rope.scaling.type")) ||
                 llmc_gguf_has_key(g, AK("rope.scaling.factor"))))
        LLMC_WARN("%s: rope scaling in the GGUF is ignored, as transformers' GGUF loader does", path);

    /* Vocabulary: the embedding's row count is what the model computes with. */
    long te = llmc_gguf_find_tensor(g, "token_embd.weight");
    const char *const *toks;
    size_t ntok = 0;
    bool has_toks = llmc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &ntok);
    uint64_t vs = 0;
    if (te >= 0 && g->ti[te].n_dims == 2) vs = (uint64_t)g->ti[te].ne[1];
    else if (llmc_gguf_get_u64(g, AK("vocab_size"), &vs)) {}
    else if (has_toks) vs = ntok;
    if (vs < 1 || vs > (uint64_t)BIG)
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: cannot tell the vocabulary size (no token_embd.weight, %s or token list)", path, AK("vocab_size"));
    cfg->vocab_size = (int)vs;
    if (te >= 0 && (g->ti[te].n_dims != 2 || g->ti[te].ne[0] != cfg->hidden_size))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: token_embd.weight is not [%d, vocab]", path, cfg->hidden_size);

    cfg->tie_word_embeddings = llmc_gguf_find_tensor(g, "output.weight") < 0;
    /* From the table: Qwen2 always has q/k/v biases (and no o bias); Qwen3 normalizes q and k
       per head, OLMoE over the whole projections. Other biases as the tensors say. */
    cfg->qkv_bias = A->flags & LLMC_ARCH_QKV_BIAS;
    if (A->family == LLMC_FAM_QWEN2_MOE) cfg->qkv_bias = llmc_gguf_find_tensor(g, "blk.0.attn_q.bias") >= 0;
    cfg->qk_norm = A->flags & LLMC_ARCH_QK_NORM;
    cfg->qk_norm_full = A->flags & LLMC_ARCH_QK_NORM_FULL;
    cfg->attention_bias = !(A->flags & LLMC_ARCH_QKV_BIAS) && llmc_gguf_find_tensor(g, "blk.0.attn_q.bias") >= 0;
    cfg->mlp_bias = llmc_gguf_find_tensor(g, "blk.0.ffn_up.bias") >= 0;
    cfg->bos_token_id = cfg->pad_token_id = -1;
    int v = -1;
    if ((st = need_int(g, "tokenizer.ggml.bos_token_id", 0, BIG, &v, false, err))) return st;
    cfg->bos_token_id = v;
    v = -1;
    if ((st = need_int(g, "tokenizer.ggml.eos_token_id", 0, BIG, &v, false, err))) return st;
    if (v >= 0) cfg->eos_token_ids[cfg->num_eos++] = v;
    v = -1;
    if ((st = need_int(g, "tokenizer.ggml.padding_token_id", 0, BIG, &v, false, err))) return st;
    cfg->pad_token_id = v;
    cfg->torch_dtype = LLMC_DT_F32; /* transformers dequantizes GGUF weights to float32 */
    cfg->fused_proj = A->flags & LLMC_ARCH_FUSED_PROJ; /* Phi-3: attn_qkv and ffn_up (gate|up) */
    cfg->sliding_window = 0;
    /* Phi-3 slides over every layer (llama.cpp writes 0 for none) */
    if (A->family == LLMC_FAM_PHI3 && (st = need_int(g, AK("attention.sliding_window"), 0, BIG, &cfg->sliding_window, false, err))) return st;
    if ((A->family == LLMC_FAM_GEMMA2 || A->family == LLMC_FAM_GEMMA3) && (st = gguf_gemma(g, arch, A->family == LLMC_FAM_GEMMA3, cfg, err)))
        return st;
    if (A->flags & LLMC_ARCH_NOPE) { /* SmolLM3: llama.cpp's fixed pattern, every 4th layer without RoPE (transformers' default) */
        cfg->has_nope = true;
        memset(cfg->nope_layers, 0, sizeof cfg->nope_layers);
        for (int l = 3; l < cfg->num_layers; l += 4) cfg->nope_layers[l / 64] |= 1ull << (l % 64);
    }
    return LLMC_OK;
}

llmc_status llmc_gguf_apply_rope_scaling(const llmc_gguf *g, llmc_config *cfg, llmc_error *err) {
    const char *path = g->file->map.path;
    const char *arch = llmc_gguf_get_str(g, "general.architecture");
    if (!arch) arch = "llama";
    const llmc_arch *A = llmc_arch_by_gguf(arch);
    if (A && (A->flags & LLMC_ARCH_LONGROPE)) return LLMC_OK; /* Phi-3: llmc_gguf_config already applied the file's LongRoPE */
    char kb[96];
    llmc_status st;
    cfg->rope_type = LLMC_ROPE_DEFAULT;
    cfg->rope_factor = 1.0;
    const char *stype = llmc_gguf_get_str(g, AK("rope.scaling.type"));
    double sfactor = 0;
    bool has_factor = llmc_gguf_get_f64(g, AK("rope.scaling.factor"), &sfactor);
    if (!stype && has_factor && sfactor != 1.0) stype = "linear"; /* older converters wrote only the factor */
    if (stype && strcmp(stype, "none") != 0) {
        if (strcmp(stype, "linear") == 0) {
            if (!has_factor || !(sfactor > 0) || !isfinite(sfactor))
                return llmc_err(err, LLMC_ERR_FORMAT, "%s: linear rope scaling needs a positive %s", path, AK("rope.scaling.factor"));
            cfg->rope_type = LLMC_ROPE_LINEAR;
            cfg->rope_factor = sfactor;
        } else
            return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope scaling type '%s' is not supported", path, stype);
    }
    long rf = llmc_gguf_find_tensor(g, "rope_freqs.weight");
    if (rf >= 0) {
        if (cfg->rope_type != LLMC_ROPE_DEFAULT)
            return llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: both rope_freqs.weight and rope scaling '%s'", path, stype);
        if ((st = rope_freqs_to_llama3(g, &g->ti[rf], cfg, err))) return st;
    }
    return LLMC_OK;
}

/* ---------- tensors ---------- */

char *llmc_gguf_hf_name(const char *n) {
    static const struct { const char *gg, *hf; } top[] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
    };
    static const struct { const char *gg, *hf; } blk[] = {
        {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},     {"attn_v", "self_attn.v_proj"},
        {"attn_qkv", "self_attn.qkv_proj"}, /* Phi-3 (its ffn_up holds gate|up: llmc_gguf_tensors renames it) */
        {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"},   {"ffn_up", "mlp.up_proj"},
        {"ffn_down", "mlp.down_proj"},    {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"},
        {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"}, /* Qwen3, OLMoE */
        /* mixture of experts: the router, stacked experts ([E, out, in]), Qwen2-MoE's shared expert */
        {"ffn_gate_inp", "mlp.gate"},     {"ffn_gate_exps", "mlp.experts.gate_proj"}, {"ffn_up_exps", "mlp.experts.up_proj"},
        {"ffn_down_exps", "mlp.experts.down_proj"}, {"ffn_gate_shexp", "mlp.shared_expert.gate_proj"},
        {"ffn_up_shexp", "mlp.shared_expert.up_proj"}, {"ffn_down_shexp", "mlp.shared_expert.down_proj"},
        {"ffn_gate_inp_shexp", "mlp.shared_expert_gate"},
        /* Gemma's sandwich norms (its ffn_norm is the pre-MLP norm: llmc_gguf_tensors renames it) */
        {"post_attention_norm", "post_attention_layernorm"}, {"post_ffw_norm", "post_feedforward_layernorm"},
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (strcmp(n, top[i].gg) == 0) return strdup(top[i].hf);
    if (strncmp(n, "blk.", 4) != 0) return NULL;
    const char *p = n + 4;
    long layer = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 6) layer = layer * 10 + (*p++ - '0'), digits++;
    if (!digits || *p != '.' || (digits > 1 && n[4] == '0')) return NULL;
    p++;
    for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++) {
        size_t l = strlen(blk[i].gg);
        if (strncmp(p, blk[i].gg, l) == 0 && (strcmp(p + l, ".weight") == 0 || strcmp(p + l, ".bias") == 0)) {
            char buf[160];
            snprintf(buf, sizeof buf, "model.layers.%ld.%s%s", layer, blk[i].hf, p + l);
            return strdup(buf);
        }
    }
    /* Mixtral GGUFs from before stacked experts: blk.N.ffn_{gate,up,down}.E.weight, one per expert */
    static const struct { const char *gg, *hf; } exp[] = {{"ffn_gate.", "w1"}, {"ffn_up.", "w3"}, {"ffn_down.", "w2"}};
    for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++) {
        size_t l = strlen(exp[i].gg);
        if (strncmp(p, exp[i].gg, l) != 0) continue;
        const char *q = p + l;
        long e = 0;
        int ed = 0;
        while (*q >= '0' && *q <= '9' && ed < 5) e = e * 10 + (*q++ - '0'), ed++;
        if (!ed || (ed > 1 && p[l] == '0') || strcmp(q, ".weight") != 0) return NULL;
        char buf[160];
        snprintf(buf, sizeof buf, "model.layers.%ld.block_sparse_moe.experts.%ld.%s.weight", layer, e, exp[i].hf);
        return strdup(buf);
    }
    return NULL;
}

static llmc_status add_tensor(llmc_tensor_set *set, llmc_tensor *t, llmc_error *err) {
    llmc_status st = llmc_tensor_set_add(set, t, err);
    if (st != LLMC_OK) {
        free(t->name);
        free(t->owned);
    }
    return st;
}

llmc_status llmc_gguf_tensors(llmc_gguf *g, llmc_tensor_set **out, llmc_error *err) {
    *out = NULL;
    const char *path = g->file->map.path;
    llmc_config cfg;
    llmc_error cerr = {0};
    /* Head counts drive the Q/K un-permute; without a valid config we cannot undo it. */
    llmc_status st = llmc_gguf_config(g, &cfg, &cerr);
    if (st != LLMC_OK) {
        if (err) *err = cerr;
        return st;
    }
    llmc_tensor_set *set = llmc_tensor_set_new();
    if (!set) return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path);
    atomic_fetch_add(&g->file->refs, 1);
    if ((st = llmc_tensor_set_attach(set, g->file, file_unref, err)) != LLMC_OK) goto fail;
    char tbuf[32];
    for (size_t i = 0; i < g->n_ti; i++) {
        const gguf_tinfo *ti = &g->ti[i];
        if (strcmp(ti->name, "rope_freqs.weight") == 0) continue; /* not a weight: see llmc_gguf_apply_rope_scaling */
        if (!strcmp(ti->name, "rope_factors_short.weight") || !strcmp(ti->name, "rope_factors_long.weight")) continue; /* in the config */
        char *hf = llmc_gguf_hf_name(ti->name);
        if (hf && cfg.num_experts == 0 && (strstr(hf, ".experts.") || strstr(hf, ".mlp.gate.") || strstr(hf, ".shared_expert"))) {
            free(hf); /* an expert tensor in a dense model would be ignored: refused below like any unknown name */
            hf = NULL;
        }
        if (hf && cfg.sandwich_norms && strstr(ti->name, ".ffn_norm.")) { /* Gemma: the norm before the MLP */
            char buf[160];
            snprintf(buf, sizeof buf, "%.*spre_feedforward_layernorm%s", (int)(strstr(hf, "post_attention_layernorm") - hf), hf,
                     strstr(hf, "post_attention_layernorm") + 24);
            free(hf);
            if (!(hf = strdup(buf))) { st = llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path); goto fail; }
        }
        if (hf && cfg.fused_proj && strstr(hf, ".mlp.up_proj.")) { /* Phi-3's ffn_up is gate|up */
            char buf[160];
            snprintf(buf, sizeof buf, "%.*smlp.gate_up_proj%s", (int)(strstr(hf, "mlp.up_proj.") - hf), hf, strstr(hf, "mlp.up_proj.") + 11);
            free(hf);
            hf = strdup(buf);
            if (!hf) { st = llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", path); goto fail; }
        }
        if (!hf) {
            st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: tensor '%s' has no Hugging Face counterpart in %s", path, ti->name, cfg.architecture);
            goto fail;
        }
        if (ti->type >= GGML_NTYPES || !g_ggml[ti->type].name || g_ggml[ti->type].dt < 0) {
            st = llmc_err(err, LLMC_ERR_UNSUPPORTED,
                          "%s: tensor '%s' has ggml type %s, which llmc does not support (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)",
                          path, ti->name, ggml_type_name(ti->type, tbuf, sizeof tbuf));
            free(hf);
            goto fail;
        }
        llmc_tensor t = {0};
        t.name = hf;
        t.dtype = (llmc_dtype)g_ggml[ti->type].dt;
        t.ndim = ti->n_dims;
        for (int d = 0; d < ti->n_dims; d++) t.shape[d] = ti->ne[ti->n_dims - 1 - d];
        t.data = tensor_data(g, ti);
        t.mapped = true;
        t.nbytes = (size_t)ti->nbytes;

        /* llama.cpp's converter permuted llama's q/k rows per head: HF row (h, i, j) with
         * i∈{0,1}, j<hd/2 sits at GGUF row h*hd + 2j + i. The table says which families (Qwen's,
         * OLMoE's rows are as in HF). */
        int n_head = 0;
        const llmc_arch *A = llmc_arch_by_hf(cfg.architecture);
        bool permuted = A && A->gguf_permute_qk;
        const char *dot = strrchr(ti->name, '.');
        size_t stem = dot ? (size_t)(dot - ti->name) : strlen(ti->name);
        if (permuted && stem >= 7 && strncmp(ti->name + stem - 7, ".attn_q", 7) == 0) n_head = cfg.num_heads;
        else if (permuted && stem >= 7 && strncmp(ti->name + stem - 7, ".attn_k", 7) == 0) n_head = cfg.num_kv_heads;
        int64_t rows = t.shape[0];
        int64_t cols = t.ndim >= 2 ? llmc_tensor_numel(&t) / rows : 1;
        if (n_head) {
            if (rows != (int64_t)n_head * cfg.head_dim) {
                st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tensor '%s' has %lld rows, expected %d heads × %d", path,
                              ti->name, (long long)rows, n_head, cfg.head_dim);
                free(hf);
                goto fail;
            }
        }
        int64_t hd = cfg.head_dim, half = hd / 2;
#define SRC_ROW(r) (n_head ? ((r) / hd) * hd + 2 * ((r) % half) + ((r) % hd) / half : (r))
        if (n_head && t.ndim == 1 && llmc_dtype_block_elems(t.dtype) != 1) {
            st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: tensor '%s': a 1-D %s tensor cannot be un-permuted", path,
                          ti->name, llmc_dtype_name(t.dtype));
            free(hf);
            goto fail;
        }
        if (n_head) {
            /* Same dtype, rows moved. A 1-D bias row is one element of a plain type. */
            size_t rb = t.ndim == 1 ? llmc_dtype_block_bytes(t.dtype) : llmc_dtype_row_bytes(t.dtype, cols);
            uint8_t *o = malloc((size_t)rows * rb);
            if (!o) {
                st = llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory un-permuting '%s'", path, ti->name);
                free(hf);
                goto fail;
            }
            for (int64_t r = 0; r < rows; r++) memcpy(o + (size_t)r * rb, (const uint8_t *)t.data + (size_t)SRC_ROW(r) * rb, rb);
            t.data = o;
            t.owned = o;
            t.mapped = false;
        }
#undef SRC_ROW
        if ((st = add_tensor(set, &t, err)) != LLMC_OK) {
            llmc_err_prefix(err, "%s: ", path);
            goto fail;
        }
    }
    *out = set;
    return LLMC_OK;
fail:
    llmc_tensor_set_free(set);
    return st;
}
