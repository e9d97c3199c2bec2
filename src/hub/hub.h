/* Hugging Face Hub client: resolves a repo id to a local snapshot directory in the
 * cache layout that Python's huggingface_hub uses (models--ORG--NAME/{blobs,snapshots,refs},
 * locks under .locks/), downloading what is missing. Downloads share the cache with
 * huggingface_hub in both directions. The library never prints: progress goes through
 * the callback, diagnostics through the log callback, and the access token is never
 * logged, never put in error messages, and never sent to a host other than the endpoint's. */
#ifndef LLMC_HUB_H
#define LLMC_HUB_H
#include "llmc.h"
#include <stdbool.h>
#include <stdint.h>

/* Called from worker threads, serialized (never two calls at once). total is 0 when unknown;
 * finished is 1 on the last call for a file (done == total on success). A file found already
 * in the cache is reported once with done == total == 0 and finished == 1. */
typedef void (*llmc_hub_progress_fn)(void *user, const char *file, uint64_t done, uint64_t total, int finished);

typedef struct {
    const char *endpoint;        /* NULL → $HF_ENDPOINT or https://huggingface.co */
    const char *token;           /* NULL → $HF_TOKEN, else token file $HF_HOME/token (HF_HOME default ~/.cache/huggingface) */
    const char *revision;        /* NULL → "main" */
    const char *const *include;  /* glob patterns (fnmatch, '*' also matches '/'); NULL → files text generation needs */
    int n_include;
    int offline;                 /* -1 → $HF_HUB_OFFLINE; 1 → cache only; 0 → network allowed */
    const char *cache_dir;       /* NULL → $HF_HUB_CACHE or $HF_HOME/hub */
    int max_parallel;            /* 0 → 4 */
    llmc_hub_progress_fn progress; void *progress_user;   /* called from worker threads, serialized */
} llmc_hub_opts;

void llmc_hub_opts_default(llmc_hub_opts *o);

/* True when s looks like a Hub repo id ("org/name", or "org/name:QUANT" for a GGUF repo; no leading
 * '/' or '.', not an existing path). */
bool llmc_hub_is_repo_id(const char *s);

/* Ensures the snapshot is in the cache (downloading what is missing) and returns its local dir (malloc'd).
 * GGUF repos: with repo_id "org/name:QUANT", or for a repo that holds .gguf files and no safetensors,
 * only one GGUF model is fetched (the one whose file name carries QUANT, case-insensitive; untagged,
 * the repo's only GGUF, else its Q4_K_M; a split GGUF whole), and *local_dir is that .gguf file's
 * path (its first part) inside the snapshot. o->include, when given, selects files instead. */
llmc_status llmc_hub_snapshot(const char *repo_id, const llmc_hub_opts *o, char **local_dir, llmc_error *err);

/* ---- the cache as a list (hub_cache.c): `llmc ls` and `llmc rm`, as huggingface_hub's scan_cache_dir
 * and delete_revisions see and change it ---- */
typedef struct {
    char commit[65];
    char refs[128];       /* ref names that point at it ("main", ...), comma-separated */
    char kind[20];        /* "safetensors", "gguf", "safetensors+gguf" or "other" */
    uint64_t size;        /* bytes of the blobs its files use, each counted once */
    int n_files;
} llmc_hub_cached_rev;
typedef struct {
    char repo_id[256];
    char path[4096];      /* the repo's folder in the cache */
    uint64_t size;        /* bytes of the blobs its snapshots use */
    int n_revs;
    llmc_hub_cached_rev *revs;
} llmc_hub_cached_repo;
/* Lists every model repo in cache_dir (NULL → the default cache), sorted by id. No cache: 0 repos. */
llmc_status llmc_hub_cache_scan(const char *cache_dir, llmc_hub_cached_repo **repos, int *n, llmc_error *err);
void llmc_hub_cache_free(llmc_hub_cached_repo *repos, int n);
/* Deletes repo_id's revision (a commit, its 7+ character prefix, or a ref name; NULL → every revision):
 * its snapshot, the refs naming it, and the blobs no other revision uses; the whole repo folder when
 * no revision remains. *freed gets the bytes of blobs removed. */
llmc_status llmc_hub_cache_delete(const char *cache_dir, const char *repo_id, const char *revision, uint64_t *freed,
                                  llmc_error *err);

/* Writes $HF_HOME/token (mode 0600), where huggingface_hub reads it. hf_home NULL → default. */
llmc_status llmc_hub_login(const char *token, const char *hf_home /*NULL=default*/, llmc_error *err);
/* Removes $HF_HOME/token; not an error when there is none. */
llmc_status llmc_hub_logout(const char *hf_home, llmc_error *err);

#endif
