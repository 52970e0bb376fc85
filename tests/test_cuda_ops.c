/* test_cuda_ops.c — every op of the CUDA table against the CPU reference table, on a shape grid
 * that reaches every path of the kernels: L = 1, odd L, L not a multiple of the scan chunks
 * (forward 32..512, backward 64 steps), B > 1, E not a multiple of a block's channels,
 * d_state 5, 16 and 64, long L = 8192, strided inputs (ld_x, ld_z, ld_bc, ld_in, ld_din), with
 * and without z, state in/out, reset masks, accumulation onto non-zero gradients.
 * Metric, scale-free: max|gpu - cpu| / max|cpu| per output, with the tolerance of each op
 * beside its check. Prints "1..0 # SKIP no CUDA device" where there is none (CI).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "tap.h"

static const struct mk_ops *cpu, *gpu;
static unsigned long long rng_state = 88172645463325252ull;

/* uniform in [-1, 1) (xorshift64) */
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static float *hrand(size_t n, float scale, float shift)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = shift + scale * frand();
    return p;
}

static float *hdup(const float *h, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    memcpy(p, h, n * sizeof *p);
    return p;
}

/* device copy of n bytes of host data (NULL stays NULL) */
static void *dev(const void *h, size_t bytes)
{
    void *d = NULL;
    if (!h)
        return NULL;
    if (gpu->alloc(&d, bytes) || gpu->upload(d, h, bytes))
        bail_out("device allocation/upload: %s", mk_last_error());
    return d;
}

/* max|got - ref| / max|ref| over n floats; NaN anywhere fails */
static double max_rel(const float *got, const float *ref, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e == e))
            md = INFINITY;
        md = e > md ? e : md;
        mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
    }
    return mr > 0 ? md / mr : md;
}

/* max_rel of download(d) against ref, n floats */
static double cmp(const void *d, const float *ref, size_t n)
{
    float *g = malloc((n ? n : 1) * sizeof *g);
    if (gpu->download(g, d, n * sizeof *g))
        bail_out("download: %s", mk_last_error());
    double e = max_rel(g, ref, n);
    free(g);
    return e;
}

/* The same over n bf16 values (both sides converted to float) */
static double cmp16(const void *d, const uint16_t *ref, size_t n)
{
    uint16_t *g = malloc((n ? n : 1) * sizeof *g);
    float *gf = malloc((n ? n : 1) * sizeof *gf), *rf = malloc((n ? n : 1) * sizeof *rf);
    if (gpu->download(g, d, n * sizeof *g))
        bail_out("download: %s", mk_last_error());
    for (size_t i = 0; i < n; i++)
        gf[i] = mk_bf16_to_f32(g[i]), rf[i] = mk_bf16_to_f32(ref[i]);
    double e = max_rel(gf, rf, n);
    free(g), free(gf), free(rf);
    return e;
}

static void check(const char *what, double err, double tol)
{
    ok(err <= tol, "%s: err %.3g (tol %.0e)", what, err, tol);
}

static void synced(const char *op)
{
    mk_status st = gpu->sync();
    if (st)
        bail_out("%s: %s", op, mk_last_error());
}

static void test_embedding(size_t T, int D, int V)
{
    int32_t *ids = malloc(T * sizeof *ids);
    for (size_t t = 0; t < T; t++)
        ids[t] = (int32_t)((frand() + 1) * 0.5f * V) % V;
    float *wte = hrand((size_t)V * D, 1, 0), *dout = hrand(T * D, 1, 0);
    float *out = hrand(T * D, 1, 0), *dw = hrand((size_t)V * D, 1, 0);
    int32_t *d_ids = dev(ids, T * sizeof *ids);
    float *d_wte = dev(wte, (size_t)V * D * 4), *d_out = dev(out, T * D * 4);
    float *d_dout = dev(dout, T * D * 4), *d_dw = dev(dw, (size_t)V * D * 4);
    cpu->embedding_fwd(out, ids, wte, T, D);
    gpu->embedding_fwd(d_out, d_ids, d_wte, T, D);
    cpu->embedding_bwd(dw, dout, ids, T, D);
    gpu->embedding_bwd(d_dw, d_dout, d_ids, T, D);
    synced("embedding");
    check("embedding fwd", cmp(d_out, out, T * D), 0);   /* a copy: exact */
    check("embedding bwd", cmp(d_dw, dw, (size_t)V * D), 1e-6); /* same order of adds */
    free(ids), free(wte), free(dout), free(out), free(dw);
    gpu->free(d_ids), gpu->free(d_wte), gpu->free(d_out), gpu->free(d_dout), gpu->free(d_dw);
}

static uint16_t *to16(const float *x, size_t rows, int cols, int ld, int ld16);

/* the forward with x in bf16 (the bf16 mode's out_proj output) against the CPU's */
static void test_rmsnorm_x16(const float *rin, const float *d_rin, const float *x,
                             const float *w, const float *d_w, size_t T, int D)
{
    const size_t n = T * D;
    uint16_t *x16 = to16(x, T, D, D, D), *d_x16 = dev(x16, n * 2);
    float *r = hrand(n, 1, 0), *nm = hrand(n, 1, 0), *rs = hrand(T, 1, 0);
    float *d_r = dev(r, n * 4), *d_nm = dev(nm, n * 4), *d_rs = dev(rs, T * 4);
    cpu->add_rmsnorm_fwd(r, nm, rs, rin, NULL, w, T, D, 1e-5f, NULL, x16);
    gpu->add_rmsnorm_fwd(d_r, d_nm, d_rs, d_rin, NULL, d_w, T, D, 1e-5f, NULL, d_x16);
    synced("rmsnorm, x in bf16");
    check("  resid_out, x in bf16", cmp(d_r, r, n), 1e-6);
    check("  normed, x in bf16", cmp(d_nm, nm, n), 1e-5);
    check("  rstd, x in bf16", cmp(d_rs, rs, T), 1e-5);
    free(x16), free(r), free(nm), free(rs);
    gpu->free(d_x16), gpu->free(d_r), gpu->free(d_nm), gpu->free(d_rs);
}

static void test_rmsnorm(size_t T, int D, int with_x)
{
    size_t n = T * D;
    float *rin = hrand(n, 1, 0), *x = with_x ? hrand(n, 1, 0) : NULL, *w = hrand(D, 0.5f, 1);
    float *rout = hrand(n, 1, 0), *normed = hrand(n, 1, 0), *rstd = hrand(T, 1, 0);
    float *dn = hrand(n, 1, 0), *dres = hrand(n, 1, 0), *dw = hrand(D, 1, 0);
    float *d_rin = dev(rin, n * 4), *d_x = dev(x, n * 4), *d_w = dev(w, D * 4);
    float *d_rout = dev(rout, n * 4), *d_normed = dev(normed, n * 4), *d_rstd = dev(rstd, T * 4);
    float *d_dn = dev(dn, n * 4), *d_dres = dev(dres, n * 4), *d_dw = dev(dw, D * 4);
    cpu->add_rmsnorm_fwd(rout, normed, rstd, rin, x, w, T, D, 1e-5f, NULL, NULL);
    gpu->add_rmsnorm_fwd(d_rout, d_normed, d_rstd, d_rin, d_x, d_w, T, D, 1e-5f, NULL, NULL);
    uint16_t *n16 = calloc(n, 2), *d_n16 = dev(n16, n * 2); /* normed in bf16 instead */
    float *d_rout2 = dev(rout, n * 4), *d_rstd2 = dev(rstd, T * 4);
    cpu->add_rmsnorm_fwd(rout, NULL, rstd, rin, x, w, T, D, 1e-5f, n16, NULL);
    gpu->add_rmsnorm_fwd(d_rout2, NULL, d_rstd2, d_rin, d_x, d_w, T, D, 1e-5f, d_n16, NULL);
    uint16_t *dr16 = calloc(n, 2), *d_dr16 = dev(dr16, n * 2); /* dresid also in bf16 */
    cpu->rmsnorm_bwd(dres, dw, dn, rout, rstd, w, T, D, dr16);
    gpu->rmsnorm_bwd(d_dres, d_dw, d_dn, d_rout, d_rstd, d_w, T, D, d_dr16);
    synced("rmsnorm");
    char name[96];
    snprintf(name, sizeof name, "rmsnorm T=%zu D=%d x=%d", T, D, with_x);
    diag("%s", name);
    check("  resid_out", cmp(d_rout, rout, n), 1e-6); /* fp32: a few ulp */
    check("  normed", cmp(d_normed, normed, n), 1e-5);
    check("  normed16 (normed in bf16 instead; grad16 above)", cmp16(d_n16, n16, n), 4e-3);
    free(n16);
    gpu->free(d_n16), gpu->free(d_rout2), gpu->free(d_rstd2);
    check("  rstd", cmp(d_rstd, rstd, T), 1e-5);
    if (with_x)
        test_rmsnorm_x16(rin, d_rin, x, w, d_w, T, D);
    check("  dresid", cmp(d_dres, dres, n), 1e-5);
    check("  dresid16 (dresid also in bf16)", cmp16(d_dr16, dr16, n), 4e-3);
    free(dr16);
    gpu->free(d_dr16);
    check("  dw", cmp(d_dw, dw, D), 1e-5);
    free(rin), free(x), free(w), free(rout), free(normed), free(rstd), free(dn), free(dres);
    free(dw);
    gpu->free(d_rin), gpu->free(d_x), gpu->free(d_w), gpu->free(d_rout), gpu->free(d_normed);
    gpu->free(d_rstd), gpu->free(d_dn), gpu->free(d_dres), gpu->free(d_dw);
}

/* Check an output the op wrote in bf16 (h16 not NULL: against h16 within tol16) or in fp32
 * (against h within tol), n values; `what` names it (" (bf16)" added for the first) */
static void check_out_tol(const char *what, const void *d16, const uint16_t *h16, const void *d,
                          const float *h, size_t n, double tol, double tol16)
{
    char name[128];
    snprintf(name, sizeof name, "  %s%s", what, h16 ? " (bf16)" : "");
    check(name, h16 ? cmp16(d16, h16, n) : cmp(d, h, n), h16 ? tol16 : tol);
}
/* ... with 4e-3 for bf16, as below */
static void check_out(const char *what, const void *d16, const uint16_t *h16, const void *d,
                      const float *h, size_t n, double tol)
{
    check_out_tol(what, d16, h16, d, h, n, tol, 4e-3);
}

/* With grad16 the ops below take or write the operands of products in bf16 (linear_fwd's and
 * linear_bwd's in16, dout16, conv1d_fwd's out16 and conv1d_bwd's dx16, scan_fwd's out16 and
 * scan_bwd's ddelta16 / dz16; grad_write.h): both
 * sides round the same fp32 values, which may differ in their last bits, so a value may land
 * one bf16 step (2^-8 of it) away: 4e-3. */
static int grad16;

/* With acts16 the ops read and write the bf16 mode's activations instead (grad_write.h):
 * linear_fwd's out16 (out not written), conv1d's x16 (and out16 only), scan's u16 and z16;
 * both sides read the same bf16 values. */
static int acts16;

/* bf16 copy of the rows x [rows, cols] (row stride ld), contiguous with row stride ld16 */
static uint16_t *to16(const float *x, size_t rows, int cols, int ld, int ld16)
{
    uint16_t *h = calloc(rows * ld16 > 0 ? rows * ld16 : 1, sizeof *h);
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            h[r * ld16 + c] = mk_f32_to_bf16(x[r * ld + c]);
    return h;
}

/* How the backward ops below write din / dx / du, ddelta, dz (grad_write.h). The buffers start
 * with the same random values on both sides, so a SET that read them would be off by O(1). */
static enum mk_grad_write grad_mode = MK_GRAD_ADD;
static const char *mode_name(void)
{
    return grad_mode == MK_GRAD_SET ? "set" : "add";
}

/* bf16: in the backend's bf16 GEMM mode (set_gemm_precision), still against the fp32 CPU */
static void test_linear(size_t M, int K, int N, int ld_in, int ld_din, int with_bias, int bf16)
{
    /* fp32: K-term sums in fp32, 1e-5. bf16: each product's inputs rounded to bf16 (relative
     * 2^-9 each, at most ~4e-3 per product), the sums in fp32, so the rounding errors of the
     * terms add like a random walk, as the values do: measured at most 3.2e-4 of max |output|
     * on an H100 over these shapes; 4e-3 (the one-product bound) leaves a margin of 10. */
    const double tol = bf16 || grad16 ? 4e-3 : 1e-5; /* grad16: bf16 products (linear.h) */
    if (bf16 && gpu->set_gemm_precision(1))
        bail_out("set_gemm_precision: %s", mk_last_error());
    float *in = hrand(M * ld_in, 1, 0), *W = hrand((size_t)N * K, 0.2f, 0);
    float *bias = with_bias ? hrand(N, 1, 0) : NULL, *out = hrand(M * N, 1, 0);
    float *dout = hrand(M * N, 1, 0), *din = hrand(M * ld_din, 1, 0);
    float *dW = hrand((size_t)N * K, 1, 0), *db = with_bias ? hrand(N, 1, 0) : NULL;
    float *d_in = dev(in, M * ld_in * 4), *d_W = dev(W, (size_t)N * K * 4);
    float *d_bias = dev(bias, N * 4), *d_out = dev(out, M * N * 4), *d_dout = dev(dout, M * N * 4);
    float *d_din = dev(din, M * ld_din * 4), *d_dW = dev(dW, (size_t)N * K * 4);
    float *d_db = dev(db, N * 4);
    /* grad16: dout and in as bf16 only ([M, N] and [M, K] contiguous) */
    uint16_t *dout16 = grad16 ? malloc(M * N * 2) : NULL, *in16 = grad16 ? malloc(M * K * 2) : NULL;
    for (size_t i = 0; dout16 && i < M * N; i++)
        dout16[i] = mk_f32_to_bf16(dout[i]);
    for (size_t i = 0; in16 && i < M * K; i++)
        in16[i] = mk_f32_to_bf16(in[i / K * ld_in + i % K]);
    uint16_t *d_dout16 = dev(dout16, M * N * 2), *d_in16 = dev(in16, M * K * 2);
    const float *in_h = in16 ? NULL : in, *in_d = in16 ? NULL : d_in;
    /* acts16: out written in bf16 only */
    uint16_t *o16 = acts16 ? calloc(M * N, 2) : NULL, *d_o16 = dev(o16, M * N * 2);
    cpu->linear_fwd(o16 ? NULL : out, in_h, ld_in, W, bias, M, K, N, in16, o16);
    gpu->linear_fwd(o16 ? NULL : d_out, in_d, ld_in, d_W, d_bias, M, K, N, d_in16, d_o16);
    /* acts16: din set in bf16 only (SET, contiguous rows) */
    uint16_t *di16 = acts16 && grad_mode == MK_GRAD_SET && ld_din == K ? calloc(M * K, 2) : NULL;
    uint16_t *d_di16 = dev(di16, M * K * 2);
    cpu->linear_bwd(di16 ? NULL : din, ld_din, dW, db, dout16 ? NULL : dout, in_h, ld_in, W, M,
                    K, N, grad_mode, dout16, in16, di16);
    gpu->linear_bwd(di16 ? NULL : d_din, ld_din, d_dW, d_db, d_dout16 ? NULL : d_dout, in_d,
                    ld_in, d_W, M, K, N, grad_mode, d_dout16, d_in16, d_di16);
    synced("linear");
    if (bf16 && gpu->set_gemm_precision(0))
        bail_out("set_gemm_precision: %s", mk_last_error());
    diag("linear M=%zu K=%d N=%d ld_in=%d ld_din=%d bias=%d gemm=%s din %s%s", M, K, N, ld_in,
         ld_din, with_bias, bf16 ? "bf16" : "fp32", mode_name(), grad16 ? ", in16, dout16" : "");
    /* in bf16: the products' own tolerance plus one bf16 step of the rounding */
    check_out_tol("out", d_o16, o16, d_out, out, M * N, tol, tol + 4e-3);
    check_out_tol("din", d_di16, di16, d_din, din, di16 ? M * K : M * ld_din, tol, tol + 4e-3);
    free(o16), free(di16);
    gpu->free(d_o16), gpu->free(d_di16);
    free(dout16), free(in16);
    gpu->free(d_dout16), gpu->free(d_in16);
    check("  dW", cmp(d_dW, dW, (size_t)N * K), tol);
    if (with_bias) /* a column sum of dout, no GEMM: fp32 in both modes */
        check("  dbias", cmp(d_db, db, N), 1e-5);
    free(in), free(W), free(bias), free(out), free(dout), free(din), free(dW), free(db);
    gpu->free(d_in), gpu->free(d_W), gpu->free(d_bias), gpu->free(d_out), gpu->free(d_dout);
    gpu->free(d_din), gpu->free(d_dW), gpu->free(d_db);
}

/* x rounded to bf16 and back (the CPU's rounding, half.h: nearest even) */
static float *rounded16(const float *x, size_t n)
{
    float *r = malloc((n ? n : 1) * sizeof *r);
    for (size_t i = 0; i < n; i++)
        r[i] = mk_bf16_to_f32(mk_f32_to_bf16(x[i]));
    return r;
}

/* The bf16 mode's rounding of fp32 operands (bf16.cu's to_bf16, per call or into a registered
 * weight copy): the GPU product of in [M, K] (row stride ld_in) and W [N, K] in the bf16 mode
 * against the CPU's fp32 product of the same values rounded by the CPU. Products of two bf16
 * values are exact in fp32, so only the order of the fp32 sums differs: 1e-5, where a value
 * rounded the wrong way (2^-9 of it) or skipped shows as 1e-4 or more. kept: W registered as a
 * weight copy (weights_bf16_set + refresh; numel > 2^20 takes rows of 2^20 and a rest). */
static void test_bf16_rounding(size_t M, int K, int N, int ld_in, int kept)
{
    float *in = hrand(M * ld_in, 1, 0), *W = hrand((size_t)N * K, 0.2f, 0);
    float *dout = hrand(M * N, 1, 0), *out = malloc(M * N * 4), *din = malloc(M * K * 4);
    float *dW = calloc((size_t)N * K, 4);
    float *in_r = rounded16(in, M * ld_in), *W_r = rounded16(W, (size_t)N * K);
    float *dout_r = rounded16(dout, M * N);
    float *d_in = dev(in, M * ld_in * 4), *d_W = dev(W, (size_t)N * K * 4);
    float *d_dout = dev(dout, M * N * 4), *d_out = dev(out, M * N * 4);
    float *d_din = dev(din, M * K * 4), *d_dW = dev(dW, (size_t)N * K * 4);
    const size_t numel = (size_t)N * K;
    const float *Ws[] = {d_W};
    if (gpu->set_gemm_precision(1) || (kept && gpu->weights_bf16_set(&numel, Ws, &numel, 1)))
        bail_out("bf16 mode: %s", mk_last_error());
    if (kept)
        gpu->weights_bf16_refresh(&numel);
    cpu->linear_fwd(out, in_r, ld_in, W_r, NULL, M, K, N, NULL, NULL);
    gpu->linear_fwd(d_out, d_in, ld_in, d_W, NULL, M, K, N, NULL, NULL);
    cpu->linear_bwd(din, K, dW, NULL, dout_r, in_r, ld_in, W_r, M, K, N, MK_GRAD_SET, NULL,
                    NULL, NULL);
    gpu->linear_bwd(d_din, K, d_dW, NULL, d_dout, d_in, ld_in, d_W, M, K, N, MK_GRAD_SET, NULL,
                    NULL, NULL);
    synced("bf16 rounding");
    if (gpu->set_gemm_precision(0) || (kept && gpu->weights_bf16_set(&numel, NULL, NULL, 0)))
        bail_out("fp32 mode: %s", mk_last_error());
    diag("bf16 rounding M=%zu K=%d N=%d ld_in=%d, W %s", M, K, N, ld_in,
         kept ? "a registered copy" : "rounded per call");
    check("  out", cmp(d_out, out, M * N), 1e-5);
    check("  din", cmp(d_din, din, M * K), 1e-5);
    check("  dW", cmp(d_dW, dW, (size_t)N * K), 1e-5);
    float *hp[] = {in, W, dout, out, din, dW, in_r, W_r, dout_r};
    float *dp[] = {d_in, d_W, d_dout, d_out, d_din, d_dW};
    for (size_t i = 0; i < sizeof hp / sizeof *hp; i++)
        free(hp[i]);
    for (size_t i = 0; i < sizeof dp / sizeof *dp; i++)
        gpu->free(dp[i]);
}

static uint8_t *resets(int B, int L, int every)
{
    uint8_t *r = calloc((size_t)B * L, 1);
    for (size_t i = 0; every && i < (size_t)B * L; i++)
        r[i] = frand() > 1.0f - 2.0f / every;
    return r;
}

static void test_conv1d(int B, int L, int E, int K, int with_state, int rst)
{
    int ld = 2 * E;
    size_t nx = (size_t)B * L * ld, n = (size_t)B * L * E, ns = (size_t)B * E * (K - 1);
    float *x = hrand(nx, 1, 0), *w = hrand((size_t)E * K, 0.5f, 0), *bias = hrand(E, 0.5f, 0);
    float *st = with_state ? hrand(ns, 1, 0) : NULL, *st0 = with_state ? hdup(st, ns) : NULL;
    float *out = hrand(n, 1, 0), *dout = hrand(n, 1, 0), *dx = hrand(nx, 1, 0);
    float *dw = hrand((size_t)E * K, 1, 0), *db = hrand(E, 1, 0);
    uint8_t *reset = rst ? resets(B, L, rst) : NULL;
    float *d_x = dev(x, nx * 4), *d_w = dev(w, (size_t)E * K * 4), *d_bias = dev(bias, E * 4);
    float *d_st = dev(st, ns * 4), *d_st0 = dev(st0, ns * 4), *d_out = dev(out, n * 4);
    float *d_dout = dev(dout, n * 4), *d_dx = dev(dx, nx * 4);
    float *d_dw = dev(dw, (size_t)E * K * 4), *d_db = dev(db, E * 4);
    uint8_t *d_reset = dev(reset, (size_t)B * L);
    uint16_t *o16 = grad16 || acts16 ? calloc(n, 2) : NULL, *d_o16 = dev(o16, n * 2);
    /* acts16: x read in bf16 (both sides the same values), out written in bf16 only */
    uint16_t *x16 = acts16 ? to16(x, (size_t)B * L, ld, ld, ld) : NULL, *d_x16 = dev(x16, nx * 2);
    const float *xh = x16 ? NULL : x, *xd = x16 ? NULL : d_x;
    cpu->conv1d_fwd(acts16 ? NULL : out, st, xh, ld, w, bias, reset, B, L, E, K, o16, x16);
    gpu->conv1d_fwd(acts16 ? NULL : d_out, d_st, xd, ld, d_w, d_bias, d_reset, B, L, E, K, d_o16,
                    d_x16);
    uint16_t *dx16 = grad16 ? calloc(nx, sizeof *dx16) : NULL, *d_dx16 = dev(dx16, nx * 2);
    cpu->conv1d_bwd(dx16 ? NULL : dx, ld, dw, db, dout, st0, xh, ld, w, bias, reset, B, L, E, K,
                    grad_mode, dx16, x16);
    gpu->conv1d_bwd(dx16 ? NULL : d_dx, ld, d_dw, d_db, d_dout, d_st0, xd, ld, d_w, d_bias,
                    d_reset, B, L, E, K, grad_mode, d_dx16, d_x16);
    synced("conv1d");
    diag("conv1d B=%d L=%d E=%d K=%d state=%d reset=%d dx %s%s", B, L, E, K, with_state, rst,
         dx16 ? "bf16" : mode_name(), x16 ? ", x in bf16, out in bf16 only" : "");
    free(x16);
    gpu->free(d_x16);
    if (!acts16)
        check("  out", cmp(d_out, out, n), 1e-5); /* K-term sums, fp32 */
    if (o16)
        check(acts16 ? "  out16 (out in bf16 only)" : "  out16 (out also in bf16)",
              cmp16(d_o16, o16, n), 4e-3);
    free(o16);
    gpu->free(d_o16);
    if (with_state)
        check("  state", cmp(d_st, st, ns), 0);
    check_out("dx (and the untouched z half)", d_dx16, dx16, d_dx, dx, nx, 1e-5);
    free(dx16);
    gpu->free(d_dx16);
    check("  dw", cmp(d_dw, dw, (size_t)E * K), 1e-5);
    check("  dbias", cmp(d_db, db, E), 1e-5);
    free(x), free(w), free(bias), free(st), free(st0), free(out), free(dout), free(dx), free(dw);
    free(db), free(reset);
    gpu->free(d_x), gpu->free(d_w), gpu->free(d_bias), gpu->free(d_st), gpu->free(d_st0);
    gpu->free(d_out), gpu->free(d_dout), gpu->free(d_dx), gpu->free(d_dw), gpu->free(d_db);
    gpu->free(d_reset);
}

/* Inputs distributed as in an initialised Mamba layer (as anchors/bench_scan.py draws them). */
static void test_scan(int B, int L, int E, int N, int with_z, int with_state, int rst)
{
    const int R = 3, ldbc = R + 2 * N, ldz = 2 * E;
    size_t n = (size_t)B * L * E, nbc = (size_t)B * L * ldbc, nz = (size_t)B * L * ldz;
    size_t ns = (size_t)B * E * N, nA = (size_t)E * N;
    float *u = hrand(n, 1.5f, 0), *delta = hrand(n, 0.8f, 0), *xbc = hrand(nbc, 1.5f, 0);
    float *z = with_z ? hrand(nz, 1.5f, 0) : NULL, *Alog = malloc(nA * 4), *db_ = malloc(E * 4);
    float *Dsk = hrand(E, 0.5f, 1);
    for (int e = 0; e < E; e++) {
        for (int k = 0; k < N; k++)
            Alog[(size_t)e * N + k] = logf((float)(k + 1)) + 0.1f * frand();
        float dt = expf(logf(1e-3f) + (frand() + 1) * 0.5f * (logf(0.1f) - logf(1e-3f)));
        db_[e] = dt + logf(-expm1f(-dt));
    }
    float *st = with_state ? hrand(ns, 1, 0) : NULL, *st0 = with_state ? hdup(st, ns) : NULL;
    uint8_t *reset = rst ? resets(B, L, rst) : NULL;
    float *out = hrand(n, 1, 0), *dout = hrand(n, 1, 0);
    float *du = hrand(n, 1, 0), *ddl = hrand(n, 1, 0), *ddb = hrand(E, 1, 0);
    float *dAl = hrand(nA, 1, 0), *dBC = hrand(nbc, 1, 0), *dD = hrand(E, 1, 0);
    float *dz = with_z ? hrand(nz, 1, 0) : NULL, *ds0 = with_state ? hrand(ns, 1, 0) : NULL;

    float *d_u = dev(u, n * 4), *d_delta = dev(delta, n * 4), *d_xbc = dev(xbc, nbc * 4);
    float *d_z = dev(z, nz * 4), *d_Alog = dev(Alog, nA * 4), *d_db = dev(db_, E * 4);
    float *d_Dsk = dev(Dsk, E * 4), *d_st = dev(st, ns * 4), *d_st0 = dev(st0, ns * 4);
    uint8_t *d_reset = dev(reset, (size_t)B * L);
    float *d_out = dev(out, n * 4), *d_dout = dev(dout, n * 4), *d_du = dev(du, n * 4);
    float *d_ddl = dev(ddl, n * 4), *d_ddb = dev(ddb, E * 4), *d_dAl = dev(dAl, nA * 4);
    float *d_dBC = dev(dBC, nbc * 4), *d_dD = dev(dD, E * 4), *d_dz = dev(dz, nz * 4);
    float *d_ds0 = dev(ds0, ns * 4);

    struct mk_scan_in in = {u, delta, db_, Alog, xbc + R, xbc + R + N, Dsk, z, reset,
                            B, L, E, N, ldbc, ldz, NULL, NULL, 0, NULL, NULL, NULL, NULL};
    struct mk_scan_in din = {d_u, d_delta, d_db, d_Alog, d_xbc + R, d_xbc + R + N, d_Dsk, d_z,
                             d_reset, B, L, E, N, ldbc, ldz, NULL, NULL, 0, NULL, NULL, NULL, NULL};
    uint16_t *dd16 = grad16 ? calloc(n, 2) : NULL, *dz16 = grad16 && z ? calloc(nz, 2) : NULL;
    uint16_t *d_dd16 = dev(dd16, n * 2), *d_dz16 = dev(dz16, nz * 2);
    struct mk_scan_grad g = {du,  dd16 ? NULL : ddl, ddb, dAl, dBC + R, dBC + R + N, dD,
                             dz16 ? NULL : dz, ds0, grad_mode, dd16, dz16, NULL};
    struct mk_scan_grad dg = {d_du, dd16 ? NULL : d_ddl, d_ddb, d_dAl, d_dBC + R, d_dBC + R + N,
                              d_dD, dz16 ? NULL : d_dz, d_ds0, grad_mode, d_dd16, d_dz16, NULL};
    uint16_t *o16 = grad16 ? calloc(n, 2) : NULL, *d_o16 = dev(o16, n * 2);
    in.out16 = o16, din.out16 = d_o16; /* out in bf16 instead */
    /* acts16: u, delta, z and dout read in bf16 (both sides the same values) */
    uint16_t *u16 = acts16 ? to16(u, n, 1, 1, 1) : NULL, *d_u16 = dev(u16, n * 2);
    uint16_t *dl16 = acts16 ? to16(delta, n, 1, 1, 1) : NULL, *d_dl16 = dev(dl16, n * 2);
    uint16_t *z16 = acts16 && z ? to16(z, nz, 1, 1, 1) : NULL, *d_z16 = dev(z16, nz * 2);
    uint16_t *g16 = acts16 ? to16(dout, n, 1, 1, 1) : NULL, *d_g16 = dev(g16, n * 2);
    g.dout16 = g16, dg.dout16 = d_g16;
    if (u16) {
        in.u = din.u = in.delta = din.delta = NULL;
        in.u16 = u16, din.u16 = d_u16;
        in.delta16 = dl16, din.delta16 = d_dl16;
    }
    if (z16) {
        in.z = din.z = NULL;
        in.z16 = z16, din.z16 = d_z16;
    }
    cpu->scan_fwd(o16 ? NULL : out, st, &in);
    gpu->scan_fwd(o16 ? NULL : d_out, d_st, &din);
    in.out16 = din.out16 = NULL;
    cpu->scan_bwd(&g, g16 ? NULL : dout, st0, &in);
    gpu->scan_bwd(&dg, g16 ? NULL : d_dout, d_st0, &din);
    synced("scan");
    free(u16), free(z16), free(g16), free(dl16);
    gpu->free(d_u16), gpu->free(d_z16), gpu->free(d_g16), gpu->free(d_dl16);
    diag("scan B=%d L=%d E=%d N=%d z=%d state=%d reset=%d%s du/ddelta/dz %s%s", B, L, E, N, with_z,
         with_state, rst, acts16 ? " u, delta, z, dout in bf16" : "", mode_name(),
         grad16 ? ", ddelta and dz in bf16" : "");
    /* fp32 recurrences over L steps in a different association (chunked): relative 1e-4 */
    check_out("out", d_o16, o16, d_out, out, n, 1e-4);
    free(o16);
    gpu->free(d_o16);
    if (with_state)
        check("  state out", cmp(d_st, st, ns), 1e-4);
    check("  du", cmp(d_du, du, n), 1e-4);
    check_out("ddelta", d_dd16, dd16, d_ddl, ddl, n, 1e-4);
    check("  ddelta_bias", cmp(d_ddb, ddb, E), 1e-4);
    check("  dA_log", cmp(d_dAl, dAl, nA), 1e-4);
    check("  dB, dC (and the untouched dt columns)", cmp(d_dBC, dBC, nbc), 1e-4);
    check("  dD", cmp(d_dD, dD, E), 1e-4);
    if (with_z)
        check_out("dz (and the untouched x half)", d_dz16, dz16, d_dz, dz, nz, 1e-4);
    free(dd16), free(dz16);
    gpu->free(d_dd16), gpu->free(d_dz16);
    if (with_state)
        check("  dstate0", cmp(d_ds0, ds0, ns), 1e-4);
    float *hp[] = {u, delta, xbc, z, Alog, db_, Dsk, st, st0, out, dout, du, ddl, ddb, dAl, dBC,
                   dD, dz, ds0};
    float *dp[] = {d_u, d_delta, d_xbc, d_z, d_Alog, d_db, d_Dsk, d_st, d_st0, d_out, d_dout,
                   d_du, d_ddl, d_ddb, d_dAl, d_dBC, d_dD, d_dz, d_ds0};
    for (size_t i = 0; i < sizeof hp / sizeof *hp; i++) {
        free(hp[i]);
        gpu->free(dp[i]);
    }
    free(reset);
    gpu->free(d_reset);
}

/* The decoding step with dt_proj inside the scan (W_dt [E, R], x_dt = x_proj's first R
 * columns): against the CPU reference given delta = x_dt . W_dt^T from its linear op. */
static void test_scan_step_dt(int B, int E, int N, int R)
{
    const int ldbc = R + 2 * N, ldz = 2 * E;
    size_t n = (size_t)B * E, ns = n * N;
    float *u = hrand(n, 1.5f, 0), *xbc = hrand((size_t)B * ldbc, 0.3f, 0);
    float *W = hrand((size_t)E * R, 0.3f, 0), *z = hrand((size_t)B * ldz, 1.5f, 0);
    float *Alog = hrand((size_t)E * N, 0.1f, 1), *db_ = hrand(E, 1, -3), *Dsk = hrand(E, 0.5f, 1);
    float *st = hrand(ns, 1, 0), *delta = malloc(n * 4), *out = malloc(n * 4);
    float *d_u = dev(u, n * 4), *d_xbc = dev(xbc, (size_t)B * ldbc * 4);
    float *d_W = dev(W, (size_t)E * R * 4), *d_z = dev(z, (size_t)B * ldz * 4);
    float *d_Alog = dev(Alog, (size_t)E * N * 4), *d_db = dev(db_, E * 4);
    float *d_Dsk = dev(Dsk, E * 4), *d_st = dev(st, ns * 4), *d_out = dev(out, n * 4);
    cpu->linear_fwd(delta, xbc, ldbc, W, NULL, (size_t)B, R, E, NULL, NULL);
    struct mk_scan_in in = {u, delta, db_, Alog, xbc + R, xbc + R + N, Dsk, z, NULL,
                            B, 1, E, N, ldbc, ldz, NULL, NULL, 0, NULL, NULL, NULL, NULL};
    struct mk_scan_in din = {d_u, NULL, d_db, d_Alog, d_xbc + R, d_xbc + R + N, d_Dsk, d_z, NULL,
                             B, 1, E, N, ldbc, ldz, d_xbc, d_W, R, NULL, NULL, NULL, NULL};
    /* acts16: u and z read in bf16 (both sides the same values; no delta is read) */
    uint16_t *u16 = acts16 ? to16(u, n, 1, 1, 1) : NULL, *d_u16 = dev(u16, n * 2);
    uint16_t *z16 = acts16 ? to16(z, (size_t)B * ldz, 1, 1, 1) : NULL;
    uint16_t *d_z16 = dev(z16, (size_t)B * ldz * 2);
    if (acts16) {
        in.u = din.u = in.z = din.z = NULL;
        in.u16 = u16, din.u16 = d_u16, in.z16 = z16, din.z16 = d_z16;
    }
    cpu->scan_fwd(out, st, &in);
    gpu->scan_fwd(d_out, d_st, &din);
    synced("scan step with dt_proj");
    free(u16), free(z16);
    gpu->free(d_u16), gpu->free(d_z16);
    diag("scan step with dt_proj inside: B=%d E=%d N=%d R=%d%s", B, E, N, R,
         acts16 ? ", u and z in bf16" : "");
    check("  out", cmp(d_out, out, n), 1e-5);
    check("  state out", cmp(d_st, st, ns), 1e-5);
    float *hp[] = {u, xbc, W, z, Alog, db_, Dsk, st, delta, out};
    float *dp[] = {d_u, d_xbc, d_W, d_z, d_Alog, d_db, d_Dsk, d_st, d_out};
    for (size_t i = 0; i < sizeof hp / sizeof *hp; i++)
        free(hp[i]);
    for (size_t i = 0; i < sizeof dp / sizeof *dp; i++)
        gpu->free(dp[i]);
}

/* alias: dlogits written over the logits, and per-token weights (else separate, unweighted) */
static void test_cross_entropy(size_t T, int V, int alias)
{
    size_t n = T * V;
    float *w = alias ? hrand(T, 0.5f, 1.0f) : NULL, *d_w = w ? dev(w, T * 4) : NULL;
    float *logits = hrand(n, 4, 0), *dl = alias ? NULL : hrand(n, 1, 0), *loss = hrand(T, 1, 0);
    int32_t *tg = malloc(T * sizeof *tg);
    for (size_t t = 0; t < T; t++)
        tg[t] = t % 4 == 3 ? -1 : (int32_t)((frand() + 1) * 0.5f * V) % V;
    float *d_logits = dev(logits, n * 4), *d_dl = alias ? d_logits : dev(dl, n * 4);
    float *d_loss = dev(loss, T * 4);
    int32_t *d_tg = dev(tg, T * sizeof *tg);
    /* grad16: the gradient in bf16 instead (into a buffer of its own) */
    uint16_t *dl16 = grad16 ? calloc(n, 2) : NULL, *d_dl16 = dev(dl16, n * 2);
    cpu->cross_entropy(loss, dl16 ? NULL : alias ? logits : dl, logits, tg, w, T, V, 0.25f, dl16);
    gpu->cross_entropy(d_loss, dl16 ? NULL : d_dl, d_logits, d_tg, d_w, T, V, 0.25f, d_dl16);
    synced("cross_entropy");
    diag("cross_entropy T=%zu V=%d alias=%d", T, V, alias);
    check("  loss", cmp(d_loss, loss, T), 1e-5); /* logsumexp over V terms */
    check_out("dlogits", d_dl16, dl16, d_dl, alias ? logits : dl, n, 1e-5);
    free(logits), free(dl), free(loss), free(tg), free(w), free(dl16);
    gpu->free(d_dl16);
    gpu->free(d_logits), gpu->free(d_loss), gpu->free(d_tg);
    if (d_w)
        gpu->free(d_w);
    if (!alias)
        gpu->free(d_dl);
}

static void test_adamw(size_t n)
{
    float *p = hrand(n, 1, 0), *m = hrand(n, 0.1f, 0), *v = hrand(n, 0.01f, 0.01f);
    float *g = hrand(n, 1, 0);
    struct mk_adamw_hp hp = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 1 - 0.9f * 0.9f,
                             1 - 0.95f * 0.95f};
    float *d_p = dev(p, n * 4), *d_m = dev(m, n * 4), *d_v = dev(v, n * 4), *d_g = dev(g, n * 4);
    double sc = cpu->sumsq(g, n), sg = gpu->sumsq(d_g, n);
    cpu->adamw(p, m, v, g, n, &hp);
    gpu->adamw(d_p, d_m, d_v, d_g, n, &hp);
    synced("adamw");
    diag("adamw n=%zu", n);
    check("  p", cmp(d_p, p, n), 1e-6); /* elementwise, same scalars: ulps */
    check("  m", cmp(d_m, m, n), 1e-6);
    check("  v", cmp(d_v, v, n), 1e-6);
    check("  sumsq", fabs(sg - sc) / sc, 1e-12); /* double sums in another order */
    free(p), free(m), free(v), free(g);
    gpu->free(d_p), gpu->free(d_m), gpu->free(d_v), gpu->free(d_g);
}

/* rows of random logits, plus rows with a tie for the maximum, NaNs before and after it, and
 * only NaNs: the ids must equal the reference's exactly (first maximum, NaN never wins) */
static void test_argmax(size_t rows, int n)
{
    float *x = hrand(rows * n, 4, 0);
    if (rows >= 4) {
        float *tie = x + n, *nan = x + 2 * (size_t)n, *all = x + 3 * (size_t)n;
        tie[n / 3] = tie[n - 1] = 100.0f;
        nan[0] = nan[n / 2] = NAN;
        nan[n - 2] = 50.0f;
        for (int i = 0; i < n; i++)
            all[i] = NAN;
    }
    int32_t *ids = malloc(rows * sizeof *ids), *got = malloc(rows * sizeof *got);
    float *d_x = dev(x, rows * n * 4);
    int32_t *d_ids = dev(ids, rows * sizeof *ids);
    cpu->argmax_rows(ids, x, rows, n);
    gpu->argmax_rows(d_ids, d_x, rows, n);
    synced("argmax_rows");
    if (gpu->download(got, d_ids, rows * sizeof *got))
        bail_out("download: %s", mk_last_error());
    size_t bad = 0;
    for (size_t r = 0; r < rows; r++)
        bad += got[r] != ids[r];
    ok(bad == 0, "argmax_rows rows=%zu n=%d: %zu rows differ from the reference", rows, n, bad);
    free(x), free(ids), free(got);
    gpu->free(d_x), gpu->free(d_ids);
}

/* pooling over rows of random lengths (1 and L among them): the mean against the reference's
 * double sums (fp32 runs of 256 steps: ~1e-6), last and both backwards exactly; the backward
 * buffer starts random, so an element left unwritten fails */
static void test_pool(int B, int L, int D)
{
    const size_t n = (size_t)B * L * D;
    float *feat = hrand(n, 1, 0.5f), *dp = hrand((size_t)B * D, 1, 0);
    float *pooled = malloc((size_t)B * D * sizeof *pooled), *dfeat = hrand(n, 1, 0);
    int32_t *len = malloc((size_t)B * sizeof *len);
    for (int b = 0; b < B; b++)
        len[b] = b == 0 ? L : b == 1 ? 1 : 1 + (int)((frand() + 1) * 0.5f * (L - 1));
    float *d_feat = dev(feat, n * 4), *d_pooled = dev(pooled, (size_t)B * D * 4);
    float *d_dp = dev(dp, (size_t)B * D * 4), *d_dfeat = dev(dfeat, n * 4);
    int32_t *d_len = dev(len, (size_t)B * sizeof *len);
    for (int last = 0; last < 2; last++) {
        cpu->pool_fwd(pooled, feat, len, B, L, D, last);
        cpu->pool_bwd(dfeat, dp, len, B, L, D, last);
        gpu->pool_fwd(d_pooled, d_feat, d_len, B, L, D, last);
        gpu->pool_bwd(d_dfeat, d_dp, d_len, B, L, D, last);
        synced("pool");
        diag("pool %s B=%d L=%d D=%d", last ? "last" : "mean", B, L, D);
        check("  pooled", cmp(d_pooled, pooled, (size_t)B * D), last ? 0 : 1e-5);
        check("  dfeat", cmp(d_dfeat, dfeat, n), 0); /* the same product */
    }
    free(feat), free(dp), free(pooled), free(dfeat), free(len);
    gpu->free(d_feat), gpu->free(d_pooled), gpu->free(d_dp), gpu->free(d_dfeat), gpu->free(d_len);
}

int main(void)
{
    if (mk_cuda_device_count() == 0)
        skip_all("no CUDA device");
    char name[256];
    cpu = mk_ops_cpu();
    if (mk_ops_cuda(&gpu, 0) || mk_cuda_device_name(0, name, sizeof name))
        bail_out("CUDA backend: %s", mk_last_error());
    diag("device: %s", name);
    plan_lazy();

    test_embedding(1, 64, 10);
    test_embedding(3000, 96, 37);
    test_rmsnorm(1, 768, 1);
    test_rmsnorm(37, 100, 0);
    test_rmsnorm(37, 100, 1); /* a warp a row, D not a multiple of 128, with x */
    test_rmsnorm(300, 768, 1);
    test_rmsnorm(64, 768, 1);  /* a decoding batch: a warp a row */
    test_rmsnorm(5, 1024, 0);  /* the widest row a warp takes */
    test_rmsnorm(3, 2048, 1);  /* wider: one block a row */
    test_rmsnorm(9, 98, 1);    /* D not a multiple of 4: one block a row */
    test_linear(1, 48, 80, 48, 48, 0, 0);
    test_linear(77, 96, 80, 130, 150, 1, 0);
    test_linear(1000, 64, 200, 64, 70, 1, 0);
    /* the bf16 GEMM mode (mk_model_set_precision), the same shapes plus a Mamba-sized one */
    test_linear(1, 48, 80, 48, 48, 0, 1);
    test_linear(77, 96, 80, 130, 150, 1, 1);
    test_linear(1000, 64, 200, 64, 70, 1, 1);
    test_linear(2048, 768, 1536, 768, 768, 0, 1);
    test_linear(3000, 64, 50280, 80, 96, 1, 1); /* rows in 3 chunks of bf16 copies (linear.cu) */
    test_linear(600, 96, 80, 130, 150, 1, 1);   /* bf16 copies of an odd stride: scalar rounding */
    /* the decoding GEMV (M <= 8): float4 rows, K split over warps (small N), a strided input
     * (dt_proj reads x_proj's output), odd K and strides (scalar loads), bias */
    test_linear(1, 768, 3072, 768, 768, 0, 0);
    test_linear(8, 1536, 80, 1536, 1536, 0, 0);
    test_linear(3, 48, 1536, 80, 48, 1, 0);
    test_linear(5, 47, 81, 50, 50, 1, 0);
    test_linear(2, 768, 50280, 768, 768, 0, 1);
    test_conv1d(1, 1, 64, 4, 1, 0);
    test_conv1d(2, 37, 96, 4, 1, 5);
    test_conv1d(3, 130, 40, 3, 0, 0);
    test_conv1d(2, 200, 33, 4, 0, 17);
    /* the chunked kernels (64 steps a thread, or 32 steps of 4 channels where E is a multiple
     * of 4): state and resets across chunk edges, halos shorter than K-1 at the end, K = 1
     * and 2, many chunks */
    test_conv1d(2, 300, 70, 4, 1, 13);
    test_conv1d(3, 65, 130, 4, 1, 3);
    test_conv1d(1, 129, 16, 2, 1, 7);
    test_conv1d(2, 100, 8, 1, 0, 5);
    test_conv1d(1, 1000, 24, 4, 1, 50);
    test_conv1d(2, 150, 40, 6, 1, 9); /* K > 4: the 8-input window */
    test_conv1d(1, 70, 33, 8, 0, 0);
    /* scan: L = 1 (decode), odd L, tails of every chunk size, E tails, N = 5 / 16 / 64 */
    test_scan(1, 1, 64, 16, 1, 1, 0);
    test_scan(3, 1, 70, 5, 1, 1, 2);   /* the step's lane groups: G = 8 for N = 5, resets */
    test_scan(2, 1, 33, 64, 0, 1, 0);  /* G = 32, two states a lane */
    test_scan(64, 1, 96, 16, 1, 0, 0); /* a decoding batch, no state */
    test_scan(34, 1, 70, 5, 1, 1, 2);  /* 4 rows a lane (B >= 32), B not a multiple of 4 */
    test_scan(33, 1, 33, 64, 1, 1, 0); /* 4 rows a lane, G = 32, two states a lane */
    test_scan(2, 37, 96, 16, 1, 1, 7);
    test_scan(3, 70, 130, 5, 0, 0, 0);
    test_scan(3, 300, 130, 5, 1, 1, 40); /* resets where lanes hold padding states (N = 5) */
    test_scan(2, 300, 96, 12, 1, 0, 40); /* ... two lanes a channel in the backward's summary */
    test_scan(2, 100, 48, 64, 1, 1, 0);
    test_scan(1, 333, 64, 64, 0, 1, 50);
    test_scan(4, 1000, 200, 16, 1, 1, 300);
    test_scan(1, 8192, 32, 16, 1, 1, 0);
    test_scan(1, 9001, 40, 16, 0, 0, 2000);
    test_scan(8, 256, 1536, 16, 1, 1, 0); /* a training batch's width */
    test_scan(4, 3001, 1536, 16, 1, 1, 500); /* forward chunks of 128 steps (132 SMs), a tail */
    test_scan_step_dt(1, 64, 16, 48);  /* 3 of R per lane of a group of 16 */
    test_scan_step_dt(64, 96, 16, 48); /* a decoding batch */
    test_scan_step_dt(37, 80, 16, 48); /* row-kernel tiles cut at both edges (rows, channels) */
    test_scan_step_dt(32, 40, 16, 320); /* W_dt rows too wide to stage: read in place */
    test_scan_step_dt(3, 70, 5, 7);    /* G = 8 > R: idle lanes in the dot */
    test_scan_step_dt(2, 33, 64, 50);  /* G = 32 */
    test_scan_step_dt(34, 70, 5, 7);   /* 4 rows a lane, the last group of 2 */
    test_scan_step_dt(33, 33, 64, 50);
    /* the bf16 mode's rounding of fp32 operands, exact against the CPU's */
    test_bf16_rounding(600, 48, 1536, 80, 0);     /* dt_proj's shape: rows of 48, stride 80 */
    test_bf16_rounding(70000, 7, 24, 7, 0);       /* > 65535 rows; 7 columns: a value a thread */
    test_bf16_rounding(520, 768, 1536, 768, 0);
    test_bf16_rounding(100, 1000, 1100, 1000, 1); /* a kept copy: a row of 2^20 and the rest */
    /* activation gradients set, not added (the model's backward): every kernel variant */
    grad_mode = MK_GRAD_SET;
    test_linear(77, 96, 80, 130, 150, 1, 0);
    test_linear(1000, 64, 200, 64, 70, 1, 1);
    test_linear(3000, 64, 50280, 80, 96, 1, 1);
    test_conv1d(2, 37, 96, 4, 1, 5);
    test_conv1d(2, 300, 70, 4, 1, 13);
    test_conv1d(1, 129, 16, 2, 1, 7);
    test_scan(2, 37, 96, 16, 1, 1, 7);
    test_scan(3, 70, 130, 5, 0, 0, 0);
    test_scan(2, 100, 48, 64, 1, 1, 0);
    test_scan(4, 1000, 200, 16, 1, 1, 300);
    /* ... and in bf16 where they only feed products (the model's bf16 mode), forward operands
     * too (normed16 in every test_rmsnorm) */
    grad16 = 1;
    test_linear(300, 768, 1536, 768, 768, 0, 1);
    test_linear(1000, 64, 200, 64, 70, 1, 1);
    test_linear(77, 96, 80, 130, 150, 1, 0); /* fp32 mode: products of dout16 in bf16 still */
    test_conv1d(2, 300, 70, 4, 1, 13);
    test_conv1d(2, 300, 96, 4, 1, 13); /* by vectors: out and out16 both, dx16 */
    test_scan(2, 37, 96, 16, 1, 1, 7);
    test_scan(2, 100, 48, 64, 1, 1, 0);
    test_scan(4, 1000, 200, 16, 1, 1, 300);
    test_cross_entropy(9, 50280, 0);
    test_cross_entropy(5, 1000, 1);
    test_cross_entropy(7, 1001, 1);
    /* ... and the activations too: in_proj's output, the conv's input and output, the scan's
     * u and z in bf16 (linear_fwd out16, conv1d x16, scan u16 / z16) */
    acts16 = 1;
    test_linear(300, 768, 1536, 768, 768, 0, 1); /* bf16 products into a bf16 output */
    test_linear(300, 768, 1536, 768, 768, 1, 1); /* with a bias */
    test_linear(5, 48, 80, 48, 48, 0, 0);        /* fp32 mode, a decoding step's rows */
    test_conv1d(2, 300, 70, 4, 1, 13);
    test_conv1d(2, 300, 96, 4, 1, 13); /* 4 channels a thread (E a multiple of 4) */
    test_conv1d(3, 130, 40, 3, 0, 0);  /* ... without a state or resets */
    test_conv1d(3, 1, 40, 4, 1, 0); /* the decoding step's conv */
    test_scan(2, 37, 96, 16, 1, 1, 7);
    test_scan(4, 1000, 200, 16, 1, 1, 300);
    test_scan(64, 1, 96, 16, 1, 1, 0); /* the decoding step's rows */
    test_scan(3, 1, 70, 5, 1, 1, 2);   /* ... and lane groups */
    test_scan_step_dt(37, 80, 16, 48); /* the row kernel's staged dt_proj */
    test_scan_step_dt(34, 70, 5, 7);   /* lane groups with dt_proj */
    test_conv1d(2, 150, 40, 6, 1, 9);  /* the 8-input window on bf16 x */
    acts16 = 0;
    grad16 = 0;
    grad_mode = MK_GRAD_ADD;
    test_cross_entropy(9, 50280, 0);
    test_cross_entropy(5, 1000, 1);
    test_cross_entropy(7, 1001, 1); /* rows not a multiple of 4: scalar loads */
    test_adamw(100003);
    test_argmax(1, 50280);
    test_argmax(6, 50280);
    test_argmax(4, 7);
    test_argmax(64, 50280); /* a decoding batch of 64 */
    test_argmax(5, 9001);   /* rows not a multiple of a block's 8 x 1024 values */
    test_pool(16, 16000, 64); /* the speech classifier's micro-batch */
    test_pool(5, 1000, 70);   /* D not a multiple of 32 */
    test_pool(3, 1, 8);
    return exit_status();
}
