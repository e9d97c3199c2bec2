/* Constrained decoding: grammars (llama.cpp GBNF, or compiled from a JSON Schema) and a
 * per-step token mask over a tokenizer's vocabulary.
 *
 * Pipeline: GBNF text → llmc_grammar (rules over bytes: UTF-8 character classes are
 * expanded to byte sequences) → llmc_grammar_matcher, a byte-level pushdown automaton
 * whose stack sets are hash-consed and interned as states, determinized lazily (a
 * 256-entry transition row per visited state). The mask for a state is a DFS over a
 * byte trie of the vocabulary (llmc_grammar_vocab), pruned where the automaton dies, and
 * memoized per state: JSON strings, numbers and repeated structures revisit the same
 * state, so most steps are one lookup.
 *
 * Bounds: grammar size (rules, elements, repetition counts), stack depth (deeper nesting
 * is not allowed by the mask: recursive rules are bounded), automaton states and work per
 * step; hitting one is an error, never a hang. Left-recursive grammars are refused.
 * Nothing here prints or exits. A compiled grammar and a vocab are immutable and may be
 * shared by many matchers; a matcher belongs to one thread. */
#ifndef LLMC_GRAMMAR_H
#define LLMC_GRAMMAR_H
#include "llmc.h"
#include "tokenizer/tokenizer.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct llmc_grammar llmc_grammar;

/* GBNF as llama.cpp reads it: `name ::= alternatives`, "literals", [classes], [^negated],
 * ( groups ), * + ? {m} {m,} {m,n}, `.`, # comments. root: the start rule (NULL: "root").
 * Errors name the line:column and the rule. */
llmc_status llmc_grammar_from_gbnf(const char *text, size_t len, const char *root, llmc_grammar **out, llmc_error *err);
/* JSON Schema (subset: OpenAI strict mode / vLLM) → GBNF text (malloc'd) or a grammar.
 * Errors name the schema path ("$.properties.age.type"). A NULL or empty schema text,
 * or {"type":"object"} alone, means any JSON object (json_object mode). */
llmc_status llmc_grammar_schema_to_gbnf(const char *schema_json, size_t len, char **gbnf, llmc_error *err);
llmc_status llmc_grammar_from_json_schema(const char *schema_json, size_t len, llmc_grammar **out, llmc_error *err);
void llmc_grammar_free(llmc_grammar *g);
int llmc_grammar_n_rules(const llmc_grammar *g);

/* Each token's bytes and a byte trie over them. Byte-level BPE tokens map back to raw
 * bytes; SentencePiece ones turn ▁ into a space and <0xXX> into the byte. Special tokens
 * (and ids past the tokenizer's, up to n_vocab = the model's logit count) have no bytes
 * and are never allowed by a grammar, except the eos ids at an accepting state. */
typedef struct llmc_grammar_vocab llmc_grammar_vocab;
llmc_status llmc_grammar_vocab_from_tokenizer(const llmc_tokenizer *t, int n_vocab, llmc_grammar_vocab **out, llmc_error *err);
/* For tests and tools: token i has bytes toks[i][0..lens[i]); lens[i] == 0: a special token. */
llmc_status llmc_grammar_vocab_from_bytes(const char *const *toks, const size_t *lens, int n, llmc_grammar_vocab **out,
                                          llmc_error *err);
void llmc_grammar_vocab_free(llmc_grammar_vocab *v);
int llmc_grammar_vocab_size(const llmc_grammar_vocab *v);
/* The bytes of token id (NULL, *len 0 for a special token). */
const uint8_t *llmc_grammar_vocab_bytes(const llmc_grammar_vocab *v, int32_t id, size_t *len);

typedef struct llmc_grammar_matcher llmc_grammar_matcher;
/* g and v must outlive the matcher. eos: the ids that end generation (allowed only where
 * the grammar accepts). */
llmc_status llmc_grammar_matcher_new(const llmc_grammar *g, const llmc_grammar_vocab *v, const int32_t *eos, int n_eos,
                                     llmc_grammar_matcher **out, llmc_error *err);
void llmc_grammar_matcher_free(llmc_grammar_matcher *m);
/* Back to the start of the grammar (caches are kept). */
void llmc_grammar_matcher_reset(llmc_grammar_matcher *m);
/* The allowed tokens now: a bitmask of ceil(n_vocab/32) words (bit i%32 of word i/32),
 * valid until the next call on m. */
llmc_status llmc_grammar_matcher_mask(llmc_grammar_matcher *m, const uint32_t **mask, llmc_error *err);
/* Advances by a token (an eos id is accepted only where the grammar accepts, and then
 * ends the match). A token the grammar forbids is LLMC_ERR_INVALID_ARG and changes nothing. */
llmc_status llmc_grammar_matcher_accept(llmc_grammar_matcher *m, int32_t id, llmc_error *err);
/* Advances by raw bytes; false (and no change) when the grammar forbids them. */
bool llmc_grammar_matcher_accept_bytes(llmc_grammar_matcher *m, const void *bytes, size_t len);
/* True when the input so far is a complete sentence of the grammar. */
bool llmc_grammar_matcher_can_end(const llmc_grammar_matcher *m);
/* True when nothing but the end can follow (only eos is allowed). */
bool llmc_grammar_matcher_must_end(llmc_grammar_matcher *m);
/* Sets logits[i] = -inf for every i < n whose bit is clear. */
void llmc_grammar_mask_apply(const uint32_t *mask, float *logits, int n);

/* ---- Glue for generation: a grammar + matcher bound to a tokenizer, as the sampler's
 * mask/accept hooks (generate/sampler.h). ---- */
typedef struct llmc_grammar_constraint llmc_grammar_constraint;
/* Repeated calls reuse a process-wide cache (bounded): the vocab trie per tokenizer, and per
 * grammar text a compiled grammar with a warm idle matcher. llmc_grammar_cache_clear frees
 * what no constraint is using. Exactly one of json_schema (JSON Schema text; "" or "{}"-like any-object also fine) and
 * gbnf (a GBNF string) is used; json_schema wins when both are given. */
llmc_status llmc_grammar_constraint_new(const llmc_tokenizer *t, int n_vocab, const char *json_schema, const char *gbnf,
                                        const int32_t *eos, int n_eos, llmc_grammar_constraint **out, llmc_error *err);
void llmc_grammar_constraint_free(llmc_grammar_constraint *c);
void llmc_grammar_cache_clear(void);
/* Sampler hooks (user = the constraint). mask: sets forbidden logits to -inf; accept:
 * advances. A failure inside either is kept and reported by llmc_grammar_constraint_status. */
int llmc_grammar_constraint_mask_cb(void *user, float *logits, int vocab);
void llmc_grammar_constraint_accept_cb(void *user, int32_t id);
llmc_status llmc_grammar_constraint_status(const llmc_grammar_constraint *c, llmc_error *err);

#endif
