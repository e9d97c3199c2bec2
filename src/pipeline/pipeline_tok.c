/* The tokenizer and chat template of a loaded pipeline, for bindings (the Python package's
 * pipe.tokenizer): encode, decode, apply_chat_template and the special tokens, with exactly the
 * behaviour of `llmc tokenize`, `llmc detokenize` and `llmc template`. Also what a binding needs
 * beside them: freeing the library's allocations, and the Hub login. */
#include "pipeline/pipeline_internal.h"
#include "base/error.h"
#include "base/json.h"
#include "hub/hub.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void llmc_free(void *ptr) { free(ptr); }

static llmc_status need_tok(const llmc_pipeline *p, const llmc_tokenizer **t, llmc_error *err) {
    *t = p ? llmc_pipeline_tokenizer(p) : NULL;
    if (!p) return llmc_err(err, LLMC_ERR_INVALID_ARG, "no pipeline");
    if (!*t) return llmc_err(err, LLMC_ERR_NOT_FOUND, "the model has no tokenizer (tokenizer.json)");
    return LLMC_OK;
}

llmc_status llmc_pipeline_encode(const llmc_pipeline *p, const char *text, size_t len, bool add_special_tokens, int32_t **ids,
                                 size_t *n, llmc_error *err) {
    *ids = NULL;
    *n = 0;
    const llmc_tokenizer *t;
    llmc_status st = need_tok(p, &t, err);
    if (st) return st;
    return llmc_tokenizer_encode(t, text ? text : "", text ? len : 0, add_special_tokens, ids, n, err);
}

llmc_status llmc_pipeline_decode(const llmc_pipeline *p, const int32_t *ids, size_t n, bool skip_special_tokens, char **text,
                                 llmc_error *err) {
    *text = NULL;
    const llmc_tokenizer *t;
    llmc_status st = need_tok(p, &t, err);
    if (st) return st;
    size_t len = 0;
    return llmc_tokenizer_decode(t, ids, n, skip_special_tokens, text, &len, err);
}

llmc_status llmc_pipeline_apply_template(const llmc_pipeline *p, const char *messages_json, const char *tools_json,
                                         bool add_generation_prompt, char **text, llmc_error *err) {
    *text = NULL;
    if (!p || !messages_json) return llmc_err(err, LLMC_ERR_INVALID_ARG, "apply_template: a pipeline and messages are needed");
    const llmc_chat_template *ct = llmc_pipeline_chat_template(p, err);
    if (!ct) return err && err->code ? err->code : LLMC_ERR_TEMPLATE;
    cJSON *msgs = llmc_json_parse(messages_json, strlen(messages_json), "messages", err), *tools = NULL;
    if (!msgs) return err ? err->code : LLMC_ERR_FORMAT;
    llmc_template_json_mark_floats(msgs, messages_json, strlen(messages_json));
    llmc_status st = cJSON_IsArray(msgs) ? LLMC_OK : llmc_err(err, LLMC_ERR_FORMAT, "messages: expected a JSON array of messages");
    if (!st && tools_json) {
        tools = llmc_json_parse(tools_json, strlen(tools_json), "tools", err);
        if (!tools) st = err ? err->code : LLMC_ERR_FORMAT;
        else llmc_template_json_mark_floats(tools, tools_json, strlen(tools_json));
    }
    size_t len = 0;
    if (!st) st = llmc_chat_template_apply(ct, msgs, tools, add_generation_prompt, NULL, text, &len, err);
    cJSON_Delete(tools);
    cJSON_Delete(msgs);
    return st;
}

static void add_token(cJSON *o, const llmc_tokenizer *t, const char *which) {
    const char *s = llmc_tokenizer_special(t, which);
    char key[32];
    snprintf(key, sizeof key, "%s_id", which);
    if (!s) {
        cJSON_AddNullToObject(o, which);
        cJSON_AddNullToObject(o, key);
        return;
    }
    cJSON_AddStringToObject(o, which, s);
    int32_t id = llmc_tokenizer_token_to_id(t, s);
    if (id >= 0) cJSON_AddNumberToObject(o, key, id);
    else cJSON_AddNullToObject(o, key);
}

llmc_status llmc_pipeline_tokenizer_info(const llmc_pipeline *p, char **json, llmc_error *err) {
    *json = NULL;
    const llmc_tokenizer *t;
    llmc_status st = need_tok(p, &t, err);
    if (st) return st;
    cJSON *o = cJSON_CreateObject();
    if (!o) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    add_token(o, t, "bos_token");
    add_token(o, t, "eos_token");
    add_token(o, t, "unk_token");
    add_token(o, t, "pad_token");
    cJSON_AddNumberToObject(o, "vocab_size", (double)llmc_tokenizer_vocab_size(t));
    /* generation's end-of-sequence ids (generation_config.json, GGUF eot): what stops a reply */
    const llmc_gen_config *gc = llmc_pipeline_gen_config(p);
    cJSON *eos = cJSON_AddArrayToObject(o, "generation_eos_token_ids");
    for (int i = 0; eos && i < gc->n_eos; i++) cJSON_AddItemToArray(eos, cJSON_CreateNumber(gc->eos_ids[i]));
    const llmc_chat_template *ct = llmc_pipeline_chat_template(p, NULL);
    if (ct) cJSON_AddStringToObject(o, "chat_template", llmc_chat_template_text(ct));
    else cJSON_AddNullToObject(o, "chat_template");
    *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *json ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
}

llmc_status llmc_login(const char *token, llmc_error *err) { return llmc_hub_login(token, NULL, err); }
