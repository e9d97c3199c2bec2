/* llmc — public C API.
 *
 * The library never prints and never exits: every fallible call returns an
 * llmc_status and fills an llmc_error whose message names the file, field or
 * position at fault. Diagnostics go through the log callback set with
 * llmc_set_log_callback (silent by default). Whoever creates an object frees
 * it; every *_free(NULL) is a no-op.
 */
#ifndef LLMC_H
#define LLMC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMC_VERSION "0.1.0"

typedef enum {
    LLMC_OK = 0,
    LLMC_ERR_INVALID_ARG,   /* caller passed something unusable */
    LLMC_ERR_IO,            /* open/read/write/mmap failed */
    LLMC_ERR_FORMAT,        /* a file's content is malformed or hostile */
    LLMC_ERR_UNSUPPORTED,   /* well-formed, but something llmc does not implement */
    LLMC_ERR_NOMEM,         /* allocation failed or a size limit was hit */
    LLMC_ERR_RANGE,         /* a value is out of bounds (prompt past context, id past vocab) */
    LLMC_ERR_TEMPLATE,      /* chat template error (syntax, runtime, raise_exception) */
    LLMC_ERR_NETWORK,       /* HTTP / connection failure */
    LLMC_ERR_AUTH,          /* 401/403 from the Hub */
    LLMC_ERR_NOT_FOUND,     /* model, revision or file does not exist */
    LLMC_ERR_CANCELLED,     /* stopped by the caller */
    LLMC_ERR_DEVICE,        /* accelerator/driver failure */
    LLMC_ERR_INTERNAL,
    LLMC_ERR_BUSY           /* a queue or concurrency limit is full: try again later (HTTP 429) */
} llmc_status;

#define LLMC_ERROR_MSG_MAX 1024
typedef struct {
    llmc_status code;
    char msg[LLMC_ERROR_MSG_MAX];
} llmc_error;

/* Human name of a status code ("format error", ...). */
const char *llmc_status_name(llmc_status code);

typedef enum { LLMC_LOG_DEBUG = 0, LLMC_LOG_INFO, LLMC_LOG_WARN, LLMC_LOG_ERROR } llmc_log_level;
typedef void (*llmc_log_fn)(llmc_log_level level, const char *msg, void *user);

/* Install a log sink (NULL: silent). Messages never contain access tokens. */
void llmc_set_log_callback(llmc_log_fn fn, void *user);

/* What this build is and what it finds here (`llmc --version`). The strings are static. */
typedef struct {
    const char *version;      /* LLMC_VERSION */
    const char *commit;       /* git commit the build was configured at, or "unknown" */
    bool cuda_built;          /* the CUDA backend is compiled in */
    bool http_server;         /* `llmc serve` is compiled in (libmicrohttpd) */
    const char *cpu_kernel;   /* the CPU kernel family in use: "amx", "avx512", "avx2" or "scalar" */
    char cpu_features[256];   /* the CPU's SIMD features that matter to llmc, space-separated */
    char gpu[256];            /* the first GPU found, or "none (why)" */
} llmc_build_info;
void llmc_get_build_info(llmc_build_info *out);


/* ------------------------------------------------------------------------
 * Text-generation pipeline — the C form of
 *   pipe = pipeline("text-generation", model=..., dtype=..., device_map="auto", token=...)
 *   out = pipe(messages, max_new_tokens=256)
 * ---------------------------------------------------------------------- */
typedef struct llmc_pipeline llmc_pipeline;

/* Progress of a pipeline's creation: Hub downloads (what = the file), then reading the weights
 * from disk (what = LLMC_PROGRESS_LOADING; only when they are not in the page cache yet). */
typedef void (*llmc_progress_fn)(void *user, const char *what, uint64_t done, uint64_t total, int finished);
#define LLMC_PROGRESS_LOADING "loading weights"

typedef struct {
    const char *model;     /* Hub id ("org/name"), model directory, or .gguf file */
    const char *dtype;     /* "auto" (default), "bf16", "f16", "f32" */
    const char *device;    /* "auto" (default), "cpu", "cuda", "cuda:N" */
    const char *token;     /* Hub access token; NULL → HF_TOKEN, then the token file */
    const char *revision;  /* Hub revision; NULL → "main" */
    int n_threads;         /* 0 → all cores */
    int max_context;       /* 0 → the model's max_position_embeddings, bounded by memory */
    llmc_progress_fn progress; void *progress_user;  /* download and loading progress (see llmc_progress_fn) */
    int gpu_layers;        /* -1 (default) → as many layers as fit on the GPU; N → the first N, the rest on the CPU */
    int fast_activations;  /* quantized (GGUF) weights on the CPU: 0 (default) → ~15-bit activations, logits match
                              f32 math on the dequantized weights; 1 → 8-bit activations as llama.cpp: faster
                              (decode ~1.15x; prefill too on K-quants), top-1 may flip where two tokens nearly tie;
                              bf16 weights on a CPU with AMX: prefill on AMX tiles with bf16 activations */
    const char *quantize;  /* NULL or "none" (default); "q8_0" / "q4_0": quantize a float checkpoint's linear weights
                              at load (embeddings and lm_head to q8_0) — less memory, faster decode on the CPU */
} llmc_pipeline_opts;

void llmc_pipeline_opts_default(llmc_pipeline_opts *o);
llmc_status llmc_pipeline_create(const llmc_pipeline_opts *o, llmc_pipeline **out, llmc_error *err);
void llmc_pipeline_free(llmc_pipeline *p);

typedef struct {
    char *role;
    char *content;
} llmc_message;

/* Called with each newly decoded piece of the reply (complete UTF-8). Return non-zero to stop. */
typedef int (*llmc_text_fn)(void *user, const char *piece, size_t len);

/* Generation parameters. Fields left at their "unset" value take the model's
 * generation_config.json, then transformers' defaults. */
typedef struct {
    int max_new_tokens;        /* -1 unset → generation_config, else 256 */
    int do_sample;             /* -1 unset, 0 greedy, 1 sample */
    float temperature;         /* < 0 unset */
    int top_k;                 /* < 0 unset; 0 disables */
    float top_p;               /* < 0 unset */
    float min_p;               /* < 0 unset */
    float repetition_penalty;  /* < 0 unset */
    uint64_t seed; bool has_seed;
    const char *const *stop_strings; int n_stop_strings;
    llmc_text_fn on_text; void *on_text_user;
    volatile int *cancel;      /* polled between tokens; non-zero stops (reason "cancelled") */
    /* Constrained decoding (src/grammar): the reply follows a JSON Schema (json_schema: its text;
       "" = any JSON object, OpenAI's json_object) or a llama.cpp GBNF grammar (grammar; root rule
       "root"). NULL: unconstrained. An invalid or unsupported schema is an error naming its path
       ("$.properties.age.type"). The mask is applied to host logits before the choice (greedy or
       sampled): with a GPU-held head the logits come back to the host each step. A reply cut by
       max_new_tokens stops with reason "length"; otherwise it ends only where the grammar accepts. */
    const char *json_schema;
    const char *grammar;
    bool ignore_eos;           /* keep generating past end-of-sequence tokens, to max_new_tokens (llama.cpp's
                                  --ignore-eos, vLLM's ignore_eos); stop strings still stop */
    bool cut_stop_strings;     /* false (default): a reply stopped by a stop string ends with it, as transformers'
                                  stop_strings; true: as OpenAI's stop (what `llmc serve` sets), the reply ends
                                  before it, and on_text never gets text that may still turn into one (the
                                  longest tail that begins a stop string waits for the next piece) */
} llmc_gen_params;

void llmc_gen_params_default(llmc_gen_params *g);

typedef enum { LLMC_STOP_EOS = 0, LLMC_STOP_LENGTH, LLMC_STOP_STRING, LLMC_STOP_CANCELLED } llmc_stop_reason;
const char *llmc_stop_reason_name(llmc_stop_reason r);

typedef struct {
    llmc_stop_reason stop;
    int prompt_tokens;         /* tokens in the rendered prompt */
    int reused_tokens;         /* prompt tokens whose KV cache was reused from the previous call */
    int generated_tokens;
    double ttft_ms;            /* time to first token */
    double prefill_tokens_per_s;
    double decode_tokens_per_s;
} llmc_gen_stats;

/* One chat turn: messages in; *conv gets the conversation with the assistant's reply
 * appended (or, when the last message is the assistant's, continued), as transformers'
 * pipeline returns in out[0]["generated_text"]. Free it with llmc_messages_free.
 * The KV cache of the longest common prompt prefix with the previous call is reused. */
llmc_status llmc_pipeline_chat(llmc_pipeline *p, const llmc_message *msgs, int n_msgs,
                               const llmc_gen_params *g, llmc_message **conv, int *n_conv,
                               llmc_gen_stats *stats, llmc_error *err);
/* The same with messages as a JSON array string (role/content plus any fields templates use,
 * e.g. tool_calls) and an optional tools JSON array; the reply is returned as a malloc'd string. */
llmc_status llmc_pipeline_chat_json(llmc_pipeline *p, const char *messages_json, const char *tools_json,
                                    const llmc_gen_params *g, char **reply, llmc_gen_stats *stats,
                                    llmc_error *err);
void llmc_messages_free(llmc_message *m, int n);
/* Plain text generation, as pipe("Once upon a time"): the prompt is encoded with the
 * tokenizer's special tokens (BOS...) and no chat template; *reply is the continuation only
 * (malloc'd; transformers' return_full_text=True is prompt + *reply). */
llmc_status llmc_pipeline_complete(llmc_pipeline *p, const char *prompt, const llmc_gen_params *g, char **reply,
                                   llmc_gen_stats *stats, llmc_error *err);

/* ------------------------------------------------------------------------
 * Many conversations on one loaded model at once (continuous batching; a model on the CPU).
 * After llmc_pipeline_enable_batching, any number of threads may each drive their own
 * sessions (or call llmc_pipeline_chat_batch): their turns are decoded together, one token
 * of every running conversation per step, prompts prefilled in chunks between them. A reply
 * is the same ids whether its turn ran alone or beside others (batch-invariant kernels).
 * Prompts that begin with recently seen tokens (a shared system prompt, a session's previous
 * turns) load those KV blocks from a prefix cache instead of recomputing them. While batching
 * is on, use sessions or llmc_pipeline_chat_batch rather than llmc_pipeline_chat, whose single
 * cache must not run at the same time.
 * ---------------------------------------------------------------------- */
typedef struct {
    int parallel;              /* conversations decoded together; 0 → 4 (at most 64) */
    int max_queue;             /* turns that may wait for a slot; 0 → 128; beyond: LLMC_ERR_BUSY */
    size_t kv_budget_bytes;    /* KV memory the running turns may reserve; 0 → 4 GiB; a turn that
                                  can never fit fails with LLMC_ERR_NOMEM naming it */
    size_t prefix_cache_bytes; /* 0 → 256 MiB; (size_t)-1 → no prefix cache */
} llmc_batching_opts;

/* Starts the scheduler (once per pipeline; a second call is LLMC_ERR_INVALID_ARG). o may be NULL.
   A model placed on a GPU → LLMC_ERR_UNSUPPORTED. */
llmc_status llmc_pipeline_enable_batching(llmc_pipeline *p, const llmc_batching_opts *o, llmc_error *err);

/* A conversation: its messages so far. One thread at a time per session; sessions on one
   pipeline are independent and thread-safe to use together. */
typedef struct llmc_session llmc_session;
/* system_prompt may be NULL. Needs llmc_pipeline_enable_batching first. */
llmc_status llmc_session_new(llmc_pipeline *p, const char *system_prompt, llmc_session **out, llmc_error *err);
/* Adds a user message, generates the assistant's reply (blocking; g may be NULL: the model's
   defaults) and adds it too. *reply: malloc'd copy. g->on_text streams the pieces (called on
   the scheduler thread), g->cancel stops the turn. On failure the user message is not kept. */
llmc_status llmc_session_chat(llmc_session *s, const char *user_text, const llmc_gen_params *g, char **reply, llmc_gen_stats *stats,
                              llmc_error *err);
/* The conversation so far (valid until the next llmc_session_chat or llmc_session_free). */
int llmc_session_messages(const llmc_session *s, const llmc_message **msgs);
void llmc_session_free(llmc_session *s);

/* n conversations (each a JSON messages array, as llmc_pipeline_chat_json takes) generated
   together; replies[i] gets each reply (malloc'd, NULL on failure), stats[i] / status[i] (either
   may be NULL) each outcome. Enables batching with the defaults when it is not on yet.
   Returns LLMC_OK when every conversation succeeded, else the first failure (err describes it). */
llmc_status llmc_pipeline_chat_batch(llmc_pipeline *p, const char *const *conversations_json, int n, const llmc_gen_params *g,
                                     char **replies, llmc_gen_stats *stats, llmc_status *status, llmc_error *err);

/* Facts about the loaded model, for --verbose. */
int llmc_pipeline_context(const llmc_pipeline *p);
const char *llmc_pipeline_describe(const llmc_pipeline *p);

/* ------------------------------------------------------------------------
 * The loaded model's tokenizer and chat template (what pipe.tokenizer offers in transformers),
 * for bindings. They behave exactly as `llmc tokenize`, `llmc detokenize` and `llmc template`.
 * Strings and arrays they return are malloc'd: free them with llmc_free.
 * ---------------------------------------------------------------------- */
void llmc_free(void *ptr);
/* tokenizer.encode(text, add_special_tokens=...). */
llmc_status llmc_pipeline_encode(const llmc_pipeline *p, const char *text, size_t len, bool add_special_tokens,
                                 int32_t **ids, size_t *n, llmc_error *err);
/* tokenizer.decode(ids, skip_special_tokens=...). */
llmc_status llmc_pipeline_decode(const llmc_pipeline *p, const int32_t *ids, size_t n, bool skip_special_tokens,
                                 char **text, llmc_error *err);
/* tokenizer.apply_chat_template(messages, tools=..., tokenize=False, add_generation_prompt=...):
 * messages and tools are JSON arrays (tools may be NULL). */
llmc_status llmc_pipeline_apply_template(const llmc_pipeline *p, const char *messages_json, const char *tools_json,
                                         bool add_generation_prompt, char **text, llmc_error *err);
/* A JSON object: bos_token, eos_token, unk_token, pad_token (string or null) and their *_id,
 * vocab_size, generation_eos_token_ids (what ends a reply), chat_template (text or null). */
llmc_status llmc_pipeline_tokenizer_info(const llmc_pipeline *p, char **json, llmc_error *err);
/* Bindings: options and results as JSON objects, so a binding mirrors no C struct.
 * opts_json: {"model": required, "dtype", "device", "token", "revision", "quantize" (strings),
 *             "n_threads", "max_context", "gpu_layers", "fast_activations" (integers)}.
 * An unknown key, or a value of the wrong type or range, is an error naming the key. */
llmc_status llmc_pipeline_create_json(const char *opts_json, llmc_progress_fn progress, void *progress_user,
                                      llmc_pipeline **out, llmc_error *err);
/* One generation: a conversation (messages_json, a JSON array; tools_json a JSON array or NULL),
 * or plain text (messages_json NULL, request "text"). request_json holds the generation options
 * (max_new_tokens, do_sample, temperature, top_k, top_p, min_p, repetition_penalty, seed,
 * stop_strings (list), ignore_eos, cut_stop_strings, json_schema, grammar; unset ones come from the model's
 * generation_config). on_text streams the reply; *cancel (may be NULL) non-zero stops it.
 * *result_json: {"text", "stop" (eos|length|stop_string|cancelled), "prompt_tokens",
 * "reused_tokens", "generated_tokens", "ttft_ms", "prefill_tokens_per_s", "decode_tokens_per_s"}. */
llmc_status llmc_pipeline_generate_json(llmc_pipeline *p, const char *messages_json, const char *tools_json,
                                        const char *request_json, llmc_text_fn on_text, void *user, volatile int *cancel,
                                        char **result_json, llmc_error *err);
/* Several generations at once on the multi-sequence engine (llmc_pipeline_chat_batch; batching
 * is enabled when it is off): input i is the conversation messages_json[i] (a JSON array), or,
 * when texts[i] is non-NULL, the plain text texts[i] (messages_json[i] NULL); exactly one of the
 * two per input. request_json: the options of llmc_pipeline_generate_json, shared by every input;
 * *cancel (may be NULL) non-zero stops every input.
 * *results_json: a JSON array, one entry per input in order: the object llmc_pipeline_generate_json
 * returns, or {"error": {"code", "message"}} for an input that failed. Returns LLMC_OK when every
 * input succeeded, else the first failure (*results_json is still set when the inputs ran). A
 * reply is the same ids whatever else shares the call (batch-invariant kernels). */
llmc_status llmc_pipeline_generate_batch_json(llmc_pipeline *p, int n, const char *const *messages_json, const char *const *texts,
                                              const char *request_json, volatile int *cancel, char **results_json, llmc_error *err);
/* ------------------------------------------------------------------------
 * Tool calls (what `llmc run --tools` and `llmc serve` do with them). Tools go to the chat template
 * as the tools_json of llmc_pipeline_chat_json / llmc_pipeline_apply_template.
 * ---------------------------------------------------------------------- */
/* The calls in a model's reply, in the formats chat templates use: Llama 3 JSON ({"name", "parameters"},
 * an optional <|python_tag|>, several separated by ';'), Hermes/Qwen <tool_call>{...}</tool_call>, Mistral
 * [TOOL_CALLS][{...}]. *calls_json: a JSON array [{"name": string, "arguments": object}], NULL when the
 * reply holds no call; *content: the text outside the calls ("" when none). Both malloc'd (llmc_free).
 * A call-shaped but malformed block is LLMC_ERR_FORMAT naming it. */
llmc_status llmc_parse_tool_calls(const char *reply, char **calls_json, char **content, llmc_error *err);
/* A GBNF grammar (for llmc_gen_params.grammar) that makes the reply a call, in the model's format (from
 * its vocabulary: <tool_call> → Hermes, [TOOL_CALLS] → Mistral, else Llama 3 JSON), to one of tools_json
 * (OpenAI's [{"type": "function", "function": {"name", "parameters"}}]) with arguments valid for its
 * parameters schema; function: only that one (NULL: any) — OpenAI's tool_choice "required" / a named
 * function. *gbnf is malloc'd (llmc_free). An unusable schema is an error naming its path. */
llmc_status llmc_pipeline_tool_grammar(const llmc_pipeline *p, const char *tools_json, const char *function, char **gbnf,
                                       llmc_error *err);

/* Stores a Hub access token where huggingface_hub reads it ($HF_HOME/token), as huggingface_hub.login. */
llmc_status llmc_login(const char *token, llmc_error *err);

#ifdef __cplusplus
}
#endif
#endif
