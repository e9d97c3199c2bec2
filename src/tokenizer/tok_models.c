/* The non-BPE models of tokenizers: WordPiece (greedy longest-match-first with a
 * continuing-subword prefix; a word that cannot be covered, or longer than
 * max_input_chars_per_word, is one unk), WordLevel (whole-word lookup, else unk) and
 * Unigram (Viterbi over the vocabulary's pieces by score, unknown chars at min score - 10,
 * consecutive unks fused, byte fallback), each as that library encodes a word. */
#include "tokenizer/tok_internal.h"
#include <stdlib.h>
#include <string.h>

static bool push(int32_t **ids, size_t *n, size_t *cap, int32_t id) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int32_t *nv = realloc(*ids, nc * sizeof *nv);
        if (!nv) return false;
        *ids = nv; *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return true;
}

static llmc_status no_unk(const char *model, const char *w, size_t len, llmc_error *err) {
    return llmc_err(err, LLMC_ERR_INVALID_ARG, "tokenizer: %s cannot represent the piece '%.*s' and has no unk_token in its vocabulary",
                    model, tok_u8_cut(w, len, 64), w);
}

static llmc_status unk_or_err(const llmc_tokenizer *t, const char *model, const char *w, size_t len, int32_t **ids, size_t *n,
                              size_t *cap, llmc_error *err) {
    if (t->unk_id < 0) return no_unk(model, w, len, err);
    return push(ids, n, cap, t->unk_id) ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
}

llmc_status tok_wordlevel_word(const llmc_tokenizer *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                               llmc_error *err) {
    int32_t id = tok_smap_get(&t->vocab, w, len);
    if (id >= 0) return push(ids, n, cap, id) ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    return unk_or_err(t, "WordLevel", w, len, ids, n, cap, err);
}

llmc_status tok_wordpiece_word(const llmc_tokenizer *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                               llmc_error *err) {
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) chars += ((unsigned char)w[i] & 0xC0) != 0x80;
    if (chars > t->wp_max_chars) return unk_or_err(t, "WordPiece", w, len, ids, n, cap, err);
    size_t pl = t->cont_prefix_len, before = *n;
    char *buf = malloc(pl + len + 1);
    if (!buf) return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    if (pl) memcpy(buf, t->cont_prefix, pl);
    size_t start = 0;
    bool bad = false;
    while (start < len) {
        /* nothing longer than the longest vocab token can match: start there (same result,
           O(word x longest token) lookups instead of O(word^2)) */
        size_t maxsub = start > 0 ? (t->max_tok_len > pl ? t->max_tok_len - pl : 0) : t->max_tok_len;
        size_t end = len - start > maxsub ? start + maxsub : len;
        while (end > start && end < len && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
        int32_t found = -1;
        while (start < end) {
            memcpy(buf + pl, w + start, end - start);
            if ((found = tok_smap_get(&t->vocab, start > 0 ? buf : buf + pl, (start > 0 ? pl : 0) + end - start)) >= 0) break;
            do end--; while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
        }
        if (found < 0) { bad = true; break; }
        if (!push(ids, n, cap, found)) { free(buf); return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory"); }
        start = end;
    }
    free(buf);
    if (!bad) return LLMC_OK;
    *n = before;
    return unk_or_err(t, "WordPiece", w, len, ids, n, cap, err);
}

typedef struct { double score; int32_t start, id; } uni_node;

/* Pushes the ids of one Unigram result piece: its id, else its bytes, else unk. */
static llmc_status uni_piece(const llmc_tokenizer *t, const char *p, size_t len, int32_t id, int32_t **ids, size_t *n,
                             size_t *cap, llmc_error *err) {
    if (id < 0) id = tok_smap_get(&t->vocab, p, len);
    if (id >= 0) return push(ids, n, cap, id) ? LLMC_OK : llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
    if (t->byte_fallback) {
        bool all = true;
        for (size_t i = 0; i < len; i++) all = all && t->byte_tok[(unsigned char)p[i]] >= 0;
        if (all) {
            for (size_t i = 0; i < len; i++)
                if (!push(ids, n, cap, t->byte_tok[(unsigned char)p[i]])) return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory");
            return LLMC_OK;
        }
    }
    return unk_or_err(t, "Unigram", p, len, ids, n, cap, err);
}

llmc_status tok_unigram_word(const llmc_tokenizer *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                             llmc_error *err) {
    if (len == 0) return LLMC_OK;
    uni_node *best = malloc((len + 1) * sizeof *best);
    int32_t *cut = malloc(2 * (len + 1) * sizeof *cut);
    if (!best || !cut) { free(best); free(cut); return llmc_err(err, LLMC_ERR_NOMEM, "tokenizer: out of memory"); }
    for (size_t i = 0; i <= len; i++) { best[i].score = 0; best[i].start = -1; best[i].id = -1; }
    const double unk_score = t->uni_min_score - 10.0;
    const tok_trie *tr = &t->uni_trie;
    for (size_t at = 0; at < len;) {
        uint32_t cp;
        size_t mb = (size_t)tok_u8(w + at, len - at, &cp);
        double here = best[at].score;
        bool single = false;
        uint64_t node = 0;
        for (size_t j = at; tr->n_nodes && j < len; j++) {
            uint64_t child;
            if (!tok_umap_get(&tr->edges, node << 8 | (unsigned char)w[j], &child)) break;
            node = child;
            int32_t id = tr->term[node] - 1;
            if (id < 0) continue;
            uni_node *tg = &best[j + 1];
            double cand = t->uni_score[id] + here;
            if (tg->start < 0 || cand > tg->score) { tg->score = cand; tg->start = (int32_t)at; tg->id = id; }
            if (j + 1 - at == mb) single = true;
        }
        if (!single) {
            if (t->unk_id < 0) { free(best); free(cut); return no_unk("Unigram", w + at, mb, err); }
            uni_node *tg = &best[at + mb];
            double cand = unk_score + here;
            if (tg->start < 0 || cand > tg->score) { tg->score = cand; tg->start = (int32_t)at; tg->id = t->unk_id; }
        }
        at += mb;
    }
    /* Back-track the best path into [start, end) segments (right to left; a run of unks
       becomes one segment), then map each segment's string as tokenizers does. */
    size_t k = 0;
    int32_t run_end = -1, run_start = 0, *seg_end = cut + len + 1;
    for (size_t end = len; end > 0;) {
        const uni_node *nd = &best[end];
        if (nd->id == t->unk_id) {
            if (run_end < 0) run_end = (int32_t)end;
            run_start = nd->start;
        } else {
            if (run_end >= 0) { seg_end[k] = run_end; cut[k++] = run_start; run_end = -1; }
            seg_end[k] = (int32_t)end;
            cut[k++] = nd->start;
        }
        end = (size_t)nd->start;
    }
    if (run_end >= 0) { seg_end[k] = run_end; cut[k++] = run_start; }
    llmc_status rc = LLMC_OK;
    for (size_t i = k; i-- > 0 && !rc;) {
        size_t st = (size_t)cut[i], end = (size_t)seg_end[i];
        rc = uni_piece(t, w + st, end - st, -1, ids, n, cap, err);
    }
    free(best); free(cut);
    return rc;
}
