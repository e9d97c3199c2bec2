/* config.json → llmc_config for the families of the architecture table (formats/arch.h).
 * Defaults follow each family's transformers config class so a sparse config means what
 * it means to transformers; options llmc does not implement are refused by name. */
#include "formats/hf_config.h"
#include "formats/arch.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HC_MAX_CONFIG (16u * 1024u * 1024u)

/* Python's json (what transformers reads config.json with) keeps the LAST of
 * duplicate keys; cJSON's lookup returns the first, so look up by hand. */
static const cJSON *hc_get(const cJSON *o, const char *key) {
    const cJSON *r = NULL;
    if (!cJSON_IsObject(o)) return NULL;
    for (const cJSON *it = o->child; it; it = it->next)
        if (it->string && strcmp(it->string, key) == 0) r = it;
    return r;
}

static const char *hc_str(const cJSON *o, const char *key) {
    const cJSON *it = hc_get(o, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* A required/optional positive int with a sanity bound. Returns false and fills err on a bad value. */
static bool hc_int(const cJSON *j, const char *key, const char *what, bool required, long long def, long long lo, long long hi,
                   int *out, llmc_error *err) {
    const cJSON *it = hc_get(j, key);
    if (!it || cJSON_IsNull(it)) {
        if (required) { llmc_err(err, LLMC_ERR_FORMAT, "%s: missing field '%s'", what, key); return false; }
        *out = (int)def;
        return true;
    }
    if (!llmc_json_is_int(it, lo, hi)) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: field '%s' must be an integer in [%lld, %lld]", what, key, lo, hi);
        return false;
    }
    *out = (int)it->valuedouble;
    return true;
}

static bool hc_num(const cJSON *j, const char *key, const char *what, bool required, double def, double *out, llmc_error *err) {
    const cJSON *it = hc_get(j, key);
    if (!it || cJSON_IsNull(it)) {
        if (required) { llmc_err(err, LLMC_ERR_FORMAT, "%s: missing field '%s'", what, key); return false; }
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: field '%s' must be a number", what, key);
        return false;
    }
    *out = it->valuedouble;
    return true;
}

static bool hc_bool(const cJSON *j, const char *key, const char *what, bool def, bool *out, llmc_error *err) {
    const cJSON *it = hc_get(j, key);
    if (!it || cJSON_IsNull(it)) { *out = def; return true; }
    if (!cJSON_IsBool(it)) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: field '%s' must be true or false", what, key);
        return false;
    }
    *out = cJSON_IsTrue(it);
    return true;
}

/* n positive numbers of src's list `key` into out. */
static bool hc_factor_list(const cJSON *src, const char *key, int n, float *out, const char *what, const char *field, llmc_error *err) {
    const cJSON *a = hc_get(src, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: %s.%s must list %d numbers (rotary dims / 2)", what, field, key, n);
        return false;
    }
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || !(e->valuedouble > 0)) {
            llmc_err(err, LLMC_ERR_FORMAT, "%s: %s.%s[%d] must be a positive number", what, field, key, i);
            return false;
        }
        out[i] = (float)e->valuedouble;
    }
    return true;
}

static bool hc_short_long(const cJSON *src, const char *field, const char *what, int half, llmc_config *c, llmc_error *err) {
    return hc_factor_list(src, "short_factor", half, c->rope_short_factor, what, field, err) &&
           hc_factor_list(src, "long_factor", half, c->rope_long_factor, what, field, err);
}

/* LongRoPE (Phi-3.5, Phi-4-mini) as transformers computes it: inv_freq = 1 / (ext · θ^(2i/d)) with
   ext the short factors, or the long ones in a call whose last position + 1 passes
   original_max_position_embeddings (Phi3Config's own field, 4096 by default, takes priority over
   the one in the rope dict); cos and sin × attention_factor (default sqrt(1 + ln f / ln orig),
   f = factor or max_position_embeddings / orig; 1 when f <= 1). */
static bool hc_longrope(const cJSON *j, const cJSON *src, const char *field, const char *what, llmc_config *c, llmc_error *err) {
    const int half = llmc_config_rotary_dim(c) / 2;
    if (half > LLMC_MAX_ROPE_FACTORS) {
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: longrope over %d rotary dims is more than llmc holds (%d)", what, 2 * half, 2 * LLMC_MAX_ROPE_FACTORS);
        return false;
    }
    int orig = 4096;
    const cJSON *top = hc_get(j, "original_max_position_embeddings");
    if (!(top && !cJSON_IsNull(top) ? hc_int(j, "original_max_position_embeddings", what, false, 4096, 1, 1 << 30, &orig, err)
                                     : hc_int(src, "original_max_position_embeddings", what, false, 4096, 1, 1 << 30, &orig, err)))
        return false;
    double factor = (double)c->max_position_embeddings / orig, af;
    if (!hc_short_long(src, field, what, half, c, err) || !hc_num(src, "factor", what, false, factor, &factor, err)) return false;
    if (!(factor > 0)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: %s.factor must be positive", what, field); return false; }
    double def_af = factor <= 1.0 || orig <= 1 ? 1.0 : sqrt(1 + log(factor) / log((double)orig));
    if (!hc_num(src, "attention_factor", what, false, def_af, &af, err)) return false;
    if (!(af > 0)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: %s.attention_factor must be positive", what, field); return false; }
    c->rope_type = LLMC_ROPE_LONGROPE;
    c->rope_factor = factor;
    c->rope_original_max_position = orig;
    c->rope_attn_factor = af;
    return true;
}

/* RoPE: 5.x puts everything in rope_parameters; 4.x has rope_theta at the top and
 * an optional rope_scaling ({"type"|"rope_type", "factor", ...}). */
static bool hc_rope_from(const cJSON *j, const cJSON *src, const char *field, bool src_is_scaling, double default_theta, const char *what,
                         llmc_config *c, llmc_error *err);

static double hc_yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * log(scale) + 1.0; }

/* YaRN (transformers' _compute_yarn_parameters): factor and original_max_position_embeddings
   required; beta_fast / beta_slow (32 / 1 when absent or 0), truncate (true); the cos/sin
   factor attention_factor, else mscale(factor, mscale) / mscale(factor, mscale_all_dim) when
   both are given, else mscale(factor). DeepSeek-V3's softmax scale × mscale(factor,
   mscale_all_dim)² is applied by hc_mla (through rope_mscale_all_dim). */
static bool hc_yarn(const cJSON *src, const char *field, const char *what, llmc_config *c, llmc_error *err) {
    double af = 0, ms = 0, msa = 0;
    c->rope_type = LLMC_ROPE_YARN;
    if (!hc_num(src, "factor", what, true, 1.0, &c->rope_factor, err) ||
        !hc_int(src, "original_max_position_embeddings", what, true, 0, 1, 1LL << 30, &c->rope_original_max_position, err) ||
        !hc_num(src, "beta_fast", what, false, 0, &c->yarn_beta_fast, err) || !hc_num(src, "beta_slow", what, false, 0, &c->yarn_beta_slow, err) ||
        !hc_bool(src, "truncate", what, true, &c->yarn_truncate, err) || !hc_num(src, "attention_factor", what, false, 0, &af, err) ||
        !hc_num(src, "mscale", what, false, 0, &ms, err) || !hc_num(src, "mscale_all_dim", what, false, 0, &msa, err)) {
        llmc_err_prefix(err, "%s: ", field);
        return false;
    }
    if (c->yarn_beta_fast == 0) c->yarn_beta_fast = 32;
    if (c->yarn_beta_slow == 0) c->yarn_beta_slow = 1;
    if (!(c->rope_factor > 0) || !(c->yarn_beta_fast > 0) || !(c->yarn_beta_slow > 0) || af < 0) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: %s: yarn needs factor, beta_fast and beta_slow > 0 and attention_factor >= 0", what, field);
        return false;
    }
    c->rope_attn_factor = af > 0 ? af : ms != 0 && msa != 0 ? hc_yarn_mscale(c->rope_factor, ms) / hc_yarn_mscale(c->rope_factor, msa)
                                                            : hc_yarn_mscale(c->rope_factor, 1);
    c->rope_mscale_all_dim = msa;
    return true;
}

static bool hc_rope(const cJSON *j, const char *what, llmc_config *c, llmc_error *err) {
    const cJSON *rp = hc_get(j, "rope_parameters");
    const cJSON *rs = hc_get(j, "rope_scaling");
    const cJSON *src = NULL;
    const char *field = NULL;
    if (rp && !cJSON_IsNull(rp)) {
        if (!cJSON_IsObject(rp)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'rope_parameters' must be an object", what); return false; }
        /* Per-layer-type rope parameters (nested objects) are a different model family. */
        for (const cJSON *it = rp->child; it; it = it->next)
            if (cJSON_IsObject(it)) {
                llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: per-layer 'rope_parameters' ('%s') are not supported", what, it->string);
                return false;
            }
        src = rp;
        field = "rope_parameters";
    } else if (rs && !cJSON_IsNull(rs)) {
        if (!cJSON_IsObject(rs)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'rope_scaling' must be an object or null", what); return false; }
        src = rs;
        field = "rope_scaling";
    }
    return hc_rope_from(j, src, field, src && src == rs, 10000.0, what, c, err);
}

/* The global RoPE from src (rope_parameters, rope_scaling, or a per-layer-type entry), with
   top-level rope_theta / partial_rotary_factor as the 4.x fallbacks. */
static bool hc_rope_from(const cJSON *j, const cJSON *src, const char *field, bool src_is_scaling, double default_theta, const char *what,
                         llmc_config *c, llmc_error *err) {
    /* rope_theta: inside rope_parameters (5.x), else top-level (4.x). */
    double theta = default_theta;
    if (src && hc_get(src, "rope_theta")) {
        if (!hc_num(src, "rope_theta", what, false, default_theta, &theta, err)) return false;
    } else if (!hc_num(j, "rope_theta", what, false, default_theta, &theta, err)) return false;
    if (!(theta > 0)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: rope_theta must be positive", what); return false; }
    c->rope_theta = theta;
    c->rope_type = LLMC_ROPE_DEFAULT;
    c->rope_factor = 1.0;
    c->rope_low_freq_factor = 1.0;
    c->rope_high_freq_factor = 4.0;
    c->rope_original_max_position = 0;
    /* Phi-3 (the only family whose transformers model reads them): partial_rotary_factor, longrope */
    const llmc_arch *A = llmc_arch_by_hf(c->architecture);
    const bool phi = A && (A->flags & LLMC_ARCH_LONGROPE);
    double prf = 1.0;
    if (!hc_num(j, "partial_rotary_factor", what, false, 1.0, &prf, err)) return false;
    if (src && !hc_num(src, "partial_rotary_factor", what, false, prf, &prf, err)) return false;
    c->rotary_dim = 0;
    c->rope_attn_factor = 0;
    if (prf != 1.0) {
        if (!phi) {
            llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: partial_rotary_factor %g is not supported for %s (only 1.0)", what, prf, A ? A->label : "this family");
            return false;
        }
        int rd = prf > 0 && prf < 1 ? (int)(c->head_dim * prf) : 0; /* int(head_dim * factor), as transformers */
        if (rd < 2 || rd % 2) {
            llmc_err(err, LLMC_ERR_FORMAT, "%s: partial_rotary_factor %g must be in (0, 1] and give an even number of rotary dims (head_dim %d)", what,
                     prf, c->head_dim);
            return false;
        }
        c->rotary_dim = rd;
    }
    if (!src) return true;
    const char *type = hc_str(src, "rope_type");
    if (!type) type = hc_str(src, "type");
    if (!type) {
        if (src_is_scaling) { llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' has no 'rope_type'", what, field); return false; }
        type = "default";
    }
    if (strcmp(type, "default") == 0) return true;
    /* Phi3Config reads the old names "su" and "yarn" as longrope */
    if (phi && (!strcmp(type, "longrope") || !strcmp(type, "su") || !strcmp(type, "yarn"))) return hc_longrope(j, src, field, what, c, err);
    const bool yarn_ok = A && (A->flags & LLMC_ARCH_MLA);
    if (yarn_ok && strcmp(type, "yarn") == 0) return hc_yarn(src, field, what, c, err);
    if (yarn_ok) { /* DeepSeek-V3's mscale_all_dim would apply to any other type too: only yarn is read */
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope type '%.64s' is not supported for %s (default, yarn are)", what, type, A->label);
        return false;
    }
    if (strcmp(type, "linear") == 0) {
        c->rope_type = LLMC_ROPE_LINEAR;
        if (!hc_num(src, "factor", what, true, 1.0, &c->rope_factor, err)) { llmc_err_prefix(err, "%s: ", field); return false; }
        if (!(c->rope_factor > 0)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: %s.factor must be positive", what, field); return false; }
        return true;
    }
    if (strcmp(type, "llama3") == 0) {
        c->rope_type = LLMC_ROPE_LLAMA3;
        if (!hc_num(src, "factor", what, true, 1.0, &c->rope_factor, err) ||
            !hc_num(src, "low_freq_factor", what, true, 1.0, &c->rope_low_freq_factor, err) ||
            !hc_num(src, "high_freq_factor", what, true, 4.0, &c->rope_high_freq_factor, err) ||
            !hc_int(src, "original_max_position_embeddings", what, true, 0, 1, 1LL << 30, &c->rope_original_max_position, err)) {
            llmc_err_prefix(err, "%s: ", field);
            return false;
        }
        if (!(c->rope_factor > 0) || !(c->rope_low_freq_factor > 0) || !(c->rope_high_freq_factor > c->rope_low_freq_factor)) {
            llmc_err(err, LLMC_ERR_FORMAT, "%s: %s: llama3 needs factor > 0 and high_freq_factor > low_freq_factor > 0", what, field);
            return false;
        }
        return true;
    }
    llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope type '%.64s' is not supported for %s (default, linear, llama3%s are)", what, type,
             A ? A->label : "this family", phi ? ", longrope" : yarn_ok ? ", yarn" : "");
    return false;
}

static void hc_set_layer(uint64_t *mask, int l) { mask[l / 64] |= 1ull << (l % 64); }

/* layer_types, when given: one "full_attention" / "sliding_attention" per layer into
   c->sliding_layers. *given tells whether the config had the list. */
static bool hc_layer_types(const cJSON *j, const char *what, llmc_config *c, bool *given, llmc_error *err) {
    const cJSON *lt = hc_get(j, "layer_types");
    *given = lt && !cJSON_IsNull(lt);
    if (!*given) return true;
    if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->num_layers) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: 'layer_types' must list one type for each of the %d layers", what, c->num_layers);
        return false;
    }
    int l = 0;
    for (const cJSON *e = lt->child; e; e = e->next, l++) {
        const char *t = cJSON_IsString(e) ? e->valuestring : "";
        if (!strcmp(t, "sliding_attention")) hc_set_layer(c->sliding_layers, l);
        else if (strcmp(t, "full_attention") != 0) {
            llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: layer_types[%d] '%.32s' is not supported (full_attention, sliding_attention are)", what, l, t);
            return false;
        }
    }
    return true;
}

/* Gemma 2 and 3: which layers slide (layer_types, else Gemma 2 every other layer, Gemma 3
   all but each sliding_window_pattern-th), GeGLU, (1 + w) and sandwich norms, embeddings ×
   sqrt(hidden), query_pre_attn_scalar. Gemma 3 has RoPE per layer type (5.x:
   rope_parameters.{full,sliding}_attention; 4.x: rope_theta, rope_local_base_freq, rope_scaling
   for the full-attention layers) and q/k norms; Gemma 2 soft-caps scores and logits. */
static bool hc_gemma(const cJSON *j, const char *what, int gen, llmc_config *c, llmc_error *err) {
    const cJSON *rp = hc_get(j, "rope_parameters");
    double local = 10000.0;
    if (gen == 2) {
        if (!hc_rope(j, what, c, err)) return false;
        local = 0;
    } else if (rp && cJSON_IsObject(rp) && hc_get(rp, "full_attention")) {
        const cJSON *full = hc_get(rp, "full_attention"), *sl = hc_get(rp, "sliding_attention");
        if (!cJSON_IsObject(full) || (sl && !cJSON_IsObject(sl))) {
            llmc_err(err, LLMC_ERR_FORMAT, "%s: 'rope_parameters' per layer type must hold objects", what);
            return false;
        }
        if (!hc_rope_from(j, full, "rope_parameters.full_attention", false, 1000000.0, what, c, err)) return false;
        if (sl) {
            const char *t = hc_str(sl, "rope_type");
            if (t && strcmp(t, "default") != 0) {
                llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: rope_parameters.sliding_attention type '%.32s' is not supported (default is)", what, t);
                return false;
            }
            if (!hc_num(sl, "rope_theta", what, false, 10000.0, &local, err)) return false;
        }
    } else {
        const cJSON *rs = hc_get(j, "rope_scaling");
        if (rp && !cJSON_IsNull(rp) && (!rs || cJSON_IsNull(rs))) rs = rp;
        if (rs && !cJSON_IsNull(rs) && !cJSON_IsObject(rs)) {
            llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'rope_scaling' must be an object or null", what);
            return false;
        }
        if (!hc_rope_from(j, rs && !cJSON_IsNull(rs) ? rs : NULL, "rope_scaling", rs == hc_get(j, "rope_scaling"), 1000000.0, what, c, err) ||
            !hc_num(j, "rope_local_base_freq", what, false, 10000.0, &local, err))
            return false;
    }
    if (gen == 3 && !(local > 0)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: the sliding layers' rope_theta must be positive", what); return false; }
    c->rope_theta_local = local;
    if (!hc_int(j, "sliding_window", what, false, 4096, 1, 1 << 30, &c->sliding_window, err)) return false;
    int pattern = gen == 2 ? 2 : 6;
    if (gen == 3 && !hc_int(j, "sliding_window_pattern", what, false, 6, 1, 1 << 20, &pattern, err)) return false;
    /* num_layers is at most LLMC_MAX_LAYERS (hc_int's bound), so every bit fits */
    c->per_layer_window = true;
    memset(c->sliding_layers, 0, sizeof c->sliding_layers);
    bool given;
    if (!hc_layer_types(j, what, c, &given, err)) return false;
    if (!given)
        for (int l = 0; l < c->num_layers; l++)
            if ((l + 1) % pattern) hc_set_layer(c->sliding_layers, l);
    double qs = 256;
    if (!hc_num(j, "query_pre_attn_scalar", what, false, 256, &qs, err)) return false;
    if (!(qs > 0)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: query_pre_attn_scalar must be positive", what); return false; }
    c->attn_scale = 1.0 / sqrt(qs);
    const char *caps[] = {"final_logit_softcapping", "attn_logit_softcapping"};
    double *capv[] = {&c->final_softcap, &c->attn_softcap}, capdef[] = {30.0, 50.0};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = hc_get(j, caps[i]);
        if (gen == 3) {
            if (v && !cJSON_IsNull(v)) {
                llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: '%s' is not supported for Gemma 3", what, caps[i]);
                return false;
            }
            continue;
        }
        /* Gemma 2: absent = the config class default, null = none */
        *capv[i] = v && cJSON_IsNull(v) ? 0 : capdef[i];
        if (v && !cJSON_IsNull(v) && !hc_num(j, caps[i], what, false, capdef[i], capv[i], err)) return false;
        if (!(*capv[i] >= 0)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: '%s' must be positive or null", what, caps[i]); return false; }
    }
    const cJSON *bi = hc_get(j, "use_bidirectional_attention");
    if (bi && cJSON_IsTrue(bi)) {
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: 'use_bidirectional_attention' is not supported", what);
        return false;
    }
    c->mlp_act = LLMC_MLP_GELU_TANH;
    c->norm_plus_one = true;
    c->sandwich_norms = true; /* q/k norms (Gemma 3) are set with Qwen3's by the caller */
    c->embed_scale = sqrt((double)c->hidden_size);
    return true;
}

/* SmolLM3: no_rope_layers (1 = RoPE, 0 = none; default every no_rope_layer_interval-th layer
   without) and, with use_sliding_window, windows on the layers layer_types marks (by default
   the ones without RoPE). */
static bool hc_smollm3(const cJSON *j, const char *what, llmc_config *c, llmc_error *err) {
    int interval = 4;
    if (!hc_int(j, "no_rope_layer_interval", what, false, 4, 1, 1 << 20, &interval, err)) return false;
    const cJSON *nr = hc_get(j, "no_rope_layers");
    c->has_nope = true;
    memset(c->nope_layers, 0, sizeof c->nope_layers);
    if (nr && !cJSON_IsNull(nr)) {
        if (!cJSON_IsArray(nr) || cJSON_GetArraySize(nr) != c->num_layers) {
            llmc_err(err, LLMC_ERR_FORMAT, "%s: 'no_rope_layers' must list 0 or 1 for each of the %d layers", what, c->num_layers);
            return false;
        }
        int l = 0;
        for (const cJSON *e = nr->child; e; e = e->next, l++) {
            if (!cJSON_IsNumber(e) || (e->valuedouble != 0 && e->valuedouble != 1)) {
                llmc_err(err, LLMC_ERR_FORMAT, "%s: no_rope_layers[%d] must be 0 or 1", what, l);
                return false;
            }
            if (e->valuedouble == 0) hc_set_layer(c->nope_layers, l);
        }
    } else {
        for (int l = 0; l < c->num_layers; l++)
            if ((l + 1) % interval == 0) hc_set_layer(c->nope_layers, l);
    }
    bool use_sw = false;
    if (!hc_bool(j, "use_sliding_window", what, false, &use_sw, err)) return false;
    const cJSON *win = hc_get(j, "sliding_window");
    if (use_sw && win && !cJSON_IsNull(win)) {
        if (!hc_int(j, "sliding_window", what, true, 0, 1, 1 << 30, &c->sliding_window, err)) return false;
        c->per_layer_window = true;
        memset(c->sliding_layers, 0, sizeof c->sliding_layers);
        bool given;
        if (!hc_layer_types(j, what, c, &given, err)) return false;
        if (!given)
            for (int l = 0; l < c->num_layers; l++)
                if (!llmc_config_layer_rope(c, l)) hc_set_layer(c->sliding_layers, l);
    }
    return true;
}

static bool hc_dtype(const cJSON *j, const char *what, llmc_dtype *out) {
    const char *s = hc_str(j, "dtype");
    if (!s) s = hc_str(j, "torch_dtype");
    *out = LLMC_DT_F32;
    if (!s) return true;
    if (strncmp(s, "torch.", 6) == 0) s += 6;
    if (strcmp(s, "bfloat16") == 0) *out = LLMC_DT_BF16;
    else if (strcmp(s, "float16") == 0 || strcmp(s, "half") == 0) *out = LLMC_DT_F16;
    else if (strcmp(s, "float32") == 0 || strcmp(s, "float") == 0 || strcmp(s, "auto") == 0) *out = LLMC_DT_F32;
    else LLMC_WARN("%s: dtype '%.32s' is not one llmc computes in; using float32", what, s);
    return true;
}

static bool hc_token_ids(const cJSON *j, const char *what, llmc_config *c, llmc_error *err) {
    int v;
    if (!hc_int(j, "bos_token_id", what, false, -1, 0, 1LL << 31, &v, err)) return false;
    c->bos_token_id = v;
    if (!hc_int(j, "pad_token_id", what, false, -1, -1, 1LL << 31, &v, err)) return false;
    c->pad_token_id = v;
    c->num_eos = 0;
    const cJSON *e = hc_get(j, "eos_token_id");
    if (!e || cJSON_IsNull(e)) return true;
    if (cJSON_IsArray(e)) {
        for (const cJSON *it = e->child; it; it = it->next) {
            if (!llmc_json_is_int(it, 0, (1LL << 31) - 1)) {
                llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'eos_token_id' must hold non-negative integers", what);
                return false;
            }
            if (c->num_eos >= LLMC_MAX_EOS) {
                llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: field 'eos_token_id' lists more than %d ids", what, LLMC_MAX_EOS);
                return false;
            }
            c->eos_token_ids[c->num_eos++] = (int)it->valuedouble;
        }
        return true;
    }
    if (!llmc_json_is_int(e, 0, (1LL << 31) - 1)) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'eos_token_id' must be an integer or a list of integers", what);
        return false;
    }
    c->eos_token_ids[c->num_eos++] = (int)e->valuedouble;
    return true;
}

/* The family's row: architectures[0] (what from_pretrained instantiates), else model_type. */
static const llmc_arch *hc_arch(const cJSON *j, const char *what, llmc_error *err) {
    const cJSON *archs = hc_get(j, "architectures");
    char names[512];
    if (archs && !cJSON_IsNull(archs)) {
        if (!cJSON_IsArray(archs) || cJSON_GetArraySize(archs) < 1 || !cJSON_IsString(archs->child)) {
            llmc_err(err, LLMC_ERR_FORMAT, "%s: field 'architectures' must be a list of names", what);
            return NULL;
        }
        const llmc_arch *a = llmc_arch_by_hf(archs->child->valuestring);
        if (!a)
            llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: architecture '%.64s' is not supported (%s are)", what, archs->child->valuestring,
                     llmc_arch_names(0, names, sizeof names));
        return a;
    }
    const char *mt = hc_str(j, "model_type");
    const llmc_arch *a = llmc_arch_by_model_type(mt);
    if (!a)
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: no 'architectures' and model_type '%.64s' is not supported (%s are)", what, mt ? mt : "(none)",
                 llmc_arch_names(1, names, sizeof names));
    return a;
}

/* Qwen's windows are per layer: only with use_sliding_window and a sliding_window, on the
   layers layer_types marks (by default those from max_window_layers on). Refused rather than
   run such layers with full attention. */
static bool hc_qwen_window(const cJSON *j, const char *what, const llmc_config *c, llmc_error *err) {
    bool use_sw = false, sw = false;
    int mwl = 0;
    if (!hc_bool(j, "use_sliding_window", what, false, &use_sw, err) || !hc_int(j, "max_window_layers", what, false, 28, 0, 1 << 20, &mwl, err))
        return false;
    const cJSON *win = hc_get(j, "sliding_window"), *lt = hc_get(j, "layer_types");
    if (use_sw && win && !cJSON_IsNull(win)) {
        if (lt && cJSON_IsArray(lt)) {
            for (const cJSON *e = lt->child; e && !sw; e = e->next) sw = cJSON_IsString(e) && strcmp(e->valuestring, "full_attention") != 0;
        } else {
            sw = mwl < c->num_layers;
        }
    }
    if (sw) {
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: per-layer sliding-window attention ('use_sliding_window' / 'layer_types') is not supported", what);
        return false;
    }
    return true;
}

/* Mixture-of-experts fields, with each config class's defaults: Mixtral (num_local_experts,
   always renormalized, experts of intermediate_size), Qwen2-/Qwen3-MoE (num_experts,
   moe_intermediate_size, norm_topk_prob, decoder_sparse_step, mlp_only_layers; Qwen2-MoE's
   shared expert), OLMoE (num_experts, experts of intermediate_size, norm_topk_prob). */
/* DeepSeek-V3's router (DeepseekV3Config's defaults): sigmoid scores, the bias-corrected choice
   limited to topk_group of n_group groups, routed_scaling_factor, n_shared_experts plain shared
   experts of moe_intermediate_size each, the first first_k_dense_replace layers dense. */
static bool hc_deepseek_moe(const cJSON *j, const char *what, llmc_config *c, llmc_error *err) {
    int shared = 1, first_dense = 3;
    c->moe_sigmoid = true;
    if (!hc_int(j, "moe_intermediate_size", what, false, 2048, 1, 1 << 22, &c->moe_intermediate_size, err) ||
        !hc_bool(j, "norm_topk_prob", what, true, &c->norm_topk_prob, err) ||
        !hc_int(j, "n_shared_experts", what, false, 1, 0, 64, &shared, err) ||
        !hc_int(j, "n_group", what, false, 8, 1, LLMC_MAX_EXPERTS, &c->n_group, err) ||
        !hc_int(j, "topk_group", what, false, 4, 1, LLMC_MAX_EXPERTS, &c->topk_group, err) ||
        !hc_num(j, "routed_scaling_factor", what, false, 2.5, &c->routed_scaling_factor, err) ||
        !hc_int(j, "first_k_dense_replace", what, false, 3, 0, LLMC_MAX_LAYERS, &first_dense, err))
        return false;
    const int E = c->num_experts, G = c->n_group;
    if (E % G || E / G < 2) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: n_group %d must divide the %d experts (n_routed_experts) into groups of at least 2", what, G, E);
        return false;
    }
    if (c->topk_group > G || c->topk_group * (E / G) < c->num_experts_per_tok) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: topk_group %d must be at most n_group %d and its groups hold at least num_experts_per_tok %d experts",
                 what, c->topk_group, G, c->num_experts_per_tok);
        return false;
    }
    if (!(c->routed_scaling_factor > 0)) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: routed_scaling_factor must be positive", what);
        return false;
    }
    c->shared_expert_intermediate_size = shared * c->moe_intermediate_size;
    c->shared_experts_plain = shared > 0;
    for (int l = 0; l < first_dense && l < c->num_layers; l++) hc_set_layer(c->dense_layers, l);
    return true;
}

/* An int field that may be null (null → 0) and otherwise defaults to def. */
static bool hc_int_or_null(const cJSON *j, const char *key, const char *what, int def, int lo, int hi, int *out, llmc_error *err) {
    const cJSON *it = hc_get(j, key);
    if (it && cJSON_IsNull(it)) { *out = 0; return true; }
    return hc_int(j, key, what, false, def, lo, hi, out, err);
}

/* DeepSeek-V3's Multi-head Latent Attention (DeepseekV3Config's defaults): the latent ranks,
   the nope/rope/v head split; head_dim becomes the padded head of the KV cache (config.h). */
static bool hc_mla(const cJSON *j, const char *what, llmc_config *c, llmc_error *err) {
    c->mla = true;
    if (!hc_int_or_null(j, "q_lora_rank", what, 1536, 1, 1 << 20, &c->q_lora_rank, err) ||
        !hc_int(j, "kv_lora_rank", what, false, 512, 1, 1 << 20, &c->kv_lora_rank, err) ||
        !hc_int(j, "qk_nope_head_dim", what, false, 128, 0, 1 << 14, &c->qk_nope_head_dim, err) ||
        !hc_int(j, "qk_rope_head_dim", what, false, 64, 1, 1 << 14, &c->qk_rope_head_dim, err) ||
        !hc_int(j, "v_head_dim", what, false, 128, 1, 1 << 14, &c->v_head_dim, err) ||
        !hc_bool(j, "rope_interleave", what, true, &c->rope_interleave, err))
        return false;
    if (c->qk_rope_head_dim % 2) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: qk_rope_head_dim %d must be even (RoPE turns pairs)", what, c->qk_rope_head_dim);
        return false;
    }
    if (c->num_kv_heads != c->num_heads) { /* MLA's kv_b_proj makes a K and V per query head */
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: num_key_value_heads %d must equal num_attention_heads %d for MLA", what, c->num_kv_heads,
                 c->num_heads);
        return false;
    }
    const int qk = c->qk_nope_head_dim + c->qk_rope_head_dim;
    c->head_dim = qk > c->v_head_dim ? qk : c->v_head_dim;
    c->head_dim += c->head_dim % 2;
    c->rotary_dim = c->qk_rope_head_dim;
    c->attn_scale = 1.0 / sqrt((double)qk);
    if (c->rope_type != LLMC_ROPE_DEFAULT && c->rope_mscale_all_dim != 0) { /* yarn: × mscale(factor, mscale_all_dim)² */
        const double s = hc_yarn_mscale(c->rope_factor, c->rope_mscale_all_dim);
        c->attn_scale = c->attn_scale * s * s;
    }
    return true;
}

static bool hc_moe(const cJSON *j, const char *what, const llmc_arch *A, llmc_config *c, llmc_error *err) {
    const bool mixtral = A->family == LLMC_FAM_MIXTRAL, qwen = A->family == LLMC_FAM_QWEN2_MOE || A->family == LLMC_FAM_QWEN3_MOE;
    const bool q2 = A->family == LLMC_FAM_QWEN2_MOE;
    int def_e = mixtral ? 8 : q2 ? 60 : A->family == LLMC_FAM_QWEN3_MOE ? 128 : 64, def_k = mixtral ? 2 : q2 ? 4 : 8;
    /* the config class's name for the expert count, else its attribute_map alias (Qwen3-MoE saves
       num_local_experts, its hub configs say num_experts; Qwen2-MoE has no alias) */
    const bool ds = A->family == LLMC_FAM_DEEPSEEK_V3;
    const char *ek = ds ? "n_routed_experts" : mixtral || A->family == LLMC_FAM_QWEN3_MOE ? "num_local_experts" : "num_experts";
    const char *alias = q2 ? NULL : ds ? "num_local_experts" : strcmp(ek, "num_experts") == 0 ? "num_local_experts" : "num_experts";
    if (ds) def_e = 256;
    const cJSON *ev = hc_get(j, ek);
    if ((!ev || cJSON_IsNull(ev)) && alias) ek = alias;
    if (!hc_int(j, ek, what, false, def_e, 0, LLMC_MAX_EXPERTS, &c->num_experts, err) ||
        !hc_int(j, "num_experts_per_tok", what, false, def_k, 1, LLMC_MAX_EXPERTS_PER_TOK, &c->num_experts_per_tok, err))
        return false;
    c->moe_intermediate_size = c->intermediate_size;
    c->norm_topk_prob = mixtral;
    if (!mixtral && !hc_bool(j, "norm_topk_prob", what, false, &c->norm_topk_prob, err)) return false;
    if (qwen && !hc_int(j, "moe_intermediate_size", what, false, q2 ? 1408 : 768, 1, 1 << 22, &c->moe_intermediate_size, err)) return false;
    if (q2 && !hc_int(j, "shared_expert_intermediate_size", what, false, 5632, 0, 1 << 22, &c->shared_expert_intermediate_size, err))
        return false;
    if (c->num_experts > 0 && c->num_experts_per_tok > c->num_experts) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: num_experts_per_tok %d exceeds the %d experts", what, c->num_experts_per_tok, c->num_experts);
        return false;
    }
    memset(c->dense_layers, 0, sizeof c->dense_layers);
    if (qwen) { /* layer l is sparse iff l is not in mlp_only_layers and (l + 1) % decoder_sparse_step == 0 */
        int step = 1;
        if (!hc_int(j, "decoder_sparse_step", what, false, 1, 1, 1 << 20, &step, err)) return false;
        for (int l = 0; l < c->num_layers; l++)
            if ((l + 1) % step) hc_set_layer(c->dense_layers, l);
        const cJSON *mo = hc_get(j, "mlp_only_layers");
        if (mo && !cJSON_IsNull(mo)) {
            if (!cJSON_IsArray(mo) || cJSON_GetArraySize(mo) > LLMC_MAX_LAYERS) {
                llmc_err(err, LLMC_ERR_FORMAT, "%s: 'mlp_only_layers' must be a list of layer indices", what);
                return false;
            }
            for (const cJSON *e = mo->child; e; e = e->next) {
                if (!llmc_json_is_int(e, 0, (1LL << 31) - 1)) {
                    llmc_err(err, LLMC_ERR_FORMAT, "%s: 'mlp_only_layers' must hold non-negative layer indices", what);
                    return false;
                }
                if ((int)e->valuedouble < c->num_layers) hc_set_layer(c->dense_layers, (int)e->valuedouble);
            }
        }
    }
    if (A->family == LLMC_FAM_DEEPSEEK_V3 && !hc_deepseek_moe(j, what, c, err)) return false;
    if (A->family == LLMC_FAM_OLMOE) {
        const cJSON *cq = hc_get(j, "clip_qkv");
        if (cq && !cJSON_IsNull(cq)) {
            llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: 'clip_qkv' is not supported", what);
            return false;
        }
    }
    return true;
}

llmc_status llmc_hf_config_parse(const char *json, size_t len, const char *what, llmc_config *cfg, llmc_error *err) {
    if (!what) what = "config.json";
    memset(cfg, 0, sizeof *cfg);
    cJSON *j = llmc_json_parse(json, len, what, err);
    if (!j) return err ? err->code : LLMC_ERR_FORMAT;
    llmc_config c;
    memset(&c, 0, sizeof c);
    llmc_status st = LLMC_ERR_FORMAT;
    if (!cJSON_IsObject(j)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: not a JSON object", what); goto done; }

    const llmc_arch *A = hc_arch(j, what, err);
    if (!A) { st = err ? err->code : LLMC_ERR_UNSUPPORTED; goto done; }
    const unsigned F = A->flags;
    const bool gemma = F & LLMC_ARCH_GEMMA;
    snprintf(c.architecture, sizeof c.architecture, "%s", A->hf_arch);

    /* null is what transformers writes for "not quantized" (a model saved after loading a GGUF) */
    const cJSON *qc = hc_get(j, "quantization_config");
    if (qc && !cJSON_IsNull(qc)) {
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: quantized checkpoints ('quantization_config') are not supported; use a GGUF file", what);
        st = LLMC_ERR_UNSUPPORTED;
        goto done;
    }
    const char *act = hc_str(j, "hidden_act");
    if (!act) act = hc_str(j, "hidden_activation");
    if (gemma ? act && strcmp(act, "gelu_pytorch_tanh") != 0 : act && strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0) {
        llmc_err(err, LLMC_ERR_UNSUPPORTED, "%s: hidden_act '%.32s' is not supported for %s (%s is)", what, act, A->label,
                 gemma ? "gelu_pytorch_tanh" : "silu");
        st = LLMC_ERR_UNSUPPORTED;
        goto done;
    }

    if (!hc_int(j, "hidden_size", what, true, 0, 1, 1 << 20, &c.hidden_size, err) ||
        !hc_int(j, "intermediate_size", what, true, 0, 1, 1 << 22, &c.intermediate_size, err) ||
        !hc_int(j, "num_hidden_layers", what, true, 0, 1, LLMC_MAX_LAYERS, &c.num_layers, err) ||
        !hc_int(j, "num_attention_heads", what, true, 0, 1, 1 << 14, &c.num_heads, err) ||
        !hc_int(j, "num_key_value_heads", what, false, c.num_heads, 1, 1 << 14, &c.num_kv_heads, err) ||
        !hc_int(j, "vocab_size", what, true, 0, 1, 1 << 26, &c.vocab_size, err) ||
        !hc_int(j, "max_position_embeddings", what, false, A->default_max_pos, 1, 1 << 30, &c.max_position_embeddings, err) ||
        !hc_num(j, "rms_norm_eps", what, false, 1e-6, &c.rms_norm_eps, err))
        goto done;
    /* head_dim: explicit when present and non-null, else hidden_size // num_attention_heads (transformers). */
    if (!hc_int(j, "head_dim", what, false, A->default_head_dim ? A->default_head_dim : c.hidden_size / c.num_heads, 1, 1 << 16, &c.head_dim, err))
        goto done;
    if (c.head_dim < 2 || c.head_dim % 2) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: head_dim %d must be even and positive (RoPE rotates pairs)", what, c.head_dim);
        goto done;
    }
    if (c.num_heads % c.num_kv_heads) {
        llmc_err(err, LLMC_ERR_FORMAT, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", what, c.num_heads, c.num_kv_heads);
        goto done;
    }
    if (!(c.rms_norm_eps >= 0)) { llmc_err(err, LLMC_ERR_FORMAT, "%s: rms_norm_eps must be >= 0", what); goto done; }
    if (!(gemma ? hc_gemma(j, what, A->family == LLMC_FAM_GEMMA2 ? 2 : 3, &c, err) : hc_rope(j, what, &c, err))) {
        st = err ? err->code : LLMC_ERR_FORMAT;
        goto done;
    }
    if (!hc_bool(j, "tie_word_embeddings", what, A->default_tie, &c.tie_word_embeddings, err)) goto done;
    if ((F & LLMC_ARCH_NOPE) && !hc_smollm3(j, what, &c, err)) goto done;
    /* Families whose Linears are bias-free whatever the config says read neither field. */
    if ((F & LLMC_ARCH_ATTN_BIAS_FIELD) && !hc_bool(j, "attention_bias", what, false, &c.attention_bias, err)) goto done;
    if ((F & LLMC_ARCH_MLP_BIAS_FIELD) && !hc_bool(j, "mlp_bias", what, false, &c.mlp_bias, err)) goto done;
    /* Qwen2 always gives q, k and v a bias and o none (Qwen2-MoE: as its qkv_bias says) */
    c.qkv_bias = F & LLMC_ARCH_QKV_BIAS;
    if (A->family == LLMC_FAM_QWEN2_MOE && !hc_bool(j, "qkv_bias", what, true, &c.qkv_bias, err)) goto done;
    c.qk_norm = F & LLMC_ARCH_QK_NORM;
    c.qk_norm_full = F & LLMC_ARCH_QK_NORM_FULL;
    c.fused_proj = F & LLMC_ARCH_FUSED_PROJ;
    if ((F & LLMC_ARCH_QWEN_WINDOW) && !hc_qwen_window(j, what, &c, err)) { st = err ? err->code : LLMC_ERR_FORMAT; goto done; }
    if ((F & LLMC_ARCH_WINDOW_ALL) && !hc_int(j, "sliding_window", what, false, 0, 0, 1LL << 31, &c.sliding_window, err)) goto done;
    if ((F & LLMC_ARCH_MLA) && !hc_mla(j, what, &c, err)) { st = err ? err->code : LLMC_ERR_FORMAT; goto done; }
    if ((F & LLMC_ARCH_MOE) && !hc_moe(j, what, A, &c, err)) { st = err ? err->code : LLMC_ERR_FORMAT; goto done; }
    if (!hc_token_ids(j, what, &c, err)) goto done;
    hc_dtype(j, what, &c.torch_dtype);
    *cfg = c;
    st = LLMC_OK;
done:
    cJSON_Delete(j);
    return st;
}

llmc_status llmc_hf_config_load(const char *path, llmc_config *cfg, llmc_error *err) {
    char *p = llmc_dir_exists(path) ? llmc_path_join(path, "config.json") : strdup(path);
    if (!p) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    char *buf;
    size_t n;
    llmc_status st = llmc_read_file(p, HC_MAX_CONFIG, &buf, &n, err);
    if (st == LLMC_OK) {
        st = llmc_hf_config_parse(buf, n, p, cfg, err);
        free(buf);
    }
    free(p);
    return st;
}
