/* Grammar internals shared by the grammar module's files: the compiled rule form.
 *
 * A grammar is one flat element array. Rule r's alternatives start at rule_alt[r]
 * positions; each alternative is a run of BYTES (one byte from a 256-bit set) and REF
 * (another rule) elements closed by ALT (another alternative follows) or END (the last).
 * Positions are indices into el; an element after a REF is where to continue when the
 * referenced rule completes. */
#ifndef LLMC_GRM_INTERNAL_H
#define LLMC_GRM_INTERNAL_H
#include "grammar/grammar.h"
#include "base/strbuf.h"
#include <cjson/cJSON.h>
#include <stdint.h>

enum { GRM_END = 0, GRM_ALT = 1, GRM_REF = 2, GRM_BYTES = 3 };

typedef struct { uint32_t type; uint32_t v; } grm_elem;   /* REF: rule id; BYTES: set id */
typedef struct { uint64_t w[4]; } grm_set;

/* Hard bounds for untrusted grammars. */
#define GRM_MAX_RULES    (1u << 18)
#define GRM_MAX_ELEMS    (1u << 22)
#define GRM_MAX_REPEAT   100000u     /* m, n in {m,n} */
#define GRM_MAX_TEXT     (16u << 20) /* GBNF bytes */

struct llmc_grammar {
    grm_elem *el; uint32_t n_el;
    grm_set *sets; uint32_t n_sets;
    uint32_t n_rules;
    uint32_t *alt_off;   /* rule r's alternatives: alts[alt_off[r] .. alt_off[r+1]) */
    uint32_t *alts;      /* start positions */
    uint32_t root;
};

static inline int grm_set_has(const grm_set *s, uint8_t b) { return (int)((s->w[b >> 6] >> (b & 63)) & 1u); }
static inline int grm_is_end(const grm_elem *e) { return e->type == GRM_END || e->type == GRM_ALT; }

/* JSON Schema pieces for grammars that combine several schemas (tool calls): the shared
 * base rules (ws, jstr, jnum, jvalue, ...) and, for one schema (doc NULL: any object), its
 * rules named prefix + "s<N>" appended to out and the expression for a value in expr.
 * path names the schema in errors ("$", "$[0].function.parameters"). */
const char *grm_schema_base_rules(void);
llmc_status grm_schema_rules(const cJSON *doc, const char *prefix, const char *path, llmc_strbuf *out, llmc_strbuf *expr,
                             llmc_error *err);

/* A JSON Schema pattern → a GBNF expression for a JSON string's content (regex.c), appended
 * to out; false with why filled when the pattern uses something unsupported. */
bool grm_regex_to_gbnf(const char *re, llmc_strbuf *out, char *why, size_t why_len);

#endif
