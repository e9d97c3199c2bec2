/* Persistent worker pool for the CPU kernels. A decode step issues hundreds of
 * small ops back to back, so the hand-off must cost far less than an op:
 *  - a job is split into chunks claimed from one atomic word that packs
 *    (generation, chunk count, next chunk), so a worker can only claim a chunk
 *    of the job that is current, and the caller claims chunks too;
 *  - the caller waits only for chunks that were claimed, never for a worker to
 *    wake up: a sleeping or pre-empted worker that claimed nothing costs nothing;
 *  - idle workers spin briefly on the generation, then sleep on a condition
 *    variable so an idle process does not burn cores.
 * Not re-entrant: a task must not call llmc_threadpool_run. */
#include "backend/cpu/ops.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_PAUSE() _mm_pause()
#else
#define CPU_PAUSE() ((void)0)
#endif

#define TP_MAX_THREADS 256
#define TP_SPIN 20000       /* pause iterations before a worker sleeps */
#define TP_WAIT_SPIN 1000   /* caller: pause iterations before yielding its core */
#define TP_MAX_CHUNKS 4096  /* fits the 16-bit count in the job word */

/* job word: generation (32 bits) | chunk count (16) | next chunk (16) */
#define JOB_GEN(s) ((uint32_t)((s) >> 32))
#define JOB_N(s) ((uint32_t)(((s) >> 16) & 0xFFFF))
#define JOB_NEXT(s) ((uint32_t)((s) & 0xFFFF))

struct llmc_threadpool {
    int n;                      /* total threads including the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    _Atomic uint64_t job;
    _Atomic uint32_t done;      /* chunks finished in the current job */
    _Atomic int stop;
    llmc_task_fn fn;            /* stable while the job has unfinished chunks */
    void *ctx;
    int64_t total, chunk;
    struct tp_arg { llmc_threadpool *tp; int id; } *args;
};

/* Claims and runs chunks of job generation gen until none are left. */
static void tp_work(llmc_threadpool *tp, uint32_t gen, int id) {
    uint64_t s = atomic_load_explicit(&tp->job, memory_order_acquire);
    for (;;) {
        if (JOB_GEN(s) != gen || JOB_NEXT(s) >= JOB_N(s)) return;
        if (!atomic_compare_exchange_weak_explicit(&tp->job, &s, s + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        int64_t b = (int64_t)JOB_NEXT(s) * tp->chunk;
        int64_t e = b + tp->chunk < tp->total ? b + tp->chunk : tp->total;
        tp->fn(tp->ctx, b, e, id);
        atomic_fetch_add_explicit(&tp->done, 1, memory_order_release);
        s = atomic_load_explicit(&tp->job, memory_order_acquire);
    }
}

static void *tp_main(void *p) {
    struct tp_arg *a = p;
    llmc_threadpool *tp = a->tp;
    uint32_t seen = 0;
    for (;;) {
        uint64_t s;
        int spins = 0;
        while (JOB_GEN(s = atomic_load_explicit(&tp->job, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&tp->stop, memory_order_relaxed) && spins < TP_SPIN) {
            CPU_PAUSE();
            spins++;
        }
        if (JOB_GEN(s) == seen && !atomic_load(&tp->stop)) {
            pthread_mutex_lock(&tp->mu);
            while (JOB_GEN(s = atomic_load(&tp->job)) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv_work, &tp->mu);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) break;
        seen = JOB_GEN(s);
        tp_work(tp, seen, a->id);
    }
    return NULL;
}

llmc_threadpool *llmc_threadpool_new(int n_threads) {
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    if (n_threads > TP_MAX_THREADS) n_threads = TP_MAX_THREADS;
    llmc_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n = 1;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv_work, NULL);
    if (n_threads > 1) {
        tp->th = calloc((size_t)n_threads - 1, sizeof *tp->th);
        tp->args = calloc((size_t)n_threads - 1, sizeof *tp->args);
        if (!tp->th || !tp->args) { llmc_threadpool_free(tp); return NULL; }
        for (int i = 0; i < n_threads - 1; i++) {
            tp->args[i].tp = tp;
            tp->args[i].id = i + 1;
            if (pthread_create(&tp->th[i], NULL, tp_main, &tp->args[i]) != 0) break; /* keep those that started */
            tp->n = i + 2;
        }
    }
    return tp;
}

void llmc_threadpool_free(llmc_threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, 1);
    pthread_cond_broadcast(&tp->cv_work);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 0; i < tp->n - 1; i++) pthread_join(tp->th[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->cv_work);
    free(tp->th);
    free(tp->args);
    free(tp);
}

int llmc_threadpool_size(const llmc_threadpool *tp) { return tp ? tp->n : 1; }

void llmc_threadpool_run(llmc_threadpool *tp, llmc_task_fn fn, void *ctx, int64_t n) {
    if (n <= 0) return;
    if (!tp || tp->n <= 1 || n == 1) { fn(ctx, 0, n, 0); return; }
    /* A few chunks per thread balances load without much counter traffic. */
    int64_t chunk = (n + (int64_t)tp->n * 4 - 1) / ((int64_t)tp->n * 4);
    if (chunk < 1) chunk = 1;
    if ((n + chunk - 1) / chunk > TP_MAX_CHUNKS) chunk = (n + TP_MAX_CHUNKS - 1) / TP_MAX_CHUNKS;
    uint32_t nchunks = (uint32_t)((n + chunk - 1) / chunk);
    /* Every chunk of the previous job is done, so no thread reads these now. */
    tp->fn = fn;
    tp->ctx = ctx;
    tp->total = n;
    tp->chunk = chunk;
    atomic_store_explicit(&tp->done, 0, memory_order_relaxed);
    uint32_t gen = JOB_GEN(atomic_load_explicit(&tp->job, memory_order_relaxed)) + 1;
    pthread_mutex_lock(&tp->mu);
    atomic_store_explicit(&tp->job, ((uint64_t)gen << 32) | ((uint64_t)nchunks << 16), memory_order_release);
    pthread_cond_broadcast(&tp->cv_work);
    pthread_mutex_unlock(&tp->mu);
    tp_work(tp, gen, 0);
    /* Only chunks a worker claimed remain. If that worker was pre-empted (another
     * process took its core), spinning here only delays it: yield our core soon. */
    for (int spins = 0; atomic_load_explicit(&tp->done, memory_order_acquire) != nchunks; spins++) {
        if (spins < TP_WAIT_SPIN) CPU_PAUSE();
        else sched_yield();
    }
}
