/* llmc detokenize SOURCE --ids 1,2,3 [--skip-special] — prints the decoded text byte
 * for byte (nothing added), as transformers' decode gives it. */
#include "cli.h"
#include "base/error.h"
#include "tokenizer/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

llmc_status tok_cli_load(const char *source, llmc_tokenizer **t, llmc_error *err);

static void usage(FILE *f) {
    fprintf(f, "usage: llmc detokenize SOURCE --ids 1,2,3 [--skip-special]\n\n"
               "Prints the text the token ids decode to (no newline added).\n"
               "SOURCE: a model directory, tokenizer.json, tokenizer_config.json or a .gguf file.\n\n"
               "  --ids LIST        comma-separated ids (a JSON array works too)\n"
               "  --skip-special    leave special tokens out of the text\n");
}

int cmd_detokenize(int argc, char **argv) {
    const char *source = NULL, *ids_s = NULL, *v;
    bool skip = false, bad = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { usage(stdout); return 0; }
        if (cli_opt(argc, argv, &i, "--ids", &v, &bad)) { if (bad) return 2; ids_s = v; continue; }
        if (cli_flag(argv, i, "--skip-special")) { skip = true; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_fail("detokenize: unknown option '%s' (see llmc detokenize --help)", argv[i]);
        if (source) return cli_fail("detokenize: more than one SOURCE given ('%s', '%s')", source, argv[i]);
        source = argv[i];
    }
    if (!source || !ids_s) { usage(stderr); return 2; }
    int32_t *ids = NULL;
    int n = 0;
    if (!cli_parse_ids(ids_s, &ids, &n)) return cli_fail("detokenize: --ids '%s' is not a list of non-negative integers", ids_s);
    llmc_error err = {0};
    llmc_tokenizer *t = NULL;
    int rc = 0;
    char *text = NULL;
    size_t len = 0;
    if (tok_cli_load(source, &t, &err) != LLMC_OK) { rc = cli_error(&err); goto done; }
    for (int i = 0; i < n; i++)
        if ((size_t)ids[i] >= llmc_tokenizer_vocab_size(t)) {
            rc = cli_fail("detokenize: id %d is outside the vocabulary (size %zu)", ids[i], llmc_tokenizer_vocab_size(t));
            goto done;
        }
    if (llmc_tokenizer_decode(t, ids, (size_t)n, skip, &text, &len, &err) != LLMC_OK) { rc = cli_error(&err); goto done; }
    if (len && fwrite(text, 1, len, stdout) != len) rc = cli_fail("detokenize: write to stdout failed");
    if (fflush(stdout) != 0) rc = cli_fail("detokenize: write to stdout failed");
done:
    free(ids);
    free(text);
    llmc_tokenizer_free(t);
    return rc;
}
