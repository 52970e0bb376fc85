/* adamw.h — the AdamW update (decoupled weight decay, Loshchilov & Hutter) and the squared
 * gradient norm used for global-norm clipping.
 *
 *   g  = grad * grad_scale                        (grad_scale = clip factor, 1 when not clipping)
 *   m  = beta1 m + (1 - beta1) g
 *   v  = beta2 v + (1 - beta2) g^2
 *   p  = p * (1 - lr * weight_decay)
 *   p -= lr * (m / bc1) / (sqrt(v) / sqrt(bc2) + eps)
 * with bc1 = 1 - beta1^step, bc2 = 1 - beta2^step (step counts from 1), in the order
 * torch.optim.AdamW uses.
 * sumsq returns sum_i x[i]^2 accumulated in double.
 */
#ifndef MK_ADAMW_H
#define MK_ADAMW_H
#include <stddef.h>
#include "real.h"

struct mk_adamw_hp {
    float lr, beta1, beta2, eps, weight_decay, grad_scale;
    float bc1, bc2; /* bias corrections 1 - beta^step */
};

void MK_REF(adamw)(mk_real *p, mk_real *m, mk_real *v, const mk_real *grad, size_t n,
                   const struct mk_adamw_hp *hp);
double MK_REF(sumsq)(const mk_real *x, size_t n);

#endif
