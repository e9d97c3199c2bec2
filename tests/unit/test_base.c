/* base/: UTF-8, string buffer, JSON errors, half-precision conversions, tensor set. */
#include "test.h"
#include "base/file.h"
#include <unistd.h>
#include <fcntl.h>
#include "base/json.h"
#include "base/strbuf.h"
#include "base/utf8.h"
#include "formats/tensor.h"

static void test_utf8(void) {
    size_t bad = 0;
    CHECK(llmc_utf8_valid("\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", 9, &bad)); /* 한국어 */
    CHECK(!llmc_utf8_valid("ab\xc0\xaf", 4, &bad) && bad == 2);   /* overlong */
    CHECK(!llmc_utf8_valid("\xed\xa0\x80", 3, &bad) && bad == 0); /* surrogate */
    CHECK(!llmc_utf8_valid("\xf4\x90\x80\x80", 4, &bad));         /* > U+10FFFF */
    CHECK_INT(llmc_utf8_complete_prefix("a\xed\x95", 3), 1);
    CHECK_INT(llmc_utf8_complete_prefix("a\xed\x95\x9c", 4), 4);
    CHECK_INT(llmc_utf8_complete_prefix("\xf0\x9f\x98", 3), 0);
    char out[4];
    CHECK_INT(llmc_utf8_encode(0x1F600, out), 4);
    uint32_t cp;
    CHECK_INT(llmc_utf8_decode((const unsigned char *)out, 4, &cp), 4);
    CHECK_INT(cp, 0x1F600);
}

static void test_strbuf(void) {
    llmc_strbuf sb;
    llmc_sb_init(&sb);
    for (int i = 0; i < 1000; i++) llmc_sb_printf(&sb, "%d,", i);
    CHECK(sb.len > 3000 && !sb.oom);
    CHECK(strncmp(sb.data, "0,1,2,", 6) == 0);
    char *s = llmc_sb_take(&sb);
    CHECK(sb.data == NULL);
    free(s);
}

static void test_json(void) {
    llmc_error err = {0};
    cJSON *j = llmc_json_parse("{\"a\": 1,\n \"b\": [1,2,}", 22, "x.json", &err);
    CHECK(j == NULL);
    CHECK_MSG(strstr(err.msg, "x.json") && strstr(err.msg, "line 2"), "%s", err.msg);
    j = llmc_json_parse("{\"a\": 3, \"s\": \"t\"} x", 20, "y.json", &err);
    CHECK(j == NULL && strstr(err.msg, "extra data"));
    j = llmc_json_parse("{\"a\": 3, \"s\": \"t\", \"f\": 1.5}", 28, "z.json", &err);
    long long a;
    double f;
    CHECK(j && llmc_json_get_int(j, "a", &a) && a == 3);
    CHECK(!llmc_json_get_int(j, "f", &a));
    CHECK(llmc_json_get_double(j, "f", &f) && f == 1.5);
    CHECK_STR(llmc_json_get_string(j, "s"), "t");
    cJSON_Delete(j);
}

static void test_half(void) {
    float vals[] = {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333333f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        float back = llmc_f16_to_f32(llmc_f32_to_f16(vals[i]));
        CHECK_MSG(fabsf(back - vals[i]) <= fabsf(vals[i]) * 1e-3f, "f16 %g -> %g", vals[i], back);
        float bb = llmc_bf16_to_f32(llmc_f32_to_bf16(vals[i]));
        CHECK_MSG(fabsf(bb - vals[i]) <= fabsf(vals[i]) * 1e-2f, "bf16 %g -> %g", vals[i], bb);
    }
    CHECK_INT(llmc_f32_to_f16(1.0f), 0x3C00);
    CHECK_INT(llmc_f32_to_bf16(1.0f), 0x3F80);
    CHECK_INT(llmc_f32_to_f16(5.9604645e-08f), 0x0001); /* smallest subnormal */
    CHECK(isinf(llmc_f16_to_f32(llmc_f32_to_f16(1e6f))));
}

static void test_tensor_set(void) {
    llmc_error err = {0};
    llmc_tensor_set *s = llmc_tensor_set_new();
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "layer.%d.w", i);
        llmc_tensor t = {.name = strdup(name), .dtype = LLMC_DT_F32, .ndim = 1, .shape = {i + 1}};
        CHECK(llmc_tensor_set_add(s, &t, &err) == LLMC_OK);
    }
    llmc_tensor dup = {.name = strdup("layer.7.w")};
    CHECK(llmc_tensor_set_add(s, &dup, &err) == LLMC_ERR_FORMAT);
    free(dup.name);
    const llmc_tensor *t = llmc_tensor_set_find(s, "layer.123.w");
    CHECK(t && t->shape[0] == 124);
    CHECK(llmc_tensor_set_find(s, "nope") == NULL);
    CHECK_INT(llmc_tensor_set_count(s), 300);
    CHECK_INT(llmc_dtype_row_bytes(LLMC_DT_Q4_1, 64), 40);
    llmc_tensor_set_free(s);
}

typedef struct { int calls, finished; uint64_t done, total; } prefetch_seen;
static void on_prefetch(void *user, const char *path, uint64_t done, uint64_t total, int finished) {
    (void)path;
    prefetch_seen *s = user;
    s->calls++;
    s->finished += finished;
    s->done = done;
    s->total = total;
}

/* llmc_file_prefetch: a file out of the page cache is read with progress to its size; a file in
 * memory is skipped without a call; a missing file is left to its loader. */
static void test_prefetch(void) {
    char path[4096]; /* in the build tree, on disk: a tmpfs /tmp keeps every page "in memory" */
    snprintf(path, sizeof path, "%s/llmc_prefetch_XXXXXX", test_env("LLMC_BUILD_DIR", "."));
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    size_t size = 24u << 20;
    char *buf = calloc(1, 1 << 20);
    for (size_t off = 0; buf && off < size; off += 1 << 20) CHECK(write(fd, buf, 1 << 20) == 1 << 20);
    free(buf);
    fsync(fd);
    const char *files[] = {path, "/nonexistent/llmc.gguf"};
    llmc_error err = {0};
    prefetch_seen warm = {0};
    CHECK(llmc_file_prefetch(files, 2, on_prefetch, &warm, &err) == LLMC_OK);
    CHECK_INT(warm.calls, 0); /* just written: in memory */
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* clean pages: dropped */
    prefetch_seen cold = {0};
    CHECK(llmc_file_prefetch(files, 2, on_prefetch, &cold, &err) == LLMC_OK);
    CHECK_INT(cold.finished, 1);
    CHECK(cold.calls >= 3); /* 8 MiB chunks */
    CHECK(cold.done == size && cold.total == size);
    close(fd);
    unlink(path);
}

int main(void) {
    test_prefetch();
    test_utf8();
    test_strbuf();
    test_json();
    test_half();
    test_tensor_set();
    return test_summary();
}
