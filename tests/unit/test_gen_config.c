/* generation_config.json parsing: what transformers reads, null = unset, eos as int
 * or list, values on top of existing ones, and clear errors for bad input. */
#include "base/json.h"
#include "generate/gen_config.h"
#include "test.h"
#include <unistd.h>

static llmc_status parse(const char *json, llmc_gen_config *g, llmc_error *err) {
    return llmc_gen_config_parse(json, strlen(json), "generation_config.json", g, err);
}

/* Resolution against transformers (tests/golden/sampling/resolve.json): the pipeline's
 * _prepare_generate_kwargs + generate()'s _prepare_generation_config and lengths. */
static void test_resolve(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/sampling/resolve.json", test_env("LLMC_SOURCE_DIR", "."));
    llmc_error err = {0};
    cJSON *root = llmc_json_parse_file(path, 4u << 20, &err);
    CHECK_MSG(root != NULL, "%s", err.msg);
    if (!root) return;
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        llmc_gen_config model, call, out;
        llmc_gen_config_default(&model);
        /* ids from the model's config.json, as the pipeline fills them before the file */
        model.eos_ids[0] = 2; model.n_eos = 1; model.bos_id = 1;
        const cJSON *mj = cJSON_GetObjectItemCaseSensitive(c, "model_json");
        if (cJSON_IsObject(mj)) {
            char *t = cJSON_PrintUnformatted(mj);
            CHECK(llmc_gen_config_parse(t, strlen(t), "model", &model, &err) == LLMC_OK);
            free(t);
        }
        llmc_gen_config_default(&call);
        char *t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "call"));
        CHECK(llmc_gen_config_parse(t, strlen(t), "call", &call, &err) == LLMC_OK);
        int n_prompt = (int)cJSON_GetObjectItemCaseSensitive(c, "n_prompt")->valuedouble;
        int max_pos = (int)cJSON_GetObjectItemCaseSensitive(c, "max_pos")->valuedouble;
        const char *modes[2] = {"pipeline", "generate"};
        for (int m = 0; m < 2; m++) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(c, modes[m]);
            llmc_gen_config_resolve(&model, &call, m == 0, n_prompt, max_pos, &out);
            const cJSON *mp = cJSON_GetObjectItemCaseSensitive(e, "min_p");
            bool ok = out.sampling.do_sample == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "do_sample")) &&
                      fabs(out.sampling.temperature - cJSON_GetObjectItemCaseSensitive(e, "temperature")->valuedouble) < 1e-6 &&
                      out.sampling.top_k == (int)cJSON_GetObjectItemCaseSensitive(e, "top_k")->valuedouble &&
                      fabs(out.sampling.top_p - cJSON_GetObjectItemCaseSensitive(e, "top_p")->valuedouble) < 1e-6 &&
                      fabs(out.sampling.min_p - (cJSON_IsNumber(mp) ? mp->valuedouble : 0.0)) < 1e-6 &&
                      fabs(out.sampling.repetition_penalty - cJSON_GetObjectItemCaseSensitive(e, "repetition_penalty")->valuedouble) < 1e-6 &&
                      out.max_new_tokens == (int)cJSON_GetObjectItemCaseSensitive(e, "budget")->valuedouble &&
                      out.max_length == n_prompt + out.max_new_tokens;
            const cJSON *eos = cJSON_GetObjectItemCaseSensitive(e, "eos");
            ok = ok && out.n_eos == cJSON_GetArraySize(eos);
            for (int i = 0; ok && i < out.n_eos; i++) ok = out.eos_ids[i] == (int32_t)cJSON_GetArrayItem(eos, i)->valuedouble;
            CHECK_MSG(ok, "%s model=%s call=%s: got do_sample=%d T=%g k=%d p=%g minp=%g rep=%g budget=%d n_eos=%d",
                      modes[m], cJSON_GetObjectItemCaseSensitive(c, "model")->valuestring, t, out.sampling.do_sample,
                      out.sampling.temperature, out.sampling.top_k, out.sampling.top_p, out.sampling.min_p,
                      out.sampling.repetition_penalty, out.max_new_tokens, out.n_eos);
        }
        free(t);
        n++;
    }
    CHECK(n >= 30);
    cJSON_Delete(root);
    /* NULL call, seeds carried from the call */
    llmc_gen_config model, call, out;
    llmc_gen_config_default(&model);
    llmc_gen_config_resolve(&model, NULL, false, 5, 0, &out);
    CHECK(out.max_new_tokens == 20 && !out.sampling.do_sample);
    llmc_gen_config_default(&call);
    call.sampling.seed = 9; call.sampling.has_seed = true;
    llmc_gen_config_resolve(&model, &call, true, 5, 0, &out);
    CHECK(out.sampling.has_seed && out.sampling.seed == 9 && out.max_new_tokens == 256 && out.sampling.do_sample);
}

int main(void) {
    test_resolve();
    llmc_gen_config g;
    llmc_error err = {0};
    llmc_gen_config_default(&g);
    CHECK(!g.sampling.do_sample && g.sampling.top_k == 50 && g.sampling.top_p == 1.0f && g.sampling.temperature == 1.0f);
    CHECK(g.max_new_tokens == -1 && g.max_length == -1 && g.n_eos == 0 && g.bos_id == -1 && g.pad_id == -1 && g.set == 0);

    /* SmolLM2's file: ids only */
    g.eos_ids[0] = 7; g.n_eos = 1; /* from the model config, overridden below */
    CHECK_MSG(parse("{\"_from_model_config\": true, \"bos_token_id\": 1, \"eos_token_id\": 2, \"pad_token_id\": 2, "
                    "\"transformers_version\": \"4.42.3\"}", &g, &err) == LLMC_OK, "%s", err.msg);
    CHECK(g.bos_id == 1 && g.pad_id == 2 && g.n_eos == 1 && g.eos_ids[0] == 2);
    CHECK(!g.sampling.do_sample && g.sampling.top_k == 50);
    CHECK(g.set == (LLMC_GEN_SET_BOS | LLMC_GEN_SET_EOS | LLMC_GEN_SET_PAD));

    /* Llama 3.x style: sampling defaults and an eos list (duplicates collapse) */
    llmc_gen_config_default(&g);
    CHECK_MSG(parse("{\"bos_token_id\": 128000, \"do_sample\": true, \"eos_token_id\": [128001, 128008, 128009, 128001],"
                    " \"temperature\": 0.6, \"top_p\": 0.9, \"top_k\": null, \"min_p\": 0.05, \"repetition_penalty\": 1.1,"
                    " \"max_new_tokens\": 512, \"max_length\": 4096}", &g, &err) == LLMC_OK, "%s", err.msg);
    CHECK(g.sampling.do_sample && fabsf(g.sampling.temperature - 0.6f) < 1e-7f && fabsf(g.sampling.top_p - 0.9f) < 1e-7f);
    CHECK(g.sampling.top_k == 50); /* null = unset: the default stays */
    CHECK(fabsf(g.sampling.min_p - 0.05f) < 1e-7f && fabsf(g.sampling.repetition_penalty - 1.1f) < 1e-7f);
    CHECK(g.n_eos == 3 && g.eos_ids[0] == 128001 && g.eos_ids[1] == 128008 && g.eos_ids[2] == 128009);
    CHECK(g.max_new_tokens == 512 && g.max_length == 4096 && g.bos_id == 128000);
    CHECK((g.set & LLMC_GEN_SET_TOP_K) == 0 && (g.set & LLMC_GEN_SET_DO_SAMPLE) && (g.set & LLMC_GEN_SET_TEMPERATURE));

    /* errors leave g untouched and name the field */
    llmc_gen_config before = g;
    static const struct { const char *json, *needle; llmc_status code; } bad[] = {
        {"{\"temperature\": \"hot\"}", "temperature", LLMC_ERR_FORMAT},
        {"{\"top_p\": 1.5}", "top_p", LLMC_ERR_FORMAT},
        {"{\"min_p\": -0.1}", "min_p", LLMC_ERR_FORMAT},
        {"{\"top_k\": -1}", "top_k", LLMC_ERR_FORMAT},
        {"{\"top_k\": 2.5}", "top_k", LLMC_ERR_FORMAT},
        {"{\"repetition_penalty\": 0}", "repetition_penalty", LLMC_ERR_FORMAT},
        {"{\"do_sample\": 1}", "do_sample", LLMC_ERR_FORMAT},
        {"{\"max_new_tokens\": -5}", "max_new_tokens", LLMC_ERR_FORMAT},
        {"{\"eos_token_id\": -1}", "eos_token_id", LLMC_ERR_FORMAT},
        {"{\"eos_token_id\": [1, \"x\"]}", "eos_token_id", LLMC_ERR_FORMAT},
        {"{\"eos_token_id\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}", "17 ids", LLMC_ERR_UNSUPPORTED},
        {"{\"eos_token_id\": \"2\"}", "eos_token_id", LLMC_ERR_FORMAT},
        {"[1, 2]", "object", LLMC_ERR_FORMAT},
        {"{\"top_p\": 0.9", "generation_config.json", LLMC_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        llmc_error e = {0};
        llmc_status st = parse(bad[i].json, &g, &e);
        CHECK_MSG(st == bad[i].code, "%s: status %d (%s)", bad[i].json, st, e.msg);
        CHECK_MSG(strstr(e.msg, bad[i].needle) != NULL, "%s: message '%s' lacks '%s'", bad[i].json, e.msg, bad[i].needle);
        CHECK_MSG(memcmp(&g, &before, sizeof g) == 0, "%s changed the config", bad[i].json);
    }
    /* temperature 0 is accepted (greedy), unknown keys ignored, empty object fine */
    CHECK(parse("{\"temperature\": 0.0, \"num_beams\": 1, \"some_future_key\": {\"a\": [1]}}", &g, &err) == LLMC_OK);
    CHECK(g.sampling.temperature == 0.0f);
    CHECK(parse("{}", &g, &err) == LLMC_OK);

    /* files */
    llmc_error e = {0};
    CHECK_INT(llmc_gen_config_load("/nonexistent/generation_config.json", &g, &e), LLMC_ERR_NOT_FOUND);
    char path[] = "/tmp/llmc_gen_config_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        const char *j = "{\"do_sample\": true, \"top_k\": 20}";
        CHECK(write(fd, j, strlen(j)) == (ssize_t)strlen(j));
        close(fd);
        llmc_gen_config_default(&g);
        CHECK_MSG(llmc_gen_config_load(path, &g, &e) == LLMC_OK, "%s", e.msg);
        CHECK(g.sampling.do_sample && g.sampling.top_k == 20);
        unlink(path);
    }
    return test_summary();
}
