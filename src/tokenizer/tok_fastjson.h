/* Scanner for tokenizer.json's model.vocab / model.merges spans (see tok_fastjson.c). */
#ifndef LLMC_TOK_FASTJSON_H
#define LLMC_TOK_FASTJSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
typedef struct { const char *vocab, *vocab_end, *merges, *merges_end; } tok_fj_spans;
bool tok_fj_find(const char *text, size_t len, tok_fj_spans *sp);
const char *tok_fj_string(const char *p, const char *e, char *buf, size_t cap, size_t *len);
const char *tok_fj_ws(const char *p, const char *e);
#endif
