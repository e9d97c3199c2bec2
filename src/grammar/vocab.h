/* The grammar module's view of a vocabulary (grammar.h: llmc_grammar_vocab): token bytes
 * and a byte trie, shared by vocab.c (building) and matcher.c (mask DFS). */
#ifndef LLMC_GRAMMAR_VOCAB_H
#define LLMC_GRAMMAR_VOCAB_H
#include "grammar/grammar.h"
#include <stdint.h>

struct llmc_grammar_vocab {
    int n;                     /* ids 0..n-1 (the mask's width) */
    uint8_t *bytes; uint32_t *off;   /* token i: bytes[off[i] .. off[i+1]); empty: special */
    uint32_t *sorted; uint32_t n_sorted;   /* ids with bytes, in byte order */
    /* trie node k (0 = root): edge byte, children [child, child+nchild), tokens ending here
       sorted[tok .. tok+ntok) */
    uint32_t n_tn;
    uint8_t *tn_byte;
    uint32_t *tn_child, *tn_nchild, *tn_tok, *tn_ntok;
};

#endif
