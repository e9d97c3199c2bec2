/* llmc chat — interactive multi-turn chat, as `ollama run` feels: line editing and history
 * (libedit when the build found it, else plain lines), multi-line input between """ marks, slash
 * commands that never reach the model, and a conversation that keeps going when it outgrows the
 * context (the oldest turns are dropped, the system prompt kept, with a one-line notice). The
 * conversation's KV cache is reused across turns (only the new turn is prefilled). */
#include "cli.h"
#include "model_args.h"
#include "base/file.h"
#include "base/json.h"
#include "base/strbuf.h"
#include "pipeline/pipeline_internal.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef LLMC_HAVE_EDIT
#include <editline/readline.h>
#endif

#define CHAT_MAX_INPUT (1u << 20)   /* bytes of one message, multi-line included */
#define CHAT_MAX_LOAD (16u << 20)   /* bytes of a conversation file for /load */

static void help(void) {
    printf("usage: llmc chat MODEL [--system TEXT]\n\n"
           "Interactive chat. Type a message and press Enter; wrap a multi-line message in \"\"\" ... \"\"\".\n"
           "Type /help for the commands. Ctrl-C stops the reply being written; Ctrl-D or /bye quits.\n\n"
           "  --system TEXT        system message\n\n");
    cli_model_args_help(stdout, true);
}

static void commands_help(void) {
    printf("commands:\n"
           "  /help, /?              this list\n"
           "  /bye, /exit            quit (Ctrl-D too)\n"
           "  /reset                 start a new conversation (the system message stays)\n"
           "  /system TEXT           set the system message (and start over)\n"
           "  /set                   show the generation settings\n"
           "  /set NAME VALUE        temperature, top_p, top_k, min_p, repetition_penalty, seed, max_new_tokens\n"
           "  /set greedy | sample   turn sampling off or on\n"
           "  /save FILE, /load FILE the conversation as a JSON array of {role, content}\n"
           "  \"\"\"                    begin (and end) a multi-line message\n");
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

/* Drops the oldest exchange after the system message: the first user message and every message up
 * to the next user message. False when nothing but the newest turn is left. */
static bool drop_oldest_turn(history *h, int base) {
    int end = base + 1;
    while (end < h->n && strcmp(h->m[end].role, "user") != 0) end++;
    if (end >= h->n) return false;
    for (int i = base; i < end; i++) { free(h->m[i].role); free(h->m[i].content); }
    memmove(h->m + base, h->m + end, (size_t)(h->n - end) * sizeof *h->m);
    h->n -= end - base;
    return true;
}

typedef struct {
    cli_model_args *a;
    llmc_pipeline *p;
    history h;
    int base;             /* 1 when h.m[0] is the system message */
    bool tty;
    volatile int *cancel;
} chat;

/* One line from the terminal (libedit) or stdin, without its newline; NULL at end of input.
 * *interrupted: Ctrl-C at the prompt. */
static char *read_line(chat *c, const char *prompt, bool *interrupted) {
    *interrupted = false;
    *c->cancel = 0;
#ifdef LLMC_HAVE_EDIT
    if (c->tty) {
        char *l = readline(prompt);
        if (!l && *c->cancel) *interrupted = true;
        if (l && *l) add_history(l);
        return l;
    }
#endif
    if (c->tty) { fputs(prompt, stdout); fflush(stdout); }
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        if (errno == EINTR && *c->cancel) { clearerr(stdin); *interrupted = true; }
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    return line;
}

/* A message: one line, or the lines between """ marks (the marks may share a line with text). */
static char *read_message(chat *c, bool *interrupted, bool *eof) {
    *eof = false;
    char *first = read_line(c, ">>> ", interrupted);
    if (!first) { *eof = !*interrupted; return NULL; }
    if (strncmp(first, "\"\"\"", 3) != 0) return first;
    llmc_strbuf sb;
    llmc_sb_init(&sb);
    const char *rest = first + 3;
    size_t rl = strlen(rest);
    if (rl >= 3 && strcmp(rest + rl - 3, "\"\"\"") == 0) { /* """one line""" */
        llmc_sb_append(&sb, rest, rl - 3);
        free(first);
        return llmc_sb_take(&sb);
    }
    llmc_sb_append(&sb, rest, rl);
    bool started = rl > 0;
    free(first);
    for (;;) {
        char *l = read_line(c, "... ", interrupted);
        if (!l) { llmc_sb_free(&sb); *eof = !*interrupted; return NULL; }
        size_t n = strlen(l);
        bool end = n >= 3 && strcmp(l + n - 3, "\"\"\"") == 0;
        if (started && !(end && n == 3)) llmc_sb_append(&sb, "\n", 1); /* a closing """ alone adds no line */
        llmc_sb_append(&sb, l, end ? n - 3 : n);
        started = true;
        free(l);
        if (sb.len > CHAT_MAX_INPUT) { fprintf(stderr, "llmc: message longer than %u bytes: dropped\n", CHAT_MAX_INPUT); llmc_sb_free(&sb); return strdup(""); }
        if (end) break;
    }
    return llmc_sb_take(&sb);
}

static void show_settings(const llmc_gen_params *g) {
    printf("sampling: %s\n", g->do_sample < 0 ? "the model's default" : g->do_sample ? "on" : "off (greedy)");
#define SHOWF(name, v) do { if ((v) < 0) printf("  %-20s the model's default\n", name); else printf("  %-20s %g\n", name, (double)(v)); } while (0)
    SHOWF("temperature", g->temperature);
    SHOWF("top_p", g->top_p);
    SHOWF("top_k", (double)g->top_k);
    SHOWF("min_p", g->min_p);
    SHOWF("repetition_penalty", g->repetition_penalty);
    SHOWF("max_new_tokens", (double)g->max_new_tokens);
#undef SHOWF
    if (g->has_seed) printf("  %-20s %llu\n", "seed", (unsigned long long)g->seed);
    else printf("  %-20s random\n", "seed");
}

/* /set NAME VALUE: the same ranges as the command-line flags. */
static void set_param(llmc_gen_params *g, const char *args) {
    char name[64] = "", value[128] = "";
    if (sscanf(args, "%63s %127s", name, value) < 1) { show_settings(g); return; }
    double d = 0;
    long long n = 0;
    bool has_v = value[0] != 0;
    if (!strcmp(name, "greedy")) { g->do_sample = 0; printf("(greedy decoding)\n"); return; }
    if (!strcmp(name, "sample")) { g->do_sample = 1; printf("(sampling on)\n"); return; }
    if (!has_v) { printf("usage: /set %s VALUE\n", name); return; }
    if (!strcmp(name, "temperature") && cli_parse_double(value, &d) && d >= 0) { g->temperature = (float)d; g->do_sample = d > 0; }
    else if (!strcmp(name, "top_p") && cli_parse_double(value, &d) && d > 0 && d <= 1) g->top_p = (float)d;
    else if (!strcmp(name, "min_p") && cli_parse_double(value, &d) && d >= 0 && d <= 1) g->min_p = (float)d;
    else if (!strcmp(name, "top_k") && cli_parse_int(value, 0, 1 << 30, &n)) g->top_k = (int)n;
    else if (!strcmp(name, "repetition_penalty") && cli_parse_double(value, &d) && d > 0) g->repetition_penalty = (float)d;
    else if (!strcmp(name, "max_new_tokens") && cli_parse_int(value, 1, 1 << 24, &n)) g->max_new_tokens = (int)n;
    else if (!strcmp(name, "seed") && cli_parse_int(value, 0, (long long)9e18, &n)) { g->seed = (uint64_t)n; g->has_seed = true; }
    else {
        printf("cannot set '%s' to '%s' (temperature >= 0, top_p in (0, 1], min_p in [0, 1], top_k >= 0, "
               "repetition_penalty > 0, max_new_tokens >= 1, seed >= 0)\n", name, value);
        return;
    }
    printf("(%s = %s)\n", name, value);
}

static void save_conversation(const history *h, const char *path) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < h->n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", h->m[i].role);
        cJSON_AddStringToObject(m, "content", h->m[i].content);
        cJSON_AddItemToArray(arr, m);
    }
    char *txt = arr ? cJSON_Print(arr) : NULL;
    FILE *f = txt ? fopen(path, "w") : NULL;
    bool ok = f && fputs(txt, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = false;
    if (ok) printf("(saved %d messages to %s)\n", h->n, path);
    else fprintf(stderr, "llmc: error: cannot write %s: %s\n", path, strerror(errno));
    free(txt);
    cJSON_Delete(arr);
}

static void load_conversation(chat *c, const char *path) {
    llmc_error err = {0};
    cJSON *arr = llmc_json_parse_file(path, CHAT_MAX_LOAD, &err);
    if (!arr) { cli_error(&err); return; }
    history h = {0};
    bool ok = cJSON_IsArray(arr);
    int i = 0;
    for (const cJSON *m = ok ? arr->child : NULL; m && ok; m = m->next, i++) {
        const char *role = llmc_json_get_string(m, "role"), *content = llmc_json_get_string(m, "content");
        if (!role || !content || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system") && strcmp(role, "tool"))) {
            fprintf(stderr, "llmc: error: %s: message %d needs a role (system, user, assistant, tool) and a string content\n", path, i);
            ok = false;
        } else if (!push(&h, role, content)) ok = false;
    }
    if (!cJSON_IsArray(arr)) fprintf(stderr, "llmc: error: %s: expected a JSON array of messages\n", path);
    cJSON_Delete(arr);
    if (!ok) { truncate_to(&h, 0); free(h.m); return; }
    truncate_to(&c->h, 0);
    free(c->h.m);
    c->h = h;
    c->base = h.n && !strcmp(h.m[0].role, "system");
    printf("(loaded %d messages from %s)\n", h.n, path);
}

/* Handles a slash command; returns 1 to quit (exit status 0), 0 otherwise. */
static int command(chat *c, const char *line) {
    const char *sp = strchr(line, ' ');
    size_t cl = sp ? (size_t)(sp - line) : strlen(line);
    const char *args = sp ? sp + 1 : "";
    while (*args == ' ') args++;
#define IS(name) (cl == strlen(name) && strncmp(line, name, cl) == 0)
    if (IS("/bye") || IS("/exit") || IS("/quit")) return 1;
    if (IS("/help") || IS("/?")) commands_help();
    else if (IS("/reset") || IS("/clear")) { truncate_to(&c->h, c->base); printf("(new conversation)\n"); }
    else if (IS("/system")) {
        if (!*args) { printf("usage: /system TEXT\n"); return 0; }
        truncate_to(&c->h, 0);
        push(&c->h, "system", args);
        c->base = 1;
        printf("(system message set; new conversation)\n");
    } else if (IS("/set")) set_param(&c->a->gen, args);
    else if (IS("/save")) { if (*args) save_conversation(&c->h, args); else printf("usage: /save FILE\n"); }
    else if (IS("/load")) { if (*args) load_conversation(c, args); else printf("usage: /load FILE\n"); }
    else printf("unknown command '%.*s' (not sent to the model; /help lists the commands)\n", (int)cl, line);
#undef IS
    return 0;
}

/* One user turn; drops the oldest turns while the conversation is past the context. Returns 2 when
 * the chat cannot go on (out of memory), else 0. */
static int turn(chat *c, const char *text) {
    if (!push(&c->h, "user", text)) { fprintf(stderr, "llmc: error: out of memory\n"); return 2; }
    llmc_message *conv = NULL;
    int n_conv = 0;
    llmc_gen_stats st = {0};
    llmc_error err = {0};
    llmc_status s;
    while ((s = llmc_pipeline_chat(c->p, c->h.m, c->h.n, &c->a->gen, &conv, &n_conv, &st, &err)) == LLMC_ERR_RANGE &&
           strstr(err.msg, "context") && drop_oldest_turn(&c->h, c->base))
        fprintf(stderr, "(the conversation outgrew the context: dropped the oldest turn)\n");
    if (s != LLMC_OK) {
        fputc('\n', stdout);
        cli_error(&err);
        truncate_to(&c->h, c->h.n - 1); /* the turn did not happen */
        return 0;
    }
    fputc('\n', stdout);
    if (st.stop == LLMC_STOP_CANCELLED) fputs("(stopped)\n", stdout);
    push(&c->h, "assistant", conv[n_conv - 1].content);
    llmc_messages_free(conv, n_conv);
    /* Keep room for the next reply: past three quarters of the context, forget the oldest turn now. */
    int ctx = llmc_pipeline_context(c->p);
    if (ctx > 0 && st.prompt_tokens + st.generated_tokens > ctx / 4 * 3 && drop_oldest_turn(&c->h, c->base))
        fprintf(stderr, "(the conversation is near the context of %d tokens: dropped the oldest turn)\n", ctx);
    if (c->a->verbose)
        fprintf(stderr, "llmc: prompt %d tokens (%d reused from the cache), %d generated, stop: %s, ttft %.1f ms, %.1f tok/s\n",
                st.prompt_tokens, st.reused_tokens, st.generated_tokens, llmc_stop_reason_name(st.stop), st.ttft_ms,
                st.decode_tokens_per_s);
    return 0;
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
    chat c = {.a = &a, .tty = isatty(0) && isatty(1)};
    c.p = cli_open_pipeline(&a, false);
    if (!c.p) return 1;
    c.cancel = cli_catch_sigint(); /* Ctrl-C at the prompt interrupts the read */
    a.gen.cancel = c.cancel;
    a.gen.on_text = cli_stream_stdout;
    if (system) { push(&c.h, "system", system); c.base = 1; }
    if (c.tty) fprintf(stderr, "llmc chat — /help for commands, \"\"\" for multi-line, /bye or Ctrl-D to quit, Ctrl-C stops a reply\n");
    int rc = 0;
    for (;;) {
        bool interrupted, eof;
        char *line = read_message(&c, &interrupted, &eof);
        if (!line) {
            if (interrupted) { fputs("\n(use /bye or Ctrl-D to quit)\n", stdout); continue; }
            if (c.tty) fputc('\n', stdout);
            break;
        }
        int quit = 0;
        if (line[0] == '/') quit = command(&c, line);
        else if (line[0]) quit = turn(&c, line);
        free(line);
        if (quit) { rc = quit > 1 ? 1 : 0; break; }
    }
    truncate_to(&c.h, 0);
    free(c.h.m);
    llmc_pipeline_free(c.p);
    return rc;
}
