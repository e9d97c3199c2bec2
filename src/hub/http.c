/* libcurl plumbing for the Hub client: one request at a time, redirects never followed by
 * curl (the caller follows them so the token never leaves the endpoint's origin), and the
 * handful of headers the Hub protocol relies on parsed into a hub_resp. */
#include "hub/hub_internal.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void hub_resp_clear(hub_resp *r) {
    free(r->location); free(r->repo_commit); free(r->linked_etag); free(r->etag);
    free(r->error_code); free(r->error_message);
    memset(r, 0, sizeof *r);
    r->linked_size = r->content_length = r->range_start = r->retry_after = -1;
}

void hub_meta_clear(hub_meta *m) {
    free(m->commit); free(m->etag); free(m->location);
    memset(m, 0, sizeof *m);
    m->size = -1;
}

void hub_sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

typedef struct {
    hub_resp *r;
    hub_sink_fn sink;
    void *user;
    llmc_strbuf *body;
    size_t body_max;
    bool overflow;
} xfer;

static char *dup_trim(const char *v, size_t n) {
    while (n && (*v == ' ' || *v == '\t')) { v++; n--; }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (n > 4096) n = 4096; /* a hostile server gets no unbounded header copies */
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, v, n);
    s[n] = 0;
    return s;
}

static long long parse_ll(const char *v, size_t n) {
    char tmp[32];
    while (n && (*v == ' ' || *v == '\t')) { v++; n--; }
    size_t k = 0;
    while (k < n && k < sizeof tmp - 1 && isdigit((unsigned char)v[k])) { tmp[k] = v[k]; k++; }
    if (k == 0 || k > 18) return -1;
    tmp[k] = 0;
    return strtoll(tmp, NULL, 10);
}

static void set_hdr(char **slot, const char *v, size_t n) {
    free(*slot);
    *slot = dup_trim(v, n);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud) {
    xfer *x = ud;
    size_t len = size * nitems;
    hub_resp *r = x->r;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response (e.g. after 100 Continue): forget the previous headers. */
        hub_resp_clear(r);
        const char *sp = memchr(buf, ' ', len);
        if (sp) r->status = (long)parse_ll(sp + 1, len - (size_t)(sp + 1 - buf));
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return len;
    size_t kn = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vn = len - kn - 1;
#define IS(name) (kn == sizeof(name) - 1 && strncasecmp(buf, name, kn) == 0)
    if (IS("location")) set_hdr(&r->location, v, vn);
    else if (IS("x-repo-commit")) set_hdr(&r->repo_commit, v, vn);
    else if (IS("x-linked-etag")) set_hdr(&r->linked_etag, v, vn);
    else if (IS("etag")) set_hdr(&r->etag, v, vn);
    else if (IS("x-error-code")) set_hdr(&r->error_code, v, vn);
    else if (IS("x-error-message")) set_hdr(&r->error_message, v, vn);
    else if (IS("x-linked-size")) r->linked_size = parse_ll(v, vn);
    else if (IS("retry-after")) r->retry_after = parse_ll(v, vn);
    else if (IS("content-length")) r->content_length = parse_ll(v, vn);
    else if (IS("content-range")) {
        /* "bytes START-END/TOTAL" */
        const char *p = v, *end = v + vn;
        while (p < end && !isdigit((unsigned char)*p)) p++;
        r->range_start = p < end ? parse_ll(p, (size_t)(end - p)) : -1;
    }
#undef IS
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
    xfer *x = ud;
    size_t n = size * nmemb;
    if (x->r->status < 200 || x->r->status >= 300) return n; /* error pages are not content */
    if (x->sink) return x->sink(x->user, x->r, data, n) ? n : 0;
    if (x->body) {
        if (x->body->len + n > x->body_max) { x->overflow = true; return 0; }
        if (!llmc_sb_append(x->body, data, n)) return 0;
    }
    return n;
}

CURLcode hub_http_once(CURL *c, const hub_net *net, const char *method, const char *url, long long range_from,
                       hub_sink_fn sink, void *user, llmc_strbuf *body, size_t body_max, hub_resp *r,
                       char *curl_msg, size_t curl_msg_len) {
    hub_resp_clear(r);
    xfer x = {r, sink, user, body, body_max, false};
    curl_easy_reset(c);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    char line[8192];
    /* The token goes only to the endpoint's own origin (never to a CDN or another host). */
    if (net->token && *net->token && net->endpoint && hub_same_origin(url, net->endpoint)) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", net->token);
        hdrs = curl_slist_append(hdrs, line);
        memset(line, 0, sizeof line);
    }
    hdrs = curl_slist_append(hdrs, "Accept-Encoding: identity");
    if (range_from > 0) {
        snprintf(line, sizeof line, "Range: bytes=%lld-", range_from);
        hdrs = curl_slist_append(hdrs, line);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "llmc/" LLMC_VERSION "; hf_hub-compatible");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    /* A stalled transfer (under 1 byte/s for 30 s) is a network error, retried with Range. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_VERBOSE, 0L);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    /* The slist held the token: wipe it before freeing. */
    for (struct curl_slist *s = hdrs; s; s = s->next) memset(s->data, 0, strlen(s->data));
    curl_slist_free_all(hdrs);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code) r->status = code;
    if (curl_msg && curl_msg_len) {
        if (x.overflow) snprintf(curl_msg, curl_msg_len, "response larger than %zu bytes", body_max);
        else snprintf(curl_msg, curl_msg_len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    return rc;
}

char *hub_url_join(const char *base, const char *loc) {
    CURLU *h = curl_url();
    if (!h) return NULL;
    char *out = NULL;
    if (curl_url_set(h, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(h, CURLUPART_URL, loc, 0) == CURLUE_OK) {
        char *u = NULL;
        if (curl_url_get(h, CURLUPART_URL, &u, 0) == CURLUE_OK) {
            out = strdup(u);
            curl_free(u);
        }
    }
    curl_url_cleanup(h);
    return out;
}

static bool origin_of(const char *url, char *scheme, char *host, char *port, size_t n) {
    CURLU *h = curl_url();
    if (!h) return false;
    bool ok = false;
    if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK) {
        char *s = NULL, *ho = NULL, *p = NULL;
        if (curl_url_get(h, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
            curl_url_get(h, CURLUPART_HOST, &ho, 0) == CURLUE_OK &&
            curl_url_get(h, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK) {
            snprintf(scheme, n, "%s", s);
            snprintf(host, n, "%s", ho);
            snprintf(port, n, "%s", p);
            ok = true;
        }
        curl_free(s); curl_free(ho); curl_free(p);
    }
    curl_url_cleanup(h);
    return ok;
}

bool hub_same_origin(const char *a, const char *b) {
    char s1[512], h1[512], p1[512], s2[512], h2[512], p2[512];
    if (!origin_of(a, s1, h1, p1, sizeof s1) || !origin_of(b, s2, h2, p2, sizeof s2)) return false;
    return strcasecmp(s1, s2) == 0 && strcasecmp(h1, h2) == 0 && strcmp(p1, p2) == 0;
}

char *hub_url_quote(const char *s, bool keep_slash) {
    llmc_strbuf sb;
    llmc_sb_init(&sb);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/'))
            llmc_sb_putc(&sb, (char)*p);
        else
            llmc_sb_printf(&sb, "%%%02X", *p);
    }
    if (sb.oom) { llmc_sb_free(&sb); return NULL; }
    return llmc_sb_take(&sb);
}
