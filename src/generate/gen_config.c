/* generation_config.json reader: the decoding defaults a model ships with. */
#include "generate/gen_config.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GEN_CONFIG_MAX_BYTES (4u << 20)

void llmc_gen_config_default(llmc_gen_config *g) {
    memset(g, 0, sizeof *g);
    llmc_sampling_default(&g->sampling);
    g->max_new_tokens = -1;
    g->max_length = -1;
    g->n_eos = 0;
    g->bos_id = -1;
    g->pad_id = -1;
    g->set = 0;
}

/* Member lookup that treats JSON null as absent (GenerationConfig's None). cJSON's
 * object lookup is case-insensitive; keys here must match exactly. */
static const cJSON *member(const cJSON *o, const char *key) {
    for (const cJSON *it = o->child; it; it = it->next)
        if (it->string && strcmp(it->string, key) == 0) return cJSON_IsNull(it) ? NULL : it;
    return NULL;
}

static llmc_status get_num(const cJSON *o, const char *key, double lo, double hi, const char *what, double *out,
                           bool *present, llmc_error *err) {
    const cJSON *it = member(o, key);
    *present = false;
    if (!it) return LLMC_OK;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' must be a number", what, key);
    if (!(it->valuedouble >= lo && it->valuedouble <= hi))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' is %g, outside [%g, %g]", what, key, it->valuedouble, lo, hi);
    *out = it->valuedouble;
    *present = true;
    return LLMC_OK;
}

static llmc_status get_int(const cJSON *o, const char *key, long long lo, long long hi, const char *what, long long *out,
                           bool *present, llmc_error *err) {
    const cJSON *it = member(o, key);
    *present = false;
    if (!it) return LLMC_OK;
    if (!llmc_json_is_int(it, lo, hi))
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' must be an integer in [%lld, %lld]", what, key, lo, hi);
    *out = (long long)it->valuedouble;
    *present = true;
    return LLMC_OK;
}

llmc_status llmc_gen_config_parse(const char *json, size_t len, const char *what, llmc_gen_config *g, llmc_error *err) {
    if (!what) what = "generation_config.json";
    cJSON *root = llmc_json_parse(json, len, what, err);
    if (!root) return err ? err->code : LLMC_ERR_FORMAT;
    llmc_status st = LLMC_OK;
    llmc_gen_config n = *g; /* applied only when everything parsed */
    if (!cJSON_IsObject(root)) {
        st = llmc_err(err, LLMC_ERR_FORMAT, "%s: the top level must be a JSON object", what);
        goto out;
    }
    bool has;
    double d;
    long long v;
    const cJSON *it = member(root, "do_sample");
    if (it) {
        if (!cJSON_IsBool(it)) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: 'do_sample' must be true or false", what);
            goto out;
        }
        n.sampling.do_sample = cJSON_IsTrue(it);
        n.set |= LLMC_GEN_SET_DO_SAMPLE;
    }
    /* temperature 0 is accepted: llmc reads it as greedy (transformers refuses it when sampling). */
    if ((st = get_num(root, "temperature", 0, 1e6, what, &d, &has, err))) goto out;
    if (has) { n.sampling.temperature = (float)d; n.set |= LLMC_GEN_SET_TEMPERATURE; }
    if ((st = get_int(root, "top_k", 0, 1LL << 31, what, &v, &has, err))) goto out;
    if (has) { n.sampling.top_k = v > 0x7fffffff ? 0x7fffffff : (int)v; n.set |= LLMC_GEN_SET_TOP_K; }
    if ((st = get_num(root, "top_p", 0, 1, what, &d, &has, err))) goto out;
    if (has) { n.sampling.top_p = (float)d; n.set |= LLMC_GEN_SET_TOP_P; }
    if ((st = get_num(root, "min_p", 0, 1, what, &d, &has, err))) goto out;
    if (has) { n.sampling.min_p = (float)d; n.set |= LLMC_GEN_SET_MIN_P; }
    if ((st = get_num(root, "repetition_penalty", 0, 1e6, what, &d, &has, err))) goto out;
    if (has) {
        if (!(d > 0)) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: 'repetition_penalty' must be strictly positive, is %g", what, d);
            goto out;
        }
        n.sampling.repetition_penalty = (float)d;
        n.set |= LLMC_GEN_SET_REPETITION_PENALTY;
    }
    if ((st = get_int(root, "max_new_tokens", 1, 1 << 30, what, &v, &has, err))) goto out;
    if (has) { n.max_new_tokens = (int)v; n.set |= LLMC_GEN_SET_MAX_NEW_TOKENS; }
    if ((st = get_int(root, "max_length", 0, 1 << 30, what, &v, &has, err))) goto out;
    if (has) { n.max_length = (int)v; n.set |= LLMC_GEN_SET_MAX_LENGTH; }
    if ((st = get_int(root, "bos_token_id", 0, 0x7fffffff, what, &v, &has, err))) goto out;
    if (has) { n.bos_id = (int32_t)v; n.set |= LLMC_GEN_SET_BOS; }
    if ((st = get_int(root, "pad_token_id", 0, 0x7fffffff, what, &v, &has, err))) goto out;
    if (has) { n.pad_id = (int32_t)v; n.set |= LLMC_GEN_SET_PAD; }
    it = member(root, "eos_token_id");
    if (it) {
        n.n_eos = 0;
        if (cJSON_IsArray(it)) {
            int cnt = cJSON_GetArraySize(it);
            if (cnt > LLMC_GEN_MAX_EOS) {
                st = llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: 'eos_token_id' lists %d ids, at most %d are supported", what,
                              cnt, LLMC_GEN_MAX_EOS);
                goto out;
            }
            int k = 0;
            for (const cJSON *e = it->child; e; e = e->next, k++) {
                if (!llmc_json_is_int(e, 0, 0x7fffffff)) {
                    st = llmc_err(err, LLMC_ERR_FORMAT, "%s: 'eos_token_id'[%d] must be a non-negative integer", what, k);
                    goto out;
                }
                int32_t id = (int32_t)e->valuedouble;
                bool dup = false;
                for (int j = 0; j < n.n_eos; j++) dup |= n.eos_ids[j] == id;
                if (!dup) n.eos_ids[n.n_eos++] = id;
            }
        } else if (llmc_json_is_int(it, 0, 0x7fffffff)) {
            n.eos_ids[n.n_eos++] = (int32_t)it->valuedouble;
        } else {
            st = llmc_err(err, LLMC_ERR_FORMAT, "%s: 'eos_token_id' must be an integer or a list of integers", what);
            goto out;
        }
        n.set |= LLMC_GEN_SET_EOS;
    }
    *g = n;
out:
    cJSON_Delete(root);
    return st;
}

llmc_status llmc_gen_config_load(const char *path, llmc_gen_config *g, llmc_error *err) {
    char *buf = NULL;
    size_t len = 0;
    llmc_status st = llmc_read_file(path, GEN_CONFIG_MAX_BYTES, &buf, &len, err);
    if (st != LLMC_OK) return st;
    st = llmc_gen_config_parse(buf, len, path, g, err);
    free(buf);
    return st;
}

void llmc_gen_config_resolve(const llmc_gen_config *model, const llmc_gen_config *call, bool pipeline, int n_prompt,
                             int max_position_embeddings, llmc_gen_config *out) {
    llmc_gen_config none, glob;
    llmc_gen_config_default(&none);
    llmc_gen_config_default(&glob);
    if (!call) call = &none;
    if (!model) model = &none;
    unsigned ms = model->set, cs = call->set, set = ms | cs;
    /* The pipeline's defaults behave as extra call kwargs for what nobody set. */
    llmc_gen_config c = *call;
    if (pipeline) {
        if (!(set & (LLMC_GEN_SET_MAX_NEW_TOKENS | LLMC_GEN_SET_MAX_LENGTH))) {
            c.max_new_tokens = 256;
            c.set |= LLMC_GEN_SET_MAX_NEW_TOKENS;
        }
        if (!(set & LLMC_GEN_SET_DO_SAMPLE)) {
            c.sampling.do_sample = true;
            c.set |= LLMC_GEN_SET_DO_SAMPLE;
        }
        bool samples = (c.set & LLMC_GEN_SET_DO_SAMPLE) ? c.sampling.do_sample : model->sampling.do_sample;
        if (samples && !(set & LLMC_GEN_SET_TEMPERATURE)) {
            c.sampling.temperature = 0.7f;
            c.set |= LLMC_GEN_SET_TEMPERATURE;
        }
    }
    cs = c.set;
    *out = glob;
#define PICK(bit, field) out->field = (cs & (bit)) ? c.field : (ms & (bit)) ? model->field : glob.field
    PICK(LLMC_GEN_SET_DO_SAMPLE, sampling.do_sample);
    PICK(LLMC_GEN_SET_TEMPERATURE, sampling.temperature);
    PICK(LLMC_GEN_SET_TOP_K, sampling.top_k);
    PICK(LLMC_GEN_SET_TOP_P, sampling.top_p);
    PICK(LLMC_GEN_SET_MIN_P, sampling.min_p);
    PICK(LLMC_GEN_SET_REPETITION_PENALTY, sampling.repetition_penalty);
    PICK(LLMC_GEN_SET_BOS, bos_id);
    PICK(LLMC_GEN_SET_PAD, pad_id);
#undef PICK
    const llmc_gen_config *eos = (cs & LLMC_GEN_SET_EOS) ? &c : (ms & LLMC_GEN_SET_EOS) ? model : NULL;
    if (!eos) eos = call->n_eos ? call : model; /* ids filled in by hand, without set bits */
    out->n_eos = eos->n_eos;
    memcpy(out->eos_ids, eos->eos_ids, sizeof out->eos_ids);
    if (!(set & LLMC_GEN_SET_BOS) && out->bos_id < 0) out->bos_id = call->bos_id >= 0 ? call->bos_id : model->bos_id;
    if (!(set & LLMC_GEN_SET_PAD) && out->pad_id < 0) out->pad_id = call->pad_id >= 0 ? call->pad_id : model->pad_id;
    out->sampling.seed = call->sampling.seed;
    out->sampling.has_seed = call->sampling.has_seed;

    if (n_prompt < 0) n_prompt = 0;
    long long budget;
    if (cs & LLMC_GEN_SET_MAX_NEW_TOKENS) budget = c.max_new_tokens;
    else if (ms & LLMC_GEN_SET_MAX_NEW_TOKENS) budget = model->max_new_tokens;
    else if (cs & LLMC_GEN_SET_MAX_LENGTH) budget = (long long)c.max_length - n_prompt;
    else if (ms & LLMC_GEN_SET_MAX_LENGTH) budget = (long long)model->max_length - n_prompt;
    else {
        long long total = 20LL + n_prompt; /* GenerationConfig's max_length 20, counted from the prompt end */
        if (max_position_embeddings > 0 && total > max_position_embeddings) total = max_position_embeddings;
        budget = total - n_prompt;
    }
    if (budget < 1) budget = 1;
    if (budget > (1 << 30)) budget = 1 << 30;
    out->max_new_tokens = (int)budget;
    out->max_length = (int)(n_prompt + budget > (1 << 30) ? (1 << 30) : n_prompt + budget);
    out->set = model->set | call->set;
}
