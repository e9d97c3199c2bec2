/* Reads a tokenizer from a .gguf file's tokenizer.ggml.* metadata (through the GGUF
 * reader in formats/) and builds it with llmc_tokenizer_from_gguf. */
#include "tokenizer/tokenizer.h"
#include "base/error.h"
#include "formats/gguf.h"
#include <stdlib.h>

static int32_t get_id(const llmc_gguf *g, const char *key) {
    int64_t v;
    return llmc_gguf_get_i64(g, key, &v) && v >= 0 && v < INT32_MAX ? (int32_t)v : -1;
}

static int get_flag(const llmc_gguf *g, const char *key) {
    bool b;
    return llmc_gguf_get_bool(g, key, &b) ? (int)b : -1;
}

llmc_status llmc_tokenizer_load_gguf(const char *path, llmc_tokenizer **out, llmc_error *err) {
    *out = NULL;
    llmc_gguf *g = NULL;
    llmc_status rc = llmc_gguf_open(path, &g, err);
    if (rc) return rc;
    llmc_tokenizer_gguf_parts p = {0};
    p.model = llmc_gguf_get_str(g, "tokenizer.ggml.model");
    p.pre = llmc_gguf_get_str(g, "tokenizer.ggml.pre");
    if (!p.model) { llmc_gguf_free(g); return llmc_err(err, LLMC_ERR_FORMAT, "%s: no tokenizer.ggml.model", path); }
    if (!llmc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &p.tokens, &p.n_tokens)) {
        llmc_gguf_free(g);
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: no tokenizer.ggml.tokens string array", path);
    }
    size_t n;
    const float *scores;
    if (llmc_gguf_get_f32_array(g, "tokenizer.ggml.scores", &scores, &n) && n == p.n_tokens) p.scores = scores;
    const int32_t *types;
    if (llmc_gguf_get_i32_array(g, "tokenizer.ggml.token_type", &types, &n) && n == p.n_tokens) p.token_types = types;
    if (!llmc_gguf_get_str_array(g, "tokenizer.ggml.merges", &p.merges, &p.n_merges)) { p.merges = NULL; p.n_merges = 0; }
    p.bos_id = get_id(g, "tokenizer.ggml.bos_token_id");
    p.eos_id = get_id(g, "tokenizer.ggml.eos_token_id");
    p.unk_id = get_id(g, "tokenizer.ggml.unknown_token_id");
    p.pad_id = get_id(g, "tokenizer.ggml.padding_token_id");
    p.add_bos = get_flag(g, "tokenizer.ggml.add_bos_token");
    p.add_eos = get_flag(g, "tokenizer.ggml.add_eos_token");
    rc = llmc_tokenizer_from_gguf(&p, out, err);
    if (rc) llmc_err_prefix(err, "%s: ", path);
    llmc_gguf_free(g);
    return rc;
}
