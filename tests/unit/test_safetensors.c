/* safetensors loader: valid single/sharded files, and hostile inputs built here
 * (truncation, offsets past EOF, overlaps, size mismatches, bad JSON, absurd
 * header lengths, duplicates, unknown dtypes, index/shard mismatches) — each must
 * be a clear error naming the file and tensor, never a crash. */
#include "test.h"
#include "formats/safetensors.h"
#include "base/error.h"
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];

static char *path_in(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}

/* Writes an 8-byte LE header length (hlen_override if nonzero), the header text, then data. */
static void write_st(const char *name, const char *header, const void *data, size_t dlen, uint64_t hlen_override) {
    FILE *f = fopen(path_in(name), "wb");
    if (!f) { perror("fopen"); exit(1); }
    uint64_t h = hlen_override ? hlen_override : strlen(header);
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(h >> (8 * i));
    fwrite(b, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (dlen) fwrite(data, 1, dlen, f);
    fclose(f);
}

static void write_text(const char *name, const char *text) {
    FILE *f = fopen(path_in(name), "wb");
    if (!f) { perror("fopen"); exit(1); }
    fputs(text, f);
    fclose(f);
}

static float g_data[64];

/* Loads path and expects failure with code and a message containing both needles. */
static void expect_err(const char *path, llmc_status code, const char *needle1, const char *needle2, int line) {
    llmc_tensor_set *ts = (llmc_tensor_set *)1;
    llmc_error err = {0};
    llmc_status st = llmc_safetensors_load(path, &ts, &err);
    CHECK_MSG(st == code, "line %d: status %d (%s), expected %d", line, st, err.msg, code);
    CHECK_MSG(ts == NULL, "line %d: set not NULL on failure", line);
    CHECK_MSG(needle1 == NULL || strstr(err.msg, needle1), "line %d: '%s' lacks '%s'", line, err.msg, needle1);
    CHECK_MSG(needle2 == NULL || strstr(err.msg, needle2), "line %d: '%s' lacks '%s'", line, err.msg, needle2);
    if (st == LLMC_OK) llmc_tensor_set_free(ts);
}
#define EXPECT_ERR(p, c, n1, n2) expect_err(p, c, n1, n2, __LINE__)

static void test_valid(void) {
    /* a: F32 [2,3] at [0,24); b: BF16 [4] at [24,32); header padded to 8 bytes. */
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
    char padded[512];
    snprintf(padded, sizeof padded, "%s", hdr);
    while (strlen(padded) % 8) strcat(padded, " ");
    write_st("ok.safetensors", padded, g_data, 32, 0);
    llmc_tensor_set *ts = NULL;
    llmc_error err = {0};
    CHECK_INT(llmc_safetensors_load(path_in("ok.safetensors"), &ts, &err), LLMC_OK);
    if (!ts) { fprintf(stderr, "%s\n", err.msg); return; }
    CHECK_INT(llmc_tensor_set_count(ts), 2);
    const llmc_tensor *a = llmc_tensor_set_find(ts, "a"), *b = llmc_tensor_set_find(ts, "b");
    CHECK(a && a->dtype == LLMC_DT_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->nbytes == 24);
    CHECK(a && memcmp(a->data, g_data, 24) == 0);
    CHECK(b && b->dtype == LLMC_DT_BF16 && b->ndim == 1 && b->shape[0] == 4 && b->nbytes == 8);
    CHECK(b && memcmp(b->data, (const char *)g_data + 24, 8) == 0);
    llmc_tensor_set_free(ts);

    /* Unpadded header (length 7 mod 8): F32 data is misaligned and must be copied, same values. */
    char odd[512];
    snprintf(odd, sizeof odd, "%s", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}");
    while (strlen(odd) % 8 != 7) strcat(odd, " ");
    write_st("odd.safetensors", odd, g_data, 12, 0);
    CHECK_INT(llmc_safetensors_load(path_in("odd.safetensors"), &ts, &err), LLMC_OK);
    if (ts) {
        const llmc_tensor *t = llmc_tensor_set_find(ts, "a");
        CHECK(t && ((uintptr_t)t->data % 4) == 0 && memcmp(t->data, g_data, 12) == 0);
        llmc_tensor_set_free(ts);
    }

    /* Zero-size tensors and an empty header object are fine. */
    write_st("empty.safetensors", "{\"z\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[0,0]}}", NULL, 0, 0);
    CHECK_INT(llmc_safetensors_load(path_in("empty.safetensors"), &ts, &err), LLMC_OK);
    if (ts) { CHECK_INT(llmc_tensor_set_count(ts), 1); llmc_tensor_set_free(ts); }
}

static void test_hostile_single(void) {
    /* Truncated: header promises 32 bytes of data, the file has 16. */
    write_st("trunc.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}", g_data, 16, 0);
    EXPECT_ERR(path_in("trunc.safetensors"), LLMC_ERR_FORMAT, "trunc.safetensors", "'a'");
    /* Shorter than the length prefix. */
    write_text("tiny.safetensors", "abc");
    EXPECT_ERR(path_in("tiny.safetensors"), LLMC_ERR_FORMAT, "tiny.safetensors", "truncated");
    /* Offsets far past EOF. */
    write_st("past.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1000000,1000008]}}", g_data, 8, 0);
    EXPECT_ERR(path_in("past.safetensors"), LLMC_ERR_FORMAT, "past.safetensors", "'w'");
    /* Overlapping tensors. */
    write_st("overlap.safetensors",
             "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"y\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
             g_data, 24, 0);
    EXPECT_ERR(path_in("overlap.safetensors"), LLMC_ERR_FORMAT, "overlap", "'y'");
    /* Byte size != dtype x shape. */
    write_st("size.safetensors", "{\"s\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", g_data, 16, 0);
    EXPECT_ERR(path_in("size.safetensors"), LLMC_ERR_FORMAT, "size.safetensors", "'s'");
    /* Malformed JSON. */
    write_st("badjson.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", g_data, 4, 0);
    EXPECT_ERR(path_in("badjson.safetensors"), LLMC_ERR_FORMAT, "badjson.safetensors", "JSON");
    /* Header is JSON but not an object / entry not an object. */
    write_st("arr.safetensors", "[1,2,3]", NULL, 0, 0);
    EXPECT_ERR(path_in("arr.safetensors"), LLMC_ERR_FORMAT, "arr.safetensors", "object");
    write_st("ent.safetensors", "{\"e\":5}", NULL, 0, 0);
    EXPECT_ERR(path_in("ent.safetensors"), LLMC_ERR_FORMAT, "ent.safetensors", "'e'");
    /* Absurd header length (bigger than the limit and than the file). */
    write_st("huge.safetensors", "{}", NULL, 0, 0xFFFFFFFFFFFFull);
    EXPECT_ERR(path_in("huge.safetensors"), LLMC_ERR_FORMAT, "huge.safetensors", "header length");
    write_st("long.safetensors", "{}", NULL, 0, 4096);
    EXPECT_ERR(path_in("long.safetensors"), LLMC_ERR_FORMAT, "long.safetensors", "header length");
    /* Duplicate names. */
    write_st("dup.safetensors",
             "{\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             g_data, 8, 0);
    EXPECT_ERR(path_in("dup.safetensors"), LLMC_ERR_FORMAT, "dup.safetensors", "'d'");
    /* Unknown / unsupported dtypes. */
    write_st("dt.safetensors", "{\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", g_data, 4, 0);
    EXPECT_ERR(path_in("dt.safetensors"), LLMC_ERR_UNSUPPORTED, "dt.safetensors", "'q'");
    write_st("dt2.safetensors", "{\"q\":{\"dtype\":\"WAT\",\"shape\":[1],\"data_offsets\":[0,4]}}", g_data, 4, 0);
    EXPECT_ERR(path_in("dt2.safetensors"), LLMC_ERR_UNSUPPORTED, "WAT", "'q'");
    /* Bad shapes and offsets. */
    write_st("neg.safetensors", "{\"n\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", g_data, 4, 0);
    EXPECT_ERR(path_in("neg.safetensors"), LLMC_ERR_FORMAT, "neg.safetensors", "'n'");
    write_st("big.safetensors", "{\"n\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", g_data, 4, 0);
    EXPECT_ERR(path_in("big.safetensors"), LLMC_ERR_FORMAT, "big.safetensors", "'n'");
    write_st("rev.safetensors", "{\"r\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", g_data, 8, 0);
    EXPECT_ERR(path_in("rev.safetensors"), LLMC_ERR_FORMAT, "rev.safetensors", "'r'");
    write_st("frac.safetensors", "{\"r\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", g_data, 8, 0);
    EXPECT_ERR(path_in("frac.safetensors"), LLMC_ERR_FORMAT, "frac.safetensors", "'r'");
    write_st("nooff.safetensors", "{\"r\":{\"dtype\":\"F32\",\"shape\":[1]}}", g_data, 8, 0);
    EXPECT_ERR(path_in("nooff.safetensors"), LLMC_ERR_FORMAT, "nooff.safetensors", "'r'");
    write_st("dims.safetensors", "{\"r\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", g_data, 8, 0);
    EXPECT_ERR(path_in("dims.safetensors"), LLMC_ERR_UNSUPPORTED, "dims.safetensors", "'r'");
    /* Missing file. */
    EXPECT_ERR(path_in("nope.safetensors"), LLMC_ERR_NOT_FOUND, "nope.safetensors", NULL);
}

static void test_sharded(void) {
    char sub[400];
    snprintf(sub, sizeof sub, "%s/sharded", g_dir);
    mkdir(sub, 0700);
    write_st("sharded/s1.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", g_data, 8, 0);
    write_st("sharded/s2.safetensors", "{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                                       "\"extra\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}", g_data, 8, 0);
    write_st("sharded/s3.safetensors", "{\"c\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[0,4]}}", g_data, 4, 0);
    write_text("sharded/model.safetensors.index.json",
               "{\"metadata\":{\"total_size\":16},\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\",\"c\":\"s3.safetensors\"}}");
    llmc_tensor_set *ts = NULL;
    llmc_error err = {0};
    CHECK_INT(llmc_safetensors_load(sub, &ts, &err), LLMC_OK);
    if (ts) {
        /* 'extra' is not in the index, so (like transformers) it is not loaded. */
        CHECK_INT(llmc_tensor_set_count(ts), 3);
        CHECK(llmc_tensor_set_find(ts, "a") && llmc_tensor_set_find(ts, "b") && llmc_tensor_set_find(ts, "c"));
        llmc_tensor_set_free(ts);
    } else fprintf(stderr, "%s\n", err.msg);

    /* Index naming a tensor its shard lacks. */
    write_text("sharded/lack.index.json", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"zz\":\"s2.safetensors\"}}");
    EXPECT_ERR(path_in("sharded/lack.index.json"), LLMC_ERR_FORMAT, "'zz'", "s2.safetensors");
    /* Missing shard. */
    write_text("sharded/miss.index.json", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"q\":\"gone.safetensors\"}}");
    EXPECT_ERR(path_in("sharded/miss.index.json"), LLMC_ERR_NOT_FOUND, "gone.safetensors", "missing");
    /* A tensor present in two shards, and the index disagreeing about where. */
    write_text("sharded/two.index.json", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\",\"extra\":\"s1.safetensors\"}}");
    EXPECT_ERR(path_in("sharded/two.index.json"), LLMC_ERR_FORMAT, "'extra'", "s2.safetensors");
    /* Shard names escaping the directory, non-string values, no weight_map, bad JSON. */
    write_text("sharded/trav.index.json", "{\"weight_map\":{\"a\":\"../ok.safetensors\"}}");
    EXPECT_ERR(path_in("sharded/trav.index.json"), LLMC_ERR_FORMAT, "trav.index.json", "'a'");
    write_text("sharded/abs.index.json", "{\"weight_map\":{\"a\":\"/etc/passwd\"}}");
    EXPECT_ERR(path_in("sharded/abs.index.json"), LLMC_ERR_FORMAT, "abs.index.json", "'a'");
    write_text("sharded/num.index.json", "{\"weight_map\":{\"a\":5}}");
    EXPECT_ERR(path_in("sharded/num.index.json"), LLMC_ERR_FORMAT, "num.index.json", "'a'");
    write_text("sharded/nowm.index.json", "{\"metadata\":{}}");
    EXPECT_ERR(path_in("sharded/nowm.index.json"), LLMC_ERR_FORMAT, "nowm.index.json", "weight_map");
    write_text("sharded/bad.index.json", "{\"weight_map\":{");
    EXPECT_ERR(path_in("sharded/bad.index.json"), LLMC_ERR_FORMAT, "bad.index.json", "JSON");
    write_text("sharded/dupk.index.json", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s1.safetensors\"}}");
    EXPECT_ERR(path_in("sharded/dupk.index.json"), LLMC_ERR_FORMAT, "dupk.index.json", "'a'");
    /* A truncated shard behind an index is reported with the shard's name. */
    write_st("sharded/t1.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}", g_data, 4, 0);
    write_text("sharded/trunc.index.json", "{\"weight_map\":{\"a\":\"t1.safetensors\"}}");
    EXPECT_ERR(path_in("sharded/trunc.index.json"), LLMC_ERR_FORMAT, "t1.safetensors", "'a'");
    /* A directory with neither file. */
    char empty[400];
    snprintf(empty, sizeof empty, "%s/emptydir", g_dir);
    mkdir(empty, 0700);
    EXPECT_ERR(empty, LLMC_ERR_NOT_FOUND, "emptydir", "model.safetensors");
}

/* Random byte mutations of a valid file: any outcome but a crash, hang or leak
 * (ASan/UBSan run this too); a success must still have every view inside the file. */
static void test_mutations(void) {
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
    size_t hl = strlen(hdr), total = 8 + hl + 32;
    unsigned char *orig = malloc(total), *buf = malloc(total);
    for (int i = 0; i < 8; i++) orig[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(orig + 8, hdr, hl);
    memcpy(orig + 8 + hl, g_data, 32);
    uint64_t r = 12345;
    int ok = 0, bad = 0;
    for (int iter = 0; iter < 400; iter++) {
        memcpy(buf, orig, total);
        int nflip = 1 + (int)(r % 3);
        for (int k = 0; k < nflip; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(r >> 33) % (8 + hl);
            static const char pool[] = "{}[],:\"0123456789-eE.FBI \x00\xff";
            buf[at] = (unsigned char)pool[(r >> 20) % (sizeof pool - 1)];
        }
        size_t len = total;
        if (iter % 7 == 0) len = (size_t)(r >> 40) % total; /* truncations too */
        FILE *f = fopen(path_in("mut.safetensors"), "wb");
        fwrite(buf, 1, len, f);
        fclose(f);
        llmc_tensor_set *ts = NULL;
        llmc_error err = {0};
        if (llmc_safetensors_load(path_in("mut.safetensors"), &ts, &err) == LLMC_OK) {
            ok++;
            for (size_t i = 0; i < llmc_tensor_set_count(ts); i++) {
                const llmc_tensor *t = llmc_tensor_set_at(ts, i);
                CHECK(t->nbytes == (size_t)llmc_tensor_numel(t) * llmc_dtype_block_bytes(t->dtype));
                volatile unsigned char sink = 0;
                for (size_t j = 0; j < t->nbytes; j++) sink ^= ((const unsigned char *)t->data)[j]; /* ASan: in bounds */
                (void)sink;
            }
            llmc_tensor_set_free(ts);
        } else {
            bad++;
            CHECK_MSG(err.msg[0] != 0, "failure without a message");
        }
    }
    fprintf(stderr, "mutations: %d loaded, %d rejected\n", ok, bad);
    CHECK(bad > 0);
    free(orig);
    free(buf);
}

int main(void) {
    for (int i = 0; i < 64; i++) g_data[i] = (float)i * 0.5f - 3.0f;
    snprintf(g_dir, sizeof g_dir, "%s/llmc_st_XXXXXX", test_env("TMPDIR", "/tmp"));
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_valid();
    test_hostile_single();
    test_sharded();
    test_mutations();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_dir);
    return test_summary();
}
