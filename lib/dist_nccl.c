/* dist_nccl.c — the NCCL half of the communicator (dist_backend.h): sums of device buffers
 * with ncclAllReduce on a stream of its own. The trainer's kernels run on the backend's
 * (compute) stream, so every float sum first makes the NCCL stream wait for the work issued
 * there so far (an event); each blocking call waits for its own stream before returning, so
 * the result is ready for any stream after it. Host buffers travel on the NCCL stream too.
 *
 * The non-blocking sums:
 *   start:    record `ready` on the compute stream; the NCCL stream waits for it; the sum
 *             is queued on the NCCL stream (the compute stream goes on with the backward)
 *   wait_all: record `done` on the NCCL stream; the compute stream waits for it
 * bf16 sums go through a device scratch of bf16 values on the NCCL stream:
 *   scratch = bf16(buf); ncclAllReduce(scratch, ncclBfloat16); buf = float(scratch)
 * One scratch serves every sum, as the NCCL stream runs them one after the other.
 */
#include "config.h"
#include "dist_backend.h"

#ifdef MK_HAVE_NCCL
#include <stdlib.h>
#include <string.h>
#include <cuda_runtime.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* nccl.h's f() declarations */
#include <nccl.h>
#pragma GCC diagnostic pop

struct mk_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
    double *scratch; /* device, scratch_n doubles: host sums staged here */
    size_t scratch_n;
    unsigned short *bf16; /* device, bf16_n bf16 values: the bf16 sums' scratch */
    size_t bf16_n;
    cudaEvent_t ready, done; /* the non-blocking sums' events (see the top) */
    int pending;             /* sums started since the last wait_all */
};

/* kernels/ops_cuda.cu: the backend's stream, the one the model's kernels run on */
cudaStream_t mk_cuda_bench_stream(void);

int mk_dist_have_nccl(void)
{
    return 1;
}

static mk_status nccl_check(ncclResult_t rc, const char *what)
{
    return rc == ncclSuccess ? MK_OK
                             : mk_fail(MK_ERR_DEVICE, "%s failed: %s", what, ncclGetErrorString(rc));
}

static mk_status cuda_check(cudaError_t rc, const char *what)
{
    return rc == cudaSuccess ? MK_OK
                             : mk_fail(MK_ERR_DEVICE, "%s failed: %s", what, cudaGetErrorString(rc));
}

mk_status mk_dist_nccl_unique_id(unsigned char id[MK_NCCL_ID_BYTES])
{
    ncclUniqueId u;
    _Static_assert(sizeof u.internal == MK_NCCL_ID_BYTES, "NCCL_UNIQUE_ID_BYTES changed");
    mk_status st = nccl_check(ncclGetUniqueId(&u), "ncclGetUniqueId");
    if (st == MK_OK)
        memcpy(id, u.internal, MK_NCCL_ID_BYTES);
    return st;
}

mk_status mk_dist_nccl_open(struct mk_nccl **out, const unsigned char id[MK_NCCL_ID_BYTES],
                            int rank, int world, int device)
{
    *out = NULL;
    struct mk_nccl *c = calloc(1, sizeof *c);
    if (!c)
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    ncclUniqueId u;
    memcpy(u.internal, id, MK_NCCL_ID_BYTES);
    c->device = device;
    mk_status st = cuda_check(cudaSetDevice(device), "cudaSetDevice");
    if (st == MK_OK)
        st = cuda_check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking),
                        "cudaStreamCreate");
    if (st == MK_OK)
        st = cuda_check(cudaEventCreateWithFlags(&c->ready, cudaEventDisableTiming),
                        "cudaEventCreate");
    if (st == MK_OK)
        st = cuda_check(cudaEventCreateWithFlags(&c->done, cudaEventDisableTiming),
                        "cudaEventCreate");
    if (st == MK_OK)
        st = nccl_check(ncclCommInitRank(&c->comm, world, u, rank), "ncclCommInitRank");
    if (st != MK_OK) {
        if (c->ready)
            cudaEventDestroy(c->ready);
        if (c->done)
            cudaEventDestroy(c->done);
        if (c->stream)
            cudaStreamDestroy(c->stream);
        free(c);
        return st;
    }
    *out = c;
    return MK_OK;
}

void mk_dist_nccl_close(struct mk_nccl *c)
{
    if (!c)
        return;
    cudaSetDevice(c->device);
    ncclCommDestroy(c->comm);
    cudaFree(c->scratch);
    cudaFree(c->bf16);
    cudaEventDestroy(c->ready);
    cudaEventDestroy(c->done);
    cudaStreamDestroy(c->stream);
    free(c);
}

/* The bf16 scratch holds at least n values; a larger one waits for the sums queued on the
 * old one first. */
static mk_status reserve_bf16(struct mk_nccl *c, size_t n)
{
    if (c->bf16_n >= n)
        return MK_OK;
    mk_status st = cuda_check(cudaStreamSynchronize(c->stream), "the bf16 sums (wait)");
    cudaFree(c->bf16);
    c->bf16 = NULL;
    c->bf16_n = 0;
    if (st == MK_OK)
        st = cuda_check(cudaMalloc((void **)&c->bf16, n * sizeof *c->bf16),
                        "cudaMalloc (bf16 all-reduce scratch)");
    if (st == MK_OK)
        c->bf16_n = n;
    return st;
}

/* Queues the sum of n floats at dev_buf on the NCCL stream (bf16: through the scratch). */
static mk_status queue_sum(struct mk_nccl *c, float *dev_buf, size_t n, int bf16)
{
    if (!bf16)
        return nccl_check(ncclAllReduce(dev_buf, dev_buf, n, ncclFloat32, ncclSum, c->comm,
                                        c->stream), "ncclAllReduce");
    mk_status st = reserve_bf16(c, n);
    if (st == MK_OK)
        st = cuda_check((cudaError_t)mk_dist_bf16_pack(c->bf16, dev_buf, n, c->stream),
                        "rounding the gradients to bf16");
    if (st == MK_OK)
        st = nccl_check(ncclAllReduce(c->bf16, c->bf16, n, ncclBfloat16, ncclSum, c->comm,
                                      c->stream), "ncclAllReduce (bf16)");
    if (st == MK_OK)
        st = cuda_check((cudaError_t)mk_dist_bf16_unpack(dev_buf, c->bf16, n, c->stream),
                        "widening the bf16 sums");
    return st;
}

/* The NCCL stream waits for the work issued so far on the compute stream (the kernels that
 * write the buffer to sum). */
static mk_status after_compute(struct mk_nccl *c)
{
    mk_status st = cuda_check(cudaEventRecord(c->ready, mk_cuda_bench_stream()),
                              "cudaEventRecord (buffer ready)");
    return st == MK_OK ? cuda_check(cudaStreamWaitEvent(c->stream, c->ready, 0),
                                    "cudaStreamWaitEvent")
                       : st;
}

mk_status mk_dist_nccl_sum_float(struct mk_nccl *c, float *dev_buf, size_t n, int bf16)
{
    mk_status st = after_compute(c);
    if (st == MK_OK)
        st = queue_sum(c, dev_buf, n, bf16);
    return st == MK_OK ? cuda_check(cudaStreamSynchronize(c->stream), "ncclAllReduce (wait)")
                       : st;
}

mk_status mk_dist_nccl_sum_start(struct mk_nccl *c, float *dev_buf, size_t n, int bf16)
{
    mk_status st = after_compute(c);
    if (st == MK_OK)
        st = queue_sum(c, dev_buf, n, bf16);
    c->pending += st == MK_OK;
    return st;
}

mk_status mk_dist_nccl_wait_all(struct mk_nccl *c)
{
    if (!c->pending)
        return MK_OK;
    c->pending = 0;
    mk_status st = cuda_check(cudaEventRecord(c->done, c->stream), "cudaEventRecord (sums done)");
    if (st == MK_OK)
        st = cuda_check(cudaStreamWaitEvent(mk_cuda_bench_stream(), c->done, 0),
                        "cudaStreamWaitEvent");
    return st;
}

/* The device scratch holds at least n doubles. */
static mk_status reserve(struct mk_nccl *c, size_t n)
{
    if (c->scratch_n >= n)
        return MK_OK;
    cudaFree(c->scratch);
    c->scratch = NULL;
    c->scratch_n = 0;
    mk_status st = cuda_check(cudaMalloc((void **)&c->scratch, n * sizeof *c->scratch),
                              "cudaMalloc (NCCL scratch)");
    if (st == MK_OK)
        c->scratch_n = n;
    return st;
}

/* Host bytes to and from the device scratch, on the NCCL stream: a plain cudaMemcpy runs on
 * the legacy stream, which the NCCL stream (non-blocking) does not wait for, and may return
 * before a pageable upload has landed. */
static mk_status stage(struct mk_nccl *c, void *dst, const void *src, size_t bytes,
                       enum cudaMemcpyKind kind)
{
    return cuda_check(cudaMemcpyAsync(dst, src, bytes, kind, c->stream), "cudaMemcpyAsync");
}

mk_status mk_dist_nccl_sum_double(struct mk_nccl *c, double *host_buf, size_t n)
{
    const size_t bytes = n * sizeof *host_buf;
    mk_status st = reserve(c, n);
    if (st == MK_OK)
        st = stage(c, c->scratch, host_buf, bytes, cudaMemcpyHostToDevice);
    if (st == MK_OK)
        st = nccl_check(ncclAllReduce(c->scratch, c->scratch, n, ncclFloat64, ncclSum, c->comm,
                                      c->stream), "ncclAllReduce");
    if (st == MK_OK)
        st = stage(c, host_buf, c->scratch, bytes, cudaMemcpyDeviceToHost);
    return st == MK_OK ? cuda_check(cudaStreamSynchronize(c->stream), "ncclAllReduce (wait)")
                       : st;
}

mk_status mk_dist_nccl_broadcast(struct mk_nccl *c, void *host_buf, size_t bytes, int root)
{
    mk_status st = reserve(c, (bytes + sizeof(double) - 1) / sizeof(double));
    if (st == MK_OK)
        st = stage(c, c->scratch, host_buf, bytes, cudaMemcpyHostToDevice);
    if (st == MK_OK)
        st = nccl_check(ncclBroadcast(c->scratch, c->scratch, bytes, ncclUint8, root, c->comm,
                                      c->stream), "ncclBroadcast");
    if (st == MK_OK)
        st = stage(c, host_buf, c->scratch, bytes, cudaMemcpyDeviceToHost);
    return st == MK_OK ? cuda_check(cudaStreamSynchronize(c->stream), "ncclBroadcast (wait)")
                       : st;
}

#else /* no NCCL in this build */

static mk_status missing(void)
{
    return mk_fail(MK_ERR_UNSUPPORTED, "this mambakit was built without NCCL (configure "
                   "--with-nccl on a machine with CUDA and the NCCL headers and library)");
}

int mk_dist_have_nccl(void)
{
    return 0;
}

mk_status mk_dist_nccl_unique_id(unsigned char id[MK_NCCL_ID_BYTES])
{
    return missing();
}

mk_status mk_dist_nccl_open(struct mk_nccl **out, const unsigned char id[MK_NCCL_ID_BYTES],
                            int rank, int world, int device)
{
    *out = NULL;
    return missing();
}

void mk_dist_nccl_close(struct mk_nccl *c)
{
}

mk_status mk_dist_nccl_sum_float(struct mk_nccl *c, float *dev_buf, size_t n, int bf16)
{
    return missing();
}

mk_status mk_dist_nccl_sum_double(struct mk_nccl *c, double *host_buf, size_t n)
{
    return missing();
}

mk_status mk_dist_nccl_broadcast(struct mk_nccl *c, void *host_buf, size_t bytes, int root)
{
    return missing();
}

mk_status mk_dist_nccl_sum_start(struct mk_nccl *c, float *dev_buf, size_t n, int bf16)
{
    return missing();
}

mk_status mk_dist_nccl_wait_all(struct mk_nccl *c)
{
    return missing();
}

#endif
