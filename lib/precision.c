/* precision.c — mk_model_set_precision.
 *
 * On CUDA it is the GEMM precision mode of the backend (ops.h, set_gemm_precision): fp32 or
 * bf16 tensor-core products; in the bf16 mode the backend also keeps bf16 copies of the
 * model's weight matrices (weights_bf16_set: the five matrices below), which are marked stale
 * like the CPU's copies and rounded again before the next forward or step
 * (mk_model_weights_ready). On the CPU it is the storage of the weights that decoding reads
 * (issue 9): fp32 (the parameters themselves), f16 or 8-bit blocks (Q8: 32 weights, one fp32
 * scale). Those are copies of the five weight matrices of every layer and the head, made here
 * once (kernels/step_cpu.c rounds them) and read by the batch-1 step (lib/state.c); the fp32
 * parameters stay the model's. Anything that may change the parameters marks the copies stale
 * (mk_model_params_changed) and the next step remakes them in place, so a copy never outlives
 * the weights it was made from.
 */
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"

void mk_cpu_lowp_free(struct mk_model *m)
{
    if (!m->lowp)
        return;
    free(m->lowp->data);
    free(m->lowp->scale);
    free(m->lowp->A);
    free(m->lowp->mat);
    free(m->lowp);
    m->lowp = NULL;
}

void mk_model_params_changed(struct mk_model *m)
{
    if (m->lowp)
        m->lowp->stale = 1;
    if (m->bf16_weights)
        m->ops->weights_bf16_stale(m);
}

void mk_model_weights_ready(struct mk_model *m)
{
    if (m->bf16_weights)
        m->ops->weights_bf16_refresh(m);
}

/* The fp32 source of copy i (see struct mk_cpu_lowp) and its shape. */
static const float *lowp_source(const struct mk_model *m, int i, int *rows, int *cols)
{
    const struct mk_config *c = &m->cfg;
    const int D = c->d_model, E = c->d_inner, R = c->dt_rank, X = R + 2 * c->d_state;
    if (i == 4 * c->n_layer) {
        *rows = c->vocab_size, *cols = D;
        return m->p.head;
    }
    const struct mk_layer_params *lp = &m->p.layer[i / 4];
    switch (i % 4) {
    case 0: *rows = 2 * E, *cols = D; return lp->in_proj_w;
    case 1: *rows = X, *cols = E; return lp->x_proj_w;
    case 2: *rows = E, *cols = R; return lp->dt_proj_w;
    default: *rows = D, *cols = E; return lp->out_proj_w;
    }
}

/* Rounds every copy from the parameters (the layout is already in place). */
static mk_status lowp_fill(struct mk_model *m)
{
    struct mk_cpu_lowp *q = m->lowp;
    const int n = 4 * m->cfg.n_layer + 1;
    size_t over = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : over)
    for (int i = 0; i < n; i++) {
        int rows, cols;
        const float *src = lowp_source(m, i, &rows, &cols);
        struct mk_wmat *w = &q->mat[i];
        if (q->fmt == MK_WFMT_Q8)
            mk_cpu_pack_q8((int8_t *)w->data, (float *)w->scale, src, rows, cols, w->ld);
        else
            over += mk_cpu_pack16((void *)w->data, src, (size_t)rows * cols, q->fmt);
    }
    const size_t EN = (size_t)m->cfg.d_inner * m->cfg.d_state;
    for (int l = 0; l < m->cfg.n_layer; l++)
        mk_cpu_scan_A(q->A + l * EN, m->p.layer[l].A_log, EN);
    if (over)
        return mk_fail(MK_ERR_INVALID, "f16 weights: %zu weights are beyond f16's range "
                       "(|w| > 65504); use q8 or fp32", over);
    q->stale = 0;
    return MK_OK;
}

/* Lays the copies out in one allocation (each 64-byte aligned) and fills them. */
static mk_status lowp_make(struct mk_model *m, int fmt)
{
    const int n = 4 * m->cfg.n_layer + 1;
    struct mk_cpu_lowp *q = calloc(1, sizeof *q);
    /* q->data starts NULL: posix_memalign leaves it so on failure */
    if (!q || !(q->mat = calloc((size_t)n, sizeof *q->mat))) {
        free(q);
        return mk_fail(MK_ERR_NOMEM, "out of memory for the reduced-precision weights");
    }
    q->fmt = fmt;
    const size_t esz = fmt == MK_WFMT_Q8 ? 1 : 2;
    size_t bytes = 0, scales = 0;
    for (int i = 0; i < n; i++) {
        int rows, cols;
        lowp_source(m, i, &rows, &cols);
        size_t ld = fmt == MK_WFMT_Q8 ? (size_t)(cols + MK_Q8_BLOCK - 1) / MK_Q8_BLOCK * MK_Q8_BLOCK
                                      : (size_t)cols;
        q->mat[i] = (struct mk_wmat){.fmt = fmt, .rows = rows, .cols = cols, .ld = ld,
                                     .data = (void *)bytes, .scale = (float *)scales};
        bytes += ((size_t)rows * ld * esz + 63) / 64 * 64;
        if (fmt == MK_WFMT_Q8)
            scales += (size_t)rows * ld / MK_Q8_BLOCK;
    }
    const size_t nA = (size_t)m->cfg.n_layer * m->cfg.d_inner * m->cfg.d_state;
    if (posix_memalign(&q->data, 64, bytes) != 0 ||
        (scales && !(q->scale = malloc(scales * sizeof *q->scale))) ||
        !(q->A = malloc(nA * sizeof *q->A))) {
        if (q->data)
            free(q->data);
        free(q->scale);
        free(q->mat);
        free(q);
        return mk_fail(MK_ERR_NOMEM, "cannot allocate %.1f MiB for the %s weights",
                       bytes / 1048576.0, fmt == MK_WFMT_Q8 ? "q8" : "f16");
    }
    for (int i = 0; i < n; i++) { /* offsets to pointers */
        q->mat[i].data = (char *)q->data + (size_t)q->mat[i].data;
        q->mat[i].scale = q->scale ? q->scale + (size_t)q->mat[i].scale : NULL;
    }
    mk_cpu_lowp_free(m);
    m->lowp = q;
    mk_status st = lowp_fill(m);
    if (st != MK_OK)
        mk_cpu_lowp_free(m);
    return st;
}

mk_status mk_cpu_lowp_refresh(struct mk_model *m)
{
    if (!m->lowp || !m->lowp->stale)
        return MK_OK;
    mk_status st = lowp_fill(m);
    if (st != MK_OK)
        mk_cpu_lowp_free(m);
    return st;
}

/* CUDA: registers the bf16 copies of the matrices of lowp_source (on) or drops them. */
static mk_status cuda_weight_copies(struct mk_model *m, int on)
{
    if (!m->ops->weights_bf16_set)
        return MK_OK;
    if (!on) {
        m->bf16_weights = 0;
        return m->ops->weights_bf16_set(m, NULL, NULL, 0);
    }
    const int n = 4 * m->cfg.n_layer + 1;
    const float **W = malloc((size_t)n * sizeof *W);
    size_t *numel = malloc((size_t)n * sizeof *numel);
    mk_status st = W && numel ? MK_OK
                              : mk_fail(MK_ERR_NOMEM, "out of memory for the bf16 weight list");
    for (int i = 0; st == MK_OK && i < n; i++) {
        int rows, cols;
        W[i] = lowp_source(m, i, &rows, &cols);
        numel[i] = (size_t)rows * cols;
    }
    if (st == MK_OK)
        st = m->ops->weights_bf16_set(m, W, numel, n);
    m->bf16_weights = st == MK_OK;
    free(W);
    free(numel);
    return st;
}

mk_status mk_precision_parse(const char *name, enum mk_precision *out)
{
    static const struct { const char *name; enum mk_precision p; } names[] = {
        {"fp32", MK_PRECISION_FP32}, {"bf16", MK_PRECISION_BF16}, {"f16", MK_PRECISION_F16},
        {"q8", MK_PRECISION_Q8}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].p;
            return MK_OK;
        }
    return mk_fail(MK_ERR_INVALID, "precision: '%s' is not one of fp32, bf16, f16, q8", name);
}

mk_status mk_model_set_precision(struct mk_model *m, enum mk_precision p)
{
    if (!m)
        return mk_fail(MK_ERR_INVALID, "mk_model_set_precision: no model");
    if (p != MK_PRECISION_FP32 && p != MK_PRECISION_BF16 && p != MK_PRECISION_F16 &&
        p != MK_PRECISION_Q8)
        return mk_fail(MK_ERR_INVALID, "mk_model_set_precision: unknown precision %d", (int)p);
    const char *name = p == MK_PRECISION_F16 ? "f16" : "q8";
    m->precision_gen++; /* recorded steps are recorded again */
    if (m->ops->set_gemm_precision) { /* CUDA: the backend's GEMM mode */
        if (p == MK_PRECISION_F16 || p == MK_PRECISION_Q8)
            return mk_fail(MK_ERR_UNSUPPORTED, "%s weights are a CPU decoding mode (the %s "
                           "backend has fp32 and bf16)", name, m->ops->name);
        mk_status st = m->ops->set_gemm_precision(p == MK_PRECISION_BF16);
        const char *no16 = getenv("MK_NO_BF16_OPERANDS");
        m->bf16_operands = st == MK_OK && p == MK_PRECISION_BF16 && !(no16 && *no16 && *no16 != '0');
        return st != MK_OK ? st : cuda_weight_copies(m, p == MK_PRECISION_BF16);
    }
    switch (p) {
    case MK_PRECISION_FP32:
        mk_cpu_lowp_free(m);
        return MK_OK;
    case MK_PRECISION_BF16:
        return mk_fail(MK_ERR_UNSUPPORTED, "bf16 needs the CUDA backend (the %s backend "
                       "computes in fp32, with f16 or q8 weights for decoding)", m->ops->name);
    default: {
        const int fmt = p == MK_PRECISION_F16 ? MK_WFMT_F16 : MK_WFMT_Q8;
        if (m->lowp && m->lowp->fmt == fmt) {
            m->lowp->stale = 1; /* set again: take the parameters as they are now */
            return mk_cpu_lowp_refresh(m);
        }
        return lowp_make(m, fmt);
    }
    }
}
