/* llmc chat — interactive multi-turn chat. The conversation's KV cache is reused across
 * turns (only the new turn is prefilled). Ctrl-C stops the current reply; /reset, /exit. */
#include "cli.h"
#include "model_args.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void) {
    printf("usage: llmc chat MODEL [--system TEXT]\n\n"
           "Interactive chat. Type a message and press Enter. Commands: /reset (new conversation),\n"
           "/exit (or Ctrl-D). Ctrl-C stops the reply being written.\n\n"
           "  --system TEXT        system message\n\n");
    cli_model_args_help(stdout, true);
}

typedef struct { llmc_message *m; int n, cap; } history;

static bool push(history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 16;
        llmc_message *m = realloc(h->m, (size_t)cap * sizeof *m);
        if (!m) return false;
        h->m = m;
        h->cap = cap;
    }
    h->m[h->n].role = strdup(role);
    h->m[h->n].content = strdup(content);
    if (!h->m[h->n].role || !h->m[h->n].content) { free(h->m[h->n].role); free(h->m[h->n].content); return false; }
    h->n++;
    return true;
}

static void truncate_to(history *h, int n) {
    while (h->n > n) { h->n--; free(h->m[h->n].role); free(h->m[h->n].content); }
}

int cmd_chat(int argc, char **argv) {
    cli_model_args a;
    cli_model_args_init(&a);
    const char *system = NULL;
    bool missing = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { help(); return 0; }
        int r = cli_model_args_parse(&a, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *v;
        if (cli_opt(argc, argv, &i, "--system", &v, &missing)) { if (missing) return 2; system = v; }
        else if (argv[i][0] == '-' && argv[i][1]) return cli_fail("chat: unknown option '%s' (see llmc chat --help)", argv[i]);
        else if (!a.pipe.model) a.pipe.model = argv[i];
        else return cli_fail("chat: unexpected argument '%s'", argv[i]);
    }
    if (!a.pipe.model) { help(); return 2; }
    llmc_pipeline *p = cli_open_pipeline(&a, false);
    if (!p) return 1;

    volatile int *cancel = cli_catch_sigint(); /* Ctrl-C at the prompt interrupts the read */
    a.gen.cancel = cancel;
    a.gen.on_text = cli_stream_stdout;

    history h = {0};
    int base = 0;
    if (system) { push(&h, "system", system); base = 1; }
    bool tty = isatty(0);
    if (tty) fprintf(stderr, "llmc chat — /reset for a new conversation, /exit or Ctrl-D to quit, Ctrl-C stops a reply\n");
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        if (tty) { fputs("> ", stdout); fflush(stdout); }
        *cancel = 0;
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno == EINTR && *cancel) { clearerr(stdin); fputs("\n(use /exit or Ctrl-D to quit)\n", stdout); continue; }
            if (tty) fputc('\n', stdout);
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) { truncate_to(&h, base); fputs("(new conversation)\n", stdout); continue; }
        if (!push(&h, "user", line)) { fprintf(stderr, "llmc: error: out of memory\n"); rc = 1; break; }
        llmc_message *conv = NULL;
        int n_conv = 0;
        llmc_gen_stats st = {0};
        llmc_error err = {0};
        if (llmc_pipeline_chat(p, h.m, h.n, &a.gen, &conv, &n_conv, &st, &err) != LLMC_OK) {
            fputc('\n', stdout);
            cli_error(&err);
            truncate_to(&h, h.n - 1); /* the turn did not happen */
            continue;
        }
        fputc('\n', stdout);
        if (st.stop == LLMC_STOP_CANCELLED) fputs("(stopped)\n", stdout);
        push(&h, "assistant", conv[n_conv - 1].content);
        llmc_messages_free(conv, n_conv);
        if (a.verbose)
            fprintf(stderr, "llmc: prompt %d tokens (%d reused from the cache), %d generated, stop: %s, ttft %.1f ms, %.1f tok/s\n",
                    st.prompt_tokens, st.reused_tokens, st.generated_tokens, llmc_stop_reason_name(st.stop), st.ttft_ms,
                    st.decode_tokens_per_s);
    }
    free(line);
    truncate_to(&h, 0);
    free(h.m);
    llmc_pipeline_free(p);
    return rc;
}
