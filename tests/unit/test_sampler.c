/* Sampler behaviour: seeds reproduce, temperature 0 and top-k 1 are greedy, top-p
 * and min-p keep exactly the expected ids, the repetition penalty matches
 * transformers' rule, draws follow the softmax, odd inputs never crash. */
#include "generate/sampler.h"
#include "test.h"
#include "select_ref.h"

static llmc_sampling sampling(bool do_sample, float temp, int top_k, float top_p, float min_p, float pen, uint64_t seed) {
    llmc_sampling s;
    llmc_sampling_default(&s);
    s.do_sample = do_sample;
    s.temperature = temp;
    s.top_k = top_k;
    s.top_p = top_p;
    s.min_p = min_p;
    s.repetition_penalty = pen;
    s.seed = seed;
    s.has_seed = true;
    return s;
}

static int draw(llmc_sampler *smp, const float *logits, int vocab, const int32_t *h, int nh) {
    float buf[256];
    memcpy(buf, logits, (size_t)vocab * sizeof *buf);
    return llmc_sampler_sample(smp, buf, vocab, h, nh);
}

#define V 32
static float g_logits[V];

static void test_defaults(void) {
    llmc_sampling s;
    llmc_sampling_default(&s);
    CHECK(!s.do_sample && s.temperature == 1.0f && s.top_k == 50 && s.top_p == 1.0f && s.min_p == 0.0f &&
          s.repetition_penalty == 1.0f && !s.has_seed);
}

static void test_seed(void) {
    llmc_sampling s = sampling(true, 1.0f, 0, 1.0f, 0, 1.0f, 42);
    llmc_sampler *a = llmc_sampler_new(&s), *b = llmc_sampler_new(&s);
    int same = 0, distinct = 0, seen[V] = {0};
    for (int i = 0; i < 300; i++) {
        int x = draw(a, g_logits, V, NULL, 0), y = draw(b, g_logits, V, NULL, 0);
        same += x == y;
        if (x >= 0 && x < V && !seen[x]++) distinct++;
    }
    CHECK_INT(same, 300);
    CHECK(distinct > 5); /* it really samples */
    /* reseeding replays the sequence */
    int first[20];
    llmc_sampler_reseed(a, 99);
    for (int i = 0; i < 20; i++) first[i] = draw(a, g_logits, V, NULL, 0);
    llmc_sampler_reseed(a, 99);
    int replay = 0;
    for (int i = 0; i < 20; i++) replay += draw(a, g_logits, V, NULL, 0) == first[i];
    CHECK_INT(replay, 20);
    /* another seed gives another sequence */
    s.seed = 43;
    llmc_sampler *c = llmc_sampler_new(&s);
    llmc_sampler_reseed(a, 42);
    int diff = 0;
    for (int i = 0; i < 50; i++) diff += draw(a, g_logits, V, NULL, 0) != draw(c, g_logits, V, NULL, 0);
    CHECK(diff > 0);
    llmc_sampler_free(a);
    llmc_sampler_free(b);
    llmc_sampler_free(c);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void test_greedy_equivalences(void) {
    int want = argmax(g_logits, V);
    llmc_sampling sg = sampling(false, 1.0f, 50, 1.0f, 0, 1.0f, 1);
    llmc_sampling st0 = sampling(true, 0.0f, 50, 0.9f, 0.1f, 1.0f, 1);
    llmc_sampling sk1 = sampling(true, 1.3f, 1, 1.0f, 0, 1.0f, 1);
    llmc_sampler *g = llmc_sampler_new(&sg), *t0 = llmc_sampler_new(&st0), *k1 = llmc_sampler_new(&sk1);
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += draw(g, g_logits, V, NULL, 0) == want && draw(t0, g_logits, V, NULL, 0) == want &&
              draw(k1, g_logits, V, NULL, 0) == want;
    CHECK_INT(ok, 100);
    /* greedy with a penalty: the penalized favourite loses */
    llmc_sampling sp = sampling(false, 1.0f, 50, 1.0f, 0, 100.0f, 1);
    llmc_sampler *p = llmc_sampler_new(&sp);
    int32_t hist[1] = {want};
    CHECK(draw(p, g_logits, V, hist, 1) != want);
    /* ties: the first maximum, like torch.argmax */
    float tie[4] = {1, 3, 3, 2};
    CHECK_INT(draw(g, tie, 4, NULL, 0), 1);
    llmc_sampler_free(g);
    llmc_sampler_free(t0);
    llmc_sampler_free(k1);
    llmc_sampler_free(p);
}

static void test_filters(void) {
    /* probabilities 0.5, 0.3, 0.15, 0.05 */
    float lp[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    float x[4];
    /* top-p 0.75: ascending cumulative mass 0.05, 0.20, 0.50, 1.00; <= 0.25 goes */
    llmc_sampling s = sampling(true, 1.0f, 0, 0.75f, 0, 1.0f, 5);
    llmc_sampler *smp = llmc_sampler_new(&s);
    memcpy(x, lp, sizeof x);
    llmc_sampler_process(smp, x, 4, NULL, 0);
    CHECK(x[0] == lp[0] && x[1] == lp[1] && isinf(x[2]) && isinf(x[3]));
    int bad = 0, hits[4] = {0};
    for (int i = 0; i < 500; i++) {
        int id = draw(smp, lp, 4, NULL, 0);
        bad += id != 0 && id != 1;
        if (id >= 0 && id < 4) hits[id]++;
    }
    CHECK_INT(bad, 0);
    CHECK(hits[0] > 0 && hits[1] > 0);
    llmc_sampler_free(smp);
    /* top-p so small that only the top id stays (min_tokens_to_keep = 1) */
    s = sampling(true, 1.0f, 0, 0.01f, 0, 1.0f, 5);
    smp = llmc_sampler_new(&s);
    memcpy(x, lp, sizeof x);
    llmc_sampler_process(smp, x, 4, NULL, 0);
    CHECK(x[0] == lp[0] && isinf(x[1]) && isinf(x[2]) && isinf(x[3]));
    llmc_sampler_free(smp);
    /* min-p 0.2: threshold 0.2 * 0.5 = 0.1 → only the 0.05 id goes */
    s = sampling(true, 1.0f, 0, 1.0f, 0.2f, 1.0f, 5);
    smp = llmc_sampler_new(&s);
    memcpy(x, lp, sizeof x);
    llmc_sampler_process(smp, x, 4, NULL, 0);
    CHECK(x[0] == lp[0] && x[1] == lp[1] && x[2] == lp[2] && isinf(x[3]));
    llmc_sampler_free(smp);
    /* top-k 2 */
    s = sampling(true, 1.0f, 2, 1.0f, 0, 1.0f, 5);
    smp = llmc_sampler_new(&s);
    memcpy(x, lp, sizeof x);
    llmc_sampler_process(smp, x, 4, NULL, 0);
    CHECK(!isinf(x[0]) && !isinf(x[1]) && isinf(x[2]) && isinf(x[3]));
    llmc_sampler_free(smp);
    /* temperature scales before the filters */
    s = sampling(true, 0.5f, 0, 1.0f, 0, 1.0f, 5);
    smp = llmc_sampler_new(&s);
    memcpy(x, lp, sizeof x);
    llmc_sampler_process(smp, x, 4, NULL, 0);
    CHECK(x[0] == lp[0] / 0.5f && x[3] == lp[3] / 0.5f);
    llmc_sampler_free(smp);
}

static void test_repetition_penalty(void) {
    /* transformers: score < 0 ? score * p : score / p, once per distinct id */
    float x[5] = {2.0f, -2.0f, 1.0f, 0.0f, 3.0f};
    int32_t h[6] = {0, 1, 0, 3, 99, -5}; /* out-of-range ids are ignored */
    llmc_sampling s = sampling(false, 1.0f, 50, 1.0f, 0, 2.0f, 1);
    llmc_sampler *smp = llmc_sampler_new(&s);
    llmc_sampler_process(smp, x, 5, h, 6);
    CHECK(x[0] == 1.0f && x[1] == -4.0f && x[2] == 1.0f && x[3] == 0.0f && x[4] == 3.0f);
    /* a second call penalizes afresh (not cumulatively on stale state) */
    float y[5] = {2.0f, -2.0f, 1.0f, 0.0f, 3.0f};
    llmc_sampler_process(smp, y, 5, h, 2);
    CHECK(y[0] == 1.0f && y[1] == -4.0f);
    llmc_sampler_free(smp);
}

static void test_distribution(void) {
    float lp[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    llmc_sampling s = sampling(true, 1.0f, 0, 1.0f, 0, 1.0f, 2024);
    llmc_sampler *smp = llmc_sampler_new(&s);
    int hits[3] = {0};
    const int N = 20000;
    for (int i = 0; i < N; i++) {
        int id = draw(smp, lp, 3, NULL, 0);
        if (id >= 0 && id < 3) hits[id]++;
    }
    CHECK_MSG(fabs(hits[0] / (double)N - 0.5) < 0.02 && fabs(hits[1] / (double)N - 0.3) < 0.02 &&
              fabs(hits[2] / (double)N - 0.2) < 0.02, "frequencies %d %d %d", hits[0], hits[1], hits[2]);
    llmc_sampler_free(smp);
}

static void test_odd_inputs(void) {
    llmc_sampling s = sampling(true, 1.0f, 50, 0.9f, 0.05f, 1.1f, 3);
    llmc_sampler *smp = llmc_sampler_new(&s);
    float nan4[4] = {NAN, NAN, NAN, NAN};
    CHECK_INT(llmc_sampler_sample(smp, nan4, 4, NULL, 0), -1);
    float some[4] = {NAN, 1.0f, NAN, 0.5f};
    int id = llmc_sampler_sample(smp, some, 4, NULL, 0);
    CHECK(id == 1 || id == 3);
    float inf[3] = {-INFINITY, INFINITY, 0};
    CHECK_INT(llmc_sampler_sample(smp, inf, 3, NULL, 0), 1);
    float one[1] = {0.3f};
    CHECK_INT(llmc_sampler_sample(smp, one, 1, NULL, 0), 0);
    CHECK_INT(llmc_sampler_sample(smp, one, 0, NULL, 0), -1);
    /* growing vocab re-sizes scratch */
    float big[200];
    for (int i = 0; i < 200; i++) big[i] = (float)(i % 17);
    id = llmc_sampler_sample(smp, big, 200, NULL, 0);
    CHECK(id >= 0 && id < 200 && big[id] > -INFINITY);
    llmc_sampler_free(smp);
    /* out-of-range settings are clamped, not trusted */
    llmc_sampling bad = sampling(true, 1.0f, -3, 7.0f, -1.0f, -2.0f, 3);
    smp = llmc_sampler_new(&bad);
    CHECK(smp != NULL);
    float x[4] = {1, 2, 3, 4};
    id = llmc_sampler_sample(smp, x, 4, NULL, 0);
    CHECK(id >= 0 && id < 4);
    llmc_sampler_free(smp);
    llmc_sampler_free(NULL);
    /* unseeded samplers work too */
    llmc_sampling u = sampling(true, 1.0f, 0, 1.0f, 0, 1.0f, 0);
    u.has_seed = false;
    smp = llmc_sampler_new(&u);
    float y[4] = {1, 2, 3, 4};
    id = llmc_sampler_sample(smp, y, 4, NULL, 0);
    CHECK(id >= 0 && id < 4);
    llmc_sampler_free(smp);
}

/* A device doing what backend/select.h asks, then llmc_sampler_finish, draws exactly what
   the full host pass draws, step after step with the same seed (one uniform per draw). */
static void test_device_contract(void) {
    enum { NV = 3000 };
    static float x[NV], full[NV], vals[LLMC_SELECT_MAX_CAND];
    static int32_t ids[LLMC_SELECT_MAX_CAND], hist[64];
    const float temps[] = {0.0f, 0.6f, 1.0f, 1.7f}, tops_p[] = {1.0f, 0.9f, 0.5f}, mins_p[] = {0.0f, 0.05f}, pens[] = {1.0f, 1.3f, 0.8f};
    const int tops_k[] = {0, 1, 5, 50, 1024, 1025, NV - 1, NV};
    uint64_t rs = 12345;
    int trials = 0, agree = 0, kinds[3] = {0, 0, 0};
    for (int t = 0; t < 400; t++) {
        int vocab = t % 3 == 0 ? NV : 200 + t;
        int shape = t % 5; /* 0,1 smooth; 2 many ties; 3 NaN and -inf; 4 all equal */
        for (int i = 0; i < vocab; i++) {
            rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
            float u = (float)((rs >> 40) & 0xffffff) / 16777216.0f;
            x[i] = shape == 2 ? (float)(int)(u * 6) : shape == 4 ? 0.5f : (u - 0.5f) * 12.0f;
            if (shape == 3 && i % 7 == 0) x[i] = i % 14 ? NAN : -INFINITY;
        }
        if (shape == 3) x[3] = -0.0f, x[4] = 0.0f;
        llmc_sampling sp = sampling(t % 4 != 0, temps[t % 4], tops_k[(t / 4) % 8], tops_p[(t / 32) % 3], mins_p[t % 2], pens[(t / 3) % 3],
                                    (uint64_t)t);
        llmc_sampler *a = llmc_sampler_new(&sp), *b = llmc_sampler_new(&sp);
        int nh = 6;
        for (int i = 0; i < nh; i++) hist[i] = (i * 131 + t) % vocab;
        hist[5] = hist[2]; /* a repeated id is penalized once */
        for (int step = 0; step < 4; step++, trials++) {
            memcpy(full, x, (size_t)vocab * sizeof *full);
            int32_t want = llmc_sampler_sample(a, full, vocab, hist, nh);
            llmc_select_req req;
            llmc_sampler_select_req(b, vocab, &req);
            int32_t got;
            if (req.mode == LLMC_SELECT_NONE) {
                memcpy(full, x, (size_t)vocab * sizeof *full);
                got = llmc_sampler_sample(b, full, vocab, hist, nh);
            } else {
                int32_t id;
                int n;
                llmc_choice_kind k = select_ref(x, vocab, hist, nh, &req, &id, ids, vals, &n);
                kinds[k]++;
                if (k == LLMC_CHOICE_ID) got = id;
                else if (k == LLMC_CHOICE_CANDIDATES) {
                    int i = llmc_sampler_finish(b, vals, n);
                    got = i < 0 ? -1 : ids[i];
                } else {
                    memcpy(full, x, (size_t)vocab * sizeof *full);
                    got = llmc_sampler_sample(b, full, vocab, hist, nh);
                }
            }
            if (got == want) agree++;
            else if (agree + 5 > trials) fprintf(stderr, "trial %d step %d: full pass %d, device contract %d (mode %d)\n", t, step, want, got, req.mode);
            if (want >= 0 && nh < 64) hist[nh++] = want;
        }
        llmc_sampler_free(a);
        llmc_sampler_free(b);
    }
    CHECK_INT(agree, trials);
    /* every path was taken */
    CHECK_MSG(kinds[LLMC_CHOICE_ID] > 100 && kinds[LLMC_CHOICE_CANDIDATES] > 100 && kinds[LLMC_CHOICE_LOGITS] > 10, "kinds %d %d %d",
              kinds[0], kinds[1], kinds[2]);
    /* what a sampler asks of a device */
    llmc_select_req r;
    llmc_sampling g = sampling(false, 0.6f, 50, 0.9f, 0, 1.2f, 1);
    llmc_sampler *s = llmc_sampler_new(&g);
    llmc_sampler_select_req(s, 1000, &r);
    CHECK(r.mode == LLMC_SELECT_GREEDY && r.penalty == 1.2f && r.temperature == 1.0f);
    llmc_sampler_free(s);
    g = sampling(true, 0.6f, 50, 0.9f, 0, 1.0f, 1); /* Llama 3.2's generation_config + the default top_k */
    s = llmc_sampler_new(&g);
    llmc_sampler_select_req(s, 128256, &r);
    CHECK(r.mode == LLMC_SELECT_TOPK && r.top_k == 50 && r.temperature == 0.6f && r.penalty == 1.0f);
    llmc_sampler_select_req(s, 50, &r); /* top_k >= vocab filters nothing */
    CHECK(r.mode == LLMC_SELECT_NONE);
    llmc_sampler_free(s);
    g = sampling(true, 1.0f, 0, 0.9f, 0, 1.0f, 1);
    s = llmc_sampler_new(&g);
    llmc_sampler_select_req(s, 1000, &r);
    CHECK(r.mode == LLMC_SELECT_NONE);
    CHECK_INT(llmc_sampler_finish(s, vals, 0), -1);
    llmc_sampler_free(s);
}

int main(void) {
    for (int i = 0; i < V; i++) g_logits[i] = sinf((float)i * 1.7f) * 2.0f + (float)(i % 5) * 0.1f;
    test_defaults();
    test_seed();
    test_greedy_equivalences();
    test_filters();
    test_repetition_penalty();
    test_distribution();
    test_odd_inputs();
    test_device_contract();
    return test_summary();
}
