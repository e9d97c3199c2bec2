/* Token choice where the logits are: the part of transformers' logits processing and
 * choice that a device holding the head can do before anything crosses the bus
 * (src/backend/cuda implements it; generate/sampler.c says what to ask and finishes
 * the draw). The contract, for the last position's logits x and the ids seen so far:
 *   1. repetition penalty once per distinct id of the history (x<0 ? x*p : x/p);
 *   2. GREEDY: the first index of the largest non-NaN score (-1 when none) → CHOICE_ID;
 *   3. TOPK: scores divided by the temperature (when it is not 1), then every id whose
 *      score is >= the top_k-th largest non-NaN score, in ascending id order, with its
 *      score → CHOICE_CANDIDATES; when those are more than LLMC_SELECT_MAX_CAND (ties)
 *      or top_k is more than the non-NaN scores → CHOICE_LOGITS (the raw logits, for
 *      the host's own full pass). */
#ifndef LLMC_BACKEND_SELECT_H
#define LLMC_BACKEND_SELECT_H
#include <stdint.h>

#define LLMC_SELECT_MAX_CAND 1024

typedef enum { LLMC_SELECT_NONE = 0, LLMC_SELECT_GREEDY = 1, LLMC_SELECT_TOPK = 2 } llmc_select_mode;

typedef struct {
    llmc_select_mode mode;
    float penalty;     /* 1 = off */
    float temperature; /* TOPK: divides the scores unless it is 1 */
    int top_k;         /* TOPK: 1..LLMC_SELECT_MAX_CAND */
} llmc_select_req;

typedef enum { LLMC_CHOICE_ID = 0, LLMC_CHOICE_CANDIDATES = 1, LLMC_CHOICE_LOGITS = 2 } llmc_choice_kind;

typedef struct {
    llmc_choice_kind kind;
    int32_t id;          /* CHOICE_ID */
    int n;               /* CHOICE_CANDIDATES: count; ids ascending */
    const int32_t *ids;  /* owned by the model, valid until its next forward */
    float *vals;         /* their processed scores (the caller may modify them in place) */
} llmc_choice;

#endif
