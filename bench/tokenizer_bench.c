/* Tokenizer benchmark (not a test): load time and single-thread encode throughput of
 * llmc's tokenizer on a text file. Built and run by bench/tokenizer_bench.sh.
 * usage: tokenizer_bench SOURCE TEXTFILE [REPEATS] → one JSON line. Load time includes reading the file. */
#include "tokenizer/tokenizer.h"
#include "base/file.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s SOURCE TEXTFILE [REPEATS]\n", argv[0]); return 2; }
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1 || reps > 100) reps = 5;
    llmc_error err = {0};
    char *text; size_t len;
    if (llmc_read_file(argv[2], 1u << 30, &text, &len, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double load[100], enc[100], encl[100];
    size_t n_ids = 0;
    for (int r = 0; r < reps; r++) {
        llmc_tokenizer *t = NULL;
        double t0 = now();
        /* a tokenizer.json is loaded alone (no tokenizer_config.json), as Tokenizer.from_file does */
        char *js; size_t jl;
        if (llmc_str_endswith(argv[1], "tokenizer.json")) {
            if (llmc_read_file(argv[1], 1u << 30, &js, &jl, &err) ||
                llmc_tokenizer_from_json(js, jl, NULL, 0, argv[1], &t, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            free(js);
        } else if (llmc_tokenizer_load(argv[1], &t, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        load[r] = now() - t0;
        int32_t *ids; size_t n;
        t0 = now();
        if (llmc_tokenizer_encode(t, text, len, false, &ids, &n, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        enc[r] = now() - t0;
        n_ids = n;
        free(ids);
        /* the same text as ~4 KB chunks cut at newlines (prompt-sized calls) */
        t0 = now();
        for (size_t off = 0; off < len;) {
            size_t end = off + 4096 < len ? off + 4096 : len;
            while (end < len && text[end - 1] != '\n') end++;
            if (llmc_tokenizer_encode(t, text + off, end - off, false, &ids, &n, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            free(ids);
            off = end;
        }
        encl[r] = now() - t0;
        llmc_tokenizer_free(t);
    }
    qsort(load, reps, sizeof *load, cmpd);
    qsort(enc, reps, sizeof *enc, cmpd);
    qsort(encl, reps, sizeof *encl, cmpd);
    printf("{\"load_ms\": %.1f, \"encode_s\": %.4f, \"mb_per_s\": %.2f, \"chunks_mb_per_s\": %.2f, \"n_ids\": %zu, \"bytes\": %zu}\n",
           load[reps / 2] * 1e3, enc[reps / 2], len / 1e6 / enc[reps / 2], len / 1e6 / encl[reps / 2], n_ids, len);
    free(text);
    return 0;
}
