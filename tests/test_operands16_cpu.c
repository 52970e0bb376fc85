/* test_operands16_cpu.c — the bf16 mode's activation wiring (lib/forward.c, lib/backward.c and
 * the half-size activation layout of lib/model.c), run on the CPU reference ops, which
 * implement every bf16 variant the wiring uses (grad_write.h; tests/test_ops_bf16 checks them).
 * The model with bf16_operands set (which only the CUDA bf16 mode sets; here the test does)
 * against the same model in fp32:
 *   - forward and backward at 2 x L: logits and gradients within 2e-2 of their scale (seen:
 *     5.7e-3, 4.1e-3; the activations rounded to bf16 where products, the conv and the scan read
 *     them; the weights stay fp32 here, so this is the activations' share of the bf16 error);
 *   - decoding steps at batch 16 (bf16 rows) within 2e-2, and at batch 4 (MK_STEP_FP32_ROWS:
 *     fp32 rows) bit for bit;
 *   - back in fp32 (the activations laid out again): the first results bit for bit.
 */
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "compare.h"
#include "tap.h"
#include "grads_of.h"

enum { D = 32, NL = 2, V = 64, L = 300, STEPS = 5 };

/* logits of STEPS steps at batch B from a fresh state */
static void step_logits(struct mk_model *m, const int32_t *ids, int B, float *out)
{
    struct mk_state *s = NULL;
    if (mk_state_create(&s, m, B) != MK_OK)
        bail_out("state: %s", mk_last_error());
    for (int t = 0; t < STEPS; t++)
        if (mk_model_step(m, s, ids + (size_t)t * B, out + (size_t)t * B * V) != MK_OK)
            bail_out("step: %s", mk_last_error());
    mk_state_free(s);
}

/* dt_proj's weights x 30: delta of order 1-10, so that dt (and everything after it) depends
 * on delta as much as in a trained model (at init dt is mostly its bias: a zeroed delta
 * passed the comparisons below) */
static void widen_dt(struct mk_model *m)
{
    float *p = malloc(m->lay.total * sizeof *p);
    if (!p || mk_model_get_params(m, p) != MK_OK)
        bail_out("params: %s", mk_last_error());
    const size_t n = (size_t)m->cfg.d_inner * m->cfg.dt_rank;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        float *w = p + (m->p.layer[l].dt_proj_w - m->params);
        for (size_t i = 0; i < n; i++)
            w[i] *= 30;
    }
    if (mk_model_set_params(m, p) != MK_OK)
        bail_out("params: %s", mk_last_error());
    free(p);
}

int main(void)
{
    plan_lazy();
    struct mk_config cfg;
    mk_config_default(&cfg, D, NL, V);
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, MK_DEVICE_CPU, 0) != MK_OK || mk_model_init(m, 3) != MK_OK)
        bail_out("%s", mk_last_error());
    widen_dt(m);
    const size_t P = m->lay.total, T = 2 * (size_t)L;
    int32_t *ids = malloc(T * sizeof *ids), *tg = malloc(T * sizeof *tg);
    random_batch(ids, tg, 2, L, V, 5);
    float *la = malloc(T * V * sizeof *la), *lb = malloc(T * V * sizeof *lb);
    float *ga = malloc(P * sizeof *ga), *gb = malloc(P * sizeof *gb);
    float *sa16 = malloc(STEPS * 16 * V * sizeof *sa16), *sb16 = malloc(STEPS * 16 * V * 4);
    float *sa4 = malloc(STEPS * 4 * V * sizeof *sa4), *sb4 = malloc(STEPS * 4 * V * 4);

    logits_and_grads(m, ids, tg, 2, L, la, ga);
    step_logits(m, ids, 16, sa16);
    step_logits(m, ids, 4, sa4);

    m->bf16_operands = 1;
    logits_and_grads(m, ids, tg, 2, L, lb, gb);
    ok(m->acts.with16, "the activations are laid out for bf16 operands");
    float e = max_rel_diff(lb, la, T * V), eg = max_rel_diff(gb, ga, P);
    ok(e <= 2e-2f && eg <= 2e-2f, "forward 2 x %d with bf16 activations == fp32 within bf16 "
       "error (logits %.1e, gradients %.1e; tolerance 2e-2)", L, e, eg);
    ok(e > 0, "... and they are rounded (logits differ by %.1e)", e);
    step_logits(m, ids, 16, sb16);
    e = max_rel_diff(sb16, sa16, (size_t)STEPS * 16 * V);
    ok(e <= 2e-2f && e > 0, "%d steps at batch 16 with bf16 rows == fp32 within 2e-2 (%.1e)",
       STEPS, e);
    step_logits(m, ids, 4, sb4);
    ok(!memcmp(sb4, sa4, (size_t)STEPS * 4 * V * sizeof *sa4),
       "%d steps at batch 4 (fp32 rows in the bf16 layout) == fp32 bit for bit", STEPS);

    m->bf16_operands = 0;
    logits_and_grads(m, ids, tg, 2, L, lb, gb);
    ok(!m->acts.with16 && !memcmp(la, lb, T * V * sizeof *la) &&
           !memcmp(ga, gb, P * sizeof *ga),
       "back in fp32 (activations laid out again): the first results bit for bit");
    free(ids), free(tg), free(la), free(lb), free(ga), free(gb);
    free(sa16), free(sb16), free(sa4), free(sb4);
    mk_model_free(m);
    return exit_status();
}
