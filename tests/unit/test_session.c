/* The public many-conversations API (include/llmc.h) on SmolLM2 (Q4_1, CPU): the golden
 * conversations through llmc_pipeline_chat_batch give transformers' greedy replies; a session
 * keeps its turns and its second turn loads the first one's KV blocks from the prefix cache;
 * four threads with a session each, at once, get the same replies; misuse fails by name. */
#include "test.h"
#include "base/json.h"
#include "llmc.h"
#include <pthread.h>

/* a reply cut at max_new_tokens may end in half a UTF-8 character, flushed as U+FFFD */
static bool starts(const char *reply, const char *want) {
    if (!reply || !*reply) return false;
    size_t n = strlen(reply);
    while (n >= 3 && !memcmp(reply + n - 3, "\xEF\xBF\xBD", 3)) n -= 3;
    return strncmp(reply, want, n) == 0;
}

static char *conv_json(const cJSON *c) {
    return cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "messages"));
}

typedef struct {
    llmc_pipeline *p;
    char *r1, *r2;
    llmc_status st;
} sess_job;

static void *sess_worker(void *arg) {
    sess_job *j = arg;
    llmc_gen_params g;
    llmc_gen_params_default(&g);
    g.do_sample = 0;
    g.max_new_tokens = 20;
    llmc_session *s = NULL;
    llmc_error err = {0};
    j->st = llmc_session_new(j->p, "You are a pirate chatbot who always responds in pirate speak!", &s, &err);
    if (!j->st) j->st = llmc_session_chat(s, "Who are you?", &g, &j->r1, NULL, &err);
    if (!j->st) j->st = llmc_session_chat(s, "Where do you sail?", &g, &j->r2, NULL, &err);
    if (j->st) fprintf(stderr, "session: %s\n", err.msg);
    llmc_session_free(s);
    return NULL;
}

int main(void) {
    char rpath[1024];
    snprintf(rpath, sizeof rpath, "%s/tests/golden/pipeline/smollm2.json", test_env("LLMC_SOURCE_DIR", "."));
    llmc_error err = {0};
    cJSON *ref = llmc_json_parse_file(rpath, 1 << 24, &err);
    CHECK_MSG(ref != NULL, "%s", err.msg);
    if (!ref) return test_summary();
    llmc_pipeline_opts po;
    llmc_pipeline_opts_default(&po);
    po.model = test_smollm2_gguf();
    po.device = "cpu";
    po.n_threads = 2;
    po.max_context = 1024;
    llmc_pipeline *p = NULL;
    CHECK_INT(llmc_pipeline_create(&po, &p, &err), LLMC_OK);
    if (!p) return test_summary();

    /* a session before batching is on: refused by name */
    llmc_session *s = NULL;
    CHECK_INT(llmc_session_new(p, NULL, &s, &err), LLMC_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "enable_batching") != NULL);

    /* the golden conversations at once (batching comes on by itself) */
    const cJSON *convs = cJSON_GetObjectItem(ref, "conversations");
    char *jsons[3], *replies[3];
    const char *want[3];
    llmc_gen_stats st[3];
    llmc_status sts[3];
    int n = 0;
    for (const cJSON *c = convs->child; c && n < 3; c = c->next, n++) {
        jsons[n] = conv_json(c);
        want[n] = cJSON_GetObjectItem(c, "reply")->valuestring;
    }
    llmc_gen_params g;
    llmc_gen_params_default(&g);
    g.do_sample = 0;
    g.max_new_tokens = 16;
    CHECK_INT(llmc_pipeline_chat_batch(p, (const char *const *)jsons, n, &g, replies, st, sts, &err), LLMC_OK);
    for (int i = 0; i < n; i++) {
        CHECK_INT(sts[i], LLMC_OK);
        CHECK_MSG(starts(replies[i], want[i]),
                  "conversation %d: '%s' is not the start of transformers' '%.60s'", i, replies[i] ? replies[i] : "(null)", want[i]);
        CHECK(st[i].generated_tokens >= 1 && st[i].generated_tokens <= 16);
        free(replies[i]);
    }
    /* once more: the same replies, prompts partly from the prefix cache */
    CHECK_INT(llmc_pipeline_chat_batch(p, (const char *const *)jsons, n, &g, replies, st, NULL, &err), LLMC_OK);
    for (int i = 0; i < n; i++) {
        CHECK(starts(replies[i], want[i]));
        if (st[i].prompt_tokens > 33) CHECK_MSG(st[i].reused_tokens >= 32, "conversation %d reused %d", i, st[i].reused_tokens);
        free(replies[i]);
        free(jsons[i]);
    }
    llmc_batching_opts bo = {0};
    CHECK_INT(llmc_pipeline_enable_batching(p, &bo, &err), LLMC_ERR_INVALID_ARG);

    /* a session: two turns, the second reuses the first's blocks */
    CHECK_INT(llmc_session_new(p, "You are a pirate chatbot who always responds in pirate speak!", &s, &err), LLMC_OK);
    char *r1 = NULL, *r2 = NULL;
    llmc_gen_stats s1, s2;
    g.max_new_tokens = 20;
    CHECK_INT(llmc_session_chat(s, "Who are you?", &g, &r1, &s1, &err), LLMC_OK);
    CHECK(starts(r1, want[0]));
    CHECK_INT(llmc_session_chat(s, "Where do you sail?", &g, &r2, &s2, &err), LLMC_OK);
    CHECK_MSG(s2.reused_tokens >= 32, "the second turn reused %d tokens", s2.reused_tokens);
    const llmc_message *msgs;
    CHECK_INT(llmc_session_messages(s, &msgs), 5);
    CHECK_STR(msgs[4].role, "assistant");
    CHECK_STR(msgs[4].content, r2);
    char *r3 = NULL;
    CHECK_INT(llmc_session_chat(s, NULL, &g, &r3, &s2, &err), LLMC_ERR_INVALID_ARG);
    llmc_session_free(s);

    /* four sessions on four threads at once: the replies of one alone */
    sess_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (sess_job){.p = p};
        pthread_create(&th[i], NULL, sess_worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(jobs[i].st, LLMC_OK);
        CHECK_MSG(jobs[i].r1 && jobs[i].r2 && strcmp(jobs[i].r1, r1) == 0 && strcmp(jobs[i].r2, r2) == 0,
                  "thread %d: '%s' / '%s' vs alone '%s' / '%s'", i, jobs[i].r1, jobs[i].r2, r1, r2);
        free(jobs[i].r1);
        free(jobs[i].r2);
    }
    free(r1);
    free(r2);

    /* the JSON batch call (the Python package's list of inputs): a conversation, a plain text and
       a conversation the template rejects; each result in order, the bad one an error entry */
    {
        char *conv0 = conv_json(convs->child);
        const char *msgs[3] = {conv0, NULL, "[{\"role\": \"user\", \"content\": 1}]"};
        const char *texts[3] = {NULL, "The capital of France is", NULL};
        char *res = NULL;
        CHECK_INT(llmc_pipeline_generate_batch_json(p, 3, msgs, texts, "{\"max_new_tokens\": 16, \"do_sample\": false}", NULL, &res, &err),
                  LLMC_ERR_TEMPLATE);
        cJSON *arr = res ? cJSON_Parse(res) : NULL;
        CHECK_MSG(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == 3, "%s", res ? res : "(no results)");
        if (cJSON_GetArraySize(arr) == 3) {
            const cJSON *t0 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "text");
            CHECK_MSG(cJSON_IsString(t0) && starts(t0->valuestring, want[0]), "batch conversation 0: %s", res);
            const cJSON *t1 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "text");
            char *alone = NULL;
            llmc_gen_params gt;
            llmc_gen_params_default(&gt);
            gt.do_sample = 0;
            gt.max_new_tokens = 16;
            CHECK_INT(llmc_pipeline_complete(p, "The capital of France is", &gt, &alone, NULL, &err), LLMC_OK);
            CHECK_MSG(cJSON_IsString(t1) && alone && strcmp(t1->valuestring, alone) == 0, "batch text '%s' vs alone '%s'",
                      cJSON_IsString(t1) ? t1->valuestring : "?", alone ? alone : "?");
            free(alone);
            const cJSON *e2 = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 2), "error"), "message");
            CHECK_MSG(cJSON_IsString(e2) && strlen(e2->valuestring) > 0, "the bad conversation's error entry: %s", res);
        }
        cJSON_Delete(arr);
        free(res);
        /* an input with both or neither of messages and text, an unknown key: refused by name */
        const char *both_m[1] = {conv0}, *both_t[1] = {"x"};
        CHECK_INT(llmc_pipeline_generate_batch_json(p, 1, both_m, both_t, "{}", NULL, &res, &err), LLMC_ERR_INVALID_ARG);
        CHECK(strstr(err.msg, "input 0") != NULL);
        CHECK_INT(llmc_pipeline_generate_batch_json(p, 1, both_m, NULL, "{\"tokens\": 3}", NULL, &res, &err), LLMC_ERR_INVALID_ARG);
        CHECK(strstr(err.msg, "'tokens'") != NULL);
        CHECK(res == NULL);
        free(conv0);
    }
    llmc_pipeline_free(p);
    cJSON_Delete(ref);
    return test_summary();
}
