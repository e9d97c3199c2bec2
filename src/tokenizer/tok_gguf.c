/* GGUF vocabularies (llama.cpp's tokenizer.ggml.*) turned into the same pipeline a
 * tokenizer.json would describe: "gpt2" = byte-level BPE with llama.cpp's
 * pre-tokenizer regexes for tokenizer.ggml.pre; "llama" = SentencePiece BPE whose
 * merge order comes from the token scores, with byte fallback. */
#include "tokenizer/tok_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

llmc_status tok_add_vocab(llmc_tokenizer *t, const char *s, size_t len, int32_t id, llmc_error *err);
llmc_status tok_add_merge(llmc_tokenizer *t, const char *a, size_t al, const char *b, size_t bl, uint32_t rank,
                          llmc_error *err, const char *what);
llmc_status tok_add_added(llmc_tokenizer *t, const char *s, size_t len, int32_t id, bool special, bool lstrip, bool rstrip,
                          bool single_word, bool normalized, llmc_error *err);
llmc_status tok_set_special_str(llmc_tokenizer *t, int which, const char *s, llmc_error *err);

#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3_RE "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct { const char *names; const char *re[6]; bool ignore_merges; int add_bos; } pre_def;

/* Names → regex lists, as llama.cpp's llama-vocab.cpp (llm_tokenizer_bpe) maps them. */
static const pre_def PRE[] = {
    {"|llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|dbrx|smaug-bpe|", {LLAMA3_RE}, false, -1},
    {"|chatglm-bpe|glm4|", {LLAMA3_RE}, false, -1},
    {"|gpt2|gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|jina-v2-code|roberta-bpe|mpt|olmo|jais|"
     "trillion|granite-docling|exaone4|a.x-4.0|mellum|", {GPT2_RE}, false, -1},
    {"|starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|", {"\\p{N}", GPT2_RE}, false, -1},
    {"|qwen2|deepseek-r1-qwen|megrez|stablelm2|hunyuan|grok-2|", {QWEN2_RE}, false, -1},
    {"|falcon|", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"}, false, -1},
    {"|deepseek-coder|", {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"}, false, -1},
    {"|deepseek-v3|", {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
                       "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}, false, -1},
    {"|poro-chat|bloom|gpt3-finnish|", {" ?[^(\\s|.,!?…。，、।۔،)]+"}, false, -1},
    {"|viking|", {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"}, false, -1},
    {"|tekken|", {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, true, 1},
    {"|gpt-4o|llama4|", {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, false, -1},
    {"|seed-coder|", {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, false, -1},
    {"|default|", {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}, false, -1},
};

static const pre_def *find_pre(const char *name) {
    char key[96];
    if (!name || strlen(name) > 80) return NULL;
    snprintf(key, sizeof key, "|%s|", name);
    for (size_t i = 0; i < sizeof PRE / sizeof PRE[0]; i++)
        if (strstr(PRE[i].names, key)) return &PRE[i];
    return NULL;
}

static llmc_status add_stage(llmc_tokenizer *t, tok_node *n, llmc_error *err) {
    if (t->n_stages >= TOK_MAX_STAGES) return llmc_err(err, LLMC_ERR_INTERNAL, "tokenizer: too many stages");
    tok_node **ns = realloc(t->stages, (t->n_stages + 1) * sizeof *ns);
    if (!ns) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->stages = ns;
    t->stages[t->n_stages++] = n;
    return LLMC_OK;
}

static tok_node *new_nodes(tok_node *parent, size_t n) {
    parent->subs = calloc(n, sizeof *parent->subs);
    parent->n_subs = parent->subs ? n : 0;
    return parent->subs;
}

static char *sdup(const char *s) { return s ? strdup(s) : NULL; }

/* Scores → merges: every split of a token into two vocab tokens is a merge whose rank is
 * the token's score rank (higher score first; equal scores share a rank so that the
 * leftmost pair wins, as llama.cpp's SPM bigram queue does). */
typedef struct { float score; int32_t id; } sc;
static int sc_cmp(const void *a, const void *b) {
    const sc *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static llmc_status spm_merges(llmc_tokenizer *t, const llmc_tokenizer_gguf_parts *p, llmc_error *err) {
    size_t n = p->n_tokens;
    sc *order = malloc((n ? n : 1) * sizeof *order);
    uint32_t *rank = malloc((n ? n : 1) * sizeof *rank);
    if (!order || !rank) { free(order); free(rank); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    for (size_t i = 0; i < n; i++) { order[i].score = p->scores ? p->scores[i] : 0.0f; order[i].id = (int32_t)i; }
    qsort(order, n, sizeof *order, sc_cmp);
    uint32_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && order[i].score != order[i - 1].score) r++;
        rank[order[i].id] = r;
    }
    free(order);
    if (!tok_umap_init(&t->merges, n * 2)) { free(rank); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    for (size_t id = 0; id < n; id++) {
        int32_t ty = p->token_types ? p->token_types[id] : 1;
        if (ty != 1 && ty != 4) continue;
        const char *s = t->id_str[id];
        size_t len = t->id_len[id];
        if (!s) continue;
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char)s[k] & 0xC0) == 0x80) continue;
            int32_t a = tok_smap_get(&t->vocab, s, k), b = tok_smap_get(&t->vocab, s + k, len - k);
            if (a < 0 || b < 0) continue;
            uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b, old;
            uint64_t val = (uint64_t)rank[id] << 32 | (uint32_t)id;
            if (tok_umap_get(&t->merges, key, &old) && (old >> 32) <= rank[id]) continue;
            if (!tok_umap_put(&t->merges, key, val)) { free(rank); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
        }
    }
    free(rank);
    return LLMC_OK;
}

static llmc_status build(llmc_tokenizer *t, const llmc_tokenizer_gguf_parts *p, llmc_error *err) {
    llmc_status rc;
    bool gpt2 = !strcmp(p->model, "gpt2"), llama = !strcmp(p->model, "llama");
    if (!gpt2 && !llama)
        return llmc_err(err, LLMC_ERR_UNSUPPORTED, "GGUF tokenizer.ggml.model '%s' is not supported (gpt2, llama)", p->model);
    if (!p->tokens || p->n_tokens == 0 || p->n_tokens > TOK_MAX_VOCAB)
        return llmc_err(err, LLMC_ERR_FORMAT, "GGUF tokenizer.ggml.tokens: missing or too many tokens");
    const pre_def *pre = NULL;
    if (gpt2) {
        pre = find_pre(p->pre ? p->pre : "default");
        if (!pre) return llmc_err(err, LLMC_ERR_UNSUPPORTED, "GGUF tokenizer.ggml.pre '%s' is not a known pre-tokenizer", p->pre);
    }
    if (!tok_smap_init(&t->vocab, p->n_tokens)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p->n_tokens; i++) {
        if (!p->tokens[i]) return llmc_err(err, LLMC_ERR_FORMAT, "GGUF tokenizer.ggml.tokens[%zu] is missing", i);
        if ((rc = tok_add_vocab(t, p->tokens[i], strlen(p->tokens[i]), (int32_t)i, err))) return rc;
    }
    /* Control tokens are special added tokens; user-defined ones are matched in text too. */
    if (p->token_types)
        for (size_t i = 0; i < p->n_tokens; i++) {
            int32_t ty = p->token_types[i];
            if ((ty == 3 || ty == 4) && p->tokens[i][0] &&
                (rc = tok_add_added(t, p->tokens[i], strlen(p->tokens[i]), (int32_t)i, ty == 3, false, false, false, false, err)))
                return rc;
        }
    int bos_ok = p->bos_id >= 0 && (size_t)p->bos_id < p->n_tokens, eos_ok = p->eos_id >= 0 && (size_t)p->eos_id < p->n_tokens;
    if (bos_ok && (rc = tok_set_special_str(t, 0, p->tokens[p->bos_id], err))) return rc;
    if (eos_ok && (rc = tok_set_special_str(t, 1, p->tokens[p->eos_id], err))) return rc;
    if (p->unk_id >= 0 && (size_t)p->unk_id < p->n_tokens && (rc = tok_set_special_str(t, 2, p->tokens[p->unk_id], err))) return rc;
    if (p->pad_id >= 0 && (size_t)p->pad_id < p->n_tokens && (rc = tok_set_special_str(t, 3, p->tokens[p->pad_id], err))) return rc;
    int add_bos = p->add_bos, add_eos = p->add_eos;
    if (gpt2) {
        if (!tok_umap_init(&t->merges, p->n_merges)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < p->n_merges; i++) {
            const char *m = p->merges[i], *sp = m ? strchr(m, ' ') : NULL;
            if (!sp || !sp[1]) return llmc_err(err, LLMC_ERR_FORMAT, "GGUF tokenizer.ggml.merges[%zu] is not 'a b'", i);
            if ((rc = tok_add_merge(t, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), (uint32_t)i, err, "GGUF tokenizer.ggml.merges")))
                return rc;
        }
        t->ignore_merges = pre->ignore_merges;
        if (add_bos < 0) add_bos = pre->add_bos > 0;
        if (add_eos < 0) add_eos = 0;
        tok_node *root = &t->pretok_root;
        size_t nre = 0;
        while (nre < 6 && pre->re[nre]) nre++;
        root->kind = TK_P_SEQ;
        if (!new_nodes(root, nre + 1)) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < nre; i++) {
            tok_node *n = &root->subs[i];
            n->kind = TK_P_SPLIT;
            n->behavior = TB_ISOLATED;
            n->re = tok_regex_new(pre->re[i], strlen(pre->re[i]), err, "GGUF pre-tokenizer");
            if (!n->re) return err ? err->code : LLMC_ERR_INTERNAL;
            n->pat = sdup(pre->re[i]);
            if (!n->pat) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
            if ((rc = add_stage(t, n, err))) return rc;
        }
        tok_node *bl = &root->subs[nre];
        bl->kind = TK_P_BYTELEVEL; bl->f1 = false; bl->f2 = false;
        if ((rc = add_stage(t, bl, err))) return rc;
        t->decoder = calloc(1, sizeof *t->decoder);
        if (!t->decoder) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        t->decoder->kind = TK_D_BYTELEVEL;
    } else {
        if ((rc = spm_merges(t, p, err))) return rc;
        t->byte_fallback = true;
        t->fuse_unk = true;
        if (p->unk_id >= 0 && (size_t)p->unk_id < p->n_tokens) t->unk_id = p->unk_id;
        if (add_bos < 0) add_bos = 1;
        if (add_eos < 0) add_eos = 0;
        /* Normalizer Prepend("▁") + Replace(" ", "▁"); decoder Replace, ByteFallback, Fuse, Strip. */
        t->normalizer = calloc(1, sizeof *t->normalizer);
        if (!t->normalizer) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        t->normalizer->kind = TK_N_SEQ;
        tok_node *ns = new_nodes(t->normalizer, 2);
        if (!ns) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        ns[0].kind = TK_N_PREPEND; ns[0].a = sdup("\xE2\x96\x81"); ns[0].a_len = 3;
        ns[1].kind = TK_N_REPLACE; ns[1].a = sdup(" "); ns[1].a_len = 1; ns[1].b = sdup("\xE2\x96\x81"); ns[1].b_len = 3;
        t->decoder = calloc(1, sizeof *t->decoder);
        if (!t->decoder) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        t->decoder->kind = TK_D_SEQ;
        tok_node *ds = new_nodes(t->decoder, 4);
        if (!ds) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        ds[0].kind = TK_D_REPLACE; ds[0].a = sdup("\xE2\x96\x81"); ds[0].a_len = 3; ds[0].b = sdup(" "); ds[0].b_len = 1;
        ds[1].kind = TK_D_BYTEFALLBACK;
        ds[2].kind = TK_D_FUSE;
        ds[3].kind = TK_D_STRIP; ds[3].a = sdup(" "); ds[3].a_len = 1; ds[3].n1 = 1; ds[3].n2 = 0;
        if (!ns[0].a || !ns[1].a || !ns[1].b || !ds[0].a || !ds[0].b || !ds[3].a) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    }
    if (add_bos && bos_ok) { t->post_pre = malloc(sizeof(int32_t)); if (!t->post_pre) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); t->post_pre[0] = p->bos_id; t->n_post_pre = 1; }
    if (add_eos && eos_ok) { t->post_suf = malloc(sizeof(int32_t)); if (!t->post_suf) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); t->post_suf[0] = p->eos_id; t->n_post_suf = 1; }
    return tok_finish(t, err);
}

llmc_status llmc_tokenizer_from_gguf(const llmc_tokenizer_gguf_parts *p, llmc_tokenizer **out, llmc_error *err) {
    *out = NULL;
    if (!p || !p->model) return llmc_err(err, LLMC_ERR_INVALID_ARG, "GGUF tokenizer: no tokenizer.ggml.model");
    if (p->n_merges && !p->merges) return llmc_err(err, LLMC_ERR_INVALID_ARG, "GGUF tokenizer: merges missing");
    llmc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    t->unk_id = -1;
    llmc_status rc = build(t, p, err);
    if (rc) { llmc_tokenizer_free(t); return rc; }
    *out = t;
    return LLMC_OK;
}
