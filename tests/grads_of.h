/* grads_of.h — the model tests' training-step helpers: zero the gradients, forward with
 * targets (and optional loss weights), backward, and return a malloc'ed copy of the gradient
 * block; or the logits and gradients of a forward + backward into the caller's buffers (bail
 * out on any error); and a batch of random ids with their next-token targets. Header-only;
 * include after model_internal.h and tap.h.
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

/* ids [B, L] uniform over the V tokens (mk_rng from seed) and their next-token targets */
static inline void random_batch(int32_t *ids, int32_t *tg, int B, int L, int V, uint64_t seed)
{
    struct mk_rng r;
    mk_rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)B * L; i++)
        ids[i] = (int32_t)(mk_rng_next(&r) % V);
    mk_next_token_targets(tg, ids, B, L);
}

/* logits [B, L, V] and gradients of one forward + backward of ids with targets tg */
static inline void logits_and_grads(struct mk_model *m, const int32_t *ids, const int32_t *tg,
                                    int B, int L, float *logits, float *grads)
{
    float loss;
    if (mk_model_forward(m, ids, B, L, tg, &loss, logits, NULL) != MK_OK ||
        mk_model_zero_grads(m) != MK_OK || mk_model_backward(m) != MK_OK ||
        mk_model_get_grads(m, grads) != MK_OK)
        bail_out("forward/backward: %s", mk_last_error());
}

#endif
