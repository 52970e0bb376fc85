/* bench_model.c — end-to-end speed of the model on a Mamba-130M-shaped configuration
 * (d_model 768, 24 layers, vocab 50280, randomly initialised: speed does not depend on the
 * values), on the CPU or on CUDA, each figure printed beside its anchor and the ratio
 * (above 1x: faster than the anchor).
 *
 *   CPU  (anchor: llama.cpp fp32 on a 2-core machine like CI's)
 *        prefill  1 x 512 forward, state only, no logits (llama.cpp's pp512)   260 tokens/s
 *        decode   mk_model_step at batch 1, logits every token (tg)            41 tokens/s
 *        train    forward + backward at 1 x 256                                 (no anchor)
 *   CUDA (anchor: official mamba_ssm on one H100, bf16; ours fp32, or bf16 GEMMs)
 *        train    forward + backward at 8 x 2048                                164K tokens/s
 *                 and the GPU memory in use after it                            14.7 GiB peak
 *        decode   mk_model_step at batch 1                                      0.70 ms/token
 *        decode   mk_model_step at batch 64                                     76K tokens/s
 *        prefill  1 x 65536, state only                                         790K tokens/s
 * On CUDA the step is one replayed CUDA graph; the decode rows are repeated without it
 * (MK_NO_CUDA_GRAPH=1, kernel by kernel) for comparison, unless that is already set.
 * It first checks that stepping reproduces the forward's logits (relative 1e-5).
 * --precision bf16 (CUDA only, mk_model_set_precision) runs the rows with bf16 tensor-core
 * GEMMs (fp32 storage and accumulation); the 1e-5 check is then made in fp32 first, and
 * repeated in bf16 against 5e-2 (bf16 rounding of the GEMM inputs, compounded over the layers).
 *
 *   bench/bench_model [--device cpu|cuda] [--precision fp32|bf16] [--layers N] [--reps N]
 * (OMP_NUM_THREADS sets the CPU threads; run on an idle machine.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mambakit.h"
#include "ops.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_model: %s: %s\n", what, mk_last_error());
    exit(1);
}

/* Stepping 4 tokens must give the logits of one forward (relative tol). */
static void check_consistency(struct mk_model *m, const int32_t *ids, int V, double tol,
                              const char *mode)
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
    printf("check: step vs forward logits max rel diff %.2e in %s %s\n", md / mx, mode,
           md / mx < tol ? "(ok)" : "(FAILED)");
    if (!(md / mx < tol))
        exit(1);
    mk_state_free(s);
    free(full);
    free(one);
}

/* Seconds per call of a forward over [B, L] with a state and no logits (prefill). */
static double time_prefill(struct mk_model *m, const int32_t *ids, int B, int L, int reps)
{
    struct mk_state *s = NULL;
    if (mk_state_create(&s, m, B) != MK_OK || mk_model_forward(m, ids, B, L, NULL, NULL, NULL, s) != MK_OK)
        die("prefill");
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        mk_state_reset(s);
        if (mk_model_forward(m, ids, B, L, NULL, NULL, NULL, s) != MK_OK)
            die("prefill");
    }
    mk_state_free(s);
    return (now() - t0) / reps;
}

/* Seconds per step of batch B (logits [B, V] read back every step, as generation does). */
static double time_decode(struct mk_model *m, const int32_t *ids, int B, int steps)
{
    struct mk_state *s = NULL;
    float *logits = malloc((size_t)B * mk_model_config(m)->vocab_size * sizeof *logits);
    if (mk_state_create(&s, m, B) != MK_OK || mk_model_step(m, s, ids, logits) != MK_OK)
        die("decode");
    double t0 = now();
    for (int i = 0; i < steps; i++)
        if (mk_model_step(m, s, ids + (size_t)(i % 4) * B, logits) != MK_OK)
            die("decode");
    double dt = (now() - t0) / steps;
    mk_state_free(s);
    free(logits);
    return dt;
}

/* Seconds per training step (forward with targets + backward) over [B, L]. */
static double time_train(struct mk_model *m, const int32_t *ids, int B, int L, int reps)
{
    int32_t *targets = malloc((size_t)B * L * sizeof *targets);
    mk_next_token_targets(targets, ids, B, L);
    float loss;
    if (mk_model_zero_grads(m) != MK_OK || mk_model_forward(m, ids, B, L, targets, &loss, NULL, NULL) != MK_OK ||
        mk_model_backward(m) != MK_OK)
        die("train step");
    double t0 = now();
    for (int r = 0; r < reps; r++)
        if (mk_model_forward(m, ids, B, L, targets, &loss, NULL, NULL) != MK_OK || mk_model_backward(m) != MK_OK)
            die("train step");
    free(targets);
    return (now() - t0) / reps;
}

static void row(const char *what, double value, const char *unit, double anchor, int lower_is_better)
{
    double ratio = lower_is_better ? anchor / value : value / anchor;
    const int prec = value < 100 ? 3 : 1; /* ms/token needs the digits */
    if (anchor > 0)
        printf("%-34s %12.*f %-10s %12.*f %7.2fx\n", what, prec, value, unit, prec, anchor, ratio);
    else
        printf("%-34s %12.*f %-10s %12s %8s\n", what, prec, value, unit, "-", "-");
}

int main(int argc, char **argv)
{
    int layers = 24, reps = 0;
    const char *device = "cpu", *precision = "fp32";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--layers"))
            layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--device"))
            device = argv[i + 1];
        else if (!strcmp(argv[i], "--precision"))
            precision = argv[i + 1];
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    enum mk_device dev;
    int idx;
    if (mk_device_parse(device, &dev, &idx) != MK_OK)
        die("device");
    const int gpu = dev == MK_DEVICE_CUDA;
    const int bf16 = !strcmp(precision, "bf16");
    if (!bf16 && strcmp(precision, "fp32")) {
        fprintf(stderr, "bench_model: --precision: '%s' is not one of fp32|bf16\n", precision);
        return 1;
    }
    if (bf16 && !gpu) {
        fprintf(stderr, "bench_model: --precision bf16 needs --device cuda\n");
        return 1;
    }
    struct mk_config cfg;
    mk_config_default(&cfg, 768, layers, 50280);
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, dev, idx) != MK_OK || mk_model_init(m, 1) != MK_OK)
        die("create");
    const int V = cfg.vocab_size;
    const size_t max_tokens = gpu ? 65536 : 512;
    int32_t *ids = malloc(max_tokens * sizeof *ids);
    struct mk_rng r;
    mk_rng_seed(&r, 3);
    for (size_t i = 0; i < max_tokens; i++)
        ids[i] = (int32_t)(mk_rng_next(&r) % (uint64_t)V);
    printf("model: d_model 768, %d layers, vocab %d, %.1fM parameters, fp32 on %s, GEMMs in %s\n",
           layers, V, mk_model_layout(m)->total / 1e6, gpu ? "cuda" : "cpu",
           bf16 ? "bf16 (fp32 accumulation)" : "fp32");
    check_consistency(m, ids, V, 1e-5, "fp32");
    if (bf16) {
        if (mk_model_set_precision(m, MK_PRECISION_BF16) != MK_OK)
            die("precision");
        check_consistency(m, ids, V, 5e-2, "bf16");
    }
    printf("%-34s %12s %-10s %12s %8s\n", "what", "ours", "unit", "anchor", "ratio");
    if (gpu) {
        reps = reps ? reps : 10;
        row("train fwd+bwd 8 x 2048", 8 * 2048 / time_train(m, ids, 8, 2048, reps), "tokens/s", 164e3, 0);
        /* nothing is freed between steps, so what is in use now is the training peak (without
         * an optimizer's two moments: + 1.0 GiB for AdamW on this model) */
        size_t used = 0, total = 0;
        if (mk_cuda_mem_info(idx, &used, &total) == MK_OK)
            row("train 8 x 2048: GPU memory in use", used / 1073741824.0, "GiB", 14.7, 1);
        row("decode batch 1", 1e3 * time_decode(m, ids, 1, 200), "ms/token", 0.70, 1);
        row("decode batch 64", 64 / time_decode(m, ids, 64, 100), "tokens/s", 76e3, 0);
        if (!getenv("MK_NO_CUDA_GRAPH")) { /* the same without the CUDA graph, for comparison */
            setenv("MK_NO_CUDA_GRAPH", "1", 1);
            row("decode batch 1 (no graph)", 1e3 * time_decode(m, ids, 1, 200), "ms/token", 0.70, 1);
            row("decode batch 64 (no graph)", 64 / time_decode(m, ids, 64, 100), "tokens/s", 76e3, 0);
            unsetenv("MK_NO_CUDA_GRAPH");
        }
        row("prefill 1 x 65536 (no logits)", 65536 / time_prefill(m, ids, 1, 65536, 3), "tokens/s", 790e3, 0);
        printf("anchors: official mamba_ssm 2.3.2 bf16 on one H100 80GB (decode with CUDA graphs)\n");
    } else {
        reps = reps ? reps : 2;
        row("prefill 1 x 512 (pp512)", 512 / time_prefill(m, ids, 1, 512, reps), "tokens/s", 260, 0);
        row("decode batch 1 (tg)", 1 / time_decode(m, ids, 1, 32), "tokens/s", 41, 0);
        row("train fwd+bwd 1 x 256", 256 / time_train(m, ids, 1, 256, reps), "tokens/s", 0, 0);
        printf("anchors: llama.cpp fp32 on a 2-core machine (decode memory-bandwidth limit ~55 tokens/s)\n");
    }
    mk_model_free(m);
    free(ids);
    return 0;
}
