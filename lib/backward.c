/* backward.c — the backward pass: the forward's op list reversed, line by line.
 *
 * Gradients accumulate into the gradient block (so micro-batches add up); activation
 * gradients live in scratch buffers that their first writer sets (MK_GRAD_SET, grad_write.h)
 * and later writers add to, so none is zeroed but dxdbl (whose columns have two writers that
 * add: dt_proj's din and the scan's dB, dC). In the CUDA bf16 mode (m->bf16_operands), the
 * tensors that only feed products are kept or written in bf16 (grad_write.h). With r_{l+1} = r_l + Mixer_l(N_l(r_l)):
 *   dr_n  = RMSNorm_f'(d normed_f),  d normed_f = dlogits · W_head
 *   dr_l  = dr_{l+1} + N_l'( Mixer_l'(dr_{l+1}) )
 *   dW_embed += scatter(dr_0)   (plus the head's gradient when tied)
 */
#include "model_internal.h"

static void mixer_backward(struct mk_model *m, int l)
{
    const struct mk_ops *ops = m->ops;
    const struct mk_config *c = &m->cfg;
    struct mk_acts *a = &m->acts;
    const struct mk_layer_acts *s = &a->set[l];
    const struct mk_layer_params *lp = &m->p.layer[l];
    const struct mk_layer_params *lg = &m->g.layer[l];
    const int B = m->fwd_B, L = m->fwd_L;
    const size_t T = (size_t)B * L;
    const int D = c->d_model, E = c->d_inner, R = c->dt_rank, N = c->d_state, K = c->d_conv;
    const int X = R + 2 * N;
    const uint8_t *reset = m->fwd_has_reset ? a->reset : NULL;

    /* with bf16 operands (m->bf16_operands), the forward left normed, xz and y in bf16 and
     * kept this layer's u in bf16 (s->u16); backward writes dy (out_proj's input gradient,
     * which the scan reads), dxz and ddelta, which only feed products, in bf16 too, each in
     * the memory of its fp32 buffer, as autocast leaves them */
    const int h = m->fwd_operands16;
    uint16_t *normed16 = h ? (uint16_t *)s->normed : NULL, *y16 = h ? (uint16_t *)s->y : NULL;
    const uint16_t *u16 = h ? s->u16 : NULL, *xz16 = h ? (const uint16_t *)s->xz : NULL;
    const float *u = h ? NULL : s->u, *xz = h ? NULL : s->xz;
    /* u (in fp32) and delta are shared by the layers (see model.c): recompute this layer's */
    if (!h)
        ops->conv1d_fwd(s->u, NULL, s->xz, 2 * E, lp->conv_w, lp->conv_b, reset, B, L, E, K,
                        NULL, NULL);
    ops->linear_fwd(h ? NULL : s->delta, s->xdbl, X, lp->dt_proj_w, NULL, T, R, E, NULL,
                    h ? (uint16_t *)s->delta : NULL);
    ops->zero(a->dxdbl, T * X * sizeof(float));

    /* the mixer's output gradient is the residual gradient dr_{l+1} (in bf16 as the norm's
     * backward left it, with bf16 operands) */
    uint16_t *dy16 = h ? (uint16_t *)a->dy : NULL;
    const uint16_t *dr16 = h ? a->dresid16 : NULL;
    ops->linear_bwd(h ? NULL : a->dy, E, lg->out_proj_w, lg->out_proj_b, dr16 ? NULL : a->dresid,
                    h ? NULL : s->y, E, lp->out_proj_w, T, E, D, MK_GRAD_SET, dr16, y16, dy16);
    struct mk_scan_in in = mk_scan_inputs(c, lp, s, reset, B, L, u16);
    /* dxz [T, 2E] (conv1d's dx, then the scan's dz) and ddelta [T, E], fp32 or bf16 */
    float *dxz = h ? NULL : a->dxz, *ddelta = h ? NULL : a->ddelta;
    uint16_t *dxz16 = h ? (uint16_t *)a->dxz : NULL, *ddelta16 = h ? (uint16_t *)a->ddelta : NULL;
    struct mk_scan_grad g = {
        .du = a->du, .ddelta = ddelta, .ddelta_bias = lg->dt_proj_b, .dA_log = lg->A_log,
        .dB = a->dxdbl + R, .dC = a->dxdbl + R + N, .dD = lg->Dskip,
        .dz = dxz ? dxz + E : NULL, .dstate0 = NULL, .mode = MK_GRAD_SET, /* du, ddelta, dz */
        .ddelta16 = ddelta16, .dz16 = dxz16 ? dxz16 + E : NULL, .dout16 = dy16,
    };
    ops->scan_bwd(&g, h ? NULL : a->dy, NULL, &in);
    ops->linear_bwd(a->dxdbl, X, lg->dt_proj_w, NULL, ddelta, s->xdbl, X, lp->dt_proj_w, T, R,
                    E, MK_GRAD_ADD, ddelta16, NULL, NULL);
    ops->linear_bwd(a->du, E, lg->x_proj_w, NULL, a->dxdbl, u, E, lp->x_proj_w, T, E, X,
                    MK_GRAD_ADD, NULL, u16, NULL);
    ops->conv1d_bwd(dxz, 2 * E, lg->conv_w, lg->conv_b, a->du, NULL, xz, 2 * E, lp->conv_w,
                    lp->conv_b, reset, B, L, E, K, MK_GRAD_SET, dxz16, xz16); /* dxz's 1st half */
    ops->linear_bwd(a->dnormed, D, lg->in_proj_w, lg->in_proj_b, dxz, h ? NULL : s->normed, D,
                    lp->in_proj_w, T, D, 2 * E, MK_GRAD_SET, dxz16, normed16, NULL);
}

/* From d(loss)/d(normed_f) in a->dnormed down to the embedding. */
static mk_status backbone_backward(struct mk_model *m)
{
    const struct mk_ops *ops = m->ops;
    const struct mk_config *c = &m->cfg;
    struct mk_acts *a = &m->acts;
    const size_t T = (size_t)m->fwd_B * m->fwd_L;
    const int D = c->d_model;
    /* dresid also in bf16 for out_proj's backward with bf16 operands (rmsnorm.h) */
    uint16_t *dr16 = m->fwd_operands16 ? a->dresid16 : NULL;
    ops->zero(a->dresid, T * D * sizeof(float));
    ops->rmsnorm_bwd(a->dresid, m->g.norm_f, a->dnormed, a->resid_f, a->rstd_f, m->p.norm_f, T, D,
                     dr16);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        mixer_backward(m, l);
        ops->rmsnorm_bwd(a->dresid, m->g.layer[l].norm_w, a->dnormed, a->set[l].resid,
                         a->set[l].rstd, m->p.layer[l].norm_w, T, D, l > 0 ? dr16 : NULL);
        if (m->grad_ready) /* layer l's gradients are final: data-parallel sums may start */
            m->grad_ready(m->grad_ready_ctx, l);
    }
    ops->embedding_bwd(m->g.wte, a->dresid, a->ids, T, D);
    m->fwd_ready = 0;
    return ops->sync();
}

static mk_status need_forward(struct mk_model *m, int kind, const char *what)
{
    if (m->fwd_ready != kind)
        return mk_fail(MK_ERR_INVALID, "%s needs %s first (and runs once per forward)", what,
                       kind == MK_FWD_LM ? "a forward with targets and no recurrent state"
                                         : "mk_model_forward_features");
    return m->grads ? MK_OK : mk_model_zero_grads(m);
}

mk_status mk_model_backward(struct mk_model *m)
{
    mk_status st = need_forward(m, MK_FWD_LM, "backward");
    if (st != MK_OK)
        return st;
    const size_t T = (size_t)m->fwd_B * m->fwd_L;
    /* head: logits = normed_f · W^T, recomputed chunk by chunk with the loss's gradient
     * (unless mk_model_forward_backward took it in the forward) */
    if (!m->fwd_head_grad)
        mk_head_chunks(m, T, 1, 0);
    m->fwd_head_grad = 0;
    return backbone_backward(m);
}

mk_status mk_model_backward_features(struct mk_model *m, const float *dfeatures)
{
    mk_status st = need_forward(m, MK_FWD_FEATURES, "backward_features");
    if (st != MK_OK)
        return st;
    const size_t bytes = (size_t)m->fwd_B * m->fwd_L * m->cfg.d_model * sizeof(float);
    st = m->ops->copy(m->acts.dnormed, dfeatures, bytes);
    return st != MK_OK ? st : backbone_backward(m);
}
