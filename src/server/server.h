/* OpenAI-compatible HTTP server over one pipeline (libmicrohttpd): what `llmc serve`
 * runs. Endpoints: POST /v1/chat/completions and POST /v1/completions (plain text, no chat
 * template) — JSON or, with "stream": true, server-sent events — GET /v1/models, GET /health
 * (with the engine's running/queued counts) and GET /metrics (Prometheus text). On a CPU model
 * requests run on the multi-sequence engine (generate/engine.h): `parallel` sequences decode
 * together in each step; further requests wait in a queue of max_queue and beyond that get
 * HTTP 429 (never a dropped connection: the connection limit covers both); "n" > 1 samples
 * share one prefill; a prefix cache keeps KV blocks of recent prompts. A model placed on a GPU
 * runs one generation at a time (its backend holds one KV cache). A client that disconnects
 * mid-stream cancels its generation and its KV memory is freed at the next step. Bodies, connections and idle time are bounded; with an API key every
 * /v1 request needs "Authorization: Bearer <key>" (compared in constant time, never
 * logged). Built when libmicrohttpd is found; otherwise llmc_server_start says so. */
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
typedef struct {
    char *messages_json;    /* the messages array, content parts joined into strings */
    char *tools_json;       /* or NULL */
    llmc_gen_params g;      /* defaults, then the request's fields; unset ones: the model's generation_config */
    char *stops[16];
    int n_stops;
    bool stream, include_usage;
    int n;                  /* choices (OpenAI's n), 1..16 */
    char *prompt;           /* /v1/completions: the text (no chat template), or NULL for a chat */
    bool echo;              /* /v1/completions: the reply starts with the prompt */
} llmc_server_request;

/* A /v1/chat/completions body → request. Errors (LLMC_ERR_FORMAT for malformed JSON or a
   wrong type, naming the field; LLMC_ERR_UNSUPPORTED for options llmc does not implement)
   become HTTP 400 with the message. */
llmc_status llmc_server_parse_chat(const char *body, size_t len, const llmc_gen_params *defaults, llmc_server_request *r, llmc_error *err);
/* A /v1/completions body (a "prompt" string; echo) → request, with the same errors. */
llmc_status llmc_server_parse_completion(const char *body, size_t len, const llmc_gen_params *defaults, llmc_server_request *r,
                                         llmc_error *err);
void llmc_server_request_free(llmc_server_request *r);

#endif
