/* Chat templates as transformers applies them: find the template (chat_template.jinja,
 * tokenizer_config.json "chat_template" as a string or a named list, a .jinja file, GGUF
 * metadata), collect the special-token variables (bos_token, eos_token, ... also from AddedToken
 * objects), and render messages the way apply_chat_template does: keys whose value is null are
 * dropped, reasoning fields are aliased, tools/documents default to None. */
#include "template/template.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "formats/gguf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_BYTES (64u << 20)

struct llmc_chat_template {
    char *name;
    char *text;               /* default template source */
    llmc_template *tpl;
    llmc_template *tool_tpl;  /* "tool_use" variant, used when tools are given */
    cJSON *special;           /* object: special-token variables */
    long long now;            /* strftime_now's clock (0: real) */
};

const char *llmc_chat_template_text(const llmc_chat_template *ct) { return ct ? ct->text : NULL; }

void llmc_chat_template_set_now(llmc_chat_template *ct, long long now) {
    if (ct) ct->now = now;
}

void llmc_chat_template_free(llmc_chat_template *ct) {
    if (!ct) return;
    llmc_template_free(ct->tpl);
    llmc_template_free(ct->tool_tpl);
    cJSON_Delete(ct->special);
    free(ct->text);
    free(ct->name);
    free(ct);
}

static const char *const std_special[] = { "bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                                           "cls_token", "mask_token", NULL };

/* str, or an AddedToken object ({"__type": "AddedToken", "content": ...}) → its content. */
static const char *token_string(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

static void add_special(cJSON *out, const char *key, const char *val) {
    if (cJSON_GetObjectItemCaseSensitive(out, key)) cJSON_ReplaceItemInObjectCaseSensitive(out, key, cJSON_CreateString(val));
    else cJSON_AddStringToObject(out, key, val);
}

/* The special-token variables transformers passes to templates (tokenizer.special_tokens_map):
 * the standard names, other "*_token" keys holding tokens, and named extra_special_tokens. */
static cJSON *special_from_config(const cJSON *cfg) {
    cJSON *out = cJSON_CreateObject();
    if (!out || !cJSON_IsObject(cfg)) return out;
    for (int i = 0; std_special[i]; i++) {
        const char *s = token_string(cJSON_GetObjectItemCaseSensitive(cfg, std_special[i]));
        if (s) add_special(out, std_special[i], s);
    }
    for (const cJSON *e = cfg->child; e; e = e->next) {
        if (!e->string) continue;
        size_t n = strlen(e->string);
        if (n < 6 || strcmp(e->string + n - 6, "_token") != 0) continue;
        bool std = false;
        for (int i = 0; std_special[i]; i++) if (!strcmp(std_special[i], e->string)) std = true;
        if (std) continue;
        const char *s = token_string(e);
        if (s) add_special(out, e->string, s);
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(cfg, "extra_special_tokens");
    if (cJSON_IsObject(extra))
        for (const cJSON *e = extra->child; e; e = e->next) {
            const char *s = token_string(e);
            if (s && e->string) add_special(out, e->string, s);
        }
    return out;
}

static llmc_status build(const char *name, const char *text, size_t len, const char *tool_text, cJSON *special,
                         llmc_chat_template **out, llmc_error *err) {
    llmc_chat_template *ct = calloc(1, sizeof *ct);
    if (!ct) { cJSON_Delete(special); return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", name); }
    ct->name = strdup(name);
    ct->text = malloc(len + 1);
    ct->special = special ? special : cJSON_CreateObject();
    if (!ct->name || !ct->text || !ct->special) { llmc_chat_template_free(ct); return llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", name); }
    memcpy(ct->text, text, len);
    ct->text[len] = 0;
    llmc_status st = llmc_template_compile(text, len, name, &ct->tpl, err);
    if (st == LLMC_OK && tool_text) {
        char *tn = malloc(strlen(name) + 16);
        if (!tn) st = llmc_err(err, LLMC_ERR_NOMEM, "%s: out of memory", name);
        else {
            sprintf(tn, "%s[tool_use]", name);
            st = llmc_template_compile(tool_text, strlen(tool_text), tn, &ct->tool_tpl, err);
            free(tn);
        }
    }
    if (st != LLMC_OK) { llmc_chat_template_free(ct); return st; }
    *out = ct;
    return LLMC_OK;
}

llmc_status llmc_chat_template_from_text(const char *text, size_t len, const cJSON *special_vars, const char *name,
                                         llmc_chat_template **out, llmc_error *err) {
    if (!out) return llmc_err(err, LLMC_ERR_INVALID_ARG, "llmc_chat_template_from_text: NULL output");
    *out = NULL;
    if (!text) return llmc_err(err, LLMC_ERR_INVALID_ARG, "llmc_chat_template_from_text: NULL text");
    cJSON *sp = special_vars ? cJSON_Duplicate(special_vars, 1) : cJSON_CreateObject();
    if (!sp) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    return build(name ? name : "chat_template", text, len, NULL, sp, out, err);
}

/* From a parsed tokenizer_config.json: its chat_template (string or [{name, template}]). */
static llmc_status from_config(const char *path, const cJSON *cfg, const char *override_text, size_t override_len,
                               llmc_chat_template **out, llmc_error *err) {
    cJSON *special = special_from_config(cfg);
    if (override_text) return build(path, override_text, override_len, NULL, special, out, err);
    const cJSON *ctv = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (cJSON_IsString(ctv)) return build(path, ctv->valuestring, strlen(ctv->valuestring), NULL, special, out, err);
    if (cJSON_IsArray(ctv)) {
        const char *def = NULL, *tool = NULL;
        for (const cJSON *e = ctv->child; e; e = e->next) {
            const char *nm = llmc_json_get_string(e, "name"), *tp = llmc_json_get_string(e, "template");
            if (!nm || !tp) { cJSON_Delete(special); return llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'chat_template': each entry needs string 'name' and 'template'", path); }
            if (!strcmp(nm, "default")) def = tp;
            else if (!strcmp(nm, "tool_use")) tool = tp;
        }
        if (!def) { cJSON_Delete(special); return llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'chat_template' has several templates but none named 'default'", path); }
        return build(path, def, strlen(def), tool, special, out, err);
    }
    cJSON_Delete(special);
    if (ctv) return llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'chat_template' must be a string or a list of {name, template}", path);
    return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: no chat template (field 'chat_template' is absent)", path);
}

static llmc_status load_gguf(const char *path, llmc_chat_template **out, llmc_error *err) {
    llmc_gguf *g = NULL;
    llmc_status st = llmc_gguf_open(path, &g, err);
    if (st != LLMC_OK) return st;
    const char *text;
    size_t len;
    if (!llmc_gguf_get_str_len(g, "tokenizer.chat_template", &text, &len)) {
        llmc_gguf_free(g);
        return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: no chat template (metadata key 'tokenizer.chat_template' is absent)", path);
    }
    cJSON *special = cJSON_CreateObject();
    const char *const *toks;
    size_t ntok = 0;
    if (special && llmc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &ntok)) {
        static const struct { const char *key, *var; } ids[] = {
            { "tokenizer.ggml.bos_token_id", "bos_token" }, { "tokenizer.ggml.eos_token_id", "eos_token" },
            { "tokenizer.ggml.unknown_token_id", "unk_token" }, { "tokenizer.ggml.seperator_token_id", "sep_token" },
            { "tokenizer.ggml.padding_token_id", "pad_token" }, { "tokenizer.ggml.cls_token_id", "cls_token" },
            { "tokenizer.ggml.mask_token_id", "mask_token" } };
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            uint64_t id;
            if (llmc_gguf_get_u64(g, ids[i].key, &id) && id < ntok && toks[id]) cJSON_AddStringToObject(special, ids[i].var, toks[id]);
        }
    }
    st = build(path, text, len, NULL, special, out, err);
    llmc_gguf_free(g);
    return st;
}

llmc_status llmc_chat_template_load(const char *source, llmc_chat_template **out, llmc_error *err) {
    if (!out) return llmc_err(err, LLMC_ERR_INVALID_ARG, "llmc_chat_template_load: NULL output");
    *out = NULL;
    if (!source) return llmc_err(err, LLMC_ERR_INVALID_ARG, "llmc_chat_template_load: NULL source");
    llmc_status st;
    if (llmc_dir_exists(source)) {
        char *jpath = llmc_path_join(source, "chat_template.jinja");
        char *cpath = llmc_path_join(source, "tokenizer_config.json");
        if (!jpath || !cpath) { free(jpath); free(cpath); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
        cJSON *cfg = NULL;
        if (llmc_file_exists(cpath)) {
            cfg = llmc_json_parse_file(cpath, MAX_CONFIG_BYTES, err);
            if (!cfg) { free(jpath); free(cpath); return err ? err->code : LLMC_ERR_FORMAT; }
        }
        /* additional_chat_templates/tool_use.jinja: the variant transformers picks when tools are given */
        char *tool_text = NULL;
        char *adir = llmc_path_join(source, "additional_chat_templates");
        char *tpath = adir ? llmc_path_join(adir, "tool_use.jinja") : NULL;
        if (tpath && llmc_file_exists(tpath)) {
            size_t tl;
            if (llmc_read_file(tpath, 16u << 20, &tool_text, &tl, err) != LLMC_OK) {
                free(adir); free(tpath); free(jpath); free(cpath); cJSON_Delete(cfg);
                return err ? err->code : LLMC_ERR_IO;
            }
        }
        free(adir);
        free(tpath);
        const cJSON *cfg_tpl = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "chat_template") : NULL;
        if (llmc_file_exists(jpath)) {
            char *text = NULL;
            size_t len = 0;
            st = llmc_read_file(jpath, 16u << 20, &text, &len, err);
            if (st == LLMC_OK)
                st = build(jpath, text, len, tool_text, cfg ? special_from_config(cfg) : cJSON_CreateObject(), out, err);
            free(text);
        } else if (cfg && cfg_tpl) {
            st = from_config(cpath, cfg, NULL, 0, out, err);
            if (st == LLMC_OK && tool_text && !(*out)->tool_tpl) {
                st = llmc_template_compile(tool_text, strlen(tool_text), "additional_chat_templates/tool_use.jinja", &(*out)->tool_tpl, err);
                if (st != LLMC_OK) { llmc_chat_template_free(*out); *out = NULL; }
            }
        } else {
            /* processor-style chat_template.json ({"chat_template": "..."}) as a last resort */
            char *ppath = llmc_path_join(source, "chat_template.json");
            cJSON *pj = NULL;
            if (ppath && llmc_file_exists(ppath)) pj = llmc_json_parse_file(ppath, MAX_CONFIG_BYTES, err);
            const char *pt = pj ? llmc_json_get_string(pj, "chat_template") : NULL;
            if (pt) st = build(ppath, pt, strlen(pt), tool_text, cfg ? special_from_config(cfg) : cJSON_CreateObject(), out, err);
            else if (cfg) st = from_config(cpath, cfg, NULL, 0, out, err);
            else st = llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: no chat_template.jinja or tokenizer_config.json in this directory", source);
            cJSON_Delete(pj);
            free(ppath);
        }
        free(tool_text);
        cJSON_Delete(cfg);
        free(jpath);
        free(cpath);
        return st;
    }
    if (!llmc_file_exists(source)) return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: no such file or directory", source);
    if (llmc_str_endswith(source, ".gguf")) return load_gguf(source, out, err);
    if (!strcmp(source, "tokenizer.json") || llmc_str_endswith(source, "/tokenizer.json")) {
        /* a tokenizer.json names its model directory (the template lives beside it) */
        char *dir = llmc_path_dirname(source);
        if (!dir) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        st = llmc_chat_template_load(dir, out, err);
        free(dir);
        return st;
    }
    if (llmc_str_endswith(source, ".json")) {
        cJSON *cfg = llmc_json_parse_file(source, MAX_CONFIG_BYTES, err);
        if (!cfg) return err ? err->code : LLMC_ERR_FORMAT;
        if (!cJSON_IsObject(cfg)) { cJSON_Delete(cfg); return llmc_err(err, LLMC_ERR_FORMAT, "%s: expected a JSON object", source); }
        st = from_config(source, cfg, NULL, 0, out, err);
        cJSON_Delete(cfg);
        return st;
    }
    /* a template file; special tokens from a tokenizer_config.json beside it, when there is one */
    char *text = NULL;
    size_t len = 0;
    st = llmc_read_file(source, 16u << 20, &text, &len, err);
    if (st != LLMC_OK) return st;
    cJSON *special = NULL;
    char *dir = llmc_path_dirname(source);
    char *cpath = dir ? llmc_path_join(dir, "tokenizer_config.json") : NULL;
    if (cpath && llmc_file_exists(cpath)) {
        llmc_error e2;
        cJSON *cfg = llmc_json_parse_file(cpath, MAX_CONFIG_BYTES, &e2);
        if (cfg) { special = special_from_config(cfg); cJSON_Delete(cfg); }
    }
    free(dir);
    free(cpath);
    st = build(source, text, len, NULL, special ? special : cJSON_CreateObject(), out, err);
    free(text);
    return st;
}

/* One message as apply_chat_template hands it to the template. */
static cJSON *prep_message(const cJSON *m) {
    if (!cJSON_IsObject(m)) return cJSON_Duplicate(m, 1);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    for (const cJSON *e = m->child; e; e = e->next) {
        if (cJSON_IsNull(e) || !e->string) continue; /* keys whose value is None are dropped */
        if (cJSON_GetObjectItemCaseSensitive(o, e->string)) {
            cJSON_ReplaceItemInObjectCaseSensitive(o, e->string, cJSON_Duplicate(e, 1));
            continue;
        }
        cJSON_AddItemToObject(o, e->string, cJSON_Duplicate(e, 1));
    }
    /* reasoning aliases: {"thinking": r, **message, "reasoning_content": r} */
    static const char *const fields[] = { "reasoning_content", "thinking", "reasoning" };
    const cJSON *r = NULL;
    for (int i = 0; i < 3 && !r; i++) r = cJSON_GetObjectItemCaseSensitive(o, fields[i]);
    if (!r) return o;
    cJSON *n = cJSON_CreateObject();
    if (!n) { cJSON_Delete(o); return NULL; }
    cJSON_AddItemToObject(n, "thinking", cJSON_Duplicate(r, 1));
    for (const cJSON *e = o->child; e; e = e->next) {
        if (!strcmp(e->string, "thinking")) cJSON_ReplaceItemInObjectCaseSensitive(n, "thinking", cJSON_Duplicate(e, 1));
        else cJSON_AddItemToObject(n, e->string, cJSON_Duplicate(e, 1));
    }
    if (cJSON_GetObjectItemCaseSensitive(n, "reasoning_content"))
        cJSON_ReplaceItemInObjectCaseSensitive(n, "reasoning_content", cJSON_Duplicate(r, 1));
    else cJSON_AddItemToObject(n, "reasoning_content", cJSON_Duplicate(r, 1));
    cJSON_Delete(o);
    return n;
}

static void set_var(cJSON *vars, const char *key, cJSON *val) {
    if (cJSON_GetObjectItemCaseSensitive(vars, key)) cJSON_ReplaceItemInObjectCaseSensitive(vars, key, val);
    else cJSON_AddItemToObject(vars, key, val);
}

llmc_status llmc_chat_template_apply(const llmc_chat_template *ct, const cJSON *messages, const cJSON *tools,
                                     bool add_generation_prompt, const cJSON *extra, char **out, size_t *out_len,
                                     llmc_error *err) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!ct || !out) return llmc_err(err, LLMC_ERR_INVALID_ARG, "llmc_chat_template_apply: NULL template or output");
    if (!cJSON_IsArray(messages)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: messages must be a JSON array of message objects", ct->name);
    int idx = 0;
    for (const cJSON *m = messages->child; m; m = m->next, idx++)
        if (!cJSON_IsObject(m)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: message %d is not a JSON object", ct->name, idx);
    if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: tools must be a JSON array of tool definitions", ct->name);
    if (extra && !cJSON_IsNull(extra) && !cJSON_IsObject(extra))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: extra template variables must be a JSON object", ct->name);
    cJSON *vars = cJSON_Duplicate(ct->special, 1);
    cJSON *msgs = cJSON_CreateArray();
    bool oom = !vars || !msgs;
    for (const cJSON *m = messages->child; m && !oom; m = m->next) {
        cJSON *pm = prep_message(m);
        if (!pm) oom = true;
        else cJSON_AddItemToArray(msgs, pm);
    }
    if (oom) { cJSON_Delete(vars); cJSON_Delete(msgs); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    bool has_tools = tools && cJSON_IsArray(tools);
    set_var(vars, "messages", msgs);
    set_var(vars, "tools", has_tools ? cJSON_Duplicate(tools, 1) : cJSON_CreateNull());
    set_var(vars, "documents", cJSON_CreateNull());
    set_var(vars, "add_generation_prompt", cJSON_CreateBool(add_generation_prompt));
    if (extra && cJSON_IsObject(extra))
        for (const cJSON *e = extra->child; e; e = e->next)
            if (e->string) set_var(vars, e->string, cJSON_Duplicate(e, 1));
    const llmc_template *t = has_tools && ct->tool_tpl ? ct->tool_tpl : ct->tpl;
    llmc_template_limits opts = { .now = ct->now };
    llmc_status st = llmc_template_render_ex(t, vars, &opts, out, out_len, err);
    cJSON_Delete(vars);
    return st;
}
