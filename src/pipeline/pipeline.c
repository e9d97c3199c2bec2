/* The text-generation pipeline: resolve the model (Hub id, directory or GGUF), load model,
 * tokenizer, chat template and generation defaults; then chat messages in, conversation out. */
#include "pipeline/pipeline_internal.h"
#include "backend/cuda/cuda.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "formats/gguf.h"
#include "generate/generate.h"
#include "grammar/grammar.h"
#include "hub/hub.h"
#include <math.h>
#include <dirent.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct llmc_pipeline {
    llmc_model *model;
    llmc_tokenizer *tok;
    llmc_chat_template *tmpl;      /* NULL when the model has none (see tmpl_err) */
    llmc_error tmpl_err;
    llmc_gen_config gen;
    int32_t *cached;               /* ids whose KV entries are in the model, in order */
    int n_cached, cap_cached;
    char describe[512];
    void *batch;                   /* sessions' engine state (session.c), freed first */
    void (*batch_free)(void *);
};

void **llmc_pipeline_batch_slot(llmc_pipeline *p, void (*free_fn)(void *)) {
    if (free_fn) p->batch_free = free_fn;
    return &p->batch;
}

llmc_model *llmc_pipeline_model(llmc_pipeline *p) { return p->model; }
llmc_model *llmc_pipeline_take_model(llmc_pipeline *p) {
    llmc_model *m = p->model;
    p->model = NULL;
    return m;
}
const llmc_tokenizer *llmc_pipeline_tokenizer(const llmc_pipeline *p) { return p->tok; }
const llmc_chat_template *llmc_pipeline_chat_template(const llmc_pipeline *p, llmc_error *why) {
    if (!p->tmpl && why) *why = p->tmpl_err;
    return p->tmpl;
}
const llmc_gen_config *llmc_pipeline_gen_config(const llmc_pipeline *p) { return &p->gen; }
int llmc_pipeline_context(const llmc_pipeline *p) { return llmc_model_context(p->model); }
const char *llmc_pipeline_describe(const llmc_pipeline *p) { return p->describe; }

void llmc_pipeline_opts_default(llmc_pipeline_opts *o) {
    memset(o, 0, sizeof *o);
    o->dtype = "auto";
    o->device = "auto";
    o->gpu_layers = -1;
}

void llmc_gen_params_default(llmc_gen_params *g) {
    memset(g, 0, sizeof *g);
    g->max_new_tokens = -1;
    g->do_sample = -1;
    g->temperature = -1;
    g->top_k = -1;
    g->top_p = -1;
    g->min_p = -1;
    g->repetition_penalty = -1;
}

bool llmc_parse_dtype(const char *s, int *out) {
    if (!s || !strcmp(s, "auto")) { *out = -1; return true; }
    if (!strcmp(s, "f32") || !strcmp(s, "float32")) { *out = LLMC_DT_F32; return true; }
    if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16")) { *out = LLMC_DT_BF16; return true; }
    if (!strcmp(s, "f16") || !strcmp(s, "float16")) { *out = LLMC_DT_F16; return true; }
    return false;
}

/* Fails early (before any download) on a bad device string or an explicit GPU that is
   not there; placement itself (the memory plan, auto's fallback) happens at model load. */
static llmc_status check_device(const char *dev, llmc_error *err) {
    llmc_device_req req;
    llmc_status st = llmc_cuda_parse_device(dev, &req, err);
    if (st || req.kind != LLMC_DEV_CUDA) return st;
    if ((st = llmc_cuda_probe(req.index, NULL, err))) {
        llmc_err_prefix(err, "--device %s: ", dev);
        return st;
    }
    return LLMC_OK;
}

/* ---- GGUF: model, tokenizer and template all come from the one file ---- */
static llmc_status open_gguf(llmc_pipeline *p, const char *path, const llmc_model_opts *mo, llmc_error *err) {
    llmc_gguf *g = NULL;
    llmc_status st = llmc_gguf_open(path, &g, err);
    if (st) return st;
    llmc_config cfg;
    if ((st = llmc_gguf_config(g, &cfg, err))) goto out;

    llmc_tokenizer_gguf_parts parts;
    memset(&parts, 0, sizeof parts);
    parts.model = llmc_gguf_get_str(g, "tokenizer.ggml.model");
    parts.pre = llmc_gguf_get_str(g, "tokenizer.ggml.pre");
    if (!parts.model || !llmc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &parts.tokens, &parts.n_tokens)) {
        st = llmc_err(err, LLMC_ERR_FORMAT, "%s: no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens missing)", path);
        goto out;
    }
    size_t n;
    if (llmc_gguf_get_f32_array(g, "tokenizer.ggml.scores", &parts.scores, &n) && n != parts.n_tokens) parts.scores = NULL;
    if (llmc_gguf_get_i32_array(g, "tokenizer.ggml.token_type", &parts.token_types, &n) && n != parts.n_tokens) {
        st = llmc_err(err, LLMC_ERR_FORMAT, "%s: tokenizer.ggml.token_type has %zu entries for %zu tokens", path, n, parts.n_tokens);
        goto out;
    }
    if (!llmc_gguf_get_str_array(g, "tokenizer.ggml.merges", &parts.merges, &parts.n_merges)) { parts.merges = NULL; parts.n_merges = 0; }
    uint64_t v;
    parts.bos_id = llmc_gguf_get_u64(g, "tokenizer.ggml.bos_token_id", &v) ? (int32_t)v : -1;
    parts.eos_id = llmc_gguf_get_u64(g, "tokenizer.ggml.eos_token_id", &v) ? (int32_t)v : -1;
    parts.unk_id = llmc_gguf_get_u64(g, "tokenizer.ggml.unknown_token_id", &v) ? (int32_t)v : -1;
    parts.pad_id = llmc_gguf_get_u64(g, "tokenizer.ggml.padding_token_id", &v) ? (int32_t)v : -1;
    bool b;
    parts.add_bos = llmc_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) ? b : -1;
    parts.add_eos = llmc_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) ? b : -1;
    if ((st = llmc_tokenizer_from_gguf(&parts, &p->tok, err))) { llmc_err_prefix(err, "%s: ", path); goto out; }

    /* Generation defaults: eos (and end-of-turn) ids from the GGUF; transformers' defaults otherwise. */
    llmc_gen_config_default(&p->gen);
    p->gen.n_eos = 0;
    for (int i = 0; i < cfg.num_eos && p->gen.n_eos < 16; i++) p->gen.eos_ids[p->gen.n_eos++] = cfg.eos_token_ids[i];
    if (llmc_gguf_get_u64(g, "tokenizer.ggml.eot_token_id", &v) && p->gen.n_eos < 16) {
        bool dup = false;
        for (int i = 0; i < p->gen.n_eos; i++) dup |= p->gen.eos_ids[i] == (int32_t)v;
        if (!dup) p->gen.eos_ids[p->gen.n_eos++] = (int32_t)v;
    }
    p->gen.bos_id = cfg.bos_token_id;
    p->gen.pad_id = cfg.pad_token_id;
    p->gen.set |= LLMC_GEN_SET_EOS;

    const char *tmpl = llmc_gguf_get_str(g, "tokenizer.chat_template");
    if (tmpl) {
        cJSON *vars = cJSON_CreateObject();
        static const char *const names[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        for (int i = 0; i < 4 && vars; i++) {
            const char *s = llmc_tokenizer_special(p->tok, names[i]);
            if (s) cJSON_AddStringToObject(vars, names[i], s);
        }
        if (llmc_chat_template_from_text(tmpl, strlen(tmpl), vars, path, &p->tmpl, &p->tmpl_err) != LLMC_OK) p->tmpl = NULL;
        cJSON_Delete(vars);
    } else {
        llmc_err(&p->tmpl_err, LLMC_ERR_TEMPLATE, "%s: the model has no chat template (tokenizer.chat_template)", path);
    }

    llmc_tensor_set *ts = NULL;
    if ((st = llmc_gguf_tensors(g, &ts, err))) goto out;
    if (mo->dtype >= 0 && (st = llmc_model_tensors_f32(ts, err))) { /* exact f32 math on the dequantized weights */
        llmc_tensor_set_free(ts);
        goto out;
    }
    st = llmc_model_from_tensors(&cfg, ts, mo, &p->model, err);
    if (st) llmc_err_prefix(err, "%s: ", path);
out:
    llmc_gguf_free(g);
    return st;
}

/* ---- HF directory ---- */
#define LLMC_PREFETCH_MAX 1024 /* weight files of one checkpoint */
typedef struct { llmc_progress_fn fn; void *user; } prefetch_cb;
static void prefetch_progress(void *user, const char *path, uint64_t done, uint64_t total, int finished) {
    (void)path;
    const prefetch_cb *cb = user;
    cb->fn(cb->user, LLMC_PROGRESS_LOADING, done, total, finished);
}

/* The weight files (a .gguf, or a directory's *.safetensors) read into the page cache before they
 * are mapped, with progress reported as LLMC_PROGRESS_LOADING: on a cold cache the user sees the
 * load, as transformers shows "Loading checkpoint shards". Errors are left to the loader. */
static void prefetch_weights(const llmc_pipeline_opts *o, const char *path) {
    if (!o->progress) return;
    const char *files[LLMC_PREFETCH_MAX];
    char *owned[LLMC_PREFETCH_MAX];
    int n = 0, n_owned = 0;
    if (llmc_str_endswith(path, ".gguf")) {
        files[n++] = path;
    } else {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) && n < LLMC_PREFETCH_MAX) {
            if (!llmc_str_endswith(e->d_name, ".safetensors")) continue;
            char *f = llmc_path_join(path, e->d_name);
            if (f) { owned[n_owned++] = f; files[n++] = f; }
        }
        if (d) closedir(d);
    }
    prefetch_cb cb = {o->progress, o->progress_user};
    llmc_error ignored = {0};
    llmc_file_prefetch(files, n, prefetch_progress, &cb, &ignored);
    for (int i = 0; i < n_owned; i++) free(owned[i]);
}

static llmc_status open_dir(llmc_pipeline *p, const char *dir, const llmc_model_opts *mo, bool model_only, llmc_error *err) {
    char *cfgp = llmc_path_join(dir, "config.json");
    bool has_cfg = cfgp && llmc_file_exists(cfgp);
    free(cfgp);
    if (!has_cfg) return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s: not a model directory (no config.json)", dir);
    llmc_status st = llmc_model_load(dir, mo, &p->model, err);
    if (st) return st;
    llmc_error terr = {0};
    if (llmc_tokenizer_load(dir, &p->tok, &terr) != LLMC_OK) {
        /* Id-level commands (generate, logits) run checkpoints that ship no tokenizer. */
        if (!model_only) { if (err) *err = terr; return terr.code; }
        LLMC_INFO("no tokenizer: %s", terr.msg);
        p->tok = NULL;
    }
    if (llmc_chat_template_load(dir, &p->tmpl, &p->tmpl_err) != LLMC_OK) p->tmpl = NULL;

    llmc_gen_config_default(&p->gen);
    const llmc_config *cfg = llmc_model_config(p->model);
    p->gen.n_eos = 0;
    for (int i = 0; i < cfg->num_eos && i < 16; i++) p->gen.eos_ids[p->gen.n_eos++] = cfg->eos_token_ids[i];
    p->gen.bos_id = cfg->bos_token_id;
    p->gen.pad_id = cfg->pad_token_id;
    p->gen.set |= LLMC_GEN_SET_EOS;
    char *gp = llmc_path_join(dir, "generation_config.json");
    if (gp && llmc_file_exists(gp)) {
        /* generation_config.json overrides the model config's eos/bos, as in transformers. */
        st = llmc_gen_config_load(gp, &p->gen, err);
    }
    free(gp);
    return st;
}

llmc_status llmc_pipeline_create(const llmc_pipeline_opts *o, llmc_pipeline **out, llmc_error *err) {
    return llmc_pipeline_create_ex(o, false, out, err);
}

llmc_status llmc_pipeline_create_ex(const llmc_pipeline_opts *o, bool model_only, llmc_pipeline **out, llmc_error *err) {
    *out = NULL;
    llmc_pipeline_opts def;
    if (!o) { llmc_pipeline_opts_default(&def); o = &def; }
    if (!o->model || !*o->model) return llmc_err(err, LLMC_ERR_INVALID_ARG, "no model given");
    llmc_model_opts mo;
    llmc_model_opts_default(&mo);
    mo.n_threads = o->n_threads;
    mo.max_context = o->max_context;
    if (!llmc_parse_dtype(o->dtype, &mo.dtype))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "unknown dtype '%s' (expected auto, bf16, f16 or f32)", o->dtype);
    llmc_status st = check_device(o->device, err);
    if (st) return st;
    mo.device = o->device ? o->device : "auto";
    mo.gpu_layers = o->gpu_layers;
    mo.fast_activations = o->fast_activations != 0;
    if (!o->quantize || !*o->quantize || strcmp(o->quantize, "none") == 0) mo.quantize = -1;
    else if (strcasecmp(o->quantize, "q8_0") == 0) mo.quantize = LLMC_DT_Q8_0;
    else if (strcasecmp(o->quantize, "q4_0") == 0) mo.quantize = LLMC_DT_Q4_0;
    else return llmc_err(err, LLMC_ERR_INVALID_ARG, "unknown quantization '%s' (expected none, q8_0 or q4_0)", o->quantize);

    llmc_pipeline *p = calloc(1, sizeof *p);
    if (!p) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    const char *m = o->model;
    if (llmc_file_exists(m) || llmc_dir_exists(m)) prefetch_weights(o, m);
    if (llmc_file_exists(m)) {
        if (!llmc_str_endswith(m, ".gguf")) {
            st = llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: a model file must be a .gguf (for safetensors give the model directory)", m);
        } else {
            st = open_gguf(p, m, &mo, err);
        }
    } else if (llmc_dir_exists(m)) {
        st = open_dir(p, m, &mo, model_only, err);
    } else if (llmc_hub_is_repo_id(m)) {
        llmc_hub_opts ho;
        llmc_hub_opts_default(&ho);
        ho.token = o->token;
        ho.revision = o->revision;
        ho.progress = (llmc_hub_progress_fn)o->progress;
        ho.progress_user = o->progress_user;
        char *dir = NULL;
        st = llmc_hub_snapshot(m, &ho, &dir, err); /* a GGUF repo gives the chosen .gguf file */
        if (!st) prefetch_weights(o, dir);
        if (!st) st = llmc_str_endswith(dir, ".gguf") ? open_gguf(p, dir, &mo, err) : open_dir(p, dir, &mo, model_only, err);
        free(dir);
    } else {
        st = llmc_err(err, LLMC_ERR_NOT_FOUND, "model '%s' not found: not a .gguf file, a model directory, or a Hub id (org/name, org/name:QUANT)", m);
    }
    if (st) { llmc_pipeline_free(p); return st; }
    const llmc_config *c = llmc_model_config(p->model);
    snprintf(p->describe, sizeof p->describe, "%s: %s, %d layers, hidden %d, %d heads (%d kv), vocab %d, context %d",
             m, c->architecture, c->num_layers, c->hidden_size, c->num_heads, c->num_kv_heads, c->vocab_size,
             llmc_model_context(p->model));
    LLMC_INFO("%s", p->describe);
    *out = p;
    return LLMC_OK;
}

void llmc_pipeline_free(llmc_pipeline *p) {
    if (!p) return;
    if (p->batch_free) p->batch_free(p->batch); /* the engine stops before the model goes */
    llmc_model_free(p->model);
    llmc_tokenizer_free(p->tok);
    llmc_chat_template_free(p->tmpl);
    free(p->cached);
    free(p);
}

void llmc_messages_free(llmc_message *m, int n) {
    if (!m) return;
    for (int i = 0; i < n; i++) { free(m[i].role); free(m[i].content); }
    free(m);
}

/* Caller's parameters over the model's generation_config over the pipeline's defaults,
 * resolved as transformers does (llmc_gen_config_resolve). */
static void merge_params(const llmc_pipeline *p, const llmc_gen_params *g, int n_prompt, llmc_sampling *s, int *max_new) {
    llmc_gen_config call, out;
    llmc_gen_config_default(&call);
    call.set = 0;
    if (g->do_sample >= 0) { call.sampling.do_sample = g->do_sample != 0; call.set |= LLMC_GEN_SET_DO_SAMPLE; }
    if (g->temperature >= 0) { call.sampling.temperature = g->temperature; call.set |= LLMC_GEN_SET_TEMPERATURE; }
    if (g->top_k >= 0) { call.sampling.top_k = g->top_k; call.set |= LLMC_GEN_SET_TOP_K; }
    if (g->top_p >= 0) { call.sampling.top_p = g->top_p; call.set |= LLMC_GEN_SET_TOP_P; }
    if (g->min_p >= 0) { call.sampling.min_p = g->min_p; call.set |= LLMC_GEN_SET_MIN_P; }
    if (g->repetition_penalty >= 0) { call.sampling.repetition_penalty = g->repetition_penalty; call.set |= LLMC_GEN_SET_REPETITION_PENALTY; }
    if (g->max_new_tokens >= 0) { call.max_new_tokens = g->max_new_tokens; call.set |= LLMC_GEN_SET_MAX_NEW_TOKENS; }
    llmc_gen_config_resolve(&p->gen, &call, true, n_prompt, llmc_model_config(p->model)->max_position_embeddings, &out);
    *s = out.sampling;
    if (g->has_seed) { s->seed = g->seed; s->has_seed = true; }
    *max_new = out.max_new_tokens;
}

static llmc_status generate_ids(llmc_pipeline *p, int32_t *ids, size_t n_ids, const llmc_gen_params *g, char **reply, llmc_gen_stats *stats,
                                llmc_error *err);

/* Core of a chat turn on a cJSON messages array. Returns the reply text (malloc'd); with
   ids_out, only the prompt's ids (malloc'd) and no generation. */
static llmc_status chat_core(llmc_pipeline *p, const cJSON *msgs, const cJSON *tools, const llmc_gen_params *g,
                             char **reply, bool *continued, llmc_gen_stats *stats, int32_t **ids_out, size_t *n_out, llmc_error *err) {
    *reply = NULL;
    if (!p->tok) return llmc_err(err, LLMC_ERR_NOT_FOUND, "the model has no tokenizer (tokenizer.json): chat needs one");
    if (!p->tmpl) { if (err) *err = p->tmpl_err; return p->tmpl_err.code ? p->tmpl_err.code : LLMC_ERR_TEMPLATE; }
    int n = cJSON_GetArraySize(msgs);
    if (n <= 0) return llmc_err(err, LLMC_ERR_INVALID_ARG, "messages: the conversation is empty");
    const cJSON *last = cJSON_GetArrayItem(msgs, n - 1);
    const char *last_role = llmc_json_get_string(last, "role");
    *continued = last_role && !strcmp(last_role, "assistant");

    char *prompt = NULL;
    size_t plen = 0;
    llmc_status st = llmc_chat_template_apply(p->tmpl, msgs, tools, !*continued, NULL, &prompt, &plen, err);
    if (st) return st;
    if (*continued) {
        /* continue_final_message: cut the render right after the final message's (stripped) content. */
        const char *c = llmc_json_get_string(last, "content");
        if (c) {
            while (*c == ' ' || *c == '\n' || *c == '\t' || *c == '\r') c++;
            size_t cl = strlen(c);
            while (cl && (c[cl - 1] == ' ' || c[cl - 1] == '\n' || c[cl - 1] == '\t' || c[cl - 1] == '\r')) cl--;
            const char *hit = NULL;
            for (const char *s = prompt; cl && (s = memmem(s, plen - (size_t)(s - prompt), c, cl)); s++) hit = s;
            if (hit) { plen = (size_t)(hit - prompt) + cl; prompt[plen] = 0; }
        }
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    st = llmc_tokenizer_encode(p->tok, prompt, plen, false, &ids, &n_ids, err);
    free(prompt);
    if (st) return st;
    if (ids_out) {
        *ids_out = ids;
        *n_out = n_ids;
        return LLMC_OK;
    }
    return generate_ids(p, ids, n_ids, g, reply, stats, err);
}

/* Generation from prompt ids (taken: freed here), reusing the cached prefix; the reply text. */
static llmc_status generate_ids(llmc_pipeline *p, int32_t *ids, size_t n_ids, const llmc_gen_params *g, char **reply, llmc_gen_stats *stats,
                                llmc_error *err) {
    llmc_status st;
    if (n_ids == 0) {
        free(ids);
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "the prompt is empty (no tokens)");
    }
    int ctx = llmc_model_context(p->model);
    if ((long long)n_ids > ctx) {
        free(ids);
        return llmc_err(err, LLMC_ERR_RANGE, "the prompt is %zu tokens, more than the context of %d tokens (raise --max-context or shorten the conversation)", n_ids, ctx);
    }
    /* Reuse the KV cache of the longest prefix shared with what the model has already seen. */
    int reuse = 0;
    while (reuse < p->n_cached && reuse < (int)n_ids && p->cached[reuse] == ids[reuse]) reuse++;
    if (reuse >= (int)n_ids) reuse = (int)n_ids - 1;

    llmc_generate_opts go;
    memset(&go, 0, sizeof go);
    merge_params(p, g, (int)n_ids, &go.sampling, &go.max_new_tokens);
    go.eos_ids = p->gen.eos_ids;
    /* ignore_eos runs to max_new_tokens; a grammar still needs end-of-sequence to finish its reply */
    go.n_eos = g->ignore_eos && !g->json_schema && !g->grammar ? 0 : p->gen.n_eos;
    go.stop_strings = g->stop_strings;
    go.n_stop_strings = g->n_stop_strings;
    go.tok = p->tok;
    go.cut_stop = g->cut_stop_strings;
    go.on_text = g->on_text;
    go.on_text_user = g->on_text_user;
    go.cancel = g->cancel;
    llmc_grammar_constraint *gc = NULL;
    if (g->json_schema || g->grammar) {
        st = llmc_grammar_constraint_new(p->tok, llmc_model_config(p->model)->vocab_size, g->json_schema, g->grammar, go.eos_ids,
                                         go.n_eos, &gc, err);
        if (st) { free(ids); return st; }
        go.sampling.mask = llmc_grammar_constraint_mask_cb;
        go.sampling.accept = llmc_grammar_constraint_accept_cb;
        go.sampling.mask_user = gc;
    }
    llmc_generate_result r;
    p->n_cached = 0; /* until we know what the cache holds */
    st = llmc_generate(p->model, ids, (int)n_ids, reuse, &go, &r, err);
    if (gc) {
        llmc_status gs = llmc_grammar_constraint_status(gc, err);   /* a grammar failure explains a failed step */
        llmc_grammar_constraint_free(gc);
        if (gs && !st) llmc_generate_result_free(&r);
        if (gs) st = gs;
    }
    if (st) { free(ids); return st; }
    /* Remember exactly the ids now in the KV cache. */
    int total = r.n_forwarded;
    if (total > p->cap_cached) {
        int32_t *c = realloc(p->cached, (size_t)total * sizeof *c);
        if (c) { p->cached = c; p->cap_cached = total; }
    }
    if (total <= p->cap_cached) {
        memcpy(p->cached, ids, n_ids * sizeof *ids);
        if (total > (int)n_ids) memcpy(p->cached + n_ids, r.ids, (size_t)(total - (int)n_ids) * sizeof *ids);
        p->n_cached = total;
    }
    if (stats) {
        stats->stop = r.stop;
        stats->prompt_tokens = (int)n_ids;
        stats->reused_tokens = reuse;
        stats->generated_tokens = r.n_ids;
        stats->ttft_ms = r.ttft_ms;
        stats->prefill_tokens_per_s = r.prefill_tokens_per_s;
        stats->decode_tokens_per_s = r.decode_tokens_per_s;
    }
    free(ids);
    *reply = r.text;
    r.text = NULL;
    llmc_generate_result_free(&r);
    return LLMC_OK;
}

llmc_status llmc_pipeline_complete(llmc_pipeline *p, const char *prompt, const llmc_gen_params *g, char **reply, llmc_gen_stats *stats,
                                   llmc_error *err) {
    *reply = NULL;
    llmc_gen_params def;
    if (!g) { llmc_gen_params_default(&def); g = &def; }
    if (!p || !prompt) return llmc_err(err, LLMC_ERR_INVALID_ARG, "complete: a pipeline and a prompt are needed");
    if (!p->tok) return llmc_err(err, LLMC_ERR_NOT_FOUND, "the model has no tokenizer (tokenizer.json): text generation needs one");
    int32_t *ids = NULL;
    size_t n_ids = 0;
    /* As pipe("text"): the tokenizer's special tokens (BOS...) are added. */
    llmc_status st = llmc_tokenizer_encode(p->tok, prompt, strlen(prompt), true, &ids, &n_ids, err);
    if (st) return st;
    return generate_ids(p, ids, n_ids, g, reply, stats, err);
}

static llmc_status chat_json_core(llmc_pipeline *p, const char *messages_json, const char *tools_json, const llmc_gen_params *g,
                                  char **reply, llmc_gen_stats *stats, int32_t **ids_out, size_t *n_out, llmc_error *err) {
    cJSON *msgs = llmc_json_parse(messages_json, strlen(messages_json), "messages", err);
    if (!msgs) return err ? err->code : LLMC_ERR_FORMAT;
    /* 1.0 stays a float in the template (tool-call arguments), as Python's json keeps it. */
    llmc_template_json_mark_floats(msgs, messages_json, strlen(messages_json));
    cJSON *tools = NULL;
    llmc_status st = LLMC_OK;
    if (!cJSON_IsArray(msgs)) st = llmc_err(err, LLMC_ERR_FORMAT, "messages: expected a JSON array of {\"role\", \"content\"} objects");
    for (int i = 0; !st && i < cJSON_GetArraySize(msgs); i++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        if (!cJSON_IsObject(m) || !llmc_json_get_string(m, "role"))
            st = llmc_err(err, LLMC_ERR_FORMAT, "messages[%d]: expected an object with a string \"role\"", i);
    }
    if (!st && tools_json) {
        tools = llmc_json_parse(tools_json, strlen(tools_json), "tools", err);
        if (!tools) st = err ? err->code : LLMC_ERR_FORMAT;
        else llmc_template_json_mark_floats(tools, tools_json, strlen(tools_json));
    }
    bool cont;
    if (!st) st = chat_core(p, msgs, tools, g, reply, &cont, stats, ids_out, n_out, err);
    cJSON_Delete(tools);
    cJSON_Delete(msgs);
    return st;
}

llmc_status llmc_pipeline_chat_json(llmc_pipeline *p, const char *messages_json, const char *tools_json,
                                    const llmc_gen_params *g, char **reply, llmc_gen_stats *stats, llmc_error *err) {
    *reply = NULL;
    llmc_gen_params def;
    if (!g) { llmc_gen_params_default(&def); g = &def; }
    return chat_json_core(p, messages_json, tools_json, g, reply, stats, NULL, NULL, err);
}

llmc_status llmc_pipeline_chat(llmc_pipeline *p, const llmc_message *msgs, int n_msgs, const llmc_gen_params *g,
                               llmc_message **conv, int *n_conv, llmc_gen_stats *stats, llmc_error *err) {
    *conv = NULL;
    *n_conv = 0;
    llmc_gen_params def;
    if (!g) { llmc_gen_params_default(&def); g = &def; }
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n_msgs; i++) {
        if (!msgs[i].role || !msgs[i].content) { cJSON_Delete(arr); return llmc_err(err, LLMC_ERR_INVALID_ARG, "messages[%d]: role and content must be set", i); }
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddStringToObject(m, "role", msgs[i].role) || !cJSON_AddStringToObject(m, "content", msgs[i].content)) {
            cJSON_Delete(m);
            cJSON_Delete(arr);
            return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        }
        cJSON_AddItemToArray(arr, m);
    }
    if (!arr) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    char *reply = NULL;
    bool cont = false;
    llmc_status st = chat_core(p, arr, NULL, g, &reply, &cont, stats, NULL, NULL, err);
    cJSON_Delete(arr);
    if (st) return st;
    int n = cont ? n_msgs : n_msgs + 1;
    llmc_message *out = calloc((size_t)n, sizeof *out);
    if (!out) { free(reply); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    bool oom = false;
    for (int i = 0; i < n_msgs; i++) {
        out[i].role = strdup(msgs[i].role);
        if (cont && i == n_msgs - 1) {
            size_t a = strlen(msgs[i].content), b = strlen(reply);
            out[i].content = malloc(a + b + 1);
            if (out[i].content) { memcpy(out[i].content, msgs[i].content, a); memcpy(out[i].content + a, reply, b + 1); }
        } else {
            out[i].content = strdup(msgs[i].content);
        }
        oom |= !out[i].role || !out[i].content;
    }
    if (!cont) {
        out[n_msgs].role = strdup("assistant");
        out[n_msgs].content = reply;
        reply = NULL;
        oom |= !out[n_msgs].role;
    }
    free(reply);
    if (oom) { llmc_messages_free(out, n); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    *conv = out;
    *n_conv = n;
    return LLMC_OK;
}

/* ---- prompts and parameters for the multi-sequence engine (server, batched calls) ---- */

llmc_status llmc_pipeline_prompt_ids(llmc_pipeline *p, const char *messages_json, const char *tools_json, const char *text, int32_t **ids,
                                     size_t *n, llmc_error *err) {
    *ids = NULL;
    *n = 0;
    if (!p || (!messages_json && !text)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "prompt: a pipeline and messages or text are needed");
    if (!p->tok) return llmc_err(err, LLMC_ERR_NOT_FOUND, "the model has no tokenizer (tokenizer.json): text generation needs one");
    if (text) return llmc_tokenizer_encode(p->tok, text, strlen(text), true, ids, n, err);
    llmc_gen_params g;
    llmc_gen_params_default(&g);
    char *reply = NULL;
    return chat_json_core(p, messages_json, tools_json, &g, &reply, NULL, ids, n, err);
}

void llmc_pipeline_resolve_params(const llmc_pipeline *p, const llmc_gen_params *g, int n_prompt, llmc_sampling *s, int *max_new) {
    llmc_gen_params def;
    if (!g) { llmc_gen_params_default(&def); g = &def; }
    merge_params(p, g, n_prompt, s, max_new);
}
