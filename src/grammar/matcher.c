/* The grammar matcher: a byte-level pushdown automaton over the compiled rules.
 *
 * A stack is a chain of nodes (pos, parent) — pos is a BYTES element on top, a
 * continuation position below; nodes are hash-consed, so equal stacks are one id, and
 * node 0 is the empty stack (the grammar has accepted). A state is a sorted set of stack
 * ids, interned; each visited state gets a lazily filled 256-entry transition row, so the
 * automaton determinizes itself as it runs.
 *
 * Masks, XGrammar's idea in this form: a state's mask is the union of its stacks' masks.
 * A stack deeper than M_TRUNC_K is cut to its top M_TRUNC_K nodes over node 1, the
 * "unknown context" bottom; a DFS over the vocabulary trie from the cut stack splits the
 * tokens into accepted (whatever lies below), rejected, and uncertain (the walk popped
 * into the context with bytes left: whole trie subtrees, kept as ranges of the sorted
 * vocabulary). Cut stacks recur across contexts (inside any JSON string the top three
 * frames are the same), so this per-cut-stack entry is cached; only the few uncertain
 * tokens are walked against the full stack. Whole-state masks are memoized too.
 * When the tables pass 3/4 of their bounds, the current state is rebuilt into fresh
 * tables (compaction); hitting a bound mid-step is an error. */
#include "grammar/grm_internal.h"
#include "grammar/vocab.h"
#include "base/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define M_MAX_NODES   (1u << 21)
#define M_MAX_STATES  (1u << 17)
#define M_MAX_SPOOL   (1u << 23)
#define M_MAX_ROWS    (1u << 14)
#define M_MAX_DEPTH   256          /* stack depth: deeper nesting is not allowed */
#define M_MAX_WORK    (1u << 18)   /* expansions in one transition */
#define M_MAX_CREC    2000         /* C recursion in expand */
#define M_MASK_SLOTS  128
#define M_ENT_SLOTS   256          /* cached cut-stack entries */
#define M_TRUNC_K     3            /* nodes kept when cutting a stack */
#define M_MANY_STACKS 32           /* above: mask the state by one direct scan */
#define M_CUT         1u           /* node 1: the unknown context below a cut stack */

typedef struct { uint32_t pos, parent, depth; int32_t entry; uint32_t stamp; } mnode;
typedef struct { uint32_t off, n; int32_t *row; int32_t slot; uint8_t accepting, cut; } mstate;

struct llmc_grammar_matcher {
    const llmc_grammar *g;
    const llmc_grammar_vocab *v;
    int32_t *eos; int n_eos;
    mnode *nodes; uint32_t n_nodes;
    uint32_t *nmap; uint32_t nmap_cap;            /* node hash → id (0 empty) */
    uint32_t *spool; size_t n_spool;
    mstate *states; uint32_t n_states;
    uint32_t *smap; uint32_t smap_cap;            /* state hash → id + 1 */
    uint32_t n_rows;
    uint32_t *masks; int n_words; int next_slot; int32_t slot_owner[M_MASK_SLOTS];
    uint32_t *tmp; size_t n_tmp, cap_tmp;
    uint32_t work, stamp; int crec;   /* stamp: per transition, so a popped-to stack expands once */
    llmc_status fail; const char *fail_what;
    int32_t start, cur;
    bool ended;
    int32_t *dfs_state; uint8_t *dfs_unc; int dfs_cap;   /* per trie depth */
    /* cut-stack entries: accepted bits, uncertain ranges of v->sorted (lo, hi pairs) */
    uint32_t *ent_mask; uint32_t ent_owner[M_ENT_SLOTS]; uint32_t *ent_rng[M_ENT_SLOTS];
    uint32_t ent_nrng[M_ENT_SLOTS], ent_caprng[M_ENT_SLOTS]; int next_ent;
};

static uint32_t hash2(uint32_t a, uint32_t b) {
    uint64_t x = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32) ^ (uint32_t)x;
}

static void m_fail(llmc_grammar_matcher *m, llmc_status st, const char *what) {
    if (!m->fail) { m->fail = st; m->fail_what = what; }
}

/* ---------------- tables ---------------- */

static bool tables_init(llmc_grammar_matcher *m) {
    free(m->nodes); free(m->nmap); free(m->spool); free(m->smap);
    for (uint32_t i = 0; i < m->n_states; i++) free(m->states[i].row);
    free(m->states);
    m->nmap_cap = 1u << 12;
    m->smap_cap = 1u << 10;
    m->nodes = malloc(M_MAX_NODES * sizeof *m->nodes);
    m->nmap = calloc(m->nmap_cap, sizeof *m->nmap);
    m->spool = malloc(M_MAX_SPOOL * sizeof *m->spool);
    m->states = malloc(M_MAX_STATES * sizeof *m->states);
    m->smap = calloc(m->smap_cap, sizeof *m->smap);
    m->n_nodes = 2;   /* node 0: the empty stack; node 1: the cut (depth M_MAX_DEPTH/2, see trunc_stack) */
    if (m->nodes) {
        m->nodes[0] = (mnode){0, 0, 0, -1, 0};
        m->nodes[1] = (mnode){0, 0, M_MAX_DEPTH / 2, -1, 0};
    }
    for (int i = 0; i < M_ENT_SLOTS; i++) m->ent_owner[i] = 0;
    m->next_ent = 0;
    m->n_spool = 0;
    m->n_states = 0;
    m->n_rows = 0;
    for (int i = 0; i < M_MASK_SLOTS; i++) m->slot_owner[i] = -1;
    m->next_slot = 0;
    m->start = -1;
    return m->nodes && m->nmap && m->spool && m->states && m->smap;
}

static bool map_grow(uint32_t **map, uint32_t *cap, uint32_t n_items, uint32_t (*hash_of)(llmc_grammar_matcher *, uint32_t),
                     llmc_grammar_matcher *m, uint32_t bias) {
    if ((n_items + 1) * 2 <= *cap) return true;
    uint32_t nc = *cap * 2;
    uint32_t *nm = calloc(nc, sizeof *nm);
    if (!nm) return false;
    for (uint32_t i = 0; i < *cap; i++) {
        if (!(*map)[i]) continue;
        uint32_t h = hash_of(m, (*map)[i] - bias) & (nc - 1);
        while (nm[h]) h = (h + 1) & (nc - 1);
        nm[h] = (*map)[i];
    }
    free(*map);
    *map = nm;
    *cap = nc;
    return true;
}

static uint32_t node_hash(llmc_grammar_matcher *m, uint32_t id) { return hash2(m->nodes[id].pos, m->nodes[id].parent); }

/* The id of stack (pos on top of parent); 0 (with m->fail set) when a bound is hit, and
 * UINT32_MAX when the stack would be deeper than M_MAX_DEPTH. */
static uint32_t node_get(llmc_grammar_matcher *m, uint32_t pos, uint32_t parent) {
    uint32_t h = hash2(pos, parent) & (m->nmap_cap - 1);
    for (uint32_t id; (id = m->nmap[h]); h = (h + 1) & (m->nmap_cap - 1))
        if (m->nodes[id].pos == pos && m->nodes[id].parent == parent) return id;
    uint32_t depth = m->nodes[parent].depth + 1;
    if (depth > M_MAX_DEPTH) return UINT32_MAX;
    if (m->n_nodes >= M_MAX_NODES) { m_fail(m, LLMC_ERR_NOMEM, "too many stack nodes"); return 0; }
    uint32_t id = m->n_nodes++;
    m->nodes[id] = (mnode){pos, parent, depth, -1, 0};
    m->nmap[h] = id;
    if (!map_grow(&m->nmap, &m->nmap_cap, m->n_nodes, node_hash, m, 0)) { m_fail(m, LLMC_ERR_NOMEM, "out of memory"); return 0; }
    return id;
}

static uint32_t list_hash(const uint32_t *a, uint32_t n) {
    uint32_t h = 0x811C9DC5u ^ n;
    for (uint32_t i = 0; i < n; i++) h = hash2(h, a[i]);
    return h;
}
static uint32_t state_hash(llmc_grammar_matcher *m, uint32_t s) { return list_hash(m->spool + m->states[s].off, m->states[s].n); }

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Interns m->tmp (sorted, deduplicated here) as a state; -1 when empty or on failure. */
static int32_t intern_tmp(llmc_grammar_matcher *m) {
    if (m->fail || !m->n_tmp) return -1;
    qsort(m->tmp, m->n_tmp, sizeof *m->tmp, cmp_u32);
    uint32_t n = 1;
    for (size_t i = 1; i < m->n_tmp; i++)
        if (m->tmp[i] != m->tmp[n - 1]) m->tmp[n++] = m->tmp[i];
    uint32_t h = list_hash(m->tmp, n) & (m->smap_cap - 1);
    for (uint32_t e; (e = m->smap[h]); h = (h + 1) & (m->smap_cap - 1)) {
        const mstate *s = &m->states[e - 1];
        if (s->n == n && !memcmp(m->spool + s->off, m->tmp, n * sizeof *m->tmp)) return (int32_t)(e - 1);
    }
    if (m->n_states >= M_MAX_STATES || m->n_spool + n > M_MAX_SPOOL) { m_fail(m, LLMC_ERR_NOMEM, "too many automaton states"); return -1; }
    uint32_t id = m->n_states++;
    memcpy(m->spool + m->n_spool, m->tmp, n * sizeof *m->tmp);
    m->states[id] = (mstate){(uint32_t)m->n_spool, n, NULL, -1, (uint8_t)(m->tmp[0] == 0),
                             (uint8_t)(m->tmp[0] == M_CUT || (n > 1 && m->tmp[1] == M_CUT))};
    m->n_spool += n;
    m->smap[h] = id + 1;
    if (!map_grow(&m->smap, &m->smap_cap, m->n_states, state_hash, m, 1)) { m_fail(m, LLMC_ERR_NOMEM, "out of memory"); return -1; }
    return (int32_t)id;
}

static void tmp_push(llmc_grammar_matcher *m, uint32_t id) {
    if (m->n_tmp == m->cap_tmp) {
        size_t cap = m->cap_tmp ? m->cap_tmp * 2 : 256;
        uint32_t *t = realloc(m->tmp, cap * sizeof *t);
        if (!t) { m_fail(m, LLMC_ERR_NOMEM, "out of memory"); return; }
        m->tmp = t;
        m->cap_tmp = cap;
    }
    m->tmp[m->n_tmp++] = id;
}

/* ---------------- the automaton ---------------- */

/* Adds to tmp every stack reachable from "continue at pos, then parent" without consuming
 * a byte: rule references are entered (each alternative), finished rules pop. */
static void expand(llmc_grammar_matcher *m, uint32_t pos, uint32_t parent) {
    if (m->fail) return;
    if (++m->work > M_MAX_WORK) { m_fail(m, LLMC_ERR_NOMEM, "the grammar is too ambiguous (expansion bound hit)"); return; }
    if (++m->crec > M_MAX_CREC) { m->crec--; m_fail(m, LLMC_ERR_NOMEM, "rules nested too deep"); return; }
    const llmc_grammar *g = m->g;
    const grm_elem *e = &g->el[pos];
    if (grm_is_end(e)) {
        if (parent <= M_CUT) tmp_push(m, parent);   /* accepted, or popped into the unknown context */
        else if (m->nodes[parent].stamp != m->stamp) {   /* expanding the same stack again adds nothing */
            m->nodes[parent].stamp = m->stamp;
            mnode pn = m->nodes[parent];
            expand(m, pn.pos, pn.parent);
        }
    } else if (e->type == GRM_BYTES) {
        uint32_t id = node_get(m, pos, parent);
        if (id && id != UINT32_MAX) tmp_push(m, id);
    } else {
        uint32_t np = parent;
        if (!grm_is_end(&g->el[pos + 1])) {
            np = node_get(m, pos + 1, parent);
            if (!np || np == UINT32_MAX) { m->crec--; return; }   /* too deep: this path is not allowed */
        }
        for (uint32_t a = g->alt_off[e->v]; a < g->alt_off[e->v + 1]; a++) expand(m, g->alts[a], np);
    }
    m->crec--;
}

static int32_t start_state(llmc_grammar_matcher *m) {
    m->n_tmp = 0;
    m->work = 0;
    m->stamp++;
    const llmc_grammar *g = m->g;
    for (uint32_t a = g->alt_off[g->root]; a < g->alt_off[g->root + 1]; a++) expand(m, g->alts[a], 0);
    return intern_tmp(m);
}

/* The state after byte b from state s (-1: dead, or a failure in m->fail). */
static int32_t step(llmc_grammar_matcher *m, int32_t s, uint8_t b) {
    int32_t *row = m->states[s].row;
    if (row && row[b] != -2) return row[b];
    if (!row && m->n_rows < M_MAX_ROWS) {
        row = malloc(256 * sizeof *row);
        if (row) {
            for (int i = 0; i < 256; i++) row[i] = -2;
            m->states[s].row = row;
            m->n_rows++;
        }
    }
    m->n_tmp = 0;
    m->work = 0;
    m->stamp++;
    const mstate st = m->states[s];
    for (uint32_t i = 0; i < st.n; i++) {
        uint32_t id = m->spool[st.off + i];
        if (id <= M_CUT) continue;
        mnode nd = m->nodes[id];
        const grm_elem *e = &m->g->el[nd.pos];
        if (grm_set_has(&m->g->sets[e->v], b)) expand(m, nd.pos + 1, nd.parent);
    }
    int32_t r = m->n_tmp ? intern_tmp(m) : -1;
    if (m->fail) return -1;
    if (row) row[b] = r;
    return r;
}

/* Rebuilds the current state in fresh tables when they are 3/4 full. */
static void maybe_compact(llmc_grammar_matcher *m) {
    if (m->n_nodes < M_MAX_NODES / 4 * 3 && m->n_states < M_MAX_STATES / 4 * 3 && m->n_spool < M_MAX_SPOOL / 4 * 3 &&
        m->n_rows < M_MAX_ROWS / 4 * 3)
        return;
    /* Save the current state's stacks as position lists (top first). */
    const mstate cs = m->states[m->cur];
    size_t total = 0;
    for (uint32_t i = 0; i < cs.n; i++) total += m->nodes[m->spool[cs.off + i]].depth + 1;
    uint32_t *buf = malloc((total + cs.n + 1) * sizeof *buf);
    if (!buf) { m_fail(m, LLMC_ERR_NOMEM, "out of memory"); return; }
    size_t k = 0;
    for (uint32_t i = 0; i < cs.n; i++) {
        uint32_t id = m->spool[cs.off + i];
        buf[k++] = m->nodes[id].depth;
        for (uint32_t d = m->nodes[id].depth; d > 0; d--, id = m->nodes[id].parent) buf[k++] = m->nodes[id].pos;
    }
    if (!tables_init(m)) { free(buf); m_fail(m, LLMC_ERR_NOMEM, "out of memory"); return; }
    m->n_tmp = 0;
    for (size_t j = 0; j < k;) {
        uint32_t depth = buf[j++], id = 0;
        for (uint32_t d = depth; d > 0; d--) id = node_get(m, buf[j + d - 1], id);  /* bottom up */
        j += depth;
        tmp_push(m, id);
    }
    free(buf);
    m->cur = intern_tmp(m);
    if (m->cur < 0) m_fail(m, LLMC_ERR_INTERNAL, "compaction lost the state");
}

/* ---------------- masks ---------------- */

static void mark_tokens(const llmc_grammar_vocab *v, uint32_t tn, uint32_t *mask) {
    for (uint32_t i = 0; i < v->tn_ntok[tn]; i++) {
        uint32_t id = v->sorted[v->tn_tok[tn] + i];
        mask[id >> 5] |= 1u << (id & 31);
    }
}

/* The state of one stack alone (-1 on failure). */
static int32_t singleton(llmc_grammar_matcher *m, uint32_t id) {
    m->n_tmp = 0;
    tmp_push(m, id);
    return intern_tmp(m);
}

/* State s without the context marker (-1 when nothing real is left). */
static int32_t strip_cut(llmc_grammar_matcher *m, int32_t s) {
    const mstate st = m->states[s];
    m->n_tmp = 0;
    for (uint32_t i = 0; i < st.n; i++)
        if (m->spool[st.off + i] > M_CUT) tmp_push(m, m->spool[st.off + i]);
    return m->n_tmp ? intern_tmp(m) : -1;
}

/* Stack id cut to its top M_TRUNC_K nodes over M_CUT; the stack itself when it is that short,
   or deeper than half the depth bound (the cut node's depth keeps the bound exact: a cut stack
   may grow M_MAX_DEPTH/2 levels within a token, the real one at least as many). */
static uint32_t trunc_stack(llmc_grammar_matcher *m, uint32_t id) {
    if (m->nodes[id].depth <= M_TRUNC_K || m->nodes[id].depth > M_MAX_DEPTH / 2) return id;
    uint32_t pos[M_TRUNC_K], x = id;
    for (int k = 0; k < M_TRUNC_K; k++) { pos[k] = m->nodes[x].pos; x = m->nodes[x].parent; }
    uint32_t t = M_CUT;
    for (int k = M_TRUNC_K - 1; k >= 0; k--) {
        t = node_get(m, pos[k], t);
        if (!t || t == UINT32_MAX) { m_fail(m, LLMC_ERR_NOMEM, "too many stack nodes"); return 0; }
    }
    return t;
}

static void add_range(llmc_grammar_matcher *m, int e, uint32_t lo, uint32_t hi) {
    if (lo >= hi) return;
    if (m->ent_nrng[e] + 2 > m->ent_caprng[e]) {
        uint32_t cap = m->ent_caprng[e] ? m->ent_caprng[e] * 2 : 64;
        uint32_t *r = realloc(m->ent_rng[e], cap * sizeof *r);
        if (!r) { m_fail(m, LLMC_ERR_NOMEM, "out of memory"); return; }
        m->ent_rng[e] = r;
        m->ent_caprng[e] = cap;
    }
    m->ent_rng[e][m->ent_nrng[e]++] = lo;
    m->ent_rng[e][m->ent_nrng[e]++] = hi;
}

/* The entry of cut stack t: a DFS over the trie from its state. Returns the slot (-1: failure). */
/* One forward scan of the pre-order trie from state s, setting the bits of the tokens it
   takes; with e >= 0, prefixes that pop into the unknown context add their subtrees to
   entry e's uncertain ranges. st[d] / unc[d]: the state after the first d bytes and
   whether that prefix's subtree is already in an uncertain range. */
static void scan_trie(llmc_grammar_matcher *m, int32_t s, uint32_t *mask, int e) {
    const llmc_grammar_vocab *v = m->v;
    int32_t *st = m->dfs_state;
    uint8_t *unc = m->dfs_unc;
    st[0] = s;
    unc[0] = 0;
    for (uint32_t k = 1; k < v->n_tn && !m->fail;) {
        uint32_t d = v->tn_depth[k];
        int32_t x = st[d - 1], y;
        const int32_t *row = m->states[x].row;
        uint8_t b = v->tn_byte[k];
        y = row && row[b] != -2 ? row[b] : step(m, x, b);
        if (y < 0) { k = v->tn_end[k]; continue; }
        mark_tokens(v, k, mask);
        uint8_t u = unc[d - 1];
        if (m->states[y].cut) {
            if (!u && e >= 0) add_range(m, e, v->tn_tok[k] + v->tn_ntok[k], v->tn_hi[k]);
            u = 1;
            y = strip_cut(m, y);
            if (y < 0) { k = v->tn_end[k]; continue; }
        }
        st[d] = y;
        unc[d] = u;
        k++;
    }
}

/* The entry of cut stack t. Returns the slot (-1: failure). */
static int compute_entry(llmc_grammar_matcher *m, uint32_t t) {
    int e = m->next_ent;
    m->next_ent = (m->next_ent + 1) % M_ENT_SLOTS;
    if (m->ent_owner[e] && m->ent_owner[e] < m->n_nodes) m->nodes[m->ent_owner[e]].entry = -1;
    m->ent_owner[e] = 0;
    m->ent_nrng[e] = 0;
    uint32_t *mask = m->ent_mask + (size_t)e * m->n_words;
    memset(mask, 0, (size_t)m->n_words * sizeof *mask);
    int32_t s = singleton(m, t);
    if (s < 0) return -1;
    scan_trie(m, s, mask, e);
    if (m->fail) return -1;
    m->ent_owner[e] = t;
    m->nodes[t].entry = e;
    return e;
}

/* Whether the token's bytes can follow state s. */
static bool walk_ok(llmc_grammar_matcher *m, int32_t s, uint32_t id) {
    const llmc_grammar_vocab *v = m->v;
    for (uint32_t i = v->off[id]; i < v->off[id + 1] && s >= 0; i++) s = step(m, s, v->bytes[i]);
    return s >= 0;
}

/* The mask of state s: the union over its stacks of the cut stacks' accepted tokens and the
   uncertain ones that the full stack takes. */
static void compute_mask(llmc_grammar_matcher *m, int32_t s, uint32_t *mask) {
    const llmc_grammar_vocab *v = m->v;
    memset(mask, 0, (size_t)m->n_words * sizeof *mask);
    const mstate st = m->states[s];
    /* Many stacks (a big enum, an ambiguous grammar): one scan of the whole state is cheaper
       than an entry per stack. */
    if (st.n > M_MANY_STACKS) scan_trie(m, s, mask, -1);
    for (uint32_t i = 0; i < st.n && st.n <= M_MANY_STACKS && !m->fail; i++) {
        uint32_t id = m->spool[st.off + i];
        if (id <= M_CUT) continue;
        uint32_t t = trunc_stack(m, id);
        if (!t) return;
        int e = m->nodes[t].entry;
        if (e < 0 && (e = compute_entry(m, t)) < 0) return;
        const uint32_t *em = m->ent_mask + (size_t)e * m->n_words;
        for (int w = 0; w < m->n_words; w++) mask[w] |= em[w];
        if (!m->ent_nrng[e]) continue;
        int32_t one = singleton(m, id);
        if (one < 0) return;
        for (uint32_t r = 0; r + 1 < m->ent_nrng[e]; r += 2)
            for (uint32_t k = m->ent_rng[e][r]; k < m->ent_rng[e][r + 1] && !m->fail; k++) {
                uint32_t tok = v->sorted[k];
                if ((mask[tok >> 5] >> (tok & 31)) & 1u) continue;
                if (walk_ok(m, one, tok)) mask[tok >> 5] |= 1u << (tok & 31);
            }
    }
    if (st.accepting)
        for (int i = 0; i < m->n_eos; i++)
            if (m->eos[i] >= 0 && m->eos[i] < v->n) mask[m->eos[i] >> 5] |= 1u << (m->eos[i] & 31);
}

static llmc_status report(llmc_grammar_matcher *m, llmc_error *err) {
    llmc_status st = m->fail;
    llmc_err(err, st, "grammar matcher: %s", m->fail_what ? m->fail_what : "failed");
    return st;
}

llmc_status llmc_grammar_matcher_mask(llmc_grammar_matcher *m, const uint32_t **mask, llmc_error *err) {
    *mask = NULL;
    if (m->fail) return report(m, err);
    if (m->ended) return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar matcher: the match has ended (eos accepted)");
    maybe_compact(m);
    if (m->fail) return report(m, err);
    int32_t s = m->cur;
    if (m->states[s].slot >= 0) { *mask = m->masks + (size_t)m->states[s].slot * m->n_words; return LLMC_OK; }
    int slot = m->next_slot;
    m->next_slot = (m->next_slot + 1) % M_MASK_SLOTS;
    if (m->slot_owner[slot] >= 0 && (uint32_t)m->slot_owner[slot] < m->n_states) m->states[m->slot_owner[slot]].slot = -1;
    m->slot_owner[slot] = -1;
    uint32_t *out = m->masks + (size_t)slot * m->n_words;
    compute_mask(m, s, out);
    if (m->fail) return report(m, err);
    m->states[s].slot = slot;
    m->slot_owner[slot] = s;
    *mask = out;
    return LLMC_OK;
}

/* ---------------- lifecycle and input ---------------- */

llmc_status llmc_grammar_matcher_new(const llmc_grammar *g, const llmc_grammar_vocab *v, const int32_t *eos, int n_eos,
                                     llmc_grammar_matcher **out, llmc_error *err) {
    *out = NULL;
    if (!g || !v || n_eos < 0 || (n_eos && !eos)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar matcher: needs a grammar and a vocab");
    llmc_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m) return llmc_err(err, LLMC_ERR_NOMEM, "grammar matcher: out of memory");
    m->g = g;
    m->v = v;
    m->n_words = (v->n + 31) / 32;
    m->masks = malloc((size_t)M_MASK_SLOTS * m->n_words * sizeof *m->masks);
    m->eos = malloc(((size_t)n_eos + 1) * sizeof *m->eos);
    m->dfs_cap = (int)v->max_depth + 2;
    m->dfs_state = malloc((size_t)m->dfs_cap * sizeof *m->dfs_state);
    m->dfs_unc = malloc((size_t)m->dfs_cap);
    m->ent_mask = malloc((size_t)M_ENT_SLOTS * m->n_words * sizeof *m->ent_mask);
    if (!m->masks || !m->eos || !m->dfs_state || !m->dfs_unc || !m->ent_mask || !tables_init(m)) {
        llmc_grammar_matcher_free(m);
        return llmc_err(err, LLMC_ERR_NOMEM, "grammar matcher: out of memory");
    }
    if (n_eos) memcpy(m->eos, eos, (size_t)n_eos * sizeof *eos);
    m->n_eos = n_eos;
    m->start = m->cur = start_state(m);
    if (m->cur < 0) {
        llmc_status st = m->fail ? report(m, err) : llmc_err(err, LLMC_ERR_FORMAT, "grammar matcher: the grammar matches nothing");
        llmc_grammar_matcher_free(m);
        return st;
    }
    *out = m;
    return LLMC_OK;
}

void llmc_grammar_matcher_free(llmc_grammar_matcher *m) {
    if (!m) return;
    for (uint32_t i = 0; m->states && i < m->n_states; i++) free(m->states[i].row);
    free(m->nodes); free(m->nmap); free(m->spool); free(m->states); free(m->smap);
    free(m->masks); free(m->eos); free(m->tmp);
    free(m->dfs_state); free(m->dfs_unc);
    free(m->ent_mask);
    for (int i = 0; i < M_ENT_SLOTS; i++) free(m->ent_rng[i]);
    free(m);
}

void llmc_grammar_matcher_reset(llmc_grammar_matcher *m) {
    if (!m) return;
    m->ended = false;
    if (m->start < 0) m->start = start_state(m);
    m->cur = m->start;
}

bool llmc_grammar_matcher_accept_bytes(llmc_grammar_matcher *m, const void *bytes, size_t len) {
    if (m->fail || m->ended) return false;
    maybe_compact(m);
    const uint8_t *b = bytes;
    int32_t s = m->cur;
    for (size_t i = 0; i < len && s >= 0; i++) s = step(m, s, b[i]);
    if (s < 0) return false;
    m->cur = s;
    return true;
}

llmc_status llmc_grammar_matcher_accept(llmc_grammar_matcher *m, int32_t id, llmc_error *err) {
    if (m->fail) return report(m, err);
    if (m->ended) return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar matcher: token %d after the end", id);
    for (int i = 0; i < m->n_eos; i++)
        if (m->eos[i] == id) {
            if (!m->states[m->cur].accepting)
                return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar matcher: eos token %d before the grammar is complete", id);
            m->ended = true;
            return LLMC_OK;
        }
    size_t n;
    const uint8_t *b = llmc_grammar_vocab_bytes(m->v, id, &n);
    if (!b) return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar matcher: token %d has no text the grammar could take", id);
    if (!llmc_grammar_matcher_accept_bytes(m, b, n)) {
        if (m->fail) return report(m, err);
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "grammar matcher: the grammar does not allow token %d here", id);
    }
    return LLMC_OK;
}

bool llmc_grammar_matcher_can_end(const llmc_grammar_matcher *m) { return m->cur >= 0 && m->states[m->cur].accepting; }

bool llmc_grammar_matcher_must_end(llmc_grammar_matcher *m) {
    const mstate *s = &m->states[m->cur];
    return s->n == 1 && s->accepting;
}

void llmc_grammar_mask_apply(const uint32_t *mask, float *logits, int n) {
    for (int w = 0; w * 32 < n; w++) {
        uint32_t x = mask[w];
        if (x == 0xFFFFFFFFu) continue;
        int end = w * 32 + 32 < n ? w * 32 + 32 : n;
        for (int i = w * 32; i < end; i++)
            if (!((x >> (i & 31)) & 1u)) logits[i] = -INFINITY;
    }
}
