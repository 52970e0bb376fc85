/* model_internal.h — the model and recurrent-state structs, shared by model.c, state.c and
 * init.c (not installed). Everything that lives in backend memory (host for the CPU backend,
 * device for CUDA) is marked "backend".
 */
#ifndef MK_MODEL_INTERNAL_H
#define MK_MODEL_INTERNAL_H

#include "mambakit.h"
#include "ops.h"
#include "step_cpu.h"

/* Pointers to one layer's parameters (or gradients) inside a block. */
struct mk_layer_params {
    float *norm_w;     /* [D] */
    float *in_proj_w;  /* [2E, D] */
    float *in_proj_b;  /* [2E] or NULL */
    float *conv_w;     /* [E, K] (HF [E, 1, K]) */
    float *conv_b;     /* [E] or NULL */
    float *x_proj_w;   /* [R + 2N, E] */
    float *dt_proj_w;  /* [E, R] */
    float *dt_proj_b;  /* [E] */
    float *A_log;      /* [E, N] */
    float *Dskip;      /* [E] */
    float *out_proj_w; /* [D, E] */
    float *out_proj_b; /* [D] or NULL */
};

struct mk_model_params {
    float *wte;                    /* [V, D] */
    struct mk_layer_params *layer; /* [n_layer] */
    float *norm_f;                 /* [D] */
    float *head;                   /* [V, D]: wte when tied, else lm_head.weight */
};

/* What one layer keeps from forward for backward (token-major, T = B*L). */
struct mk_layer_acts {
    float *resid;  /* [T, D]  residual entering the layer's norm (after the add) */
    float *rstd;   /* [T]     1/rms of resid */
    float *normed; /* [T, D]  norm output, in_proj input (in bf16 with bf16 operands) */
    float *xz;     /* [T, 2E] in_proj output: x (conv input) | z (gate) (in bf16 likewise) */
    float *u;      /* [T, E]  conv + SiLU output, the scan input (one buffer for all layers:
                    *         backward recomputes it; with bf16 operands only the fp32 rows of
                    *         small decoding steps use it: u16 instead) */
    float *xdbl;   /* [T, R + 2N] x_proj output: dt_raw | B | C */
    float *delta;  /* [T, E]  dt_proj output, bias added inside the scan (shared likewise) */
    float *y;      /* [T, E]  gated scan output, out_proj input (in bf16 likewise) */
    uint16_t *u16; /* [T, E]  u in bf16 with bf16 operands (else NULL): x_proj's and the
                    *         scan's input, kept per layer (backward does not recompute it) */
};

/* Activation block: n_sets layer sets (n_layer when training, 1 when only inferring, as
 * then every layer reuses the same buffers), the final norm, logits and backward scratch. */
struct mk_acts {
    float *block;          /* backend, one allocation */
    size_t floats;         /* size of block */
    size_t T;              /* tokens the block is sized for */
    int n_sets;            /* layer sets in the block */
    size_t head_rows;      /* rows of logits allocated (0: none; see MK_HEAD_CHUNK_ROWS) */
    int with_grads;        /* backward scratch allocated */
    int with16;            /* laid out for bf16 operands: normed, xz and y hold bf16 (half
                            * their fp32 size, but at least MK_STEP_FP32_ROWS fp32 rows),
                            * set[].u16 allocated */
    struct mk_layer_acts *set; /* [n_sets] */
    float *mix;            /* [T, D] mixer output (consumed by the next add) */
    float *resid_f, *rstd_f, *normed_f; /* final norm: [T, D], [T], [T, D] */
    float *logits;         /* [head_rows, V]: all T rows when the caller wants logits, else
                            * one chunk of the head (lib/head.c) */
    uint16_t *logits16;    /* [head_rows, V] the loss's gradient in bf16 with bf16 operands and
                            * grads, when head_rows <= MK_HEAD_CHUNK_ROWS (else NULL) */
    float *losses;         /* [T] per-token cross-entropy */
    float *weights;        /* [T] per-token loss weights (backend copy), when given */
    /* backward scratch */
    float *dresid, *dnormed, *dy, *dxz, *du, *ddelta, *dxdbl;
    uint16_t *dresid16;     /* [T, D] dresid in bf16 with bf16 operands (out_proj's backward
                             * multiplies it; rmsnorm_bwd writes it), else NULL */
    int32_t *ids, *targets; /* [T] backend copies */
    uint8_t *reset;         /* [T] backend copy (packed documents), or unused */
};

enum { MK_FWD_LM = 1, MK_FWD_FEATURES = 2 };

/* The CPU's reduced-precision weights for decoding (lib/precision.c; MK_PRECISION_F16 or
 * MK_PRECISION_Q8 on the CPU): copies of the weight matrices, made from the fp32 parameters,
 * which stay the model's parameters. `stale` is set by whatever may change the parameters
 * (mk_model_set_params, mk_model_zero_grads: a training step follows); the next step
 * remakes the copies in place. */
struct mk_cpu_lowp {
    int fmt;             /* enum mk_wfmt: MK_WFMT_F16 or MK_WFMT_Q8 */
    int stale;
    void *data;          /* one allocation for every copy */
    float *scale;        /* Q8 block scales, one allocation */
    float *A;            /* [n_layer][E][N] = -exp(A_log), which the step would otherwise
                          * recompute for every token */
    struct mk_wmat *mat; /* [4 * n_layer + 1]: per layer in_proj, x_proj, dt_proj, out_proj;
                          * then the head */
};

struct mk_model {
    struct mk_config cfg;
    struct mk_param_layout lay;
    const struct mk_ops *ops;
    enum mk_device device;
    float *params;               /* backend, lay.total floats */
    float *grads;                /* backend, lay.total floats, allocated by the first backward */
    struct mk_model_params p, g; /* views into params and grads */
    struct mk_acts acts;
    /* what the last forward left for backward: fwd_ready is MK_FWD_LM or MK_FWD_FEATURES
     * after a forward that kept its activations, 0 otherwise */
    int fwd_B, fwd_L, fwd_ready, fwd_has_reset;
    double fwd_weight_sum; /* sum of the weights of the last forward's non-ignored targets */
    int fwd_weighted;      /* it had per-token loss weights (in acts.weights) */
    int fwd_head_grad;     /* it already took the head's gradient (mk_model_forward_backward) */
    int fwd_operands16;    /* it kept normed and y in bf16 (bf16_operands, below) */
    struct mk_cpu_lowp *lowp; /* CPU decoding weights in f16 / 8 bits, or NULL (fp32) */
    int bf16_weights;         /* CUDA bf16 mode: the backend keeps bf16 copies of the weight
                               * matrices (lib/precision.c, ops->weights_bf16_*) */
    int bf16_operands;        /* CUDA bf16 mode: the activations and gradients that only feed
                               * products are written in bf16 by the ops that make them
                               * (grad_write.h): normed, xz and y (in buffers of half the
                               * size), u (set[].u16), dxz, ddelta; decoding steps of at most
                               * MK_STEP_FP32_ROWS sequences excepted.
                               * MK_NO_BF16_OPERANDS=1: not */
    unsigned precision_gen;   /* mk_model_set_precision calls so far (struct mk_step_key) */
    /* data-parallel training (lib/dist_buckets.h): when set, the backward calls
     * grad_ready(grad_ready_ctx, l) as soon as layer l's gradients are final, l = n_layer-1
     * down to 0 (norm_f's and an untied head's are final before the first call); NULL: no call */
    void (*grad_ready)(void *ctx, int layer);
    void *grad_ready_ctx;
};

/* What a recorded decoding step depends on: the model, its parameter block, the activation
 * block and its layout (the layout is a function of these fields and the config, so equal
 * keys mean equal pointers even when the block was reallocated at the same address), and
 * whether the step computes logits. */
struct mk_step_key {
    const struct mk_model *m;
    const float *params, *block;
    size_t floats, T;
    size_t head_rows;
    int n_sets, with_grads, need_head, D, V;
    int argmax; /* the greedy step: the head's argmax per row into acts.targets */
    unsigned precision_gen; /* mk_model_set_precision calls so far: a graph is recorded in
                             * one GEMM mode, with one set of bf16 weight copies */
};

struct mk_state {
    const struct mk_ops *ops;
    int B, n_layer, E, N, K;
    float *conv; /* backend [n_layer][B][E][K-1] */
    float *ssm;  /* backend [n_layer][B][E][N] */
    /* mk_model_step on a backend with graphs (CUDA): the step's kernels recorded once and
     * replayed (ops->graph_*), valid while graph_key matches; graph_off after a failed capture
     * (the step then runs kernel by kernel, as on the CPU) */
    void *graph;
    struct mk_step_key graph_key;
    int graph_off;
    /* the CPU's fast step (lib/state.c): its scratch, made by the first step */
    struct mk_cpu_ws *cpu_ws;
    /* mk_model_step_greedy without a graph: host logits [B, V] (greedy_n floats), made by its
     * first call */
    float *greedy_logits;
    size_t greedy_n;
};

/* The CPU's fast one-token step (lib/state.c): batch 1, one OpenMP parallel region per token,
 * the kernels of kernels/step_cpu.h, the f16 / 8-bit weights when m->lowp is set. mk_model_step
 * takes it when mk_cpu_step_wanted (CPU backend, batch 1, MK_NO_FAST_STEP unset or 0). */
int mk_cpu_step_wanted(const struct mk_model *m, const struct mk_state *s);
mk_status mk_cpu_step(struct mk_model *m, struct mk_state *s, const int32_t *ids, float *logits);

/* lib/precision.c: the reduced-precision copies (re)made when stale, freed, marked stale. */
mk_status mk_cpu_lowp_refresh(struct mk_model *m);
void mk_cpu_lowp_free(struct mk_model *m);
void mk_model_params_changed(struct mk_model *m);
/* Rounds the backend's stale bf16 weight copies again (CUDA bf16 mode; else nothing): called
 * before the products of a forward or a step. */
void mk_model_weights_ready(struct mk_model *m);

/* Points a view's tensors into `block` following the layout (grads share params' offsets). */
void mk_model_bind(struct mk_model_params *view, const struct mk_model *m, float *block);

/* Makes sure the activation block holds T tokens with n_sets layer sets, head_rows rows of
 * logits and backward scratch when with_grads; grows (never shrinks) as needed. */
mk_status mk_model_reserve_acts(struct mk_model *m, size_t T, int n_sets, size_t head_rows,
                                int with_grads);

/* lib/head.c: the LM head and loss in chunks of at most MK_HEAD_CHUNK_ROWS rows (4096 x 50280
 * floats = 824 MB; in the GPU's bf16 mode they read the kept bf16 copy of W_head). mk_head_targets uploads the targets (and weights) and keeps their weight
 * sum; mk_head_chunks runs the chunks over acts.normed_f: losses, and with grad also
 * acts.dnormed (which it adds to) and the head's gradient (logits_ready: acts.logits already
 * holds all T rows, as after a forward that returns them); mk_head_loss reads the weighted
 * mean loss back. */
#define MK_HEAD_CHUNK_ROWS 4096

/* Decoding steps of at most this many sequences keep fp32 product rows (bf16_operands): the
 * CUDA backend multiplies them with its GEMV, which reads fp32 rows (MK_GEMV_MAX_ROWS in
 * kernels/cuda_common.cuh, the same number). */
#define MK_STEP_FP32_ROWS 8
mk_status mk_head_targets(struct mk_model *m, const int32_t *targets, const float *weights,
                          size_t T);
void mk_head_chunks(struct mk_model *m, size_t T, int grad, int logits_ready);
mk_status mk_head_loss(struct mk_model *m, size_t T, float *loss);

/* Forward with an optional packed-document reset mask [B, L] (reset[b,t] = 1 starts a new
 * document at t: no state crosses it) and optional per-token loss weights [B, L] (the loss is
 * then sum_t w_t CE_t / sum_t w_t over non-ignored targets; e.g. soft-masked DNA bases).
 * mk_model_forward is this with reset = weights = NULL. */
mk_status mk_model_forward_packed(struct mk_model *m, const int32_t *ids, const uint8_t *reset,
                                  int B, int L, const int32_t *targets, const float *weights,
                                  float *loss, float *logits, struct mk_state *state);

/* mk_model_forward_backward with a reset mask and loss weights (as mk_model_forward_packed). */
mk_status mk_model_forward_backward_packed(struct mk_model *m, const int32_t *ids,
                                           const uint8_t *reset, int B, int L,
                                           const int32_t *targets, const float *weights,
                                           float *loss);

/* For task heads of their own (classification): a forward that keeps every activation and
 * stops after the final norm; *features points to normed_f [B, L, D] in backend memory, valid
 * until the next forward. Then mk_model_backward_features takes d(loss)/d(features) (backend
 * memory, [B, L, D]) and accumulates every parameter gradient. */
mk_status mk_model_forward_features(struct mk_model *m, const int32_t *ids, const uint8_t *reset,
                                    int B, int L, const float **features);
mk_status mk_model_backward_features(struct mk_model *m, const float *dfeatures);

/* The scan's inputs for layer l, built the same way for forward and backward: u from the
 * conv, delta = dt_proj output, B and C as column views of x_proj's output (row stride
 * R + 2N), z as the second half of in_proj's output (row stride 2E). With bf16 operands (u16
 * given) u, delta and z are read in bf16: u from u16, delta and z from the bf16 outputs of
 * dt_proj and in_proj that the forward wrote in delta's and xz's memory. */
static inline struct mk_scan_in mk_scan_inputs(const struct mk_config *cfg,
                                               const struct mk_layer_params *lp,
                                               const struct mk_layer_acts *a,
                                               const uint8_t *reset, int B, int L,
                                               const uint16_t *u16)
{
    const int R = cfg->dt_rank, N = cfg->d_state, E = cfg->d_inner;
    struct mk_scan_in in = {
        .u = a->u, .delta = a->delta, .delta_bias = lp->dt_proj_b, .A_log = lp->A_log,
        .Bm = a->xdbl + R, .Cm = a->xdbl + R + N, .Dskip = lp->Dskip, .z = a->xz + E,
        .reset = reset, .B = B, .L = L, .E = E, .N = N, .ld_bc = R + 2 * N, .ld_z = 2 * E,
    };
    if (u16) {
        in.u = in.z = in.delta = NULL;
        in.u16 = u16;
        in.z16 = (const uint16_t *)a->xz + E;
        in.delta16 = (const uint16_t *)a->delta;
    }
    return in;
}

#endif /* MK_MODEL_INTERNAL_H */
