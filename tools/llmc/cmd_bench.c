/* llmc bench MODEL [-p 512] [-n 128] [-r 5] [-t THREADS] [--json]
 * Prefill and decode speed as llama-bench measures them (pp: one batch of p
 * tokens from an empty cache; tg: n single-token steps from an empty cache),
 * median and range over repetitions, plus load time, time to first token, peak
 * RSS (load time covers what `llmc run` loads: weights, and the tokenizer and chat
 * template when the model has them), and
 * the machine's read bandwidth, which bounds decode: every weight byte
 * is read once per token, so bandwidth ÷ weight bytes is the decode ceiling. */
#include "cli.h"
#include "model_args.h"
#include "model/model.h"
#include "pipeline/pipeline_internal.h"
#include "backend/cpu/ops.h"
#include "base/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench_usage(FILE *f) {
    fprintf(f, "usage: llmc bench MODEL [options]\n\n"
               "Measures prefill and decode tokens/s (median and range over repetitions), load time,\n"
               "time to first token, peak memory, and decode speed against the memory-bandwidth floor.\n\n"
               "  -p, --prompt N      prefill batch length (default 512; 0 skips)\n"
               "  -n, --gen N         decode steps (default 128; 0 skips)\n"
               "  -r, --reps N        repetitions (default 5)\n"
               "  --json              one JSON object on stdout\n\n");
    cli_model_args_help(f, false);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
typedef struct { double med, lo, hi; } bench_stat;
static bench_stat stat_of(double *v, int n) {
    bench_stat s = {0, 0, 0};
    if (n <= 0) return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    s.lo = v[0];
    s.hi = v[n - 1];
    return s;
}

/* Read bandwidth: the threads stream a buffer larger than the caches in 1 MiB
 * chunks, with the widest loads the CPU has (as the decode kernels do: scalar
 * 8-byte loads cannot saturate the memory system and understate the floor). */
#define BW_CHUNK (1 << 17) /* uint64 per chunk: 1 MiB */
typedef struct { const uint64_t *a; int64_t n; uint64_t sink[256]; } bw_ctx;
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static uint64_t bw_sum_avx2(const uint64_t *a, int64_t n) {
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i + 16 <= n; i += 16) {
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(a + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(a + i + 4)));
        s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(a + i + 8)));
        s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(a + i + 12)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    return (uint64_t)_mm256_extract_epi64(s, 0) ^ (uint64_t)_mm256_extract_epi64(s, 3);
}
#endif
static void bw_task(void *p, int64_t b, int64_t e, int tid) {
    bw_ctx *c = p;
    int64_t i0 = b * BW_CHUNK, i1 = e * BW_CHUNK < c->n ? e * BW_CHUNK : c->n;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) { c->sink[tid & 255] += bw_sum_avx2(c->a + i0, i1 - i0); return; }
#endif
    for (int64_t i = i0; i + 4 <= i1; i += 4) {
        s0 += c->a[i]; s1 += c->a[i + 1]; s2 += c->a[i + 2]; s3 += c->a[i + 3];
    }
    c->sink[tid & 255] += s0 ^ s1 ^ s2 ^ s3;
}
static double read_bandwidth(int threads) {
    const int64_t bytes = 1024ll << 20, n = bytes / 8;
    uint64_t *a = malloc((size_t)bytes);
    llmc_threadpool *tp = llmc_threadpool_new(threads);
    if (!a || !tp) { free(a); llmc_threadpool_free(tp); return 0; }
    for (int64_t i = 0; i < n; i++) a[i] = (uint64_t)i;
    bw_ctx c = {.a = a, .n = n};
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
        llmc_threadpool_run(tp, bw_task, &c, n / BW_CHUNK);
        double e = bench_now() - t0;
        if (e < best) best = e;
    }
    llmc_threadpool_free(tp);
    free(a);
    return (double)bytes / best / 1e9;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *v;
    long long np = 512, ng = 128, reps = 5;
    bool bad = false, json = false;
    cli_model_args ma;
    cli_model_args_init(&ma);
    for (int i = 1; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) { bench_usage(stdout); return 0; }
        if (cli_opt(argc, argv, &i, "-p", &v, &bad) || cli_opt(argc, argv, &i, "--prompt", &v, &bad)) {
            if (bad) return 2;
            if (!cli_parse_int(v, 0, 1 << 20, &np)) return cli_fail("-p: expected a token count (got '%s')", v);
            continue;
        }
        if (cli_opt(argc, argv, &i, "-n", &v, &bad) || cli_opt(argc, argv, &i, "--gen", &v, &bad)) {
            if (bad) return 2;
            if (!cli_parse_int(v, 0, 1 << 20, &ng)) return cli_fail("-n: expected a token count (got '%s')", v);
            continue;
        }
        if (cli_opt(argc, argv, &i, "-r", &v, &bad) || cli_opt(argc, argv, &i, "--reps", &v, &bad)) {
            if (bad) return 2;
            if (!cli_parse_int(v, 1, 1000, &reps)) return cli_fail("-r: expected 1..1000 (got '%s')", v);
            continue;
        }
        if (cli_flag(argv, i, "--json")) { json = true; continue; }
        if ((r = cli_model_args_parse(&ma, argc, argv, &i)) != 0) { if (r < 0) return 2; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_fail("bench: unknown option '%s' (see llmc bench --help)", argv[i]);
        if (model) return cli_fail("bench: more than one MODEL given ('%s', '%s')", model, argv[i]);
        model = argv[i];
    }
    if (!model) { bench_usage(stderr); return 2; }
    if (np == 0 && ng == 0) return cli_fail("bench: nothing to measure (-p 0 and -n 0)");

    llmc_error err = {0};
    ma.pipe.model = model;
    double t0 = bench_now();
    llmc_pipeline *pl = cli_open_pipeline(&ma, true);
    if (!pl) return 1;
    llmc_model *m = llmc_pipeline_take_model(pl);
    llmc_pipeline_free(pl);
    double load_s = bench_now() - t0;
    int ctx = llmc_model_context(m), V = llmc_model_config(m)->vocab_size;
    if (np > ctx || ng > ctx) {
        llmc_model_free(m);
        return cli_fail("bench: -p %lld / -n %lld exceed the model's context of %d positions", np, ng, ctx);
    }
    int ntok = (int)(np > ng ? np : ng);
    int32_t *ids = malloc(sizeof *ids * (size_t)(ntok > 0 ? ntok : 1));
    float *logits = malloc(sizeof *logits * (size_t)V);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg),
           *pt = calloc((size_t)reps, sizeof *pt);
    if (!ids || !logits || !pp || !tg || !pt) {
        free(ids); free(logits); free(pp); free(tg); free(pt);
        llmc_model_free(m);
        return cli_fail("bench: out of memory");
    }
    uint64_t rs = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < ntok; i++) { /* fixed pseudo-random ids, like llama-bench */
        rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
        ids[i] = (int32_t)(rs % (uint64_t)V);
    }
    int rc = 0;
    /* warm-up: pages in the weights, spins up the threads */
    if (llmc_model_forward(m, ids, ntok < 8 ? ntok : 8, 0, logits, false, &err) != LLMC_OK) rc = cli_error(&err);
    for (int r = 0; r < reps && !rc; r++) {
        if (np > 0) {
            double a = bench_now();
            if (llmc_model_forward(m, ids, (int)np, 0, logits, false, &err) != LLMC_OK) { rc = cli_error(&err); break; }
            pt[r] = bench_now() - a;
            pp[r] = (double)np / pt[r];
        }
        if (ng > 0) {
            double a = bench_now();
            /* As the generation loop decodes: where the GPU holds the head it picks the token
               (greedy) and only the id comes back; elsewhere the logits do. */
            const llmc_select_req greedy = {LLMC_SELECT_GREEDY, 1.0f, 1.0f, 0};
            llmc_choice ch;
            bool dev = llmc_model_can_select(m);
            for (int i = 0; i < ng; i++) {
                llmc_status st = dev ? llmc_model_forward_select(m, ids + i, 1, i, &greedy, &ch, logits, &err)
                                     : llmc_model_forward(m, ids + i, 1, i, logits, false, &err);
                if (st != LLMC_OK) { rc = cli_error(&err); break; }
            }
            if (rc) break;
            tg[r] = (double)ng / (bench_now() - a);
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0; /* read before the bandwidth buffer exists */
    int threads = ma.pipe.n_threads;
    double wb = llmc_model_weight_bytes(m); /* as held in memory: after --dtype / --quantize */
    llmc_model_free(m);
    if (!rc) {
        llmc_threadpool *tmp = llmc_threadpool_new(threads);
        int nth = llmc_threadpool_size(tmp);
        llmc_threadpool_free(tmp);
        double bw = read_bandwidth(threads);
        /* raw samples, in run order, for scripts that pool several runs */
        char samples[2][8192];
        for (int k = 0; k < 2; k++) {
            const double *v = k ? tg : pp;
            size_t o = 0;
            samples[k][0] = 0;
            for (int r = 0; r < reps && (k ? ng : np) > 0 && o + 32 < sizeof samples[k]; r++)
                o += (size_t)snprintf(samples[k] + o, sizeof samples[k] - o, "%s%.3f", r ? ", " : "", v[r]);
        }
        bench_stat sp = stat_of(pp, np > 0 ? (int)reps : 0), sg = stat_of(tg, ng > 0 ? (int)reps : 0),
                   st = stat_of(pt, np > 0 ? (int)reps : 0);
        double floor_tok = wb > 0 ? bw * 1e9 / wb : 0, frac = floor_tok > 0 ? sg.med / floor_tok : 0;
        if (json) {
            printf("{\"model\": \"");
            for (const char *c = model; *c; c++) {
                if (*c == '"' || *c == '\\') putchar('\\');
                if ((unsigned char)*c >= 0x20) putchar(*c);
            }
            printf("\", \"threads\": %d, \"kernel\": \"%s\", \"n_prompt\": %lld, \"n_gen\": %lld, \"reps\": %lld, "
                   "\"load_s\": %.4f, \"prefill_tok_s\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, "
                   "\"decode_tok_s\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, \"ttft_ms\": %.3f, "
                   "\"peak_rss_mb\": %.1f, \"weights_mb\": %.1f, \"read_bw_gb_s\": %.2f, "
                   "\"decode_floor_tok_s\": %.3f, \"decode_fraction_of_floor\": %.4f, "
                   "\"prefill_samples\": [%s], \"decode_samples\": [%s]}\n",
                   nth, llmc_cpu_kernel_name(), np, ng, reps, load_s, sp.med, sp.lo, sp.hi, sg.med, sg.lo, sg.hi,
                   st.med * 1e3, rss_mb, wb / 1048576.0, bw, floor_tok, frac, samples[0], samples[1]);
        } else {
            printf("model        %s\nthreads      %d (kernels: %s)\nload         %.3f s\n", model, nth,
                   llmc_cpu_kernel_name(), load_s);
            if (np > 0)
                printf("prefill      %8.2f tok/s  (median of %lld; range %.2f .. %.2f)  pp%lld\n"
                       "ttft         %8.2f ms    (prefill of %lld tokens)\n",
                       sp.med, reps, sp.lo, sp.hi, np, st.med * 1e3, np);
            if (ng > 0)
                printf("decode       %8.2f tok/s  (median of %lld; range %.2f .. %.2f)  tg%lld\n", sg.med, reps, sg.lo,
                       sg.hi, ng);
            printf("peak RSS     %.1f MB (weights %.1f MB)\nread bw      %.2f GB/s\n", rss_mb, wb / 1048576.0, bw);
            if (ng > 0 && floor_tok > 0)
                printf("decode floor %.2f tok/s (bandwidth / weight bytes); decode is %.0f%% of it\n", floor_tok,
                       100 * frac);
        }
    }
    free(ids); free(logits); free(pp); free(tg); free(pt);
    return rc;
}
