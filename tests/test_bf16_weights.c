/* test_bf16_weights.c — the bf16 copies of the weight matrices that the CUDA backend keeps in
 * the bf16 mode (kernels/bf16.cu, lib/precision.c). References, none of them the copies:
 *   - the same model with the copies off (MK_NO_BF16_WEIGHTS=1: every product rounds W
 *     itself) for a forward and its gradients at 2 x 300 rows (>= 512: both round both
 *     operands; the same products, so within 1e-6);
 *   - and with fp32 activations as well (MK_NO_BF16_OPERANDS=1: in_proj's output, u, dxz and
 *     ddelta in fp32, rounded by the products; the bf16 mode keeps xz and u in bf16, as
 *     autocast does, so the two differ by that rounding: within bf16 error, 2e-2 of the logits'
 *     scale and 5e-2 of the gradients');
 *   - for the decoding step, a model in the fp32 mode whose matrices were rounded to bf16 on
 *     the host: the step's GEMV reads the bf16 copy and multiplies in fp32, so at batch 1 it
 *     must give that model's step within fp32 rounding (1e-5); at batch 16 (cuBLAS on bf16
 *     operands, the rows rounded too) within bf16 error (2e-2);
 *   - after new parameters (mk_model_set_params), the same comparisons again: a stale copy would give the old
 *     model's outputs, far outside these tolerances. The step is replayed from its CUDA graph
 *     by then, so this also checks that the copies are refreshed before a replay.
 * Untied embeddings, so that rounding the head does not round the embedding. Skips without a
 * GPU.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "compare.h"
#include "tap.h"
#include "grads_of.h"

enum { D = 32, NL = 2, V = 64, L = 300, BSTEP = 16 };

static struct mk_model *make(const struct mk_config *cfg, enum mk_precision p, const float *params)
{
    struct mk_model *m = NULL;
    if (mk_model_create(&m, cfg, MK_DEVICE_CUDA, 0) != MK_OK ||
        mk_model_set_params(m, params) != MK_OK || mk_model_set_precision(m, p) != MK_OK)
        bail_out("model: %s", mk_last_error());
    return m;
}

/* x rounded to bf16 (nearest even, as __float2bfloat16_rn; half.h) */
static float bf16_round(float x)
{
    return mk_bf16_to_f32(mk_f32_to_bf16(x));
}

/* params with every weight matrix (the four of each layer and the head) rounded to bf16 */
static float *rounded_matrices(const struct mk_model *m, const float *params)
{
    const size_t P = m->lay.total;
    float *r = malloc(P * sizeof *r);
    memcpy(r, params, P * sizeof *r);
    const struct mk_config *c = &m->cfg;
    const int E = c->d_inner, R = c->dt_rank, X = R + 2 * c->d_state;
    for (int l = 0; l < c->n_layer; l++) {
        const struct mk_layer_params *lp = &m->p.layer[l];
        const struct { const float *w; size_t n; } mats[] = {
            {lp->in_proj_w, (size_t)2 * E * D}, {lp->x_proj_w, (size_t)X * E},
            {lp->dt_proj_w, (size_t)E * R}, {lp->out_proj_w, (size_t)D * E}};
        for (int i = 0; i < 4; i++)
            for (size_t k = 0; k < mats[i].n; k++) {
                const size_t o = (size_t)(mats[i].w - m->params) + k;
                r[o] = bf16_round(r[o]);
            }
    }
    const size_t ho = (size_t)(m->p.head - m->params);
    for (size_t k = 0; k < (size_t)V * D; k++)
        r[ho + k] = bf16_round(r[ho + k]);
    return r;
}

/* logits of `steps` steps at batch B from a fresh state */
static void step_logits(struct mk_model *m, struct mk_state *s, const int32_t *ids, int B,
                        int steps, float *out)
{
    mk_state_reset(s);
    for (int t = 0; t < steps; t++)
        if (mk_model_step(m, s, ids + (size_t)t * B, out + (size_t)t * B * V) != MK_OK)
            bail_out("step: %s", mk_last_error());
}

/* the reference steps: a model in the fp32 mode with the matrices of `params` rounded to
 * bf16, `steps` steps at batch 1 (ref1) and BSTEP (ref16) */
static void reference_steps(const struct mk_config *cfg, const float *params, const int32_t *ids,
                            int steps, float *ref1, float *ref16)
{
    struct mk_model *host = NULL;
    if (mk_model_create(&host, cfg, MK_DEVICE_CPU, 0) != MK_OK)
        bail_out("%s", mk_last_error());
    float *rp = rounded_matrices(host, params);
    mk_model_free(host);
    struct mk_model *ref = make(cfg, MK_PRECISION_FP32, rp);
    struct mk_state *s1 = NULL, *s16 = NULL;
    if (mk_state_create(&s1, ref, 1) != MK_OK || mk_state_create(&s16, ref, BSTEP) != MK_OK)
        bail_out("%s", mk_last_error());
    step_logits(ref, s1, ids, 1, steps, ref1);
    step_logits(ref, s16, ids, BSTEP, steps, ref16);
    mk_state_free(s1), mk_state_free(s16);
    mk_model_free(ref);
    free(rp);
}

/* every comparison with the parameters `params` (already in `kept`); s1 and s16 are kept's
 * states, whose step graphs are recorded by the first round and replayed by the second */
static void compare_all(struct mk_model *kept, struct mk_model *per_call,
                        struct mk_model *acts32, const float *params, struct mk_state *s1,
                        struct mk_state *s16, const int32_t *ids, const int32_t *tg,
                        const float *ref1, const float *ref16, int steps, const char *when)
{
    const size_t P = kept->lay.total, T = 2 * (size_t)L;
    float *la = malloc(T * V * sizeof *la), *lb = malloc(T * V * sizeof *lb);
    float *ga = malloc(P * sizeof *ga), *gb = malloc(P * sizeof *gb);
    if (mk_model_set_params(per_call, params) != MK_OK ||
        mk_model_set_params(acts32, params) != MK_OK)
        bail_out("%s", mk_last_error());
    logits_and_grads(kept, ids, tg, 2, L, la, ga);
    logits_and_grads(per_call, ids, tg, 2, L, lb, gb);
    float e = max_rel_diff(la, lb, T * V), eg = max_rel_diff(ga, gb, P);
    ok(e <= 1e-6f && eg <= 1e-6f, "%s: forward 2 x %d in bf16 with kept copies == rounding per "
       "call (logits max rel %.1e, gradients %.1e)", when, L, e, eg);
    logits_and_grads(acts32, ids, tg, 2, L, lb, gb);
    e = max_rel_diff(la, lb, T * V), eg = max_rel_diff(ga, gb, P);
    ok(e <= 2e-2f && eg <= 5e-2f, "%s: bf16 activations == fp32 activations within bf16 error "
       "(logits max rel %.1e, tolerance 2e-2; gradients %.1e, 5e-2)", when, e, eg);
    step_logits(kept, s1, ids, 1, steps, la);
    e = max_rel_diff(la, ref1, (size_t)steps * V);
    ok(e <= 1e-5f, "%s: %d steps at batch 1 (GEMV on the kept copies) == fp32 steps of the "
       "bf16-rounded matrices (max rel %.1e, tolerance 1e-5)", when, steps, e);
    step_logits(kept, s16, ids, BSTEP, steps, la);
    e = max_rel_diff(la, ref16, (size_t)steps * BSTEP * V);
    ok(e <= 2e-2f, "%s: %d steps at batch %d (bf16 GEMMs on the kept copies) == fp32 steps of "
       "the bf16-rounded matrices within bf16 error (max rel %.1e, tolerance 2e-2)", when,
       steps, BSTEP, e);
    free(la), free(lb), free(ga), free(gb);
}

int main(void)
{
    if (mk_cuda_device_count() == 0) {
        printf("1..0 # SKIP no CUDA device\n");
        return 0;
    }
    plan_lazy();
    struct mk_config cfg;
    mk_config_default(&cfg, D, NL, V);
    cfg.tie_embeddings = 0;
    struct mk_model *init = NULL;
    if (mk_model_create(&init, &cfg, MK_DEVICE_CPU, 0) != MK_OK || mk_model_init(init, 3) != MK_OK)
        bail_out("%s", mk_last_error());
    const size_t P = init->lay.total, T = 2 * (size_t)L;
    float *p1 = malloc(P * sizeof *p1), *p2 = malloc(P * sizeof *p2);
    mk_model_get_params(init, p1);
    mk_model_init(init, 11);
    mk_model_get_params(init, p2);
    mk_model_free(init);
    int32_t *ids = malloc(T * sizeof *ids), *tg = malloc(T * sizeof *tg);
    random_batch(ids, tg, 2, L, V, 5);
    enum { STEPS = 5 };
    float *ref1[2], *ref16[2];
    const float *ps[2] = {p1, p2};
    for (int i = 0; i < 2; i++) { /* fp32 mode: before the bf16 models set the bf16 mode */
        ref1[i] = malloc((size_t)STEPS * V * sizeof(float));
        ref16[i] = malloc((size_t)STEPS * BSTEP * V * sizeof(float));
        reference_steps(&cfg, ps[i], ids, STEPS, ref1[i], ref16[i]);
    }

    setenv("MK_NO_BF16_WEIGHTS", "1", 1);
    struct mk_model *per_call = make(&cfg, MK_PRECISION_BF16, p1);
    setenv("MK_NO_BF16_OPERANDS", "1", 1);
    struct mk_model *acts32 = make(&cfg, MK_PRECISION_BF16, p1);
    unsetenv("MK_NO_BF16_WEIGHTS");
    unsetenv("MK_NO_BF16_OPERANDS");
    struct mk_model *kept = make(&cfg, MK_PRECISION_BF16, p1);
    ok(kept->bf16_weights, "the bf16 mode registers the weight copies");
    ok(kept->bf16_operands && per_call->bf16_operands && !acts32->bf16_operands,
       "the bf16 mode keeps activations and dxz, ddelta in bf16 (not with MK_NO_BF16_OPERANDS=1)");
    struct mk_state *s1 = NULL, *s16 = NULL;
    if (mk_state_create(&s1, kept, 1) != MK_OK || mk_state_create(&s16, kept, BSTEP) != MK_OK)
        bail_out("%s", mk_last_error());
    compare_all(kept, per_call, acts32, p1, s1, s16, ids, tg, ref1[0], ref16[0], STEPS,
                "first parameters");
    if (mk_model_set_params(kept, p2) != MK_OK)
        bail_out("%s", mk_last_error());
    compare_all(kept, per_call, acts32, p2, s1, s16, ids, tg, ref1[1], ref16[1], STEPS,
                "after set_params");
    mk_state_free(s1), mk_state_free(s16);
    if (mk_model_set_precision(kept, MK_PRECISION_FP32) != MK_OK)
        bail_out("%s", mk_last_error());
    ok(!kept->bf16_weights && !kept->bf16_operands, "the fp32 mode drops the copies and the bf16 gradients");
    mk_model_free(kept);
    mk_model_free(per_call);
    mk_model_free(acts32);
    for (int i = 0; i < 2; i++)
        free(ref1[i]), free(ref16[i]);
    free(p1), free(p2), free(ids), free(tg);
    return exit_status();
}
