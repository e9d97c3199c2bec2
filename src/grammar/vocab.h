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
    /* The byte trie in pre-order (node 0 = root): node k has edge byte tn_byte[k] at depth
       tn_depth[k]; its subtree is nodes k .. tn_end[k]-1 (a dead prefix skips to tn_end);
       tokens ending at k are sorted[tn_tok[k] .. +tn_ntok[k]); the subtree's tokens are
       sorted[tn_tok[k] .. tn_hi[k]). A DFS is one forward scan. */
    uint32_t n_tn, max_depth;
    uint8_t *tn_byte;
    uint16_t *tn_depth;
    uint32_t *tn_end, *tn_tok, *tn_ntok, *tn_hi;
};

#endif
