/* The model cache as a list: what `llmc ls` shows and `llmc rm` deletes. It reads and changes the
 * Hugging Face cache layout (models--ORG--NAME/{blobs,refs,snapshots}) exactly as huggingface_hub's
 * scan_cache_dir and delete_revisions do: a revision's size counts each blob once, a repo's size is
 * that of the blobs its snapshots use, and deleting a revision removes its snapshot, the refs that
 * name it, and only the blobs no remaining revision uses (the whole repo folder when none remains).
 * Every walk is bounded in depth and entries, never follows a link out of the repo, and deletes
 * nothing outside it. */
#include "hub/hub_internal.h"
#include "base/error.h"
#include "base/file.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HC_MAX_DEPTH 16        /* folders inside a snapshot */
#define HC_MAX_ENTRIES 200000  /* files one repo may list */

typedef struct { char **v; int n, cap; } hc_strs;

static bool hc_push(hc_strs *s, const char *x) {
    if (s->n >= HC_MAX_ENTRIES) return false;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(x))) return false;
    s->n++;
    return true;
}

static void hc_strs_free(hc_strs *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static bool hc_contains(const hc_strs *s, const char *x) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0) return true;
    return false;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Collects the blob each file of a snapshot links to (realpath, inside blobs_dir), and its kind. */
static void hc_walk_snapshot(const char *dir, int depth, const char *blobs_dir, hc_strs *blobs, unsigned *kind, int *n_files) {
    if (depth > HC_MAX_DEPTH) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = llmc_path_join(dir, e->d_name);
        if (!p) continue;
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            struct stat lst;
            if (lstat(p, &lst) == 0 && !S_ISLNK(lst.st_mode)) hc_walk_snapshot(p, depth + 1, blobs_dir, blobs, kind, n_files);
        } else if (S_ISREG(st.st_mode)) {
            (*n_files)++;
            if (has_suffix(e->d_name, ".gguf")) *kind |= 1;
            if (has_suffix(e->d_name, ".safetensors")) *kind |= 2;
            char real[PATH_MAX];
            if (realpath(p, real) && strncmp(real, blobs_dir, strlen(blobs_dir)) == 0 && real[strlen(blobs_dir)] == '/' &&
                !hc_contains(blobs, real))
                hc_push(blobs, real);
        }
        free(p);
    }
    closedir(d);
}

static uint64_t hc_blobs_size(const hc_strs *b) {
    uint64_t n = 0;
    for (int i = 0; i < b->n; i++) {
        struct stat st;
        if (stat(b->v[i], &st) == 0) n += (uint64_t)st.st_size;
    }
    return n;
}

static const char *hc_kind_name(unsigned k) {
    return k == 3 ? "safetensors+gguf" : k == 1 ? "gguf" : k == 2 ? "safetensors" : "other";
}

/* The ref names (main, ...) in repo/refs that hold commit, comma-separated. */
static void hc_refs_of(const char *repo, const char *commit, char *out, size_t cap) {
    out[0] = 0;
    char *refs = llmc_path_join(repo, "refs");
    DIR *d = refs ? opendir(refs) : NULL;
    struct dirent *e;
    size_t w = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = llmc_path_join(refs, e->d_name);
        char *txt = NULL;
        size_t len = 0;
        if (p && llmc_read_file(p, 256, &txt, &len, NULL) == LLMC_OK) {
            while (len && (txt[len - 1] == '\n' || txt[len - 1] == ' ')) txt[--len] = 0;
            if (!strcmp(txt, commit) && w + strlen(e->d_name) + 2 < cap)
                w += (size_t)snprintf(out + w, cap - w, "%s%s", w ? "," : "", e->d_name);
        }
        free(txt);
        free(p);
    }
    if (d) closedir(d);
    free(refs);
}

/* "models--ORG--NAME" → "ORG/NAME" (false for other folders). */
static bool hc_repo_id(const char *folder, char *out, size_t cap) {
    if (strncmp(folder, "models--", 8) != 0) return false;
    const char *s = folder + 8, *sep = strstr(s, "--");
    if (!sep || sep == s || !sep[2]) return false;
    return snprintf(out, cap, "%.*s/%s", (int)(sep - s), s, sep + 2) < (int)cap;
}

static llmc_status hc_scan_repo(const char *cache, const char *folder, llmc_hub_cached_repo *r, llmc_error *err) {
    memset(r, 0, sizeof *r);
    if (!hc_repo_id(folder, r->repo_id, sizeof r->repo_id)) return LLMC_ERR_NOT_FOUND;
    char *repo = llmc_path_join(cache, folder);
    char *snaps = repo ? llmc_path_join(repo, "snapshots") : NULL;
    char *blobs_dir = repo ? llmc_path_join(repo, "blobs") : NULL;
    char blobs_real[PATH_MAX];
    if (!repo || !snaps || !blobs_dir) { free(repo); free(snaps); free(blobs_dir); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    if (!realpath(blobs_dir, blobs_real)) snprintf(blobs_real, sizeof blobs_real, "%s", blobs_dir);
    snprintf(r->path, sizeof r->path, "%s", repo);
    hc_strs all = {0};
    DIR *d = opendir(snaps);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) > 64) continue;
        llmc_hub_cached_rev *nr = realloc(r->revs, (size_t)(r->n_revs + 1) * sizeof *nr);
        if (!nr) break;
        r->revs = nr;
        llmc_hub_cached_rev *v = &r->revs[r->n_revs++];
        memset(v, 0, sizeof *v);
        snprintf(v->commit, sizeof v->commit, "%s", e->d_name);
        char *sp = llmc_path_join(snaps, e->d_name);
        hc_strs b = {0};
        unsigned kind = 0;
        if (sp) hc_walk_snapshot(sp, 0, blobs_real, &b, &kind, &v->n_files);
        free(sp);
        v->size = hc_blobs_size(&b);
        snprintf(v->kind, sizeof v->kind, "%s", hc_kind_name(kind));
        hc_refs_of(repo, v->commit, v->refs, sizeof v->refs);
        for (int i = 0; i < b.n; i++)
            if (!hc_contains(&all, b.v[i])) hc_push(&all, b.v[i]);
        hc_strs_free(&b);
    }
    if (d) closedir(d);
    r->size = hc_blobs_size(&all);
    hc_strs_free(&all);
    free(repo);
    free(snaps);
    free(blobs_dir);
    return LLMC_OK;
}

static int hc_cmp_repo(const void *a, const void *b) {
    return strcmp(((const llmc_hub_cached_repo *)a)->repo_id, ((const llmc_hub_cached_repo *)b)->repo_id);
}

llmc_status llmc_hub_cache_scan(const char *cache_dir, llmc_hub_cached_repo **out, int *n_out, llmc_error *err) {
    *out = NULL;
    *n_out = 0;
    char *cache = cache_dir && *cache_dir ? strdup(cache_dir) : hub_default_cache_dir();
    if (!cache) return llmc_err(err, LLMC_ERR_NOMEM, "out of memory");
    DIR *d = opendir(cache);
    if (!d) { free(cache); return LLMC_OK; } /* no cache yet: nothing cached */
    llmc_status st = LLMC_OK;
    struct dirent *e;
    llmc_hub_cached_repo *v = NULL;
    int n = 0;
    while ((e = readdir(d)) && st == LLMC_OK && n < HC_MAX_ENTRIES) {
        llmc_hub_cached_repo r;
        llmc_status rs = hc_scan_repo(cache, e->d_name, &r, err);
        if (rs == LLMC_ERR_NOT_FOUND) continue;
        if (rs != LLMC_OK) { st = rs; break; }
        llmc_hub_cached_repo *nv = realloc(v, (size_t)(n + 1) * sizeof *nv);
        if (!nv) { free(r.revs); st = llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); break; }
        v = nv;
        v[n++] = r;
    }
    closedir(d);
    free(cache);
    if (st != LLMC_OK) { llmc_hub_cache_free(v, n); return st; }
    if (n > 1) qsort(v, (size_t)n, sizeof *v, hc_cmp_repo);
    *out = v;
    *n_out = n;
    return LLMC_OK;
}

void llmc_hub_cache_free(llmc_hub_cached_repo *repos, int n) {
    for (int i = 0; repos && i < n; i++) free(repos[i].revs);
    free(repos);
}

/* Removes a tree without following links (depth-bounded). */
static int hc_rmtree(const char *path, int depth) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    if (depth > HC_MAX_DEPTH) return -1;
    DIR *d = opendir(path);
    if (!d) return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = llmc_path_join(path, e->d_name);
        if (!p || hc_rmtree(p, depth + 1) != 0) rc = -1;
        free(p);
    }
    closedir(d);
    if (rmdir(path) != 0) rc = -1;
    return rc;
}

llmc_status llmc_hub_cache_delete(const char *cache_dir, const char *repo_id, const char *revision, uint64_t *freed,
                                  llmc_error *err) {
    if (freed) *freed = 0;
    char id[256], quant[40];
    if (repo_id && hub_split_quant_tag(repo_id, id, sizeof id, quant, sizeof quant)) repo_id = id;
    if (!repo_id || !strchr(repo_id, '/') || !hub_safe_relpath(repo_id) || strchr(strchr(repo_id, '/') + 1, '/'))
        return llmc_err(err, LLMC_ERR_INVALID_ARG, "'%s' is not a Hub repo id (expected ORG/NAME)", repo_id ? repo_id : "");
    char *cache = cache_dir && *cache_dir ? strdup(cache_dir) : hub_default_cache_dir();
    char *folder = hub_repo_folder(repo_id);
    char *repo = cache && folder ? llmc_path_join(cache, folder) : NULL;
    free(folder);
    if (!repo) { free(cache); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    llmc_hub_cached_repo r;
    char *base = strrchr(repo, '/') + 1;
    llmc_status st = llmc_dir_exists(repo) ? hc_scan_repo(cache, base, &r, err) : LLMC_ERR_NOT_FOUND;
    if (st == LLMC_ERR_NOT_FOUND) {
        st = llmc_err(err, LLMC_ERR_NOT_FOUND, "%s is not in the cache %s", repo_id, cache);
        free(repo);
        free(cache);
        return st;
    }
    if (st != LLMC_OK) { free(repo); free(cache); return st; }
    /* Which revisions go: all, or the one named by commit (prefix of 7+) or ref. */
    int n_del = 0;
    bool *del = calloc((size_t)r.n_revs + 1, sizeof *del);
    if (!del) { free(r.revs); free(repo); free(cache); return llmc_err(err, LLMC_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < r.n_revs; i++) {
        bool hit = !revision;
        if (revision && strlen(revision) >= 7 && strncmp(r.revs[i].commit, revision, strlen(revision)) == 0) hit = true;
        if (revision && !hit) {
            char refs[sizeof r.revs[i].refs + 2];
            snprintf(refs, sizeof refs, ",%s,", r.revs[i].refs);
            char want[300];
            snprintf(want, sizeof want, ",%s,", revision);
            hit = strstr(refs, want) != NULL;
        }
        del[i] = hit;
        n_del += hit;
    }
    if (revision && n_del == 0) {
        st = llmc_err(err, LLMC_ERR_NOT_FOUND, "%s has no cached revision '%s'", repo_id, revision);
    } else if (n_del == r.n_revs) {
        if (freed) *freed = r.size;
        if (hc_rmtree(repo, 0) != 0) st = llmc_err(err, LLMC_ERR_IO, "cannot delete %s: %s", repo, strerror(errno));
    } else {
        /* Blobs that the revisions kept still use stay. */
        char *blobs_dir = llmc_path_join(repo, "blobs"), *snaps = llmc_path_join(repo, "snapshots");
        char blobs_real[PATH_MAX];
        if (!blobs_dir || !snaps || !realpath(blobs_dir, blobs_real)) snprintf(blobs_real, sizeof blobs_real, "%s", blobs_dir ? blobs_dir : "");
        hc_strs keep = {0}, drop = {0};
        for (int i = 0; i < r.n_revs; i++) {
            char *sp = snaps ? llmc_path_join(snaps, r.revs[i].commit) : NULL;
            unsigned kind = 0;
            int nf = 0;
            if (sp) hc_walk_snapshot(sp, 0, blobs_real, del[i] ? &drop : &keep, &kind, &nf);
            free(sp);
        }
        for (int i = 0; i < drop.n && st == LLMC_OK; i++) {
            if (hc_contains(&keep, drop.v[i])) continue;
            struct stat bst;
            if (stat(drop.v[i], &bst) == 0 && freed) *freed += (uint64_t)bst.st_size;
            if (unlink(drop.v[i]) != 0 && errno != ENOENT) st = llmc_err(err, LLMC_ERR_IO, "cannot delete %s: %s", drop.v[i], strerror(errno));
        }
        for (int i = 0; i < r.n_revs && st == LLMC_OK; i++) {
            if (!del[i]) continue;
            char *sp = llmc_path_join(snaps, r.revs[i].commit);
            if (!sp || hc_rmtree(sp, 0) != 0) st = llmc_err(err, LLMC_ERR_IO, "cannot delete %s: %s", sp ? sp : "snapshot", strerror(errno));
            free(sp);
            /* the refs that name it */
            char refs[sizeof r.revs[i].refs];
            snprintf(refs, sizeof refs, "%s", r.revs[i].refs);
            char *save = NULL;
            for (char *tok = strtok_r(refs, ",", &save); tok && st == LLMC_OK; tok = strtok_r(NULL, ",", &save)) {
                char *rp = llmc_path_join(repo, "refs");
                char *ref = rp ? llmc_path_join(rp, tok) : NULL;
                if (ref) unlink(ref);
                free(ref);
                free(rp);
            }
        }
        hc_strs_free(&keep);
        hc_strs_free(&drop);
        free(blobs_dir);
        free(snaps);
    }
    free(del);
    free(r.revs);
    free(repo);
    free(cache);
    return st;
}
