/* Pre-tokenizer stage interface: one stage turns a piece into sub-pieces. */
#ifndef LLMC_TOK_TEXT_H
#define LLMC_TOK_TEXT_H
#include "tokenizer/tok_internal.h"
#include <pthread.h>

typedef struct { size_t off, len; bool flag; } tok_range;
typedef struct { tok_range *v; size_t n, cap; } tok_ranges;
bool tok_ranges_push(tok_ranges *r, size_t off, size_t len, bool flag);

/* Output of one stage: ranges into the input (use_buf false) or into buf. */
typedef struct {
    tok_ranges ranges, tmp, tmp2;
    llmc_strbuf buf;
    bool use_buf;
    tok_budget *bud;         /* the encode's regex budget (set by the caller; NULL: per search) */
} tok_stage_out;
llmc_status tok_pretok_stage(const tok_node *n, const char *s, size_t len, bool at_start, tok_stage_out *o,
                             llmc_error *err);
void tok_stage_out_free(tok_stage_out *o);
#endif
