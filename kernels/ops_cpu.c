/* ops_cpu.c — the CPU backend's op table: host memory and the float reference kernels.
 *
 * Memory is plain host memory, 64-byte aligned (a cache line, and the widest SIMD register);
 * upload/download are copies. Kernels run synchronously on the calling thread (OpenMP inside);
 * sync() reports a kernel's failure to allocate its scratch (the kernels, like CUDA launches,
 * return nothing), as MK_ERR_NOMEM naming the op.
 *
 * All CPU threads are OpenMP's: the first mk_ops_cpu() sets OpenBLAS to one thread, and the
 * linear kernel runs one BLAS call per OpenMP thread on blocks of rows (linear_ref.c says why).
 * This is process-wide: a program that also calls OpenBLAS itself gets single-threaded BLAS.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "ops.h"
#include "ref_util.h"

#define CPU_ALIGN 64

static mk_status cpu_alloc(void **p, size_t bytes)
{
    /* posix_memalign takes any size; 0 bytes still gives a pointer free() accepts */
    if (posix_memalign(p, CPU_ALIGN, bytes ? bytes : CPU_ALIGN) != 0) {
        *p = NULL;
        return mk_fail(MK_ERR_NOMEM, "cpu: cannot allocate %zu bytes", bytes);
    }
    return MK_OK;
}

static void cpu_free(void *p)
{
    free(p);
}

static mk_status cpu_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(dst, src, bytes);
    return MK_OK;
}

static mk_status cpu_zero(void *p, size_t bytes)
{
    if (bytes)
        memset(p, 0, bytes);
    return MK_OK;
}

static mk_status cpu_sync(void)
{
    const char *op;
    size_t bytes;
    if (mk_ref_scratch_failed(&op, &bytes))
        return mk_fail(MK_ERR_NOMEM, "cpu: %s could not allocate %zu bytes of scratch; its "
                       "outputs are incomplete", op, bytes);
    return MK_OK;
}

static const struct mk_ops cpu_ops = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .embedding_fwd = mk_ref_embedding_fwd,
    .embedding_bwd = mk_ref_embedding_bwd,
    .add_rmsnorm_fwd = mk_ref_add_rmsnorm_fwd,
    .rmsnorm_bwd = mk_ref_rmsnorm_bwd,
    .linear_fwd = mk_ref_linear_fwd,
    .linear_bwd = mk_ref_linear_bwd,
    .conv1d_fwd = mk_ref_conv1d_fwd,
    .conv1d_bwd = mk_ref_conv1d_bwd,
    .scan_fwd = mk_ref_scan_fwd,
    .scan_bwd = mk_ref_scan_bwd,
    .cross_entropy = mk_ref_cross_entropy,
    .adamw = mk_ref_adamw,
    .sumsq = mk_ref_sumsq,
    .argmax_rows = mk_ref_argmax_rows,
    .pool_fwd = mk_ref_pool_fwd,
    .pool_bwd = mk_ref_pool_bwd,
};

/* OpenBLAS built with pthreads keeps its own spinning thread pool: make it single-threaded
 * (the kernels split GEMMs across OpenMP threads themselves). OpenBLAS built with OpenMP
 * (openblas_get_parallel() == 2, configure's preference) already runs single-threaded inside
 * our parallel regions, and there openblas_set_num_threads would call omp_set_num_threads
 * and leave every kernel on one thread, so it is left alone. */
static void blas_one_thread(void)
{
    if (openblas_get_parallel() != 2)
        openblas_set_num_threads(1);
}

const struct mk_ops *mk_ops_cpu(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, blas_one_thread);
    return &cpu_ops;
}
