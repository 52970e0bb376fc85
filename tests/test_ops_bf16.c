/* test_ops_bf16.c — the bf16 variants of the CPU ops' inputs and outputs (the bf16 mode's
 * activations): on values that bf16 holds exactly, reading an input from its bf16 version
 * gives the same bits as reading it in fp32, and a bf16 output is the fp32 output rounded once:
 *   linear_fwd out16, linear_bwd din16;  conv1d_fwd / conv1d_bwd x16 (conv1d_fwd with out
 *   NULL, out16 only);  scan_fwd / scan_bwd u16, delta16, z16, and scan_bwd dout16.
 * The CUDA backend's variants are compared with these in test_cuda_ops.
 */
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "ops_common.h"

static uint64_t seed = 91;
static const struct mk_ops *ops;

/* n floats uniform in [lo, hi), rounded to bf16 values; *h16 (if h16) their bf16 bits */
static float *bf16_values(size_t n, double lo, double hi, uint16_t **h16)
{
    float *x = malloc(n * sizeof *x);
    uint16_t *h = h16 ? malloc(n * sizeof *h) : NULL;
    for (size_t i = 0; i < n; i++) {
        uint16_t b = mk_f32_to_bf16((float)rng_unif(&seed, lo, hi));
        x[i] = mk_bf16_to_f32(b);
        if (h)
            h[i] = b;
    }
    if (h16)
        *h16 = h;
    return x;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* bf16 bits == the rounding of the fp32 values */
static int rounds_to(const uint16_t *h, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (h[i] != mk_f32_to_bf16(f[i]))
            return 0;
    return 1;
}

static void test_linear_out16(size_t M, int K, int N, int with_bias)
{
    float *in = bf16_values(M * K, -1, 1, NULL), *W = bf16_values((size_t)N * K, -1, 1, NULL);
    float *bias = with_bias ? bf16_values(N, -1, 1, NULL) : NULL;
    float *out = calloc(M * N, sizeof *out);
    uint16_t *o16 = calloc(M * N, sizeof *o16);
    ops->linear_fwd(out, in, K, W, bias, M, K, N, NULL, NULL);
    ops->linear_fwd(NULL, in, K, W, bias, M, K, N, NULL, o16);
    ok(rounds_to(o16, out, M * N), "linear_fwd M=%zu K=%d N=%d%s: out16 == out rounded", M, K,
       N, with_bias ? " bias" : "");
    free(in), free(W), free(bias), free(out), free(o16);
}

/* din16: din set in bf16 == the fp32 din (set) rounded; dW and dbias as with din */
static void test_linear_din16(size_t M, int K, int N)
{
    float *in = bf16_values(M * K, -1, 1, NULL), *W = bf16_values((size_t)N * K, -1, 1, NULL);
    float *dout = bf16_values(M * N, -1, 1, NULL), *din = malloc(M * K * sizeof *din);
    float *dW_a = calloc((size_t)N * K, 4), *dW_b = calloc((size_t)N * K, 4);
    float *db_a = calloc(N, 4), *db_b = calloc(N, 4);
    uint16_t *d16 = calloc(M * K, sizeof *d16);
    ops->linear_bwd(din, K, dW_a, db_a, dout, in, K, W, M, K, N, MK_GRAD_SET, NULL, NULL, NULL);
    ops->linear_bwd(NULL, K, dW_b, db_b, dout, in, K, W, M, K, N, MK_GRAD_SET, NULL, NULL, d16);
    ok(rounds_to(d16, din, M * K) && same_bits(dW_a, dW_b, (size_t)N * K) &&
           same_bits(db_a, db_b, N),
       "linear_bwd M=%zu K=%d N=%d: din16 == din rounded (dW, dbias the same)", M, K, N);
    free(in), free(W), free(dout), free(din), free(dW_a), free(dW_b), free(db_a), free(db_b);
    free(d16);
}

static void test_conv1d_x16(int B, int L, int E, int K, int with_state)
{
    const int ld = 2 * E;
    const size_t nx = (size_t)B * L * ld, n = (size_t)B * L * E, ns = (size_t)B * E * (K - 1);
    uint16_t *x16;
    float *x = bf16_values(nx, -1, 1, &x16), *w = bf16_values((size_t)E * K, -1, 1, NULL);
    float *bias = bf16_values(E, -1, 1, NULL), *dout = bf16_values(n, -1, 1, NULL);
    float *st = with_state ? bf16_values(ns, -1, 1, NULL) : NULL;
    float *st_a = st ? malloc(ns * 4) : NULL, *st_b = st ? malloc(ns * 4) : NULL;
    if (st)
        memcpy(st_a, st, ns * 4), memcpy(st_b, st, ns * 4);
    uint8_t *reset = calloc((size_t)B * L, 1);
    for (int b = 0; b < B; b++)
        reset[(size_t)b * L + L / 3] = 1;
    float *out = calloc(n, 4);
    uint16_t *o16 = calloc(n, 2);
    ops->conv1d_fwd(out, st_a, x, ld, w, bias, reset, B, L, E, K, NULL, NULL);
    ops->conv1d_fwd(NULL, st_b, NULL, ld, w, bias, reset, B, L, E, K, o16, x16);
    ok(rounds_to(o16, out, n) && (!st || same_bits(st_a, st_b, ns)),
       "conv1d_fwd B=%d L=%d E=%d K=%d state=%d: x16 and out16 only == x, out rounded", B, L, E,
       K, with_state);
    float *dx_a = calloc(nx, 4), *dx_b = calloc(nx, 4), *dw_a = calloc((size_t)E * K, 4);
    float *dw_b = calloc((size_t)E * K, 4), *db_a = calloc(E, 4), *db_b = calloc(E, 4);
    ops->conv1d_bwd(dx_a, ld, dw_a, db_a, dout, st, x, ld, w, bias, reset, B, L, E, K,
                    MK_GRAD_SET, NULL, NULL);
    ops->conv1d_bwd(dx_b, ld, dw_b, db_b, dout, st, NULL, ld, w, bias, reset, B, L, E, K,
                    MK_GRAD_SET, NULL, x16);
    ok(same_bits(dx_a, dx_b, nx) && same_bits(dw_a, dw_b, (size_t)E * K) &&
           same_bits(db_a, db_b, E),
       "conv1d_bwd B=%d L=%d E=%d K=%d state=%d: x16 == x (dx, dw, dbias)", B, L, E, K,
       with_state);
    free(x), free(x16), free(w), free(bias), free(dout), free(st), free(st_a), free(st_b);
    free(reset), free(out), free(o16), free(dx_a), free(dx_b), free(dw_a), free(dw_b);
    free(db_a), free(db_b);
}

static void test_scan_u16_z16(int B, int L, int E, int N, int with_state)
{
    const int R = 3, ldbc = R + 2 * N, ldz = 2 * E;
    const size_t T = (size_t)B * L, n = T * E, ns = (size_t)B * E * N, nA = (size_t)E * N;
    uint16_t *u16, *xz16;
    float *u = bf16_values(n, -1, 1, &u16), *xz = bf16_values(T * ldz, -2, 2, &xz16);
    uint16_t *delta16;
    float *delta = bf16_values(n, -3, 1, &delta16), *xbc = bf16_values(T * ldbc, -1, 1, NULL);
    float *db = bf16_values(E, -1, 0.5, NULL), *Dsk = bf16_values(E, -1, 1, NULL);
    float *Alog = bf16_values(nA, -0.1, 0.1, NULL), *dout = bf16_values(n, -1, 1, NULL);
    float *st0 = with_state ? bf16_values(ns, -1, 1, NULL) : NULL;
    for (size_t i = 0; i < nA; i++)
        Alog[i] += (float)log(1.0 + (double)(i % N));
    struct mk_scan_in in = {u, delta, db, Alog, xbc + R, xbc + R + N, Dsk, xz + E, NULL,
                            B, L, E, N, ldbc, ldz, NULL, NULL, 0, NULL, NULL, NULL, NULL};
    struct mk_scan_in in16 = in;
    in16.u = in16.z = in16.delta = NULL;
    in16.u16 = u16;
    in16.z16 = xz16 + E;
    in16.delta16 = delta16;
    float *out_a = calloc(n, 4), *out_b = calloc(n, 4);
    float *st_a = st0 ? malloc(ns * 4) : NULL, *st_b = st0 ? malloc(ns * 4) : NULL;
    if (st0)
        memcpy(st_a, st0, ns * 4), memcpy(st_b, st0, ns * 4);
    ops->scan_fwd(out_a, st_a, &in);
    ops->scan_fwd(out_b, st_b, &in16);
    ok(same_bits(out_a, out_b, n) && (!st0 || same_bits(st_a, st_b, ns)),
       "scan_fwd B=%d L=%d E=%d N=%d state=%d: u16, delta16, z16 == u, delta, z", B, L, E, N,
       with_state);
    struct mk_scan_grad g[2];
    float *buf[2][8];
    const size_t sizes[8] = {n, n, E, nA, T * ldbc, E, T * ldz, ns};
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 8; j++)
            buf[k][j] = calloc(sizes[j], 4);
        struct mk_scan_grad gk = {buf[k][0], buf[k][1], buf[k][2], buf[k][3], buf[k][4] + R,
                                  buf[k][4] + R + N, buf[k][5], buf[k][6] + E,
                                  st0 ? buf[k][7] : NULL, MK_GRAD_SET, NULL, NULL, NULL};
        g[k] = gk;
    }
    uint16_t *dout16 = malloc(n * sizeof *dout16);
    for (size_t i = 0; i < n; i++)
        dout16[i] = mk_f32_to_bf16(dout[i]);
    g[1].dout16 = dout16;
    ops->scan_bwd(&g[0], dout, st0, &in);
    ops->scan_bwd(&g[1], NULL, st0, &in16);
    int same = 1;
    for (int j = 0; j < 8; j++)
        same &= same_bits(buf[0][j], buf[1][j], sizes[j]);
    ok(same, "scan_bwd B=%d L=%d E=%d N=%d state=%d: u16, delta16, z16, dout16 == fp32 (every "
       "gradient)", B, L, E, N, with_state);
    free(dout16);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 8; j++)
            free(buf[k][j]);
    free(u), free(u16), free(xz), free(xz16), free(delta), free(delta16), free(xbc), free(db);
    free(Dsk);
    free(Alog), free(dout), free(st0), free(out_a), free(out_b), free(st_a), free(st_b);
}

int main(void)
{
    plan_lazy();
    ops = mk_ops_cpu();
    test_linear_out16(1, 33, 20, 1);
    test_linear_out16(70, 48, 96, 0);
    test_linear_out16(70, 48, 96, 1);
    test_linear_din16(70, 48, 96);
    test_linear_din16(1, 33, 20);
    test_conv1d_x16(2, 37, 24, 4, 1);
    test_conv1d_x16(3, 50, 40, 3, 0);
    test_scan_u16_z16(2, 37, 24, 16, 1);
    test_scan_u16_z16(3, 40, 20, 5, 0);
    return exit_status();
}
