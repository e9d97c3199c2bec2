/* The server's metrics and their Prometheus text exposition (format 0.0.4), named after vLLM's
 * with the prefix llmc_ (vLLM writes vllm:..., but ':' is reserved for recording rules in
 * Prometheus' naming conventions): HTTP responses by endpoint and status, prompt and generation
 * tokens, finished requests by reason, running and waiting requests, and histograms of time to
 * first token, time per output token and end-to-end latency (vLLM's buckets). */
#include "server/server.h"
#include "base/strbuf.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M_SERIES 64
#define M_REASONS 8
#define M_BUCKETS 24

static const double TTFT_B[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
static const double TPOT_B[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
static const double E2E_B[] = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
                               30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

typedef struct {
    const double *le;
    int n;
    unsigned long long count[M_BUCKETS]; /* per bucket (not cumulative) */
    unsigned long long total;
    double sum;
} m_hist;

struct llmc_server_metrics {
    pthread_mutex_t mu;
    struct { char endpoint[32]; unsigned status; unsigned long long n; } resp[M_SERIES];
    int n_resp;
    struct { char reason[16]; unsigned long long n; } fin[M_REASONS];
    int n_fin;
    unsigned long long prompt_tokens, generation_tokens;
    m_hist ttft, tpot, e2e;
};

llmc_server_metrics *llmc_server_metrics_new(void) {
    llmc_server_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->ttft = (m_hist){.le = TTFT_B, .n = (int)(sizeof TTFT_B / sizeof *TTFT_B)};
    m->tpot = (m_hist){.le = TPOT_B, .n = (int)(sizeof TPOT_B / sizeof *TPOT_B)};
    m->e2e = (m_hist){.le = E2E_B, .n = (int)(sizeof E2E_B / sizeof *E2E_B)};
    return m;
}

void llmc_server_metrics_free(llmc_server_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* weight observations of v (the bucket past the last bound is +Inf). */
static void observe(m_hist *h, double v, unsigned long long weight) {
    int b = 0;
    while (b < h->n && v > h->le[b]) b++;
    h->count[b] += weight;
    h->total += weight;
    h->sum += v * (double)weight;
}

void llmc_server_metrics_response(llmc_server_metrics *m, const char *endpoint, unsigned status) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n_resp && (m->resp[i].status != status || strcmp(m->resp[i].endpoint, endpoint))) i++;
    if (i == m->n_resp && i < M_SERIES) {
        snprintf(m->resp[i].endpoint, sizeof m->resp[i].endpoint, "%s", endpoint);
        m->resp[i].status = status;
        m->n_resp++;
    }
    if (i < M_SERIES) m->resp[i].n++;
    pthread_mutex_unlock(&m->mu);
}

void llmc_server_metrics_generation(llmc_server_metrics *m, const char *finish, int prompt_tokens, int generated_tokens, double ttft_s,
                                    double e2e_s) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n_fin && strcmp(m->fin[i].reason, finish)) i++;
    if (i == m->n_fin && i < M_REASONS) {
        snprintf(m->fin[i].reason, sizeof m->fin[i].reason, "%s", finish);
        m->n_fin++;
    }
    if (i < M_REASONS) m->fin[i].n++;
    m->prompt_tokens += prompt_tokens > 0 ? (unsigned long long)prompt_tokens : 0;
    m->generation_tokens += generated_tokens > 0 ? (unsigned long long)generated_tokens : 0;
    if (generated_tokens > 0) observe(&m->ttft, ttft_s, 1);
    /* each output token after the first counts once, at its request's mean interval */
    if (generated_tokens > 1 && e2e_s > ttft_s) observe(&m->tpot, (e2e_s - ttft_s) / (generated_tokens - 1), (unsigned long long)generated_tokens - 1);
    observe(&m->e2e, e2e_s, 1);
    pthread_mutex_unlock(&m->mu);
}

static void head(llmc_strbuf *b, const char *name, const char *type, const char *help) {
    llmc_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_hist(llmc_strbuf *b, const char *name, const char *help, const m_hist *h) {
    head(b, name, "histogram", help);
    unsigned long long cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += h->count[i];
        llmc_sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i], cum);
    }
    llmc_sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, h->total, name, h->sum, name, h->total);
}

static void put_gauge(llmc_strbuf *b, const char *name, const char *type, const char *help, long long v) {
    head(b, name, type, help);
    llmc_sb_printf(b, "%s %lld\n", name, v);
}

char *llmc_server_metrics_format(llmc_server_metrics *m, const llmc_server_gauges *g) {
    llmc_strbuf b;
    llmc_sb_init(&b);
    llmc_server_gauges zero = {0};
    if (!g) g = &zero;
    if (m) {
        pthread_mutex_lock(&m->mu);
        head(&b, "llmc_http_requests_total", "counter", "HTTP responses by endpoint and status code.");
        for (int i = 0; i < m->n_resp; i++)
            llmc_sb_printf(&b, "llmc_http_requests_total{endpoint=\"%s\",status=\"%u\"} %llu\n", m->resp[i].endpoint, m->resp[i].status,
                           m->resp[i].n);
        head(&b, "llmc_request_success_total", "counter", "Finished generations by finish reason.");
        for (int i = 0; i < m->n_fin; i++)
            llmc_sb_printf(&b, "llmc_request_success_total{finished_reason=\"%s\"} %llu\n", m->fin[i].reason, m->fin[i].n);
        put_gauge(&b, "llmc_prompt_tokens_total", "counter", "Prompt tokens of finished generations.", (long long)m->prompt_tokens);
        put_gauge(&b, "llmc_generation_tokens_total", "counter", "Tokens generated by finished generations (all choices).",
                  (long long)m->generation_tokens);
        put_hist(&b, "llmc_time_to_first_token_seconds", "Time from a request's arrival to its first token.", &m->ttft);
        put_hist(&b, "llmc_time_per_output_token_seconds", "Time per output token after the first (each token at its request's mean).",
                 &m->tpot);
        put_hist(&b, "llmc_e2e_request_latency_seconds", "Time from a request's arrival to its last token.", &m->e2e);
        pthread_mutex_unlock(&m->mu);
    }
    put_gauge(&b, "llmc_num_requests_running", "gauge", "Requests generating now (sequences on the engine).", g->running);
    put_gauge(&b, "llmc_num_requests_waiting", "gauge", "Requests waiting for a sequence.", g->waiting);
    put_gauge(&b, "llmc_kv_used_bytes", "gauge", "KV-cache bytes the running sequences reserve.", (long long)g->kv_used);
    put_gauge(&b, "llmc_kv_budget_bytes", "gauge", "KV-cache bytes the running sequences may reserve.", (long long)g->kv_budget);
    put_gauge(&b, "llmc_steps_total", "counter", "Engine steps (batched forward passes).", g->steps);
    put_gauge(&b, "llmc_prompt_tokens_computed_total", "counter", "Prompt tokens prefilled (not loaded from the prefix cache).",
              g->prefill_computed);
    put_gauge(&b, "llmc_requests_rejected_total", "counter", "Requests refused because the queue was full.", g->rejected);
    put_gauge(&b, "llmc_prefix_cache_bytes", "gauge", "Bytes held by the prefix cache.", (long long)g->prefix_bytes);
    put_gauge(&b, "llmc_prefix_cache_hit_tokens_total", "counter", "Prompt tokens loaded from the prefix cache.", g->prefix_hit_tokens);
    put_gauge(&b, "llmc_prefix_cache_evicted_blocks_total", "counter", "Prefix-cache blocks evicted.", g->prefix_evicted);
    if (b.oom) {
        llmc_sb_free(&b);
        return NULL;
    }
    return llmc_sb_take(&b);
}
