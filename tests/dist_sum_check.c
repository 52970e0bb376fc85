/* dist_sum_check.c — run by tests/test_dist.sh under mpirun -np 2 (a TAP program on rank 0):
 * the non-blocking float sums of lib/dist.h on MPI.
 *
 * Rank r fills its buffers from the seed r, so every rank can compute the expected sum
 * a + b itself (the reference: two values, one addition, the same in any order). Five
 * buffers of different sizes (1 float to 300k, as gradient buckets are) are started one
 * after the other with mk_dist_progress between them, then waited for together; each must
 * equal the reference bit for bit, and the blocking mk_dist_sum of the same data too.
 * The same in bf16 (mk_dist_set_wire): the reference is bf16(bf16(a) + bf16(b)) widened,
 * from the rounding of lib/safetensors.h, which the checkpoints' tests check.
 *
 * `dist_sum_check cuda` does the same on CUDA buffers (NCCL; each rank on GPU `local rank`):
 * the host values are uploaded to a staging buffer, copied into the summed buffer by a kernel
 * on the compute stream and summed at once, without waiting for that copy (a sum must wait
 * for the kernels that write its buffer), then downloaded. Its 2 ranks come from
 * mpirun or from MAMBAKIT_RANK / MAMBAKIT_WORLD_SIZE / MAMBAKIT_RENDEZVOUS.
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "../kernels/ops.h"
#include "../lib/dist.h"
#include "mambakit.h"
#include "safetensors.h"
#include "tap.h"

enum { BUFS = 5 };
/* sizes: 1 float to 16M (as gradient buckets are, and the whole block a ZeRO-1 gather sums) */
static const size_t sizes[BUFS] = {1, 1000, 300000, 7, 1 << 24};

/* buffer k of rank r: values of both signs and many magnitudes */
static void fill(float *x, size_t n, int r, int k)
{
    struct mk_rng g;
    mk_rng_seed(&g, 1000u * (unsigned)r + (unsigned)k);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((mk_rng_uniform(&g) - 0.5) * (1 << (i % 20)));
}

/* The backend's copies of the host buffers (the buffers themselves on the CPU). */
static const struct mk_ops *ops;
static void *on_device[3][BUFS], *staging[3][BUFS]; /* CUDA: the copies of buf, blocking, half */

/* The device copy of host buffer k (which: 0 buf, 1 blocking, 2 half), being written by a
 * kernel still running when this returns. */
static mk_status to_device(float *host, int which, int k, float **dev)
{
    *dev = host;
    if (!ops)
        return MK_OK;
    const size_t bytes = sizes[k] * sizeof(float);
    mk_status st = MK_OK;
    if (!on_device[which][k] && (st = ops->alloc(&on_device[which][k], bytes)) == MK_OK)
        st = ops->alloc(&staging[which][k], bytes);
    *dev = on_device[which][k];
    if (st == MK_OK)
        st = ops->upload(staging[which][k], host, bytes);
    return st == MK_OK ? ops->copy(*dev, staging[which][k], bytes) : st;
}

static mk_status to_host(float *host, int which, int k)
{
    return ops ? ops->download(host, on_device[which][k], sizes[k] * sizeof(float)) : MK_OK;
}

/* mk_dist_sum_start of host buffer k (which: 0 buf, 2 half) */
static mk_status start(struct mk_dist *d, float *host, int which, int k)
{
    float *dev;
    mk_status st = to_device(host, which, k, &dev);
    return st == MK_OK ? mk_dist_sum_start(d, dev, sizes[k]) : st;
}

/* waits for the started sums and brings buffers 0..BUFS-1 of `which` back to the host */
static mk_status finish(struct mk_dist *d, float **host, int which)
{
    mk_status st = mk_dist_wait_all(d);
    if (st == MK_OK && ops)
        st = ops->sync();
    for (int k = 0; k < BUFS && st == MK_OK; k++)
        st = to_host(host[k], which, k);
    return st;
}

/* the blocking mk_dist_sum of host buffer k (in `blocking`'s device copy) */
static mk_status blocking_sum(struct mk_dist *d, float *host, int k)
{
    float *dev;
    mk_status st = to_device(host, 1, k, &dev);
    if (st == MK_OK)
        st = mk_dist_sum(d, dev, sizes[k]);
    return st == MK_OK ? to_host(host, 1, k) : st;
}

int main(int argc, char **argv)
{
    struct mk_dist *d = NULL;
    const int cuda = argc > 1 && !strcmp(argv[1], "cuda");
    if (cuda && mk_ops_cuda(&ops, mk_dist_local_rank()) != MK_OK) {
        printf("Bail out! %s\n", mk_last_error());
        return 1;
    }
    if (mk_dist_open(&d, cuda ? MK_DEVICE_CUDA : MK_DEVICE_CPU, mk_dist_local_rank()) != MK_OK) {
        printf("Bail out! %s\n", mk_last_error());
        return 1;
    }
    const int rank = mk_dist_rank(d), world = mk_dist_world(d);
    if (rank != 0 && !freopen("/dev/null", "w", stdout)) /* only rank 0 speaks TAP */
        return 1;
    plan(4);
    ok(world == 2, "2 ranks (mpirun -np 2)%s", cuda ? ", CUDA buffers (NCCL)" : "");
    float *buf[BUFS], *blocking[BUFS], *want[BUFS], *half[BUFS], *want_half[BUFS];
    mk_status st = MK_OK;
    for (int k = 0; k < BUFS; k++) {
        buf[k] = malloc(sizes[k] * sizeof(float));
        blocking[k] = malloc(sizes[k] * sizeof(float));
        want[k] = malloc(sizes[k] * sizeof(float));
        half[k] = malloc(sizes[k] * sizeof(float));
        want_half[k] = malloc(sizes[k] * sizeof(float));
        float *other = malloc(sizes[k] * sizeof(float));
        fill(buf[k], sizes[k], rank, k);
        fill(other, sizes[k], 1 - rank, k);
        for (size_t i = 0; i < sizes[k]; i++) {
            want[k][i] = buf[k][i] + other[i];
            want_half[k][i] = mk_bf16_to_f32(mk_f32_to_bf16(
                mk_bf16_to_f32(mk_f32_to_bf16(buf[k][i])) +
                mk_bf16_to_f32(mk_f32_to_bf16(other[i]))));
        }
        memcpy(blocking[k], buf[k], sizes[k] * sizeof(float));
        memcpy(half[k], buf[k], sizes[k] * sizeof(float));
        free(other);
        if (st == MK_OK)
            st = start(d, buf[k], 0, k);
        mk_dist_progress(d);
    }
    if (st == MK_OK)
        st = finish(d, buf, 0);
    int same = st == MK_OK, same_blocking = st == MK_OK;
    for (int k = 0; k < BUFS && st == MK_OK; k++) {
        same &= !memcmp(buf[k], want[k], sizes[k] * sizeof(float));
        st = blocking_sum(d, blocking[k], k);
        same_blocking &= st == MK_OK && !memcmp(blocking[k], want[k], sizes[k] * sizeof(float));
    }
    ok(same, "5 sums started one after the other, then waited for: each is a + b, bit for bit");
    ok(same_blocking, "the blocking sum of the same buffers gives the same bits");
    mk_dist_set_wire(d, MK_DIST_BF16);
    for (int k = 0; k < BUFS && st == MK_OK; k++) {
        st = start(d, half[k], 2, k);
        mk_dist_progress(d);
    }
    if (st == MK_OK)
        st = finish(d, half, 2);
    same = st == MK_OK;
    for (int k = 0; k < BUFS && st == MK_OK; k++) {
        same &= !memcmp(half[k], want_half[k], sizes[k] * sizeof(float));
        fill(blocking[k], sizes[k], rank, k); /* this rank's values again */
        st = blocking_sum(d, blocking[k], k);
        same &= st == MK_OK && !memcmp(blocking[k], want_half[k], sizes[k] * sizeof(float));
    }
    int differs = 0; /* the bf16 sums are not the fp32 ones (the test can tell them apart) */
    for (int k = 0; k < BUFS; k++)
        differs += memcmp(want_half[k], want[k], sizes[k] * sizeof(float)) != 0;
    ok(same && differs >= 4, "bf16: the started and the blocking sums are "
       "bf16(bf16(a) + bf16(b)), bit for bit (%d of %d buffers differ from fp32)", differs, BUFS);
    for (int k = 0; k < BUFS; k++)
        free(buf[k]), free(blocking[k]), free(want[k]), free(half[k]), free(want_half[k]);
    for (int w = 0; w < 3 && ops; w++)
        for (int k = 0; k < BUFS; k++)
            ops->free(on_device[w][k]), ops->free(staging[w][k]);
    int status = exit_status();
    mk_dist_close(d);
    return status;
}
