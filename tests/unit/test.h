/* Minimal unit-test helpers: CHECK keeps going and counts; the process exit
 * status says whether any check failed. Prints "N passed, N failed". */
#ifndef LLMC_TEST_H
#define LLMC_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass, t_fail;
#define CHECK(cond) do { if (cond) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { if (cond) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (a_ && b_ && strcmp(a_, b_) == 0) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: CHECK_STR failed:\n  got:      %s\n  expected: %s\n", __FILE__, __LINE__, \
            a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } } while (0)
#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ == b_) t_pass++; else { t_fail++; \
    fprintf(stderr, "%s:%d: CHECK_INT failed: %s = %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); } } while (0)

static inline int test_summary(void) {
    printf("%d passed, %d failed\n", t_pass, t_fail);
    return t_fail ? 1 : 0;
}

/* Path helpers from the ctest environment. */
static inline const char *test_env(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}
/* tests/fixtures as unpacked in the build tree (tests/CMakeLists.txt sets LLMC_FIXTURE_DIR). */
static inline const char *test_fixture_dir(void) { return test_env("LLMC_FIXTURE_DIR", "build/fixtures"); }
/* The default model, fetched by ctest's setup.default_model. Missing is a failure, not a skip:
   prints why and exits 1. */
static inline const char *test_smollm2_gguf(void) {
    const char *p = getenv("LLMC_GGUF_SMOLLM2");
    FILE *f = p && *p ? fopen(p, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "FAIL: SmolLM2 GGUF not found at '%s' (scripts/fetch-default-model.sh fetches it)\n", p ? p : "");
        exit(1);
    }
    fclose(f);
    return p;
}
#endif
