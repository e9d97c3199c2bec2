/* llmc tokenize SOURCE (--text T | --file F) [--no-special] — prints the ids as a JSON
 * array (special tokens added as transformers' encode does unless --no-special).
 * llmc detokenize lives in cmd_detokenize.c; both share tok_cli_load. */
#include "cli.h"
#include "base/error.h"
#include "base/file.h"
#include "tokenizer/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SOURCE: model dir, tokenizer.json, tokenizer_config.json, a .jinja beside them, or .gguf. */
llmc_status tok_cli_load(const char *source, llmc_tokenizer **t, llmc_error *err);
llmc_status tok_cli_load(const char *source, llmc_tokenizer **t, llmc_error *err) {
    if (llmc_str_endswith(source, ".jinja")) {
        char *dir = llmc_path_dirname(source);
        llmc_status rc = llmc_tokenizer_load(dir ? dir : ".", t, err);
        free(dir);
        return rc;
    }
    return llmc_tokenizer_load(source, t, err);
}

static void usage(FILE *f) {
    fprintf(f, "usage: llmc tokenize SOURCE (--text TEXT | --file FILE) [--no-special]\n\n"
               "Prints the token ids of the text as a JSON array.\n"
               "SOURCE: a model directory, tokenizer.json, tokenizer_config.json or a .gguf file.\n\n"
               "  --text TEXT     the text (UTF-8)\n"
               "  --file FILE     read the text from FILE ('-' = stdin), byte for byte\n"
               "  --no-special    do not add the special tokens (BOS, ...) the tokenizer adds by default\n");
}

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b) return NULL;
    size_t r;
    while ((r = fread(b + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap) {
            if (cap > ((size_t)1 << 31)) { free(b); return NULL; }
            char *nb = realloc(b, cap * 2);
            if (!nb) { free(b); return NULL; }
            b = nb; cap *= 2;
        }
    }
    *len = n;
    return b;
}

int cmd_tokenize(int argc, char **argv) {
    const char *source = NULL, *text = NULL, *file = NULL, *v;
    bool special = true, bad = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { usage(stdout); return 0; }
        if (cli_opt(argc, argv, &i, "--text", &v, &bad)) { if (bad) return 2; text = v; continue; }
        if (cli_opt(argc, argv, &i, "--file", &v, &bad)) { if (bad) return 2; file = v; continue; }
        if (cli_flag(argv, i, "--no-special")) { special = false; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_fail("tokenize: unknown option '%s' (see llmc tokenize --help)", argv[i]);
        if (source) return cli_fail("tokenize: more than one SOURCE given ('%s', '%s')", source, argv[i]);
        source = argv[i];
    }
    if (!source || (!text && !file)) { usage(stderr); return 2; }
    if (text && file) return cli_fail("tokenize: give --text or --file, not both");
    llmc_error err = {0};
    char *buf = NULL;
    size_t len = 0;
    if (file) {
        if (!strcmp(file, "-")) {
            if (!(buf = read_stdin(&len))) return cli_fail("tokenize: cannot read stdin");
        } else if (llmc_read_file(file, (size_t)1 << 31, &buf, &len, &err) != LLMC_OK) return cli_error(&err);
        text = buf;
    } else len = strlen(text);
    llmc_tokenizer *t = NULL;
    int rc = 0;
    int32_t *ids = NULL;
    size_t n = 0;
    if (tok_cli_load(source, &t, &err) != LLMC_OK) { rc = cli_error(&err); goto done; }
    if (llmc_tokenizer_encode(t, text, len, special, &ids, &n, &err) != LLMC_OK) { rc = cli_error(&err); goto done; }
    putchar('[');
    for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    puts("]");
    if (fflush(stdout) != 0) rc = cli_fail("tokenize: write to stdout failed");
done:
    free(ids);
    free(buf);
    llmc_tokenizer_free(t);
    return rc;
}
