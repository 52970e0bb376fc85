/* test_step_cpu.c — the CPU's fast decoding step (kernels/step_cpu.c, lib/state.c) and its f16
 * and q8 weights (lib/precision.c), issue 9:
 *   1. kernels: every matrix-vector product (fp32, f16, bf16, q8; AVX2 and portable; tails,
 *      column offsets, one row) against a double sum over the stored weights (AVX2 q8 rounds x
 *      to int16 per block of 32 in rows up to 8192: that x in its reference, and 1e-4 of the
 *      exact product); f16 and bf16 rounding to nearest even (every f16 value round trips, ties,
 *      overflow); q8 blocks within half a step; the conv and scan steps against the reference
 *      ops at L = 1 (the scan also with A given); the barrier over 2000 rounds.
 *   2. the fast step against the plain step of the op table (MK_NO_FAST_STEP=1) on the golden
 *      models and odd shapes, AVX2 and portable, 1 to 3 threads: logits and the state after
 *      40 tokens within 1e-5 (max |diff| / max |ref|); and the fast step on the golden models
 *      against the Hugging Face logits (1e-4, as tests/test_golden.c's forward).
 *   3. f16 and q8 weights on the golden tiny model against fp32: logits within the tolerances
 *      below (measured: f16 1.9e-4 of the largest logit, q8 4.4e-3), the 24 greedy tokens of
 *      tests/test_golden.c unchanged; forward passes and batch 2 untouched (bit for bit); new
 *      parameters (mk_model_set_params) reach the copy; back to fp32 gives fp32's logits bit
 *      for bit; f16 and q8 are refused on CUDA where there is a device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "mambakit.h"
#include "ops.h"
#include "step_cpu.h"
#include "safetensors.h"
#include "compare.h"
#include "tap.h"

/* Reduced-precision weights against fp32, as max |diff| / max |fp32 logit| over 40 tokens of
 * the golden tiny model (2 layers); about 3x what was measured (f16 1.9e-4, q8 4.4e-3). */
#define TOL_F16 5e-4f
#define TOL_Q8 1.5e-2f

static double urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 * 2 - 1;
}

static void set_simd(int on)
{
    if (on)
        unsetenv("MK_CPU_SIMD");
    else
        setenv("MK_CPU_SIMD", "0", 1);
}

/* ---- 1. kernels -------------------------------------------------------------------------- */

static const char *fmt_name[] = {"fp32", "f16", "bf16", "q8"};

/* W [rows, cols] from src in format fmt; the caller frees data and scale */
static struct mk_wmat make_wmat(const float *src, int rows, int cols, int fmt)
{
    struct mk_wmat W = {.fmt = fmt, .rows = rows, .cols = cols, .ld = (size_t)cols};
    if (fmt == MK_WFMT_Q8) {
        W.ld = (size_t)(cols + MK_Q8_BLOCK - 1) / MK_Q8_BLOCK * MK_Q8_BLOCK;
        int8_t *q = malloc((size_t)rows * W.ld);
        float *s = malloc((size_t)rows * W.ld / MK_Q8_BLOCK * sizeof *s);
        mk_cpu_pack_q8(q, s, src, rows, cols, W.ld);
        W.data = q, W.scale = s;
    } else if (fmt == MK_WFMT_F32) {
        float *d = malloc((size_t)rows * cols * sizeof *d);
        memcpy(d, src, (size_t)rows * cols * sizeof *d);
        W.data = d;
    } else {
        uint16_t *d = malloc((size_t)rows * cols * sizeof *d);
        mk_cpu_pack16(d, src, (size_t)rows * cols, fmt);
        W.data = d;
    }
    return W;
}

/* x as the AVX2 q8 product rounds it: int16 per block of 32 (scale max |x| / 32767) */
static void round_x16(float *xr, const float *x, int n)
{
    for (int k0 = 0; k0 < n; k0 += MK_Q8_BLOCK) {
        const int k1 = k0 + MK_Q8_BLOCK < n ? k0 + MK_Q8_BLOCK : n;
        float am = 0;
        for (int k = k0; k < k1; k++)
            am = fmaxf(am, fabsf(x[k]));
        const float inv = am > 0 ? 32767 / am : 0, sx = am / 32767;
        for (int k = k0; k < k1; k++)
            xr[k] = rintf(x[k] * inv) * sx;
    }
}

static void check_gemv(void)
{
    static const struct { int rows, cols, r0, c0; } shapes[] = {
        {1, 1, 0, 0}, {7, 5, 2, 0}, {13, 37, 0, 32}, {9, 100, 3, 64}, {64, 768, 5, 0},
        {33, 1536, 0, 768}, {5, 48, 1, 0}, {3, 8250, 0, 0}, /* wider than the q8 int16 x */
    };
    const int simd_avail = mk_cpu_simd();
    if (!simd_avail)
        diag("no AVX2+FMA+F16C here: only the portable products are tested");
    uint64_t seed = 42;
    float worst_x16 = 0;
    for (int f = 0; f < 4; f++) {
        float worst[2] = {0, 0};
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const int rows = shapes[i].rows, cols = shapes[i].cols;
            float *src = malloc((size_t)rows * cols * sizeof *src), *x = malloc((size_t)cols * sizeof *x);
            for (size_t k = 0; k < (size_t)rows * cols; k++)
                src[k] = (float)urand(&seed);
            for (int k = 0; k < cols; k++)
                x[k] = (float)urand(&seed);
            struct mk_wmat W = make_wmat(src, rows, cols, f);
            const int r0 = shapes[i].r0, c0 = shapes[i].c0, nr = rows - r0, n = cols - c0;
            float *y = malloc((size_t)nr * sizeof *y), *xr = malloc((size_t)cols * sizeof *xr);
            for (int simd = 0; simd <= simd_avail; simd++) {
                mk_cpu_gemv(y, &W, r0, nr, c0, n, x + c0, simd);
                /* AVX2 q8 rounds x to int16 (< 1.5e-5 of each block's max |x|): the reference
                 * takes the same x, and the distance to the exact product is checked apart */
                const int x16 = simd && f == MK_WFMT_Q8 && n <= 8192; /* Q8_XMAX */
                if (x16)
                    round_x16(xr, x + c0, n);
                else
                    memcpy(xr, x + c0, (size_t)n * sizeof *xr);
                for (int r = 0; r < nr; r++) { /* relative to sum |w x| */
                    double ref = 0, mag = 0, exact = 0;
                    for (int k = 0; k < n; k++) {
                        double w = mk_cpu_wmat_get(&W, r0 + r, c0 + k), p = w * xr[k];
                        ref += p;
                        mag += fabs(p);
                        exact += w * x[c0 + k];
                    }
                    float e = mag > 0 ? (float)(fabs(y[r] - ref) / mag) : fabsf(y[r]);
                    worst[simd] = fmaxf(worst[simd], e);
                    if (x16)
                        worst_x16 = fmaxf(worst_x16, mag > 0 ? (float)(fabs(y[r] - exact) / mag) : 0);
                }
            }
            free(xr);
            free((void *)W.data);
            free((void *)W.scale);
            free(src), free(x), free(y);
        }
        ok(worst[0] <= 1e-6f, "gemv %s portable: within 1e-6 of the double sum (%.1e)",
           fmt_name[f], worst[0]);
        if (simd_avail)
            ok(worst[1] <= 1e-6f, "gemv %s AVX2: within 1e-6 of the double sum (%.1e)",
               fmt_name[f], worst[1]);
    }
    if (simd_avail)
        ok(worst_x16 <= 1e-4f, "gemv q8 AVX2: x in int16 within 1e-4 of the exact product (%.1e)",
           worst_x16);
}

static float half_bits_to_float(uint16_t h)
{
    struct mk_wmat W = {.data = &h, .fmt = MK_WFMT_F16, .rows = 1, .cols = 1, .ld = 1};
    return mk_cpu_wmat_get(&W, 0, 0);
}

static void check_rounding(void)
{
    /* every f16 value decodes and encodes back to itself (NaNs to a NaN) */
    size_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = half_bits_to_float((uint16_t)h);
        uint16_t back;
        mk_cpu_pack16(&back, &f, 1, MK_WFMT_F16);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        bad += is_nan ? !(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h;
    }
    ok(bad == 0, "f16: all 65536 values round trip (%zu bad)", bad);
    /* random floats go to the nearest f16, ties to even */
    uint64_t seed = 7;
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        float f = (float)(urand(&seed) * pow(2, (int)(urand(&seed) * 20) - 4));
        if (i % 4 == 0) /* a tie: halfway between two f16 neighbours */
            f = (half_bits_to_float((uint16_t)(i % 30000)) + half_bits_to_float((uint16_t)(i % 30000 + 1))) / 2;
        uint16_t h;
        mk_cpu_pack16(&h, &f, 1, MK_WFMT_F16);
        /* on magnitudes: the neighbours of |result| below and above */
        const uint16_t hm = h & 0x7fff;
        const float a = fabsf(f), r = half_bits_to_float(hm);
        const float lo = hm ? half_bits_to_float((uint16_t)(hm - 1)) : r;
        const float hi = half_bits_to_float((uint16_t)(hm + 1));
        const float e = fabsf(r - a);
        int nearest = e <= fabsf(lo - a) && e <= fabsf(hi - a) && (hm == 0 || (h >> 15) == (f < 0));
        int tie = e > 0 && ((hm && e == fabsf(lo - a)) || e == fabsf(hi - a));
        bad += !nearest || (tie && (h & 1));
    }
    ok(bad == 0, "f16: 200000 floats (a quarter of them ties) round to nearest even (%zu bad)", bad);
    float edge[4] = {65504.0f, 65519.99f, 65520.0f, -1e6f};
    uint16_t he[4];
    size_t over = mk_cpu_pack16(he, edge, 4, MK_WFMT_F16);
    ok(he[0] == 0x7bff && he[1] == 0x7bff && he[2] == 0x7c00 && he[3] == 0xfc00 && over == 2,
       "f16: 65504 and 65519.99 stay finite, 65520 and -1e6 become inf and are counted");
    float bf[3] = {1.00390625f, 1.01171875f, 3.0e38f}; /* ties: down to 1, up to 1.015625 */
    uint16_t hb[3];
    mk_cpu_pack16(hb, bf, 3, MK_WFMT_BF16);
    ok(hb[0] == 0x3f80 && hb[1] == 0x3f82 && hb[2] == 0x7f62, "bf16: ties to even, no overflow "
       "below FLT_MAX (%04x %04x %04x)", hb[0], hb[1], hb[2]);
    /* q8: within half a step of the block's scale, padding zero */
    enum { R = 3, C = 70 };
    float src[R * C];
    for (int i = 0; i < R * C; i++)
        src[i] = (float)(urand(&seed) * (i % 5 ? 1 : 100));
    struct mk_wmat W = make_wmat(src, R, C, MK_WFMT_Q8);
    float worst = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < (int)W.ld; c++) {
            float s = W.scale[(r * W.ld + c) / MK_Q8_BLOCK];
            float want = c < C ? src[r * C + c] : 0;
            worst = fmaxf(worst, fabsf(mk_cpu_wmat_get(&W, r, c) - want) / (s > 0 ? s : 1));
        }
    ok(worst <= 0.5f + 1e-3f, "q8: every weight within half a step (%.3f steps), padding 0", worst);
    free((void *)W.data), free((void *)W.scale);
}

static void check_layer_parts(void)
{
    const struct mk_ops *ops = mk_ops_cpu();
    uint64_t seed = 3;
    static const struct { int E, K, N; } shapes[] = {{1, 1, 1}, {37, 4, 16}, {96, 3, 8}, {64, 2, 5}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int E = shapes[i].E, K = shapes[i].K, N = shapes[i].N;
        float *x = malloc(E * sizeof(float)), *w = malloc((size_t)E * K * sizeof(float));
        float *bias = malloc(E * sizeof(float)), *st1 = malloc((size_t)E * K * sizeof(float));
        float *st2 = malloc((size_t)E * K * sizeof(float)), *u1 = malloc(E * sizeof(float));
        float *u2 = malloc(E * sizeof(float));
        for (int e = 0; e < E; e++)
            x[e] = (float)urand(&seed), bias[e] = (float)urand(&seed);
        for (int k = 0; k < E * K; k++)
            w[k] = (float)urand(&seed), st1[k] = st2[k] = (float)urand(&seed);
        ops->conv1d_fwd(u1, st1, x, E, w, bias, NULL, 1, 1, E, K, NULL, NULL);
        mk_cpu_conv_step(u2, st2, x, w, bias, E, K);
        float eu = max_rel_diff(u2, u1, E), es = max_rel_diff(st2, st1, (size_t)E * (K - 1));
        ok(eu <= 1e-6f && es == 0, "conv step E=%d K=%d == conv1d_fwd at L=1 (out %.1e, window %.1e)",
           E, K, eu, es);

        float *delta = malloc(E * sizeof(float)), *dtb = malloc(E * sizeof(float));
        float *Alog = malloc((size_t)E * N * sizeof(float)), *A = malloc((size_t)E * N * sizeof(float));
        float *bc = malloc(2 * N * sizeof(float)), *D = malloc(E * sizeof(float));
        float *z = malloc(E * sizeof(float)), *h1 = malloc((size_t)E * N * sizeof(float));
        float *h2 = malloc((size_t)E * N * sizeof(float)), *h3 = malloc((size_t)E * N * sizeof(float));
        float *y3 = malloc(E * sizeof(float));
        for (int e = 0; e < E; e++) {
            delta[e] = (float)urand(&seed) * 3, dtb[e] = (float)urand(&seed);
            D[e] = (float)urand(&seed), z[e] = (float)urand(&seed) * 2;
        }
        for (int k = 0; k < E * N; k++) {
            Alog[k] = (float)(urand(&seed) + 1);
            h1[k] = h2[k] = h3[k] = (float)urand(&seed);
        }
        for (int n = 0; n < 2 * N; n++)
            bc[n] = (float)urand(&seed);
        struct mk_scan_in in = {.u = u1, .delta = delta, .delta_bias = dtb, .A_log = Alog,
                                .Bm = bc, .Cm = bc + N, .Dskip = D, .z = z, .B = 1, .L = 1,
                                .E = E, .N = N, .ld_bc = 2 * N, .ld_z = E};
        ops->scan_fwd(u2, h1, &in);
        float *y = malloc(E * sizeof(float));
        mk_cpu_scan_step(y, h2, u1, delta, dtb, Alog, NULL, bc, bc + N, D, z, E, N);
        mk_cpu_scan_A(A, Alog, (size_t)E * N);
        mk_cpu_scan_step(y3, h3, u1, delta, dtb, Alog, A, bc, bc + N, D, z, E, N);
        float ey = max_rel_diff(y, u2, E), eh = max_rel_diff(h2, h1, (size_t)E * N);
        ok(ey <= 1e-6f && eh <= 1e-6f, "scan step E=%d N=%d == scan_fwd at L=1 (y %.1e, state %.1e)",
           E, N, ey, eh);
        ok(memcmp(y, y3, E * sizeof(float)) == 0 && memcmp(h2, h3, (size_t)E * N * sizeof(float)) == 0,
           "scan step E=%d N=%d: with A given == with A_log (bit for bit)", E, N);
        free(x), free(w), free(bias), free(st1), free(st2), free(u1), free(u2);
        free(delta), free(dtb), free(Alog), free(A), free(bc), free(D), free(z), free(h1), free(h2);
        free(h3), free(y3), free(y);
    }
}

static void check_barrier(void)
{
#ifdef _OPENMP
    enum { ROUNDS = 2000, MAXT = 8 };
    static struct mk_cpu_barrier bar;
    int slot[MAXT] = {0}, bad = 0, nt = 0;
#pragma omp parallel num_threads(3) reduction(+ : bad)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
#pragma omp single
        nt = n;
        for (int r = 1; r <= ROUNDS; r++) {
            __atomic_store_n(&slot[t], r, __ATOMIC_RELAXED);
            mk_cpu_barrier_wait(&bar, n);
            for (int q = 0; q < n; q++)
                bad += __atomic_load_n(&slot[q], __ATOMIC_RELAXED) != r;
            mk_cpu_barrier_wait(&bar, n);
        }
    }
    ok(bad == 0, "barrier: %d threads, %d rounds, every thread sees every write of the round",
       nt, ROUNDS);
#else
    ok(1, "barrier: no OpenMP, one thread");
#endif
}

/* ---- 2. the fast step -------------------------------------------------------------------- */

/* Logits [L, V] of stepping ids one at a time, and the final state (state_out, may be NULL). */
static float *step_logits(struct mk_model *m, const int32_t *ids, int L, float *state_out)
{
    const int V = mk_model_config(m)->vocab_size;
    float *out = malloc((size_t)L * V * sizeof *out);
    struct mk_state *s = NULL;
    if (mk_state_create(&s, m, 1) != MK_OK)
        bail_out("%s", mk_last_error());
    for (int t = 0; t < L; t++)
        if (mk_model_step(m, s, &ids[t], out + (size_t)t * V) != MK_OK)
            bail_out("step: %s", mk_last_error());
    if (state_out)
        mk_state_get(s, state_out);
    mk_state_free(s);
    return out;
}

static void compare_paths(struct mk_model *m, const char *what, uint64_t seed)
{
    enum { L = 40 };
    const int V = mk_model_config(m)->vocab_size;
    int32_t ids[L];
    for (int t = 0; t < L; t++)
        ids[t] = (int32_t)(urand(&seed) * 0.5 * V + 0.5 * V) % V;
    struct mk_state *tmp = NULL;
    mk_state_create(&tmp, m, 1);
    const size_t ns = mk_state_numel(tmp);
    mk_state_free(tmp);
    float *sref = malloc(ns * sizeof *sref), *sfast = malloc(ns * sizeof *sfast);
    setenv("MK_NO_FAST_STEP", "1", 1);
    float *ref = step_logits(m, ids, L, sref);
    unsetenv("MK_NO_FAST_STEP");
    const int simd_avail = mk_cpu_simd();
    for (int simd = simd_avail; simd >= 0; simd--)
        for (int nt = 1; nt <= 3; nt++) {
            set_simd(simd);
#ifdef _OPENMP
            const int keep = omp_get_max_threads();
            omp_set_num_threads(nt);
#endif
            float *fast = step_logits(m, ids, L, sfast);
#ifdef _OPENMP
            omp_set_num_threads(keep);
#endif
            float e = max_rel_diff(fast, ref, (size_t)L * V), es = max_rel_diff(sfast, sref, ns);
            ok(e <= 1e-5f && es <= 1e-5f, "%s, %s, %d thread%s: fast step == plain step over %d "
               "tokens (logits %.1e, state %.1e)", what, simd ? "AVX2" : "portable", nt,
               nt > 1 ? "s" : "", L, e, es);
            free(fast);
        }
    set_simd(1);
    free(ref), free(sref), free(sfast);
}

static struct mk_model *load(const char *root, const char *name)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    struct mk_model *m = NULL;
    if (mk_ckpt_load(&m, dir, MK_DEVICE_CPU, 0) != MK_OK)
        bail_out("%s", mk_last_error());
    return m;
}

/* The fast step over every row of the golden input_ids against the HF logits. */
static void check_golden(const char *root, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s/reference.safetensors", root, name);
    struct mk_st_file rf;
    if (mk_st_open(&rf, path) != MK_OK)
        bail_out("%s", mk_last_error());
    struct mk_model *m = load(root, name);
    const struct mk_st_tensor *it = mk_st_find(&rf, "input_ids"), *lt = mk_st_find(&rf, "logits");
    const int B = (int)it->shape[0], L = (int)it->shape[1], V = mk_model_config(m)->vocab_size;
    int32_t *ids = malloc((size_t)B * L * sizeof *ids);
    float *ref = malloc((size_t)B * L * V * sizeof *ref);
    mk_st_read_i32(&rf, it, ids);
    mk_st_read_f32(&rf, lt, ref);
    float worst = 0;
    for (int b = 0; b < B; b++) {
        float *got = step_logits(m, ids + (size_t)b * L, L, NULL);
        worst = fmaxf(worst, max_rel_diff(got, ref + (size_t)b * L * V, (size_t)L * V));
        free(got);
    }
    ok(worst <= 1e-4f, "golden %s: the fast step over %d x %d tokens within 1e-4 of "
       "transformers' logits (%.1e)", name, B, L, worst);
    compare_paths(m, name, 5);
    free(ids), free(ref);
    mk_model_free(m);
    mk_st_close(&rf);
}

/* ---- 3. f16 and q8 weights --------------------------------------------------------------- */

static void check_lowp(const char *root)
{
    enum { L = 40 };
    struct mk_model *m = load(root, "tiny");
    const int V = mk_model_config(m)->vocab_size;
    int32_t ids[L];
    uint64_t seed = 9;
    for (int t = 0; t < L; t++)
        ids[t] = (int32_t)((urand(&seed) + 1) * 0.5 * V) % V;
    float *f32 = step_logits(m, ids, L, NULL);
    float *fwd = malloc((size_t)2 * L * V * sizeof *fwd), *fwd2 = malloc((size_t)2 * L * V * sizeof *fwd2);
    int32_t ids2[2 * L];
    memcpy(ids2, ids, sizeof ids), memcpy(ids2 + L, ids, sizeof ids);
    mk_model_forward(m, ids2, 2, L, NULL, NULL, fwd, NULL);

    /* the greedy continuation of test_golden.c (transformers' generate_ids) */
    char path[4200];
    snprintf(path, sizeof path, "%s/tiny/reference.safetensors", root);
    struct mk_st_file rf;
    if (mk_st_open(&rf, path) != MK_OK)
        bail_out("%s", mk_last_error());
    const struct mk_st_tensor *gt = mk_st_find(&rf, "generate_ids");
    const int total = (int)gt->shape[1], prompt = 8, max_new = total - prompt;
    int32_t *gen = malloc((size_t)total * sizeof *gen), *out = malloc((size_t)max_new * sizeof *out);
    mk_st_read_i32(&rf, gt, gen);
    mk_st_close(&rf);
    struct mk_sampler_opts so;
    mk_sampler_defaults(&so);
    so.temperature = 0;

    static const struct { enum mk_precision p; const char *name; float tol; } modes[] = {
        {MK_PRECISION_F16, "f16", TOL_F16}, {MK_PRECISION_Q8, "q8", TOL_Q8}};
    for (int i = 0; i < 2; i++) {
        ok(mk_model_set_precision(m, modes[i].p) == MK_OK, "%s weights on the CPU accepted",
           modes[i].name);
        float *lp = step_logits(m, ids, L, NULL);
        float e = max_rel_diff(lp, f32, (size_t)L * V);
        diag("%s weights vs fp32 on golden tiny: logits max rel diff %.2e over %d tokens",
             modes[i].name, e, L);
        ok(e <= modes[i].tol && e > 0, "%s: logits within %.1e of fp32 (%.1e) and not equal",
           modes[i].name, modes[i].tol, e);
        int n_out = 0;
        mk_status st = mk_generate(m, gen, prompt, max_new, &so, -1, NULL, NULL, out, &n_out);
        ok(st == MK_OK && n_out == max_new && !memcmp(out, gen + prompt, (size_t)max_new * sizeof *out),
           "%s: greedy generation of %d tokens identical to transformers (fp32)", modes[i].name,
           max_new);
        mk_model_forward(m, ids2, 2, L, NULL, NULL, fwd2, NULL);
        ok(!memcmp(fwd, fwd2, (size_t)2 * L * V * sizeof *fwd),
           "%s: forward passes still compute from the fp32 parameters (bit for bit)", modes[i].name);
        free(lp);
    }
    /* batch 2 steps take the plain fp32 step */
    struct mk_state *s2 = NULL;
    float *b2 = malloc((size_t)2 * V * sizeof *b2);
    mk_state_create(&s2, m, 2);
    int32_t pair[2] = {ids[0], ids[0]};
    mk_model_step(m, s2, pair, b2);
    ok(max_rel_diff(b2, f32, V) <= 1e-5f && max_rel_diff(b2 + V, f32, V) <= 1e-5f,
       "q8 set: a batch-2 step computes in fp32");
    mk_state_free(s2), free(b2);

    /* new parameters reach the copy: the (tied) embedding and every in_proj scaled by 1.5,
     * the q8 logits follow fp32's */
    const struct mk_param_layout *lay = mk_model_layout(m);
    const size_t np = lay->total;
    float *p = malloc(np * sizeof *p), *p2 = malloc(np * sizeof *p2);
    mk_model_get_params(m, p);
    memcpy(p2, p, np * sizeof *p2);
    for (int i = 0; i < lay->n; i++)
        if (lay->specs[i].kind == MK_P_EMBEDDING || lay->specs[i].kind == MK_P_IN_PROJ)
            for (size_t k = 0; k < lay->specs[i].numel; k++)
                p2[lay->specs[i].offset + k] *= 1.5f;
    mk_model_set_params(m, p2);
    float *q8new = step_logits(m, ids, L, NULL);
    mk_model_set_precision(m, MK_PRECISION_FP32);
    float *f32new = step_logits(m, ids, L, NULL);
    float e = max_rel_diff(q8new, f32new, (size_t)L * V);
    ok(e <= TOL_Q8 && max_rel_diff(f32new, f32, (size_t)L * V) > 0.1f,
       "q8 after mk_model_set_params: the copy follows the new parameters (%.1e from fp32)", e);
    mk_model_set_params(m, p);
    float *again = step_logits(m, ids, L, NULL);
    ok(!memcmp(again, f32, (size_t)L * V * sizeof *again), "back to fp32: fp32's logits bit for bit");
    free(p), free(p2), free(q8new), free(f32new), free(again);
    free(f32), free(fwd), free(fwd2), free(gen), free(out);
    mk_model_free(m);

    if (mk_cuda_device_count() > 0) {
        struct mk_config cfg;
        mk_config_default(&cfg, 32, 1, 40);
        if (mk_model_create(&m, &cfg, MK_DEVICE_CUDA, 0) != MK_OK)
            bail_out("%s", mk_last_error());
        mk_status st = mk_model_set_precision(m, MK_PRECISION_F16);
        ok(st == MK_ERR_UNSUPPORTED && strstr(mk_last_error(), "CPU"),
           "cuda: f16 weights refused (%s)", mk_last_error());
        mk_model_free(m);
    }
}

int main(void)
{
    const char *root = getenv("MK_GOLDEN");
    if (!root)
        root = "tests/data/golden";
    plan_lazy();
    check_gemv();
    check_rounding();
    check_layer_parts();
    check_barrier();
    check_golden(root, "tiny");
    check_golden(root, "odd");
    static const struct { int d_model, n_layer, d_state, d_conv; } shapes[] = {
        {16, 2, 16, 4}, {20, 1, 1, 2}, {12, 3, 5, 3}, {96, 2, 16, 4},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct mk_config cfg;
        struct mk_model *m = NULL;
        mk_config_default(&cfg, shapes[i].d_model, shapes[i].n_layer, 50);
        cfg.d_state = shapes[i].d_state;
        cfg.d_conv = shapes[i].d_conv;
        if (mk_model_create(&m, &cfg, MK_DEVICE_CPU, 0) != MK_OK || mk_model_init(m, 3 + i) != MK_OK)
            bail_out("%s", mk_last_error());
        char what[64];
        snprintf(what, sizeof what, "init D=%d N=%d K=%d", cfg.d_model, cfg.d_state, cfg.d_conv);
        compare_paths(m, what, 100 + i);
        mk_model_free(m);
    }
    check_lowp(root);
    return exit_status();
}
