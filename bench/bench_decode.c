/* bench_decode.c — greedy decoding of a Mamba-130M-shaped model (d_model 768, 24 layers,
 * vocab 50280, random weights), as generation runs it: one mk_model_step_greedy per token at
 * batch B, each step's picks fed back as the next ids, timed over whole steps on the wall clock
 * (host work, transfers and the CUDA graph's launch included).
 *
 * It first checks that the greedy step picks the first maximum of mk_model_step's logits at
 * every step (exact), then prints per batch the ms per step, tokens/s, the anchor and the
 * ratio (official / ours in time). Anchors: the official mamba_ssm generate(cg=True, top_k=1)
 * in fp16 on one H100 80GB (0.70 / 0.755 / 0.839 ms per step at batch 1 / 16 / 64), or those
 * measured in the same run: --anchor FILE with lines "BATCH MS_PER_STEP" (bench/gpu-run.sh
 * writes it from anchors/bench_e2e.py's JSON).
 *
 *   bench/bench_decode [--device cpu|cuda] [--precision fp32|bf16] [--batches 1,16,64]
 *                      [--steps N] [--layers N] [--anchor FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mambakit.h"
#define BENCH_NAME "bench_decode"
#include "util.h"


/* 8 greedy steps against the first maximum of the plain step's logits, on two states */
static void check_greedy(struct mk_model *m, int B, int V)
{
    struct mk_state *s = NULL, *g = NULL;
    float *logits = malloc((size_t)B * V * sizeof *logits);
    int32_t *in = calloc((size_t)B, sizeof *in), *got = malloc((size_t)B * sizeof *got);
    if (mk_state_create(&s, m, B) != MK_OK || mk_state_create(&g, m, B) != MK_OK)
        die("state");
    int differ = 0;
    for (int t = 0; t < 8; t++) {
        if (mk_model_step(m, s, in, logits) != MK_OK || mk_model_step_greedy(m, g, in, got) != MK_OK)
            die("step");
        for (int b = 0; b < B; b++) {
            int best = 0;
            for (int i = 1; i < V; i++)
                best = logits[(size_t)b * V + i] > logits[(size_t)b * V + best] ? i : best;
            differ += best != got[b];
            in[b] = best;
        }
    }
    printf("check: batch %d, greedy ids == argmax of the step's logits: %s (%d of %d differ)\n",
           B, differ ? "FAILED" : "ok", differ, 8 * B);
    if (differ)
        exit(1);
    mk_state_free(s);
    mk_state_free(g);
    free(logits), free(in), free(got);
}

/* seconds per greedy step at batch B over `steps` steps after a warm-up */
static double time_greedy(struct mk_model *m, int B, int steps)
{
    struct mk_state *s = NULL;
    int32_t *ids = malloc((size_t)B * sizeof *ids);
    for (int b = 0; b < B; b++)
        ids[b] = 1 + b;
    if (mk_state_create(&s, m, B) != MK_OK)
        die("state");
    for (int t = 0; t < 8; t++)
        if (mk_model_step_greedy(m, s, ids, ids) != MK_OK)
            die("step");
    double t0 = now();
    for (int t = 0; t < steps; t++)
        if (mk_model_step_greedy(m, s, ids, ids) != MK_OK)
            die("step");
    double dt = (now() - t0) / steps;
    mk_state_free(s);
    free(ids);
    return dt;
}

static double anchor_ms(const char *file, int B)
{
    if (!file)
        return B == 1 ? 0.70 : B == 16 ? 0.755 : B == 64 ? 0.839 : 0;
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "bench_decode: cannot open the anchor file %s\n", file);
        exit(1);
    }
    int b;
    double ms, found = 0;
    while (fscanf(f, "%d %lf", &b, &ms) == 2)
        if (b == B)
            found = ms;
    fclose(f);
    return found;
}

int main(int argc, char **argv)
{
    const char *device = "cuda", *precision = "fp32", *batches = "1,16,64", *anchor = NULL;
    int steps = 0, layers = 24;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--device"))
            device = argv[i + 1];
        else if (!strcmp(argv[i], "--precision"))
            precision = argv[i + 1];
        else if (!strcmp(argv[i], "--batches"))
            batches = argv[i + 1];
        else if (!strcmp(argv[i], "--steps"))
            steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers"))
            layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--anchor"))
            anchor = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_decode [--device cpu|cuda] [--precision fp32|bf16] "
                    "[--batches 1,16,64] [--steps N] [--layers N] [--anchor FILE]\n");
            return 2;
        }
    }
    enum mk_device dev;
    int idx;
    if (mk_device_parse(device, &dev, &idx) != MK_OK)
        die("device");
    struct mk_config cfg;
    mk_config_default(&cfg, 768, layers, 50280);
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, dev, idx) != MK_OK || mk_model_init(m, 1) != MK_OK)
        die("create");
    if (!strcmp(precision, "bf16") && mk_model_set_precision(m, MK_PRECISION_BF16) != MK_OK)
        die("precision");
    if (!steps)
        steps = dev == MK_DEVICE_CUDA ? 300 : 16;
    printf("model: d_model 768, %d layers, vocab %d, fp32 weights on %s, GEMMs in %s\n", layers,
           cfg.vocab_size, device, precision);
    printf("%-24s %10s %12s %12s %8s\n", "greedy decode", "ms/step", "tokens/s", "anchor ms", "ratio");
    for (const char *p = batches; *p;) {
        const int B = atoi(p);
        if (B <= 0) {
            fprintf(stderr, "bench_decode: --batches: '%s' is not a list of positive numbers\n", batches);
            return 2;
        }
        check_greedy(m, B, cfg.vocab_size);
        const double ms = 1e3 * time_greedy(m, B, steps), a = anchor_ms(anchor, B);
        char what[32];
        snprintf(what, sizeof what, "batch %d", B);
        if (a > 0)
            printf("%-24s %10.3f %12.0f %12.3f %7.2fx\n", what, ms, B / ms * 1e3, a, a / ms);
        else
            printf("%-24s %10.3f %12.0f %12s %8s\n", what, ms, B / ms * 1e3, "-", "-");
        p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p);
    }
    mk_model_free(m);
    return 0;
}
