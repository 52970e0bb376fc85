/* bench_sampling.c — what sampling costs per token at V = 50280 (issue 9), the sampler before
 * issue 9 (tests/sampling_ref.h: calloc, malloc and a qsort of all V per token) against
 * mk_sampler_pick (one workspace per generation, only the keepable candidates sorted), then CPU
 * decoding of a Mamba-130M-shaped model (d_model 768, 24 layers, random weights) at batch 1 with
 * each sampler in the token loop, in tokens/s.
 *
 * Logits: "model" are a random-weight model's step logits (nearly flat: top-p 0.9 keeps most of
 * the vocabulary, the hard case for the new sampler); "peaked" are synthetic ones shaped like a
 * trained model's (normal, spread 2, with a few tokens 8-12 above). Every timed pick of the two
 * samplers is compared (same random stream): the program fails on any difference.
 *
 *   bench/bench_sampling [--draws N] [--steps N] [--layers N] [--precision fp32|f16|q8]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"
#include "sampling_ref.h"
#define BENCH_NAME "bench_sampling"
#include "util.h"

enum { V = 50280 };

struct setting {
    const char *name;
    float temperature, top_p;
    int top_k;
};

static const struct setting settings[] = {
    {"T 1, top-p 0.9", 1.0f, 0.9f, 0},
    {"T 1, top-k 40, top-p 0.9", 1.0f, 0.9f, 40},
    {"T 1 (no filter)", 1.0f, 1.0f, 0},
    {"T 0 (greedy)", 0.0f, 1.0f, 0},
};

static void opts_of(const struct setting *st, struct mk_sampler_opts *o)
{
    mk_sampler_defaults(o);
    o->temperature = st->temperature;
    o->top_p = st->top_p;
    o->top_k = st->top_k;
}

/* µs per pick of the old and the new sampler over `draws` picks from logits [n_vec][V] */
static void time_samplers(const float *logits, int n_vec, const struct mk_sampler_opts *o,
                          int draws, double *old_us, double *new_us)
{
    float *x = malloc((size_t)V * sizeof *x);
    int32_t *a = malloc((size_t)draws * sizeof *a), *b = malloc((size_t)draws * sizeof *b);
    struct mk_sampler *s = NULL;
    if (!x || !a || !b || mk_sampler_create(&s, V) != MK_OK)
        die("out of memory");
    struct mk_rng r;
    double copy = 0, t0;
    mk_rng_seed(&r, 7);
    t0 = now();
    for (int d = 0; d < draws; d++) /* the copy of the logits, timed to subtract it */
        memcpy(x, logits + (size_t)(d % n_vec) * V, (size_t)V * sizeof *x);
    copy = now() - t0;
    t0 = now();
    for (int d = 0; d < draws; d++) {
        memcpy(x, logits + (size_t)(d % n_vec) * V, (size_t)V * sizeof *x);
        a[d] = ref_sample(x, V, o, &r, NULL, 0);
    }
    *old_us = 1e6 * (now() - t0 - copy) / draws;
    mk_rng_seed(&r, 7);
    t0 = now();
    for (int d = 0; d < draws; d++) {
        memcpy(x, logits + (size_t)(d % n_vec) * V, (size_t)V * sizeof *x);
        b[d] = mk_sampler_pick(s, x, o, &r, NULL, 0);
    }
    *new_us = 1e6 * (now() - t0 - copy) / draws;
    for (int d = 0; d < draws; d++)
        if (a[d] != b[d]) {
            fprintf(stderr, "bench_sampling: pick %d differs: old %d, new %d\n", d, a[d], b[d]);
            exit(1);
        }
    mk_sampler_free(s);
    free(x), free(a), free(b);
}

/* tokens/s of `steps` decoding steps (mk_model_step + a sampler) after 4 warm-up steps */
static double decode_rate(struct mk_model *m, const struct mk_sampler_opts *o, int steps, int use_new)
{
    struct mk_state *st = NULL;
    struct mk_sampler *s = NULL;
    float *logits = malloc((size_t)V * sizeof *logits);
    int32_t *hist = malloc((size_t)(steps + 8) * sizeof *hist);
    if (!logits || !hist || mk_state_create(&st, m, 1) != MK_OK || mk_sampler_create(&s, V) != MK_OK)
        die("decode setup");
    struct mk_rng r;
    mk_rng_seed(&r, 11);
    hist[0] = 17;
    double t0 = 0;
    for (int n = 1; n < steps + 5; n++) {
        if (n == 5)
            t0 = now();
        if (mk_model_step(m, st, &hist[n - 1], logits) != MK_OK)
            die("step");
        hist[n] = use_new ? mk_sampler_pick(s, logits, o, &r, hist, n)
                          : ref_sample(logits, V, o, &r, hist, n);
    }
    const double rate = steps / (now() - t0);
    mk_state_free(st);
    mk_sampler_free(s);
    free(logits), free(hist);
    return rate;
}

int main(int argc, char **argv)
{
    int draws = 200, steps = 32, layers = 24;
    const char *precision = "fp32";
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 < argc && !strcmp(argv[i], "--draws"))
            draws = atoi(argv[i + 1]);
        else if (i + 1 < argc && !strcmp(argv[i], "--steps"))
            steps = atoi(argv[i + 1]);
        else if (i + 1 < argc && !strcmp(argv[i], "--layers"))
            layers = atoi(argv[i + 1]);
        else if (i + 1 < argc && !strcmp(argv[i], "--precision"))
            precision = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_sampling [--draws N] [--steps N] [--layers N] "
                    "[--precision fp32|f16|q8]\n");
            return 2;
        }
    }
    const enum mk_precision prec = !strcmp(precision, "f16") ? MK_PRECISION_F16
                                 : !strcmp(precision, "q8")  ? MK_PRECISION_Q8
                                                              : MK_PRECISION_FP32;
    if (draws <= 0 || steps <= 0 || layers <= 0 || (prec == MK_PRECISION_FP32 && strcmp(precision, "fp32"))) {
        fprintf(stderr, "bench_sampling: --draws, --steps, --layers must be positive and "
                "--precision one of fp32, f16, q8\n");
        return 2;
    }
    struct mk_config cfg;
    mk_config_default(&cfg, 768, layers, V);
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, MK_DEVICE_CPU, 0) != MK_OK || mk_model_init(m, 1) != MK_OK ||
        mk_model_set_precision(m, prec) != MK_OK)
        die("model");

    /* 8 logit vectors of each kind */
    enum { NVEC = 8 };
    float *model_l = malloc((size_t)NVEC * V * sizeof *model_l), *peaked = malloc((size_t)NVEC * V * sizeof *peaked);
    struct mk_state *st = NULL;
    if (!model_l || !peaked || mk_state_create(&st, m, 1) != MK_OK)
        die("logits");
    int32_t id = 17;
    for (int k = 0; k < NVEC; k++) {
        if (mk_model_step(m, st, &id, model_l + (size_t)k * V) != MK_OK)
            die("step");
        id = 100 + 37 * k;
    }
    mk_state_free(st);
    struct mk_rng g;
    mk_rng_seed(&g, 3);
    for (size_t i = 0; i < (size_t)NVEC * V; i++)
        peaked[i] = (float)(2 * mk_rng_normal(&g) + (mk_rng_uniform(&g) < 2e-4 ? 8 + 4 * mk_rng_uniform(&g) : 0));

    printf("sampler cost per token at V %d (%d picks each, identical picks checked)\n", V, draws);
    printf("%-28s %-8s %12s %12s %9s\n", "setting", "logits", "old us", "new us", "speed-up");
    for (size_t k = 0; k < sizeof settings / sizeof settings[0]; k++) {
        struct mk_sampler_opts o;
        opts_of(&settings[k], &o);
        for (int kind = 0; kind < 2; kind++) {
            double old_us, new_us;
            time_samplers(kind ? peaked : model_l, NVEC, &o, draws, &old_us, &new_us);
            printf("%-28s %-8s %12.1f %12.1f %8.1fx\n", settings[k].name, kind ? "peaked" : "model",
                   old_us, new_us, old_us / new_us);
        }
    }
    printf("\nCPU decoding, d_model 768, %d layers, batch 1, %s weights, %d steps\n", layers,
           precision, steps);
    printf("%-28s %12s %12s\n", "setting", "old tok/s", "new tok/s");
    for (size_t k = 0; k < 2; k++) {
        struct mk_sampler_opts o;
        opts_of(&settings[k], &o);
        const double old_rate = decode_rate(m, &o, steps, 0), new_rate = decode_rate(m, &o, steps, 1);
        printf("%-28s %12.1f %12.1f\n", settings[k].name, old_rate, new_rate);
    }
    free(model_l), free(peaked);
    mk_model_free(m);
    return 0;
}
