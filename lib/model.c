/* model.c — creating a model: backend choice, the parameter and gradient blocks, their
 * per-tensor views, and the activation block sized for the largest batch seen.
 *
 * Memory is one allocation per kind (parameters, gradients, activations), laid out from the
 * spec table in params.c, so tensor i of params and grads share an offset.
 */
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"

static mk_status pick_backend(const struct mk_ops **ops, enum mk_device device, int cuda_index)
{
    if (device == MK_DEVICE_CPU) {
        *ops = mk_ops_cpu();
        return MK_OK;
    }
    return mk_ops_cuda(ops, cuda_index);
}

mk_status mk_model_create(struct mk_model **out, const struct mk_config *cfg,
                          enum mk_device device, int cuda_index)
{
    *out = NULL;
    struct mk_model *m = calloc(1, sizeof *m);
    if (!m)
        return mk_fail(MK_ERR_NOMEM, "out of memory creating the model");
    m->cfg = *cfg;
    m->device = device;
    mk_status st = mk_param_layout_make(&m->lay, cfg);
    if (st == MK_OK)
        st = pick_backend(&m->ops, device, cuda_index);
    if (st == MK_OK) {
        st = m->ops->alloc((void **)&m->params, m->lay.total * sizeof(float));
        if (st != MK_OK)
            mk_fail(st, "cannot allocate %zu parameters (%.1f MiB) on %s", m->lay.total,
                    m->lay.total * 4.0 / (1 << 20), m->ops->name);
    }
    if (st == MK_OK) {
        m->p.layer = calloc((size_t)cfg->n_layer, sizeof *m->p.layer);
        m->g.layer = calloc((size_t)cfg->n_layer, sizeof *m->g.layer);
        if (!m->p.layer || !m->g.layer)
            st = mk_fail(MK_ERR_NOMEM, "out of memory creating the model");
    }
    if (st != MK_OK) {
        mk_model_free(m);
        return st;
    }
    mk_model_bind(&m->p, m, m->params);
    *out = m;
    return MK_OK;
}

static void acts_free(struct mk_model *m)
{
    if (m->acts.block)
        m->ops->free(m->acts.block);
    free(m->acts.set);
    memset(&m->acts, 0, sizeof m->acts);
}

void mk_model_free(struct mk_model *m)
{
    if (!m)
        return;
    if (m->ops) {
        if (m->bf16_weights)
            m->ops->weights_bf16_set(m, NULL, NULL, 0);
        acts_free(m);
        if (m->params)
            m->ops->free(m->params);
        if (m->grads)
            m->ops->free(m->grads);
    }
    mk_cpu_lowp_free(m);
    free(m->p.layer);
    free(m->g.layer);
    mk_param_layout_free(&m->lay);
    free(m);
}

const struct mk_config *mk_model_config(const struct mk_model *m)
{
    return &m->cfg;
}

const struct mk_param_layout *mk_model_layout(const struct mk_model *m)
{
    return &m->lay;
}

void mk_model_bind(struct mk_model_params *v, const struct mk_model *m, float *block)
{
    for (int i = 0; i < m->lay.n; i++) {
        const struct mk_tensor_spec *s = &m->lay.specs[i];
        float *t = block + s->offset;
        struct mk_layer_params *lp = s->layer >= 0 ? &v->layer[s->layer] : NULL;
        switch (s->kind) {
        case MK_P_EMBEDDING: v->wte = t; break;
        case MK_P_NORM_F: v->norm_f = t; break;
        case MK_P_LM_HEAD: v->head = t; break;
        case MK_P_NORM: lp->norm_w = t; break;
        case MK_P_IN_PROJ: lp->in_proj_w = t; break;
        case MK_P_IN_PROJ_BIAS: lp->in_proj_b = t; break;
        case MK_P_CONV_W: lp->conv_w = t; break;
        case MK_P_CONV_B: lp->conv_b = t; break;
        case MK_P_X_PROJ: lp->x_proj_w = t; break;
        case MK_P_DT_PROJ_W: lp->dt_proj_w = t; break;
        case MK_P_DT_PROJ_B: lp->dt_proj_b = t; break;
        case MK_P_A_LOG: lp->A_log = t; break;
        case MK_P_D: lp->Dskip = t; break;
        case MK_P_OUT_PROJ: lp->out_proj_w = t; break;
        case MK_P_OUT_PROJ_BIAS: lp->out_proj_b = t; break;
        }
    }
    if (m->cfg.tie_embeddings)
        v->head = v->wte;
}

mk_status mk_model_get_params(const struct mk_model *m, float *dst)
{
    return m->ops->download(dst, m->params, m->lay.total * sizeof(float));
}

mk_status mk_model_set_params(struct mk_model *m, const float *src)
{
    mk_model_params_changed(m);
    return m->ops->upload(m->params, src, m->lay.total * sizeof(float));
}

mk_status mk_model_zero_grads(struct mk_model *m)
{
    mk_model_params_changed(m); /* a training step follows */
    if (!m->grads) {
        mk_status st = m->ops->alloc((void **)&m->grads, m->lay.total * sizeof(float));
        if (st != MK_OK)
            return mk_fail(st, "cannot allocate %zu gradients on %s", m->lay.total, m->ops->name);
        mk_model_bind(&m->g, m, m->grads);
    }
    return m->ops->zero(m->grads, m->lay.total * sizeof(float));
}

mk_status mk_model_get_grads(const struct mk_model *m, float *dst)
{
    if (!m->grads)
        return mk_fail(MK_ERR_INVALID, "no gradients yet: run a forward with targets and a backward first");
    return m->ops->download(dst, m->grads, m->lay.total * sizeof(float));
}

/* ---- activations -------------------------------------------------------------------------- */

/* Carves consecutive buffers out of one block; with base == NULL it only counts. */
struct carver {
    float *base;
    size_t used;
};

static float *carve(struct carver *c, size_t n)
{
    /* keep every buffer 64-byte aligned */
    size_t start = (c->used + 15) & ~(size_t)15;
    c->used = start + n;
    return c->base ? c->base + start : NULL;
}

/* An activation of T x width values that holds bf16 with bf16 operands (with16): half the
 * floats, but room for MK_STEP_FP32_ROWS rows of fp32 (the decoding steps that stay fp32);
 * else T x width floats. */
static float *carve_act(struct carver *c, int with16, size_t T, size_t width)
{
    if (!with16)
        return carve(c, T * width);
    const size_t half = (T * width + 1) / 2;
    const size_t step = (T < MK_STEP_FP32_ROWS ? T : MK_STEP_FP32_ROWS) * width;
    return carve(c, half > step ? half : step);
}

static void layout_acts(struct mk_acts *a, struct carver *c, const struct mk_config *cfg)
{
    const size_t T = a->T, D = (size_t)cfg->d_model, E = (size_t)cfg->d_inner;
    const size_t X = (size_t)cfg->dt_rank + 2 * (size_t)cfg->d_state, V = (size_t)cfg->vocab_size;
    /* u and delta are cheap to recompute from xz and xdbl (a depthwise conv and the rank-R
     * dt_proj), so all layers share one copy and backward recomputes them, as mamba_ssm's
     * checkpoint_lvl=1 does: 4E floats per token and layer less to keep. */
    float *u = NULL, *delta = NULL;
    const size_t fp32_rows = T < MK_STEP_FP32_ROWS ? T : MK_STEP_FP32_ROWS;
    for (int i = 0; i < a->n_sets; i++) {
        struct mk_layer_acts *s = &a->set[i];
        s->resid = carve(c, T * D);
        s->rstd = carve(c, T);
        s->normed = carve_act(c, a->with16, T, D);
        s->xz = carve_act(c, a->with16, T, 2 * E);
        /* with bf16 operands u is in u16 and delta in bf16, but for the fp32 rows of small
         * decoding steps (u fp32; their dt_proj runs inside the scan: no delta) */
        s->u = i ? u : (u = carve(c, (a->with16 ? fp32_rows : T) * E));
        s->xdbl = carve(c, T * X);
        s->delta = i ? delta : (delta = carve_act(c, a->with16, T, E));
        s->y = carve_act(c, a->with16, T, E);
        s->u16 = a->with16 ? (uint16_t *)carve(c, (T * E + 1) / 2) : NULL;
    }
    a->mix = carve(c, T * D);
    a->resid_f = carve(c, T * D);
    a->rstd_f = carve(c, T);
    a->normed_f = carve(c, T * D);
    a->logits = a->head_rows ? carve(c, a->head_rows * V) : NULL;
    a->losses = carve(c, T);
    a->weights = carve(c, T);
    if (a->with_grads) {
        a->dresid = carve(c, T * D);
        a->dnormed = carve(c, T * D);
        a->dy = carve(c, T * E);
        a->dxz = carve(c, T * 2 * E);
        a->du = carve(c, T * E);
        a->ddelta = carve(c, T * E);
        a->dxdbl = carve(c, T * X);
    }
    /* integer buffers: sizeof(int32_t) == sizeof(float) */
    a->ids = (int32_t *)carve(c, T);
    a->targets = (int32_t *)carve(c, T);
    a->reset = (uint8_t *)carve(c, (T + 3) / 4);
    a->dresid16 = a->with16 && a->with_grads ? (uint16_t *)carve(c, (T * D + 1) / 2) : NULL;
    a->logits16 = a->with16 && a->with_grads && a->head_rows &&
                          a->head_rows <= MK_HEAD_CHUNK_ROWS
                      ? (uint16_t *)carve(c, (a->head_rows * V + 1) / 2)
                      : NULL;
}

mk_status mk_model_reserve_acts(struct mk_model *m, size_t T, int n_sets, size_t head_rows,
                                int with_grads)
{
    struct mk_acts *a = &m->acts;
    const int with16 = m->bf16_operands;
    if (a->block && T <= a->T && n_sets <= a->n_sets && head_rows <= a->head_rows &&
        (!with_grads || a->with_grads) && with16 == a->with16)
        return MK_OK;
    struct mk_acts want = {0};
    want.T = T > a->T ? T : a->T;
    want.n_sets = n_sets > a->n_sets ? n_sets : a->n_sets;
    want.head_rows = head_rows > a->head_rows ? head_rows : a->head_rows;
    want.with_grads = with_grads || a->with_grads;
    want.with16 = with16; /* the bf16 layout's buffers are too small for fp32 activations */
    want.set = calloc((size_t)want.n_sets, sizeof *want.set);
    if (!want.set)
        return mk_fail(MK_ERR_NOMEM, "out of memory for activation views");
    struct carver count = {NULL, 0};
    layout_acts(&want, &count, &m->cfg);
    acts_free(m);
    mk_status st = m->ops->alloc((void **)&want.block, count.used * sizeof(float));
    if (st != MK_OK) {
        free(want.set);
        return mk_fail(st, "cannot allocate activations for %zu tokens (%.1f MiB) on %s", T,
                       count.used * 4.0 / (1 << 20), m->ops->name);
    }
    want.floats = count.used;
    struct carver real = {want.block, 0};
    layout_acts(&want, &real, &m->cfg);
    *a = want;
    return MK_OK;
}
