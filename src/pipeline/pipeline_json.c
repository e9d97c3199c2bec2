/* The pipeline for bindings, with options and results as JSON: a binding (the Python package)
 * never mirrors a C struct, so the structs can grow without breaking it. Every key is checked:
 * an unknown key or a value of the wrong type or range is an error naming the key, as the CLI's
 * flags are. */
#include "pipeline/pipeline_internal.h"
#include "base/error.h"
#include "base/json.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PJ_MAX_STOPS 16
#define PJ_MAX_JSON (64u << 20)

/* A string member (NULL: absent or null); false with *err when present and not a string. */
static bool pj_str(const cJSON *o, const char *key, const char **out, llmc_error *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!it || cJSON_IsNull(it)) return true;
    if (!cJSON_IsString(it)) { llmc_err(err, LLMC_ERR_INVALID_ARG, "'%s' must be a string", key); return false; }
    *out = it->valuestring;
    return true;
}

/* A number member in [lo, hi] (integral when want_int); absent or null leaves *out. */
static bool pj_num(const cJSON *o, const char *key, double lo, double hi, bool want_int, double *out, llmc_error *err) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return true;
    double v = cJSON_IsBool(it) && want_int ? (double)cJSON_IsTrue(it) : it->valuedouble;
    if ((!cJSON_IsNumber(it) && !(want_int && cJSON_IsBool(it))) || !isfinite(v) || v < lo || v > hi || (want_int && v != floor(v))) {
        llmc_err(err, LLMC_ERR_INVALID_ARG, "'%s' must be %s from %g to %g", key, want_int ? "an integer" : "a number", lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static bool pj_known(const cJSON *o, const char *const *keys, const char *what, llmc_error *err) {
    for (const cJSON *it = o->child; it; it = it->next) {
        bool ok = false;
        for (int k = 0; keys[k] && !ok; k++) ok = !strcmp(it->string, keys[k]);
        if (!ok) { llmc_err(err, LLMC_ERR_INVALID_ARG, "%s: unknown option '%s'", what, it->string); return false; }
    }
    return true;
}

llmc_status llmc_pipeline_create_json(const char *opts_json, llmc_progress_fn progress, void *progress_user, llmc_pipeline **out,
                                      llmc_error *err) {
    *out = NULL;
    static const char *const keys[] = {"model", "dtype", "device", "token", "revision", "n_threads", "max_context",
                                       "gpu_layers", "fast_activations", "quantize", NULL};
    cJSON *o = llmc_json_parse(opts_json ? opts_json : "", opts_json ? strlen(opts_json) : 0, "pipeline options", err);
    if (!o) return err ? err->code : LLMC_ERR_INVALID_ARG;
    llmc_pipeline_opts po;
    llmc_pipeline_opts_default(&po);
    double n_threads = 0, max_context = 0, gpu_layers = -1, fast = 0;
    bool ok = cJSON_IsObject(o) && pj_known(o, keys, "pipeline", err) && pj_str(o, "model", &po.model, err) &&
              pj_str(o, "dtype", &po.dtype, err) && pj_str(o, "device", &po.device, err) && pj_str(o, "token", &po.token, err) &&
              pj_str(o, "revision", &po.revision, err) && pj_str(o, "quantize", &po.quantize, err) &&
              pj_num(o, "n_threads", 0, 1024, true, &n_threads, err) && pj_num(o, "max_context", 0, 1 << 24, true, &max_context, err) &&
              pj_num(o, "gpu_layers", -1, 1 << 16, true, &gpu_layers, err) && pj_num(o, "fast_activations", 0, 1, true, &fast, err);
    llmc_status st = LLMC_OK;
    if (!cJSON_IsObject(o)) st = llmc_err(err, LLMC_ERR_INVALID_ARG, "pipeline options must be a JSON object");
    else if (!ok) st = err ? err->code : LLMC_ERR_INVALID_ARG;
    else if (!po.model) st = llmc_err(err, LLMC_ERR_INVALID_ARG, "pipeline: 'model' is required (a Hub id, a model directory or a .gguf file)");
    if (!st) {
        po.n_threads = (int)n_threads;
        po.max_context = (int)max_context;
        po.gpu_layers = (int)gpu_layers;
        po.fast_activations = (int)fast;
        po.progress = progress;
        po.progress_user = progress_user;
        st = llmc_pipeline_create(&po, out, err);
    }
    cJSON_Delete(o);
    return st;
}

/* The generation keys of a request into g (strings point into o). */
static bool pj_gen(const cJSON *o, llmc_gen_params *g, const char **stops, llmc_error *err) {
    double max_new = -1, do_sample = -1, t = -1, k = -1, p = -1, mp = -1, rp = -1, seed = -1, ign = 0, cut = 0;
    if (!pj_num(o, "max_new_tokens", 1, 1 << 24, true, &max_new, err) || !pj_num(o, "do_sample", 0, 1, true, &do_sample, err) ||
        !pj_num(o, "temperature", 0, 100, false, &t, err) || !pj_num(o, "top_k", 0, 1 << 30, true, &k, err) ||
        !pj_num(o, "top_p", 0, 1, false, &p, err) || !pj_num(o, "min_p", 0, 1, false, &mp, err) ||
        !pj_num(o, "repetition_penalty", 1e-6, 100, false, &rp, err) || !pj_num(o, "seed", 0, 9e15, true, &seed, err) ||
        !pj_num(o, "ignore_eos", 0, 1, true, &ign, err) || !pj_num(o, "cut_stop_strings", 0, 1, true, &cut, err) ||
        !pj_str(o, "json_schema", &g->json_schema, err) ||
        !pj_str(o, "grammar", &g->grammar, err))
        return false;
    g->max_new_tokens = (int)max_new;
    g->do_sample = (int)do_sample;
    g->temperature = (float)t;
    g->top_k = (int)k;
    g->top_p = (float)p;
    g->min_p = (float)mp;
    g->repetition_penalty = (float)rp;
    if (seed >= 0) { g->seed = (uint64_t)seed; g->has_seed = true; }
    g->ignore_eos = ign != 0;
    g->cut_stop_strings = cut != 0;
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(o, "stop_strings");
    if (ss && !cJSON_IsNull(ss)) {
        int n = 0;
        for (const cJSON *s = cJSON_IsArray(ss) ? ss->child : NULL; s; s = s->next) {
            if (!cJSON_IsString(s) || n >= PJ_MAX_STOPS) {
                llmc_err(err, LLMC_ERR_INVALID_ARG, "'stop_strings' must be a list of at most %d strings", PJ_MAX_STOPS);
                return false;
            }
            stops[n++] = s->valuestring;
        }
        if (!cJSON_IsArray(ss)) { llmc_err(err, LLMC_ERR_INVALID_ARG, "'stop_strings' must be a list of strings"); return false; }
        g->stop_strings = stops;
        g->n_stop_strings = n;
    }
    return true;
}

static char *pj_result(const char *reply, const llmc_gen_stats *s) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "text", reply ? reply : "");
    cJSON_AddStringToObject(r, "stop", llmc_stop_reason_name(s->stop));
    cJSON_AddNumberToObject(r, "prompt_tokens", s->prompt_tokens);
    cJSON_AddNumberToObject(r, "reused_tokens", s->reused_tokens);
    cJSON_AddNumberToObject(r, "generated_tokens", s->generated_tokens);
    cJSON_AddNumberToObject(r, "ttft_ms", s->ttft_ms);
    cJSON_AddNumberToObject(r, "prefill_tokens_per_s", s->prefill_tokens_per_s);
    cJSON_AddNumberToObject(r, "decode_tokens_per_s", s->decode_tokens_per_s);
    char *out = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return out;
}

llmc_status llmc_pipeline_generate_json(llmc_pipeline *p, const char *messages_json, const char *tools_json,
                                        const char *request_json, llmc_text_fn on_text, void *user, volatile int *cancel,
                                        char **result_json, llmc_error *err) {
    *result_json = NULL;
    static const char *const keys[] = {"text", "max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "min_p",
                                       "repetition_penalty", "seed", "stop_strings", "ignore_eos", "cut_stop_strings", "json_schema",
                                       "grammar", NULL};
    if (!p || !request_json) return llmc_err(err, LLMC_ERR_INVALID_ARG, "generate: a pipeline and a request are needed");
    if (strlen(request_json) > PJ_MAX_JSON) return llmc_err(err, LLMC_ERR_NOMEM, "generate: the request is over %u bytes", PJ_MAX_JSON);
    cJSON *o = llmc_json_parse(request_json, strlen(request_json), "generation request", err);
    if (!o) return err ? err->code : LLMC_ERR_INVALID_ARG;
    llmc_gen_params g;
    llmc_gen_params_default(&g);
    g.on_text = on_text;
    g.on_text_user = user;
    g.cancel = cancel;
    const char *stops[PJ_MAX_STOPS], *text = NULL;
    llmc_status st = LLMC_OK;
    if (!cJSON_IsObject(o) || !pj_known(o, keys, "generate", err) || !pj_gen(o, &g, stops, err) || !pj_str(o, "text", &text, err))
        st = err && err->code ? err->code : llmc_err(err, LLMC_ERR_INVALID_ARG, "the generation request must be a JSON object");
    else if (!text == !messages_json)
        st = llmc_err(err, LLMC_ERR_INVALID_ARG, "generate: give either messages (a conversation) or 'text' (plain text)");
    else if (text && tools_json)
        st = llmc_err(err, LLMC_ERR_INVALID_ARG, "generate: tools go with a conversation, not plain text");
    char *reply = NULL;
    llmc_gen_stats stats = {0};
    if (!st) {
        /* the messages' own text goes to the template: 1.0 stays a float there */
        st = text ? llmc_pipeline_complete(p, text, &g, &reply, &stats, err)
                  : llmc_pipeline_chat_json(p, messages_json, tools_json, &g, &reply, &stats, err);
    }
    if (!st && !(*result_json = pj_result(reply, &stats))) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    free(reply);
    cJSON_Delete(o);
    return st;
}

/* One result of a batch: the result object, or {"error": {"code", "message"}}. */
static cJSON *pj_batch_item(const char *reply, const llmc_gen_stats *s, llmc_status st, const llmc_error *e) {
    if (st) {
        cJSON *r = cJSON_CreateObject(), *eo = cJSON_AddObjectToObject(r, "error");
        if (eo) {
            cJSON_AddNumberToObject(eo, "code", st);
            cJSON_AddStringToObject(eo, "message", e && e->msg[0] ? e->msg : llmc_status_name(st));
        }
        return r;
    }
    char *txt = pj_result(reply, s);
    cJSON *r = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    return r;
}

llmc_status llmc_pipeline_generate_batch_json(llmc_pipeline *p, int n, const char *const *messages_json, const char *const *texts,
                                              const char *request_json, volatile int *cancel, char **results_json, llmc_error *err) {
    *results_json = NULL;
    static const char *const keys[] = {"max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "min_p",
                                       "repetition_penalty", "seed", "stop_strings", "ignore_eos", "cut_stop_strings", "json_schema",
                                       "grammar", NULL};
    if (!p || !request_json || n < 1 || !messages_json)
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "generate_batch: a pipeline, at least one input and a request are needed");
    for (int i = 0; i < n; i++)
        if (!messages_json[i] == !(texts && texts[i]))
            return llmc_err(err, LLMC_ERR_INVALID_ARG, "generate_batch: input %d: give either messages or a text", i);
    if (strlen(request_json) > PJ_MAX_JSON) return llmc_err(err, LLMC_ERR_NOMEM, "generate_batch: the request is over %u bytes", PJ_MAX_JSON);
    cJSON *o = llmc_json_parse(request_json, strlen(request_json), "generation request", err);
    if (!o) return err ? err->code : LLMC_ERR_INVALID_ARG;
    llmc_gen_params g;
    llmc_gen_params_default(&g);
    g.cancel = cancel;
    const char *stops[PJ_MAX_STOPS];
    llmc_status st = LLMC_OK;
    if (!cJSON_IsObject(o) || !pj_known(o, keys, "generate_batch", err) || !pj_gen(o, &g, stops, err))
        st = err && err->code ? err->code : llmc_err(err, LLMC_ERR_INVALID_ARG, "the generation request must be a JSON object");
    char **replies = NULL;
    llmc_gen_stats *stats = NULL;
    llmc_status *status = NULL;
    llmc_error *errs = NULL;
    if (!st && (!(replies = calloc((size_t)n, sizeof *replies)) || !(stats = calloc((size_t)n, sizeof *stats)) ||
                !(status = calloc((size_t)n, sizeof *status)) || !(errs = calloc((size_t)n, sizeof *errs))))
        st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_status first = LLMC_OK;
    if (!st) first = llmc_pipeline_turns_batch(p, n, messages_json, texts, &g, replies, stats, status, errs, err);
    /* a failure with no turn's status set is the call's own (too many inputs, no engine): no results */
    bool some_failed = false;
    for (int i = 0; !st && i < n; i++) some_failed |= status[i] != LLMC_OK;
    if (!st && first && !some_failed) st = first;
    cJSON *arr = st ? NULL : cJSON_CreateArray();
    if (!st && !arr) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < n; i++) {
        cJSON *item = pj_batch_item(replies[i], &stats[i], status[i], &errs[i]);
        if (!item || !cJSON_AddItemToArray(arr, item)) { cJSON_Delete(item); st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    }
    if (!st && !(*results_json = cJSON_PrintUnformatted(arr))) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    if (!st) st = first;
    for (int i = 0; replies && i < n; i++) free(replies[i]);
    free(replies);
    free(stats);
    free(status);
    free(errs);
    cJSON_Delete(arr);
    cJSON_Delete(o);
    return st;
}
