/* libFuzzer harness: a GGUF file (metadata, tensor table, and what a model load takes from it):
 * opens it, reads the keys llmc uses, walks the tensor table, builds the config and the tensor
 * set (as stored and dequantized to f32), loads its tokenizer (encode + decode a text) and its
 * chat template (applied to a conversation with tools when a render under small limits
 * finishes). */
#include "fuzz_common.h"
#include "formats/gguf.h"
#include "formats/tensor.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"
#include <cjson/cJSON.h>
#include "model/model.h"

/* llmc_gguf_tensors, then (f32) every tensor widened to F32 as --dtype f32 loads a GGUF. */
static llmc_status gguf_tensors_as(llmc_gguf *g, bool f32, llmc_tensor_set **ts, llmc_error *err) {
    llmc_status st = llmc_gguf_tensors(g, ts, err);
    if (st == LLMC_OK && f32 && (st = llmc_model_tensors_f32(*ts, err)) != LLMC_OK) {
        llmc_tensor_set_free(*ts);
        *ts = NULL;
    }
    return st;
}

static const char *const str_keys[] = { "general.architecture", "general.name", "tokenizer.ggml.model", "tokenizer.ggml.pre",
                                        "tokenizer.chat_template", "llama.rope.scaling.type" };
static const char *const num_keys[] = { "general.alignment", "llama.context_length", "llama.block_count",
                                        "llama.embedding_length", "llama.attention.head_count", "tokenizer.ggml.bos_token_id" };

static void read_keys(const llmc_gguf *g) {
    for (size_t i = 0; i < sizeof str_keys / sizeof str_keys[0]; i++) {
        const char *s;
        size_t n;
        llmc_gguf_get_str_len(g, str_keys[i], &s, &n);
        llmc_gguf_get_str(g, str_keys[i]);
    }
    for (size_t i = 0; i < sizeof num_keys / sizeof num_keys[0]; i++) {
        uint64_t u;
        int64_t v;
        double d;
        bool b;
        llmc_gguf_get_u64(g, num_keys[i], &u);
        llmc_gguf_get_i64(g, num_keys[i], &v);
        llmc_gguf_get_f64(g, num_keys[i], &d);
        llmc_gguf_get_bool(g, num_keys[i], &b);
    }
    const char *const *items;
    const size_t *lens;
    const float *f;
    const int32_t *i32;
    size_t n;
    llmc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &items, &n);
    llmc_gguf_get_str_array_lens(g, "tokenizer.ggml.tokens", &lens);
    llmc_gguf_get_f32_array(g, "tokenizer.ggml.scores", &f, &n);
    llmc_gguf_get_i32_array(g, "tokenizer.ggml.token_type", &i32, &n);
    llmc_gguf_key_count(g);
    size_t nt = llmc_gguf_tensor_count(g);
    for (size_t i = 0; i < nt; i++) {
        llmc_gguf_tensor_info info;
        if (llmc_gguf_tensor_at(g, i, &info)) {
            llmc_gguf_find_tensor(g, info.name);
            free(llmc_gguf_hf_name(info.name));
        }
    }
}

static void model_parts(llmc_gguf *g) {
    llmc_error err;
    llmc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (llmc_gguf_config(g, &cfg, &err) == LLMC_OK) llmc_gguf_apply_rope_scaling(g, &cfg, &err);
    for (int dq = 0; dq < 2; dq++) {
        llmc_tensor_set *set = NULL;
        if (gguf_tensors_as(g, dq, &set, &err) == LLMC_OK) llmc_tensor_set_free(set);
    }
}

static void tokenizer_part(const char *path) {
    llmc_tokenizer *t = NULL;
    llmc_error err;
    if (llmc_tokenizer_load_gguf(path, &t, &err) != LLMC_OK) return;
    static const char text[] = "Hello world! 안녕하세요 <s> 123\n";
    int32_t *ids = NULL;
    size_t n = 0;
    if (llmc_tokenizer_encode(t, text, sizeof text - 1, true, &ids, &n, &err) == LLMC_OK) {
        char *out = NULL;
        size_t len;
        if (llmc_tokenizer_decode(t, ids, n, false, &out, &len, &err) == LLMC_OK) free(out);
    }
    free(ids);
    llmc_tokenizer_free(t);
}

/* src: the file's tokenizer.chat_template (NULL when absent) */
static void template_part(const char *path, const char *src, size_t src_len) {
    llmc_chat_template *ct = NULL;
    llmc_error err;
    if (llmc_chat_template_load(path, &ct, &err) != LLMC_OK) return;
    cJSON *msgs = cJSON_Parse("[{\"role\":\"user\",\"content\":\"Who are you?\"}]");
    cJSON *tools = cJSON_Parse("[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]");
    llmc_template *t = NULL;
    bool fast = false;
    if (src && llmc_template_compile(src, src_len, "gguf", &t, &err) == LLMC_OK) {
        cJSON *vars = cJSON_CreateObject();
        cJSON_AddItemReferenceToObject(vars, "messages", msgs);
        cJSON_AddItemReferenceToObject(vars, "tools", tools);
        llmc_template_limits lim = { .max_steps = 200000, .max_depth = 64, .max_output = 1u << 20,
                                     .max_string = 1u << 20, .max_items = 1u << 14 };
        char *out = NULL;
        size_t len;
        fast = llmc_template_render_ex(t, vars, &lim, &out, &len, &err) == LLMC_OK;
        free(out);
        cJSON_Delete(vars);
        llmc_template_free(t);
    }
    if (fast) {
        char *out = NULL;
        size_t len;
        if (llmc_chat_template_apply(ct, msgs, tools, true, NULL, &out, &len, &err) == LLMC_OK) free(out);
    }
    cJSON_Delete(msgs);
    cJSON_Delete(tools);
    llmc_chat_template_free(ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write("model.gguf", data, size);
    llmc_gguf *g = NULL;
    llmc_error err;
    if (llmc_gguf_open(path, &g, &err) != LLMC_OK) return 0;
    read_keys(g);
    model_parts(g);
    const char *tpl = NULL;
    size_t tpl_len = 0;
    char *tpl_copy = llmc_gguf_get_str_len(g, "tokenizer.chat_template", &tpl, &tpl_len) ? fz_strdup(tpl, tpl_len) : NULL;
    llmc_gguf_free(g);
    tokenizer_part(path);
    template_part(path, tpl_copy, tpl_len);
    free(tpl_copy);
    return 0;
}
