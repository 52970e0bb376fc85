/* grads_of.h — the model tests' training-step helper: zero the gradients, forward with
 * targets (and optional loss weights), backward, and return a malloc'ed copy of the gradient
 * block (bail out on any error). Header-only; include after model_internal.h and tap.h.
 */
#ifndef MK_TESTS_GRADS_OF_H
#define MK_TESTS_GRADS_OF_H

#include <stdlib.h>

static inline float *grads_of(struct mk_model *m, const int32_t *ids, const int32_t *tg,
                              const float *w, int B, int L, float *loss)
{
    float *g = malloc(mk_model_layout(m)->total * sizeof *g);
    if (mk_model_zero_grads(m) != MK_OK ||
        mk_model_forward_packed(m, ids, NULL, B, L, tg, w, loss, NULL, NULL) != MK_OK ||
        mk_model_backward(m) != MK_OK || mk_model_get_grads(m, g) != MK_OK)
        bail_out("%s", mk_last_error());
    return g;
}

#endif
