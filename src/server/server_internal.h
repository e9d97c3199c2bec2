/* What the server's HTTP files share (server.c: daemon, routes, errors; server_gen.c:
 * generations, replies and streams). Only built with libmicrohttpd. */
#ifndef LLMC_SERVER_INTERNAL_H
#define LLMC_SERVER_INTERNAL_H
#ifdef LLMC_HAVE_MHD
#include "server/server.h"
#include "generate/engine.h"
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

struct llmc_server {
    struct MHD_Daemon *d;
    llmc_pipeline *p;
    char *model_name, *model_source, *api_key;
    size_t max_body;
    int port;
    const llmc_gen_params *defaults;
    pthread_mutex_t gen_mu;  /* without the engine: one generation at a time */
    pthread_mutex_t prep_mu; /* template rendering and tokenizing (not re-entrant) */
    llmc_engine *eng;        /* NULL: a GPU model, one generation at a time */
    pthread_mutex_t id_mu;
    unsigned long long next_id;
    volatile int stopping;
    llmc_server_metrics *metrics;
    llmc_server_template_caps caps; /* what the chat template does with tools (srv_learn_template) */
    bool caps_known;
    atomic_int serial_running, serial_waiting; /* without the engine, for /metrics and /health */
};

/* Responses, each counted in the metrics under endpoint. */
enum MHD_Result srv_send_text(llmc_server *s, struct MHD_Connection *c, const char *endpoint, unsigned code, const char *ctype, char *text);
enum MHD_Result srv_send_json(llmc_server *s, struct MHD_Connection *c, const char *endpoint, unsigned code, cJSON *j);
enum MHD_Result srv_send_error(llmc_server *s, struct MHD_Connection *c, const char *endpoint, unsigned code, const char *msg,
                               const char *type, const char *ecode);
/* OpenAI's error object {"error": {"message", "type", "code"}}. */
cJSON *srv_error_json(const char *msg, const char *type, const char *code);
/* A failure as HTTP: status code, error type and code. */
unsigned srv_status_http(llmc_status st, const char **type, const char **code);
/* The text a client may see for a failure: its own faults as they are, template internals and
   server-side failures as a short sentence (the full message goes to the log); server paths never. */
void srv_public_message(const llmc_server *s, llmc_status st, const char *msg, char *out, size_t n);
/* "chatcmpl-..." / "cmpl-..." */
void srv_make_id(llmc_server *s, bool chat, char *id, size_t n);
double srv_now_s(void);
/* Fills s->caps at the first call (the caller holds prep_mu). */
void srv_learn_template(llmc_server *s);

/* A parsed chat or completion request, answered (blocking JSON or a stream); takes rq's contents.
   t_arrival: srv_now_s() when the request came in. */
enum MHD_Result srv_answer(llmc_server *s, struct MHD_Connection *c, const char *endpoint, llmc_server_request *rq, double t_arrival);

#endif
#endif
