/* head.c — the LM head and its loss over the rows in chunks, so that the [T, V] logits never
 * exist at once (V = 50280 at T = 16384 would be 3.3 GB, more than a layer's activations):
 *
 *   for each chunk of at most MK_HEAD_CHUNK_ROWS rows r:
 *     logits_r = normed_f_r · W_head^T                      (one GEMM)
 *     loss_t   = w_t (logsumexp(logits_t) - logits_t[y_t])   (fused cross-entropy)
 *   and in backward, the same chunk again (recomputed: one GEMM per training step more, the
 *   price of the memory), now with the gradient left in place of the logits,
 *     dlogits_t   = w_t dscale (softmax(logits_t) - onehot(y_t)),  dscale = 1 / sum_t w_t
 *     dnormed_f_r = dlogits_r · W_head,   dW_head += dlogits_r^T · normed_f_r.
 * The loss is the weighted mean over non-ignored targets (w = 1 without weights). With bf16
 * operands (model_internal.h) dlogits is written in bf16 into acts.logits16 instead and the
 * two products read it as it is.
 */
#include <stdlib.h>
#include "model_internal.h"

mk_status mk_head_targets(struct mk_model *m, const int32_t *targets, const float *weights,
                          size_t T)
{
    struct mk_acts *a = &m->acts;
    double count = 0;
    for (size_t i = 0; i < T; i++)
        count += targets[i] >= 0 ? (weights ? weights[i] : 1.0) : 0.0;
    m->fwd_weight_sum = count;
    m->fwd_weighted = weights != NULL;
    mk_status st = m->ops->upload(a->targets, targets, T * sizeof(int32_t));
    if (st == MK_OK && weights)
        st = m->ops->upload(a->weights, weights, T * sizeof(float));
    return st;
}

void mk_head_chunks(struct mk_model *m, size_t T, int grad, int logits_ready)
{
    const struct mk_ops *ops = m->ops;
    const struct mk_config *c = &m->cfg;
    struct mk_acts *a = &m->acts;
    const size_t D = (size_t)c->d_model, rows = a->head_rows;
    /* with bf16 operands the loss's gradient is written in bf16 for the head's products */
    uint16_t *d16 = grad && m->fwd_operands16 ? a->logits16 : NULL;
    for (size_t r0 = 0; r0 < T; r0 += rows) {
        const size_t n = T - r0 < rows ? T - r0 : rows;
        if (!(logits_ready && n == T)) /* (a forward that returns them made all T rows) */
            ops->linear_fwd(a->logits, a->normed_f + r0 * D, (int)D, m->p.head, NULL, n, (int)D,
                            c->vocab_size, NULL, NULL);
        ops->cross_entropy(a->losses + r0, grad && !d16 ? a->logits : NULL, a->logits,
                           a->targets + r0, m->fwd_weighted ? a->weights + r0 : NULL, n,
                           c->vocab_size,
                           m->fwd_weight_sum > 0 ? (float)(1.0 / m->fwd_weight_sum) : 0.0f, d16);
        if (grad)
            ops->linear_bwd(a->dnormed + r0 * D, (int)D, m->g.head, NULL, d16 ? NULL : a->logits,
                            a->normed_f + r0 * D, (int)D, m->p.head, n, (int)D, c->vocab_size,
                            MK_GRAD_SET, d16, NULL, NULL); /* the chunks' rows cover dnormed once */
    }
}

mk_status mk_head_loss(struct mk_model *m, size_t T, float *loss)
{
    float *host = malloc(T * sizeof(float));
    if (!host)
        return mk_fail(MK_ERR_NOMEM, "out of memory reading losses");
    mk_status st = m->ops->download(host, m->acts.losses, T * sizeof(float));
    double sum = 0;
    for (size_t i = 0; st == MK_OK && i < T; i++)
        sum += host[i];
    free(host);
    if (loss) /* sum_t w_t CE_t / sum_t w_t */
        *loss = m->fwd_weight_sum > 0 ? (float)(sum / m->fwd_weight_sum) : 0.0f;
    return st;
}
