/* Chat-template benchmark: compile time of a template and the time to apply it to a
 * 20-message conversation (llmc_chat_template_apply: message preparation + render), median
 * of N batches. Prints one JSON line. usage: template_bench TEMPLATE.jinja REPEATS */
#include "template/template.h"
#include "base/file.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static cJSON *bench_conversation(void) {
    cJSON *msgs = cJSON_CreateArray();
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddStringToObject(m, "content", "You are a helpful assistant. Answer briefly and precisely.");
    cJSON_AddItemToArray(msgs, m);
    for (int i = 1; i < 20; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, "Message %d: %s", i,
                 i % 2 ? "Could you explain how the attention mechanism in transformers works, in a few sentences?"
                       : "  It computes weighted sums of value vectors, with weights from query-key similarity. 🙂");
        m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", i % 2 ? "user" : "assistant");
        cJSON_AddStringToObject(m, "content", buf);
        cJSON_AddItemToArray(msgs, m);
    }
    return msgs;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: template_bench TEMPLATE.jinja REPEATS\n"); return 2; }
    int reps = atoi(argv[2]);
    if (reps < 1) reps = 1;
    char *text;
    size_t len;
    llmc_error err = { 0 };
    if (llmc_read_file(argv[1], 1 << 24, &text, &len, &err) != LLMC_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    cJSON *special = cJSON_Parse("{\"bos_token\": \"<|begin_of_text|>\", \"eos_token\": \"<|eot_id|>\"}");
    cJSON *extra = cJSON_Parse("{\"date_string\": \"26 Jul 2024\"}");
    cJSON *msgs = bench_conversation();
    double *compile = calloc((size_t)reps, sizeof(double)), *apply = calloc((size_t)reps, sizeof(double));
    size_t out_len = 0;
    const int inner = 200;
    for (int r = 0; r < reps; r++) {
        llmc_chat_template *ct = NULL;
        double t0 = now_s();
        if (llmc_chat_template_from_text(text, len, special, argv[1], &ct, &err) != LLMC_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
        compile[r] = now_s() - t0;
        t0 = now_s();
        for (int k = 0; k < inner; k++) {
            char *out;
            if (llmc_chat_template_apply(ct, msgs, NULL, true, extra, &out, &out_len, &err) != LLMC_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
            free(out);
        }
        apply[r] = (now_s() - t0) / inner;
        llmc_chat_template_free(ct);
    }
    qsort(compile, (size_t)reps, sizeof(double), cmp_d);
    qsort(apply, (size_t)reps, sizeof(double), cmp_d);
    printf("{\"compile_us\": %.1f, \"apply_us\": %.2f, \"apply_min_us\": %.2f, \"apply_max_us\": %.2f, \"prompt_bytes\": %zu}\n",
           compile[reps / 2] * 1e6, apply[reps / 2] * 1e6, apply[0] * 1e6, apply[reps - 1] * 1e6, out_len);
    free(compile); free(apply); free(text);
    cJSON_Delete(special); cJSON_Delete(extra); cJSON_Delete(msgs);
    return 0;
}
