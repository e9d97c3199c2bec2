/* Generation loop over a model's forward pass, with streaming text and stop conditions. */
#include "generate/generate.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strbuf.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

const char *llmc_stop_reason_name(llmc_stop_reason r) {
    switch (r) {
    case LLMC_STOP_EOS: return "eos";
    case LLMC_STOP_LENGTH: return "length";
    case LLMC_STOP_STRING: return "stop_string";
    case LLMC_STOP_CANCELLED: return "cancelled";
    }
    return "?";
}

void llmc_generate_result_free(llmc_generate_result *r) {
    if (!r) return;
    free(r->ids);
    free(r->text);
    memset(r, 0, sizeof *r);
}

bool llmc_generate_is_eos(const int32_t *eos, int n_eos, int32_t id) {
    for (int i = 0; i < n_eos; i++)
        if (eos[i] == id) return true;
    return false;
}
static bool is_eos(const llmc_generate_opts *o, int32_t id) { return llmc_generate_is_eos(o->eos_ids, o->n_eos, id); }

llmc_status llmc_stop_scan_init(llmc_stop_scan *s, const char *const *stops, int n, llmc_error *err) {
    memset(s, 0, sizeof *s);
    if (n <= 0 || !stops) return LLMC_OK;
    s->len = calloc((size_t)n, sizeof *s->len);
    s->fail_at = calloc((size_t)n, sizeof *s->fail_at);
    s->state = calloc((size_t)n, sizeof *s->state);
    size_t total = 0;
    for (int i = 0; s->len && i < n; i++) total += (s->len[i] = stops[i] ? strlen(stops[i]) : 0);
    s->fail = malloc((total ? total : 1) * sizeof *s->fail);
    if (!s->len || !s->fail_at || !s->state || !s->fail) {
        llmc_stop_scan_free(s);
        return llmc_err(err, LLMC_ERR_NOMEM, "out of memory for the stop strings");
    }
    s->n = n;
    s->stops = stops;
    size_t at = 0;
    for (int i = 0; i < n; i++) { /* the prefix function of each string */
        const char *t = stops[i];
        int *f = s->fail + at;
        s->fail_at[i] = at;
        at += s->len[i];
        if (!s->len[i]) continue;
        f[0] = 0;
        for (size_t q = 1, k = 0; q < s->len[i]; q++) {
            while (k > 0 && t[q] != t[k]) k = (size_t)f[k - 1];
            if (t[q] == t[k]) k++;
            f[q] = (int)k;
        }
    }
    return LLMC_OK;
}

void llmc_stop_scan_free(llmc_stop_scan *s) {
    if (!s) return;
    free(s->len);
    free(s->fail);
    free(s->fail_at);
    free(s->state);
    memset(s, 0, sizeof *s);
}

bool llmc_stop_scan_feed(llmc_stop_scan *s, const char *bytes, size_t n, size_t *at) {
    bool hit = false;
    size_t best = 0;
    for (int i = 0; i < s->n; i++) {
        size_t L = s->len[i], q = s->state[i];
        if (!L) continue;
        const char *t = s->stops[i];
        const int *f = s->fail + s->fail_at[i];
        for (size_t j = 0; j < n; j++) {
            if (q == L) q = (size_t)f[L - 1];
            while (q > 0 && t[q] != bytes[j]) q = (size_t)f[q - 1];
            if (t[q] == bytes[j]) q++;
            if (q == L) {
                size_t start = s->fed + j + 1 - L;
                if (!hit || start < best) best = start;
                hit = true;
            }
        }
        s->state[i] = q;
    }
    s->fed += n;
    if (hit && at) *at = best;
    return hit;
}

size_t llmc_stop_scan_pending(const llmc_stop_scan *s) {
    size_t p = 0;
    for (int i = 0; i < s->n; i++) {
        size_t q = s->state[i];
        if (q >= s->len[i]) q = s->len[i] ? (size_t)s->fail[s->fail_at[i] + s->len[i] - 1] : 0;
        if (q > p) p = q;
    }
    return p;
}

size_t llmc_stop_scan_safe(const llmc_stop_scan *s, const char *text, size_t len) {
    size_t p = llmc_stop_scan_pending(s);
    size_t safe = p < len ? len - p : 0;
    while (safe > 0 && safe < len && ((unsigned char)text[safe] & 0xC0) == 0x80) safe--;
    return safe;
}

/* Streams text[*shown..upto) to on_text; non-zero when the callback asked to stop. */
static int show_text(const llmc_generate_opts *o, const llmc_strbuf *text, size_t *shown, size_t upto) {
    if (upto <= *shown) return 0;
    size_t from = *shown;
    *shown = upto;
    return o->on_text ? o->on_text(o->on_text_user, text->data + from, upto - from) : 0;
}

/* One forward and the next id: on the device through req (CHOICE_LOGITS falls back to
   the host), or the logits and the host sampler. hist[0..n_hist) = the ids so far. */
static llmc_status forward_choose(llmc_model *m, llmc_sampler *smp, const llmc_select_req *req, const int32_t *ids, int n, int pos,
                                  float *logits, const int32_t *hist, int n_hist, int32_t *next, llmc_error *err) {
    int vocab = llmc_model_config(m)->vocab_size;
    if (req) {
        llmc_choice ch;
        llmc_status st = llmc_model_forward_select(m, ids, n, pos, req, &ch, logits, err);
        if (st) return st;
        if (ch.kind == LLMC_CHOICE_ID) {
            *next = ch.id;
            return LLMC_OK;
        }
        if (ch.kind == LLMC_CHOICE_CANDIDATES) {
            int i = llmc_sampler_finish(smp, ch.vals, ch.n);
            *next = i < 0 ? -1 : ch.ids[i];
            return LLMC_OK;
        }
    } else {
        llmc_status st = llmc_model_forward(m, ids, n, pos, logits, false, err);
        if (st) return st;
    }
    *next = llmc_sampler_sample(smp, logits, vocab, hist, n_hist);
    return LLMC_OK;
}

llmc_status llmc_generate(llmc_model *m, const int32_t *prompt, int n_prompt, int n_cached,
                          const llmc_generate_opts *o, llmc_generate_result *res, llmc_error *err) {
    memset(res, 0, sizeof *res);
    const llmc_config *cfg = llmc_model_config(m);
    int ctx = llmc_model_context(m);
    int vocab = cfg->vocab_size;
    if (n_prompt <= 0) return llmc_err(err, LLMC_ERR_INVALID_ARG, "the prompt is empty: generation needs at least one token");
    if (n_prompt > ctx)
        return llmc_err(err, LLMC_ERR_RANGE, "the prompt is %d tokens, more than the context of %d tokens", n_prompt, ctx);
    if (n_cached < 0 || n_cached >= n_prompt) n_cached = n_cached < 0 ? 0 : n_prompt - 1;
    int max_new = o->max_new_tokens < 0 ? 256 : o->max_new_tokens;
    if (n_prompt + max_new > ctx) {
        LLMC_WARN("max_new_tokens %d would pass the context of %d tokens after a %d-token prompt: stopping at %d new tokens",
                  max_new, ctx, n_prompt, ctx - n_prompt);
        max_new = ctx - n_prompt;
    }

    llmc_status st = LLMC_OK;
    float *logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *hist = malloc(((size_t)n_prompt + (size_t)max_new + 1) * sizeof *hist);
    llmc_sampler *smp = llmc_sampler_new(&o->sampling);
    llmc_detok_stream *ds = o->tok ? llmc_detok_stream_new(o->tok, true) : NULL;
    llmc_strbuf text;
    llmc_sb_init(&text);
    llmc_stop_scan scan;
    size_t shown = 0; /* text bytes handed to on_text */
    st = llmc_stop_scan_init(&scan, o->stop_strings, o->n_stop_strings, err);
    if (st) goto done;
    if (!logits || !hist || !smp || (o->tok && !ds)) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory starting generation"); goto done; }
    memcpy(hist, prompt, (size_t)n_prompt * sizeof *hist);
    res->stop = LLMC_STOP_LENGTH;

    /* Where the GPU holds the head, it applies the penalty and picks the id (greedy) or the
       top-k candidates, so the logits do not cross the bus (backend/select.h). */
    llmc_select_req req;
    llmc_sampler_select_req(smp, vocab, &req);
    bool on_device = req.mode != LLMC_SELECT_NONE && llmc_model_can_select(m);
    int32_t next = -1;
    double t0 = now_ms();
    st = forward_choose(m, smp, on_device ? &req : NULL, prompt + n_cached, n_prompt - n_cached, n_cached, logits, hist, n_prompt, &next, err);
    if (st) goto done;
    res->n_forwarded = n_prompt;
    double t_prefill = now_ms();
    res->prefill_tokens_per_s = (n_prompt - n_cached) / ((t_prefill - t0) / 1e3 + 1e-9);
    res->ids = hist + n_prompt; /* generated ids live after the prompt in hist */

    for (int step = 0; step < max_new; step++) {
        if (o->cancel && *o->cancel) { res->stop = LLMC_STOP_CANCELLED; break; }
        if (step > 0) {
            st = forward_choose(m, smp, on_device ? &req : NULL, &hist[n_prompt + step - 1], 1, n_prompt + step - 1, logits, hist, n_prompt + step,
                                &next, err);
            if (st) goto done;
            res->n_forwarded = n_prompt + step;
        }
        int32_t id = next;
        if (id < 0 || id >= vocab) {
            st = llmc_err(err, LLMC_ERR_FORMAT, "generation step %d: the model gave no usable logit (all NaN): the weights may be corrupt", step);
            goto done;
        }
        hist[n_prompt + step] = id;
        res->n_ids = step + 1;
        if (step == 0) res->ttft_ms = now_ms() - t0;
        bool eos = is_eos(o, id);
        if (ds) {
            char *piece = NULL;
            st = llmc_detok_stream_push(ds, id, &piece, err);
            if (st) goto done;
            size_t plen = strlen(piece), at = 0;
            llmc_sb_append(&text, piece, plen);
            free(piece);
            bool hit = plen && llmc_stop_scan_feed(&scan, text.data + text.len - plen, plen, &at) && !eos;
            if (hit && o->cut_stop) { /* the reply ends where the stop string begins */
                text.len = at;
                if (text.data) text.data[at] = 0;
            }
            size_t upto = hit || !o->cut_stop ? text.len : llmc_stop_scan_safe(&scan, text.data, text.len);
            if (show_text(o, &text, &shown, upto)) { res->stop = LLMC_STOP_CANCELLED; break; }
            if (hit) { res->stop = LLMC_STOP_STRING; break; }
        }
        if (eos) { res->stop = LLMC_STOP_EOS; break; }
    }
    if (ds) {
        char *rest = res->stop == LLMC_STOP_STRING && o->cut_stop ? NULL : llmc_detok_stream_flush(ds);
        if (rest && *rest) llmc_sb_puts(&text, rest);
        free(rest);
        if (res->stop != LLMC_STOP_CANCELLED) show_text(o, &text, &shown, text.len); /* what was held back */
    }
    double t_end = now_ms();
    if (res->n_ids > 1) res->decode_tokens_per_s = (res->n_ids - 1) / ((t_end - t_prefill) / 1e3 + 1e-9);

done:
    llmc_stop_scan_free(&scan);
    llmc_detok_stream_free(ds);
    llmc_sampler_free(smp);
    free(logits);
    if (st == LLMC_OK) {
        /* Hand over just the generated ids. */
        int32_t *ids = malloc(((size_t)res->n_ids + 1) * sizeof *ids);
        if (!ids) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); res->ids = NULL; }
        else { memcpy(ids, hist + n_prompt, (size_t)res->n_ids * sizeof *ids); res->ids = ids; }
        if (text.oom) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory collecting the reply");
        res->text = o->tok ? llmc_sb_take(&text) : NULL;
    } else {
        res->ids = NULL;
    }
    llmc_sb_free(&text);
    free(hist);
    if (st) llmc_generate_result_free(res);
    return st;
}
