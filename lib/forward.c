/* forward.c — the forward pass as a list of op calls, and the one-token recurrent step.
 *
 *   r_0 = embed(ids)
 *   for each layer l:  h = RMSNorm_l(r_l);  r_{l+1} = r_l + Mixer_l(h)
 *   logits = RMSNorm_f(r_n) · W_head^T
 * with the add of r_{l+1} fused into the next norm. The mixer (MAMBA.md §1.2):
 *   [x | z] = in_proj(h);  u = SiLU(conv1d(x));  [dt_raw | B | C] = x_proj(u)
 *   delta = dt_proj(dt_raw);  y = scan(u, delta + dt_bias, A, B, C, D) · SiLU(z);  out_proj(y)
 * When targets are given (and no recurrent state), every layer keeps its activations for
 * backward and the head and its loss run over the rows in chunks (lib/head.c), which backward
 * runs again for the gradient (mk_model_forward_backward takes it in the forward's chunks
 * instead); otherwise all layers share one set of buffers. mk_model_forward_features stops after the
 * final norm for task heads of their own (classification).
 */
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"

/* Whether this forward's products take bf16 operands written by their producers
 * (m->bf16_operands): not in a decoding step of at most MK_STEP_FP32_ROWS sequences, whose
 * products read fp32 rows (the CUDA backend's GEMV, kernels/gemv.cu). */
static int operands16(const struct mk_model *m, const struct mk_state *s, int B, int L)
{
    return m->bf16_operands && !(s && L == 1 && B <= MK_STEP_FP32_ROWS);
}

static void mixer_forward(struct mk_model *m, int l, struct mk_layer_acts *a, float *out,
                          const uint8_t *reset, struct mk_state *s, int B, int L)
{
    const struct mk_ops *ops = m->ops;
    const struct mk_config *c = &m->cfg;
    const struct mk_layer_params *lp = &m->p.layer[l];
    const size_t T = (size_t)B * L;
    const int D = c->d_model, E = c->d_inner, R = c->dt_rank, K = c->d_conv;
    const int X = R + 2 * c->d_state;
    float *conv_state = s ? s->conv + (size_t)l * B * E * (K - 1) : NULL;
    float *ssm_state = s ? s->ssm + (size_t)l * B * E * c->d_state : NULL;

    /* with bf16 operands, normed, xz (in_proj's output), delta (dt_proj's) and y hold bf16
     * (in their fp32 buffers) and u exists in bf16 only (a->u16, kept per layer when
     * training) */
    const int h = operands16(m, s, B, L);
    uint16_t *normed16 = h ? (uint16_t *)a->normed : NULL, *y16 = h ? (uint16_t *)a->y : NULL;
    uint16_t *u16 = h ? a->u16 : NULL, *xz16 = h ? (uint16_t *)a->xz : NULL;
    ops->linear_fwd(h ? NULL : a->xz, h ? NULL : a->normed, D, lp->in_proj_w, lp->in_proj_b, T,
                    D, 2 * E, normed16, xz16);
    ops->conv1d_fwd(h ? NULL : a->u, conv_state, h ? NULL : a->xz, 2 * E, lp->conv_w, lp->conv_b,
                    reset, B, L, E, K, u16, xz16);
    ops->linear_fwd(a->xdbl, h ? NULL : a->u, E, lp->x_proj_w, NULL, T, E, X, u16, NULL);
    struct mk_scan_in in = mk_scan_inputs(c, lp, a, reset, B, L, u16);
    in.out16 = y16;
    if (s && L == 1) { /* the step: dt_proj inside the scan, one kernel fewer (scan.h) */
        in.x_dt = a->xdbl;
        in.W_dt = lp->dt_proj_w;
        in.R = R;
    } else {
        ops->linear_fwd(h ? NULL : a->delta, a->xdbl, X, lp->dt_proj_w, NULL, T, R, E, NULL,
                        h ? (uint16_t *)a->delta : NULL);
    }
    ops->scan_fwd(h ? NULL : a->y, ssm_state, &in);
    /* out: in bf16 with bf16 operands (autocast's out_proj output), which the next norm adds
     * to the fp32 residual */
    ops->linear_fwd(h ? NULL : out, h ? NULL : a->y, E, lp->out_proj_w, lp->out_proj_b, T, E, D,
                    y16, h ? (uint16_t *)out : NULL);
}

static mk_status check_inputs(const struct mk_model *m, const int32_t *ids,
                              const int32_t *targets, int B, int L, const struct mk_state *s)
{
    if (B <= 0 || L <= 0)
        return mk_fail(MK_ERR_INVALID, "batch %d x length %d: both must be positive", B, L);
    const int V = m->cfg.vocab_size;
    for (size_t i = 0; i < (size_t)B * L; i++) {
        if (ids[i] < 0 || ids[i] >= V)
            return mk_fail(MK_ERR_INVALID, "token id %d at [%zu, %zu] is outside the vocabulary [0, %d)",
                           ids[i], i / (size_t)L, i % (size_t)L, V);
        if (targets && (targets[i] < -1 || targets[i] >= V))
            return mk_fail(MK_ERR_INVALID, "target %d at [%zu, %zu] is outside [0, %d) and not -1 (ignore)",
                           targets[i], i / (size_t)L, i % (size_t)L, V);
    }
    if (s && (s->B != B || s->n_layer != m->cfg.n_layer || s->E != m->cfg.d_inner ||
              s->N != m->cfg.d_state || s->K != m->cfg.d_conv || s->ops != m->ops))
        return mk_fail(MK_ERR_INVALID, "the recurrent state was made for another model or batch "
                       "(state batch %d, input batch %d)", s->B, B);
    return MK_OK;
}

/* The kernels of the embedding, the layers and the final norm over the ids already in the
 * activations (dev_reset: the reset mask there, or NULL). */
static void backbone_ops(struct mk_model *m, const uint8_t *dev_reset, int B, int L, int keep,
                         struct mk_state *s)
{
    const struct mk_ops *ops = m->ops;
    const struct mk_config *c = &m->cfg;
    const size_t T = (size_t)B * L;
    const int D = c->d_model;
    struct mk_acts *a = &m->acts;
    const int h = operands16(m, s, B, L);
    const uint16_t *mix16 = (const uint16_t *)a->mix; /* the mixer's output with h (above) */
    ops->embedding_fwd(a->set[0].resid, a->ids, m->p.wte, T, D);
    for (int l = 0; l < c->n_layer; l++) {
        struct mk_layer_acts *cur = &a->set[keep ? l : 0];
        const struct mk_layer_acts *prev = &a->set[keep && l > 0 ? l - 1 : 0];
        ops->add_rmsnorm_fwd(cur->resid, h ? NULL : cur->normed, cur->rstd, prev->resid,
                             l > 0 && !h ? a->mix : NULL, m->p.layer[l].norm_w, T, D,
                             c->norm_eps, h ? (uint16_t *)cur->normed : NULL,
                             l > 0 && h ? mix16 : NULL);
        mixer_forward(m, l, cur, a->mix, dev_reset, s, B, L);
    }
    const struct mk_layer_acts *last = &a->set[keep ? c->n_layer - 1 : 0];
    ops->add_rmsnorm_fwd(a->resid_f, a->normed_f, a->rstd_f, last->resid, h ? NULL : a->mix,
                         m->p.norm_f, T, D, c->norm_eps, NULL, h ? mix16 : NULL);
}

/* Embedding, the layers and the final norm: leaves normed_f [T, D] in the activations. With
 * keep, every layer keeps its activations for backward. */
static mk_status run_backbone(struct mk_model *m, const int32_t *ids, const uint8_t *reset,
                              int B, int L, int keep, size_t head_rows, struct mk_state *s)
{
    const struct mk_ops *ops = m->ops;
    const struct mk_config *c = &m->cfg;
    const size_t T = (size_t)B * L;
    m->fwd_ready = m->fwd_head_grad = 0;
    mk_model_weights_ready(m);
    mk_status st = mk_model_reserve_acts(m, T, keep ? c->n_layer : 1, head_rows, keep);
    if (st != MK_OK)
        return st;
    struct mk_acts *a = &m->acts;
    st = ops->upload(a->ids, ids, T * sizeof(int32_t));
    if (st == MK_OK && reset)
        st = ops->upload(a->reset, reset, T);
    if (st != MK_OK)
        return st;
    backbone_ops(m, reset ? a->reset : NULL, B, L, keep, s);
    if (keep) {
        m->fwd_B = B;
        m->fwd_L = L;
        m->fwd_has_reset = reset != NULL;
        m->fwd_operands16 = operands16(m, s, B, L);
    }
    return MK_OK;
}

/* The forward; with head_grad, the head's chunks also leave d(loss)/d(normed_f) in
 * acts.dnormed and add the head's gradient (a backward of the backbone must follow). */
static mk_status forward(struct mk_model *m, const int32_t *ids, const uint8_t *reset, int B,
                         int L, const int32_t *targets, const float *weights, float *loss,
                         float *logits, struct mk_state *s, int head_grad)
{
    const struct mk_ops *ops = m->ops;
    const struct mk_config *c = &m->cfg;
    mk_status st = check_inputs(m, ids, targets, B, L, s);
    if (st != MK_OK)
        return st;
    const size_t T = (size_t)B * L;
    const int keep = targets && !s;
    /* all T rows of logits when they are wanted, else the head's chunk for the loss */
    const size_t head_rows = logits ? T : targets ? (T < MK_HEAD_CHUNK_ROWS ? T : MK_HEAD_CHUNK_ROWS) : 0;
    st = run_backbone(m, ids, reset, B, L, keep, head_rows, s);
    if (st != MK_OK)
        return st;
    struct mk_acts *a = &m->acts;
    if (targets)
        st = mk_head_targets(m, targets, weights, T);
    if (st == MK_OK && logits) {
        ops->linear_fwd(a->logits, a->normed_f, c->d_model, m->p.head, NULL, T, c->d_model,
                        c->vocab_size, NULL, NULL);
        st = ops->download(logits, a->logits, T * (size_t)c->vocab_size * sizeof(float));
    }
    if (st == MK_OK && targets && head_grad)
        st = m->grads ? MK_OK : mk_model_zero_grads(m);
    if (st == MK_OK && targets) {
        mk_head_chunks(m, T, head_grad, logits != NULL);
        st = mk_head_loss(m, T, loss);
    }
    if (st == MK_OK)
        st = ops->sync();
    m->fwd_ready = st == MK_OK && keep ? MK_FWD_LM : 0;
    m->fwd_head_grad = m->fwd_ready && head_grad;
    return st;
}

mk_status mk_model_forward_packed(struct mk_model *m, const int32_t *ids, const uint8_t *reset,
                                  int B, int L, const int32_t *targets, const float *weights,
                                  float *loss, float *logits, struct mk_state *s)
{
    return forward(m, ids, reset, B, L, targets, weights, loss, logits, s, 0);
}

mk_status mk_model_forward_backward_packed(struct mk_model *m, const int32_t *ids,
                                           const uint8_t *reset, int B, int L,
                                           const int32_t *targets, const float *weights,
                                           float *loss)
{
    if (!targets)
        return mk_fail(MK_ERR_INVALID, "forward_backward needs targets");
    mk_status st = forward(m, ids, reset, B, L, targets, weights, loss, NULL, NULL, 1);
    return st != MK_OK ? st : mk_model_backward(m);
}

mk_status mk_model_forward_backward(struct mk_model *m, const int32_t *ids, int B, int L,
                                    const int32_t *targets, float *loss)
{
    return mk_model_forward_backward_packed(m, ids, NULL, B, L, targets, NULL, loss);
}

mk_status mk_model_forward_features(struct mk_model *m, const int32_t *ids, const uint8_t *reset,
                                    int B, int L, const float **features)
{
    mk_status st = check_inputs(m, ids, NULL, B, L, NULL);
    if (st == MK_OK)
        st = run_backbone(m, ids, reset, B, L, 1, 0, NULL);
    if (st == MK_OK)
        st = m->ops->sync();
    m->fwd_ready = st == MK_OK ? MK_FWD_FEATURES : 0;
    *features = st == MK_OK ? m->acts.normed_f : NULL;
    return st;
}

mk_status mk_model_forward(struct mk_model *m, const int32_t *ids, int B, int L,
                           const int32_t *targets, float *loss, float *logits,
                           struct mk_state *state)
{
    return mk_model_forward_packed(m, ids, NULL, B, L, targets, NULL, loss, logits, state);
}

/* The step on a backend with graphs (CUDA): its ~10 kernels per layer recorded once per state
 * and replayed, as one launch, while the pointers they were recorded with hold (see struct
 * mk_step_key); the ids are uploaded into the activations before the replay and the logits
 * read back after it. MK_NO_CUDA_GRAPH=1 (any value but 0) runs it kernel by kernel. */
static int step_graph_wanted(const struct mk_model *m, const struct mk_state *s)
{
    if (!m->ops->graph_begin || s->graph_off)
        return 0;
    const char *no = getenv("MK_NO_CUDA_GRAPH");
    return !(no && *no && strcmp(no, "0") != 0);
}

static int step_key_equal(const struct mk_step_key *x, const struct mk_step_key *y)
{
    return x->m == y->m && x->params == y->params && x->block == y->block &&
           x->floats == y->floats && x->T == y->T && x->n_sets == y->n_sets &&
           x->head_rows == y->head_rows && x->with_grads == y->with_grads &&
           x->need_head == y->need_head && x->D == y->D && x->V == y->V &&
           x->argmax == y->argmax && x->precision_gen == y->precision_gen;
}

/* The step through its CUDA graph; with `greedy`, the graph also takes the argmax of each row
 * of logits into acts.targets and only those B ids are read back (into next). */
static mk_status step_graph(struct mk_model *m, struct mk_state *s, const int32_t *ids,
                            float *logits, int32_t *next)
{
    const struct mk_ops *ops = m->ops;
    const struct mk_config *c = &m->cfg;
    const int B = s->B, greedy = next != NULL, need_head = logits != NULL || greedy;
    mk_status st = check_inputs(m, ids, NULL, B, 1, s);
    if (st != MK_OK)
        return st;
    m->fwd_ready = 0;
    mk_model_weights_ready(m); /* before the graph is recorded or replayed */
    st = mk_model_reserve_acts(m, (size_t)B, 1, need_head ? (size_t)B : 0, 0);
    if (st != MK_OK)
        return st;
    struct mk_acts *a = &m->acts;
    const struct mk_step_key key = {
        .m = m, .params = m->params, .block = a->block, .floats = a->floats, .T = a->T,
        .n_sets = a->n_sets, .head_rows = a->head_rows, .with_grads = a->with_grads,
        .need_head = need_head, .D = c->d_model, .V = c->vocab_size, .argmax = greedy,
        .precision_gen = m->precision_gen,
    };
    if (s->graph && !step_key_equal(&key, &s->graph_key)) {
        ops->graph_free(s->graph);
        s->graph = NULL;
    }
    if (!s->graph) {
        st = ops->graph_begin();
        if (st != MK_OK)
            return st;
        backbone_ops(m, NULL, B, 1, 0, s);
        if (need_head)
            ops->linear_fwd(a->logits, a->normed_f, c->d_model, m->p.head, NULL, (size_t)B,
                            c->d_model, c->vocab_size, NULL, NULL);
        if (greedy)
            ops->argmax_rows(a->targets, a->logits, (size_t)B, c->vocab_size);
        if (ops->graph_end(&s->graph) != MK_OK) { /* kernel by kernel from now on */
            s->graph_off = 1;
            return MK_ERR_UNSUPPORTED;
        }
        s->graph_key = key;
    }
    st = ops->upload(a->ids, ids, (size_t)B * sizeof(int32_t));
    if (st == MK_OK)
        st = ops->graph_launch(s->graph);
    if (st == MK_OK && logits)
        st = ops->download(logits, a->logits, (size_t)B * c->vocab_size * sizeof(float));
    if (st == MK_OK && greedy)
        st = ops->download(next, a->targets, (size_t)B * sizeof(int32_t));
    if (st == MK_OK)
        st = ops->sync();
    return st;
}

mk_status mk_model_step(struct mk_model *m, struct mk_state *s, const int32_t *ids, float *logits)
{
    if (mk_cpu_step_wanted(m, s)) /* CPU, batch 1: the fused step of lib/state.c */
        return mk_cpu_step(m, s, ids, logits);
    if (step_graph_wanted(m, s)) {
        mk_status st = step_graph(m, s, ids, logits, NULL);
        if (!(st == MK_ERR_UNSUPPORTED && s->graph_off))
            return st;
    }
    return mk_model_forward_packed(m, ids, NULL, s->B, 1, NULL, NULL, NULL, logits, s);
}

mk_status mk_model_step_greedy(struct mk_model *m, struct mk_state *s, const int32_t *ids,
                               int32_t *next)
{
    if (!mk_cpu_step_wanted(m, s) && step_graph_wanted(m, s)) {
        mk_status st = step_graph(m, s, ids, NULL, next);
        if (!(st == MK_ERR_UNSUPPORTED && s->graph_off))
            return st;
    }
    /* no graph: the logits come back (into a buffer the state keeps, so decoding allocates
     * nothing per token) and the pick is made here, as the CPU reference does */
    const size_t B = (size_t)s->B, V = (size_t)m->cfg.vocab_size;
    if (s->greedy_n < B * V) {
        free(s->greedy_logits);
        s->greedy_n = 0;
        if (!(s->greedy_logits = malloc(B * V * sizeof *s->greedy_logits)))
            return mk_fail(MK_ERR_NOMEM, "out of memory for %zu x %zu logits", B, V);
        s->greedy_n = B * V;
    }
    mk_status st = mk_model_step(m, s, ids, s->greedy_logits);
    if (st == MK_OK)
        mk_ops_cpu()->argmax_rows(next, s->greedy_logits, B, (int)V);
    return st;
}

void mk_next_token_targets(int32_t *targets, const int32_t *ids, int B, int L)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            targets[(size_t)b * L + t] = t + 1 < L ? ids[(size_t)b * L + t + 1] : -1;
}
