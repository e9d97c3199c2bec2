/* llmc download ORG/NAME — fetches a model into the Hugging Face cache and prints the snapshot
 * path on stdout. Progress: one bar per file on a terminal (name, %, bytes, speed, ETA),
 * a single summary line on stderr otherwise. */
#include "cli.h"
#include "hub/hub.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BARS 64

typedef struct {
    char name[128];
    uint64_t done, total, start_done;
    double t0;
    int finished;
} bar;

/* Active bars are redrawn in place; a finished file's bar is printed once above them and
 * dropped, so thousands of files never make a huge block. */
typedef struct {
    bool tty;
    bar bars[MAX_BARS];
    int n;
    int drawn;        /* lines of the block currently on screen */
    double t0, last_draw;
    uint64_t bytes;   /* bytes received this run, over all files */
    int files, cached;
} progress_ui;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void human(double b, char *out, size_t n) {
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) { b /= 1000; i++; }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void bar_line(const bar *b, double t) {
    char done[32], total[32], speed[32], eta[32] = "";
    human((double)b->done, done, sizeof done);
    human((double)b->total, total, sizeof total);
    double dt = t - b->t0;
    double bps = dt > 0.05 ? (double)(b->done - b->start_done) / dt : 0;
    human(bps, speed, sizeof speed);
    int pct = b->total ? (int)(100.0 * (double)b->done / (double)b->total) : (b->finished ? 100 : 0);
    if (pct > 100) pct = 100;
    char meter[21];
    for (int k = 0; k < 20; k++) meter[k] = k < pct / 5 ? '#' : '-';
    meter[20] = 0;
    if (!b->finished && bps > 0 && b->total > b->done)
        snprintf(eta, sizeof eta, "ETA %.0fs", (double)(b->total - b->done) / bps);
    else if (b->finished)
        snprintf(eta, sizeof eta, "%s", b->done == b->start_done ? "cached" : "done");
    fprintf(stderr, "\x1b[2K%-40.40s %3d%% [%s] %9s / %-9s %9s/s %s\n", b->name, pct, meter, done,
            b->total ? total : "?", speed, eta);
}

static void draw(progress_ui *ui) {
    double t = now_s();
    if (ui->drawn) fprintf(stderr, "\x1b[%dA", ui->drawn);
    int w = 0;
    for (int i = 0; i < ui->n; i++) {
        if (ui->bars[i].finished) {
            if (ui->bars[i].done != ui->bars[i].start_done) bar_line(&ui->bars[i], t); /* permanent line */
            continue;
        }
        ui->bars[w++] = ui->bars[i];
    }
    ui->n = w;
    for (int i = 0; i < ui->n; i++) bar_line(&ui->bars[i], t);
    fprintf(stderr, "\x1b[J");
    ui->drawn = ui->n;
    fflush(stderr);
}

static void on_progress(void *user, const char *file, uint64_t done, uint64_t total, int finished) {
    progress_ui *ui = user;
    bar *b = NULL;
    for (int i = 0; i < ui->n; i++) if (strcmp(ui->bars[i].name, file) == 0 && !ui->bars[i].finished) b = &ui->bars[i];
    if (!b) {
        ui->files++;
        if (finished && done == 0) { ui->cached++; return; } /* already in the cache */
        if (ui->n == MAX_BARS) {
            if (!ui->tty) ui->n = 0; /* nothing is drawn; only the totals matter */
            else draw(ui);
            if (ui->n == MAX_BARS) return;
        }
        b = &ui->bars[ui->n++];
        memset(b, 0, sizeof *b);
        snprintf(b->name, sizeof b->name, "%s", file);
        b->t0 = now_s();
        b->start_done = finished ? 0 : done; /* resumed bytes were not fetched now */
        b->done = b->start_done;
    }
    if (done > b->done) ui->bytes += done - b->done;
    b->done = done;
    b->total = total;
    if (finished) b->finished = 1;
    if (!ui->tty) {
        if (finished) *b = ui->bars[--ui->n];
        return;
    }
    double t = now_s();
    if (finished || t - ui->last_draw > 0.1) { ui->last_draw = t; draw(ui); }
}

static void usage(FILE *f) {
    fprintf(f, "usage: llmc download ORG/NAME [--revision R] [--include GLOB]... [--token T] [--cache-dir DIR]\n"
               "  Downloads what text generation needs (config, tokenizer, safetensors) into the Hugging Face\n"
               "  cache shared with huggingface_hub, and prints the snapshot folder. --include picks files\n"
               "  instead (glob, repeatable). Env: HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE.\n");
}

int cmd_download(int argc, char **argv) {
    const char *repo = NULL, *revision = NULL, *token = NULL, *cache = NULL, *val = NULL;
    const char **inc = calloc((size_t)argc + 1, sizeof *inc);
    int n_inc = 0, verbose = 0;
    bool quiet = false;
    if (!inc) return cli_fail("out of memory");
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (cli_is_help(argv[i])) { usage(stdout); free(inc); return 0; }
        if (cli_opt(argc, argv, &i, "--revision", &val, &bad)) { if (bad) goto bad; revision = val; }
        else if (cli_opt(argc, argv, &i, "--include", &val, &bad)) { if (bad) goto bad; inc[n_inc++] = val; }
        else if (cli_opt(argc, argv, &i, "--token", &val, &bad)) { if (bad) goto bad; token = val; }
        else if (cli_opt(argc, argv, &i, "--cache-dir", &val, &bad)) { if (bad) goto bad; cache = val; }
        else if (cli_flag(argv, i, "--quiet") || cli_flag(argv, i, "-q")) quiet = true;
        else if (cli_flag(argv, i, "-v") || cli_flag(argv, i, "--verbose")) verbose++;
        else if (argv[i][0] == '-') { free(inc); return cli_fail("download: unknown option '%s'", argv[i]); }
        else if (!repo) repo = argv[i];
        else { free(inc); return cli_fail("download: unexpected argument '%s'", argv[i]); }
        continue;
    bad:
        free(inc);
        return 2;
    }
    if (!repo) { usage(stderr); free(inc); return 2; }
    cli_install_logger(verbose);
    progress_ui *ui = calloc(1, sizeof *ui);
    if (!ui) { free(inc); return cli_fail("out of memory"); }
    ui->tty = !quiet && isatty(STDERR_FILENO);
    ui->t0 = now_s();
    llmc_hub_opts o;
    llmc_hub_opts_default(&o);
    o.revision = revision;
    o.token = token;
    o.cache_dir = cache;
    o.include = n_inc ? inc : NULL;
    o.n_include = n_inc;
    o.progress = on_progress;
    o.progress_user = ui;
    llmc_error err = {0};
    char *dir = NULL;
    llmc_status st = llmc_hub_snapshot(repo, &o, &dir, &err);
    int rc = 0;
    if (st != LLMC_OK) rc = cli_error(&err);
    else {
        if (!quiet) {
            char b[32];
            human((double)ui->bytes, b, sizeof b);
            double dt = now_s() - ui->t0;
            fprintf(stderr, "llmc: %s: %d file%s (%d already cached), %s downloaded in %.1fs\n", repo, ui->files,
                    ui->files == 1 ? "" : "s", ui->cached, b, dt);
        }
        printf("%s\n", dir);
    }
    free(dir);
    free(ui);
    free(inc);
    return rc;
}
