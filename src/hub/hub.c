/* Hub client: snapshot resolution, file selection, parallel downloads into the
 * huggingface_hub cache layout (blobs/<etag>, snapshots/<commit>/<path> → ../../blobs/<etag>,
 * refs/<revision>, .locks/models--ORG--NAME/<etag>.lock taken with flock like filelock does),
 * token handling, login/logout. See hub.h for the contract. */
#include "hub/hub_internal.h"
#include "base/error.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"
#define HUB_API_MAX (64u << 20)   /* repo listings of huge repos stay well under this */
#define HUB_MAX_FILES 100000
#define HUB_MAX_REDIRECTS 10

static const char CACHEDIR_TAG[] =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by huggingface_hub.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n";

/* ------------------------------------------------------------------ names and env */


static char *xprintf(const char *fmt, ...) LLMC_PRINTF(1, 2);
static char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool env_true(const char *v) {
    return v && (strcasecmp(v, "1") == 0 || strcasecmp(v, "on") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "true") == 0);
}

static char *expand_user(const char *p) {
    if (p[0] == '~' && (p[1] == '/' || p[1] == 0)) {
        const char *home = env_nonempty("HOME");
        if (home) return xprintf("%s%s", home, p + 1);
    }
    return strdup(p);
}

char *hub_default_hf_home(void) {
    const char *h = env_nonempty("HF_HOME");
    if (h) return expand_user(h);
    const char *x = env_nonempty("XDG_CACHE_HOME");
    if (x) return xprintf("%s/huggingface", x);
    const char *home = env_nonempty("HOME");
    return xprintf("%s/.cache/huggingface", home ? home : ".");
}

char *hub_default_cache_dir(void) {
    const char *c = env_nonempty("HF_HUB_CACHE");
    if (!c) c = env_nonempty("HUGGINGFACE_HUB_CACHE");
    if (c) return expand_user(c);
    char *home = hub_default_hf_home();
    char *r = home ? xprintf("%s/hub", home) : NULL;
    free(home);
    return r;
}

static char *token_file_path(const char *hf_home) {
    if (!hf_home) {
        const char *p = env_nonempty("HF_TOKEN_PATH");
        if (p) return expand_user(p);
    }
    char *home = hf_home ? strdup(hf_home) : hub_default_hf_home();
    char *r = home ? xprintf("%s/token", home) : NULL;
    free(home);
    return r;
}

static char *trim_token(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n) return NULL;
    char *t = malloc(n + 1);
    if (!t) return NULL;
    memcpy(t, s, n);
    t[n] = 0;
    return t;
}

char *hub_resolve_token(const char *explicit_token) {
    if (explicit_token && *explicit_token) return trim_token(explicit_token);
    const char *e = env_nonempty("HF_TOKEN");
    if (!e) e = env_nonempty("HUGGING_FACE_HUB_TOKEN");
    if (e) return trim_token(e);
    char *path = token_file_path(NULL);
    if (!path) return NULL;
    char *buf = NULL;
    size_t len = 0;
    char *tok = NULL;
    if (llmc_file_exists(path) && llmc_read_file(path, 64 * 1024, &buf, &len, NULL) == LLMC_OK) {
        tok = trim_token(buf);
        memset(buf, 0, len);
        free(buf);
    }
    free(path);
    return tok;
}

static bool repo_part_ok(const char *s, size_t n) {
    if (n == 0 || n > 96) return false;
    if (s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
        if (i + 1 < n && ((c == '.' && s[i + 1] == '.') || (c == '-' && s[i + 1] == '-'))) return false;
    }
    return true;
}

static bool repo_id_syntax(const char *s) {
    if (!s) return false;
    const char *slash = strchr(s, '/');
    if (!slash || strchr(slash + 1, '/')) return false;
    return repo_part_ok(s, (size_t)(slash - s)) && repo_part_ok(slash + 1, strlen(slash + 1));
}

bool llmc_hub_is_repo_id(const char *s) {
    char repo[256], quant[40];
    const char *id = hub_split_quant_tag(s, repo, sizeof repo, quant, sizeof quant) ? repo : s;
    if (!repo_id_syntax(id)) return false;
    struct stat st;
    return stat(s, &st) != 0; /* an existing path is a local model, not a repo id */
}

char *hub_repo_folder(const char *repo_id) {
    const char *slash = strchr(repo_id, '/');
    if (!slash) return xprintf("models--%s", repo_id);
    return xprintf("models--%.*s--%s", (int)(slash - repo_id), repo_id, slash + 1);
}

bool hub_is_commit_hash(const char *s) {
    if (!s || strlen(s) != 40) return false;
    for (int i = 0; i < 40; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) return false;
    return true;
}

bool hub_safe_relpath(const char *p) {
    size_t n = strlen(p);
    if (n == 0 || n > 1024 || p[0] == '/' || p[n - 1] == '/') return false;
    const char *seg = p;
    for (const char *q = p;; q++) {
        if (*q == '/' || *q == 0) {
            size_t sl = (size_t)(q - seg);
            if (sl == 0 || (sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) return false;
            if (*q == 0) break;
            seg = q + 1;
        } else if ((unsigned char)*q < 0x20 || *q == '\\' || *q == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Revisions may contain '/' (refs/pr/1) and become a path under refs/. */
static bool revision_ok(const char *r) { return hub_safe_relpath(r) && strlen(r) <= 256; }

/* A string used as one file name in the cache (etag, commit). */
static bool safe_component(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return false;
    return true;
}

char *hub_normalize_etag(const char *etag) {
    if (!etag) return NULL;
    /* Python's etag.lstrip("W/").strip('"'): strips any leading run of 'W' and '/' characters. */
    while (*etag == 'W' || *etag == '/') etag++;
    while (*etag == '"') etag++;
    size_t n = strlen(etag);
    while (n && etag[n - 1] == '"') n--;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, etag, n);
    s[n] = 0;
    return s;
}

/* ------------------------------------------------------------------ selection */

bool hub_glob_match(const char *pattern, const char *path) {
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '/') {
        char *p = xprintf("%s*", pattern);
        bool m = p && fnmatch(p, path, FNM_NOESCAPE) == 0;
        free(p);
        return m;
    }
    return fnmatch(pattern, path, FNM_NOESCAPE) == 0;
}

static bool ends_with(const char *s, const char *suf) { return llmc_str_endswith(s, suf); }

void hub_select_files(const char *const *paths, int n, const char *const *include, int n_include, unsigned char *sel) {
    if (include && n_include > 0) {
        for (int i = 0; i < n; i++) {
            sel[i] = 0;
            for (int k = 0; k < n_include; k++)
                if (include[k] && hub_glob_match(include[k], paths[i])) { sel[i] = 1; break; }
        }
        return;
    }
    bool has_st = false, has_st_index = false, has_tok_json = false;
    for (int i = 0; i < n; i++) {
        const char *p = paths[i];
        if (strchr(p, '/')) continue;
        if (ends_with(p, ".safetensors")) has_st = true;
        if (ends_with(p, ".safetensors.index.json")) has_st_index = true;
        if (strcmp(p, "tokenizer.json") == 0) has_tok_json = true;
    }
    static const char *always[] = {"config.json", "generation_config.json", "tokenizer.json",
                                   "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                                   "chat_template.json", NULL};
    /* Slow-tokenizer files only matter when there is no tokenizer.json to read. */
    static const char *slow_tok[] = {"tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json", NULL};
    for (int i = 0; i < n; i++) {
        const char *p = paths[i];
        sel[i] = 0;
        if (strncmp(p, "additional_chat_templates/", 26) == 0 && ends_with(p, ".jinja") && !strchr(p + 26, '/')) {
            sel[i] = 1;
            continue;
        }
        if (strchr(p, '/')) continue; /* original/, onnx/, … hold other formats */
        for (int k = 0; always[k]; k++) if (strcmp(p, always[k]) == 0) sel[i] = 1;
        if (!has_tok_json) for (int k = 0; slow_tok[k]; k++) if (strcmp(p, slow_tok[k]) == 0) sel[i] = 1;
        if (has_st) {
            if (ends_with(p, ".safetensors.index.json")) sel[i] = 1;
            /* Mistral-style repos carry the same weights twice; the index names the HF-layout shards. */
            if (ends_with(p, ".safetensors") && !(has_st_index && strncmp(p, "consolidated", 12) == 0)) sel[i] = 1;
        } else {
            if (strncmp(p, "pytorch_model", 13) == 0 && (ends_with(p, ".bin") || ends_with(p, ".bin.index.json")))
                sel[i] = 1;
        }
    }
}

/* ------------------------------------------------------------------ filesystem helpers */

static int mkdirs(const char *path) {
    char *p = strdup(path);
    if (!p) return -1;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) { free(p); return -1; }
        *q = '/';
    }
    int rc = (mkdir(p, 0777) == 0 || errno == EEXIST) ? 0 : -1;
    free(p);
    return rc;
}

static int mkparent(const char *path) {
    char *d = llmc_path_dirname(path);
    if (!d) return -1;
    int rc = mkdirs(d);
    free(d);
    return rc;
}

/* Writes text to path atomically (tmp + rename), so readers never see a partial file. */
static int write_atomic(const char *path, const char *text, mode_t mode) {
    static unsigned counter;
    char *tmp = xprintf("%s.%d.%u.tmp", path, (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    if (!tmp) return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) { free(tmp); return -1; }
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n;
    if (close(fd) != 0) ok = false;
    if (ok && rename(tmp, path) == 0) { free(tmp); return 0; }
    int e = errno;
    unlink(tmp);
    free(tmp);
    errno = e;
    return -1;
}

static char *read_small(const char *path) {
    char *buf = NULL;
    size_t len = 0;
    if (!llmc_file_exists(path) || llmc_read_file(path, 4096, &buf, &len, NULL) != LLMC_OK) return NULL;
    char *t = trim_token(buf);
    free(buf);
    return t;
}

/* ------------------------------------------------------------------ the snapshot job */

typedef struct {
    char *path;        /* repo-relative */
    char *lfs_sha256;  /* from the listing, NULL for regular files */
    long long size;    /* from the listing, -1 when absent */
    char *etag;        /* from the resolve call */
    int done;          /* blob present */
} hub_file;

typedef struct {
    const char *repo_id;
    const char *revision;
    char *endpoint;
    char *token;
    char *cache_dir, *storage, *locks_dir;
    char *commit;
    hub_net net;
    hub_file *files;
    int n_files;
    /* work queue */
    pthread_mutex_t mu;
    int next;
    bool failed;
    llmc_error first_err;
    pthread_mutex_t progress_mu;
    llmc_hub_progress_fn progress;
    void *progress_user;
} hub_job;

static void job_fail(hub_job *j, const llmc_error *e) {
    pthread_mutex_lock(&j->mu);
    if (!j->failed) { j->failed = true; j->first_err = *e; }
    pthread_mutex_unlock(&j->mu);
}

static void report(hub_job *j, const char *file, uint64_t done, uint64_t total, int finished) {
    if (!j->progress) return;
    pthread_mutex_lock(&j->progress_mu);
    j->progress(j->progress_user, file, done, total, finished);
    pthread_mutex_unlock(&j->progress_mu);
}

static int backoff_for(const hub_net *net, int attempt) {
    long ms = (long)net->backoff_ms << (attempt < 10 ? attempt : 10);
    return (int)(ms > 8000 ? 8000 : ms);
}

static bool retryable_status(long s) { return s == 429 || s == 500 || s == 502 || s == 503 || s == 504; }

static const char *web_url_base(void) { return HUB_DEFAULT_ENDPOINT; }

/* Maps a Hub error response to a clear message. what: "repository", "file 'x'". */
static llmc_status http_error(llmc_error *err, const hub_job *j, const hub_resp *r, const char *what) {
    const char *code = r->error_code ? r->error_code : "";
    bool have_token = j->token && *j->token;
    if (strcmp(code, "GatedRepo") == 0)
        return llmc_err(err, LLMC_ERR_AUTH,
                        "%s is a gated repository and %s: request access at %s/%s, then give a token of that "
                        "account with --token, the HF_TOKEN environment variable, or `llmc login` (HTTP %ld)",
                        j->repo_id, have_token ? "this token has no access to it yet" : "no access token was given",
                        web_url_base(), j->repo_id, r->status);
    if (strcmp(code, "RevisionNotFound") == 0)
        return llmc_err(err, LLMC_ERR_NOT_FOUND, "revision '%s' not found in %s (HTTP %ld)", j->revision, j->repo_id,
                        r->status);
    if (strcmp(code, "EntryNotFound") == 0)
        return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s not found in %s at revision '%s' (HTTP %ld)", what, j->repo_id,
                        j->revision, r->status);
    if (r->status == 401) {
        if (have_token)
            return llmc_err(err, LLMC_ERR_AUTH,
                            "%s: the Hub rejected the access token (HTTP 401): it is invalid, expired, or has no "
                            "access to this repository; give another with --token, HF_TOKEN or `llmc login`",
                            j->repo_id);
        return llmc_err(err, LLMC_ERR_AUTH,
                        "%s: the Hub needs an access token for this repository (HTTP 401; it is private, gated or "
                        "does not exist): give one with --token, the HF_TOKEN environment variable, or `llmc login` "
                        "(tokens at %s/settings/tokens)",
                        j->repo_id, web_url_base());
    }
    if (r->status == 403)
        return llmc_err(err, LLMC_ERR_AUTH, "%s: access forbidden (HTTP 403)%s%s", j->repo_id,
                        r->error_message ? ": " : "", r->error_message ? r->error_message : "");
    if (r->status == 404 || strcmp(code, "RepoNotFound") == 0) {
        if (strcmp(what, "repository") == 0 || strcmp(code, "RepoNotFound") == 0)
            return llmc_err(err, LLMC_ERR_NOT_FOUND,
                            "repository %s not found on %s (HTTP %ld)%s", j->repo_id, j->endpoint, r->status,
                            have_token ? "" : "; if it is private, give a token with --token, HF_TOKEN or `llmc login`");
        return llmc_err(err, LLMC_ERR_NOT_FOUND, "%s not found in %s at revision '%s' (HTTP %ld)", what, j->repo_id,
                        j->revision, r->status);
    }
    if (r->status >= 500)
        return llmc_err(err, LLMC_ERR_NETWORK, "%s: the Hub at %s kept answering HTTP %ld (server error) for %s after "
                        "%d tries; try again later", j->repo_id, j->endpoint, r->status,
                        strcmp(what, "repository") == 0 ? "the repository listing" : what, j->net.max_tries);
    return llmc_err(err, LLMC_ERR_NETWORK, "%s: unexpected HTTP %ld from %s for %s", j->repo_id, r->status, j->endpoint,
                    what);
}

/* GET/HEAD with retries on 429/5xx/network errors, following redirects by hand.
 * stop_foreign: stop at a redirect to another origin (metadata lives on that response).
 * On return *final_url is the URL of the last response; meta collects Hub metadata. */
static llmc_status request(hub_job *j, CURL *c, const char *method, const char *url, bool stop_foreign,
                           llmc_strbuf *body, size_t body_max, hub_resp *r, hub_meta *meta, char **final_url,
                           const char *what, llmc_error *err) {
    char cmsg[CURL_ERROR_SIZE + 64];
    for (int attempt = 0;; attempt++) {
        char *cur = strdup(url);
        if (!cur) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        if (meta) hub_meta_clear(meta);
        CURLcode rc = CURLE_OK;
        int hops = 0;
        for (;;) {
            if (body) { body->len = 0; if (body->data) body->data[0] = 0; }
            rc = hub_http_once(c, &j->net, method, cur, -1, NULL, NULL, body, body_max, r, cmsg, sizeof cmsg);
            if (rc != CURLE_OK) break;
            if (meta && !meta->commit && r->repo_commit) {
                /* The Hub's own response carries the metadata (on the redirect for LFS/regular files). */
                meta->commit = strdup(r->repo_commit);
                meta->etag = hub_normalize_etag(r->linked_etag ? r->linked_etag : r->etag);
                meta->size = r->linked_size >= 0 ? r->linked_size
                             : (r->status >= 300 && r->status < 400) ? -1 : r->content_length;
            }
            if (r->status >= 300 && r->status < 400 && r->status != 304 && r->location) {
                char *next = hub_url_join(cur, r->location);
                if (!next) { free(cur); return llmc_err(err, LLMC_ERR_NETWORK, "%s: bad redirect from the Hub", what); }
                if (++hops > HUB_MAX_REDIRECTS) {
                    free(next); free(cur);
                    return llmc_err(err, LLMC_ERR_NETWORK, "%s: too many redirects", what);
                }
                if (stop_foreign && !hub_same_origin(cur, next)) {
                    free(cur);
                    *final_url = next;
                    return LLMC_OK;
                }
                free(cur);
                cur = next;
                continue;
            }
            break;
        }
        bool retry = rc != CURLE_OK ? rc != CURLE_WRITE_ERROR : retryable_status(r->status);
        if (!retry || attempt + 1 >= j->net.max_tries) {
            if (rc == CURLE_WRITE_ERROR) {
                free(cur);
                return llmc_err(err, LLMC_ERR_NETWORK, "%s: bad answer from the Hub at %s: %s", what, j->endpoint, cmsg);
            }
            if (rc != CURLE_OK) {
                free(cur);
                return llmc_err(err, LLMC_ERR_NETWORK, "%s: cannot reach the Hub at %s: %s", what, j->endpoint, cmsg);
            }
            if (r->status >= 200 && r->status < 300) { *final_url = cur; return LLMC_OK; }
            free(cur);
            return http_error(err, j, r, what);
        }
        free(cur);
        LLMC_INFO("%s: %s; retrying (%d/%d)", what,
                  rc != CURLE_OK ? "network error" : "server error", attempt + 1, j->net.max_tries - 1);
        int wait = backoff_for(&j->net, attempt);
        /* A rate-limited client waits as long as the Hub asks, within reason. */
        if (rc == CURLE_OK && r->retry_after > 0) wait = r->retry_after > 60 ? 60000 : (int)r->retry_after * 1000;
        hub_sleep_ms(wait);
    }
}

/* ---- blob download ---- */

typedef struct {
    hub_job *j;
    hub_file *f;
    int fd;
    long long have;
    hub_sha256 sha;
    bool hashing;
    bool started;     /* first body byte of this response seen */
    bool bad_range;
    int write_errno;
    struct timespec last;
    long long expect;
} dl_state;

static bool dl_sink(void *user, const hub_resp *r, const char *data, size_t n) {
    dl_state *s = user;
    if (!s->started) {
        s->started = true;
        if (r->status == 206) {
            if (r->range_start != s->have) { s->bad_range = true; return false; }
        } else if (s->have > 0) {
            /* The server ignored Range: start over. */
            if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0) { s->write_errno = errno; return false; }
            s->have = 0;
            hub_sha256_init(&s->sha);
        }
    }
    if (s->expect >= 0 && s->have + (long long)n > s->expect) { s->bad_range = true; return false; }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(s->fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            s->write_errno = errno;
            return false;
        }
        off += (size_t)w;
    }
    if (s->hashing) hub_sha256_update(&s->sha, data, n);
    s->have += (long long)n;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - s->last.tv_sec) * 1000 + (now.tv_nsec - s->last.tv_nsec) / 1000000 >= 100) {
        s->last = now;
        report(s->j, s->f->path, (uint64_t)s->have, s->expect > 0 ? (uint64_t)s->expect : 0, 0);
    }
    return true;
}

static llmc_status hash_existing(int fd, long long n, hub_sha256 *sha, llmc_error *err, const char *path) {
    char buf[1 << 16];
    if (lseek(fd, 0, SEEK_SET) != 0) return llmc_err(err, LLMC_ERR_IO, "%s: seek failed: %s", path, strerror(errno));
    long long left = n;
    while (left > 0) {
        ssize_t r = read(fd, buf, left < (long long)sizeof buf ? (size_t)left : sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return llmc_err(err, LLMC_ERR_IO, "%s: read failed", path);
        hub_sha256_update(sha, buf, (size_t)r);
        left -= r;
    }
    return LLMC_OK;
}

/* Downloads url into blob_path via blob_path.incomplete (kept on network failure so a rerun resumes). */
static llmc_status download_blob(hub_job *j, CURL *c, hub_file *f, const char *url, const char *blob_path,
                                 long long expect, llmc_error *err) {
    char *inc = xprintf("%s.incomplete", blob_path);
    if (!inc) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    dl_state s = {.j = j, .f = f, .fd = -1, .expect = expect};
    s.hashing = f->lfs_sha256 != NULL;
    hub_sha256_init(&s.sha);
    s.fd = open(inc, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    llmc_status st = LLMC_OK;
    if (s.fd < 0) { st = llmc_err(err, LLMC_ERR_IO, "%s: cannot create: %s", inc, strerror(errno)); goto out; }
    struct stat sb;
    if (fstat(s.fd, &sb) != 0) { st = llmc_err(err, LLMC_ERR_IO, "%s: stat failed", inc); goto out; }
    s.have = sb.st_size;
    if (expect >= 0 && s.have > expect) {
        if (ftruncate(s.fd, 0) != 0) { st = llmc_err(err, LLMC_ERR_IO, "%s: truncate failed", inc); goto out; }
        s.have = 0;
    }
    if (s.have > 0) {
        LLMC_INFO("%s: resuming at byte %lld", f->path, s.have);
        if (s.hashing && (st = hash_existing(s.fd, s.have, &s.sha, err, inc)) != LLMC_OK) goto out;
    }
    if (lseek(s.fd, s.have, SEEK_SET) < 0) { st = llmc_err(err, LLMC_ERR_IO, "%s: seek failed", inc); goto out; }
    struct statvfs vfs;
    if (expect > s.have && fstatvfs(s.fd, &vfs) == 0 &&
        (unsigned long long)vfs.f_bavail * vfs.f_frsize < (unsigned long long)(expect - s.have))
        LLMC_WARN("%s: needs %lld more bytes but only %llu are free on the cache's disk", f->path, expect - s.have,
                  (unsigned long long)vfs.f_bavail * vfs.f_frsize);
    clock_gettime(CLOCK_MONOTONIC, &s.last);
    report(j, f->path, (uint64_t)s.have, expect > 0 ? (uint64_t)expect : 0, 0);

    char cmsg[CURL_ERROR_SIZE + 64];
    hub_resp r = {0};
    hub_resp_clear(&r);
    int fails = 0;
    /* Each try either makes progress (bounded by the expected size) or counts as a failure. */
    for (int guard = 0; guard < 10000; guard++) {
        if (expect >= 0 && s.have == expect) break;
        char *cur = strdup(url);
        CURLcode rc = CURLE_OK;
        long long before = s.have;
        for (int hops = 0;; hops++) {
            s.started = false;
            s.bad_range = false;
            rc = hub_http_once(c, &j->net, "GET", cur, s.have, dl_sink, &s, NULL, 0, &r, cmsg, sizeof cmsg);
            if (rc == CURLE_OK && r.status >= 300 && r.status < 400 && r.location && hops < HUB_MAX_REDIRECTS) {
                char *next = hub_url_join(cur, r.location);
                free(cur);
                cur = next;
                if (!cur) break;
                continue;
            }
            break;
        }
        free(cur);
        if (s.write_errno) {
            int e = s.write_errno;
            if (e == ENOSPC || e == EDQUOT)
                st = llmc_err(err, LLMC_ERR_IO,
                              "%s: disk full while writing %s (%lld bytes so far): free some space and rerun; "
                              "the download resumes where it stopped", f->path, inc, s.have);
            else
                st = llmc_err(err, LLMC_ERR_IO, "%s: write failed for %s: %s", f->path, inc, strerror(e));
            goto out;
        }
        if (rc == CURLE_OK && r.status == 416 && s.have > 0) {
            /* Our partial file does not fit the server's: start over. */
            if (ftruncate(s.fd, 0) != 0 || lseek(s.fd, 0, SEEK_SET) != 0) {
                st = llmc_err(err, LLMC_ERR_IO, "%s: truncate failed", inc); goto out;
            }
            s.have = 0;
            hub_sha256_init(&s.sha);
            if (++fails >= j->net.max_tries) break;
            continue;
        }
        if (rc == CURLE_OK && (r.status == 200 || r.status == 206) && !s.bad_range) {
            if (expect < 0) break;        /* size unknown: the server's end of body is the end */
            if (s.have == expect) break;
            /* Short body without a transport error: treat like a cut connection. */
        } else if (rc == CURLE_OK && r.status >= 400 && !retryable_status(r.status)) {
            char what[1200];
            snprintf(what, sizeof what, "file '%s'", f->path);
            st = http_error(err, j, &r, what);
            goto out;
        } else if (s.bad_range) {
            st = llmc_err(err, LLMC_ERR_NETWORK, "%s: the server sent bytes past the expected size or from the wrong "
                          "offset (got %lld, expected %lld)", f->path, s.have, expect);
            unlink(inc);
            goto out;
        }
        if (s.have == before) fails++;
        if (fails >= j->net.max_tries) {
            if (rc != CURLE_OK)
                st = llmc_err(err, LLMC_ERR_NETWORK, "%s: download failed after %d tries: %s (%lld of %lld bytes kept "
                              "in the cache; a rerun resumes)", f->path, fails, cmsg, s.have, expect);
            else if (retryable_status(r.status)) {
                char what[1200];
                snprintf(what, sizeof what, "file '%s'", f->path);
                st = http_error(err, j, &r, what);
            } else
                st = llmc_err(err, LLMC_ERR_NETWORK, "%s: download stopped at %lld of %lld bytes after %d tries",
                              f->path, s.have, expect, fails);
            goto out;
        }
        LLMC_INFO("%s: connection lost at byte %lld; resuming", f->path, s.have);
        hub_sleep_ms(backoff_for(&j->net, fails > 0 ? fails - 1 : 0));
    }
    hub_resp_clear(&r);
    if (expect >= 0 && s.have != expect) {
        st = llmc_err(err, LLMC_ERR_NETWORK, "%s: got %lld bytes, expected %lld", f->path, s.have, expect);
        goto out;
    }
    if (s.hashing) {
        char hex[65];
        hub_sha256_final(&s.sha, hex);
        if (strcasecmp(hex, f->lfs_sha256) != 0) {
            unlink(inc); /* wrong content must never be reused by a resume */
            st = llmc_err(err, LLMC_ERR_FORMAT,
                          "%s: checksum mismatch: sha256 of the downloaded file is %s, the Hub lists %s; "
                          "the file was discarded", f->path, hex, f->lfs_sha256);
            goto out;
        }
    }
    if (fsync(s.fd) != 0 && errno != EINVAL) {
        st = llmc_err(err, LLMC_ERR_IO, "%s: cannot flush %s: %s", f->path, inc, strerror(errno));
        goto out;
    }
    close(s.fd);
    s.fd = -1;
    if (rename(inc, blob_path) != 0) {
        st = llmc_err(err, LLMC_ERR_IO, "%s: cannot move %s into place: %s", f->path, inc, strerror(errno));
        goto out;
    }
    report(j, f->path, (uint64_t)s.have, (uint64_t)s.have, 1);
out:
    if (st != LLMC_OK) report(j, f->path, (uint64_t)(s.have > 0 ? s.have : 0), expect > 0 ? (uint64_t)expect : 0, 1);
    hub_resp_clear(&r);
    if (s.fd >= 0) close(s.fd);
    free(inc);
    return st;
}

/* One file: resolve its etag and location, then fetch the blob under the etag's lock. */
static llmc_status fetch_file(hub_job *j, CURL *c, hub_file *f, llmc_error *err) {
    char what[1200];
    snprintf(what, sizeof what, "file '%s'", f->path);
    char *qrepo = hub_url_quote(j->repo_id, true), *qpath = hub_url_quote(f->path, true);
    char *url = qrepo && qpath ? xprintf("%s/%s/resolve/%s/%s", j->endpoint, qrepo, j->commit, qpath) : NULL;
    free(qrepo);
    free(qpath);
    if (!url) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    hub_resp r = {0};
    hub_resp_clear(&r);
    hub_meta meta = {0};
    hub_meta_clear(&meta);
    char *loc = NULL, *blob = NULL, *lockp = NULL;
    int lockfd = -1;
    llmc_status st = request(j, c, "HEAD", url, true, NULL, 0, &r, &meta, &loc, what, err);
    if (st != LLMC_OK) goto out;
    if (!meta.commit) {
        st = llmc_err(err, LLMC_ERR_NETWORK, "%s: the response from %s has no X-Repo-Commit header: HF_ENDPOINT does "
                      "not seem to be a Hugging Face Hub", what, j->endpoint);
        goto out;
    }
    if (!meta.etag || !safe_component(meta.etag)) {
        st = llmc_err(err, LLMC_ERR_NETWORK, "%s: the Hub sent no usable ETag", what);
        goto out;
    }
    if (f->lfs_sha256 && strcasecmp(meta.etag, f->lfs_sha256) != 0)
        LLMC_WARN("%s: etag %s differs from the listed sha256", f->path, meta.etag);
    if (!f->lfs_sha256 && strlen(meta.etag) == 64 && meta.size != 0) {
        /* An LFS file's etag is its sha256, even when the listing did not say so: verify against it. */
        bool hex = true;
        for (const char *p = meta.etag; *p; p++) if (!isxdigit((unsigned char)*p)) hex = false;
        if (hex) f->lfs_sha256 = strdup(meta.etag);
    }
    long long expect = meta.size >= 0 ? meta.size : f->size;
    f->etag = strdup(meta.etag);
    blob = xprintf("%s/blobs/%s", j->storage, meta.etag);
    char *folder = hub_repo_folder(j->repo_id);
    lockp = folder ? xprintf("%s/%s/%s.lock", j->locks_dir, folder, meta.etag) : NULL;
    free(folder);
    if (!blob || !lockp || !f->etag) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto out; }
    if (mkparent(blob) != 0 || mkparent(lockp) != 0) {
        st = llmc_err(err, LLMC_ERR_IO, "cannot create cache folders under %s: %s", j->storage, strerror(errno));
        goto out;
    }
    if (llmc_file_exists(blob)) { f->done = 1; report(j, f->path, 0, 0, 1); goto out; }
    lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
    if (lockfd < 0) { st = llmc_err(err, LLMC_ERR_IO, "%s: cannot open lock: %s", lockp, strerror(errno)); goto out; }
    /* Another process (llmc or huggingface_hub) may be fetching the same blob: wait for it. */
    while (flock(lockfd, LOCK_EX) != 0) {
        if (errno != EINTR) { st = llmc_err(err, LLMC_ERR_IO, "%s: cannot lock: %s", lockp, strerror(errno)); goto out; }
    }
    if (llmc_file_exists(blob)) { f->done = 1; report(j, f->path, 0, 0, 1); goto out; }
    st = download_blob(j, c, f, loc ? loc : url, blob, expect, err);
    if (st == LLMC_OK) f->done = 1;
out:
    if (lockfd >= 0) { flock(lockfd, LOCK_UN); close(lockfd); }
    free(url); free(loc); free(blob); free(lockp);
    hub_meta_clear(&meta);
    hub_resp_clear(&r);
    return st;
}

static void *worker(void *arg) {
    hub_job *j = arg;
    CURL *c = curl_easy_init();
    if (!c) {
        llmc_error e;
        llmc_err(&e, LLMC_ERR_NOMEM, "cannot initialise libcurl");
        job_fail(j, &e);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = j->failed ? j->n_files : j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n_files) break;
        if (j->files[i].done) continue;
        llmc_error e;
        llmc_err_clear(&e);
        if (fetch_file(j, c, &j->files[i], &e) != LLMC_OK) job_fail(j, &e);
    }
    curl_easy_cleanup(c);
    return NULL;
}

/* ---- snapshot links ---- */

static bool pointer_exists(const char *snap, const char *rel) {
    char *p = llmc_path_join(snap, rel);
    struct stat st;
    bool ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

static llmc_status link_file(hub_job *j, const char *snap, const hub_file *f, llmc_error *err) {
    char *ptr = llmc_path_join(snap, f->path);
    if (!ptr) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_strbuf target;
    llmc_sb_init(&target);
    llmc_sb_puts(&target, "../../");
    for (const char *q = f->path; *q; q++) if (*q == '/') llmc_sb_puts(&target, "../");
    llmc_sb_printf(&target, "blobs/%s", f->etag);
    static unsigned counter;
    char *tmp = xprintf("%s.%d.%u.tmp", ptr, (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    llmc_status st = LLMC_OK;
    if (!tmp || target.oom) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto out; }
    char cur[4096];
    ssize_t n = readlink(ptr, cur, sizeof cur - 1);
    if (n >= 0) {
        cur[n] = 0;
        if (strcmp(cur, target.data) == 0) goto out;
    }
    if (mkparent(ptr) != 0 || symlink(target.data, tmp) != 0 || rename(tmp, ptr) != 0) {
        st = llmc_err(err, LLMC_ERR_IO, "%s: cannot create the snapshot link: %s", ptr, strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    free(ptr);
    llmc_sb_free(&target);
    return st;
}

/* ---- cache-only resolution ---- */

typedef struct {
    char **paths;
    int n, cap;
} path_list;

static void pl_free(path_list *l) {
    for (int i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

static bool pl_add(path_list *l, const char *p) {
    if (l->n >= HUB_MAX_FILES) return false;
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 32;
        char **np = realloc(l->paths, (size_t)nc * sizeof *np);
        if (!np) return false;
        l->paths = np;
        l->cap = nc;
    }
    l->paths[l->n] = strdup(p);
    return l->paths[l->n++] != NULL;
}

static void walk(const char *root, const char *rel, path_list *out, int depth) {
    if (depth > 16) return;
    char *dir = rel[0] ? llmc_path_join(root, rel) : strdup(root);
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) { free(dir); return; }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
        char *r = rel[0] ? xprintf("%s/%s", rel, e->d_name) : strdup(e->d_name);
        char *full = r ? llmc_path_join(root, r) : NULL;
        struct stat st;
        if (full && stat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode)) walk(root, r, out, depth + 1);
            else if (S_ISREG(st.st_mode)) pl_add(out, r);
        }
        free(full);
        free(r);
    }
    closedir(d);
    free(dir);
}

static bool has_glob(const char *p) { return strpbrk(p, "*?[") != NULL; }

/* Whether o asks for a GGUF pick from this listing: a quant tag was given, or the repo holds GGUF
 * files and no safetensors/pytorch weights (a "-GGUF" repo). --include patterns override both. */
static bool wants_gguf(const char *const *paths, int n, const llmc_hub_opts *o, const char *quant) {
    if (o->include) return false;
    return quant || (!hub_has_hf_weights(paths, n) && hub_count_gguf(paths, n) > 0);
}

/* Whether a cached snapshot holds what the caller asked for. The file list comes from the
 * tree listing huggingface_hub caches (trees/<commit>.json) when present, else from disk.
 * For a GGUF pick, *gguf gets the chosen file's path in the snapshot (malloc'd). */
static bool snapshot_complete(const char *storage, const char *commit, const char *snap, const llmc_hub_opts *o,
                              const char *quant, char **gguf, char *why, size_t why_len) {
    path_list listed = {0};
    char *tree = xprintf("%s/trees/%s.json", storage, commit);
    cJSON *tj = tree && llmc_file_exists(tree) ? llmc_json_parse_file(tree, HUB_API_MAX, NULL) : NULL;
    free(tree);
    cJSON *files = tj ? cJSON_GetObjectItemCaseSensitive(tj, "files") : NULL;
    if (cJSON_IsObject(files)) {
        cJSON *it;
        cJSON_ArrayForEach(it, files) if (it->string && hub_safe_relpath(it->string)) pl_add(&listed, it->string);
    } else {
        walk(snap, "", &listed, 0);
    }
    cJSON_Delete(tj);
    bool ok = true;
    unsigned char *sel = calloc((size_t)listed.n + 1, 1);
    if (!sel) { pl_free(&listed); return false; }
    const char *const *lp = (const char *const *)listed.paths;
    bool pick_gguf = wants_gguf(lp, listed.n, o, quant);
    if (pick_gguf) {
        llmc_error gerr = {0};
        if (hub_select_gguf(lp, listed.n, quant, storage, sel, &gerr) != LLMC_OK) {
            snprintf(why, why_len, "%s", gerr.msg);
            ok = false;
        } else {
            *gguf = llmc_path_join(snap, hub_gguf_first_selected(lp, listed.n, sel));
        }
    } else {
        hub_select_files(lp, listed.n, o->include, o->n_include, sel);
    }
    int n_sel = 0;
    for (int i = 0; i < listed.n && ok; i++) {
        if (!sel[i]) continue;
        n_sel++;
        if (!pointer_exists(snap, listed.paths[i])) {
            snprintf(why, why_len, "'%s' is missing", listed.paths[i]);
            ok = false;
        }
    }
    if (ok && n_sel == 0) { snprintf(why, why_len, "no requested file is in it"); ok = false; }
    for (int k = 0; ok && o->include && k < o->n_include; k++)
        if (o->include[k] && !has_glob(o->include[k]) && !pointer_exists(snap, o->include[k])) {
            snprintf(why, why_len, "'%s' is missing", o->include[k]);
            ok = false;
        }
    if (ok && !o->include && !pick_gguf) {
        if (!pointer_exists(snap, "config.json") && !pointer_exists(snap, "tokenizer.json")) {
            snprintf(why, why_len, "it has neither config.json nor tokenizer.json");
            ok = false;
        }
        /* A sharded checkpoint is only usable with every shard its index names. */
        char *idx = llmc_path_join(snap, "model.safetensors.index.json");
        cJSON *ij = idx && llmc_file_exists(idx) ? llmc_json_parse_file(idx, HUB_API_MAX, NULL) : NULL;
        cJSON *wm = ij ? cJSON_GetObjectItemCaseSensitive(ij, "weight_map") : NULL;
        cJSON *it;
        if (ok && cJSON_IsObject(wm)) {
            cJSON_ArrayForEach(it, wm) {
                if (cJSON_IsString(it) && hub_safe_relpath(it->valuestring) && !pointer_exists(snap, it->valuestring)) {
                    snprintf(why, why_len, "shard '%s' is missing", it->valuestring);
                    ok = false;
                    break;
                }
            }
        }
        cJSON_Delete(ij);
        free(idx);
    }
    free(sel);
    pl_free(&listed);
    if (!ok) { free(*gguf); *gguf = NULL; }
    return ok;
}

/* Finds a complete cached snapshot for revision. Returns its dir (for a GGUF pick, the .gguf file's
 * path in it) or NULL (why says what is wrong). */
static char *cached_snapshot(const char *storage, const char *revision, const llmc_hub_opts *o, const char *quant,
                             char *why, size_t why_len) {
    char *commit = NULL;
    if (hub_is_commit_hash(revision)) commit = strdup(revision);
    else {
        char *ref = xprintf("%s/refs/%s", storage, revision);
        commit = ref ? read_small(ref) : NULL;
        free(ref);
        if (!commit) { snprintf(why, why_len, "no refs/%s in %s", revision, storage); return NULL; }
    }
    if (!safe_component(commit)) { free(commit); snprintf(why, why_len, "bad ref for '%s'", revision); return NULL; }
    char *snap = xprintf("%s/snapshots/%s", storage, commit);
    free(commit);
    if (!snap || !llmc_dir_exists(snap)) {
        snprintf(why, why_len, "no snapshot %s", snap ? snap : "");
        free(snap);
        return NULL;
    }
    char *commit_dir = strrchr(snap, '/') + 1;
    char *gguf = NULL;
    if (!snapshot_complete(storage, commit_dir, snap, o, quant, &gguf, why, why_len)) { free(snap); return NULL; }
    if (gguf) { free(snap); return gguf; }
    return snap;
}

/* ---- the listing ---- */

/* The listing's JSON → j->commit and j->files (also the fuzz harness's entry: tests/fuzz/fuzz_hub.c). */
static llmc_status hub_parse_listing(hub_job *j, const char *body, size_t len, const char *what, llmc_error *err) {
    cJSON *root = llmc_json_parse(body ? body : "", len, what, err);
    if (!root) return LLMC_ERR_FORMAT;
    const char *sha = llmc_json_get_string(root, "sha");
    cJSON *sibs = cJSON_GetObjectItemCaseSensitive(root, "siblings");
    if (!sha || !safe_component(sha) || !cJSON_IsArray(sibs)) {
        cJSON_Delete(root);
        return llmc_err(err, LLMC_ERR_FORMAT, "%s: expected 'sha' (a commit) and a 'siblings' array", what);
    }
    j->commit = strdup(sha);
    int n = cJSON_GetArraySize(sibs);
    if (n > HUB_MAX_FILES) n = HUB_MAX_FILES;
    j->files = calloc((size_t)n + 1, sizeof *j->files);
    if (!j->files || !j->commit) { cJSON_Delete(root); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    cJSON *s;
    int k = 0;
    cJSON_ArrayForEach(s, sibs) {
        if (k >= n) break;
        const char *name = llmc_json_get_string(s, "rfilename");
        if (!name) continue;
        if (!hub_safe_relpath(name)) { LLMC_WARN("%s: ignoring unsafe file name in the listing", j->repo_id); continue; }
        hub_file *f = &j->files[k++];
        f->path = strdup(name);
        long long sz;
        f->size = llmc_json_get_int(s, "size", &sz) ? sz : -1;
        cJSON *lfs = cJSON_GetObjectItemCaseSensitive(s, "lfs");
        const char *lsha = lfs ? llmc_json_get_string(lfs, "sha256") : NULL;
        if (lsha && strlen(lsha) == 64) f->lfs_sha256 = strdup(lsha);
        if (lfs && llmc_json_get_int(lfs, "size", &sz)) f->size = sz;
    }
    j->n_files = k;
    cJSON_Delete(root);
    return LLMC_OK;
}

static llmc_status list_repo(hub_job *j, CURL *c, llmc_error *err) {
    char *qrepo = hub_url_quote(j->repo_id, true), *qrev = hub_url_quote(j->revision, false);
    char *url = qrepo && qrev ? xprintf("%s/api/models/%s/revision/%s?blobs=true", j->endpoint, qrepo, qrev) : NULL;
    free(qrepo);
    free(qrev);
    if (!url) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_strbuf body;
    llmc_sb_init(&body);
    hub_resp r = {0};
    hub_resp_clear(&r);
    char *final = NULL;
    llmc_status st = request(j, c, "GET", url, false, &body, HUB_API_MAX, &r, NULL, &final, "repository", err);
    free(url);
    free(final);
    hub_resp_clear(&r);
    if (st != LLMC_OK) { llmc_sb_free(&body); return st; }
    char what[300];
    snprintf(what, sizeof what, "%s/api/models/%s/revision/%s", j->endpoint, j->repo_id, j->revision);
    st = hub_parse_listing(j, body.data, body.len, what, err);
    llmc_sb_free(&body);
    return st;
}

/* ------------------------------------------------------------------ public */

/* Keeps only the listed files the caller asked for: o->include, else a GGUF pick (*gguf_rel gets the
 * file to open), else what text generation needs. A named --include file that is absent is an error. */
static llmc_status keep_selected(hub_job *j, const llmc_hub_opts *o, const char *quant, char **gguf_rel, llmc_error *err) {
    llmc_status st = LLMC_OK;
    const char **paths = calloc((size_t)j->n_files + 1, sizeof *paths);
    unsigned char *sel = calloc((size_t)j->n_files + 1, 1);
    if (!paths || !sel) { free(paths); free(sel); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < j->n_files; i++) paths[i] = j->files[i].path;
    if (wants_gguf(paths, j->n_files, o, quant)) {
        st = hub_select_gguf(paths, j->n_files, quant, j->repo_id, sel, err);
        const char *first = st == LLMC_OK ? hub_gguf_first_selected(paths, j->n_files, sel) : NULL;
        if (first && !(*gguf_rel = strdup(first))) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
        if (st != LLMC_OK) { free(paths); free(sel); return st; }
    } else {
        hub_select_files(paths, j->n_files, o->include, o->n_include, sel);
    }
    for (int k = 0; o->include && k < o->n_include; k++) {
        if (has_glob(o->include[k])) continue;
        bool found = false;
        for (int i = 0; i < j->n_files; i++) if (sel[i] && strcmp(paths[i], o->include[k]) == 0) found = true;
        size_t pl = strlen(o->include[k]);
        for (int i = 0; i < j->n_files && !found; i++)
            if (o->include[k][pl - 1] == '/' && sel[i] && strncmp(paths[i], o->include[k], pl) == 0) found = true;
        if (!found) {
            st = llmc_err(err, LLMC_ERR_NOT_FOUND, "file '%s' not found in %s at revision '%s'", o->include[k],
                          j->repo_id, j->revision);
            free(paths); free(sel);
            return st;
        }
    }
    int w = 0;
    for (int i = 0; i < j->n_files; i++) {
        if (sel[i]) { j->files[w++] = j->files[i]; }
        else { free(j->files[i].path); free(j->files[i].lfs_sha256); free(j->files[i].etag); }
    }
    j->n_files = w;
    free(paths);
    free(sel);
    return LLMC_OK;
}

void llmc_hub_opts_default(llmc_hub_opts *o) {
    memset(o, 0, sizeof *o);
    o->offline = -1;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void job_free(hub_job *j) {
    for (int i = 0; i < j->n_files; i++) { free(j->files[i].path); free(j->files[i].lfs_sha256); free(j->files[i].etag); }
    free(j->files);
    free(j->endpoint);
    if (j->token) { memset(j->token, 0, strlen(j->token)); free(j->token); }
    free(j->cache_dir); free(j->storage); free(j->locks_dir); free(j->commit);
}

llmc_status llmc_hub_snapshot(const char *repo_id, const llmc_hub_opts *opts, char **local_dir, llmc_error *err) {
    if (local_dir) *local_dir = NULL;
    llmc_hub_opts o;
    if (opts) o = *opts; else llmc_hub_opts_default(&o);
    if (!repo_id || !local_dir) return llmc_err(err, LLMC_ERR_INVALID_ARG, "llmc_hub_snapshot: repo id and out pointer are required");
    char repo_buf[256], quant_buf[40];
    const char *quant = NULL; /* "org/name:QUANT": a GGUF repo's quantization */
    if (hub_split_quant_tag(repo_id, repo_buf, sizeof repo_buf, quant_buf, sizeof quant_buf)) {
        repo_id = repo_buf;
        quant = quant_buf;
    }
    if (!repo_id_syntax(repo_id))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "'%s' is not a Hub repo id (expected ORG/NAME)", repo_id);
    const char *revision = o.revision && *o.revision ? o.revision : "main";
    if (!revision_ok(revision)) return llmc_err(err, LLMC_ERR_INVALID_ARG, "bad revision '%s'", revision);
    for (int k = 0; o.include && k < o.n_include; k++)
        if (!o.include[k] || !*o.include[k]) return llmc_err(err, LLMC_ERR_INVALID_ARG, "empty --include pattern");
    if (o.include && o.n_include <= 0) o.include = NULL;
    bool offline = o.offline >= 0 ? o.offline != 0
                   : env_true(getenv("HF_HUB_OFFLINE")) || env_true(getenv("TRANSFORMERS_OFFLINE"));

    hub_job j;
    memset(&j, 0, sizeof j);
    j.repo_id = repo_id;
    j.revision = revision;
    pthread_mutex_init(&j.mu, NULL);
    pthread_mutex_init(&j.progress_mu, NULL);
    j.progress = o.progress;
    j.progress_user = o.progress_user;
    llmc_status st = LLMC_OK;
    char why[600] = "";
    CURL *c = NULL;
    char *gguf_rel = NULL; /* the chosen .gguf (its first part) in a GGUF repo */

    j.cache_dir = o.cache_dir && *o.cache_dir ? expand_user(o.cache_dir) : hub_default_cache_dir();
    char *folder = hub_repo_folder(repo_id);
    j.storage = j.cache_dir && folder ? llmc_path_join(j.cache_dir, folder) : NULL;
    j.locks_dir = j.cache_dir ? llmc_path_join(j.cache_dir, ".locks") : NULL;
    free(folder);
    if (!j.storage || !j.locks_dir) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto out; }

    /* A commit hash names immutable content: a complete cached snapshot needs no request. */
    if (offline || hub_is_commit_hash(revision)) {
        char *snap = cached_snapshot(j.storage, revision, &o, quant, why, sizeof why);
        if (snap) { *local_dir = snap; goto out; }
        if (offline) {
            st = llmc_err(err, LLMC_ERR_NOT_FOUND,
                          "%s (revision '%s') is not in the cache %s and offline mode is on (HF_HUB_OFFLINE): %s; "
                          "download it first with network access",
                          repo_id, revision, j.cache_dir, why);
            goto out;
        }
    }

    const char *ep = o.endpoint && *o.endpoint ? o.endpoint : env_nonempty("HF_ENDPOINT");
    j.endpoint = strdup(ep ? ep : HUB_DEFAULT_ENDPOINT);
    if (!j.endpoint) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto out; }
    for (size_t n = strlen(j.endpoint); n > 0 && j.endpoint[n - 1] == '/'; n--) j.endpoint[n - 1] = 0;
    j.token = hub_resolve_token(o.token);
    for (const char *p = j.token; p && *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            /* It would end up in an HTTP header; never echo it back. */
            st = llmc_err(err, LLMC_ERR_INVALID_ARG, "the access token contains spaces or control characters; "
                          "check --token, HF_TOKEN or the token file");
            goto out;
        }
    j.net.endpoint = j.endpoint;
    j.net.token = j.token;
    j.net.max_tries = 5;
    j.net.backoff_ms = 1000;
    const char *bo = env_nonempty("LLMC_HUB_BACKOFF_MS"); /* tests shorten the waits */
    if (bo) { int v = atoi(bo); if (v >= 0 && v <= 60000) j.net.backoff_ms = v; }
    pthread_once(&curl_once, curl_init_once);
    c = curl_easy_init();
    if (!c) { st = llmc_err(err, LLMC_ERR_NOMEM, "cannot initialise libcurl"); goto out; }

    st = list_repo(&j, c, err);
    if (st == LLMC_ERR_NETWORK) {
        /* Hub unreachable or down: a cached snapshot of that revision still serves (huggingface_hub does the same). */
        char *snap = cached_snapshot(j.storage, revision, &o, quant, why, sizeof why);
        if (snap) {
            LLMC_WARN("%s: the Hub could not be reached; using the cached snapshot %s", repo_id, snap);
            *local_dir = snap;
            st = LLMC_OK;
        }
        goto out;
    }
    if (st != LLMC_OK) goto out;

    st = keep_selected(&j, &o, quant, &gguf_rel, err);
    if (st != LLMC_OK) goto out;
    if (j.n_files == 0) {
        st = llmc_err(err, LLMC_ERR_NOT_FOUND, "%s at revision '%s' has no files matching %s", repo_id, revision,
                      o.include ? "the --include patterns" : "what text generation needs (config.json, *.safetensors, tokenizer files)");
        goto out;
    }

    char *snap = xprintf("%s/snapshots/%s", j.storage, j.commit);
    if (!snap) { st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); goto out; }
    for (int i = 0; i < j.n_files; i++)
        if (pointer_exists(snap, j.files[i].path)) {
            j.files[i].done = 2;
            report(&j, j.files[i].path, 0, 0, 1);
        }
    if (mkdirs(j.storage) != 0) {
        st = llmc_err(err, LLMC_ERR_IO, "cannot create %s: %s", j.storage, strerror(errno));
        free(snap);
        goto out;
    }
    char *tag = llmc_path_join(j.cache_dir, "CACHEDIR.TAG");
    if (tag && !llmc_file_exists(tag)) write_atomic(tag, CACHEDIR_TAG, 0666);
    free(tag);

    int nthreads = o.max_parallel > 0 ? o.max_parallel : 4;
    if (nthreads > 32) nthreads = 32;
    if (nthreads > j.n_files) nthreads = j.n_files;
    pthread_t th[32];
    int started = 0;
    for (int t = 0; t < nthreads; t++)
        if (pthread_create(&th[t], NULL, worker, &j) == 0) started++;
    if (started == 0) worker(&j);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    if (j.failed) {
        *err = j.first_err;
        st = err->code ? err->code : LLMC_ERR_INTERNAL;
        free(snap);
        goto out;
    }
    /* Every blob is in place: only now does the snapshot appear, so a reader never sees half of it. */
    for (int i = 0; i < j.n_files && st == LLMC_OK; i++)
        if (j.files[i].done == 1) st = link_file(&j, snap, &j.files[i], err);
    if (st == LLMC_OK && strcmp(revision, j.commit) != 0) {
        char *ref = xprintf("%s/refs/%s", j.storage, revision);
        char *old = ref ? read_small(ref) : NULL;
        if (!ref || ((!old || strcmp(old, j.commit) != 0) && (mkparent(ref) != 0 || write_atomic(ref, j.commit, 0666) != 0)))
            st = llmc_err(err, LLMC_ERR_IO, "cannot write %s: %s", ref ? ref : "ref", strerror(errno));
        free(old);
        free(ref);
    }
    if (st == LLMC_OK && gguf_rel) {
        *local_dir = llmc_path_join(snap, gguf_rel);
        if (!*local_dir) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    } else if (st == LLMC_OK) { *local_dir = snap; snap = NULL; }
    free(snap);
out:
    free(gguf_rel);
    if (c) curl_easy_cleanup(c);
    job_free(&j);
    pthread_mutex_destroy(&j.mu);
    pthread_mutex_destroy(&j.progress_mu);
    return st;
}

llmc_status llmc_hub_login(const char *token, const char *hf_home, llmc_error *err) {
    char *t = token ? trim_token(token) : NULL;
    if (!t) return llmc_err(err, LLMC_ERR_INVALID_ARG, "login: the token is empty");
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            memset(t, 0, strlen(t)); free(t);
            return llmc_err(err, LLMC_ERR_INVALID_ARG, "login: the token contains spaces or control characters");
        }
    char *path = token_file_path(hf_home);
    llmc_status st = LLMC_OK;
    if (!path) st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    else if (mkparent(path) != 0) st = llmc_err(err, LLMC_ERR_IO, "%s: cannot create its folder: %s", path, strerror(errno));
    else if (write_atomic(path, t, 0600) != 0) st = llmc_err(err, LLMC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    else chmod(path, 0600);
    memset(t, 0, strlen(t));
    free(t);
    free(path);
    return st;
}

llmc_status llmc_hub_logout(const char *hf_home, llmc_error *err) {
    char *path = token_file_path(hf_home);
    if (!path) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    llmc_status st = LLMC_OK;
    if (unlink(path) != 0 && errno != ENOENT) st = llmc_err(err, LLMC_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    free(path);
    return st;
}
