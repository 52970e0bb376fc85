/* bench_scan.c — the selective scan on the GPU: checks, then times forward and backward at
 * the anchor shapes (B=8 E=1536 N=16 L=2048 and B=1 E=1536 N=16 L=65536, z gate, dt bias +
 * softplus, D skip, like the official selective_scan_fn bench), fp32 (the op table) and bf16
 * (scan_bf16.cuh), with CUDA events, median of --reps runs after warm-up.
 *
 *   bench_scan [--anchor FILE] [--reps N] [--shape BxExNxL]   (one shape instead of the two)
 * FILE holds the official figures measured in the same GPU run, one line per row:
 *   dtype B E N L fwd_ms bwd_ms        (bench/gpu-run.sh writes it from anchors/bench_scan.py)
 * and the ratio official/ours (> 1: we are faster) is printed beside each figure.
 * GB/s counts as the official bench does: (4 B E L + 2 B N L) * sizeof(dtype) / fwd time.
 * Correctness first: the bf16 forward and backward against the fp32 ones on the same
 * (bf16-rounded) inputs, max|diff| / max|fp32| <= 2e-2 (bf16 storage of out and gradients).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cuda_runtime.h>
#include "ops.h"
#include "scan_bf16.cuh"

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static const struct mk_ops *ops;
static unsigned long long rs = 0x9E3779B97F4A7C15ull;

static float frand(void) /* uniform [-1, 1) */
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void *dmalloc(size_t bytes)
{
    void *p;
    CK(cudaMalloc(&p, bytes));
    return p;
}

/* The same random values as fp32 (bf16-rounded) and bf16 device tensors. */
static void make(float **f, uint16_t **h, size_t n, float scale, float shift)
{
    float *hf = malloc(n * 4);
    uint16_t *hh = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        hh[i] = mk_f32_to_bf16(shift + scale * frand());
        hf[i] = mk_bf16_to_f32(hh[i]);
    }
    *f = dmalloc(n * 4);
    *h = dmalloc(n * 2);
    CK(cudaMemcpy(*f, hf, n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(*h, hh, n * 2, cudaMemcpyHostToDevice));
    free(hf), free(hh);
}

static double maxrel_f_h(const float *df, const uint16_t *dh, size_t n)
{
    float *f = malloc(n * 4);
    uint16_t *h = malloc(n * 2);
    CK(cudaMemcpy(f, df, n * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(h, dh, n * 2, cudaMemcpyDeviceToHost));
    double md = 0, mr = 0;
    size_t nf = 0, nh = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        nf += f[i] != f[i];
        nh += mk_bf16_to_f32(h[i]) != mk_bf16_to_f32(h[i]);
        if (first == n && (f[i] != f[i] || mk_bf16_to_f32(h[i]) != mk_bf16_to_f32(h[i])))
            first = i;
    }
    if (nf || nh)
        fprintf(stderr, "NaN: %zu in fp32, %zu in bf16, first at %zu of %zu\n", nf, nh, first, n);
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)mk_bf16_to_f32(h[i]) - f[i]);
        md = (e > md || e != e) ? e : md;
        mr = fabs(f[i]) > mr ? fabs(f[i]) : mr;
    }
    free(f), free(h);
    return md / mr;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct job {
    int bf16, bwd;
    float *out, *dout, *state;
    uint16_t *hout, *hdout;
    struct mk_scan_in in;
    struct mk_scan_grad g;
    struct mk_scan_in_bf16 hin;
    struct mk_scan_grad_bf16 hg;
};

static void run(const struct job *j)
{
    if (j->bf16 && j->bwd)
        mk_cuda_scan_bwd_bf16(&j->hg, j->hdout, NULL, &j->hin);
    else if (j->bf16)
        mk_cuda_scan_fwd_bf16(j->hout, NULL, &j->hin);
    else if (j->bwd)
        ops->scan_bwd(&j->g, j->dout, NULL, &j->in);
    else
        ops->scan_fwd(j->out, NULL, &j->in);
}

/* median ms over reps, events on the backend stream */
static double time_ms(const struct job *j, int reps)
{
    cudaStream_t s = mk_cuda_bench_stream();
    cudaEvent_t a, b;
    double *t = malloc(reps * sizeof *t);
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (int i = 0; i < 3; i++)
        run(j);
    for (int i = 0; i < reps; i++) {
        float ms;
        CK(cudaEventRecord(a, s));
        run(j);
        CK(cudaEventRecord(b, s));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&ms, a, b));
        t[i] = ms;
    }
    if (ops->sync()) {
        fprintf(stderr, "scan failed: %s\n", mk_last_error());
        exit(1);
    }
    qsort(t, reps, sizeof *t, cmpd);
    double m = t[reps / 2];
    free(t);
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    return m;
}

static int anchor(const char *file, const char *dtype, int B, int E, int N, int L, double *f,
                  double *bw)
{
    FILE *fp = file ? fopen(file, "r") : NULL;
    char dt[16];
    int b, e, n, l, found = 0;
    double x, y;
    while (fp && fscanf(fp, "%15s %d %d %d %d %lf %lf", dt, &b, &e, &n, &l, &x, &y) == 7)
        if (!strcmp(dt, dtype) && b == B && e == E && n == N && l == L) {
            *f = x, *bw = y;
            found = 1;
        }
    if (fp)
        fclose(fp);
    return found;
}

static int bench_shape(int B, int E, int N, int L, int reps, const char *anchor_file)
{
    const int R = 48, ldbc = R + 2 * N, ldz = 2 * E;
    size_t n = (size_t)B * L * E, nz = (size_t)B * L * ldz, nbc = (size_t)B * L * ldbc;
    float *u, *delta, *z, *xbc, *dout;
    uint16_t *hu, *hdelta, *hz, *hxbc, *hdout;
    make(&u, &hu, n, 1.0f, 0), make(&delta, &hdelta, n, 0.5f, 0), make(&z, &hz, nz, 1.0f, 0);
    make(&xbc, &hxbc, nbc, 1.0f, 0), make(&dout, &hdout, n, 1.0f, 0);
    float *hA = malloc((size_t)E * N * 4), *hb = malloc(E * 4), *hD = malloc(E * 4);
    for (int e = 0; e < E; e++) {
        for (int k = 0; k < N; k++)
            hA[(size_t)e * N + k] = logf((float)(k + 1));
        float dt = expf(logf(1e-3f) + (frand() + 1) * 0.5f * (logf(0.1f) - logf(1e-3f)));
        hb[e] = dt + logf(-expm1f(-dt));
        hD[e] = 1.0f;
    }
    float *Alog = dmalloc((size_t)E * N * 4), *db = dmalloc(E * 4), *Dsk = dmalloc(E * 4);
    CK(cudaMemcpy(Alog, hA, (size_t)E * N * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(db, hb, E * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(Dsk, hD, E * 4, cudaMemcpyHostToDevice));
    free(hA), free(hb), free(hD);
    float *out = dmalloc(n * 4), *du = dmalloc(n * 4), *ddl = dmalloc(n * 4);
    float *dz = dmalloc(nz * 4), *dbc = dmalloc(nbc * 4), *dAl = dmalloc((size_t)E * N * 4);
    float *ddb = dmalloc(E * 4), *dD = dmalloc(E * 4);
    uint16_t *hout = dmalloc(n * 2), *hdu = dmalloc(n * 2), *hddl = dmalloc(n * 2);
    uint16_t *hdz = dmalloc(nz * 2);
    float *hdbc = dmalloc(nbc * 4), *hdAl = dmalloc((size_t)E * N * 4), *hddb = dmalloc(E * 4);
    float *hdD = dmalloc(E * 4);
    struct job j = {0};
    j.out = out, j.dout = dout, j.hout = hout, j.hdout = hdout;
    j.in = (struct mk_scan_in){u, delta, db, Alog, xbc + R, xbc + R + N, Dsk, z, NULL,
                               B, L, E, N, ldbc, ldz, NULL, NULL, 0, NULL, NULL, NULL, NULL};
    j.g = (struct mk_scan_grad){du, ddl, ddb, dAl, dbc + R, dbc + R + N, dD, dz, NULL,
                                MK_GRAD_SET, NULL, NULL, NULL};
    j.hin = (struct mk_scan_in_bf16){hu, hdelta, hz, hxbc + R, hxbc + R + N, db, Alog, Dsk, NULL,
                                     B, L, E, N, ldbc, ldz};
    j.hg = (struct mk_scan_grad_bf16){hdu, hddl, hdz, ddb, dAl, hdbc + R, hdbc + R + N, dD, NULL,
                                      MK_GRAD_SET};

    /* correctness: bf16 against fp32 on the same inputs, gradients from zero */
    CK(cudaMemset(du, 0, n * 4));
    CK(cudaMemset(hdu, 0, n * 2));
    CK(cudaMemset(ddl, 0, n * 4));
    CK(cudaMemset(hddl, 0, n * 2));
    CK(cudaMemset(dz, 0, nz * 4));
    CK(cudaMemset(hdz, 0, nz * 2));
    CK(cudaMemset(out, 0xff, n * 4)); /* NaN poison: every element must be written */
    CK(cudaMemset(hout, 0xff, n * 2));
    /* the memsets ran on the legacy stream; the backend's stream is non-blocking */
    CK(cudaDeviceSynchronize());
    j.hg.dA_log = hdAl, j.hg.ddelta_bias = hddb, j.hg.dD = hdD;
    j.bf16 = 0, j.bwd = 0, run(&j);
    j.bf16 = 1, run(&j);
    j.bf16 = 0, j.bwd = 1, run(&j);
    j.bf16 = 1, run(&j);
    if (ops->sync()) {
        fprintf(stderr, "scan failed: %s\n", mk_last_error());
        return 1;
    }
    double e_out = maxrel_f_h(out, hout, n), e_du = maxrel_f_h(du, hdu, n);
    double e_dd = maxrel_f_h(ddl, hddl, n), e_dz = maxrel_f_h(dz, hdz, nz);
    int good = e_out <= 2e-2 && e_du <= 2e-2 && e_dd <= 2e-2 && e_dz <= 2e-2;
    printf("check B=%d E=%d N=%d L=%d: bf16 vs fp32 out %.2e du %.2e ddelta %.2e dz %.2e %s\n",
           B, E, N, L, e_out, e_du, e_dd, e_dz, good ? "ok" : "FAILED");
    j.hg.dA_log = dAl, j.hg.ddelta_bias = ddb, j.hg.dD = dD;

    for (int bf = 0; bf < 2; bf++) {
        const char *dt = bf ? "bf16" : "fp32";
        j.bf16 = bf;
        j.bwd = 0;
        double f = time_ms(&j, reps);
        j.bwd = 1;
        double bw = time_ms(&j, reps);
        double gbs = (4.0 * B * E * L + 2.0 * B * N * L) * (bf ? 2 : 4) / f / 1e6, af, ab;
        printf("%-5s %d %d %d %-6d fwd %8.3f ms %6.0f GB/s  bwd %8.3f ms", dt, B, E, N, L, f, gbs,
               bw);
        if (anchor(anchor_file, dt, B, E, N, L, &af, &ab))
            printf("  | official %.3f / %.3f ms: ratio fwd %.2fx bwd %.2fx", af, ab, af / f,
                   ab / bw);
        printf("\n");
        fflush(stdout);
    }
    void *all[] = {u, delta, z, xbc, dout, hu, hdelta, hz, hxbc, hdout, Alog, db, Dsk, out, du,
                   ddl, dz, dbc, dAl, ddb, dD, hout, hdu, hddl, hdz, hdbc, hdAl, hddb, hdD};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        CK(cudaFree(all[i]));
    return good ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *anchor_file = NULL;
    int reps = 50, sB = 0, sE = 0, sN = 0, sL = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--anchor") && i + 1 < argc)
            anchor_file = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc &&
                 sscanf(argv[++i], "%dx%dx%dx%d", &sB, &sE, &sN, &sL) == 4)
            ;
        else {
            fprintf(stderr, "usage: bench_scan [--anchor FILE] [--reps N] [--shape BxExNxL]\n");
            return 2;
        }
    }
    char name[256];
    if (mk_cuda_device_count() == 0) {
        printf("bench_scan: no CUDA device\n");
        return 77;
    }
    if (mk_ops_cuda(&ops, 0) || mk_cuda_device_name(0, name, sizeof name)) {
        fprintf(stderr, "bench_scan: %s\n", mk_last_error());
        return 1;
    }
    printf("device: %s, %d reps (median)\n", name, reps);
    if (sB > 0)
        return bench_shape(sB, sE, sN, sL, reps, anchor_file);
    int bad = bench_shape(8, 1536, 16, 2048, reps, anchor_file);
    bad |= bench_shape(1, 1536, 16, 65536, reps, anchor_file);
    return bad;
}
