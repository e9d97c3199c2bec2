/* Unit tests for the Hub client's pure parts: sha256, repo ids, file selection, globs,
 * etag normalisation, safe paths, token resolution and login/logout (no network). */
#include "test.h"
#include "hub/hub.h"
#include "hub/hub_internal.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void sha_hex(const char *s, size_t n, char out[65]) {
    hub_sha256 h;
    hub_sha256_init(&h);
    hub_sha256_update(&h, s, n);
    hub_sha256_final(&h, out);
}

static void test_sha256(void) {
    char hex[65];
    sha_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(m, strlen(m), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* One million 'a' fed in odd-sized pieces: exercises the block buffering. */
    hub_sha256 h;
    hub_sha256_init(&h);
    char buf[997];
    memset(buf, 'a', sizeof buf);
    size_t left = 1000000;
    while (left) { size_t k = left < sizeof buf ? left : sizeof buf; hub_sha256_update(&h, buf, k); left -= k; }
    hub_sha256_final(&h, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_repo_ids(void) {
    CHECK(llmc_hub_is_repo_id("HuggingFaceTB/SmolLM2-135M-Instruct"));
    CHECK(llmc_hub_is_repo_id("meta-llama/Llama-3.2-1B"));
    CHECK(llmc_hub_is_repo_id("Qwen/Qwen3-0.6B"));
    CHECK(!llmc_hub_is_repo_id("gpt2"));            /* legacy ids without org are not accepted */
    CHECK(!llmc_hub_is_repo_id("/abs/path"));
    CHECK(!llmc_hub_is_repo_id("./rel/path"));
    CHECK(!llmc_hub_is_repo_id("a/b/c"));
    CHECK(!llmc_hub_is_repo_id("org/.."));
    CHECK(!llmc_hub_is_repo_id("org/a..b"));
    CHECK(!llmc_hub_is_repo_id("org/a--b"));
    CHECK(!llmc_hub_is_repo_id("org/"));
    CHECK(!llmc_hub_is_repo_id("org/na me"));
    CHECK(!llmc_hub_is_repo_id(""));
    CHECK(!llmc_hub_is_repo_id(NULL));
    CHECK(!llmc_hub_is_repo_id("tests/unit"));      /* exists relative to the source root */
    char *f = hub_repo_folder("org/name");
    CHECK_STR(f, "models--org--name");
    free(f);
    CHECK(hub_is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
    CHECK(!hub_is_commit_hash("main"));
    CHECK(!hub_is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
}

static void test_paths_etags(void) {
    CHECK(hub_safe_relpath("config.json"));
    CHECK(hub_safe_relpath("onnx/model.onnx"));
    CHECK(!hub_safe_relpath("../x"));
    CHECK(!hub_safe_relpath("a/../x"));
    CHECK(!hub_safe_relpath("/etc/passwd"));
    CHECK(!hub_safe_relpath("a//b"));
    CHECK(!hub_safe_relpath("a/./b"));
    CHECK(!hub_safe_relpath("a\\b"));
    CHECK(!hub_safe_relpath(""));
    char *e = hub_normalize_etag("W/\"abc123\"");
    CHECK_STR(e, "abc123");
    free(e);
    e = hub_normalize_etag("\"deadbeef\"");
    CHECK_STR(e, "deadbeef");
    free(e);
    e = hub_normalize_etag("plain");
    CHECK_STR(e, "plain");
    free(e);
    CHECK(hub_glob_match("*.json", "config.json"));
    CHECK(hub_glob_match("*.json", "sub/dir/x.json"));   /* fnmatch: '*' crosses '/' as in huggingface_hub */
    CHECK(hub_glob_match("onnx/", "onnx/model.onnx"));
    CHECK(!hub_glob_match("*.bin", "model.safetensors"));
    CHECK(hub_glob_match("model-0000[12]-*", "model-00001-of-00002.safetensors"));
    char *u = hub_url_join("http://127.0.0.1:5/a/b/resolve/main/x", "/api/resolve-cache/x?y=1");
    CHECK_STR(u, "http://127.0.0.1:5/api/resolve-cache/x?y=1");
    free(u);
    CHECK(hub_same_origin("http://127.0.0.1:5/a", "http://127.0.0.1:5/b"));
    CHECK(hub_same_origin("https://HuggingFace.co/a", "https://huggingface.co:443/b"));
    CHECK(!hub_same_origin("http://127.0.0.1:5/a", "http://localhost:5/a"));
    CHECK(!hub_same_origin("http://127.0.0.1:5/a", "http://127.0.0.1:6/a"));
    CHECK(!hub_same_origin("https://huggingface.co/a", "https://cdn-lfs.hf.co/a"));
    char *q = hub_url_quote("a b/c?.json", true);
    CHECK_STR(q, "a%20b/c%3F.json");
    free(q);
}

static int selected(const char *const *paths, int n, const unsigned char *sel, const char *name) {
    for (int i = 0; i < n; i++) if (strcmp(paths[i], name) == 0) return sel[i];
    return -1;
}

static void test_selection(void) {
    const char *repo[] = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                          "special_tokens_map.json", "chat_template.jinja", "model-00001-of-00002.safetensors",
                          "model-00002-of-00002.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                          "original/consolidated.00.pth", "onnx/model.onnx", "README.md", ".gitattributes",
                          "tokenizer.model", "consolidated.safetensors", "model.gguf", "sub/config.json"};
    int n = (int)(sizeof repo / sizeof repo[0]);
    unsigned char sel[32];
    hub_select_files(repo, n, NULL, 0, sel);
    const char *want[] = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                          "special_tokens_map.json", "chat_template.jinja", "model-00001-of-00002.safetensors",
                          "model-00002-of-00002.safetensors", "model.safetensors.index.json"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) CHECK_MSG(selected(repo, n, sel, want[k]) == 1, "%s", want[k]);
    const char *skip[] = {"pytorch_model.bin", "original/consolidated.00.pth", "onnx/model.onnx", "README.md",
                          ".gitattributes", "tokenizer.model", "consolidated.safetensors", "model.gguf", "sub/config.json"};
    for (size_t k = 0; k < sizeof skip / sizeof skip[0]; k++) CHECK_MSG(selected(repo, n, sel, skip[k]) == 0, "%s", skip[k]);

    /* No safetensors: the PyTorch checkpoint is the weights; no tokenizer.json: slow tokenizer files. */
    const char *old[] = {"config.json", "pytorch_model.bin", "vocab.json", "merges.txt", "tokenizer_config.json", "flax_model.msgpack"};
    hub_select_files(old, 6, NULL, 0, sel);
    CHECK(selected(old, 6, sel, "pytorch_model.bin") == 1);
    CHECK(selected(old, 6, sel, "vocab.json") == 1);
    CHECK(selected(old, 6, sel, "merges.txt") == 1);
    CHECK(selected(old, 6, sel, "flax_model.msgpack") == 0);

    const char *inc[] = {"*.gguf", "onnx/"};
    hub_select_files(repo, n, inc, 2, sel);
    CHECK(selected(repo, n, sel, "model.gguf") == 1);
    CHECK(selected(repo, n, sel, "onnx/model.onnx") == 1);
    CHECK(selected(repo, n, sel, "config.json") == 0);
}

static void test_login(void) {
    char tmpl[] = "/tmp/llmc-hub-unit.XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir) return;
    char home[512], tokf[600];
    snprintf(home, sizeof home, "%s/hfhome", dir);
    snprintf(tokf, sizeof tokf, "%s/token", home);
    llmc_error err = {0};
    CHECK_INT(llmc_hub_login("  hf_abc123\n", home, &err), LLMC_OK);
    struct stat st;
    CHECK(stat(tokf, &st) == 0 && (st.st_mode & 0777) == 0600);
    FILE *f = fopen(tokf, "r");
    char buf[64] = "";
    if (f) { if (!fgets(buf, sizeof buf, f)) buf[0] = 0; fclose(f); }
    CHECK_STR(buf, "hf_abc123");
    CHECK(llmc_hub_login("", home, &err) != LLMC_OK);
    CHECK(llmc_hub_login("two words", home, &err) != LLMC_OK);

    /* Token resolution order: explicit, HF_TOKEN, token file under HF_HOME. */
    setenv("HF_HOME", home, 1);
    unsetenv("HF_TOKEN_PATH");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_TOKEN");
    char *t = hub_resolve_token(NULL);
    CHECK_STR(t, "hf_abc123");
    free(t);
    setenv("HF_TOKEN", "hf_env", 1);
    t = hub_resolve_token(NULL);
    CHECK_STR(t, "hf_env");
    free(t);
    t = hub_resolve_token("hf_explicit");
    CHECK_STR(t, "hf_explicit");
    free(t);
    unsetenv("HF_TOKEN");
    CHECK_INT(llmc_hub_logout(home, &err), LLMC_OK);
    CHECK(access(tokf, F_OK) != 0);
    CHECK_INT(llmc_hub_logout(home, &err), LLMC_OK); /* nothing to remove is fine */
    t = hub_resolve_token(NULL);
    CHECK(t == NULL);
    free(t);
    char *c = hub_default_cache_dir();
    char want[600];
    snprintf(want, sizeof want, "%s/hub", home);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    free(c);
    c = hub_default_cache_dir();
    CHECK_STR(c, want);
    free(c);
    rmdir(home);
    rmdir(dir);
}

static void test_bad_args(void) {
    llmc_hub_opts o;
    llmc_hub_opts_default(&o);
    CHECK_INT(o.offline, -1);
    o.offline = 1;
    o.cache_dir = "/nonexistent-llmc-cache";
    char *dir = NULL;
    llmc_error err = {0};
    CHECK_INT(llmc_hub_snapshot("not a repo", &o, &dir, &err), LLMC_ERR_INVALID_ARG);
    CHECK(dir == NULL);
    o.revision = "../../etc";
    CHECK_INT(llmc_hub_snapshot("org/name", &o, &dir, &err), LLMC_ERR_INVALID_ARG);
    o.revision = NULL;
    CHECK_INT(llmc_hub_snapshot("org/name", &o, &dir, &err), LLMC_ERR_NOT_FOUND);
    CHECK(strstr(err.msg, "offline") != NULL);
}

static void put(const char *path, const char *text) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    CHECK(system(cmd) == 0);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) { fputs(text, f); fclose(f); }
}

/* Offline resolution over a hand-made cache: refs, commit-hash lookups, completeness checks
 * (huggingface_hub's trees/<commit>.json listing, safetensors index shards). */
static void test_offline_cache(void) {
    char tmpl[] = "/tmp/llmc-hub-cache.XXXXXX";
    char *root = mkdtemp(tmpl);
    CHECK(root != NULL);
    if (!root) return;
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    char p[1024], snap[1024];
    snprintf(snap, sizeof snap, "%s/models--org--m/snapshots/%s", root, commit);
    snprintf(p, sizeof p, "%s/models--org--m/refs/main", root); put(p, commit);
    snprintf(p, sizeof p, "%s/config.json", snap); put(p, "{}");
    snprintf(p, sizeof p, "%s/tokenizer.json", snap); put(p, "{}");
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", snap);
    put(p, "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"b\": \"model-2.safetensors\"}}");
    snprintf(p, sizeof p, "%s/model-1.safetensors", snap); put(p, "x");

    llmc_hub_opts o;
    llmc_hub_opts_default(&o);
    o.offline = 1;
    o.cache_dir = root;
    char *dir = NULL;
    llmc_error err = {0};
    /* A shard named by the index is missing: not usable. */
    CHECK_INT(llmc_hub_snapshot("org/m", &o, &dir, &err), LLMC_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "model-2.safetensors") != NULL, "%s", err.msg);
    snprintf(p, sizeof p, "%s/model-2.safetensors", snap); put(p, "y");
    CHECK_INT(llmc_hub_snapshot("org/m", &o, &dir, &err), LLMC_OK);
    CHECK_STR(dir, snap);
    free(dir);
    dir = NULL;
    o.revision = commit;
    CHECK_INT(llmc_hub_snapshot("org/m", &o, &dir, &err), LLMC_OK);
    free(dir);
    dir = NULL;
    o.revision = "v1"; /* no such ref */
    CHECK_INT(llmc_hub_snapshot("org/m", &o, &dir, &err), LLMC_ERR_NOT_FOUND);
    o.revision = NULL;
    /* huggingface_hub's tree listing names a selected file that is not there. */
    snprintf(p, sizeof p, "%s/models--org--m/trees/%s.json", root, commit);
    put(p, "{\"format_version\": 1, \"files\": {\"config.json\": {\"size\": 2, \"blob_id\": \"x\"}, "
           "\"generation_config.json\": {\"size\": 2, \"blob_id\": \"y\"}, \"README.md\": {\"size\": 2, \"blob_id\": \"z\"}}}");
    CHECK_INT(llmc_hub_snapshot("org/m", &o, &dir, &err), LLMC_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "generation_config.json") != NULL, "%s", err.msg);
    /* --include asks only for what is there. */
    const char *inc[] = {"config.json"};
    o.include = inc;
    o.n_include = 1;
    CHECK_INT(llmc_hub_snapshot("org/m", &o, &dir, &err), LLMC_OK);
    free(dir);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}

/* GGUF repos: the file a tag picks (hub_gguf.c). */
static const char *gguf_pick(const char *const *paths, int n, const char *quant, unsigned char *sel, llmc_error *err) {
    if (hub_select_gguf(paths, n, quant, "org/x-GGUF", sel, err) != LLMC_OK) return NULL;
    return hub_gguf_first_selected(paths, n, sel);
}

static void test_gguf_pick(void) {
    const char *repo[] = {"README.md", "x-Q4_K.gguf", "x-Q4_K_M.gguf", "x-q8_0.gguf", "x-IQ2_XS.gguf",
                          "x-F16-00002-of-00002.gguf", "x-F16-00001-of-00002.gguf", "Q5_K_S/x-Q5_K_S.gguf"};
    int n = (int)(sizeof repo / sizeof repo[0]);
    unsigned char sel[8];
    llmc_error err = {0};
    CHECK_STR(gguf_pick(repo, n, NULL, sel, &err), "x-Q4_K_M.gguf");               /* the default pick */
    CHECK_STR(gguf_pick(repo, n, "Q4_K", sel, &err), "x-Q4_K.gguf");               /* not Q4_K_M */
    CHECK_STR(gguf_pick(repo, n, "Q8_0", sel, &err), "x-q8_0.gguf");               /* case-insensitive */
    CHECK_STR(gguf_pick(repo, n, "iq2_xs", sel, &err), "x-IQ2_XS.gguf");
    CHECK_STR(gguf_pick(repo, n, "Q5_K_S", sel, &err), "Q5_K_S/x-Q5_K_S.gguf");   /* in a folder */
    CHECK_STR(gguf_pick(repo, n, "F16", sel, &err), "x-F16-00001-of-00002.gguf"); /* a split: its first part */
    CHECK(sel[5] && sel[6] && !sel[0] && !sel[1] && !sel[2]);                      /* ...and every part, only them */
    CHECK(gguf_pick(repo, n, "Q2_K", sel, &err) == NULL && err.code == LLMC_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "'Q2_K'") && strstr(err.msg, "Q4_K_M") && strstr(err.msg, "IQ2_XS") && strstr(err.msg, "F16"), "%s", err.msg);
    CHECK_MSG(!strstr(err.msg, "00002"), "a split file is listed once: %s", err.msg);
    const char *two[] = {"m-Q8_0.gguf", "m-Q2_K.gguf"};
    CHECK(gguf_pick(two, 2, NULL, sel, &err) == NULL && strstr(err.msg, "Q8_0") && strstr(err.msg, ":QUANT"));
    const char *one[] = {"weird-name.gguf", "README.md"};
    CHECK_STR(gguf_pick(one, 2, NULL, sel, &err), "weird-name.gguf");
    const char *none[] = {"README.md"};
    CHECK(gguf_pick(none, 1, NULL, sel, &err) == NULL && strstr(err.msg, "no .gguf"));
    const char *st[] = {"model.safetensors", "x-Q8_0.gguf"};
    CHECK(hub_has_hf_weights(st, 2) && !hub_has_hf_weights(two, 2) && hub_count_gguf(repo, n) == 7);

    char r[256], q[40];
    CHECK(hub_split_quant_tag("org/x-GGUF:Q4_K_M", r, sizeof r, q, sizeof q) && !strcmp(r, "org/x-GGUF") && !strcmp(q, "Q4_K_M"));
    CHECK(!hub_split_quant_tag("org/x", r, sizeof r, q, sizeof q));
    CHECK(!hub_split_quant_tag("org/x:", r, sizeof r, q, sizeof q));
    CHECK(!hub_split_quant_tag("org/x:a/b", r, sizeof r, q, sizeof q));
    CHECK(!hub_split_quant_tag("org/x:Q4:K", r, sizeof r, q, sizeof q));
    CHECK(llmc_hub_is_repo_id("org/x-GGUF:q8_0") && !llmc_hub_is_repo_id("org/x:"));
}

int main(void) {
    test_gguf_pick();
    test_offline_cache();
    test_sha256();
    test_repo_ids();
    test_paths_etags();
    test_selection();
    test_login();
    test_bad_args();
    return test_summary();
}
