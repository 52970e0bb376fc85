/* test_classifier.c — the classification head (lib/classifier.c: the pooling on the backbone's
 * backend, the head on the host). On the CPU, the gradients of its loss against central finite
 * differences of that loss: every element of the head's W and bias, and a sample of the
 * backbone's parameters (through mk_model_backward_features and the pooling's backward), for
 * mean and last pooling over rows of different lengths (L, a few tokens, 1) with one
 * unlabelled row; the forward's count of correct rows against the argmax of its
 * probabilities. Then, where there is a GPU, the same model and batches on CUDA (fp32 GEMMs)
 * against the CPU: probabilities, loss and every gradient.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "classifier.h"
#include "model_internal.h"
#include "compare.h"
#include "tap.h"

enum { D = 16, NL = 2, V = 9, C = 3, B = 4, L = 12, SAMPLES = 48 };

static const int32_t lengths[B] = {L, 5, 1, 9};
static const int32_t labels[B] = {0, 2, 1, -1}; /* the last row has no label: no gradient */

struct setup {
    struct mk_model *m;
    struct mk_classifier *c;
};

static struct setup make(enum mk_device dev, int pool, const float *params)
{
    struct mk_config cfg;
    mk_config_default(&cfg, D, NL, V);
    struct setup s = {NULL, NULL};
    if (mk_model_create(&s.m, &cfg, dev, 0) != MK_OK || mk_model_init(s.m, 3) != MK_OK ||
        (params && mk_model_set_params(s.m, params) != MK_OK) ||
        mk_classifier_create(&s.c, s.m, C, pool) != MK_OK)
        bail_out("%s", mk_last_error());
    /* W and bias of order 1 (not the init's 0.02), so the backbone's gradients are not small
     * beside the fp32 noise of the loss */
    struct mk_rng r;
    mk_rng_seed(&r, 11);
    for (size_t i = 0; i < s.c->n_params; i++)
        s.c->params[i] = (float)(2 * mk_rng_uniform(&r) - 1);
    return s;
}

static void drop(struct setup *s)
{
    mk_classifier_free(s->c, s->m);
    mk_model_free(s->m);
}

/* the batch: random ids, padding past each row's length */
static struct mk_batch batch(int32_t *ids)
{
    struct mk_rng r;
    mk_rng_seed(&r, 5);
    for (int i = 0; i < B * L; i++)
        ids[i] = i % L < lengths[i / L] ? (int32_t)(mk_rng_next(&r) % V) : 0;
    struct mk_batch b = {0};
    b.B = B;
    b.L = L;
    b.ids = ids;
    b.labels = (int32_t *)labels;
    b.lengths = (int32_t *)lengths;
    return b;
}

static double loss_of(struct setup *s, const struct mk_batch *b, float *probs)
{
    double loss;
    int correct, counted;
    if (mk_classifier_forward(s->c, s->m, b, probs, &loss, &correct, &counted) != MK_OK)
        bail_out("%s", mk_last_error());
    return loss;
}

/* the loss's gradients: the head's into c->grads, the backbone's returned (malloc'ed) */
static float *grads(struct setup *s, const struct mk_batch *b, float *probs, double *loss)
{
    float *g = malloc(mk_model_layout(s->m)->total * sizeof *g);
    mk_classifier_zero_grads(s->c);
    *loss = loss_of(s, b, probs);
    if (mk_model_zero_grads(s->m) != MK_OK || mk_classifier_backward(s->c, s->m, 0) != MK_OK ||
        mk_model_get_grads(s->m, g) != MK_OK)
        bail_out("%s", mk_last_error());
    return g;
}

/* (f(x + h) - f(x - h)) / 2h of the loss in one float x */
static double central(struct setup *s, const struct mk_batch *b, float *x, float *block, float h)
{
    const float x0 = *x;
    double f[2];
    for (int k = 0; k < 2; k++) {
        *x = k ? x0 - h : x0 + h;
        if (block && mk_model_set_params(s->m, block) != MK_OK)
            bail_out("%s", mk_last_error());
        f[k] = loss_of(s, b, NULL);
    }
    const double step = (double)(x0 + h) - (double)(x0 - h);
    *x = x0;
    if (block && mk_model_set_params(s->m, block) != MK_OK)
        bail_out("%s", mk_last_error());
    return (f[0] - f[1]) / step;
}

/* d(loss)/dx by Richardson's extrapolation of central differences, (4 D(h/2) - D(h)) / 3,
 * which cancels their h^2 term: the embedding's entries are ~0.02 and the norms make the
 * loss strongly curved there. h = 2e-3 (1 + |x|) keeps the model's fp32 rounding of the loss
 * (~1e-7) near 1e-4 of the gradients of order 0.1-10. */
static double numeric(struct setup *s, const struct mk_batch *b, float *x, float *block)
{
    const float h = 2e-3f * (1 + fabsf(*x));
    return (4 * central(s, b, x, block, h / 2) - central(s, b, x, block, h)) / 3;
}

/* max |analytic - numeric| / max |numeric| over the sampled elements */
struct err {
    double d, n;
};

static void err_add(struct err *e, double analytic, double num)
{
    e->d = fmax(e->d, fabs(analytic - num));
    e->n = fmax(e->n, fabs(num));
}

static double err_rel(const struct err *e)
{
    return e->n > 0 ? e->d / e->n : e->d;
}

/* Tolerance 2e-3 of the largest numeric gradient: measured 2e-5..4e-4; a wrong factor (a
 * missing 1/len_b, a gradient on padding) is off by order 1. */
#define FD_TOL 2e-3

static void check_fd(int pool, const char *name)
{
    int32_t ids[B * L];
    const struct mk_batch b = batch(ids);
    struct setup s = make(MK_DEVICE_CPU, pool, NULL);
    double loss;
    float *g = grads(&s, &b, NULL, &loss);
    float *head = malloc(s.c->n_params * sizeof *head);
    for (size_t i = 0; i < s.c->n_params; i++)
        head[i] = s.c->grads[i];
    struct err eh = {0, 0}, eb = {0, 0};
    for (size_t i = 0; i < s.c->n_params; i++)
        err_add(&eh, head[i], numeric(&s, &b, &s.c->params[i], NULL));
    ok(err_rel(&eh) <= FD_TOL, "%s: head W and bias (%zu) against finite differences: rel err "
       "%.1e (max|num| %.2g)", name, s.c->n_params, err_rel(&eh), eh.n);
    const size_t P = mk_model_layout(s.m)->total;
    float *block = malloc(P * sizeof *block);
    if (mk_model_get_params(s.m, block) != MK_OK)
        bail_out("%s", mk_last_error());
    struct mk_rng r;
    mk_rng_seed(&r, 17);
    for (int k = 0; k < SAMPLES; k++) {
        size_t i = mk_rng_next(&r) % P;
        err_add(&eb, g[i], numeric(&s, &b, &block[i], block));
    }
    ok(err_rel(&eb) <= FD_TOL, "%s: %d backbone parameters against finite differences: rel "
       "err %.1e (max|num| %.2g)", name, SAMPLES, err_rel(&eb), eb.n);
    free(g), free(head), free(block);
    drop(&s);
}

/* CUDA (fp32 GEMMs) against the CPU on the same parameters: 1e-4 of the largest value (the
 * same sums in other orders through a 2-layer model) */
static void check_cuda(int pool, const char *name)
{
    int32_t ids[B * L];
    const struct mk_batch b = batch(ids);
    struct setup cpu = make(MK_DEVICE_CPU, pool, NULL);
    const size_t P = mk_model_layout(cpu.m)->total;
    float *block = malloc(P * sizeof *block);
    if (mk_model_get_params(cpu.m, block) != MK_OK)
        bail_out("%s", mk_last_error());
    struct setup gpu = make(MK_DEVICE_CUDA, pool, block);
    float pc[B * C], pg[B * C];
    double lc, lg;
    float *gc = grads(&cpu, &b, pc, &lc), *gg = grads(&gpu, &b, pg, &lg);
    const float ep = max_rel_diff(pg, pc, B * C), eg = max_rel_diff(gg, gc, P);
    const float eh = max_rel_diff(gpu.c->grads, cpu.c->grads, cpu.c->n_params);
    ok(ep <= 1e-4f && fabs(lg - lc) <= 1e-4 * fabs(lc), "%s: cuda probabilities and loss == "
       "cpu (max rel %.1e; loss %.7f vs %.7f)", name, ep, lg, lc);
    ok(eg <= 1e-4f && eh <= 1e-4f, "%s: cuda gradients == cpu (backbone max rel %.1e, head "
       "%.1e)", name, eg, eh);
    free(block), free(gc), free(gg);
    drop(&cpu);
    drop(&gpu);
}

/* `correct` (the training's validation accuracy) == the labelled rows whose largest
 * probability is their label (the classify task's count), over 30 random heads */
static void check_correct(void)
{
    int32_t ids[B * L];
    const struct mk_batch b = batch(ids);
    struct setup s = make(MK_DEVICE_CPU, MK_POOL_MEAN, NULL);
    struct mk_rng r;
    mk_rng_seed(&r, 23);
    int bad = 0, total = 0;
    for (int trial = 0; trial < 30; trial++) {
        for (size_t i = 0; i < s.c->n_params; i++)
            s.c->params[i] = (float)(6 * mk_rng_uniform(&r) - 3);
        float p[B * C];
        double loss;
        int correct, counted, hits = 0;
        if (mk_classifier_forward(s.c, s.m, &b, p, &loss, &correct, &counted) != MK_OK)
            bail_out("%s", mk_last_error());
        for (int row = 0; row < B; row++) {
            int arg = 0;
            for (int k = 1; k < C; k++)
                arg = p[row * C + k] > p[row * C + arg] ? k : arg;
            hits += labels[row] >= 0 && arg == labels[row];
        }
        bad += correct != hits || counted != 3;
        total += hits;
    }
    ok(bad == 0, "forward's correct == argmax of its probabilities over the labelled rows (%d "
       "of 30 heads differ; %d hits of 90)", bad, total);
    drop(&s);
}

int main(void)
{
    plan_lazy();
    check_fd(MK_POOL_MEAN, "mean pooling");
    check_fd(MK_POOL_LAST, "last pooling");
    check_correct();
    if (mk_cuda_device_count() > 0) {
        check_cuda(MK_POOL_MEAN, "mean pooling");
        check_cuda(MK_POOL_LAST, "last pooling");
    }
    return exit_status();
}
