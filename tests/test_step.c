/* test_step.c — the recurrent paths compute what one forward pass computes:
 *   1. feeding tokens one at a time through mk_model_step gives the logits of one forward;
 *   2. a forward split into chunks with the state carried gives the same logits;
 *   3. mk_state_get / set / reset_seq round trip, and a state made for another batch is refused;
 *   4. the step recorded as a CUDA graph and replayed (batch 1..64, up to 100 tokens) is rebuilt
 *      when the activations move or logits are skipped, and equals the step run kernel by kernel
 *      (MK_NO_CUDA_GRAPH=1); on the CPU both are the plain step;
 *   5. mk_model_step_greedy picks the first maximum of mk_model_step's logits, token after token
 *      (on CUDA the argmax runs inside the step's graph);
 *   6. mk_generate_batch's rows are mk_generate's samples with seeds seed + row.
 * On the golden tiny model and on freshly initialised models of other shapes (d_conv 2..4,
 * d_state 1..16, batch 1..3, L shorter than d_conv), max |diff| / max |logit| <= 1e-5; on the
 * CPU and, where there is a GPU, on CUDA.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"
#include "ops.h"
#include "compare.h"
#include "tap.h"

/* Logits of one forward over ids [B, L], and of the step / chunked paths, compared. */
static void check_model(struct mk_model *m, int B, int L, int split, uint64_t seed, const char *what)
{
    const int V = mk_model_config(m)->vocab_size;
    const size_t T = (size_t)B * L;
    int32_t *ids = malloc(T * sizeof *ids), *col = malloc((size_t)B * sizeof *col);
    float *full = malloc(T * V * sizeof *full), *other = malloc(T * V * sizeof *other);
    float *step = malloc((size_t)B * V * sizeof *step);
    struct mk_rng r;
    mk_rng_seed(&r, seed);
    for (size_t i = 0; i < T; i++)
        ids[i] = (int32_t)(mk_rng_next(&r) % (uint64_t)V);
    mk_status st = mk_model_forward(m, ids, B, L, NULL, NULL, full, NULL);

    /* 1. one token at a time: other[b, t] = step logits */
    struct mk_state *s = NULL;
    if (st == MK_OK)
        st = mk_state_create(&s, m, B);
    for (int t = 0; st == MK_OK && t < L; t++) {
        for (int b = 0; b < B; b++)
            col[b] = ids[(size_t)b * L + t];
        st = mk_model_step(m, s, col, step);
        for (int b = 0; b < B; b++)
            memcpy(other + ((size_t)b * L + t) * V, step + (size_t)b * V, (size_t)V * sizeof(float));
    }
    float e = st == MK_OK ? max_rel_diff(other, full, T * V) : INFINITY;
    ok(e <= 1e-5f, "%s B=%d L=%d: step-by-step == forward (max rel %.1e)", what, B, L, e);

    /* 2. two chunks [0, split) and [split, L) with the state carried */
    int32_t *chunk = malloc(T * sizeof *chunk);
    float *part = malloc(T * V * sizeof *part);
    mk_state_reset(s);
    for (int c = 0; st == MK_OK && c < 2; c++) {
        const int t0 = c ? split : 0, n = c ? L - split : split;
        if (n == 0)
            continue;
        for (int b = 0; b < B; b++)
            memcpy(chunk + (size_t)b * n, ids + (size_t)b * L + t0, (size_t)n * sizeof *chunk);
        st = mk_model_forward(m, chunk, B, n, NULL, NULL, part, s);
        for (int b = 0; b < B; b++)
            memcpy(other + ((size_t)b * L + t0) * V, part + (size_t)b * n * V, (size_t)n * V * sizeof(float));
    }
    e = st == MK_OK ? max_rel_diff(other, full, T * V) : INFINITY;
    ok(e <= 1e-5f, "%s B=%d L=%d: chunks [0,%d)+[%d,%d) with state == forward (max rel %.1e)",
       what, B, L, split, split, L, e);
    if (st != MK_OK)
        diag("%s", mk_last_error());
    mk_state_free(s);
    free(ids);
    free(col);
    free(full);
    free(other);
    free(step);
    free(chunk);
    free(part);
}

/* Logits of B sequences stepped L tokens (logits NULL at step t_skip: that row is left 0). */
static mk_status step_all(struct mk_model *m, struct mk_state *s, const int32_t *ids, int B, int L,
                          int t_skip, int t_regrow, float *out)
{
    const int V = mk_model_config(m)->vocab_size;
    int32_t *col = malloc((size_t)B * sizeof *col);
    float *step = malloc((size_t)B * V * sizeof *step);
    mk_status st = MK_OK;
    for (int t = 0; st == MK_OK && t < L; t++) {
        if (t == t_regrow) { /* a training-sized forward in between: the activations move */
            enum { B2 = 4, L2 = 1024 };
            int32_t *x = calloc((size_t)B2 * L2, sizeof *x), *y = malloc((size_t)B2 * L2 * sizeof *y);
            float loss;
            mk_next_token_targets(y, x, B2, L2);
            st = mk_model_forward(m, x, B2, L2, y, &loss, NULL, NULL);
            free(x);
            free(y);
        }
        for (int b = 0; b < B; b++)
            col[b] = ids[(size_t)b * L + t];
        if (st == MK_OK)
            st = mk_model_step(m, s, col, t == t_skip ? NULL : step);
        for (int b = 0; b < B; b++) {
            float *dst = out + ((size_t)b * L + t) * V;
            if (t == t_skip)
                memset(dst, 0, (size_t)V * sizeof(float));
            else
                memcpy(dst, step + (size_t)b * V, (size_t)V * sizeof(float));
        }
    }
    free(col);
    free(step);
    return st;
}

/* The recorded step (CUDA graph) is rebuilt when the activations move or the step stops or
 * starts computing logits, and gives the logits of the step run kernel by kernel. */
static void check_step_graph(struct mk_model *m, int B, int L, uint64_t seed, const char *what)
{
    const int V = mk_model_config(m)->vocab_size;
    const size_t T = (size_t)B * L;
    int32_t *ids = malloc(T * sizeof *ids);
    float *full = malloc(T * V * sizeof *full), *a = malloc(T * V * sizeof *a),
          *b = malloc(T * V * sizeof *b);
    struct mk_rng r;
    mk_rng_seed(&r, seed);
    for (size_t i = 0; i < T; i++)
        ids[i] = (int32_t)(mk_rng_next(&r) % (uint64_t)V);
    struct mk_state *s = NULL;
    mk_status st = mk_model_forward(m, ids, B, L, NULL, NULL, full, NULL);
    if (st == MK_OK)
        st = mk_state_create(&s, m, B);
    /* a: logits skipped at t = 1, activations regrown at t = L/2 */
    if (st == MK_OK)
        st = step_all(m, s, ids, B, L, 1, L / 2, a);
    for (int q = 0; q < B; q++)
        memset(full + ((size_t)q * L + 1) * V, 0, (size_t)V * sizeof(float));
    float e = st == MK_OK ? max_rel_diff(a, full, T * V) : INFINITY;
    ok(e <= 1e-5f, "%s B=%d L=%d: step, no logits at t=1, activations regrown at t=%d == forward "
       "(max rel %.1e)", what, B, L, L / 2, e);
    /* b: the same steps kernel by kernel */
    setenv("MK_NO_CUDA_GRAPH", "1", 1);
    if (st == MK_OK) {
        mk_state_reset(s);
        st = step_all(m, s, ids, B, L, 1, -1, b);
    }
    unsetenv("MK_NO_CUDA_GRAPH");
    e = st == MK_OK ? max_rel_diff(a, b, T * V) : INFINITY;
    ok(e <= 1e-6f, "%s B=%d L=%d: step == step with MK_NO_CUDA_GRAPH=1 (max rel %.1e)", what, B,
       L, e);
    if (st != MK_OK)
        diag("%s", mk_last_error());
    mk_state_free(s);
    free(ids);
    free(full);
    free(a);
    free(b);
}

static void check_state_api(struct mk_model *m)
{
    struct mk_state *s = NULL, *s2 = NULL;
    mk_state_create(&s, m, 2);
    mk_state_create(&s2, m, 2);
    int32_t ids[2] = {1, 2};
    float *logits = malloc(2 * (size_t)mk_model_config(m)->vocab_size * sizeof *logits);
    mk_model_step(m, s, ids, logits);
    const size_t n = mk_state_numel(s);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    mk_state_get(s, a);
    mk_state_set(s2, a);
    mk_state_get(s2, b);
    ok(memcmp(a, b, n * sizeof *a) == 0, "state get/set round trip");
    float mag = 0;
    for (size_t i = 0; i < n; i++)
        mag += fabsf(a[i]);
    ok(mag > 0, "a step leaves a non-zero state");
    /* reset_seq(0): every float of sequence 0 becomes 0, sequence 1 keeps its values. The
     * blocks are conv [layer][b][E*(K-1)] then ssm [layer][b][E*N]. */
    mk_state_reset_seq(s2, 0);
    mk_state_get(s2, b);
    const struct mk_config *c = mk_model_config(m);
    const size_t per_seq[2] = {(size_t)c->d_inner * (c->d_conv - 1), (size_t)c->d_inner * c->d_state};
    size_t base = 0, bad = 0;
    for (int blk = 0; blk < 2; blk++)
        for (int l = 0; l < c->n_layer; l++)
            for (int q = 0; q < 2; q++)
                for (size_t i = 0; i < per_seq[blk]; i++, base++)
                    bad += q == 0 ? b[base] != 0.0f : b[base] != a[base];
    ok(bad == 0 && base == n, "reset_seq zeroes one sequence and keeps the other");
    struct mk_state *s3 = NULL;
    mk_state_create(&s3, m, 3);
    mk_status st = mk_model_forward(m, ids, 2, 1, NULL, NULL, logits, s3);
    ok(st == MK_ERR_INVALID && strstr(mk_last_error(), "batch"),
       "a state made for batch 3 is refused for a batch of 2 (%s)", mk_last_error());
    mk_state_free(s);
    mk_state_free(s2);
    mk_state_free(s3);
    free(a);
    free(b);
    free(logits);
}

/* Greedy decoding of `steps` tokens at batch B, twice: mk_model_step's logits with the first
 * maximum picked here, and mk_model_step_greedy; the same ids at every step. */
static void check_greedy(struct mk_model *m, int B, int steps, const char *what)
{
    const int V = mk_model_config(m)->vocab_size;
    struct mk_state *s = NULL, *g = NULL;
    float *logits = malloc((size_t)B * V * sizeof *logits);
    int32_t *want = malloc((size_t)B * sizeof *want), *got = malloc((size_t)B * sizeof *got);
    int32_t *in = malloc((size_t)B * sizeof *in);
    mk_status st = mk_state_create(&s, m, B);
    if (st == MK_OK)
        st = mk_state_create(&g, m, B);
    for (int b = 0; b < B; b++)
        in[b] = (b * 7 + 1) % V;
    int differ = 0, t = 0;
    for (; st == MK_OK && t < steps; t++) {
        st = mk_model_step(m, s, in, logits);
        if (st == MK_OK)
            st = mk_model_step_greedy(m, g, in, got);
        for (int b = 0; st == MK_OK && b < B; b++) {
            const float *row = logits + (size_t)b * V;
            want[b] = 0;
            for (int i = 1; i < V; i++)
                if (row[i] > row[want[b]])
                    want[b] = i;
            differ += want[b] != got[b];
            in[b] = want[b];
        }
    }
    ok(st == MK_OK && differ == 0, "%s B=%d: greedy step == argmax of the step's logits over %d "
       "tokens (%d ids differ)", what, B, t, differ);
    if (st != MK_OK)
        diag("%s", mk_last_error());
    mk_state_free(s);
    mk_state_free(g);
    free(logits), free(want), free(got), free(in);
}

/* mk_generate_batch: row i is what mk_generate makes with seed + i (sampling at temperature 1
 * with top-k and a repetition penalty, so the rows differ and each reads its own history),
 * rows ending at EOS on their own steps. On CUDA the batched step rounds differently from the
 * one-row step; a draw changes only where that moves it across a boundary of the distribution,
 * which 30 tokens of these rows do not meet (thousands of tokens do: see mk_generate_batch). */
static void check_generate_batch(struct mk_model *m, int n_seq, const char *what)
{
    enum { PROMPT = 3, NEW = 30 };
    const int32_t prompt[PROMPT] = {5, 1, 7}, eos = 3;
    struct mk_sampler_opts so;
    mk_sampler_defaults(&so);
    so.temperature = 1.0f;
    so.top_k = 12;
    so.repetition_penalty = 1.3f;
    so.seed = 40;
    int32_t *rows = malloc((size_t)n_seq * NEW * sizeof *rows), one[NEW];
    int *n_rows = malloc((size_t)n_seq * sizeof *n_rows), n_one = 0;
    mk_status st = mk_generate_batch(m, prompt, PROMPT, NEW, n_seq, &so, eos, NULL, NULL, rows,
                                     n_rows);
    int differ = 0, ended = 0, distinct = 0;
    for (int i = 0; st == MK_OK && i < n_seq; i++) {
        struct mk_sampler_opts oi = so;
        oi.seed = so.seed + (uint64_t)i;
        st = mk_generate(m, prompt, PROMPT, NEW, &oi, eos, NULL, NULL, one, &n_one);
        differ += st == MK_OK && (n_one != n_rows[i] ||
                                  memcmp(one, rows + (size_t)i * NEW, (size_t)n_one * sizeof *one));
        ended += n_rows[i] < NEW;
        distinct += i > 0 && (n_rows[i] != n_rows[0] ||
                              memcmp(rows, rows + (size_t)i * NEW, (size_t)n_rows[0] * 4));
    }
    ok(st == MK_OK && differ == 0 && distinct == n_seq - 1, "%s: mk_generate_batch of %d rows == "
       "mk_generate with seed + row (%d rows differ; %d rows ended at EOS before %d tokens)", what,
       n_seq, differ, ended, NEW);
    if (st != MK_OK)
        diag("%s", mk_last_error());
    free(rows), free(n_rows);
}

static void run_device(enum mk_device dev, const char *root)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tiny", root);
    diag("device %s", dev == MK_DEVICE_CUDA ? "cuda" : "cpu");
    struct mk_model *m = NULL;
    if (mk_ckpt_load(&m, dir, dev, 0) != MK_OK)
        bail_out("%s", mk_last_error());
    check_model(m, 2, 33, 17, 1, "golden tiny");
    check_model(m, 1, 2, 1, 2, "golden tiny");
    check_state_api(m);
    mk_model_free(m);

    static const struct { int d_model, n_layer, d_state, d_conv, B, L, split; } shapes[] = {
        {16, 2, 16, 4, 3, 9, 2}, {20, 1, 1, 2, 1, 7, 3}, {12, 3, 5, 3, 2, 2, 1}, {32, 1, 16, 4, 1, 40, 39},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct mk_config cfg;
        mk_config_default(&cfg, shapes[i].d_model, shapes[i].n_layer, 24);
        cfg.d_state = shapes[i].d_state;
        cfg.d_conv = shapes[i].d_conv;
        char what[64];
        snprintf(what, sizeof what, "init D=%d N=%d K=%d", cfg.d_model, cfg.d_state, cfg.d_conv);
        if (mk_model_create(&m, &cfg, dev, 0) != MK_OK || mk_model_init(m, 7 + i) != MK_OK)
            bail_out("%s", mk_last_error());
        check_model(m, shapes[i].B, shapes[i].L, shapes[i].split, 100 + i, what);
        mk_model_free(m);
    }
    /* batch > 1 and many tokens: on CUDA the step is recorded once and replayed */
    struct mk_config cfg;
    mk_config_default(&cfg, 32, 3, 40);
    if (mk_model_create(&m, &cfg, dev, 0) != MK_OK || mk_model_init(m, 11) != MK_OK)
        bail_out("%s", mk_last_error());
    check_model(m, 64, 24, 5, 200, "init D=32 batch 64");
    check_model(m, 1, 100, 50, 201, "init D=32 batch 1");
    check_step_graph(m, 5, 12, 202, "init D=32");
    check_step_graph(m, 1, 9, 203, "init D=32");
    check_greedy(m, 1, 20, "init D=32");
    check_greedy(m, 5, 20, "init D=32");
    check_generate_batch(m, 6, "init D=32");
    check_generate_batch(m, 20, "init D=32"); /* on CUDA: cuBLAS products instead of the GEMV */
    mk_model_free(m);
}

int main(void)
{
    plan_lazy();
    const char *root = getenv("MK_GOLDEN");
    run_device(MK_DEVICE_CPU, root ? root : "tests/data/golden");
    if (mk_cuda_device_count() > 0)
        run_device(MK_DEVICE_CUDA, root ? root : "tests/data/golden");
    return exit_status();
}
