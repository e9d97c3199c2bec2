/* libFuzzer harness: safetensors. One part: a single .safetensors file. Several parts (FZ_SEP):
 * model.safetensors.index.json, then the shards it may name, written as s1.safetensors,
 * s2.safetensors, ... beside it. Loads the set and reads the first and last byte of every tensor
 * (a view past the mapping is an ASan report, not a silent read). */
#include "fuzz_common.h"
#include "formats/safetensors.h"
#include "formats/tensor.h"

static void touch(const llmc_tensor_set *set) {
    volatile uint8_t sink = 0;
    size_t n = llmc_tensor_set_count(set);
    for (size_t i = 0; i < n; i++) {
        const llmc_tensor *t = llmc_tensor_set_at(set, i);
        if (!t) continue;
        (void)llmc_tensor_numel(t);
        if (t->data && t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
        llmc_tensor_set_find(set, t->name);
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_tmpdir();
    fz_parts fp;
    fz_split(data, size, &fp);
    char name[32];
    for (int i = 1; i < FZ_MAX_PARTS; i++) { snprintf(name, sizeof name, "s%d.safetensors", i); fz_remove(name); }
    const char *path;
    if (fp.count == 1) path = fz_write("single.safetensors", data, size);
    else {
        for (int i = 1; i < fp.count; i++) {
            snprintf(name, sizeof name, "s%d.safetensors", i);
            fz_write(name, fp.p[i], fp.n[i]);
        }
        path = fz_write("model.safetensors.index.json", fp.p[0], fp.n[0]);
    }
    llmc_tensor_set *set = NULL;
    llmc_error err;
    if (llmc_safetensors_load(path, &set, &err) == LLMC_OK) {
        touch(set);
        llmc_tensor_set_free(set);
    }
    return 0;
}
