/* linear_ref.c — CPU reference of nn.Linear through CBLAS (contract: linear.h).
 *
 * Written once over mk_real: float in libmambakit (mk_ref_*), double for the tests (mk_refd_*).
 * All matrices are row-major.
 *
 * Threads: every CPU op runs on OpenMP's threads, BLAS included. A GEMM's output is cut into
 * blocks of rows or columns, one per thread, each a single-threaded BLAS call (mk_ops_cpu()
 * sets OpenBLAS to one thread): OpenBLAS's own pthreads pool and OpenMP's team both keep idle
 * threads spinning, and alternating between them made GEMMs and the scan about twice slower on
 * 2 cores. The blocks never split a sum: deterministic for a fixed thread count.
 * One token (M = 1, decode) is a matrix-vector product bound by reading W: its rows are split
 * across the threads, each block one single-threaded BLAS gemv.
 */
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "linear.h"
#include "ref_util.h"

#ifdef MK_REAL_DOUBLE
#define MK_GEMV cblas_dgemv
#else
#define MK_GEMV cblas_sgemv
#endif

#define LIN_COLS 256     /* columns of dbias one task owns (the sum over m stays on one thread) */
#define LIN_MIN_ROWS 64  /* the smallest row block worth its own GEMM call */

/* Blocks to cut n output rows (or columns) into: one per thread, each at least LIN_MIN_ROWS;
 * one when the product is small (work: multiply-adds). */
static int lin_parts(size_t n, size_t work)
{
#ifdef _OPENMP
    if (work < MK_PAR_MIN)
        return 1;
    size_t p = (size_t)omp_get_max_threads(), cap = n / LIN_MIN_ROWS;
    p = p < cap ? p : cap;
    return p > 1 ? (int)p : 1;
#else
    (void)n, (void)work;
    return 1;
#endif
}

/* C [M, N] = op(A) op(B) + beta C, row-major, with C's rows (or its columns, when it has more
 * of them) split into one block per thread, each block one single-threaded BLAS call. */
static void par_gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, size_t M, int N, int K,
                     const mk_real *A, int lda, const mk_real *B, int ldb, mk_real beta,
                     mk_real *C, int ldc)
{
    int by_rows = M >= (size_t)N;
    int parts = lin_parts(by_rows ? M : (size_t)N, M * N * (size_t)K);
#pragma omp parallel for if (parts > 1) schedule(static)
    for (int p = 0; p < parts; p++) {
        if (by_rows) {
            size_t m0 = M * p / parts, m1 = M * (p + 1) / parts;
            const mk_real *Ap = ta == CblasNoTrans ? A + m0 * lda : A + m0;
            MK_GEMM(CblasRowMajor, ta, tb, (int)(m1 - m0), N, K, 1, Ap, lda, B, ldb, beta,
                    C + m0 * ldc, ldc);
        } else {
            int n0 = (int)((size_t)N * p / parts), n1 = (int)((size_t)N * (p + 1) / parts);
            const mk_real *Bp = tb == CblasNoTrans ? B + n0 : B + (size_t)n0 * ldb;
            MK_GEMM(CblasRowMajor, ta, tb, (int)M, n1 - n0, K, 1, A, lda, Bp, ldb, beta, C + n0,
                    ldc);
        }
    }
}

static void linear_fwd_values(mk_real *out, const mk_real *in, int ld_in, const mk_real *W,
                              const mk_real *bias, size_t M, int K, int N);

/* out[m, :] = bias + in[m, :] W^T; in16 alone: its values (contiguous rows); with out16, the
 * result is made in fp32 scratch and rounded into out16 (out is not written) */
void MK_REF(linear_fwd)(mk_real *out, const mk_real *in, int ld_in, const mk_real *W,
                        const mk_real *bias, size_t M, int K, int N, const uint16_t *in16,
                        uint16_t *out16)
{
    if (M == 0)
        return;
    mk_real *x = in ? NULL : mk_values_of_bf16(in16, M, K, K, "linear (bf16 operand)");
    mk_real *o = out16 ? MK_REF(scratch_alloc)(M * N * sizeof *o, "linear_fwd") : out;
    if ((in || x) && o) {
        linear_fwd_values(o, in ? in : x, in ? ld_in : K, W, bias, M, K, N);
        for (size_t i = 0; out16 && i < M * N; i++)
            out16[i] = mk_f32_to_bf16((float)o[i]);
    }
    free(x);
    if (o != out)
        free(o);
}

/* out[m, :] = bias + in[m, :] W^T   (BLAS: out = in W^T, out pre-filled with bias, beta = 1) */
static void linear_fwd_values(mk_real *out, const mk_real *in, int ld_in, const mk_real *W,
                              const mk_real *bias, size_t M, int K, int N)
{
    if (M == 1) {
        int parts = lin_parts((size_t)N, (size_t)N * K);
#pragma omp parallel for if (parts > 1) schedule(static)
        for (int p = 0; p < parts; p++) {
            int n0 = (int)((size_t)N * p / parts), n1 = (int)((size_t)N * (p + 1) / parts);
            if (bias)
                memcpy(out + n0, bias + n0, (size_t)(n1 - n0) * sizeof *out);
            MK_GEMV(CblasRowMajor, CblasNoTrans, n1 - n0, K, 1, W + (size_t)n0 * K, K, in, 1,
                    bias ? 1 : 0, out + n0, 1);
        }
        return;
    }
    mk_real beta = 0;
    if (bias) {
        for (size_t m = 0; m < M; m++)
            memcpy(out + m * N, bias, (size_t)N * sizeof *out);
        beta = 1;
    }
    par_gemm(CblasNoTrans, CblasTrans, M, N, K, in, ld_in, W, K, beta, out, N);
}

/* din += dout W        [M, K] = [M, N] [N, K]   (din = dout W with MK_GRAD_SET)
 * dW  += dout^T in     [N, K] = [N, M] [M, K]
 * dbias[n] += sum_m dout[m, n]                                                               */
void MK_REF(linear_bwd)(mk_real *din, int ld_din, mk_real *dW, mk_real *dbias,
                        const mk_real *dout, const mk_real *in, int ld_in, const mk_real *W,
                        size_t M, int K, int N, enum mk_grad_write din_mode,
                        const uint16_t *dout16, const uint16_t *in16, uint16_t *din16)
{
    if (M == 0)
        return;
    mk_real *from16 = NULL, *in_from16 = NULL; /* the values of operands given in bf16 only */
    if (!dout && !(dout = from16 = mk_values_of_bf16(dout16, M, N, N, "linear (bf16 operand)")))
        return;
    if (!in) {
        if (!(in = in_from16 = mk_values_of_bf16(in16, M, K, K, "linear (bf16 operand)"))) {
            free(from16);
            return;
        }
        ld_in = K;
    }
    mk_real *din_made = NULL; /* din16: the fp32 din first, rounded at the end */
    if (din16) {
        din = din_made = malloc(M * (size_t)K * sizeof *din);
        ld_din = K;
        din_mode = MK_GRAD_SET;
    }
    if (din)
        par_gemm(CblasNoTrans, CblasNoTrans, M, K, N, dout, N, W, K,
                 din_mode == MK_GRAD_SET ? 0 : 1, din, ld_din);
    par_gemm(CblasTrans, CblasNoTrans, (size_t)N, K, (int)M, dout, N, in, ld_in, 1, dW, K);
    if (dbias) {
        int nblk = (N + LIN_COLS - 1) / LIN_COLS;
#pragma omp parallel for if (M * (size_t)N >= MK_PAR_MIN) schedule(static)
        for (int j = 0; j < nblk; j++) {
            int n0 = j * LIN_COLS, n1 = n0 + LIN_COLS < N ? n0 + LIN_COLS : N;
            for (size_t m = 0; m < M; m++) {
                const mk_real *g = dout + m * N;
#pragma omp simd
                for (int n = n0; n < n1; n++)
                    dbias[n] += g[n];
            }
        }
    }
    for (size_t i = 0; din_made && i < M * (size_t)K; i++)
        din16[i] = mk_f32_to_bf16((float)din_made[i]);
    free(din_made);
    free(from16);
    free(in_from16);
}
