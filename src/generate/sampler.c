/* Sampler: transformers' logits processors for one sequence, then greedy or a
 * seeded draw. Arithmetic follows torch's float32 CPU ops where it decides which
 * ids survive (division by temperature, softmax, cumulative sums accumulated in
 * double and stored as float, thresholds compared in float). */
#include "generate/sampler.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct llmc_sampler {
    llmc_sampling p;
    uint64_t rng[4];
    /* scratch sized to the largest vocab seen */
    int cap;
    uint32_t *seen;      /* stamp per id for "penalize once" */
    uint32_t stamp;
    int32_t *idx;        /* surviving ids */
    float *tmp;
};

void llmc_sampling_default(llmc_sampling *s) {
    memset(s, 0, sizeof *s);
    s->do_sample = false;
    s->temperature = 1.0f;
    s->top_k = 50;
    s->top_p = 1.0f;
    s->min_p = 0.0f;
    s->repetition_penalty = 1.0f;
}

/* ---- xoshiro256** seeded through splitmix64 ---- */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rng_next(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}
/* uniform in [0, 1) with 53 random bits */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

void llmc_sampler_reseed(llmc_sampler *s, uint64_t seed) {
    if (!s) return;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

llmc_sampler *llmc_sampler_new(const llmc_sampling *p) {
    llmc_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (p) s->p = *p;
    else llmc_sampling_default(&s->p);
    llmc_sampling *q = &s->p;
    if (!(q->top_p >= 0)) q->top_p = 0;
    if (q->top_p > 1) q->top_p = 1;
    if (!(q->min_p >= 0)) q->min_p = 0;
    if (q->min_p > 1) q->min_p = 1;
    if (q->top_k < 0) q->top_k = 0;
    if (!(q->repetition_penalty > 0) || !isfinite(q->repetition_penalty)) q->repetition_penalty = 1;
    if (!isfinite(q->temperature)) q->temperature = 1;
    uint64_t seed = q->seed;
    if (!q->has_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)s;
    }
    llmc_sampler_reseed(s, seed);
    return s;
}

void llmc_sampler_free(llmc_sampler *s) {
    if (!s) return;
    free(s->seen);
    free(s->idx);
    free(s->tmp);
    free(s);
}

static bool reserve(llmc_sampler *s, int vocab) {
    if (vocab <= s->cap) return true;
    uint32_t *seen = calloc((size_t)vocab, sizeof *seen);
    int32_t *idx = malloc((size_t)vocab * sizeof *idx);
    float *tmp = malloc((size_t)vocab * sizeof *tmp);
    if (!seen || !idx || !tmp) {
        free(seen);
        free(idx);
        free(tmp);
        return false;
    }
    free(s->seen);
    free(s->idx);
    free(s->tmp);
    s->seen = seen;
    s->idx = idx;
    s->tmp = tmp;
    s->stamp = 0;
    s->cap = vocab;
    return true;
}

static void repetition_penalty(llmc_sampler *s, float *x, int vocab, const int32_t *h, int n) {
    float pen = s->p.repetition_penalty;
    if (pen == 1.0f || !h || n <= 0) return;
    if (++s->stamp == 0) { /* wrapped: clear the stamps */
        memset(s->seen, 0, (size_t)s->cap * sizeof *s->seen);
        s->stamp = 1;
    }
    for (int i = 0; i < n; i++) {
        int32_t id = h[i];
        if (id < 0 || id >= vocab || s->seen[id] == s->stamp) continue;
        s->seen[id] = s->stamp;
        x[id] = x[id] < 0 ? x[id] * pen : x[id] / pen;
    }
}

/* Ids whose score is not -inf (and not NaN), in index order. */
static int survivors(const float *x, int vocab, int32_t *idx) {
    int n = 0;
    for (int i = 0; i < vocab; i++)
        if (x[i] > -INFINITY) idx[n++] = i;
    return n;
}

/* k-th largest value (1-based k <= n) of vals[0..n) by quickselect on a copy. */
static float kth_largest(float *v, int n, int k) {
    int lo = 0, hi = n - 1, want = k - 1;
    uint64_t seed = 0x12345678u; /* deterministic pivots; bounded expected time */
    while (lo < hi) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        float piv = v[lo + (int)((seed >> 33) % (uint64_t)(hi - lo + 1))];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] > piv) i++;
            while (v[j] < piv) j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else return v[want];
    }
    return v[want];
}

static void top_k(llmc_sampler *s, float *x, int vocab) {
    int k = s->p.top_k; /* min_tokens_to_keep is 1 for one sequence */
    if (k <= 0 || k >= vocab) return;
    int n = 0;
    for (int i = 0; i < vocab; i++)
        if (!isnan(x[i])) s->tmp[n++] = x[i];
    if (k > n) return;
    float thr = kth_largest(s->tmp, n, k);
    for (int i = 0; i < vocab; i++)
        if (x[i] < thr) x[i] = -INFINITY;
}

/* Softmax pieces over the survivors: max and sum of exp(x - max) (float, as torch). */
static void softmax_stats(const float *x, const int32_t *idx, int n, float *mx, float *sum) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[idx[i]] > m) m = x[idx[i]];
    double z = 0;
    for (int i = 0; i < n; i++) z += expf(x[idx[i]] - m);
    *mx = m;
    *sum = (float)z;
}

/* Merge sort of ids by (score, id) ascending: deterministic and thread-safe. */
static void sort_ids(int32_t *a, int32_t *tmp, int n, const float *x) {
    if (n < 2) return;
    if (n <= 16) { /* insertion sort */
        for (int i = 1; i < n; i++) {
            int32_t v = a[i];
            int j = i - 1;
            while (j >= 0 && (x[a[j]] > x[v] || (x[a[j]] == x[v] && a[j] > v))) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = v;
        }
        return;
    }
    int h = n / 2;
    sort_ids(a, tmp, h, x);
    sort_ids(a + h, tmp, n - h, x);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int32_t p = a[i], q = a[j];
        bool le = x[p] < x[q] || (x[p] == x[q] && p <= q);
        tmp[k++] = le ? a[i++] : a[j++];
    }
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static void top_p(llmc_sampler *s, float *x, int vocab) {
    if (!(s->p.top_p < 1.0f)) return;
    int n = survivors(x, vocab, s->idx);
    if (n <= 1) return;
    /* tmp doubles as merge scratch: ids fit in a float-sized slot */
    sort_ids(s->idx, (int32_t *)s->tmp, n, x);
    float mx, sum;
    softmax_stats(x, s->idx, n, &mx, &sum);
    float cut = (float)(1.0 - (double)s->p.top_p);
    double cum = 0;
    /* Ascending order: remove while the cumulative mass stays <= 1 - top_p; the
     * largest one (min_tokens_to_keep = 1) always stays. Ids already at -inf sort
     * first with zero mass in torch and are removed there too. */
    for (int i = 0; i < n - 1; i++) {
        int32_t id = s->idx[i];
        float p = expf(x[id] - mx) / sum;
        cum += p;
        if ((float)cum <= cut) x[id] = -INFINITY;
        else break; /* cumulative sums only grow */
    }
}

static void min_p(llmc_sampler *s, float *x, int vocab) {
    if (!(s->p.min_p > 0.0f)) return;
    int n = survivors(x, vocab, s->idx);
    if (n <= 1) return;
    float mx, sum;
    softmax_stats(x, s->idx, n, &mx, &sum);
    float top = 1.0f / sum; /* exp(mx - mx) / sum */
    float thr = s->p.min_p * top;
    int32_t best = -1;
    for (int i = 0; i < n; i++)
        if (best < 0 || x[s->idx[i]] > x[best]) best = s->idx[i];
    for (int i = 0; i < n; i++) {
        int32_t id = s->idx[i];
        if (id != best && expf(x[id] - mx) / sum < thr) x[id] = -INFINITY;
    }
}

static bool greedy_mode(const llmc_sampler *s) { return !s->p.do_sample || !(s->p.temperature > 0.0f); }

void llmc_sampler_process(llmc_sampler *s, float *x, int vocab, const int32_t *h, int n) {
    if (!s || !x || vocab <= 0 || !reserve(s, vocab)) return;
    repetition_penalty(s, x, vocab, h, n);
    if (greedy_mode(s)) return;
    if (s->p.temperature != 1.0f) {
        float t = s->p.temperature;
        for (int i = 0; i < vocab; i++) x[i] = x[i] / t;
    }
    top_k(s, x, vocab);
    top_p(s, x, vocab);
    min_p(s, x, vocab);
}

static int32_t argmax(const float *x, int vocab) {
    int32_t best = -1;
    for (int i = 0; i < vocab; i++)
        if (!isnan(x[i]) && (best < 0 || x[i] > x[best])) best = i; /* first of equal maxima, like torch.argmax */
    return best;
}

/* The draw over processed scores: argmax when greedy or nothing survives, else from the
   softmax of the survivors with one uniform of the generator. */
static int32_t draw(llmc_sampler *s, const float *x, int vocab) {
    if (greedy_mode(s)) return argmax(x, vocab);
    int m = survivors(x, vocab, s->idx);
    if (m == 0) return argmax(x, vocab);
    float mx, sum;
    softmax_stats(x, s->idx, m, &mx, &sum);
    if (!isfinite(mx)) return argmax(x, vocab); /* +inf logits: the largest wins */
    double total = 0;
    for (int i = 0; i < m; i++) total += exp((double)x[s->idx[i]] - mx);
    double u = rng_uniform(s->rng) * total, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += exp((double)x[s->idx[i]] - mx);
        if (u < acc) return s->idx[i];
    }
    return s->idx[m - 1];
}

int32_t llmc_sampler_sample(llmc_sampler *s, float *x, int vocab, const int32_t *h, int n) {
    if (!s || !x || vocab <= 0) return -1;
    if (s->p.mask && s->p.mask(s->p.mask_user, x, vocab)) return -1;
    int32_t id;
    if (!reserve(s, vocab)) id = argmax(x, vocab); /* out of memory: still a valid answer */
    else {
        llmc_sampler_process(s, x, vocab, h, n);
        id = draw(s, x, vocab);
    }
    if (s->p.accept && id >= 0) s->p.accept(s->p.mask_user, id);
    return id;
}

void llmc_sampler_select_req(const llmc_sampler *s, int vocab, llmc_select_req *r) {
    memset(r, 0, sizeof *r);
    r->mode = LLMC_SELECT_NONE;
    if (!s || vocab <= 0 || s->p.mask) return;   /* a constraint masks host logits */
    r->penalty = s->p.repetition_penalty;
    r->temperature = 1.0f;
    if (greedy_mode(s)) {
        r->mode = LLMC_SELECT_GREEDY;
        return;
    }
    /* Without top-k every id may survive: the host needs all the logits. */
    if (s->p.top_k <= 0 || s->p.top_k >= vocab || s->p.top_k > LLMC_SELECT_MAX_CAND) return;
    r->mode = LLMC_SELECT_TOPK;
    r->temperature = s->p.temperature;
    r->top_k = s->p.top_k;
}

/* Candidates in ascending id order keep every order the full pass uses ((score, id)
   sorts, first-of-equal maxima), and the filtered ids it would hold at -inf add nothing
   to a softmax: top-p, min-p and the draw over vals[0..n) choose what they would choose
   over the whole vocabulary, with the same one uniform. */
int llmc_sampler_finish(llmc_sampler *s, float *vals, int n) {
    if (!s || !vals || n <= 0) return -1;
    if (!reserve(s, n)) return argmax(vals, n);
    if (!greedy_mode(s)) {
        top_p(s, vals, n);
        min_p(s, vals, n);
    }
    return draw(s, vals, n);
}
