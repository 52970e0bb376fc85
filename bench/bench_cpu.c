/* bench_cpu.c — CPU speed of the reference backend on a Mamba-130M-shaped model (d_model 768,
 * 24 layers, vocab 50280, randomly initialised: speed does not depend on the values):
 *   prefill  tokens/s of one forward over 1 x 512 tokens (state only, no logits: llama.cpp's pp512)
 *   decode   tokens/s of mk_model_step at batch 1 (logits for every token: llama.cpp's tg)
 *   train    tokens/s of forward + backward at batch 1 x 256 (a small-model training proxy)
 * It checks first that stepping reproduces the forward's logits, then prints each figure with
 * the llama.cpp anchor measured on a 2-core machine like CI's (fp32: 41 tokens/s decode,
 * 260 tokens/s pp512) and the ratio.
 *   bench/bench_cpu [--layers N] [--decode N] [--prefill L]    (OMP_NUM_THREADS sets threads)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mambakit.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_cpu: %s: %s\n", what, mk_last_error());
    exit(1);
}

/* Stepping 4 tokens must give the logits of one forward (relative 1e-5). */
static void check_consistency(struct mk_model *m, const int32_t *ids, int V)
{
    enum { n = 4 };
    float *full = malloc((size_t)n * V * sizeof *full), *one = malloc((size_t)V * sizeof *one);
    struct mk_state *s = NULL;
    if (mk_model_forward(m, ids, 1, n, NULL, NULL, full, NULL) != MK_OK || mk_state_create(&s, m, 1) != MK_OK)
        die("forward");
    float md = 0, mx = 0;
    for (int t = 0; t < n; t++) {
        if (mk_model_step(m, s, &ids[t], one) != MK_OK)
            die("step");
        for (int v = 0; v < V; v++) {
            md = fmaxf(md, fabsf(one[v] - full[(size_t)t * V + v]));
            mx = fmaxf(mx, fabsf(full[(size_t)t * V + v]));
        }
    }
    printf("check: step vs forward logits max rel diff %.2e %s\n", md / mx, md / mx < 1e-5 ? "(ok)" : "(FAILED)");
    if (!(md / mx < 1e-5))
        exit(1);
    mk_state_free(s);
    free(full);
    free(one);
}

int main(int argc, char **argv)
{
    int layers = 24, n_decode = 32, prefill = 512, train_L = 256;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--layers"))
            layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--decode"))
            n_decode = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prefill"))
            prefill = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--train"))
            train_L = atoi(argv[i + 1]);
    }
    struct mk_config cfg;
    mk_config_default(&cfg, 768, layers, 50280);
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, MK_DEVICE_CPU, 0) != MK_OK || mk_model_init(m, 1) != MK_OK)
        die("create");
    const int V = cfg.vocab_size;
    const int maxL = prefill > train_L ? prefill : train_L;
    int32_t *ids = malloc((size_t)maxL * sizeof *ids), *targets = malloc((size_t)maxL * sizeof *ids);
    struct mk_rng r;
    mk_rng_seed(&r, 3);
    for (int i = 0; i < maxL; i++)
        ids[i] = (int32_t)(mk_rng_next(&r) % (uint64_t)V);
    printf("model: d_model 768, %d layers, vocab %d, %.1fM parameters, fp32 CPU\n", layers, V,
           mk_model_layout(m)->total / 1e6);
    check_consistency(m, ids, V);

    struct mk_state *s = NULL;
    mk_state_create(&s, m, 1);
    mk_model_forward(m, ids, 1, 8, NULL, NULL, NULL, s); /* warm up */
    mk_state_reset(s);
    double t0 = now();
    if (mk_model_forward(m, ids, 1, prefill, NULL, NULL, NULL, s) != MK_OK)
        die("prefill");
    double pp = prefill / (now() - t0);

    float *logits = malloc((size_t)V * sizeof *logits);
    mk_model_step(m, s, ids, logits); /* warm up */
    t0 = now();
    for (int i = 0; i < n_decode; i++)
        if (mk_model_step(m, s, &ids[i % maxL], logits) != MK_OK)
            die("step");
    double tg = n_decode / (now() - t0);

    mk_next_token_targets(targets, ids, 1, train_L);
    float loss;
    mk_model_zero_grads(m);
    t0 = now();
    if (mk_model_forward(m, ids, 1, train_L, targets, &loss, NULL, NULL) != MK_OK || mk_model_backward(m) != MK_OK)
        die("train step");
    double tr = train_L / (now() - t0);

    printf("%-28s %10s %10s %8s\n", "what", "tokens/s", "anchor", "ratio");
    printf("%-28s %10.1f %10.1f %7.2fx\n", "prefill 1 x 512 (pp512)", pp, 260.0, pp / 260.0);
    printf("%-28s %10.1f %10.1f %7.2fx\n", "decode batch 1 (tg)", tg, 41.0, tg / 41.0);
    printf("%-28s %10.1f %10s %8s\n", "train fwd+bwd 1 x 256", tr, "-", "-");
    printf("anchors: llama.cpp fp32 on a 2-core machine (decode memory-bandwidth limit ~55 tokens/s)\n");
    mk_state_free(s);
    mk_model_free(m);
    free(ids);
    free(targets);
    free(logits);
    return 0;
}
