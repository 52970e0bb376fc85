/* step_cpu.h — the CPU kernels of the fast one-token decoding step (batch 1): matrix-vector
 * products over weights stored as fp32, f16, bf16 or 8-bit blocks, and the per-channel parts
 * of a Mamba layer for one token over a block of channels. lib/state.c (mk_cpu_step) drives
 * them, one OpenMP parallel region per token; kernels/step_cpu.c has the code and says how.
 *
 * Every product accumulates in fp32; only the stored weights are rounded. The x86-64 build
 * carries AVX2+FMA+F16C versions chosen at run time (mk_cpu_simd); every kernel also has a
 * portable C version, which the tests compare against.
 */
#ifndef MK_STEP_CPU_H
#define MK_STEP_CPU_H

#include <stddef.h>
#include <stdint.h>

/* How a weight matrix is stored. */
enum mk_wfmt {
    MK_WFMT_F32 = 0,
    MK_WFMT_F16 = 1,  /* IEEE half (F16C's vcvtph2ps) */
    MK_WFMT_BF16 = 2, /* the top 16 bits of the fp32, rounded to nearest even */
    MK_WFMT_Q8 = 3,   /* per row, blocks of MK_Q8_BLOCK int8 q with one fp32 scale s: w = s q,
                       * s = max |w| / 127 over the block (llama.cpp's Q8_0 with an fp32 scale) */
};

#define MK_Q8_BLOCK 32

/* A row-major matrix [rows, cols]: element (r, c) at data + r * ld + c (in elements of its
 * format). Q8: ld is a multiple of MK_Q8_BLOCK (rows padded with zeros) and scale holds
 * rows * ld / MK_Q8_BLOCK floats, block (r, c / MK_Q8_BLOCK) at scale[(r * ld + c) / 32]. */
struct mk_wmat {
    const void *data;
    const float *scale; /* Q8 only */
    int fmt;            /* enum mk_wfmt */
    int rows, cols;
    size_t ld;
};

/* 1 when the AVX2+FMA+F16C kernels are in use: the CPU has them, this build carries them, and
 * MK_CPU_SIMD is not set to 0 (the tests run both). Read at each call. */
int mk_cpu_simd(void);

/* y[i] = sum_{k < n} W[r0 + i, c0 + k] x[k] for i < nr (Q8: c0 a multiple of MK_Q8_BLOCK, and
 * c0 + n a multiple of it or cols). y and x must not overlap. */
void mk_cpu_gemv(float *y, const struct mk_wmat *W, int r0, int nr, int c0, int n,
                 const float *x, int simd);

/* Rounds n floats into dst in format fmt (not Q8). Returns the number of finite values that
 * fall outside the format's range (f16: |w| > 65504; they become +-inf). */
size_t mk_cpu_pack16(void *dst, const float *src, size_t n, int fmt);
/* Q8 rows: src [rows, cols] into q [rows, ld] and scale [rows, ld / MK_Q8_BLOCK]. */
void mk_cpu_pack_q8(int8_t *q, float *scale, const float *src, int rows, int cols, size_t ld);

/* Conv step of ne channels: the window win [ne, K-1] (oldest first) and the new input x [ne]
 *   a = bias + sum_{k < K-1} w[k] win[k] + w[K-1] x;  u = SiLU(a);  win <- (win[1..], x)
 * w [ne, K], bias [ne] or NULL. */
void mk_cpu_conv_step(float *u, float *win, const float *x, const float *w, const float *bias,
                      int ne, int K);

/* Scan step of ne channels (scan.h's formula at one time step), state h [ne, N]:
 *   dt = softplus(delta + dt_bias);  h = exp(dt A) h + dt u B;  y = C.h + D u;  y *= SiLU(z)
 * A [ne, N] as given (mk_cpu_scan_A of A_log), or computed from A_log when A is NULL; Bv, Cv
 * [N]; z [ne]. */
void mk_cpu_scan_step(float *y, float *h, const float *u, const float *delta,
                      const float *dt_bias, const float *A_log, const float *A, const float *Bv,
                      const float *Cv, const float *Dskip, const float *z, int ne, int N);
/* A = -exp(A_log), n values, as mk_cpu_scan_step computes it. */
void mk_cpu_scan_A(float *A, const float *A_log, size_t n);
/* Element (r, c) of W as the products use it (the stored value, decoded; Q8: s q). */
float mk_cpu_wmat_get(const struct mk_wmat *W, int r, int c);

/* r += a (a may be NULL); then normed = r / sqrt(mean r^2 + eps) * w. n = D. */
void mk_cpu_add_rmsnorm(float *r, float *normed, const float *a, const float *w, int n,
                        float eps);

/* A barrier for the threads of one OpenMP team: they spin briefly, then yield the CPU (a
 * loaded machine must not lose a time slice to a spinning thread). Zero-initialised: ready. */
struct mk_cpu_barrier {
    _Alignas(64) unsigned arrived;
    _Alignas(64) unsigned gen;
};
void mk_cpu_barrier_wait(struct mk_cpu_barrier *b, int nthreads);

#endif /* MK_STEP_CPU_H */
