/* Replays the fuzz harnesses' inputs in the ordinary test builds (gcc, release and ASan+UBSan):
 * every committed seed (tests/fuzz/corpus/TARGET) and every reproducer of a fault fuzzing found
 * (tests/fuzz/repro/TARGET), through the same harness code libFuzzer runs, so a fixed crash that
 * comes back fails here without clang. Plus direct checks of what the reproducers must give. */
#include "test.h"
#include <dirent.h>
#include <sys/stat.h>

/* The harnesses, each under its own name (they all define LLVMFuzzerTestOneInput). The Hub's
 * harness compiles src/hub/hub.c and http.c in and is left to scripts/fuzz.sh. */
#define LLVMFuzzerTestOneInput fuzz_one_safetensors
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_gguf
#include "../fuzz/fuzz_gguf.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_tokenizer
#include "../fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_jinja
#include "../fuzz/fuzz_jinja.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_config
#include "../fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_server
#include "../fuzz/fuzz_server.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *, size_t);
static const struct { const char *name; fuzz_fn fn; } targets[] = {
    { "safetensors", fuzz_one_safetensors }, { "gguf", fuzz_one_gguf }, { "tokenizer", fuzz_one_tokenizer },
    { "jinja", fuzz_one_jinja }, { "config", fuzz_one_config }, { "server", fuzz_one_server },
};

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    *n = len > 0 && b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

/* Runs fn on every file in dir; returns how many. */
static int replay_dir(const char *dir, fuzz_fn fn) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int count = 0;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n = 0;
        uint8_t *b = slurp(path, &n);
        CHECK_MSG(b != NULL, "cannot read %s", path);
        if (!b) continue;
        /* an exact-size copy: an over-read past the input is an ASan report here too */
        uint8_t *exact = malloc(n ? n : 1);
        if (n) memcpy(exact, b, n);
        CHECK_INT(fn(exact, n), 0);
        free(exact);
        free(b);
        count++;
    }
    closedir(d);
    return count;
}

static void test_replay(void) {
    const char *root = test_env("LLMC_SOURCE_DIR", ".");
    char dir[1024];
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", root, targets[i].name);
        int seeds = replay_dir(dir, targets[i].fn);
        CHECK_MSG(seeds > 0, "no seeds in %s", dir);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/repro/%s", root, targets[i].name);
        int repros = replay_dir(dir, targets[i].fn);
        printf("%s: %d seeds, %d reproducers replayed\n", targets[i].name, seeds, repros);
    }
}

/* Issue 19 through a GGUF (as `llmc template`, `llmc run` and `llmc serve` load it): the chat
 * template of 12,000 chained filters loads, and applying it ends in the depth error (or renders
 * where the stack allows), never a crash. */
static void test_issue19_gguf(void) {
    const char *root = test_env("LLMC_SOURCE_DIR", ".");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/repro/gguf/issue19-chat-template", root);
    size_t n = 0;
    uint8_t *b = slurp(path, &n);
    CHECK_MSG(b != NULL, "cannot read %s", path);
    if (!b) return;
    const char *gguf = fz_write("issue19.gguf", b, n);
    free(b);
    llmc_chat_template *ct = NULL;
    llmc_error err = { 0 };
    llmc_status st = llmc_chat_template_load(gguf, &ct, &err);
    CHECK_MSG(st == LLMC_OK, "load: %s", err.msg);
    if (st != LLMC_OK) return;
    cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"hi\"}]");
    char *out = NULL;
    size_t len = 0;
    st = llmc_chat_template_apply(ct, msgs, NULL, true, NULL, &out, &len, &err);
    CHECK_MSG((st == LLMC_OK && out && strcmp(out, "1") == 0) ||
                  (st == LLMC_ERR_RANGE && strstr(err.msg, "recursion depth limit")),
              "apply: status %d, error '%s'", (int)st, err.msg);
    free(out);
    cJSON_Delete(msgs);
    llmc_chat_template_free(ct);
}

int main(void) {
    test_replay();
    test_issue19_gguf();
    return test_summary();
}
