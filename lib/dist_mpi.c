/* dist_mpi.c — the MPI half of the communicator (dist_backend.h): MPI_COMM_WORLD, host
 * buffers. Counts above INT_MAX go in pieces, MPI taking int counts. The non-blocking sums
 * (MPI_Iallreduce) keep their requests here until MPI_Waitall; MPI moves them along only
 * inside MPI calls (no progress thread is assumed), hence mk_dist_mpi_progress.
 */
#include "config.h"
#include "dist_backend.h"

#ifdef MK_HAVE_MPI
#include <limits.h>
#include <stdlib.h>
#include <mpi.h>
#include "safetensors.h" /* mk_f32_to_bf16, mk_bf16_to_f32 */

int mk_dist_have_mpi(void)
{
    return 1;
}

static mk_status check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return MK_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return mk_fail(MK_ERR_IO, "%s failed: %s", what, msg);
}

/* The started, not yet waited-for sums of this process (MPI_COMM_WORLD is one per process):
 * per request, the floats it sums and, for a bf16 sum, the bf16 copy that travels (widened
 * into the floats after the wait; NULL for an fp32 sum, which sums the floats in place). */
struct pending_sum {
    float *dst;
    uint16_t *bf16;
    size_t n;
};
static struct {
    MPI_Request *req;
    struct pending_sum *sum;
    int n, cap;
} pending;

/* bf16 sums travel as MPI_UINT16_T values holding bf16 bits, reduced by this operation,
 * which adds as ncclBfloat16 sums do: in fp32, rounded back to bf16 (nearest, ties to even)
 *     c = bf16(float(a) + float(b))
 * It is commutative, so MPI may combine the ranks in any order; with 2 ranks every rank gets
 * bf16(bf16(x_0) + bf16(x_1)). */
static void bf16_add(void *in, void *inout, int *len, MPI_Datatype *type)
{
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++)
        b[i] = mk_f32_to_bf16(mk_bf16_to_f32(a[i]) + mk_bf16_to_f32(b[i]));
}

static MPI_Op bf16_op = MPI_OP_NULL; /* made by the first bf16 sum */

mk_status mk_dist_mpi_init(int *rank, int *world)
{
    int inited = 0;
    MPI_Initialized(&inited);
    mk_status st = inited ? MK_OK : check(MPI_Init(NULL, NULL), "MPI_Init");
    if (st == MK_OK)
        st = check(MPI_Comm_rank(MPI_COMM_WORLD, rank), "MPI_Comm_rank");
    if (st == MK_OK)
        st = check(MPI_Comm_size(MPI_COMM_WORLD, world), "MPI_Comm_size");
    return st;
}

void mk_dist_mpi_finalize(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done && bf16_op != MPI_OP_NULL)
        MPI_Op_free(&bf16_op);
    if (!done)
        MPI_Finalize();
    free(pending.req);
    free(pending.sum);
    pending.req = NULL;
    pending.sum = NULL;
    pending.n = pending.cap = 0;
}

void mk_dist_mpi_abort(void)
{
    MPI_Abort(MPI_COMM_WORLD, 1);
}

mk_status mk_dist_mpi_barrier(void)
{
    return check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

enum { PIECE = INT_MAX / 8 };

mk_status mk_dist_mpi_broadcast(void *buf, size_t bytes, int root)
{
    mk_status st = MK_OK;
    for (size_t i = 0; st == MK_OK && i < bytes; i += PIECE) {
        size_t k = bytes - i < PIECE ? bytes - i : PIECE;
        st = check(MPI_Bcast((char *)buf + i, (int)k, MPI_BYTE, root, MPI_COMM_WORLD),
                   "MPI_Bcast");
    }
    return st;
}

/* in-place sum over the ranks of n elements of `type` (elem bytes each), in pieces of PIECE */
static mk_status sum_pieces(void *buf, size_t n, MPI_Datatype type, size_t elem)
{
    mk_status st = MK_OK;
    for (size_t i = 0; st == MK_OK && i < n; i += PIECE) {
        size_t k = n - i < PIECE ? n - i : PIECE;
        st = check(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + i * elem, (int)k, type, MPI_SUM,
                                 MPI_COMM_WORLD), "MPI_Allreduce");
    }
    return st;
}

mk_status mk_dist_mpi_sum_float(float *buf, size_t n, int bf16)
{
    if (!bf16)
        return sum_pieces(buf, n, MPI_FLOAT, sizeof *buf);
    mk_status st = mk_dist_mpi_sum_float_start(buf, n, 1);
    return st == MK_OK ? mk_dist_mpi_wait_all() : st;
}

mk_status mk_dist_mpi_sum_double(double *buf, size_t n)
{
    return sum_pieces(buf, n, MPI_DOUBLE, sizeof *buf);
}

/* Starts the sum of k <= PIECE floats at buf (bf16: through a bf16 copy). */
static mk_status start_piece(float *buf, size_t k, int bf16)
{
    if (pending.n == pending.cap) {
        int cap = pending.cap ? 2 * pending.cap : 64;
        MPI_Request *r = realloc(pending.req, (size_t)cap * sizeof *r);
        if (r)
            pending.req = r;
        struct pending_sum *p = r ? realloc(pending.sum, (size_t)cap * sizeof *p) : NULL;
        if (!p)
            return mk_fail(MK_ERR_NOMEM, "out of memory");
        pending.sum = p;
        pending.cap = cap;
    }
    uint16_t *wire = bf16 ? malloc(k * sizeof *wire) : NULL;
    if (bf16 && !wire)
        return mk_fail(MK_ERR_NOMEM, "out of memory (a bf16 copy of %zu gradients)", k);
    for (size_t i = 0; wire && i < k; i++)
        wire[i] = mk_f32_to_bf16(buf[i]);
    mk_status st = check(MPI_Iallreduce(MPI_IN_PLACE, wire ? (void *)wire : (void *)buf,
                                        (int)k, wire ? MPI_UINT16_T : MPI_FLOAT,
                                        wire ? bf16_op : MPI_SUM, MPI_COMM_WORLD,
                                        &pending.req[pending.n]), "MPI_Iallreduce");
    if (st != MK_OK) {
        free(wire);
        return st;
    }
    pending.sum[pending.n++] = (struct pending_sum){buf, wire, k};
    return MK_OK;
}

mk_status mk_dist_mpi_sum_float_start(float *buf, size_t n, int bf16)
{
    mk_status st = MK_OK;
    if (bf16 && bf16_op == MPI_OP_NULL)
        st = check(MPI_Op_create(bf16_add, 1, &bf16_op), "MPI_Op_create (bf16 sum)");
    for (size_t i = 0; st == MK_OK && i < n; i += PIECE)
        st = start_piece(buf + i, n - i < PIECE ? n - i : PIECE, bf16);
    return st;
}

void mk_dist_mpi_progress(void)
{
    int done = 0;
    if (pending.n)
        MPI_Testall(pending.n, pending.req, &done, MPI_STATUSES_IGNORE);
}

mk_status mk_dist_mpi_wait_all(void)
{
    mk_status st = check(MPI_Waitall(pending.n, pending.req, MPI_STATUSES_IGNORE),
                         "MPI_Waitall (the gradient sums)");
    for (int r = 0; r < pending.n; r++) {
        const struct pending_sum *p = &pending.sum[r];
        for (size_t i = 0; p->bf16 && i < p->n; i++)
            p->dst[i] = mk_bf16_to_f32(p->bf16[i]);
        free(p->bf16);
    }
    pending.n = 0;
    return st;
}

#else /* no MPI in this build */

static mk_status missing(void)
{
    return mk_fail(MK_ERR_UNSUPPORTED, "this mambakit was built without MPI (configure "
                   "--with-mpi; Debian: apt-get install libopenmpi-dev openmpi-bin)");
}

int mk_dist_have_mpi(void)
{
    return 0;
}

mk_status mk_dist_mpi_init(int *rank, int *world)
{
    *rank = 0;
    *world = 1;
    return missing();
}

void mk_dist_mpi_finalize(void)
{
}

void mk_dist_mpi_abort(void)
{
}

mk_status mk_dist_mpi_barrier(void)
{
    return missing();
}

mk_status mk_dist_mpi_broadcast(void *buf, size_t bytes, int root)
{
    return missing();
}

mk_status mk_dist_mpi_sum_float(float *buf, size_t n, int bf16)
{
    return missing();
}

mk_status mk_dist_mpi_sum_double(double *buf, size_t n)
{
    return missing();
}

mk_status mk_dist_mpi_sum_float_start(float *buf, size_t n, int bf16)
{
    return missing();
}

void mk_dist_mpi_progress(void)
{
}

mk_status mk_dist_mpi_wait_all(void)
{
    return missing();
}

#endif
