/* The raw CUDA runtime layer (cuda_rt.cu) as plain C, so the .cu file needs none of
 * the project's headers and the C glue (cuda.c) needs none of CUDA's. Functions
 * return 0, LCU_OOM or LCU_FAIL and write a message into msg. */
#ifndef LLMC_BACKEND_CUDA_RT_H
#define LLMC_BACKEND_CUDA_RT_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

enum { LCU_OK = 0, LCU_OOM = 1, LCU_FAIL = 2, LCU_NODEV = 3 };
enum { LCU_W_F32 = 0, LCU_W_F16 = 1, LCU_W_BF16 = 2 };

typedef struct {
    char name[128];
    int cc_major, cc_minor, sm_count;
    size_t total_bytes, free_bytes;
} lcu_devinfo;

typedef struct {
    int device;
    int H, I, nh, nkv, hd, V;
    int n_layers;        /* layers held on the GPU (0..) */
    int head;            /* 1: final norm + lm_head on the GPU */
    int ctx, batch;
    int wtype;           /* LCU_W_*: every matrix on the GPU has this dtype */
    int window;          /* sliding window, 0 = none */
    int attn_bias;       /* q, k, v biases */
    int o_bias, mlp_bias;
    int qk_norm;         /* RMSNorm of each q and k head before RoPE (Qwen3) */
    float eps;
    int use_graph;       /* capture the decode step as a CUDA graph */
} lcu_shape;

/* Upload slots. Per-layer slots take a layer index; the others ignore it. */
enum {
    LCU_EMBED, LCU_HEAD, LCU_NORM, LCU_INV_FREQ,
    LCU_WQ, LCU_WK, LCU_WV, LCU_WO, LCU_WG, LCU_WU, LCU_WD,
    LCU_BQ, LCU_BK, LCU_BV, LCU_BO, LCU_BG, LCU_BU, LCU_BD,
    LCU_LN1, LCU_LN2, LCU_QN, LCU_KN, LCU_SLOT_COUNT
};

typedef struct lcu_model lcu_model;

int lcu_probe(int device, lcu_devinfo *info, char *msg, size_t msz);
int lcu_model_new(const lcu_shape *s, lcu_model **out, char *msg, size_t msz);
/* bytes must be exactly the slot's size (matrices in wtype, the rest f32). */
int lcu_upload(lcu_model *m, int slot, int layer, const void *host, size_t bytes, char *msg, size_t msz);
/* n <= batch tokens at pos. head: logits (last row, or all rows) when logits != NULL;
   no head: hidden (n*H floats, after the last GPU layer). */
int lcu_forward(lcu_model *m, const int32_t *ids, int n, int pos, float *logits, int all_logits, float *hidden, char *msg,
                size_t msz);
/* Token choice on the GPU (backend/select.h's contract): mode 1 greedy, 2 top-k. */
#define LCU_SEL_CAP 1024
typedef struct {
    int mode;
    float penalty, temperature;
    int top_k;
} lcu_select;
typedef struct {
    int status; /* 0: id (greedy) or n candidates; 1: fall back to the logits */
    int id, n, pad;
    int32_t ids[LCU_SEL_CAP];
    float vals[LCU_SEL_CAP];
} lcu_choice;
/* As lcu_forward with the head (last row), then the choice into *out (pinned memory owned
   by m, valid until the next call). status 1: the raw logits are copied into logits. */
int lcu_forward_select(lcu_model *m, const int32_t *ids, int n, int pos, const lcu_select *sel, lcu_choice **out, float *logits, char *msg,
                       size_t msz);
void lcu_model_free(lcu_model *m);
size_t lcu_slot_bytes(const lcu_shape *s, int slot);
/* Decode attention splits (flash-decoding); the memory plan sizes partials with it. */
#define LCU_DEC_SPLITS 32
#define LCU_LOGIT_CHUNK 32

#ifdef __cplusplus
}
#endif
#endif
