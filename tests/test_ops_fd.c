/* test_ops_fd.c — every backward of the CPU reference kernels against central finite
 * differences, in double (the same *_ref.c the library runs, compiled with -DMK_REAL_DOUBLE).
 *
 * For each case, f = sum(w_out * out) with a random w_out; the analytic gradient comes from the
 * op's backward with dout = w_out, written into buffers pre-filled with random values (the
 * pre-fill is subtracted afterwards, so a backward that overwrites instead of accumulating
 * fails). The numeric gradient of each input element is (f(x+h) - f(x-h)) / 2h. One TAP line
 * per input tensor: max|analytic - numeric| / max|numeric| <= FD_TOL. Gradient buffers are laid
 * out like their inputs, padding columns included, so padding must stay untouched (numeric 0).
 */
#include <stdio.h>
#include <string.h>
#include "real.h"
#include "embedding.h"
#include "rmsnorm.h"
#include "linear.h"
#include "conv1d.h"
#include "scan.h"
#include "cross_entropy.h"
#include "pool.h"
#include "ops_common.h"

#ifndef MK_REAL_DOUBLE
#error "test_ops_fd runs the double kernels: compile with -DMK_REAL_DOUBLE"
#endif

/* Central differences in double with h = 1e-5 (1 + |x|): truncation ~h^2 |f'''| ~ 1e-10 and
 * rounding ~1e-16 |f| / h ~ 1e-11 against gradients of order 1, so 1e-6 leaves a wide margin
 * while a wrong term (an error of order 1) fails by five orders of magnitude. */
#define FD_STEP 1e-5
#define FD_TOL 1e-6

static uint64_t seed = 20240611;
static double worst; /* the largest relative error seen, for the summary */

typedef double (*fd_fn)(void *ctx);

struct fd_var {
    const char *name;
    double *x;          /* the input, perturbed in place */
    const double *grad; /* analytic gradient, same layout */
    size_t n;
};

/* Checks every element of each variable, or `samples` random ones when it has more. */
static void fd_check(const char *what, fd_fn f, void *ctx, const struct fd_var *v, int nv,
                     size_t samples)
{
    for (int j = 0; j < nv; j++) {
        size_t count = v[j].n <= samples ? v[j].n : samples;
        double dmax = 0, nmax = 0;
        for (size_t c = 0; c < count; c++) {
            size_t i = v[j].n <= samples ? c : rng_next(&seed) % v[j].n;
            double x0 = v[j].x[i], h = FD_STEP * (1 + fabs(x0));
            double xp = x0 + h, xm = x0 - h;
            v[j].x[i] = xp;
            double fp = f(ctx);
            v[j].x[i] = xm;
            double fm = f(ctx);
            v[j].x[i] = x0;
            double num = (fp - fm) / (xp - xm), d = fabs(num - v[j].grad[i]);
            dmax = d > dmax || isnan(d) ? d : dmax;
            nmax = fabs(num) > nmax ? fabs(num) : nmax;
        }
        double err = nmax > 0 ? dmax / nmax : dmax;
        worst = err > worst ? err : worst;
        ok(err <= FD_TOL, "%s: d%s rel err %.2e (%zu of %zu elements, max|num| %.2g)", what,
           v[j].name, err, count, v[j].n, nmax);
    }
}

/* A gradient buffer of n elements pre-filled with random values; grad_take() subtracts the
 * pre-fill (kept in the second half), leaving what the backward added. */
static double *grad_new(size_t n)
{
    double *g = xcalloc(2 * n, sizeof *g);
    fill_unif(g, n, -1, 1, &seed);
    memcpy(g + n, g, n * sizeof *g);
    return g;
}

static void grad_take(double *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] -= g[n + i];
}

static double *rand_new(size_t n, double lo, double hi)
{
    double *x = xcalloc(n, sizeof *x);
    fill_unif(x, n, lo, hi, &seed);
    return x;
}

/* MK_GRAD_SET (grad_write.h) over a buffer of random values `set` (a copy of them in `old`):
 * columns [c0, c1) of each of the `rows` rows (stride ld) must hold the added gradient `added`
 * (checked against finite differences) to 1e-12, and every other column its old value. */
static int set_matches(const double *set, const double *old, const double *added, size_t rows,
                       int ld, int c0, int c1)
{
    double md = 0, mr = 0;
    int others = 1;
    for (size_t i = 0; i < rows * (size_t)ld; i++) {
        int c = (int)(i % (size_t)ld);
        if (c < c0 || c >= c1) {
            others &= set[i] == old[i];
            continue;
        }
        md = fmax(md, fabs(set[i] - added[i]));
        mr = fmax(mr, fabs(added[i]));
    }
    return others && md <= 1e-12 * (mr > 0 ? mr : 1);
}

/* a bf16 gradient (rows of stride ld, columns [c0, c1)) == the added gradient rounded */
static int bf16_matches(const uint16_t *h, const double *added, size_t rows, int ld, int c0,
                        int c1)
{
    int same = 1;
    for (size_t r = 0; r < rows; r++)
        for (int c = c0; c < c1; c++)
            same &= h[r * ld + c] == mk_f32_to_bf16((float)added[r * ld + c]);
    return same;
}

static double *copy_new(const double *x, size_t n)
{
    double *y = xcalloc(n, sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

/* ---- embedding ---------------------------------------------------------------------------- */

struct emb_ctx {
    double *wte, *out, *wout;
    int32_t *ids;
    size_t T;
    int D;
};

static double emb_f(void *p)
{
    struct emb_ctx *c = p;
    mk_refd_embedding_fwd(c->out, c->ids, c->wte, c->T, c->D);
    return dot(c->wout, c->out, c->T * c->D);
}

static void test_embedding(void)
{
    const int V = 7, D = 70; /* D crosses the 64-column task split */
    const size_t T = 13;
    struct emb_ctx c = {rand_new((size_t)V * D, -1, 1), rand_new(T * D, 0, 0),
                        rand_new(T * D, -1, 1), xcalloc(T, sizeof(int32_t)), T, D};
    for (size_t t = 0; t < T; t++)
        c.ids[t] = (int32_t)(rng_next(&seed) % (V - 1)); /* repeats; row V-1 never used */
    double *dwte = grad_new((size_t)V * D);
    mk_refd_embedding_bwd(dwte, c.wout, c.ids, T, D);
    grad_take(dwte, (size_t)V * D);
    struct fd_var v[] = {{"wte", c.wte, dwte, (size_t)V * D}};
    fd_check("embedding T=13 D=70", emb_f, &c, v, 1, SIZE_MAX);
    free(c.wte), free(c.out), free(c.wout), free(c.ids), free(dwte);
}

/* ---- add + rmsnorm ------------------------------------------------------------------------ */

struct rms_ctx {
    double *resid_in, *x, *w, *resid_out, *normed, *rstd, *wn, *wr;
    size_t T;
    int D;
};

/* f = sum(wn * normed) + sum(wr * resid_out): the residual stream's own gradient wr reaches
 * dresid first (the model passes it in), the norm's part is added by the backward. */
static double rms_f(void *p)
{
    struct rms_ctx *c = p;
    mk_refd_add_rmsnorm_fwd(c->resid_out, c->normed, c->rstd, c->resid_in, c->x, c->w, c->T,
                            c->D, 1e-5f, NULL, NULL);
    size_t n = c->T * c->D;
    return dot(c->wn, c->normed, n) + dot(c->wr, c->resid_out, n);
}

static void test_rmsnorm(size_t T, int D, int with_x, size_t samples)
{
    size_t n = T * D;
    struct rms_ctx c = {rand_new(n, -1, 1), with_x ? rand_new(n, -1, 1) : NULL,
                        rand_new(D, 0.5, 1.5), rand_new(n, 0, 0), rand_new(n, 0, 0),
                        rand_new(T, 0, 0), rand_new(n, -1, 1), rand_new(n, -1, 1), T, D};
    rms_f(&c);
    double *dres = grad_new(n), *dw = grad_new(D);
    for (size_t i = 0; i < n; i++)
        dres[i] += c.wr[i]; /* pre-fill + the gradient arriving at resid_out */
    mk_refd_rmsnorm_bwd(dres, dw, c.wn, c.resid_out, c.rstd, c.w, T, D, NULL);
    grad_take(dres, n);
    grad_take(dw, D);
    struct fd_var v[] = {{"w", c.w, dw, D},
                         {"resid_in", c.resid_in, dres, n},
                         {"x", c.x, dres, n}};
    char what[96];
    snprintf(what, sizeof what, "add_rmsnorm T=%zu D=%d%s", T, D, with_x ? "" : " x=NULL");
    fd_check(what, rms_f, &c, v, with_x ? 3 : 2, samples);
    rms_f(&c); /* normed of the unperturbed inputs, then the same in bf16 instead */
    uint16_t *n16 = xcalloc(n, sizeof *n16);
    double *nd = copy_new(c.normed, n);
    mk_refd_add_rmsnorm_fwd(c.resid_out, NULL, c.rstd, c.resid_in, c.x, c.w, T, D, 1e-5f, n16,
                            NULL);
    ok(bf16_matches(n16, nd, T, D, 0, D), "%s: normed16 == bf16(normed)", what);
    free(n16), free(nd);
    free(c.resid_in), free(c.x), free(c.w), free(c.resid_out), free(c.normed), free(c.rstd);
    free(c.wn), free(c.wr), free(dres), free(dw);
}

/* ---- linear ------------------------------------------------------------------------------- */

struct lin_ctx {
    double *in, *W, *bias, *out, *wout;
    size_t M;
    int K, N, ld_in;
};

static double lin_f(void *p)
{
    struct lin_ctx *c = p;
    mk_refd_linear_fwd(c->out, c->in, c->ld_in, c->W, c->bias, c->M, c->K, c->N, NULL, NULL);
    return dot(c->wout, c->out, c->M * c->N);
}

/* in [M, ld_in]; din [M, ld_din] (or no din); both strides larger than K */
static void test_linear(size_t M, int K, int N, int ld_in, int ld_din, int with_bias,
                        int with_din)
{
    struct lin_ctx c = {rand_new(M * ld_in, -1, 1), rand_new((size_t)N * K, -1, 1),
                        with_bias ? rand_new(N, -1, 1) : NULL, rand_new(M * N, 0, 0),
                        rand_new(M * N, -1, 1), M, K, N, ld_in};
    double *din = grad_new(M * ld_din), *dW = grad_new((size_t)N * K), *db = grad_new(N);
    mk_refd_linear_bwd(with_din ? din : NULL, ld_din, dW, with_bias ? db : NULL, c.wout, c.in,
                       ld_in, c.W, M, K, N, MK_GRAD_ADD, NULL, NULL, NULL);
    grad_take(din, M * ld_din);
    grad_take(dW, (size_t)N * K);
    grad_take(db, N);
    /* din in the layout of `in` (padding: what the backward left in din's padding, i.e. 0) */
    double *gin = xcalloc(M * ld_in, sizeof *gin);
    for (size_t m = 0; m < M; m++)
        for (int k = 0; k < ld_in; k++)
            gin[m * ld_in + k] = k < ld_din ? din[m * ld_din + k] : 0;
    int pad_clean = 1;
    for (size_t m = 0; m < M; m++)
        for (int k = K; k < ld_din; k++)
            pad_clean &= din[m * ld_din + k] == 0;
    struct fd_var v[3] = {{"W", c.W, dW, (size_t)N * K}};
    int nv = 1;
    if (with_bias)
        v[nv++] = (struct fd_var){"bias", c.bias, db, N};
    if (with_din)
        v[nv++] = (struct fd_var){"in", c.in, gin, M * ld_in};
    char what[96];
    snprintf(what, sizeof what, "linear M=%zu K=%d N=%d ld_in=%d ld_din=%d%s%s", M, K, N, ld_in,
             ld_din, with_bias ? " bias" : "", with_din ? "" : " din=NULL");
    fd_check(what, lin_f, &c, v, nv, SIZE_MAX);
    ok(pad_clean, "%s: din padding columns untouched", what);
    if (with_din) {
        double *set = rand_new(M * ld_din, -1, 1), *old = copy_new(set, M * ld_din);
        double *dW2 = grad_new((size_t)N * K);
        mk_refd_linear_bwd(set, ld_din, dW2, NULL, c.wout, c.in, ld_in, c.W, M, K, N,
                           MK_GRAD_SET, NULL, NULL, NULL);
        ok(set_matches(set, old, din, M, ld_din, 0, K), "%s: din set == din added", what);
        /* dout as bf16 (dout NULL): the same as the product of those values given as dout */
        uint16_t *g16 = xcalloc(M * N, sizeof *g16);
        double *g = xcalloc(M * N, sizeof *g), *d1 = xcalloc(M * ld_din, sizeof *d1);
        double *d2 = xcalloc(M * ld_din, sizeof *d2), *w1 = grad_new((size_t)N * K);
        double *w2 = copy_new(w1, (size_t)N * K);
        for (size_t i = 0; i < M * (size_t)N; i++)
            g[i] = mk_bf16_to_f32(g16[i] = mk_f32_to_bf16((float)c.wout[i]));
        mk_refd_linear_bwd(d1, ld_din, w1, NULL, g, c.in, ld_in, c.W, M, K, N, MK_GRAD_SET,
                           NULL, NULL, NULL);
        mk_refd_linear_bwd(d2, ld_din, w2, NULL, NULL, c.in, ld_in, c.W, M, K, N, MK_GRAD_SET,
                           g16, NULL, NULL);
        ok(!memcmp(d1, d2, M * ld_din * sizeof *d1) && !memcmp(w1, w2, (size_t)N * K * sizeof *w1),
           "%s: dout16 (no dout) == its values as dout", what);
        /* in as bf16 ([M, K] contiguous, no in): the same as its values given as in */
        uint16_t *x16 = xcalloc(M * K, sizeof *x16);
        double *xv = xcalloc(M * K, sizeof *xv), *o1 = xcalloc(M * N, sizeof *o1);
        double *o2 = xcalloc(M * N, sizeof *o2);
        for (size_t i = 0; i < M * (size_t)K; i++)
            xv[i] = mk_bf16_to_f32(x16[i] = mk_f32_to_bf16((float)c.in[i / K * ld_in + i % K]));
        mk_refd_linear_fwd(o1, xv, K, c.W, c.bias, M, K, N, NULL, NULL);
        mk_refd_linear_fwd(o2, NULL, K, c.W, c.bias, M, K, N, x16, NULL);
        mk_refd_linear_bwd(d1, ld_din, w1, NULL, c.wout, xv, K, c.W, M, K, N, MK_GRAD_SET, NULL,
                           NULL, NULL);
        mk_refd_linear_bwd(d2, ld_din, w2, NULL, c.wout, NULL, K, c.W, M, K, N, MK_GRAD_SET, NULL,
                           x16, NULL);
        ok(!memcmp(o1, o2, M * N * sizeof *o1) && !memcmp(w1, w2, (size_t)N * K * sizeof *w1),
           "%s: in16 (no in) == its values as in, forward and dW", what);
        free(x16), free(xv), free(o1), free(o2);
        free(set), free(old), free(dW2), free(g16), free(g), free(d1), free(d2), free(w1);
        free(w2);
    }
    free(c.in), free(c.W), free(c.bias), free(c.out), free(c.wout);
    free(din), free(dW), free(db), free(gin);
}

/* ---- conv1d ------------------------------------------------------------------------------- */

struct conv_ctx {
    double *x, *w, *bias, *state0, *state, *out, *wout;
    uint8_t *reset;
    int B, L, E, K, ld_x;
};

static double conv_f(void *p)
{
    struct conv_ctx *c = p;
    size_t ns = (size_t)c->B * c->E * (c->K - 1);
    if (c->state0)
        memcpy(c->state, c->state0, ns * sizeof *c->state);
    mk_refd_conv1d_fwd(c->out, c->state0 ? c->state : NULL, c->x, c->ld_x, c->w, c->bias,
                       c->reset, c->B, c->L, c->E, c->K, NULL, NULL);
    return dot(c->wout, c->out, (size_t)c->B * c->L * c->E);
}

/* x is the first half of an in_proj-like buffer [B*L, 2E]; reset: b=0 at t=0 and t=L/2,
 * b=1 at t=min(2, L-1). */
static void test_conv1d(int B, int L, int E, int K, int with_bias, int with_state,
                        int with_reset, size_t samples)
{
    int ld = 2 * E;
    size_t nx = (size_t)B * L * ld, ns = (size_t)B * E * (K - 1), no = (size_t)B * L * E;
    struct conv_ctx c = {rand_new(nx, -1, 1), rand_new((size_t)E * K, -1, 1),
                         with_bias ? rand_new(E, -1, 1) : NULL,
                         with_state ? rand_new(ns, -1, 1) : NULL, rand_new(ns, 0, 0),
                         rand_new(no, 0, 0), rand_new(no, -1, 1), NULL, B, L, E, K, ld};
    if (with_reset) {
        c.reset = xcalloc((size_t)B * L, 1);
        c.reset[0] = 1;
        c.reset[L / 2] = 1;
        if (B > 1)
            c.reset[L + (L > 2 ? 2 : L - 1)] = 1;
    }
    double *dx = grad_new(nx), *dw = grad_new((size_t)E * K), *db = grad_new(E);
    mk_refd_conv1d_bwd(dx, ld, dw, with_bias ? db : NULL, c.wout, c.state0, c.x, ld, c.w,
                       c.bias, c.reset, B, L, E, K, MK_GRAD_ADD, NULL, NULL);
    grad_take(dx, nx);
    grad_take(dw, (size_t)E * K);
    grad_take(db, E);
    struct fd_var v[3] = {{"x", c.x, dx, nx}, {"w", c.w, dw, (size_t)E * K}};
    int nv = 2;
    if (with_bias)
        v[nv++] = (struct fd_var){"bias", c.bias, db, E};
    char what[128];
    snprintf(what, sizeof what, "conv1d B=%d L=%d E=%d K=%d%s%s%s", B, L, E, K,
             with_bias ? " bias" : "", with_state ? " state" : "", with_reset ? " reset" : "");
    fd_check(what, conv_f, &c, v, nv, samples);
    uint16_t *o16 = xcalloc(no, sizeof *o16);
    if (c.state0)
        memcpy(c.state, c.state0, ns * sizeof *c.state);
    mk_refd_conv1d_fwd(c.out, c.state0 ? c.state : NULL, c.x, ld, c.w, c.bias, c.reset, B, L, E,
                       K, o16, NULL);
    ok(bf16_matches(o16, c.out, (size_t)B * L, E, 0, E), "%s: out16 == bf16(out)", what);
    free(o16);
    double *set = rand_new(nx, -1, 1), *old = copy_new(set, nx), *dw2 = grad_new((size_t)E * K);
    mk_refd_conv1d_bwd(set, ld, dw2, NULL, c.wout, c.state0, c.x, ld, c.w, c.bias, c.reset, B,
                       L, E, K, MK_GRAD_SET, NULL, NULL);
    ok(set_matches(set, old, dx, (size_t)B * L, ld, 0, E), "%s: dx set == dx added", what);
    uint16_t *dx16 = xcalloc(nx, sizeof *dx16);
    mk_refd_conv1d_bwd(NULL, ld, dw2, NULL, c.wout, c.state0, c.x, ld, c.w, c.bias, c.reset, B,
                       L, E, K, MK_GRAD_SET, dx16, NULL);
    ok(bf16_matches(dx16, dx, (size_t)B * L, ld, 0, E), "%s: dx16 == bf16(dx)", what);
    free(set), free(old), free(dw2), free(dx16);
    free(c.x), free(c.w), free(c.bias), free(c.state0), free(c.state), free(c.out);
    free(c.wout), free(c.reset), free(dx), free(dw), free(db);
}

/* ---- selective scan ----------------------------------------------------------------------- */

struct scan_case {
    int B, L, E, N;
    int with_z, with_state, with_reset;
    size_t samples;
};

struct scan_ctx {
    struct mk_scan_in in;
    double *xz, *xdbl, *u, *delta, *dbias, *A_log, *Dskip, *state0, *state, *out, *wout;
};

static double scan_f(void *p)
{
    struct scan_ctx *c = p;
    const struct mk_scan_in *in = &c->in;
    if (c->state0)
        memcpy(c->state, c->state0, (size_t)in->B * in->E * in->N * sizeof *c->state);
    mk_refd_scan_fwd(c->out, c->state0 ? c->state : NULL, in);
    return dot(c->wout, c->out, (size_t)in->B * in->L * in->E);
}

/* B and C are columns R.. and R+N.. of an x_proj-like buffer [B*L, R+2N] (R = 3); z is the
 * second half of an in_proj-like buffer [B*L, 2E]. dt = softplus(delta + bias) spans about
 * 0.1..1.5, with a few arguments above the threshold 20. Reset: b=0 at t=0 and t=L/2 (so its
 * state0 is ignored and dstate0 must be 0 there), b=1 at t=L-1. */
static void test_scan(const struct scan_case *sc)
{
    const int B = sc->B, L = sc->L, E = sc->E, N = sc->N, R = 3, ldbc = R + 2 * N;
    size_t T = (size_t)B * L, nbe = T * E, nxz = T * 2 * E, nxd = T * ldbc;
    size_t nst = (size_t)B * E * N;
    struct scan_ctx c;
    memset(&c, 0, sizeof c);
    c.xz = rand_new(nxz, -2, 2);
    c.xdbl = rand_new(nxd, -1, 1);
    c.u = rand_new(nbe, -1, 1);
    c.delta = rand_new(nbe, -2, 1);
    c.dbias = rand_new(E, -1, 0.5);
    c.A_log = rand_new((size_t)E * N, -0.1, 0.1);
    c.Dskip = rand_new(E, -1, 1);
    c.state0 = sc->with_state ? rand_new(nst, -1, 1) : NULL;
    c.state = rand_new(nst, 0, 0);
    c.out = rand_new(nbe, 0, 0);
    c.wout = rand_new(nbe, -1, 1);
    for (int e = 0; e < E; e++)
        for (int n = 0; n < N; n++)
            c.A_log[(size_t)e * N + n] += log(1.0 + n); /* S4D-real: A = -(n+1) */
    for (size_t i = 0; i < nbe; i += 7)
        c.delta[i] = 22 + (double)(i % 5); /* softplus' linear branch */
    uint8_t *reset = NULL;
    if (sc->with_reset) {
        reset = xcalloc(T, 1);
        reset[0] = 1;
        reset[L / 2] = 1;
        if (B > 1)
            reset[(size_t)L + L - 1] = 1;
    }
    c.in = (struct mk_scan_in){c.u, c.delta, c.dbias, c.A_log, c.xdbl + R, c.xdbl + R + N,
                               c.Dskip, sc->with_z ? c.xz + E : NULL, reset, B, L, E, N,
                               ldbc, 2 * E, NULL, NULL, 0, NULL, NULL, NULL};

    double *du = grad_new(nbe), *ddelta = grad_new(nbe), *ddb = grad_new(E);
    double *dA = grad_new((size_t)E * N), *dxdbl = grad_new(nxd), *dD = grad_new(E);
    double *dxz = grad_new(nxz), *dst = grad_new(nst);
    struct mk_scan_grad g = {du, ddelta, ddb, dA, dxdbl + R, dxdbl + R + N, dD,
                             sc->with_z ? dxz + E : NULL, sc->with_state ? dst : NULL,
                             MK_GRAD_ADD, NULL, NULL, NULL};
    mk_refd_scan_bwd(&g, c.wout, c.state0, &c.in);
    grad_take(du, nbe), grad_take(ddelta, nbe), grad_take(ddb, E);
    grad_take(dA, (size_t)E * N), grad_take(dxdbl, nxd), grad_take(dD, E);
    grad_take(dxz, nxz), grad_take(dst, nst);

    struct fd_var v[9] = {{"u", c.u, du, nbe},
                          {"delta", c.delta, ddelta, nbe},
                          {"delta_bias", c.dbias, ddb, E},
                          {"A_log", c.A_log, dA, (size_t)E * N},
                          {"B,C (x_proj out)", c.xdbl, dxdbl, nxd},
                          {"D", c.Dskip, dD, E}};
    int nv = 6;
    if (sc->with_z)
        v[nv++] = (struct fd_var){"z (in_proj out)", c.xz, dxz, nxz};
    if (sc->with_state)
        v[nv++] = (struct fd_var){"state0", c.state0, dst, nst};
    char what[128];
    snprintf(what, sizeof what, "scan B=%d L=%d E=%d N=%d%s%s%s", B, L, E, N,
             sc->with_z ? " z" : "", sc->with_state ? " state" : "",
             sc->with_reset ? " reset" : "");
    fd_check(what, scan_f, &c, v, nv, sc->samples);
    scan_f(&c); /* out of the unperturbed inputs, then the same in bf16 instead */
    uint16_t *o16 = xcalloc(nbe, sizeof *o16);
    double *od0 = copy_new(c.out, nbe);
    c.in.out16 = o16;
    if (c.state0)
        memcpy(c.state, c.state0, nst * sizeof *c.state);
    mk_refd_scan_fwd(NULL, c.state0 ? c.state : NULL, &c.in);
    c.in.out16 = NULL;
    ok(bf16_matches(o16, od0, (size_t)B * L, E, 0, E), "%s: out16 == bf16(out)", what);
    free(o16), free(od0);

    /* du, ddelta, dz set over random values */
    double *su = rand_new(nbe, -1, 1), *sd = rand_new(nbe, -1, 1), *sz = rand_new(nxz, -1, 1);
    double *ou = copy_new(su, nbe), *od = copy_new(sd, nbe), *oz = copy_new(sz, nxz);
    struct mk_scan_grad g3 = {su, sd, NULL, NULL, NULL, NULL, NULL, sc->with_z ? sz + E : NULL,
                              NULL, MK_GRAD_SET, NULL, NULL, NULL};
    mk_refd_scan_bwd(&g3, c.wout, c.state0, &c.in);
    ok(set_matches(su, ou, du, T, E, 0, E) && set_matches(sd, od, ddelta, T, E, 0, E) &&
           (sc->with_z ? set_matches(sz, oz, dxz, T, 2 * E, E, 2 * E) : 1),
       "%s: du, ddelta, dz set == added", what);
    /* ddelta and dz in bf16 */
    uint16_t *dd16 = xcalloc(nbe, sizeof *dd16), *dz16 = xcalloc(nxz, sizeof *dz16);
    struct mk_scan_grad g4 = {su, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, MK_GRAD_SET,
                              dd16, sc->with_z ? dz16 + E : NULL, NULL};
    mk_refd_scan_bwd(&g4, c.wout, c.state0, &c.in);
    ok(bf16_matches(dd16, ddelta, T, E, 0, E) &&
           (sc->with_z ? bf16_matches(dz16, dxz, T, 2 * E, E, 2 * E) : 1),
       "%s: ddelta16, dz16 == bf16(ddelta, dz)", what);
    free(su), free(sd), free(sz), free(ou), free(od), free(oz), free(dd16), free(dz16);

    /* Optional gradients may be NULL: du and ddelta must not change. */
    double *du2 = grad_new(nbe), *ddelta2 = grad_new(nbe);
    struct mk_scan_grad g2 = {du2, ddelta2, NULL, NULL, NULL, NULL, NULL,
                              sc->with_z ? dxz + E : NULL, NULL, MK_GRAD_ADD, NULL, NULL, NULL};
    mk_refd_scan_bwd(&g2, c.wout, c.state0, &c.in);
    grad_take(du2, nbe), grad_take(ddelta2, nbe);
    ok(rel_err(du2, du, nbe) < 1e-12 && rel_err(ddelta2, ddelta, nbe) < 1e-12,
       "%s: only du, ddelta (+dz) wanted: same du, ddelta", what);

    free(c.xz), free(c.xdbl), free(c.u), free(c.delta), free(c.dbias), free(c.A_log);
    free(c.Dskip), free(c.state0), free(c.state), free(c.out), free(c.wout), free(reset);
    free(du), free(ddelta), free(ddb), free(dA), free(dxdbl), free(dD), free(dxz), free(dst);
    free(du2), free(ddelta2);
}

/* ---- cross-entropy ------------------------------------------------------------------------ */

struct ce_ctx {
    double *logits, *loss, *weights; /* weights: NULL or [T] */
    int32_t *targets;
    size_t T;
    int V;
    double dscale;
};

/* f = dscale * sum_t loss[t]: the mean loss, whose gradient the op writes */
static double ce_f(void *p)
{
    struct ce_ctx *c = p;
    mk_refd_cross_entropy(c->loss, NULL, c->logits, c->targets, c->weights, c->T, c->V,
                          c->dscale, NULL);
    double s = 0;
    for (size_t t = 0; t < c->T; t++)
        s += c->loss[t];
    return c->dscale * s;
}

static void test_cross_entropy(int weighted)
{
    const size_t T = 9;
    const int V = 11;
    struct ce_ctx c = {rand_new(T * V, -3, 3), rand_new(T, 0, 0),
                       weighted ? rand_new(T, 0.1, 2) : NULL, xcalloc(T, sizeof(int32_t)), T, V, 0};
    double count = 0;
    for (size_t t = 0; t < T; t++) {
        c.targets[t] = t % 4 == 1 ? -1 : (int32_t)(rng_next(&seed) % V);
        count += c.targets[t] >= 0 ? (weighted ? c.weights[t] : 1) : 0;
        if (t == 2)
            for (int v = 0; v < V; v++)
                c.logits[t * V + v] += 40; /* a shifted row: logsumexp must stay stable */
    }
    c.dscale = 1.0 / count;
    double *dl = rand_new(T * V, -1, 1); /* written, not accumulated */
    mk_refd_cross_entropy(c.loss, dl, c.logits, c.targets, c.weights, T, V, c.dscale, NULL);
    struct fd_var v[] = {{"logits", c.logits, dl, T * V}};
    fd_check(weighted ? "cross_entropy T=9 V=11 (3 ignored, weighted)"
                      : "cross_entropy T=9 V=11 (3 ignored)", ce_f, &c, v, 1, SIZE_MAX);
    uint16_t *dl16 = xcalloc(T * V, sizeof *dl16);
    mk_refd_cross_entropy(c.loss, NULL, c.logits, c.targets, c.weights, T, V, c.dscale, dl16);
    ok(bf16_matches(dl16, dl, T, V, 0, V), "cross_entropy%s: dlogits16 == bf16(dlogits)",
       weighted ? " (weighted)" : "");
    free(c.logits), free(c.loss), free(c.weights), free(c.targets), free(dl), free(dl16);
}

/* ---- pooling ------------------------------------------------------------------------------ */

struct pool_ctx {
    double *feat, *pooled, *wout;
    const int32_t *len;
    int B, L, D, last;
};

static double pool_f(void *p)
{
    struct pool_ctx *c = p;
    mk_refd_pool_fwd(c->pooled, c->feat, c->len, c->B, c->L, c->D, c->last);
    return dot(c->wout, c->pooled, (size_t)c->B * c->D);
}

/* Rows of 1, L and a few tokens: padding past len_b has no gradient (numeric 0), which the
 * backward must write (dfeat starts random: it is set, not accumulated). */
static void test_pool(int last)
{
    const int B = 3, L = 6, D = 5;
    const int32_t len[3] = {1, 6, 4};
    const size_t n = (size_t)B * L * D;
    struct pool_ctx c = {rand_new(n, -1, 1), rand_new((size_t)B * D, 0, 0),
                         rand_new((size_t)B * D, -1, 1), len, B, L, D, last};
    double *dfeat = rand_new(n, -1, 1);
    mk_refd_pool_bwd(dfeat, c.wout, len, B, L, D, last);
    struct fd_var v[] = {{"feat", c.feat, dfeat, n}};
    fd_check(last ? "pool last B=3 L=6 D=5 (lengths 1, 6, 4)"
                  : "pool mean B=3 L=6 D=5 (lengths 1, 6, 4)", pool_f, &c, v, 1, SIZE_MAX);
    free(c.feat), free(c.pooled), free(c.wout), free(dfeat);
}

int main(void)
{
    plan_lazy();
    test_embedding();

    test_rmsnorm(6, 40, 1, SIZE_MAX);
    test_rmsnorm(5, 33, 0, SIZE_MAX);
    test_rmsnorm(70, 600, 1, 60); /* above the threading threshold: 32 chunks of dw */

    test_linear(1, 7, 9, 7, 7, 1, 1);   /* one token: gemv / ger */
    test_linear(5, 7, 9, 10, 12, 1, 1); /* strided in and din */
    test_linear(6, 7, 9, 7, 7, 0, 0);   /* no bias, no din */
    test_linear(1, 7, 9, 11, 8, 0, 1);

    for (int m = 0; m < 8; m++)
        test_conv1d(2, 7, 5, 4, m & 1, m >> 1 & 1, m >> 2 & 1, SIZE_MAX);
    test_conv1d(2, 1, 5, 4, 1, 1, 1, SIZE_MAX);  /* decode: one step from the state */
    test_conv1d(3, 9, 37, 3, 1, 1, 1, SIZE_MAX); /* crosses the 32-channel task split */
    test_conv1d(2, 6, 4, 2, 1, 1, 0, SIZE_MAX);
    test_conv1d(2, 128, 64, 4, 1, 1, 1, 40);     /* above the threading threshold */

    const struct scan_case scans[] = {
        {2, 9, 5, 16, 1, 0, 0, SIZE_MAX},
        {2, 9, 5, 16, 0, 0, 0, SIZE_MAX},
        {2, 9, 5, 5, 1, 1, 0, SIZE_MAX},
        {2, 8, 5, 16, 1, 1, 1, SIZE_MAX},
        {2, 8, 5, 5, 0, 1, 1, SIZE_MAX},
        {3, 1, 5, 16, 1, 1, 0, SIZE_MAX}, /* decode: L = 1 */
        {1, 1, 4, 16, 1, 1, 1, SIZE_MAX}, /* L = 1 with a reset: state0 ignored */
        {2, 7, 21, 16, 1, 1, 1, 120},     /* more channels than backward groups */
        {2, 64, 40, 16, 1, 1, 1, 40},     /* above the threading threshold */
    };
    for (size_t i = 0; i < sizeof scans / sizeof scans[0]; i++)
        test_scan(&scans[i]);

    test_cross_entropy(0);
    test_cross_entropy(1);
    test_pool(0);
    test_pool(1);
    diag("largest relative error %.3e (tolerance %.0e)", worst, FD_TOL);
    return exit_status();
}
