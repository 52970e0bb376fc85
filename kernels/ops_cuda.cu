/* ops_cuda.cu — the CUDA backend of the op table: device selection, the backend's one stream
 * and cuBLAS handle, device memory, the sticky first error reported by sync(), and the table
 * itself (the kernels are in embedding.cu, rmsnorm.cu, linear.cu, conv1d.cu, scan.cu,
 * cross_entropy.cu, adamw.cu). One device per process: the first mk_ops_cuda(index) picks it.
 * Scratch memory of the kernels comes from the device's stream-ordered pool, kept cached
 * (release threshold = all) so a training step allocates nothing from the driver after the
 * first one. graph_begin/end/launch/free record the kernels issued on the stream into a CUDA
 * graph and replay it (the decoding step, lib/forward.c); cuBLAS gets its workspace here, so a
 * recorded GEMM allocates nothing.
 */
#include <stdio.h>
#include <string.h>
#include "cuda_common.cuh"
#include "scan_bf16.cuh"

static struct {
    int ready, device, sms;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *workspace;  /* cuBLAS's, set once (graph capture must not allocate) */
    void *rows16;     /* MK_CUDA_ROWS16_BYTES for mk_cuda_rows16 */
    int gemm_bf16;    /* GEMM precision mode (set_gemm_precision): 0 fp32, 1 bf16 products */
    int failed;       /* a failure was recorded since the last sync */
    char first[512];  /* its message */
} g_cuda;

cudaStream_t mk_cuda_stream(void)
{
    return g_cuda.stream;
}

cublasHandle_t mk_cuda_blas(void)
{
    return g_cuda.blas;
}

extern "C" cudaStream_t mk_cuda_bench_stream(void)
{
    return g_cuda.stream;
}

int mk_cuda_sm_count(void)
{
    return g_cuda.sms;
}

int mk_cuda_gemm_bf16(void)
{
    return g_cuda.gemm_bf16;
}

static mk_status cuda_set_gemm_precision(int bf16)
{
    g_cuda.gemm_bf16 = bf16 != 0;
    return MK_OK;
}

mk_status mk_cuda_record(const char *err, const char *expr, const char *func, const char *file,
                         int line)
{
    if (!g_cuda.failed) {
        g_cuda.failed = 1;
        snprintf(g_cuda.first, sizeof g_cuda.first, "CUDA: %s failed in %s (%s:%d): %s", expr,
                 func, file, line, err);
    }
    return mk_fail(MK_ERR_DEVICE, "CUDA: %s failed in %s (%s:%d): %s", expr, func, file, line,
                   err);
}

void *mk_cuda_scratch(size_t bytes)
{
    void *p = NULL;
    if (MK_CK(cudaMallocAsync(&p, bytes ? bytes : 1, g_cuda.stream)))
        return NULL;
    return p;
}

void *mk_cuda_rows16(size_t bytes)
{
    return bytes <= MK_CUDA_ROWS16_BYTES ? g_cuda.rows16 : NULL;
}

void mk_cuda_scratch_free(void *p)
{
    if (p)
        MK_CK(cudaFreeAsync(p, g_cuda.stream));
}

/* one thread per column c: dst[c] += sum over rows in order */
__global__ void colsum_kernel(float *dst, const float *part, int rows, int cols)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols)
        return;
    float s = 0.0f;
#pragma unroll 8
    for (int r = 0; r < rows; r++)
        s += part[(size_t)r * cols + c];
    dst[c] += s;
}

/* first level for many rows: out[g][c] = sum of rows g*rg .. g*rg+rg-1 in order */
#define MK_COLSUM_RG 32
__global__ void colsum_group_kernel(float *out, const float *part, int rows, int cols)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x, g = blockIdx.y;
    if (c >= cols)
        return;
    int r0 = g * MK_COLSUM_RG, r1 = min(r0 + MK_COLSUM_RG, rows);
    float s = 0.0f;
#pragma unroll 8
    for (int r = r0; r < r1; r++)
        s += part[(size_t)r * cols + c];
    out[(size_t)g * cols + c] = s;
}

/* Many rows (the scan's per-chunk partials): groups of MK_COLSUM_RG rows summed in parallel,
 * then the groups in order; the order is fixed, so the result is still run-to-run identical. */
void mk_cuda_colsum(float *dst, const float *part, int rows, int cols)
{
    if (rows > 2 * MK_COLSUM_RG) {
        int groups = (rows + MK_COLSUM_RG - 1) / MK_COLSUM_RG;
        float *mid = (float *)mk_cuda_scratch((size_t)groups * cols * sizeof(float));
        if (!mid)
            return;
        dim3 grid(mk_cuda_blocks(cols, 256), groups);
        colsum_group_kernel<<<grid, 256, 0, g_cuda.stream>>>(mid, part, rows, cols);
        MK_LAUNCH_CHECK();
        colsum_kernel<<<mk_cuda_blocks(cols, 256), 256, 0, g_cuda.stream>>>(dst, mid, groups, cols);
        MK_LAUNCH_CHECK();
        mk_cuda_scratch_free(mid);
        return;
    }
    colsum_kernel<<<mk_cuda_blocks(cols, 256), 256, 0, g_cuda.stream>>>(dst, part, rows, cols);
    MK_LAUNCH_CHECK();
}

/* ---- memory ------------------------------------------------------------------------------ */

static mk_status cuda_alloc(void **p, size_t bytes)
{
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return mk_fail(MK_ERR_NOMEM, "CUDA: cudaMalloc of %zu bytes failed: out of device memory",
                       bytes);
    }
    return MK_CK(e);
}

static void cuda_free(void *p)
{
    if (p)
        MK_CK(cudaFree(p));
}

static mk_status cuda_upload(void *dst, const void *host_src, size_t bytes)
{
    mk_status st = MK_CK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice,
                                         g_cuda.stream));
    return st ? st : MK_CK(cudaStreamSynchronize(g_cuda.stream));
}

static mk_status cuda_download(void *host_dst, const void *src, size_t bytes)
{
    mk_status st = MK_CK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost,
                                         g_cuda.stream));
    return st ? st : MK_CK(cudaStreamSynchronize(g_cuda.stream));
}

static mk_status cuda_zero(void *p, size_t bytes)
{
    return MK_CK(cudaMemsetAsync(p, 0, bytes, g_cuda.stream));
}

static mk_status cuda_copy(void *dst, const void *src, size_t bytes)
{
    return MK_CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_cuda.stream));
}

/* Waits for the stream; reports the first failure recorded since the last sync. */
static mk_status cuda_sync(void)
{
    mk_status st = MK_CK(cudaStreamSynchronize(g_cuda.stream));
    if (g_cuda.failed) {
        g_cuda.failed = 0;
        return mk_fail(MK_ERR_DEVICE, "%s", g_cuda.first);
    }
    return st;
}

/* ---- CUDA graphs --------------------------------------------------------------------------
 * Thread-local capture mode: only this thread's unsafe calls (cudaMalloc, synchronous copies)
 * invalidate the capture, and they then fail instead of running. Failures recorded while
 * capturing belong to the capture: graph_end clears them and reports one error. */
static mk_status cuda_graph_begin(void)
{
    if (g_cuda.failed)
        return mk_fail(MK_ERR_DEVICE, "%s", g_cuda.first);
    return MK_CK(cudaStreamBeginCapture(g_cuda.stream, cudaStreamCaptureModeThreadLocal));
}

static mk_status cuda_graph_end(void **out)
{
    *out = NULL;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cudaStreamEndCapture(g_cuda.stream, &graph);
    if (e == cudaSuccess && !g_cuda.failed)
        e = cudaGraphInstantiateWithFlags(&exec, graph, 0);
    if (graph)
        cudaGraphDestroy(graph);
    if (e != cudaSuccess || g_cuda.failed) {
        char why[512];
        snprintf(why, sizeof why, "%s", g_cuda.failed ? g_cuda.first : cudaGetErrorString(e));
        if (exec)
            cudaGraphExecDestroy(exec);
        cudaGetLastError();
        g_cuda.failed = 0;
        return mk_fail(MK_ERR_DEVICE, "CUDA: graph capture failed: %s", why);
    }
    *out = (void *)exec;
    return MK_OK;
}

static mk_status cuda_graph_launch(void *graph)
{
    return MK_CK(cudaGraphLaunch((cudaGraphExec_t)graph, g_cuda.stream));
}

static void cuda_graph_free(void *graph)
{
    if (graph)
        MK_CK(cudaGraphExecDestroy((cudaGraphExec_t)graph));
}

static const struct mk_ops cuda_ops = {
    "cuda",
    cuda_alloc,
    cuda_free,
    cuda_upload,
    cuda_download,
    cuda_zero,
    cuda_copy,
    cuda_sync,
    mk_cuda_embedding_fwd,
    mk_cuda_embedding_bwd,
    mk_cuda_add_rmsnorm_fwd,
    mk_cuda_rmsnorm_bwd,
    mk_cuda_linear_fwd,
    mk_cuda_linear_bwd,
    mk_cuda_conv1d_fwd,
    mk_cuda_conv1d_bwd,
    mk_cuda_scan_fwd,
    mk_cuda_scan_bwd,
    mk_cuda_cross_entropy,
    mk_cuda_adamw,
    mk_cuda_sumsq,
    cuda_graph_begin,
    cuda_graph_end,
    cuda_graph_launch,
    cuda_graph_free,
    cuda_set_gemm_precision,
    mk_cuda_argmax_rows,
    mk_cuda_weights_bf16_set,
    mk_cuda_weights_bf16_stale,
    mk_cuda_weights_bf16_refresh,
    mk_cuda_pool_fwd,
    mk_cuda_pool_bwd,
};

/* ---- devices ------------------------------------------------------------------------------ */

extern "C" int mk_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* no driver or no device: not an error here */
        return 0;
    }
    return n;
}

extern "C" mk_status mk_cuda_device_name(int index, char *buf, size_t len)
{
    int n = mk_cuda_device_count();
    if (index < 0 || index >= n)
        return mk_fail(MK_ERR_DEVICE, "CUDA: no device %d (%d found)", index, n);
    cudaDeviceProp p;
    mk_status st = MK_CK(cudaGetDeviceProperties(&p, index));
    if (st)
        return st;
    snprintf(buf, len, "%s (sm_%d%d, %d SMs, %.1f GiB)", p.name, p.major, p.minor,
             p.multiProcessorCount, p.totalGlobalMem / 1073741824.0);
    return MK_OK;
}

extern "C" mk_status mk_cuda_mem_info(int index, size_t *used, size_t *total)
{
    *used = *total = 0;
    int n = mk_cuda_device_count(), cur = 0;
    if (index < 0 || index >= n)
        return mk_fail(MK_ERR_DEVICE, "CUDA: no device %d (%d found)", index, n);
    size_t free_b = 0, total_b = 0;
    mk_status st = MK_CK(cudaGetDevice(&cur));
    if (!st)
        st = MK_CK(cudaSetDevice(index));
    if (!st)
        st = MK_CK(cudaMemGetInfo(&free_b, &total_b));
    if (!st)
        st = MK_CK(cudaSetDevice(cur));
    if (!st) {
        *used = total_b - free_b;
        *total = total_b;
    }
    return st;
}

extern "C" mk_status mk_ops_cuda(const struct mk_ops **out, int index)
{
    *out = NULL;
    int n = mk_cuda_device_count();
    if (n == 0)
        return mk_fail(MK_ERR_DEVICE, "CUDA: no CUDA device found (the driver reports none)");
    if (index < 0 || index >= n)
        return mk_fail(MK_ERR_DEVICE, "CUDA: no device %d (%d found)", index, n);
    if (g_cuda.ready) {
        if (index != g_cuda.device)
            return mk_fail(MK_ERR_UNSUPPORTED,
                           "CUDA: this process already uses device %d (one device per process)",
                           g_cuda.device);
        *out = &cuda_ops;
        return MK_OK;
    }
    mk_status st;
    cudaMemPool_t pool;
    uint64_t keep = UINT64_MAX;
    if ((st = MK_CK(cudaSetDevice(index))) ||
        (st = MK_CK(cudaDeviceGetAttribute(&g_cuda.sms, cudaDevAttrMultiProcessorCount, index))) ||
        (st = MK_CK(cudaDeviceGetDefaultMemPool(&pool, index))) ||
        (st = MK_CK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep))) ||
        (st = MK_CK(cudaStreamCreateWithFlags(&g_cuda.stream, cudaStreamNonBlocking))))
        return st;
    /* Plain fp32 GEMMs by default (CUBLAS_COMPUTE_32F in linear.cu): no TF32 in this math
     * mode; the bf16 mode is asked for per GEMM by its compute type, not here. */
    if ((st = MK_CK(cublasCreate(&g_cuda.blas))) ||
        (st = MK_CK(cublasSetStream(g_cuda.blas, g_cuda.stream))) ||
        (st = MK_CK(cublasSetMathMode(g_cuda.blas, CUBLAS_DEFAULT_MATH)))) {
        cudaStreamDestroy(g_cuda.stream);
        return st;
    }
    /* cuBLAS's workspace, allocated here (after cublasSetStream, which resets it), so GEMMs
     * recorded into a CUDA graph allocate nothing; 32 MiB is NVIDIA's advice for Hopper. */
    const size_t ws_bytes = (size_t)32 << 20;
    if ((st = MK_CK(cudaMalloc(&g_cuda.workspace, ws_bytes))) ||
        (st = MK_CK(cublasSetWorkspace(g_cuda.blas, g_cuda.workspace, ws_bytes))) ||
        (st = MK_CK(cudaMalloc(&g_cuda.rows16, MK_CUDA_ROWS16_BYTES)))) {
        cublasDestroy(g_cuda.blas);
        cudaStreamDestroy(g_cuda.stream);
        return st;
    }
    g_cuda.device = index;
    g_cuda.ready = 1;
    g_cuda.failed = 0;
    *out = &cuda_ops;
    return MK_OK;
}
