/* bench_model.c — end-to-end speed of the model on a Mamba-130M-shaped configuration
 * (d_model 768, 24 layers, vocab 50280, randomly initialised: speed does not depend on the
 * values), on the CPU or on CUDA, each figure printed beside its anchor and the ratio
 * (above 1x: faster than the anchor).
 *
 *   CPU  (anchor: llama.cpp on a 2-core machine like CI's, same model shape, 2 threads)
 *        prefill  1 x 512 forward, state only, no logits (llama.cpp's pp512)   260 tokens/s fp32
 *        decode   mk_model_step at batch 1, logits every token (tg), with the
 *                 weights in fp32 / f16 / q8 (mk_model_set_precision)          41 / 72 / 93 tokens/s
 *        train    forward + backward + AdamW at 1 x 256, and the fraction of
 *                 the FMA peak its GEMM flops reach                             (no anchor)
 *        Each CPU row is timed 5 times (--reps) and printed as its median with the min and max:
 *        the machine may be shared. The f16 and q8 rows are preceded by their accuracy against
 *        fp32 (logits over 64 stepped tokens, and whether 64 greedy tokens are the same).
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
 * (OMP_NUM_THREADS sets the CPU threads; run on an idle machine. On the CPU every precision
 * has its row and --precision is not used.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "mambakit.h"
#define BENCH_NAME "bench_model"
#include "util.h"
#include "ops.h"
#include "model_internal.h"
#include "optim.h"


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
    if (mk_model_zero_grads(m) != MK_OK || mk_model_forward_backward(m, ids, B, L, targets, &loss) != MK_OK)
        die("train step");
    double t0 = now();
    for (int r = 0; r < reps; r++)
        if (mk_model_forward_backward(m, ids, B, L, targets, &loss) != MK_OK)
            die("train step");
    free(targets);
    return (now() - t0) / reps;
}

/* ---- CPU rows ------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A rate measured `runs` times: median, min, max, beside the anchor. */
static void row_runs(const char *what, double *v, int runs, const char *unit, double anchor)
{
    qsort(v, (size_t)runs, sizeof *v, cmp_double);
    double med = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
    char range[64];
    snprintf(range, sizeof range, "%.1f-%.1f", v[0], v[runs - 1]);
    if (anchor > 0)
        printf("%-34s %10.1f %13s %-9s %8.1f %7.2fx\n", what, med, range, unit, anchor, med / anchor);
    else
        printf("%-34s %10.1f %13s %-9s %8s %8s\n", what, med, range, unit, "-", "-");
}

/* The core clock, measured: a chain of dependent integer adds (one cycle each on any x86-64
 * of the last decade) timed over ~50 ms. 0 where there is no such assembly. */
static double measure_ghz(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    uint64_t x = 0, n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 100000; i++)
            __asm__ volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                             "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                             "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                             "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
                             : "+r"(x) : "r"(n));
        n += 1600000;
        t = now() - t0;
    } while (t < 0.05);
    return n / t / 1e9;
#else
    return 0;
#endif
}

/* Memory read bandwidth now, in bytes/s: all threads summing their part of a 512 MiB buffer
 * (larger than any cache), best of 5. Decoding reads every weight once per token, so this
 * over the bytes of the weights is the decode speed limit at this moment. */
static double measure_read_bw(void)
{
    const size_t n = (size_t)64 << 20; /* uint64_t: 512 MiB */
    uint64_t *buf = malloc(n * sizeof *buf);
    if (!buf)
        return 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) /* first touch by the thread that reads it */
        buf[i] = i;
    double best = 1e30;
    uint64_t sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        uint64_t x = 0;
#pragma omp parallel for schedule(static) reduction(^ : x)
        for (size_t i = 0; i < n; i += 8) /* four independent chains */
            x ^= (buf[i] ^ buf[i + 4]) + (buf[i + 1] ^ buf[i + 5]) +
                 (buf[i + 2] ^ buf[i + 6]) + (buf[i + 3] ^ buf[i + 7]);
        sink ^= x;
        best = fmin(best, now() - t0);
    }
    free(buf);
    return sink == 1 ? 0 : n * sizeof(uint64_t) / best;
}

/* "cpu MHz" of /proc/cpuinfo (the first core), 0 if absent */
static double cpuinfo_mhz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
            break;
    if (f)
        fclose(f);
    return mhz;
}

/* Multiply-adds per token of the model's GEMMs (in_proj, x_proj, dt_proj, out_proj, head). */
static double gemm_macs_per_token(const struct mk_config *c)
{
    const double D = c->d_model, E = c->d_inner, R = c->dt_rank, X = R + 2.0 * c->d_state;
    return c->n_layer * (2 * E * D + X * E + E * R + D * E) + (double)c->vocab_size * D;
}

/* Seconds per training step as the trainer does it: zero grads, forward and backward in one
 * call, AdamW. */
static double time_train_adamw(struct mk_model *m, struct mk_optim *o, const int32_t *ids,
                               const int32_t *targets, int B, int L)
{
    float loss;
    double t0 = now();
    if (mk_model_zero_grads(m) != MK_OK ||
        mk_model_forward_backward(m, ids, B, L, targets, &loss) != MK_OK)
        die("train step");
    mk_optim_step(o, m->params, m->grads, 1e-5f, 1.0f);
    if (m->ops->sync() != MK_OK)
        die("adamw");
    return now() - t0;
}

/* Accuracy of a reduced-precision decode against fp32: max |diff| / max |logit| over `n`
 * stepped tokens (the same inputs), and the first step where greedy decoding from the same
 * prompt picks another token (n if none). */
static void lowp_accuracy(struct mk_model *m, enum mk_precision p, const int32_t *ids, int n,
                          double *rel, int *same)
{
    const int V = m->cfg.vocab_size;
    float *a = malloc((size_t)n * V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    int32_t *g32 = malloc((size_t)n * sizeof *g32), *glp = malloc((size_t)n * sizeof *glp);
    struct mk_state *s = NULL;
    struct mk_sampler_opts so;
    mk_sampler_defaults(&so);
    so.temperature = 0;
    if (mk_model_set_precision(m, MK_PRECISION_FP32) != MK_OK || mk_state_create(&s, m, 1) != MK_OK)
        die("accuracy");
    for (int t = 0; t < n; t++)
        if (mk_model_step(m, s, &ids[t], a + (size_t)t * V) != MK_OK)
            die("step");
    if (mk_generate(m, ids, 4, n, &so, -1, NULL, NULL, g32, NULL) != MK_OK)
        die("generate");
    if (mk_model_set_precision(m, p) != MK_OK)
        die("precision");
    mk_state_reset(s);
    double md = 0, mx = 0;
    for (int t = 0; t < n; t++) {
        if (mk_model_step(m, s, &ids[t], b) != MK_OK)
            die("step");
        for (int v = 0; v < V; v++) {
            md = fmax(md, fabs((double)b[v] - a[(size_t)t * V + v]));
            mx = fmax(mx, fabs((double)a[(size_t)t * V + v]));
        }
    }
    if (mk_generate(m, ids, 4, n, &so, -1, NULL, NULL, glp, NULL) != MK_OK)
        die("generate");
    *same = 0;
    while (*same < n && g32[*same] == glp[*same])
        (*same)++;
    *rel = md / mx;
    mk_state_free(s);
    free(a), free(b), free(g32), free(glp);
}

static void cpu_rows(struct mk_model *m, const int32_t *ids, int runs)
{
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    const double ghz = measure_ghz(), mhz = cpuinfo_mhz();
    const double clock = ghz > 0 ? ghz : mhz / 1e3;
    const double peak = nt * 2.0 * 8 * 2 * clock * 1e9; /* FMA units x fp32 lanes x flops */
    printf("clock: %.2f GHz measured (dependent integer adds), /proc/cpuinfo says %.0f MHz; "
           "%d threads; FMA peak %d x 2 FMA x 8 lanes x 2 flops x %.2f GHz = %.0f GFLOP/s\n",
           ghz, mhz, nt, nt, clock, peak / 1e9);
    static const struct { enum mk_precision p; const char *name; } lp[] = {
        {MK_PRECISION_F16, "f16"}, {MK_PRECISION_Q8, "q8"}};
    for (int i = 0; i < 2; i++) {
        double rel;
        int same;
        lowp_accuracy(m, lp[i].p, ids, 64, &rel, &same);
        printf("accuracy: %s weights vs fp32: logits max rel diff %.2e over 64 steps; greedy "
               "tokens identical for %d of 64 steps\n", lp[i].name, rel, same);
    }
    if (mk_model_set_precision(m, MK_PRECISION_FP32) != MK_OK)
        die("precision");
    /* bytes read per token: the weight matrices (fp32 / f16 / q8 with its scales) and the
     * other parameters in fp32 (norms, conv, biases, A_log, D, one row of the embedding) */
    const double macs = gemm_macs_per_token(&m->cfg), other = (double)m->lay.total -
        (m->cfg.tie_embeddings ? macs : macs + (double)m->cfg.vocab_size * m->cfg.d_model);
    const double bytes[3] = {4 * macs + 4 * other, 2 * macs + 4 * other,
                             (1 + 4.0 / 32) * macs + 4 * other};
    const double bw = measure_read_bw();
    printf("memory read bandwidth now: %.1f GB/s (all threads, 512 MiB); decode limits now: fp32 "
           "%.0f, f16 %.0f, q8 %.0f tokens/s (weights %.0f / %.0f / %.0f MB per token)\n",
           bw / 1e9, bw / bytes[0], bw / bytes[1], bw / bytes[2], bytes[0] / 1e6,
           bytes[1] / 1e6, bytes[2] / 1e6);
    printf("%-34s %10s %13s %-9s %8s %8s\n", "what (median of runs)", "ours", "min-max", "unit",
           "anchor", "ratio");
    double *v = malloc((size_t)runs * sizeof *v);
    for (int r = 0; r < runs; r++)
        v[r] = 512 / time_prefill(m, ids, 1, 512, 1);
    row_runs("prefill 1 x 512 (pp512) fp32", v, runs, "tokens/s", 260);
    static const struct { enum mk_precision p; const char *what; double anchor; } dec[] = {
        {MK_PRECISION_FP32, "decode batch 1 (tg) fp32", 41},
        {MK_PRECISION_F16, "decode batch 1 (tg) f16 weights", 72},
        {MK_PRECISION_Q8, "decode batch 1 (tg) q8 weights", 93},
    };
    for (int i = 0; i < 3; i++) {
        if (mk_model_set_precision(m, dec[i].p) != MK_OK)
            die("precision");
        for (int r = 0; r < runs; r++)
            v[r] = 1 / time_decode(m, ids, 1, 32);
        row_runs(dec[i].what, v, runs, "tokens/s", dec[i].anchor);
    }
    if (mk_model_set_precision(m, MK_PRECISION_FP32) != MK_OK)
        die("precision");
    enum { B = 1, L = 256 };
    int32_t *targets = malloc((size_t)B * L * sizeof *targets);
    mk_next_token_targets(targets, ids, B, L);
    struct mk_optim *o = NULL;
    const struct mk_optim_hp hp = {0.9f, 0.95f, 1e-8f, 0.1f};
    if (mk_optim_create_for_model(&o, m, &hp, 0, 1) != MK_OK)
        die("optimizer");
    time_train_adamw(m, o, ids, targets, B, L); /* warm-up */
    for (int r = 0; r < runs; r++)
        v[r] = B * L / time_train_adamw(m, o, ids, targets, B, L);
    row_runs("train fwd+bwd+AdamW 1 x 256", v, runs, "tokens/s", 0);
    const double flops = 6 * gemm_macs_per_token(&m->cfg); /* fwd 2, bwd 4 flops per MAC */
    for (int r = 0; r < runs; r++)
        v[r] *= 100 * flops / peak;
    row_runs("  its GEMM flops / FMA peak", v, runs, "%", 0);
    printf("anchors: llama.cpp on issue 9's 2-core Zen 3 VM, 2 threads: pp512 fp32 258-270, "
           "tg fp32 40.5-42.6, F16 70-74, Q8_0 87-100 tokens/s (memory-bandwidth limits ~55, "
           "~109, ~200); bench/llama-anchor.sh measures llama.cpp on this machine\n");
    printf("train: %.0f MFLOP per token in GEMMs (6 x %.1fM multiply-adds; the scan, conv and "
           "norms not counted)\n", flops / 1e6, gemm_macs_per_token(&m->cfg) / 1e6);
    mk_optim_free(o);
    free(targets);
    free(v);
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

/* wants: whether --only (NULL: everything) asks for the group of rows named what */
static int wants(const char *only, const char *what)
{
    return !only || !strcmp(only, what);
}

/* The CUDA rows beside the official mamba_ssm figures (--only: one group, for profiling). */
static void gpu_rows(struct mk_model *m, const int32_t *ids, int reps, int idx, const char *only)
{
    printf("%-34s %12s %-10s %12s %8s\n", "what", "ours", "unit", "anchor", "ratio");
    if (wants(only, "train")) {
        row("train fwd+bwd 8 x 2048", 8 * 2048 / time_train(m, ids, 8, 2048, reps), "tokens/s", 164e3, 0);
        /* nothing is freed between steps, so what is in use now is the training peak (without
         * an optimizer's two moments: + 1.0 GiB for AdamW on this model) */
        size_t used = 0, total = 0;
        if (mk_cuda_mem_info(idx, &used, &total) == MK_OK)
            row("train 8 x 2048: GPU memory in use", used / 1073741824.0, "GiB", 14.7, 1);
        /* the whole step, as the official's figure is (zero_grad, forward, backward, fused
         * AdamW): zero the gradients, forward + backward, AdamW, which marks the bf16 weight
         * copies stale, so the next forward rounds them again */
        struct mk_optim *o = NULL;
        const struct mk_optim_hp hp = {0.9f, 0.95f, 1e-8f, 0.1f};
        int32_t *targets = malloc((size_t)8 * 2048 * sizeof *targets);
        mk_next_token_targets(targets, ids, 8, 2048);
        if (mk_optim_create_for_model(&o, m, &hp, 0, 1) != MK_OK)
            die("optimizer");
        time_train_adamw(m, o, ids, targets, 8, 2048); /* warm-up */
        double t = 0;
        for (int r = 0; r < reps; r++)
            t += time_train_adamw(m, o, ids, targets, 8, 2048);
        row("train step (zero, fwd+bwd, AdamW) 8 x 2048", 8 * 2048 * reps / t, "tokens/s", 164e3,
            0);
        if (mk_cuda_mem_info(idx, &used, &total) == MK_OK)
            row("  GPU memory in use, with AdamW", used / 1073741824.0, "GiB", 14.7, 1);
        mk_optim_free(o);
        free(targets);
    }
    if (wants(only, "decode")) {
        /* every step reads the [B, V] logits back (time_decode); bench_decode times the
         * greedy step that reads back ids only, as the official generate(cg=True) runs */
        row("decode b1, logits read back", 1e3 * time_decode(m, ids, 1, 200), "ms/token", 0.70,
            1);
        row("decode b64, logits read back", 64 / time_decode(m, ids, 64, 100), "tokens/s", 76e3,
            0);
        if (!getenv("MK_NO_CUDA_GRAPH")) { /* the same without the CUDA graph, for comparison */
            setenv("MK_NO_CUDA_GRAPH", "1", 1);
            row("decode b1, logits, no graph", 1e3 * time_decode(m, ids, 1, 200), "ms/token",
                0.70, 1);
            row("decode b64, logits, no graph", 64 / time_decode(m, ids, 64, 100), "tokens/s",
                76e3, 0);
            unsetenv("MK_NO_CUDA_GRAPH");
        }
        printf("(decode rows here read the logits back every step; bench/bench_decode times "
               "the greedy step, ids only, as the official generate does)\n");
    }
    if (wants(only, "prefill"))
        row("prefill 1 x 65536 (no logits)", 65536 / time_prefill(m, ids, 1, 65536, 3), "tokens/s", 790e3, 0);
    printf("anchors: official mamba_ssm 2.3.2 bf16 on one H100 80GB (decode with CUDA graphs)\n");
}

int main(int argc, char **argv)
{
    int layers = 24, reps = 0;
    const char *device = "cpu", *precision = "fp32", *only = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: bench_model [--device cpu|cuda[:N]] [--precision fp32|bf16] [--layers N]\n"
                   "                   [--reps N] [--only train|decode|prefill]\n"
                   "Times a Mamba-130M-shaped model (d_model 768, vocab 50280, random weights) and prints\n"
                   "each figure beside its anchor (llama.cpp on the CPU, official mamba_ssm on CUDA) and\n"
                   "the ratio. --precision bf16 (CUDA): bf16 tensor-core GEMMs. --only (CUDA): one group of\n"
                   "rows, for profiling.\n");
            return 0;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--only"))
            only = argv[i + 1];
        else if (!strcmp(argv[i], "--layers"))
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
    if (gpu)
        gpu_rows(m, ids, reps ? reps : 10, idx, only);
    else
        cpu_rows(m, ids, reps ? reps : 5);
    mk_model_free(m);
    free(ids);
    return 0;
}
