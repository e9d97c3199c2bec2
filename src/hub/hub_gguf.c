/* GGUF repos on the Hub: which .gguf file of a repo to fetch, as llama.cpp's `-hf org/name:QUANT`
 * and Ollama's `hf.co/org/name:QUANT` pick it. A repo of GGUF files holds one file per
 * quantization (`Name-Q4_K_M.gguf`), sometimes split in parts (`Name-Q8_0-00001-of-00003.gguf`),
 * sometimes one folder per quantization. The tag is matched case-insensitively against the parts
 * of a file's name; a split file is fetched whole. */
#include "hub/hub_internal.h"
#include "base/error.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_DEFAULT_QUANT "Q4_K_M" /* llama.cpp's and Ollama's default pick */

static bool has_suffix_ci(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

bool hub_is_gguf_path(const char *p) { return p && has_suffix_ci(p, ".gguf"); }

/* "-00002-of-00003.gguf" → part 2 of 3; returns false for a whole file. */
static bool split_part(const char *p, int *part, int *of) {
    size_t n = strlen(p);
    const size_t tail = strlen("-00001-of-00003.gguf");
    if (n < tail) return false;
    const char *t = p + n - tail;
    return sscanf(t, "-%5d-of-%5d.gguf", part, of) == 2 && t[6] == '-' && *part >= 1 && *of >= 1 && *part <= *of;
}

/* Length of p without ".gguf" and without a split suffix: files with the same stem are one model. */
static size_t gguf_stem_len(const char *p) {
    int part, of;
    size_t n = strlen(p);
    if (split_part(p, &part, &of)) return n - strlen("-00001-of-00003.gguf");
    return n - strlen(".gguf");
}

static bool is_sep(char c) { return c == '-' || c == '_' || c == '.' || c == '/'; }

/* Whether the quant tag appears in the stem as a whole part: "Q4_K" matches "x-Q4_K.gguf" but not
 * "x-Q4_K_M.gguf", where the next character continues the tag ('_' followed by a letter). */
static bool stem_has_quant(const char *p, size_t stem, const char *quant) {
    size_t q = strlen(quant);
    for (size_t i = 0; q && i + q <= stem; i++) {
        if (strncasecmp(p + i, quant, q) != 0) continue;
        bool left = i == 0 || is_sep(p[i - 1]);
        bool right = i + q == stem || p[i + q] == '-' || p[i + q] == '.' || p[i + q] == '/' ||
                     (p[i + q] == '_' && !(i + q + 1 < stem && isalnum((unsigned char)p[i + q + 1])));
        if (left && right) return true;
    }
    return false;
}

/* The quantization named in a file's stem ("Q4_K_M", "IQ2_XS", "F16", "BF16"), for the error that lists them. */
static void quant_of(const char *p, size_t stem, char *out, size_t cap) {
    out[0] = 0;
    for (size_t i = 0; i < stem; i++) {
        if (i && !is_sep(p[i - 1])) continue;
        const char *s = p + i;
        bool q = (toupper((unsigned char)s[0]) == 'Q' && isdigit((unsigned char)s[1])) ||
                 (toupper((unsigned char)s[0]) == 'I' && toupper((unsigned char)s[1]) == 'Q' && isdigit((unsigned char)s[2])) ||
                 strncasecmp(s, "F16", 3) == 0 || strncasecmp(s, "BF16", 4) == 0 || strncasecmp(s, "F32", 3) == 0;
        if (!q) continue;
        size_t n = 0;
        while (i + n < stem && (isalnum((unsigned char)s[n]) || s[n] == '_') && n + 1 < cap) { out[n] = (char)toupper((unsigned char)s[n]); n++; }
        out[n] = 0;
    }
}

bool hub_has_hf_weights(const char *const *paths, int n) {
    for (int i = 0; i < n; i++) {
        const char *p = paths[i];
        if (strchr(p, '/')) continue;
        if (has_suffix_ci(p, ".safetensors") || (strncmp(p, "pytorch_model", 13) == 0 && has_suffix_ci(p, ".bin")))
            return true;
    }
    return false;
}

int hub_count_gguf(const char *const *paths, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += hub_is_gguf_path(paths[i]);
    return k;
}

/* Marks every file of the model whose stem is paths[pick]'s (the parts of a split GGUF). */
static void select_stem(const char *const *paths, int n, int pick, unsigned char *sel) {
    size_t sl = gguf_stem_len(paths[pick]);
    for (int i = 0; i < n; i++)
        if (hub_is_gguf_path(paths[i]) && gguf_stem_len(paths[i]) == sl && strncmp(paths[i], paths[pick], sl) == 0) sel[i] = 1;
}

/* Lists the quantizations present, for an error message. */
static void list_quants(const char *const *paths, int n, char *out, size_t cap) {
    size_t w = 0;
    out[0] = 0;
    for (int i = 0; i < n && w + 2 < cap; i++) {
        if (!hub_is_gguf_path(paths[i])) continue;
        int part, of;
        if (split_part(paths[i], &part, &of) && part != 1) continue;
        char q[64];
        quant_of(paths[i], gguf_stem_len(paths[i]), q, sizeof q);
        const char *name = q[0] ? q : paths[i];
        if (strstr(out, name)) continue;
        int k = snprintf(out + w, cap - w, "%s%s", w ? ", " : "", name);
        if (k < 0 || (size_t)k >= cap - w) break;
        w += (size_t)k;
    }
}

llmc_status hub_select_gguf(const char *const *paths, int n, const char *quant, const char *repo_id, unsigned char *sel,
                            llmc_error *err) {
    memset(sel, 0, (size_t)n);
    int n_models = 0, only = -1, pick = -1;
    for (int i = 0; i < n; i++) {
        if (!hub_is_gguf_path(paths[i])) continue;
        int part, of;
        if (split_part(paths[i], &part, &of) && part != 1) continue; /* a model counts once, by its first part */
        n_models++;
        only = i;
    }
    char present[512];
    if (n_models == 0) return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s has no .gguf file", repo_id);
    const char *want = quant && *quant ? quant : NULL;
    if (!want && n_models == 1) pick = only;
    const char *tag = want ? want : GGUF_DEFAULT_QUANT;
    for (int pass = 0; pick < 0 && pass < 2; pass++) /* pass 0: first parts and whole files; 1: any part */
        for (int i = 0; i < n && pick < 0; i++) {
            if (!hub_is_gguf_path(paths[i])) continue;
            int part, of;
            if (pass == 0 && split_part(paths[i], &part, &of) && part != 1) continue;
            if (stem_has_quant(paths[i], gguf_stem_len(paths[i]), tag)) pick = i;
        }
    if (pick < 0) {
        list_quants(paths, n, present, sizeof present);
        if (want)
            return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s has no GGUF file for quantization '%s'; it has: %s", repo_id, want, present);
        return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s holds %d GGUF models and none is %s: name one as %s:QUANT (it has: %s)", repo_id,
                        n_models, GGUF_DEFAULT_QUANT, repo_id, present);
    }
    select_stem(paths, n, pick, sel);
    return LLMC_OK;
}

const char *hub_gguf_first_selected(const char *const *paths, int n, const unsigned char *sel) {
    const char *first = NULL;
    for (int i = 0; i < n; i++) {
        if (!sel[i] || !hub_is_gguf_path(paths[i])) continue;
        int part, of;
        if (!split_part(paths[i], &part, &of) || part == 1) return paths[i];
        if (!first) first = paths[i];
    }
    return first;
}

bool hub_split_quant_tag(const char *model, char *repo, size_t repo_cap, char *quant, size_t quant_cap) {
    const char *colon = model ? strchr(model, ':') : NULL;
    if (!colon || strchr(colon + 1, ':') || strchr(colon + 1, '/') || !colon[1]) return false;
    size_t rl = (size_t)(colon - model), ql = strlen(colon + 1);
    if (rl + 1 > repo_cap || ql + 1 > quant_cap || ql > 32) return false;
    for (const char *q = colon + 1; *q; q++)
        if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-' && *q != '.') return false;
    memcpy(repo, model, rl);
    repo[rl] = 0;
    memcpy(quant, colon + 1, ql + 1);
    return true;
}
