/* A tiny GGUF writer for tests: builds files byte by byte so tests can also
 * build broken ones (any count, length, type or offset). */
#ifndef LLMC_TEST_GGUF_WRITER_H
#define LLMC_TEST_GGUF_WRITER_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
} gw_buf;

static void gw_put(gw_buf *b, const void *d, size_t n) {
    if (n == 0) return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n) c *= 2;
        b->p = realloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void gw_u8(gw_buf *b, uint8_t v) { gw_put(b, &v, 1); }
static void gw_u32(gw_buf *b, uint32_t v) { gw_put(b, &v, 4); }
static void gw_u64(gw_buf *b, uint64_t v) { gw_put(b, &v, 8); }
static void gw_f32(gw_buf *b, float v) { gw_put(b, &v, 4); }
static void gw_str(gw_buf *b, const char *s) {
    gw_u64(b, strlen(s));
    gw_put(b, s, strlen(s));
}
static void gw_header(gw_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gw_put(b, "GGUF", 4);
    gw_u32(b, version);
    gw_u64(b, n_tensors);
    gw_u64(b, n_kv);
}
/* value types */
enum { GW_U8 = 0, GW_I8, GW_U16, GW_I16, GW_U32, GW_I32, GW_F32, GW_BOOL, GW_STR, GW_ARR, GW_U64, GW_I64, GW_F64 };
static void gw_kv_u32(gw_buf *b, const char *k, uint32_t v) { gw_str(b, k); gw_u32(b, GW_U32); gw_u32(b, v); }
static void gw_kv_i32(gw_buf *b, const char *k, int32_t v) { gw_str(b, k); gw_u32(b, GW_I32); gw_u32(b, (uint32_t)v); }
static void gw_kv_f32(gw_buf *b, const char *k, float v) { gw_str(b, k); gw_u32(b, GW_F32); gw_f32(b, v); }
static void gw_kv_bool(gw_buf *b, const char *k, int v) { gw_str(b, k); gw_u32(b, GW_BOOL); gw_u8(b, (uint8_t)v); }
static void gw_kv_str(gw_buf *b, const char *k, const char *v) { gw_str(b, k); gw_u32(b, GW_STR); gw_str(b, v); }
static void gw_kv_strs(gw_buf *b, const char *k, const char *const *v, int n) {
    gw_str(b, k);
    gw_u32(b, GW_ARR);
    gw_u32(b, GW_STR);
    gw_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) gw_str(b, v[i]);
}
static void gw_kv_i32s(gw_buf *b, const char *k, const int32_t *v, int n) {
    gw_str(b, k);
    gw_u32(b, GW_ARR);
    gw_u32(b, GW_I32);
    gw_u64(b, (uint64_t)n);
    gw_put(b, v, 4 * (size_t)n);
}
static void gw_kv_f32s(gw_buf *b, const char *k, const float *v, int n) {
    gw_str(b, k);
    gw_u32(b, GW_ARR);
    gw_u32(b, GW_F32);
    gw_u64(b, (uint64_t)n);
    gw_put(b, v, 4 * (size_t)n);
}
/* tensor info: ne in GGUF order (ne[0] innermost) */
static void gw_tensor(gw_buf *b, const char *name, int nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    gw_str(b, name);
    gw_u32(b, (uint32_t)nd);
    for (int i = 0; i < nd; i++) gw_u64(b, ne[i]);
    gw_u32(b, type);
    gw_u64(b, off);
}
static void gw_align(gw_buf *b, size_t a) {
    while (b->n % a) gw_u8(b, 0);
}

/* Writes the buffer to a fresh temporary file; returns its malloc'd path. */
static char *gw_write_tmp(const gw_buf *b) {
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/llmc_gguf_test_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) { free(path); return NULL; }
    size_t off = 0;
    while (off < b->n) {
        ssize_t w = write(fd, b->p + off, b->n - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fd);
    return path;
}
#endif
