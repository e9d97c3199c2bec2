/* libFuzzer harness: the Jinja engine on untrusted chat templates. Input: template text, then
 * (optional, after FZ_SEP) a JSON object of variables, then a JSON messages array, then a JSON
 * tools array. Compiles, renders under small limits (so each input stays fast), and when that
 * render finishes, applies the template as a chat template (llmc_chat_template_from_text +
 * apply, with tools and the generation prompt) under the engine's default limits. */
#include "fuzz_common.h"
#include "template/template.h"
#include <cjson/cJSON.h>

static const char default_msgs[] =
    "[{\"role\":\"system\",\"content\":\"You are a pirate.\"},{\"role\":\"user\",\"content\":\"Who are you?\"},"
    "{\"role\":\"assistant\",\"content\":\"Arr\",\"tool_calls\":[{\"type\":\"function\",\"function\":"
    "{\"name\":\"f\",\"arguments\":{\"x\":1}}}]},{\"role\":\"tool\",\"content\":\"42\"}]";
static const char default_tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"d\",\"parameters\":"
    "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}}}}}]";

static cJSON *parse_part(const fz_parts *fp, int i, const char *fallback) {
    if (i < fp->count && fp->n[i]) {
        cJSON *j = cJSON_ParseWithLength(fp->p[i], fp->n[i]);
        if (j) return j;
    }
    return fallback ? cJSON_Parse(fallback) : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_tmpdir(); /* quiet logs */
    fz_parts fp;
    fz_split(data, size, &fp);
    llmc_error err;
    llmc_template *t = NULL;
    if (llmc_template_compile(fp.p[0], fp.n[0], "fuzz.jinja", &t, &err) != LLMC_OK) return 0;
    cJSON *vars = parse_part(&fp, 1, NULL);
    if (vars && !cJSON_IsObject(vars)) { cJSON_Delete(vars); vars = NULL; }
    if (!vars) vars = cJSON_CreateObject();
    cJSON *msgs = parse_part(&fp, 2, default_msgs), *tools = parse_part(&fp, 3, default_tools);
    if (!cJSON_GetObjectItemCaseSensitive(vars, "messages") && msgs)
        cJSON_AddItemReferenceToObject(vars, "messages", msgs);
    if (!cJSON_GetObjectItemCaseSensitive(vars, "tools") && tools)
        cJSON_AddItemReferenceToObject(vars, "tools", tools);
    llmc_template_limits lim = { .max_steps = 200000, .max_depth = 64, .max_output = 1u << 20,
                                 .max_string = 1u << 20, .max_items = 1u << 14 };
    char *out = NULL;
    size_t len = 0;
    llmc_status st = llmc_template_render_ex(t, vars, &lim, &out, &len, &err);
    free(out);
    llmc_template_free(t);
    cJSON_Delete(vars);
    if (st == LLMC_OK) {
        cJSON *special = cJSON_Parse("{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\"}");
        llmc_chat_template *ct = NULL;
        if (llmc_chat_template_from_text(fp.p[0], fp.n[0], special, "fuzz.jinja", &ct, &err) == LLMC_OK) {
            out = NULL;
            if (msgs && llmc_chat_template_apply(ct, msgs, tools, true, NULL, &out, &len, &err) == LLMC_OK) free(out);
            llmc_chat_template_free(ct);
        }
        cJSON_Delete(special);
    }
    cJSON_Delete(msgs);
    cJSON_Delete(tools);
    return 0;
}
