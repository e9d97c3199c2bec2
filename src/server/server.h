/* OpenAI-compatible HTTP server over one pipeline (libmicrohttpd): what `llmc serve`
 * runs. Endpoints: POST /v1/chat/completions and POST /v1/completions (plain text, no chat
 * template) — JSON or, with "stream": true, server-sent events — GET /v1/models and
 * GET /v1/models/{id}, GET /health (with the engine's running/queued counts) and GET /metrics
 * (Prometheus text). On a CPU model requests run on the multi-sequence engine
 * (generate/engine.h): `parallel` sequences decode together in each step; further requests wait
 * in a queue of max_queue and beyond that get HTTP 429 (never a dropped connection: the
 * connection limit covers both); "n" > 1 samples share one prefill; a prefix cache keeps KV
 * blocks of recent prompts. A model placed on a GPU runs one generation at a time (its backend
 * holds one KV cache). A client that disconnects mid-stream cancels its generation and its KV
 * memory is freed at the next step.
 *
 * OpenAI semantics: stop strings are cut from the reply (a stream holds back text that may still
 * become one); response_format json_object / json_schema and llama-server's "grammar" constrain
 * the reply (src/grammar); tools go through the model's chat template and the reply's calls come
 * back as message.tool_calls (streamed as delta.tool_calls), tool_choice "required" or a named
 * function forcing a call by constrained decoding. A request's "model" must name the served
 * model (llmc_server_model_matches), else 404 model_not_found.
 *
 * Bodies, connections and idle time are bounded; with an API key every request but GET /health
 * needs "Authorization: Bearer <key>", checked before routing (compared in constant time, never
 * logged). Error messages name the request's fault and never show server paths or template
 * internals (the log has those). Built when libmicrohttpd is found; otherwise
 * llmc_server_start says so. */
#ifndef LLMC_SERVER_SERVER_H
#define LLMC_SERVER_SERVER_H
#include "llmc.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *host;       /* address to bind; NULL → "127.0.0.1" */
    int port;               /* 0 → any free port (llmc_server_port tells which) */
    const char *api_key;    /* NULL or "" → no authentication */
    const char *model_name; /* the id /v1/models and responses report */
    const char *model_source; /* the MODEL it was loaded from (Hub id or path; may be NULL): also accepted
                                 as a request's "model", as are its last path component with and without
                                 ".gguf"; never shown in a reply */
    size_t max_body;        /* request body limit in bytes; 0 → 8 MiB */
    int max_connections;    /* 0 → 32 */
    int idle_timeout_s;     /* 0 → 120 */
    const llmc_gen_params *defaults; /* what a request leaves unset (NULL: the model's generation_config) */
    int parallel;           /* sequences decoded together; 0 → 4 */
    int max_queue;          /* requests waiting beyond those; 0 → 128; -1 → none (429 at once) */
    int step_tokens;        /* tokens per engine step (decodes + prompt chunks); 0 → 64 */
    size_t kv_budget;       /* KV bytes the running sequences may reserve; 0 → 4 GiB */
    size_t prefix_cache;    /* prefix cache bytes; 0 → 256 MiB; (size_t)-1 → off */
    bool batch_f32;         /* engine steps with quantized weights as f32 tiles (engine.h f32_tiles) */
} llmc_server_opts;

typedef struct llmc_server llmc_server;

bool llmc_server_built(void);
/* Starts serving p (which must outlive the server) on its own threads. */
llmc_status llmc_server_start(llmc_pipeline *p, const llmc_server_opts *o, llmc_server **out, llmc_error *err);
int llmc_server_port(const llmc_server *s);
/* Stops accepting, cancels running generations, waits for the connection threads. */
void llmc_server_stop(llmc_server *s);

/* ---- request parsing (no HTTP: unit-tested directly) ---- */
#define LLMC_SERVER_MAX_TOOLS 128
typedef enum {
    LLMC_TOOL_CHOICE_AUTO = 0, /* the model may call a tool (tools rendered, calls parsed) */
    LLMC_TOOL_CHOICE_NONE,     /* tools are not rendered, the reply is text */
    LLMC_TOOL_CHOICE_REQUIRED, /* constrained to a call of one of the tools */
    LLMC_TOOL_CHOICE_NAMED     /* constrained to a call of tool_name */
} llmc_tool_choice;

typedef struct {
    char *messages_json;    /* the messages array, checked and normalized: content parts joined into strings,
                               "developer" as "system", assistant tool_calls' arguments as objects */
    char *tools_json;       /* the tools (checked), or NULL (none, or tool_choice "none") */
    llmc_gen_params g;      /* defaults, then the request's fields; unset ones: the model's generation_config.
                               g.cut_stop_strings is set (OpenAI's stop); g.json_schema / g.grammar point
                               into json_schema / grammar below */
    char *stops[16];
    int n_stops;
    bool stream, include_usage;
    int n;                  /* choices (OpenAI's n), 1..16 */
    char *prompt;           /* /v1/completions: the text (no chat template), or NULL for a chat */
    bool echo;              /* /v1/completions: the reply starts with the prompt */
    char *model;            /* the request's "model", or NULL when absent or "" */
    char *json_schema;      /* response_format: json_schema's schema (JSON text), "" for json_object, or NULL */
    char *grammar;          /* llama-server's "grammar" (GBNF), or NULL */
    llmc_tool_choice tool_choice;
    char *tool_name;        /* LLMC_TOOL_CHOICE_NAMED: the function */
    bool parallel_tool_calls; /* false: only the first call is kept */
    char *tool_names[LLMC_SERVER_MAX_TOOLS]; /* the tools' function names (a call to another is not a call) */
    int n_tools;
} llmc_server_request;

/* A /v1/chat/completions body → request. Errors (LLMC_ERR_FORMAT for malformed JSON or a
   wrong type, naming the field; LLMC_ERR_UNSUPPORTED for options llmc does not implement)
   become HTTP 400 with the message. */
llmc_status llmc_server_parse_chat(const char *body, size_t len, const llmc_gen_params *defaults, llmc_server_request *r, llmc_error *err);
/* A /v1/completions body (a "prompt" string; echo) → request, with the same errors. */
llmc_status llmc_server_parse_completion(const char *body, size_t len, const llmc_gen_params *defaults, llmc_server_request *r,
                                         llmc_error *err);
void llmc_server_request_free(llmc_server_request *r);

/* Whether a request's "model" names the served model: model_name, model_source, or model_source's
   last path component with or without ".gguf" (trailing slashes ignored). */
bool llmc_server_model_matches(const char *model, const char *model_name, const char *model_source);

/* ---- tool calls (server_tools.c) ---- */

/* What the model's chat template does with tools (found in its source text). */
typedef struct {
    bool tools;       /* it renders a "tools" list */
    bool tool_calls;  /* it renders assistant messages' tool_calls */
    int format;       /* llmc_tool_format (grammar/toolcall.h) the model's calls take */
} llmc_server_template_caps;
void llmc_server_template_caps_of(const char *template_text, int format, llmc_server_template_caps *out);
/* The messages (JSON array text, as parsed) made ready for a template with caps: with tools on and a
   template that ignores them, a system message describing the tools and the call format is put
   first (llama.cpp's generic tool prompt); with a template that ignores tool_calls, an assistant
   message's calls become its content, written in the model's call format. *out is malloc'd. */
llmc_status llmc_server_prepare_messages(const llmc_server_request *r, const llmc_server_template_caps *caps, char **out,
                                         llmc_error *err);

/* The reply's tool calls as OpenAI's message.tool_calls: parses reply (per template family, via
   llmc_tool_calls_parse), keeps only calls to r's tools (and the first when parallel_tool_calls is
   false). *tool_calls: a malloc'd JSON array [{"id","type":"function","function":{"name","arguments"
   (JSON text)}}], NULL when the reply holds no call; *content: the text outside the calls (malloc'd),
   or NULL when there is none. ids: "call_" + 24 random letters and digits. */
llmc_status llmc_server_tool_calls(const llmc_server_request *r, const char *reply, char **tool_calls, char **content, llmc_error *err);
/* "call_" + 24 random alphanumerics into id (at least 30 bytes). */
void llmc_server_call_id(char *id, size_t n);

/* Streaming: turns a reply's pieces into OpenAI deltas, as content or as tool calls — a call's
   header (index, id, function name) once its name is complete, then fragments of its arguments as
   they arrive. Text that may still turn out to be a call waits. */
typedef struct {
    void (*content)(void *user, const char *text, size_t len);
    void (*call_header)(void *user, int index, const char *id, const char *name);
    void (*call_args)(void *user, int index, const char *frag, size_t len);
    void *user;
} llmc_server_delta_sink;

#define LLMC_SERVER_MAX_CALLS 16
typedef struct llmc_server_tool_stream llmc_server_tool_stream;
/* r's tools (none: every piece is content at once). */
llmc_server_tool_stream *llmc_server_tool_stream_new(const llmc_server_request *r);
void llmc_server_tool_stream_free(llmc_server_tool_stream *t);
/* The next piece of the reply (final: the reply is complete; then everything left goes out). */
void llmc_server_tool_stream_push(llmc_server_tool_stream *t, const char *piece, size_t len, bool final, const llmc_server_delta_sink *sink);
/* Calls whose header went out, and whether each of them is complete (its object closed). */
int llmc_server_tool_stream_calls(const llmc_server_tool_stream *t, bool *all_complete);

/* The calls scanned out of a reply so far, for streaming (offsets into the text scanned). */
typedef struct {
    size_t name_at, name_len; bool name_done;   /* the name's JSON string, quotes included */
    size_t args_at, args_len; bool args_done;   /* the arguments' JSON value as written so far */
    bool done;                                  /* the call's object is closed */
} llmc_server_call_span;
/* Scans text (a reply from where its calls begin: an optional <|python_tag|>, [TOOL_CALLS], <tool_call>
   or '[', then call objects separated by ';', ',', whitespace or </tool_call><tool_call>). Returns
   how many calls it found, the last possibly incomplete; max at most LLMC_SERVER_MAX_CALLS. */
int llmc_server_scan_calls(const char *text, size_t len, llmc_server_call_span *calls, int max);

/* ---- metrics (server_metrics.c) ---- */
typedef struct llmc_server_metrics llmc_server_metrics;
llmc_server_metrics *llmc_server_metrics_new(void);
void llmc_server_metrics_free(llmc_server_metrics *m);
/* One HTTP response: endpoint label (a route, or "other") and status code. */
void llmc_server_metrics_response(llmc_server_metrics *m, const char *endpoint, unsigned status);
/* One finished generation: finish reason ("stop", "length", "tool_calls", "cancelled"), tokens in and
   out (all choices), time to first token and end to end, in seconds. */
void llmc_server_metrics_generation(llmc_server_metrics *m, const char *finish, int prompt_tokens, int generated_tokens, double ttft_s,
                                    double e2e_s);
/* Prometheus text exposition (format 0.0.4): the counters and histograms above, the gauges given
   (running and waiting requests, KV use) and the engine's counters. malloc'd. */
typedef struct {
    int running, waiting;
    size_t kv_used, kv_budget, prefix_bytes;
    long long steps, prefill_computed, prefix_hit_tokens, prefix_evicted, rejected;
} llmc_server_gauges;
char *llmc_server_metrics_format(llmc_server_metrics *m, const llmc_server_gauges *g);

#endif
