/* test_loss_weights.c — per-token loss weights in the model's cross-entropy (soft-masked DNA
 * bases weigh less): on the golden tiny model,
 *   1. the loss is sum_t w_t CE_t / sum_t w_t, with CE_t computed here in double from the
 *      transformers logits of tests/data/golden/tiny (within 1e-5);
 *   2. weights that are all 2 give the gradients of no weights (the mean is scale-free);
 *   3. weight 0 on a token gives the gradients of target -1 there.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "safetensors.h"
#include "compare.h"
#include "tap.h"
#include "grads_of.h"

int main(void)
{
    plan(3);
    const char *root = getenv("MK_GOLDEN");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tiny", root ? root : "tests/data/golden");
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    struct mk_model *m = NULL;
    struct mk_st_file rf;
    if (mk_ckpt_load(&m, dir, MK_DEVICE_CPU, 0) != MK_OK || mk_st_open(&rf, path) != MK_OK)
        bail_out("%s", mk_last_error());
    const struct mk_st_tensor *it = mk_st_find(&rf, "input_ids"), *lt = mk_st_find(&rf, "logits");
    const int B = (int)it->shape[0], L = (int)it->shape[1], V = (int)lt->shape[2];
    const size_t T = (size_t)B * L, P = mk_model_layout(m)->total;
    int32_t *ids = malloc(T * sizeof *ids), *tg = malloc(T * sizeof *tg), *tg0 = malloc(T * sizeof *tg);
    float *ref = malloc(T * V * sizeof *ref), *w = malloc(T * sizeof *w), *w2 = malloc(T * sizeof *w);
    mk_st_read_i32(&rf, it, ids);
    mk_st_read_f32(&rf, lt, ref);
    mk_next_token_targets(tg, ids, B, L);
    struct mk_rng r;
    mk_rng_seed(&r, 11);
    double num = 0, den = 0;
    for (size_t t = 0; t < T; t++) {
        w[t] = (float)(0.05 + mk_rng_uniform(&r));
        w2[t] = 2.0f;
        if (tg[t] < 0)
            continue;
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < V; v++)
            mx = fmax(mx, ref[t * V + v]);
        for (int v = 0; v < V; v++)
            s += exp(ref[t * V + v] - mx);
        num += w[t] * (mx + log(s) - ref[t * V + tg[t]]);
        den += w[t];
    }
    float loss = 0, l2 = 0, l3 = 0;
    free(grads_of(m, ids, tg, w, B, L, &loss));
    diag("weighted loss %.7f, expected %.7f", loss, num / den);
    ok(fabs(loss - num / den) <= 1e-5, "weighted loss = sum w CE / sum w of the transformers logits");

    float *g_none = grads_of(m, ids, tg, NULL, B, L, &l2), *g_two = grads_of(m, ids, tg, w2, B, L, &l3);
    float e = max_rel_diff(g_two, g_none, P);
    ok(e <= 1e-6f && fabsf(l2 - l3) <= 1e-6f, "weights all 2 == no weights (grads max rel %.1e)", e);

    /* weight 0 on every third target == those targets ignored */
    memcpy(tg0, tg, T * sizeof *tg);
    for (size_t t = 0; t < T; t++) {
        w2[t] = t % 3 == 0 ? 0.0f : 1.0f;
        if (t % 3 == 0)
            tg0[t] = -1;
    }
    float *g_zero = grads_of(m, ids, tg, w2, B, L, &l2), *g_ign = grads_of(m, ids, tg0, NULL, B, L, &l3);
    e = max_rel_diff(g_zero, g_ign, P);
    ok(e <= 1e-6f && fabsf(l2 - l3) <= 1e-6f, "weight 0 == target ignored (grads max rel %.1e)", e);
    free(g_none), free(g_two), free(g_zero), free(g_ign);
    free(ids), free(tg), free(tg0), free(ref), free(w), free(w2);
    mk_st_close(&rf);
    mk_model_free(m);
    return exit_status();
}
