/* Chat templates: a sandboxed Jinja2 engine (lexer → parser → AST → evaluator) with the
 * semantics transformers configures (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
 * loopcontrols, tojson with ensure_ascii=False, raise_exception, strftime_now), plus loading a
 * model's chat template and applying it to messages as apply_chat_template does. */
#ifndef LLMC_TEMPLATE_TEMPLATE_H
#define LLMC_TEMPLATE_TEMPLATE_H
#include "llmc.h"
#include <cjson/cJSON.h>

typedef struct llmc_template llmc_template;

/* Options of one render: the limits that bound untrusted template code, and the clock.
 * Zero fields take the defaults. */
typedef struct {
    unsigned long long max_steps; /* evaluation steps (nodes, loop iterations, builtin work units) */
    int max_depth;                /* nesting of macro calls / evaluation recursion */
    size_t max_output;            /* bytes of rendered output */
    size_t max_string;            /* bytes of any one string value */
    size_t max_items;             /* items of any one list / dict, range() length */
    long long now;                /* strftime_now's clock: 0 reads the real clock (local time, as
                                     datetime.now()); else seconds since the epoch, broken down in UTC
                                     (tests and goldens fix it so they hold on any day) */
} llmc_template_limits;

/* A compiled template is immutable: it may be rendered from several threads at once. */
llmc_status llmc_template_compile(const char *src, size_t len, const char *name /* for errors */,
                                  llmc_template **out, llmc_error *err);
void llmc_template_free(llmc_template *t);
/* Renders with variables from a JSON object: each key becomes a variable. vars may be NULL.
 * *out is malloc'd and NUL-terminated (the text itself may hold NULs: use *out_len). */
llmc_status llmc_template_render(const llmc_template *t, const cJSON *vars, char **out, size_t *out_len,
                                 llmc_error *err);
/* Same, with explicit limits (NULL: defaults). */
llmc_status llmc_template_render_ex(const llmc_template *t, const cJSON *vars, const llmc_template_limits *limits,
                                    char **out, size_t *out_len, llmc_error *err);

/* A model's chat template + the template variables tokenizer_config.json defines (bos_token, eos_token, ... as strings). */
typedef struct llmc_chat_template llmc_chat_template;
/* source: a model dir (chat_template.jinja preferred if present, else tokenizer_config.json "chat_template" — a
 * string, or a list of {name, template}: use "default"; "tool_use" is used when tools are given, as is
 * additional_chat_templates/tool_use.jinja), a tokenizer_config.json, a tokenizer.json (its directory), a .jinja
 * file (special tokens from a tokenizer_config.json beside it, if any), or a .gguf file (tokenizer.chat_template,
 * special tokens from the tokenizer.ggml.*_token_id keys). */
llmc_status llmc_chat_template_load(const char *source, llmc_chat_template **out, llmc_error *err);
/* From template text + special-token variables (JSON object, may be NULL) — used for GGUF files. */
llmc_status llmc_chat_template_from_text(const char *text, size_t len, const cJSON *special_vars, const char *name,
                                         llmc_chat_template **out, llmc_error *err);
void llmc_chat_template_free(llmc_chat_template *ct);
/* messages: JSON array of message objects (role, content, tool_calls, ...). tools/extra may be NULL.
 * extra: object of extra variables applied last. */
llmc_status llmc_chat_template_apply(const llmc_chat_template *ct, const cJSON *messages, const cJSON *tools,
                                     bool add_generation_prompt, const cJSON *extra, char **out, size_t *out_len,
                                     llmc_error *err);
/* cJSON keeps no int/float distinction, but templates print 1.0 and 1 differently (Python does).
 * After parsing JSON text, call this to mark the numbers written with a fraction or exponent
 * (it sets LLMC_TEMPLATE_JSON_FLOAT in their type; cJSON ignores the bit). Unmarked integral
 * numbers render as ints. Returns false (marking nothing) when text and tree disagree. */
#define LLMC_TEMPLATE_JSON_FLOAT (1 << 12)
bool llmc_template_json_mark_floats(cJSON *root, const char *text, size_t len);

/* The default template's source text (owned by ct), as tokenizer.chat_template shows it. */
const char *llmc_chat_template_text(const llmc_chat_template *ct);
/* Fixes the clock strftime_now reads in later applies (llmc_template_limits.now; 0: the real
 * clock). Call before sharing ct between threads. */
void llmc_chat_template_set_now(llmc_chat_template *ct, long long now);

#endif
