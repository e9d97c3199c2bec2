/* llmc ls / llmc rm — the models on this machine: every repo and revision in the Hugging Face cache
 * (shared with huggingface_hub), with size on disk and kind, and the default model under
 * $LLMC_CACHE/models; `rm` deletes as huggingface_hub's cache deletion does. */
#include "cli.h"
#include "base/file.h"
#include "hub/hub.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void cache_human(uint64_t b, char *out, size_t n) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)b;
    int k = 0;
    while (v >= 1000 && k < 4) { v /= 1000; k++; }
    snprintf(out, n, k ? "%.1f %s" : "%.0f %s", v, u[k]);
}

/* $LLMC_CACHE/models: where scripts/fetch-default-model.sh puts the default model (malloc'd). */
static char *llmc_models_dir(void) {
    const char *c = getenv("LLMC_CACHE");
    const char *home = getenv("HOME");
    char *base = c && *c ? strdup(c) : home ? llmc_path_join(home, ".cache/llmc") : NULL;
    char *dir = base ? llmc_path_join(base, "models") : NULL;
    free(base);
    return dir;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int ls_usage(FILE *f) {
    fprintf(f, "usage: llmc ls [--json] [--cache-dir DIR]\n"
               "  Lists the cached models: each Hub repo's revisions (refs, kind, size on disk) in the Hugging Face\n"
               "  cache shared with huggingface_hub, and the models under $LLMC_CACHE/models (the default model).\n");
    return f == stdout ? 0 : 2;
}

int cmd_ls(int argc, char **argv) {
    const char *cache = NULL, *val = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (cli_is_help(argv[i])) return ls_usage(stdout);
        if (cli_opt(argc, argv, &i, "--cache-dir", &val, &bad)) { if (bad) return 2; cache = val; }
        else if (cli_flag(argv, i, "--json")) json = true;
        else return cli_fail("ls: unexpected argument '%s'", argv[i]);
    }
    llmc_error err = {0};
    llmc_hub_cached_repo *repos = NULL;
    int n = 0;
    if (llmc_hub_cache_scan(cache, &repos, &n, &err) != LLMC_OK) return cli_error(&err);
    char *mdir = llmc_models_dir();
    DIR *d = mdir ? opendir(mdir) : NULL;
    if (json) printf("[");
    else printf("%-48s %-10s %-16s %10s  %s\n", "MODEL", "REVISION", "KIND", "SIZE", "REFS");
    int items = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < repos[i].n_revs; k++) {
            const llmc_hub_cached_rev *v = &repos[i].revs[k];
            char sz[32];
            cache_human(v->size, sz, sizeof sz);
            if (json) {
                printf("%s{\"model\": ", items ? ", " : "");
                json_str(stdout, repos[i].repo_id);
                printf(", \"revision\": \"%s\", \"refs\": ", v->commit);
                json_str(stdout, v->refs);
                printf(", \"kind\": \"%s\", \"size\": %llu, \"files\": %d, \"path\": ", v->kind, (unsigned long long)v->size, v->n_files);
                json_str(stdout, repos[i].path);
                printf("}");
            } else {
                printf("%-48s %-10.8s %-16s %10s  %s\n", repos[i].repo_id, v->commit, v->kind, sz, v->refs);
            }
            items++;
        }
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".gguf") != 0) continue;
        char *p = llmc_path_join(mdir, e->d_name);
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            char sz[32];
            cache_human((uint64_t)st.st_size, sz, sizeof sz);
            if (json) {
                printf("%s{\"model\": ", items ? ", " : "");
                json_str(stdout, p);
                printf(", \"revision\": null, \"refs\": \"\", \"kind\": \"gguf\", \"size\": %lld, \"files\": 1, \"path\": ", (long long)st.st_size);
                json_str(stdout, p);
                printf("}");
            } else {
                printf("%-48s %-10s %-16s %10s  %s\n", e->d_name, "-", "gguf", sz, p);
            }
            items++;
        }
        free(p);
    }
    if (d) closedir(d);
    if (json) printf("]\n");
    else if (!items) fprintf(stderr, "llmc: no cached models (llmc pull ORG/NAME fetches one)\n");
    free(mdir);
    llmc_hub_cache_free(repos, n);
    return 0;
}

static int rm_usage(FILE *f) {
    fprintf(f, "usage: llmc rm MODEL [--revision R] [--cache-dir DIR]\n"
               "  MODEL is a Hub id (ORG/NAME): deletes its cached revisions (or only R: a commit, its prefix, or a\n"
               "  ref such as main), their refs, and the blobs no remaining revision uses, as huggingface_hub's\n"
               "  cache deletion does. A .gguf name or path under $LLMC_CACHE/models deletes that file.\n");
    return f == stdout ? 0 : 2;
}

/* A model file under $LLMC_CACHE/models, named by file name or full path. */
static int rm_models_file(const char *name) {
    char *mdir = llmc_models_dir();
    if (!mdir) return cli_fail("out of memory");
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    char *p = llmc_path_join(mdir, base);
    bool inside = strchr(name, '/') == NULL || (p && strcmp(p, name) == 0);
    int rc = 0;
    struct stat st;
    if (!p || !inside || stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = cli_fail("rm: '%s' is not a Hub id nor a model in %s", name, mdir);
    } else if (unlink(p) != 0) {
        llmc_error err = {LLMC_ERR_IO, ""};
        snprintf(err.msg, sizeof err.msg, "cannot delete %s: %s", p, strerror(errno));
        rc = cli_error(&err);
    } else {
        char sz[32];
        cache_human((uint64_t)st.st_size, sz, sizeof sz);
        fprintf(stderr, "llmc: deleted %s (%s freed)\n", p, sz);
    }
    free(p);
    free(mdir);
    return rc;
}

int cmd_rm(int argc, char **argv) {
    const char *model = NULL, *revision = NULL, *cache = NULL, *val = NULL;
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (cli_is_help(argv[i])) return rm_usage(stdout);
        if (cli_opt(argc, argv, &i, "--revision", &val, &bad)) { if (bad) return 2; revision = val; }
        else if (cli_opt(argc, argv, &i, "--cache-dir", &val, &bad)) { if (bad) return 2; cache = val; }
        else if (argv[i][0] == '-') return cli_fail("rm: unknown option '%s'", argv[i]);
        else if (!model) model = argv[i];
        else return cli_fail("rm: unexpected argument '%s' (one model at a time)", argv[i]);
    }
    if (!model) return rm_usage(stderr);
    size_t l = strlen(model);
    if (l > 5 && strcmp(model + l - 5, ".gguf") == 0) return rm_models_file(model);
    llmc_error err = {0};
    uint64_t freed = 0;
    if (llmc_hub_cache_delete(cache, model, revision, &freed, &err) != LLMC_OK) return cli_error(&err);
    char sz[32];
    cache_human(freed, sz, sizeof sz);
    fprintf(stderr, "llmc: deleted %s%s%s from the cache (%s freed)\n", model, revision ? " revision " : "", revision ? revision : "", sz);
    return 0;
}
