/* Persistent worker pool for the CPU kernels. Workers spin briefly on a
 * generation counter (a decode step issues hundreds of small ops back to back,
 * and waking a sleeping thread costs more than most of those ops), then sleep
 * on a condition variable so an idle process does not burn cores. Work is
 * handed out in chunks from an atomic counter so a slow (pre-empted) core
 * does not hold everyone up. Not re-entrant: a task must not call run again. */
#include "backend/cpu/ops.h"
#include <pthread.h>
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
#define TP_SPIN 20000 /* pause iterations (~100+ µs) before sleeping */

struct llmc_threadpool {
    int n;                      /* total threads including the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    _Atomic uint64_t gen;
    _Atomic int remaining;      /* workers not yet finished with the current job */
    _Atomic int64_t next;       /* next chunk start */
    _Atomic int stop;
    llmc_task_fn fn;
    void *ctx;
    int64_t total, chunk;
    struct tp_arg { llmc_threadpool *tp; int id; } *args;
};

static void tp_work(llmc_threadpool *tp, int id) {
    for (;;) {
        int64_t b = atomic_fetch_add_explicit(&tp->next, tp->chunk, memory_order_relaxed);
        if (b >= tp->total) break;
        int64_t e = b + tp->chunk < tp->total ? b + tp->chunk : tp->total;
        tp->fn(tp->ctx, b, e, id);
    }
}

static void *tp_main(void *p) {
    struct tp_arg *a = p;
    llmc_threadpool *tp = a->tp;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->gen, memory_order_acquire)) == seen &&
               !atomic_load(&tp->stop) && spins < TP_SPIN) {
            CPU_PAUSE();
            spins++;
        }
        if (g == seen && !atomic_load(&tp->stop)) {
            pthread_mutex_lock(&tp->mu);
            while ((g = atomic_load(&tp->gen)) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->cv_work, &tp->mu);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) break;
        seen = g;
        tp_work(tp, a->id);
        if (atomic_fetch_sub_explicit(&tp->remaining, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&tp->mu);
            pthread_cond_signal(&tp->cv_done);
            pthread_mutex_unlock(&tp->mu);
        }
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
    tp->n = n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv_work, NULL);
    pthread_cond_init(&tp->cv_done, NULL);
    if (n_threads > 1) {
        tp->th = calloc((size_t)n_threads - 1, sizeof *tp->th);
        tp->args = calloc((size_t)n_threads - 1, sizeof *tp->args);
        if (!tp->th || !tp->args) { tp->n = 1; llmc_threadpool_free(tp); return NULL; }
        for (int i = 0; i < n_threads - 1; i++) {
            tp->args[i].tp = tp;
            tp->args[i].id = i + 1;
            if (pthread_create(&tp->th[i], NULL, tp_main, &tp->args[i]) != 0) {
                tp->n = i + 1; /* keep the workers that did start */
                break;
            }
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
    pthread_cond_destroy(&tp->cv_done);
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
    tp->fn = fn;
    tp->ctx = ctx;
    tp->total = n;
    tp->chunk = chunk;
    atomic_store_explicit(&tp->next, 0, memory_order_relaxed);
    atomic_store_explicit(&tp->remaining, tp->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&tp->mu);
    atomic_fetch_add_explicit(&tp->gen, 1, memory_order_release);
    pthread_cond_broadcast(&tp->cv_work);
    pthread_mutex_unlock(&tp->mu);
    tp_work(tp, 0);
    int spins = 0;
    while (atomic_load_explicit(&tp->remaining, memory_order_acquire) != 0 && spins < TP_SPIN) {
        CPU_PAUSE();
        spins++;
    }
    if (atomic_load_explicit(&tp->remaining, memory_order_acquire) != 0) {
        pthread_mutex_lock(&tp->mu);
        while (atomic_load(&tp->remaining) != 0) pthread_cond_wait(&tp->cv_done, &tp->mu);
        pthread_mutex_unlock(&tp->mu);
    }
}
