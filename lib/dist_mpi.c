/* dist_mpi.c — the MPI half of the communicator (dist_backend.h): MPI_COMM_WORLD, host
 * buffers. Counts above INT_MAX go in pieces, MPI taking int counts.
 */
#include "config.h"
#include "dist_backend.h"

#ifdef MK_HAVE_MPI
#include <limits.h>
#include <mpi.h>

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
    if (!done)
        MPI_Finalize();
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

mk_status mk_dist_mpi_sum_float(float *buf, size_t n)
{
    return sum_pieces(buf, n, MPI_FLOAT, sizeof *buf);
}

mk_status mk_dist_mpi_sum_double(double *buf, size_t n)
{
    return sum_pieces(buf, n, MPI_DOUBLE, sizeof *buf);
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

mk_status mk_dist_mpi_sum_float(float *buf, size_t n)
{
    return missing();
}

mk_status mk_dist_mpi_sum_double(double *buf, size_t n)
{
    return missing();
}

#endif
