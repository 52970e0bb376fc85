/* test_head_chunks.c — the LM head and its loss run over the rows in chunks of
 * MK_HEAD_CHUNK_ROWS (lib/head.c); a batch of two rows longer than one chunk together
 * (T = 2 x 2100 > 4096: two chunks, the second of 104 rows) must give what the two rows give
 * one at a time (T = 2100: one chunk), combined by the definition of the weighted mean:
 *   loss = (W_0 l_0 + W_1 l_1) / (W_0 + W_1),  grad = (W_0 g_0 + W_1 g_1) / (W_0 + W_1),
 * W_b the weight sum of row b's targets; with random per-token weights (so the weights'
 * offsets into each chunk matter) and a few ignored targets. On the CPU and, where there is
 * one, on the GPU (fp32 GEMMs). Tolerance 1e-5 of the largest gradient: the same sums in
 * another order. And mk_model_forward_backward_packed (the head's gradient taken in the
 * forward's chunks) gives the loss and gradients of the forward and backward calls.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "model_internal.h"
#include "compare.h"
#include "tap.h"
#include "grads_of.h"

#define L 2100

static void check_device(enum mk_device dev, const char *name)
{
    struct mk_config cfg;
    mk_config_default(&cfg, 16, 2, 40);
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, dev, 0) != MK_OK || mk_model_init(m, 5) != MK_OK)
        bail_out("%s: %s", name, mk_last_error());
    const size_t T = 2 * (size_t)L, P = mk_model_layout(m)->total;
    int32_t *ids = malloc(T * sizeof *ids), *tg = malloc(T * sizeof *tg);
    float *w = malloc(T * sizeof *w);
    struct mk_rng r;
    mk_rng_seed(&r, 7);
    for (size_t i = 0; i < T; i++)
        ids[i] = (int32_t)(mk_rng_next(&r) % 40);
    mk_next_token_targets(tg, ids, 2, L);
    double W[2] = {0, 0};
    for (size_t i = 0; i < T; i++) {
        if (i % 97 == 5)
            tg[i] = -1;
        w[i] = 0.1f + 0.9f * (float)mk_rng_uniform(&r);
        W[i / L] += tg[i] >= 0 ? w[i] : 0.0;
    }
    float loss, l0, l1;
    float *g = grads_of(m, ids, tg, w, 2, L, &loss);
    float *g0 = grads_of(m, ids, tg, w, 1, L, &l0);
    float *g1 = grads_of(m, ids + L, tg + L, w + L, 1, L, &l1);
    for (size_t i = 0; i < P; i++)
        g0[i] = (float)((W[0] * g0[i] + W[1] * g1[i]) / (W[0] + W[1]));
    const double want = (W[0] * l0 + W[1] * l1) / (W[0] + W[1]);
    ok(fabs(loss - want) <= 1e-5 * fabs(want), "%s: loss of 2 x %d rows (two head chunks) %.7f, "
       "of the rows one at a time %.7f", name, L, loss, want);
    float e = max_rel_diff(g, g0, P);
    ok(e <= 1e-5f, "%s: gradients of the two chunks == the rows' gradients combined (max rel %.1e)",
       name, e);
    float fused_loss;
    float *fused = malloc(P * sizeof *fused);
    if (mk_model_zero_grads(m) != MK_OK ||
        mk_model_forward_backward_packed(m, ids, NULL, 2, L, tg, w, &fused_loss) != MK_OK ||
        mk_model_get_grads(m, fused) != MK_OK)
        bail_out("%s", mk_last_error());
    e = max_rel_diff(fused, g, P);
    ok(fused_loss == loss && e <= 1e-6f, "%s: forward_backward == forward, backward (loss %.7f "
       "vs %.7f, gradients max rel %.1e)", name, fused_loss, loss, e);
    ok(mk_model_backward(m) != MK_OK, "%s: a second backward after forward_backward is refused",
       name);
    free(g), free(g0), free(g1), free(fused), free(ids), free(tg), free(w);
    mk_model_free(m);
}

int main(void)
{
    plan_lazy();
    check_device(MK_DEVICE_CPU, "cpu");
    if (mk_cuda_device_count() > 0)
        check_device(MK_DEVICE_CUDA, "cuda");
    return exit_status();
}
