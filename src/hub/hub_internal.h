/* Internals of the Hub client shared by its files and its unit tests (not public API). */
#ifndef LLMC_HUB_INTERNAL_H
#define LLMC_HUB_INTERNAL_H
#include "hub/hub.h"
#include "base/strbuf.h"
#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
} hub_sha256;
void hub_sha256_init(hub_sha256 *s);
void hub_sha256_update(hub_sha256 *s, const void *data, size_t len);
void hub_sha256_final(hub_sha256 *s, char hex[65]);

/* ---- HTTP (http.c) ---- */

/* One HTTP response's status and the headers the Hub protocol uses. */
typedef struct {
    long status;
    char *location, *repo_commit, *linked_etag, *etag, *error_code, *error_message;
    long long linked_size, content_length, range_start; /* -1 when absent */
    long long retry_after; /* seconds, -1 when absent */
} hub_resp;
void hub_resp_clear(hub_resp *r);

/* Receives a 2xx body; returns false to abort the transfer. */
typedef bool (*hub_sink_fn)(void *user, const hub_resp *r, const char *data, size_t n);

typedef struct {
    const char *endpoint;   /* origin that may receive the token */
    const char *token;      /* NULL: anonymous */
    int max_tries;          /* for 429/5xx/network errors */
    int backoff_ms;         /* first wait; doubles each try, capped */
} hub_net;

/* Metadata collected along a resolve redirect chain, the way huggingface_hub reads it. */
typedef struct {
    char *commit, *etag, *location;
    long long size;
} hub_meta;
void hub_meta_clear(hub_meta *m);

/* One request, no redirects followed. Sends the token only when url's origin is the endpoint's.
 * 2xx bodies go to sink (or into body, up to body_max bytes, when sink is NULL).
 * Returns the curl code; *r gets status and headers. */
CURLcode hub_http_once(CURL *c, const hub_net *net, const char *method, const char *url, long long range_from,
                       hub_sink_fn sink, void *user, llmc_strbuf *body, size_t body_max, hub_resp *r,
                       char *curl_msg, size_t curl_msg_len);

/* Resolves a (possibly relative) Location against base into a malloc'd absolute URL. */
char *hub_url_join(const char *base, const char *loc);
/* True when both URLs have the same scheme, host (case-insensitive) and port. */
bool hub_same_origin(const char *a, const char *b);
/* Percent-encodes s for a URL path; keep_slash keeps '/' as is. */
char *hub_url_quote(const char *s, bool keep_slash);
void hub_sleep_ms(int ms);

/* ---- naming, selection, cache (hub.c) ---- */

/* Selection of which repo files to fetch. paths: the repo's file list. out_sel[i] set to 1/0. */
void hub_select_files(const char *const *paths, int n, const char *const *include, int n_include, unsigned char *out_sel);
/* Python fnmatch.fnmatchcase semantics ('*' matches '/'); a pattern ending in '/' matches below it. */
bool hub_glob_match(const char *pattern, const char *path);
/* A repo file name that is safe to use as a relative path under snapshots/. */
bool hub_safe_relpath(const char *p);
/* huggingface_hub's etag normalisation: strips a leading W/ and surrounding quotes (malloc'd). */
char *hub_normalize_etag(const char *etag);
bool hub_is_commit_hash(const char *s);
/* models--ORG--NAME */
char *hub_repo_folder(const char *repo_id);
/* Token resolution: explicit, $HF_TOKEN, then the token file. malloc'd or NULL. */
char *hub_resolve_token(const char *explicit_token);
char *hub_default_hf_home(void);
char *hub_default_cache_dir(void);

/* ---- GGUF repos (hub_gguf.c) ---- */

/* "org/name:QUANT" → repo and quant (false when model has no valid tag; then both are untouched). */
bool hub_split_quant_tag(const char *model, char *repo, size_t repo_cap, char *quant, size_t quant_cap);
bool hub_is_gguf_path(const char *p);
/* True when the listing holds safetensors or pytorch_model*.bin weights at its top level. */
bool hub_has_hf_weights(const char *const *paths, int n);
int hub_count_gguf(const char *const *paths, int n);
/* Selects the GGUF model to fetch: the one whose name carries quant (case-insensitive, as a whole part
 * of the name), every part of it when split (-00001-of-0000N.gguf); without quant the repo's only GGUF
 * model, else its Q4_K_M. LLMC_ERR_NOT_FOUND lists the quantizations present. sel gets 1/0 per path. */
llmc_status hub_select_gguf(const char *const *paths, int n, const char *quant, const char *repo_id, unsigned char *sel,
                            llmc_error *err);
/* The selected GGUF to open: the whole file, or the first part of a split one. */
const char *hub_gguf_first_selected(const char *const *paths, int n, const unsigned char *sel);
#endif
