/* Sampler processors against transformers' own LogitsProcessorList on constructed
 * logits (tests/golden/make_sampling_fixtures.py): the same ids survive and the
 * processed scores match (repetition penalty, temperature, top-k, top-p, min-p and
 * their combination, with transformers' defaults such as top_k = 50). */
#include "base/json.h"
#include "generate/sampler.h"
#include "test.h"

int main(void) {
    const char *src = test_env("LLMC_SOURCE_DIR", ".");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/sampling/processors.json", src);
    llmc_error err = {0};
    cJSON *root = llmc_json_parse_file(path, 16u << 20, &err);
    CHECK_MSG(root != NULL, "%s", err.msg);
    if (!root) return test_summary();
    const cJSON *c;
    int ncases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "params");
        llmc_sampling s;
        llmc_sampling_default(&s);
        s.do_sample = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "do_sample"));
        s.temperature = (float)cJSON_GetObjectItemCaseSensitive(p, "temperature")->valuedouble;
        s.top_k = (int)cJSON_GetObjectItemCaseSensitive(p, "top_k")->valuedouble;
        s.top_p = (float)cJSON_GetObjectItemCaseSensitive(p, "top_p")->valuedouble;
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(p, "min_p");
        s.min_p = cJSON_IsNumber(mp) ? (float)mp->valuedouble : 0.0f;
        s.repetition_penalty = (float)cJSON_GetObjectItemCaseSensitive(p, "repetition_penalty")->valuedouble;
        s.has_seed = true;
        s.seed = 7;

        const cJSON *jl = cJSON_GetObjectItemCaseSensitive(c, "logits");
        const cJSON *jh = cJSON_GetObjectItemCaseSensitive(c, "history");
        const cJSON *je = cJSON_GetObjectItemCaseSensitive(c, "expected");
        int vocab = cJSON_GetArraySize(jl), nh = cJSON_GetArraySize(jh);
        float *x = malloc((size_t)vocab * sizeof *x), *y = malloc((size_t)vocab * sizeof *y);
        int32_t *h = malloc((size_t)(nh ? nh : 1) * sizeof *h);
        for (int i = 0; i < vocab; i++) x[i] = (float)cJSON_GetArrayItem(jl, i)->valuedouble;
        for (int i = 0; i < nh; i++) h[i] = (int32_t)cJSON_GetArrayItem(jh, i)->valuedouble;
        memcpy(y, x, (size_t)vocab * sizeof *x);

        llmc_sampler *smp = llmc_sampler_new(&s);
        llmc_sampler_process(smp, x, vocab, h, nh);
        int survivors_bad = 0, value_bad = 0, first = -1;
        for (int i = 0; i < vocab; i++) {
            const cJSON *e = cJSON_GetArrayItem(je, i);
            bool exp_kept = cJSON_IsNumber(e), got_kept = x[i] > -INFINITY;
            if (exp_kept != got_kept) { survivors_bad++; if (first < 0) first = i; }
            else if (exp_kept && fabs((double)x[i] - e->valuedouble) > 1e-6 * (1 + fabs(e->valuedouble))) {
                value_bad++;
                if (first < 0) first = i;
            }
        }
        CHECK_MSG(survivors_bad == 0 && value_bad == 0, "%s: %d ids kept/removed differently, %d values differ (first id %d: %g vs %s)",
                  name, survivors_bad, value_bad, first, first >= 0 ? x[first] : 0.0,
                  first >= 0 && cJSON_IsNumber(cJSON_GetArrayItem(je, first)) ? "a number" : "-inf");
        /* greedy choice on the processed scores, and the sampler's pick is a survivor */
        int greedy = (int)cJSON_GetObjectItemCaseSensitive(c, "greedy")->valuedouble;
        int32_t pick = llmc_sampler_sample(smp, y, vocab, h, nh);
        if (!s.do_sample) CHECK_MSG(pick == greedy, "%s: greedy picked %d, transformers %d", name, pick, greedy);
        else CHECK_MSG(pick >= 0 && pick < vocab && cJSON_IsNumber(cJSON_GetArrayItem(je, pick)), "%s: sampled %d, which transformers filtered out", name, pick);
        llmc_sampler_free(smp);
        free(x);
        free(y);
        free(h);
        ncases++;
    }
    CHECK(ncases >= 10);
    cJSON_Delete(root);
    return test_summary();
}
