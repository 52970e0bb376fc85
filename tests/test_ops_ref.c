/* test_ops_ref.c — the forwards of the CPU reference kernels, in float through mk_ops_cpu(),
 * against naive re-derivations written here in double, plus the properties the model relies on:
 *   - scan and conv1d against direct evaluations (the scan materialises h over time);
 *   - chunking invariance: [0, L) in one call == [0, s) then [s, L) with the state carried;
 *   - reset == running the packed documents separately;
 *   - linear (strided in/din, bias) against triple loops, forward and backward;
 *   - add+rmsnorm, embedding, cross-entropy (against a naive log-softmax), AdamW (against
 *     torch's update re-derived step by step over 3 steps), sumsq;
 *   - determinism: backwards give the same bits on 1 and 2 threads;
 *   - mk_vexp, mk_vlog1p, mk_softplus (the float kernels' exp, log1p) against libm;
 *   - the op table's memory functions, and a scratch allocation failure reported by sync().
 * Errors are scale-free (max|a - b| / max|b|) with the tolerance written at each check.
 */
#include <float.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "ops.h"
#include "ref_util.h"
#include "ops_common.h"

static uint64_t seed = 77;
static const struct mk_ops *ops;

/* ---- float <-> double --------------------------------------------------------------------- */

static float *frand(size_t n, double lo, double hi)
{
    float *x = xcalloc(n, sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_unif(&seed, lo, hi);
    return x;
}

static double *todbl(const float *x, size_t n)
{
    double *d = xcalloc(n, sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

/* rel_err of a float result against a double reference */
static double ferr(const float *a, const double *ref, size_t n)
{
    double *d = todbl(a, n), e = rel_err(d, ref, n);
    free(d);
    return e;
}

static float *fdup(const float *x, size_t n)
{
    float *y = xcalloc(n, sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

static double sigm(double x)
{
    return 1 / (1 + exp(-x));
}

/* rows [t0, t1) of each sequence of a [B, L, ld] buffer, as a [B, t1-t0, ld] copy */
static void *slice(const void *x, size_t elem, int B, int L, int ld, int t0, int t1)
{
    if (!x)
        return NULL;
    size_t row = (size_t)ld * elem, n = (size_t)(t1 - t0) * row;
    char *y = xcalloc((size_t)B * (t1 - t0) * ld, elem);
    for (int b = 0; b < B; b++)
        memcpy(y + b * n, (const char *)x + ((size_t)b * L + t0) * row, n);
    return y;
}

/* writes a [B, t1-t0, E] part back into rows [t0, t1) of a [B, L, E] buffer */
static void unslice(float *x, const float *part, int B, int L, int E, int t0, int t1)
{
    size_t n = (size_t)(t1 - t0) * E;
    for (int b = 0; b < B; b++)
        memcpy(x + ((size_t)b * L + t0) * E, part + b * n, n * sizeof *x);
}

static int same(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* A kernel whose scratch cannot be allocated does nothing, and the next sync() says so. */
static void test_scratch_failure(void)
{
    struct mk_scan_in in = {0};
    struct mk_scan_grad g = {0};
    in.B = 1, in.L = 1 << 30, in.E = 64, in.N = 1 << 20; /* ~2^60 bytes of scratch */
    ops->scan_bwd(&g, NULL, NULL, &in);
    mk_status st = ops->sync();
    int named = strstr(mk_last_error(), "scan_bwd") != NULL;
    ok(st == MK_ERR_NOMEM && named && ops->sync() == MK_OK,
       "scratch failure: sync() -> MK_ERR_NOMEM naming the op (\"%s\"), then MK_OK",
       mk_last_error());
}

/* ---- the op table and mk_vexp ------------------------------------------------------------- */

static void test_table(void)
{
    void *p[3];
    size_t sizes[3] = {0, 1, 1000};
    int aligned = 1, okay = 1;
    for (int i = 0; i < 3; i++) {
        okay &= ops->alloc(&p[i], sizes[i]) == MK_OK;
        aligned &= (uintptr_t)p[i] % 64 == 0;
    }
    float src[250], back[250];
    for (int i = 0; i < 250; i++)
        src[i] = (float)i;
    okay &= ops->upload(p[2], src, sizeof src) == MK_OK;
    okay &= ops->download(back, p[2], sizeof back) == MK_OK;
    int copied = memcmp(src, back, sizeof src) == 0;
    okay &= ops->zero(p[2], sizeof src) == MK_OK;
    okay &= ops->download(back, p[2], sizeof back) == MK_OK;
    int zeroed = back[0] == 0 && back[249] == 0;
    for (int i = 0; i < 3; i++)
        ops->free(p[i]);
    ok(strcmp(ops->name, "cpu") == 0 && okay && aligned && copied && zeroed &&
           ops->sync() == MK_OK,
       "mk_ops_cpu: 64-byte aligned alloc (0, 1, 1000 bytes), upload/download, zero, sync");
}

static void test_vexp(void)
{
    /* mk_vlog1p over y in [0, 5e8] (softplus' range), log-spaced from 1e-30, and mk_softplus */
    double wl = 0, ws = 0;
    for (int i = 0; i <= 200000; i++) {
        float y = (float)pow(10, -30 + 38.7 * i / 200000);
        double e = fabs((double)mk_vlog1p(y) - log1p((double)y)) / log1p((double)y);
        wl = e > wl ? e : wl;
        float x = (float)(-40.0 + 80.0 * i / 200000);
        double r = x > 20 ? x : log1p(exp((double)x));
        e = fabs((double)mk_softplus(x) - r) / r;
        ws = e > ws ? e : ws;
    }
    ok(wl < 2.5e-7 && ws < 4e-7 && mk_vlog1p(0) == 0 && isnan(mk_vlog1p(NAN)) &&
           mk_softplus(25.0f) == 25.0f && isnan(mk_softplus(NAN)),
       "mk_vlog1p: max rel err %.2e over [1e-30, 5e8] (tol 2.5e-7); mk_softplus %.2e over "
       "[-40, 40] (tol 4e-7); NaN stays NaN", wl, ws);

    /* relative error over [-87, 88] (normal results); 1 ulp = 2^-23 = 1.19e-7 */
    double worst = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = (float)(-87.0 + 175.0 * i / 2000000);
        double e = fabs((double)mk_vexp(x) - exp((double)x)) / exp((double)x);
        worst = e > worst ? e : worst;
    }
    ok(worst < 2.5e-7, "mk_vexp: max relative error %.2e over [-87, 88] (tol 2.5e-7, ~2 ulp)",
       worst);
    float sub = mk_vexp(-100.0f);
    ok(mk_vexp(0) == 1 && mk_vexp(-200.0f) == 0 && mk_vexp(-INFINITY) == 0 &&
           isinf(mk_vexp(89.0f)) && isinf(mk_vexp(INFINITY)) && isnan(mk_vexp(NAN)) &&
           sub > 0 && fabs(sub - exp(-100.0)) < 2e-45,
       "mk_vexp: exp(0) = 1, underflow to 0 / subnormal, overflow to inf, NaN stays NaN");
}

/* ---- embedding, rmsnorm, linear ----------------------------------------------------------- */

static void test_embedding(void)
{
    const int V = 9, D = 100;
    const size_t T = 17;
    float *wte = frand((size_t)V * D, -1, 1), *out = frand(T * D, 0, 0);
    float *dout = frand(T * D, -1, 1), *dwte = frand((size_t)V * D, -1, 1);
    double *ref = todbl(dwte, (size_t)V * D);
    int32_t ids[17];
    for (size_t t = 0; t < T; t++)
        ids[t] = (int32_t)(rng_next(&seed) % 4); /* many repeats */
    ops->embedding_fwd(out, ids, wte, T, D);
    int fwd = 1;
    for (size_t t = 0; t < T; t++)
        fwd &= memcmp(out + t * D, wte + (size_t)ids[t] * D, D * sizeof *out) == 0;
    ops->embedding_bwd(dwte, dout, ids, T, D);
    for (size_t t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            ref[(size_t)ids[t] * D + d] += dout[t * D + d];
    double e = ferr(dwte, ref, (size_t)V * D);
    ok(fwd && e < 1e-6, "embedding: rows copied; bwd accumulates, err %.1e (tol 1e-6)", e);
    free(wte), free(out), free(dout), free(dwte), free(ref);
}

static void test_rmsnorm(int with_x, int in_place)
{
    const size_t T = 11;
    const int D = 96;
    const float eps = 1e-5f;
    size_t n = T * D;
    float *rin = frand(n, -2, 2), *x = with_x ? frand(n, -1, 1) : NULL, *w = frand(D, 0.5, 1.5);
    float *rout = in_place ? rin : frand(n, 0, 0), *normed = frand(n, 0, 0), *rstd = frand(T, 0, 0);
    double *rr = xcalloc(n, sizeof *rr), *rn = xcalloc(n, sizeof *rn), *rs = xcalloc(T, sizeof *rs);
    for (size_t t = 0; t < T; t++) {
        double ss = 0;
        for (int d = 0; d < D; d++) {
            rr[t * D + d] = (double)rin[t * D + d] + (x ? x[t * D + d] : 0);
            ss += rr[t * D + d] * rr[t * D + d];
        }
        rs[t] = 1 / sqrt(ss / D + eps);
        for (int d = 0; d < D; d++)
            rn[t * D + d] = rr[t * D + d] * rs[t] * w[d];
    }
    ops->add_rmsnorm_fwd(rout, normed, rstd, rin, x, w, T, D, eps, NULL, NULL);
    double e1 = ferr(rout, rr, n), e2 = ferr(normed, rn, n), e3 = ferr(rstd, rs, T);
    ok(e1 < 1e-7 && e2 < 2e-6 && e3 < 2e-6,
       "add_rmsnorm%s%s: resid %.1e (tol 1e-7), normed %.1e, rstd %.1e (tol 2e-6)",
       with_x ? "" : " x=NULL", in_place ? " in place" : "", e1, e2, e3);
    free(rin), free(x), free(w), free(normed), free(rstd), free(rr), free(rn), free(rs);
    if (!in_place)
        free(rout);
}

static void test_linear(size_t M, int K, int N, int ld_in, int ld_din, int with_bias)
{
    float *in = frand(M * ld_in, -1, 1), *W = frand((size_t)N * K, -1, 1);
    float *bias = with_bias ? frand(N, -1, 1) : NULL, *out = frand(M * N, 0, 0);
    float *dout = frand(M * N, -1, 1), *din = frand(M * ld_din, -1, 1);
    float *dW = frand((size_t)N * K, -1, 1), *db = frand(N, -1, 1);
    double *ro = xcalloc(M * N, sizeof *ro), *rdin = todbl(din, M * ld_din);
    double *rdW = todbl(dW, (size_t)N * K), *rdb = todbl(db, N);
    for (size_t m = 0; m < M; m++)
        for (int j = 0; j < N; j++) {
            double s = with_bias ? bias[j] : 0;
            for (int k = 0; k < K; k++)
                s += (double)in[m * ld_in + k] * W[(size_t)j * K + k];
            ro[m * N + j] = s;
            double g = dout[m * N + j];
            for (int k = 0; k < K; k++) {
                rdin[m * ld_din + k] += g * W[(size_t)j * K + k];
                rdW[(size_t)j * K + k] += g * in[m * ld_in + k];
            }
            rdb[j] += g;
        }
    ops->linear_fwd(out, in, ld_in, W, bias, M, K, N, NULL, NULL);
    ops->linear_bwd(din, ld_din, dW, with_bias ? db : NULL, dout, in, ld_in, W, M, K, N,
                    MK_GRAD_ADD, NULL, NULL, NULL);
    double e1 = ferr(out, ro, M * N), e2 = ferr(din, rdin, M * ld_din);
    double e3 = ferr(dW, rdW, (size_t)N * K), e4 = with_bias ? ferr(db, rdb, N) : 0;
    ok(e1 < 1e-6 && e2 < 1e-6 && e3 < 1e-6 && e4 < 1e-6,
       "linear M=%zu K=%d N=%d ld_in=%d ld_din=%d%s vs triple loop: out %.1e din %.1e dW %.1e "
       "dbias %.1e (tol 1e-6)", M, K, N, ld_in, ld_din, with_bias ? " bias" : "", e1, e2, e3, e4);
    free(in), free(W), free(bias), free(out), free(dout), free(din), free(dW), free(db);
    free(ro), free(rdin), free(rdW), free(rdb);
}

/* ---- conv1d ------------------------------------------------------------------------------- */

struct conv_data {
    int B, L, E, K, ld;
    float *x, *w, *bias, *state0; /* x [B, L, ld]; state0 [B, E, K-1] or NULL */
    uint8_t *reset;
};

static struct conv_data conv_make(int B, int L, int E, int K, int with_state)
{
    struct conv_data c = {B, L, E, K, 2 * E, frand((size_t)B * L * 2 * E, -1, 1),
                          frand((size_t)E * K, -1, 1), frand(E, -1, 1),
                          with_state ? frand((size_t)B * E * (K - 1), -1, 1) : NULL,
                          xcalloc((size_t)B * L, 1)};
    return c;
}

static void conv_free(struct conv_data *c)
{
    free(c->x), free(c->w), free(c->bias), free(c->state0), free(c->reset);
}

/* The input that conv step t of sequence b sees at time tau in channel e, found directly:
 * a reset at s <= t hides every time before s; before time 0 comes the state (or zeros).
 * t = L asks for the window the final state holds. */
static double conv_naive_in(const struct conv_data *c, int b, int e, int t, int tau)
{
    for (int s = (t < c->L ? t : c->L - 1); s >= 0; s--)
        if (c->reset[(size_t)b * c->L + s] && tau < s)
            return 0;
    if (tau >= 0)
        return c->x[((size_t)b * c->L + tau) * c->ld + e];
    return c->state0 ? c->state0[((size_t)b * c->E + e) * (c->K - 1) + (c->K - 1 + tau)] : 0;
}

static void test_conv1d(int B, int L, int E, int K, int with_state)
{
    struct conv_data c = conv_make(B, L, E, K, with_state);
    c.reset[L / 3] = 1;
    if (B > 1)
        c.reset[L] = 1; /* b = 1: reset at t = 0, the state is not used */
    size_t no = (size_t)B * L * E, ns = (size_t)B * E * (K - 1);
    double *ro = xcalloc(no, sizeof *ro), *rs = xcalloc(ns, sizeof *rs);
    for (int b = 0; b < B; b++)
        for (int e = 0; e < E; e++) {
            for (int t = 0; t < L; t++) {
                double a = c.bias[e];
                for (int k = 0; k < K; k++)
                    a += c.w[(size_t)e * K + k] * conv_naive_in(&c, b, e, t, t - (K - 1) + k);
                ro[((size_t)b * L + t) * E + e] = a * sigm(a);
            }
            for (int j = 0; j < K - 1; j++)
                rs[((size_t)b * E + e) * (K - 1) + j] = conv_naive_in(&c, b, e, L, L - (K - 1) + j);
        }
    float *out = frand(no, 0, 0), *st = c.state0 ? fdup(c.state0, ns) : NULL;
    ops->conv1d_fwd(out, st, c.x, c.ld, c.w, c.bias, c.reset, B, L, E, K, NULL, NULL);
    double e1 = ferr(out, ro, no), e2 = st ? ferr(st, rs, ns) : 0;
    ok(e1 < 1e-6 && e2 == 0, "conv1d B=%d L=%d E=%d K=%d%s reset vs direct sum: out %.1e "
       "(tol 1e-6), final state %.1e (exact)", B, L, E, K, with_state ? " state" : "", e1, e2);

    /* Chunking: [0, s) then [s, L) with the state carried gives the same bits. */
    int s = L / 2;
    float *st2 = c.state0 ? fdup(c.state0, ns) : xcalloc(ns, sizeof *st2);
    float *out2 = frand(no, 0, 0), *part = frand(no, 0, 0);
    for (int half = 0; half < 2; half++) {
        int t0 = half ? s : 0, t1 = half ? L : s;
        float *xs = slice(c.x, sizeof(float), B, L, c.ld, t0, t1);
        uint8_t *rs8 = slice(c.reset, 1, B, L, 1, t0, t1);
        ops->conv1d_fwd(part, st2, xs, c.ld, c.w, c.bias, rs8, B, t1 - t0, E, K, NULL, NULL);
        unslice(out2, part, B, L, E, t0, t1);
        free(xs), free(rs8);
    }
    float *st1 = c.state0 ? fdup(c.state0, ns) : xcalloc(ns, sizeof *st1);
    ops->conv1d_fwd(out, st1, c.x, c.ld, c.w, c.bias, c.reset, B, L, E, K, NULL, NULL);
    ok(same(out, out2, no) && same(st1, st2, ns),
       "conv1d B=%d L=%d E=%d K=%d: [0,%d) + [%d,%d) with the state carried == one call "
       "(bitwise, outputs and final state)", B, L, E, K, s, s, L);

    /* Reset: the packed sequence == its documents run separately (B = 1 here). */
    struct conv_data d = conv_make(1, L, E, K, 1);
    d.reset[s] = 1;
    float *o_pack = frand((size_t)L * E, 0, 0), *o_sep = frand((size_t)L * E, 0, 0);
    float *s_pack = fdup(d.state0, (size_t)E * (K - 1)), *s_sep = fdup(d.state0, (size_t)E * (K - 1));
    ops->conv1d_fwd(o_pack, s_pack, d.x, d.ld, d.w, d.bias, d.reset, 1, L, E, K, NULL, NULL);
    ops->conv1d_fwd(o_sep, s_sep, d.x, d.ld, d.w, d.bias, NULL, 1, s, E, K, NULL, NULL);
    memset(s_sep, 0, (size_t)E * (K - 1) * sizeof *s_sep); /* a fresh document */
    ops->conv1d_fwd(o_sep + (size_t)s * E, s_sep, d.x + (size_t)s * d.ld, d.ld, d.w, d.bias,
                    NULL, 1, L - s, E, K, NULL, NULL);
    ok(same(o_pack, o_sep, (size_t)L * E) && same(s_pack, s_sep, (size_t)E * (K - 1)),
       "conv1d L=%d reset at %d == the two documents run separately (bitwise)", L, s);

    conv_free(&c), conv_free(&d);
    free(ro), free(rs), free(out), free(st), free(st2), free(out2), free(part), free(st1);
    free(o_pack), free(o_sep), free(s_pack), free(s_sep);
}

/* ---- selective scan ----------------------------------------------------------------------- */

struct scan_data {
    int B, L, E, N, R;
    float *u, *delta, *dbias, *A_log, *xdbl, *Dskip, *xz, *state0;
    uint8_t *reset;
    int with_z;
};

static struct scan_data scan_make(int B, int L, int E, int N, int with_z, int with_state)
{
    struct scan_data s;
    memset(&s, 0, sizeof s);
    s.B = B, s.L = L, s.E = E, s.N = N, s.R = 3;
    size_t T = (size_t)B * L;
    s.u = frand(T * E, -1, 1);
    s.delta = frand(T * E, -3, 1);
    s.dbias = frand(E, -1, 0.5);
    s.A_log = frand((size_t)E * N, -0.1, 0.1);
    for (int e = 0; e < E; e++)
        for (int n = 0; n < N; n++)
            s.A_log[(size_t)e * N + n] += (float)log(1.0 + n);
    for (size_t i = 0; i < T * E; i += 11)
        s.delta[i] = 23; /* softplus' linear branch */
    s.xdbl = frand(T * (s.R + 2 * N), -1, 1);
    s.Dskip = frand(E, -1, 1);
    s.xz = frand(T * 2 * E, -2, 2);
    s.state0 = with_state ? frand((size_t)B * E * N, -1, 1) : NULL;
    s.reset = xcalloc(T, 1);
    s.with_z = with_z;
    return s;
}

static void scan_free(struct scan_data *s)
{
    free(s->u), free(s->delta), free(s->dbias), free(s->A_log), free(s->xdbl), free(s->Dskip);
    free(s->xz), free(s->state0), free(s->reset);
}

/* the contract's view of the data, rows t0..t1 of each sequence (copies when a part) */
static struct mk_scan_in scan_view(const struct scan_data *s, int t0, int t1)
{
    int B = s->B, L = s->L, E = s->E, ldbc = s->R + 2 * s->N;
    int whole = t0 == 0 && t1 == L;
    const float *xdbl = whole ? s->xdbl : slice(s->xdbl, sizeof(float), B, L, ldbc, t0, t1);
    const float *xz = whole ? s->xz : slice(s->xz, sizeof(float), B, L, 2 * E, t0, t1);
    struct mk_scan_in in = {
        whole ? s->u : slice(s->u, sizeof(float), B, L, E, t0, t1),
        whole ? s->delta : slice(s->delta, sizeof(float), B, L, E, t0, t1),
        s->dbias, s->A_log, xdbl + s->R, xdbl + s->R + s->N, s->Dskip,
        s->with_z ? xz + E : NULL,
        whole ? s->reset : slice(s->reset, 1, B, L, 1, t0, t1),
        B, t1 - t0, E, s->N, ldbc, 2 * E, NULL, NULL, 0, NULL, NULL, NULL};
    return in;
}

static void scan_view_free(struct mk_scan_in *in, const struct scan_data *s)
{
    free((void *)in->u), free((void *)in->delta), free((void *)(in->Bm - s->R));
    free((void *)in->reset);
    free((void *)(in->z ? in->z - s->E : NULL));
}

/* Direct evaluation: H[b, t, e, n] over the whole sequence first, then the readout. */
static void scan_naive(double *out, double *final, const struct scan_data *s)
{
    const int B = s->B, L = s->L, E = s->E, N = s->N, ldbc = s->R + 2 * N;
    double *H = xcalloc((size_t)B * L * E * N, sizeof *H);
    for (int b = 0; b < B; b++)
        for (int e = 0; e < E; e++)
            for (int t = 0; t < L; t++) {
                size_t row = (size_t)b * L + t;
                double x = (double)s->delta[row * E + e] + s->dbias[e];
                double dt = x > 20 ? x : log1p(exp(x));
                for (int n = 0; n < N; n++) {
                    double prev;
                    if (s->reset[row])
                        prev = 0;
                    else if (t > 0)
                        prev = H[((row - 1) * E + e) * N + n];
                    else
                        prev = s->state0 ? s->state0[((size_t)b * E + e) * N + n] : 0;
                    double A = -exp((double)s->A_log[(size_t)e * N + n]);
                    H[(row * E + e) * N + n] = exp(dt * A) * prev +
                                               dt * s->xdbl[row * ldbc + s->R + n] * s->u[row * E + e];
                }
            }
    for (size_t row = 0; row < (size_t)B * L; row++)
        for (int e = 0; e < E; e++) {
            double y = (double)s->Dskip[e] * s->u[row * E + e];
            for (int n = 0; n < N; n++)
                y += s->xdbl[row * ldbc + s->R + N + n] * H[(row * E + e) * N + n];
            if (s->with_z) {
                double z = s->xz[row * 2 * E + E + e];
                y *= z * sigm(z);
            }
            out[row * E + e] = y;
        }
    for (int b = 0; b < B; b++)
        memcpy(final + (size_t)b * E * N, H + ((size_t)b * L + L - 1) * E * N,
               (size_t)E * N * sizeof *final);
    free(H);
}

static void test_scan(int B, int L, int E, int N, int with_z, int with_state)
{
    struct scan_data s = scan_make(B, L, E, N, with_z, with_state);
    s.reset[L / 3] = 1;
    if (B > 1)
        s.reset[L] = 1; /* b = 1: state0 ignored */
    size_t no = (size_t)B * L * E, ns = (size_t)B * E * N;
    double *ro = xcalloc(no, sizeof *ro), *rs = xcalloc(ns, sizeof *rs);
    scan_naive(ro, rs, &s);
    float *out = frand(no, 0, 0), *st = s.state0 ? fdup(s.state0, ns) : xcalloc(ns, sizeof *st);
    struct mk_scan_in in = scan_view(&s, 0, L);
    ops->scan_fwd(out, st, &in);
    double e1 = ferr(out, ro, no), e2 = ferr(st, rs, ns);
    ok(e1 < 1e-5 && e2 < 1e-5, "scan B=%d L=%d E=%d N=%d%s%s reset vs direct evaluation: out "
       "%.1e, final state %.1e (tol 1e-5)", B, L, E, N, with_z ? " z" : "",
       with_state ? " state" : "", e1, e2);

    /* Chunking: [0, s) then [s, L) with the state carried gives the same bits. */
    int cut = L / 2 + 1;
    float *st2 = s.state0 ? fdup(s.state0, ns) : xcalloc(ns, sizeof *st2);
    float *out2 = frand(no, 0, 0), *part = frand(no, 0, 0);
    for (int half = 0; half < 2; half++) {
        int t0 = half ? cut : 0, t1 = half ? L : cut;
        struct mk_scan_in pin = scan_view(&s, t0, t1);
        ops->scan_fwd(part, st2, &pin);
        unslice(out2, part, B, L, E, t0, t1);
        scan_view_free(&pin, &s);
    }
    ok(same(out, out2, no) && same(st, st2, ns),
       "scan B=%d L=%d: [0,%d) + [%d,%d) with the state carried == one call (bitwise, outputs "
       "and final state)", B, L, cut, cut, L);

    /* Reset: the packed sequence == its documents run separately (B = 1). */
    struct scan_data d = scan_make(1, L, E, N, with_z, 1);
    d.reset[cut] = 1;
    float *o_pack = frand((size_t)L * E, 0, 0), *o_sep = frand((size_t)L * E, 0, 0);
    float *s_pack = fdup(d.state0, (size_t)E * N), *s_sep = fdup(d.state0, (size_t)E * N);
    struct mk_scan_in pk = scan_view(&d, 0, L);
    ops->scan_fwd(o_pack, s_pack, &pk);
    memset(d.reset, 0, (size_t)L);
    for (int half = 0; half < 2; half++) {
        int t0 = half ? cut : 0, t1 = half ? L : cut;
        struct mk_scan_in pin = scan_view(&d, t0, t1);
        if (half)
            memset(s_sep, 0, (size_t)E * N * sizeof *s_sep); /* a fresh document */
        ops->scan_fwd(part, s_sep, &pin);
        memcpy(o_sep + (size_t)t0 * E, part, (size_t)(t1 - t0) * E * sizeof *part);
        scan_view_free(&pin, &d);
    }
    ok(same(o_pack, o_sep, (size_t)L * E) && same(s_pack, s_sep, (size_t)E * N),
       "scan L=%d reset at %d == the two documents run separately (bitwise)", L, cut);

    scan_free(&s), scan_free(&d);
    free(ro), free(rs), free(out), free(st), free(st2), free(out2), free(part);
    free(o_pack), free(o_sep), free(s_pack), free(s_sep);
}

/* The decoding step's dt_proj inside the scan (W_dt, L = 1): the direct evaluation with
 * delta = x_dt . W_dt[e] taken in double; delta itself is not given. */
static void test_scan_dt_proj(int B, int E, int N)
{
    struct scan_data s = scan_make(B, 1, E, N, 1, 1);
    const int R = s.R, ldbc = R + 2 * N;
    float *W = frand((size_t)E * R, -1, 1);
    for (int b = 0; b < B; b++)
        for (int e = 0; e < E; e++) {
            double d = 0;
            for (int r = 0; r < R; r++)
                d += (double)s.xdbl[(size_t)b * ldbc + r] * W[(size_t)e * R + r];
            s.delta[(size_t)b * E + e] = (float)d;
        }
    size_t no = (size_t)B * E, ns = no * N;
    double *ro = xcalloc(no, sizeof *ro), *rs = xcalloc(ns, sizeof *rs);
    scan_naive(ro, rs, &s);
    float *out = frand(no, 0, 0), *st = fdup(s.state0, ns);
    struct mk_scan_in in = scan_view(&s, 0, 1);
    in.delta = NULL;
    in.x_dt = s.xdbl;
    in.W_dt = W;
    in.R = R;
    ops->scan_fwd(out, st, &in);
    double e1 = ferr(out, ro, no), e2 = ferr(st, rs, ns);
    ok(e1 < 1e-5 && e2 < 1e-5, "scan step B=%d E=%d N=%d with dt_proj inside (W_dt) vs direct "
       "evaluation: out %.1e, state %.1e (tol 1e-5)", B, E, N, e1, e2);
    scan_free(&s);
    free(W), free(ro), free(rs), free(out), free(st);
}

/* ---- cross-entropy ------------------------------------------------------------------------ */

static void test_cross_entropy(void)
{
    const size_t T = 6;
    const int V = 1000;
    float *logits = frand(T * V, -5, 5), *loss = frand(T, 0, 0), *w = frand(T, 0.1, 2);
    int32_t tg[6] = {3, -1, 999, 0, 517, -1};
    for (int v = 0; v < V; v++)
        logits[3 * V + v] += 3000; /* exp would overflow without the max shift */
    logits[4 * V + 7] = -INFINITY;  /* a masked logit */
    double *rl = xcalloc(T, sizeof *rl), *rd = xcalloc(T * V, sizeof *rd);
    double dscale = 0.25;
    for (size_t t = 0; t < T; t++) {
        if (tg[t] < 0)
            continue;
        /* log-softmax directly, in double: lp[v] = l[v] - log(sum_v' exp(l[v'] - l[v])) */
        double m = -INFINITY, s = 0;
        for (int v = 0; v < V; v++)
            m = fmax(m, logits[t * V + v]);
        for (int v = 0; v < V; v++)
            s += exp((double)logits[t * V + v] - m);
        rl[t] = -w[t] * ((double)logits[t * V + tg[t]] - m - log(s));
        for (int v = 0; v < V; v++)
            rd[t * V + v] = w[t] * dscale * (exp((double)logits[t * V + v] - m) / s - (v == tg[t]));
    }
    float *copy = fdup(logits, T * V), *loss2 = frand(T, 0, 0);
    ops->cross_entropy(loss, logits, logits, tg, w, T, V, (float)dscale, NULL); /* dlogits aliases */
    ops->cross_entropy(loss2, NULL, copy, tg, w, T, V, (float)dscale, NULL);
    double e1 = ferr(loss, rl, T), e2 = ferr(logits, rd, T * V);
    ok(e1 < 1e-6 && e2 < 1e-6 && same(loss, loss2, T) && logits[V] == 0 &&
           logits[4 * V + 7] == 0,
       "cross_entropy V=%d (weighted, aliased dlogits, ignored rows, +3000 shift, a -inf logit) "
       "vs naive log-softmax: loss %.1e, dlogits %.1e (tol 1e-6)", V, e1, e2);
    free(logits), free(loss), free(w), free(rl), free(rd), free(copy), free(loss2);
}

/* ---- AdamW and sumsq ---------------------------------------------------------------------- */

static void test_adamw(void)
{
    const size_t n = 1000;
    struct mk_adamw_hp hp = {0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.5f, 0, 0};
    float *p = frand(n, -1, 1), *m = frand(n, 0, 0), *v = frand(n, 0, 0);
    double *rp = todbl(p, n), *rm = xcalloc(n, sizeof *rm), *rv = xcalloc(n, sizeof *rv);
    double *p0 = todbl(p, n);
    for (int step = 1; step <= 3; step++) {
        float *grad = frand(n, -2, 2);
        hp.bc1 = (float)(1 - pow(hp.beta1, step));
        hp.bc2 = (float)(1 - pow(hp.beta2, step));
        ops->adamw(p, m, v, grad, n, &hp);
        /* torch.optim.AdamW, single tensor: param.mul_(1 - lr wd); exp_avg.lerp_(g, 1 - b1);
         * exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2); step_size = lr / bc1;
         * denom = exp_avg_sq.sqrt() / sqrt(bc2) + eps; param.addcdiv_(exp_avg, denom, -step_size) */
        double bc1 = 1 - pow(hp.beta1, step), bc2 = 1 - pow(hp.beta2, step);
        for (size_t i = 0; i < n; i++) {
            double g = (double)grad[i] * hp.grad_scale;
            rp[i] *= 1 - (double)hp.lr * hp.weight_decay;
            rm[i] += (1 - (double)hp.beta1) * (g - rm[i]);
            rv[i] = rv[i] * hp.beta2 + (1 - (double)hp.beta2) * g * g;
            double denom = sqrt(rv[i]) / sqrt(bc2) + hp.eps;
            rp[i] += -(hp.lr / bc1) * rm[i] / denom;
        }
        free(grad);
    }
    /* the change of p (so p's own size does not hide an error in the update) */
    double *dp = xcalloc(n, sizeof *dp), *rdp = xcalloc(n, sizeof *rdp);
    for (size_t i = 0; i < n; i++)
        dp[i] = p[i] - p0[i], rdp[i] = rp[i] - p0[i];
    double e1 = rel_err(dp, rdp, n), e2 = ferr(m, rm, n), e3 = ferr(v, rv, n);
    ok(e1 < 1e-5 && e2 < 1e-6 && e3 < 1e-6, "adamw: 3 steps vs torch's update re-derived in "
       "double: dp %.1e (tol 1e-5), m %.1e, v %.1e (tol 1e-6)", e1, e2, e3);

    const size_t big = 1000003;
    float *x = frand(big, -1, 1);
    double s = 0;
    for (size_t i = 0; i < big; i++)
        s += (double)x[i] * x[i];
    double got = ops->sumsq(x, big);
    ok(fabs(got - s) / s < 1e-12 && ops->sumsq(x, 0) == 0,
       "sumsq: %.17g vs %.17g (double accumulation, tol 1e-12)", got, s);
    free(p), free(m), free(v), free(rp), free(rm), free(rv), free(p0), free(dp), free(rdp), free(x);
}

/* ---- determinism across thread counts ----------------------------------------------------- */

#ifdef _OPENMP
static void test_threads(void)
{
    const int B = 2, L = 96, E = 48, N = 16, K = 4, D = 256; /* all above MK_PAR_MIN */
    const size_t T = (size_t)B * L, no = T * E;
    struct scan_data s = scan_make(B, L, E, N, 1, 1);
    s.reset[40] = 1;
    struct mk_scan_in in = scan_view(&s, 0, L);
    const size_t ldbc = s.R + 2 * N;
    float *dout = frand(no, -1, 1), *w = frand((size_t)E * K, -1, 1), *bias = frand(E, -1, 1);
    float *dn = frand(T * D, -1, 1), *r = frand(T * D, -1, 1), *rstd = frand(T, 0.5, 2);
    float *rw = frand(D, 0.5, 1.5), *res[2];
    size_t nres = 2 * no + E + (size_t)E * N + T * ldbc + E + T * 2 * E + (size_t)B * E * N +
                  T * 2 * E + (size_t)E * K + E + T * D + D + 2;
    int saved = omp_get_max_threads();
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run + 1);
        float *q = res[run] = xcalloc(nres, sizeof *q);
        struct mk_scan_grad g = {0};
        g.du = q, q += no;
        g.ddelta = q, q += no;
        g.ddelta_bias = q, q += E;
        g.dA_log = q, q += (size_t)E * N;
        g.dB = q + s.R, g.dC = q + s.R + N, q += T * ldbc;
        g.dD = q, q += E;
        g.dz = q + E, q += T * 2 * E;
        g.dstate0 = q, q += (size_t)B * E * N;
        g.mode = MK_GRAD_ADD;
        ops->scan_bwd(&g, dout, s.state0, &in);
        ops->conv1d_bwd(q, 2 * E, q + T * 2 * E, q + T * 2 * E + (size_t)E * K, dout, NULL,
                        s.xz, 2 * E, w, bias, s.reset, B, L, E, K, MK_GRAD_ADD, NULL, NULL);
        q += T * 2 * E + (size_t)E * K + E;
        ops->rmsnorm_bwd(q, q + T * D, dn, r, rstd, rw, T, D, NULL);
        q += T * D + D;
        double ss = ops->sumsq(r, T * D);
        memcpy(q, &ss, sizeof ss);
    }
    omp_set_num_threads(saved);
    ok(same(res[0], res[1], nres),
       "scan, conv1d, rmsnorm backward and sumsq: the same bits on 1 and 2 threads");
    scan_free(&s);
    free(dout), free(w), free(bias), free(dn), free(r), free(rstd), free(rw);
    free(res[0]), free(res[1]);
}
#endif

/* ---- speed of one decode step (information, not a test) ------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void bench_decode(void)
{
    const int E = 1536, N = 16, K = 4, reps = 300;
    struct scan_data s = scan_make(1, 1, E, N, 1, 1);
    struct mk_scan_in in = scan_view(&s, 0, 1);
    float *out = frand(E, 0, 0), *cst = frand((size_t)E * (K - 1), -1, 1);
    float *w = frand((size_t)E * K, -1, 1), *bias = frand(E, -1, 1);
    double t0 = now();
    for (int i = 0; i < reps; i++)
        ops->scan_fwd(out, s.state0, &in);
    double t1 = now();
    for (int i = 0; i < reps; i++)
        ops->conv1d_fwd(out, cst, s.xz, 2 * E, w, bias, NULL, 1, 1, E, K, NULL, NULL);
    double t2 = now();
    diag("decode step, E=%d N=%d: scan_fwd %.1f us, conv1d_fwd %.1f us per layer", E, N,
         1e6 * (t1 - t0) / reps, 1e6 * (t2 - t1) / reps);
    scan_free(&s), free(out), free(cst), free(w), free(bias);
}

int main(void)
{
    plan_lazy();
    ops = mk_ops_cpu();
    test_table();
    test_scratch_failure();
    test_vexp();
    test_embedding();
    test_rmsnorm(1, 0);
    test_rmsnorm(0, 0);
    test_rmsnorm(1, 1);
    test_linear(1, 33, 20, 33, 40, 1);
    test_linear(7, 33, 20, 40, 45, 1);
    test_linear(64, 48, 80, 51, 48, 0);
    test_linear(200, 40, 160, 43, 48, 1); /* output rows split across threads */
    test_linear(7, 200, 300, 203, 210, 1); /* output columns split across threads */
    test_conv1d(2, 13, 5, 4, 1);
    test_conv1d(3, 40, 70, 4, 1);
    test_conv1d(2, 9, 6, 3, 0);
    test_scan(2, 13, 5, 16, 1, 1);
    test_scan(2, 11, 7, 5, 0, 0);
    test_scan(2, 80, 40, 16, 1, 1);
    test_scan_dt_proj(3, 40, 16);
    test_cross_entropy();
    test_adamw();
#ifdef _OPENMP
    test_threads();
#endif
    bench_decode();
    return exit_status();
}
