/* dist.c — the communicator (dist.h): where the ranks come from, which backend sums the
 * buffers, and the collectives dispatched to it (dist_mpi.c, dist_nccl.c).
 *
 * Backend per collective:
 *   world 1                  nothing to do (identity)
 *   CPU buffers              MPI
 *   CUDA buffers             NCCL
 *   host doubles, broadcast  MPI when MPI is up, else NCCL staged through the device
 * The non-blocking float sums (mk_dist_sum_start .. mk_dist_wait_all) take the same backend
 * as mk_dist_sum.
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dist.h"
#include "dist_backend.h"

struct mk_dist {
    int rank, world;
    enum mk_device dev;
    int mpi;                 /* MPI_Init done: MPI collectives available */
    struct mk_nccl *nccl;    /* CUDA world > 1 */
    int bf16;                /* float sums in bf16 (mk_dist_set_wire) */
};

/* *v = the integer in environment variable `name`: 1 if set, 0 if not, -1 (with the error
 * set) if it is not a whole number >= min. */
static int env_int(const char *name, int min, int *v)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    char *end;
    long x = strtol(s, &end, 10);
    if (*end || x < min || x > 1 << 20) {
        mk_fail(MK_ERR_INVALID, "environment variable %s=%s: expected a whole number >= %d",
                name, s, min);
        return -1;
    }
    *v = (int)x;
    return 1;
}

int mk_dist_local_rank(void)
{
    int v = 0;
    if (env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0, &v) > 0 ||
        env_int("MPI_LOCALRANKID", 0, &v) > 0 || env_int("MAMBAKIT_LOCAL_RANK", 0, &v) > 0 ||
        env_int("MAMBAKIT_RANK", 0, &v) > 0)
        return v;
    return 0;
}

int mk_dist_launched_world(void)
{
    int v = 1;
    if (env_int("OMPI_COMM_WORLD_SIZE", 1, &v) > 0 || env_int("PMI_SIZE", 1, &v) > 0 ||
        env_int("MAMBAKIT_WORLD_SIZE", 1, &v) > 0)
        return v;
    return 1;
}

/* Rank and world: from MPI under a launcher, else from MAMBAKIT_RANK / _WORLD_SIZE. */
static mk_status find_ranks(struct mk_dist *d)
{
    int n = 1, k;
    if ((k = env_int("OMPI_COMM_WORLD_SIZE", 1, &n)) == 0)
        k = env_int("PMI_SIZE", 1, &n);
    if (k < 0)
        return MK_ERR_INVALID;
    if (k > 0) {
        if (!mk_dist_have_mpi())
            return n == 1 ? MK_OK
                          : mk_fail(MK_ERR_UNSUPPORTED, "started by mpirun with %d ranks, but "
                                    "this mambakit was built without MPI (configure --with-mpi;"
                                    " Debian: apt-get install libopenmpi-dev openmpi-bin)", n);
        mk_status st = mk_dist_mpi_init(&d->rank, &d->world);
        d->mpi = st == MK_OK;
        return st;
    }
    if ((k = env_int("MAMBAKIT_WORLD_SIZE", 1, &d->world)) <= 0)
        return k < 0 ? MK_ERR_INVALID : MK_OK;
    if ((k = env_int("MAMBAKIT_RANK", 0, &d->rank)) < 0)
        return MK_ERR_INVALID;
    if (k == 0 && d->world > 1)
        return mk_fail(MK_ERR_INVALID, "MAMBAKIT_WORLD_SIZE=%d but MAMBAKIT_RANK is not set "
                       "(each process needs its rank, 0 .. %d)", d->world, d->world - 1);
    if (d->rank >= d->world)
        return mk_fail(MK_ERR_INVALID, "MAMBAKIT_RANK=%d is not below MAMBAKIT_WORLD_SIZE=%d",
                       d->rank, d->world);
    return MK_OK;
}

/* The NCCL unique id from rank 0: over MPI, else through MAMBAKIT_RENDEZVOUS: file:PATH
 * (rank 0 then names the file it made in `published`, else leaves it "") or tcp:HOST:PORT. */
static mk_status share_nccl_id(struct mk_dist *d, unsigned char id[MK_NCCL_ID_BYTES],
                               char *published, size_t len)
{
    mk_status st = d->rank == 0 ? mk_dist_nccl_unique_id(id) : MK_OK;
    if (st != MK_OK || d->mpi)
        return st != MK_OK ? st : mk_dist_mpi_broadcast(id, MK_NCCL_ID_BYTES, 0);
    const char *rv = getenv("MAMBAKIT_RENDEZVOUS");
    const int file = rv && !strncmp(rv, "file:", 5) && rv[5];
    const int tcp = rv && !strncmp(rv, "tcp:", 4) && rv[4];
    if (!file && !tcp)
        return mk_fail(MK_ERR_INVALID, "MAMBAKIT_WORLD_SIZE=%d without mpirun needs "
                       "MAMBAKIT_RENDEZVOUS=file:PATH (a path on a file system all ranks "
                       "share) or tcp:HOST:PORT (rank 0's host and a free port) to hand out "
                       "the NCCL id; got %s", d->world, rv ? rv : "nothing");
    int timeout = 300;
    if (env_int("MAMBAKIT_RENDEZVOUS_TIMEOUT", 1, &timeout) < 0)
        return MK_ERR_INVALID;
    if (tcp)
        return d->rank == 0
                   ? mk_rendezvous_serve_tcp(rv + 4, id, MK_NCCL_ID_BYTES, d->world, timeout)
                   : mk_rendezvous_fetch_tcp(rv + 4, d->rank, id, MK_NCCL_ID_BYTES, timeout);
    if (d->rank != 0)
        return mk_rendezvous_wait(rv + 5, id, MK_NCCL_ID_BYTES, timeout);
    st = mk_rendezvous_publish(rv + 5, id, MK_NCCL_ID_BYTES);
    if (st == MK_OK)
        snprintf(published, len, "%s", rv + 5);
    return st;
}

static mk_status pick_backend(struct mk_dist *d, int device_index)
{
    if (d->world == 1)
        return MK_OK;
    if (d->dev == MK_DEVICE_CPU)
        return d->mpi ? MK_OK
                      : mk_fail(MK_ERR_UNSUPPORTED, "MAMBAKIT_WORLD_SIZE=%d on the CPU: summing "
                                "CPU gradients needs MPI; launch with mpirun -np %d%s", d->world,
                                d->world, mk_dist_have_mpi() ? "" : " from a build configured "
                                "--with-mpi (apt-get install libopenmpi-dev openmpi-bin)");
    if (!mk_dist_have_nccl())
        return mk_fail(MK_ERR_UNSUPPORTED, "%d ranks on CUDA need NCCL, and this mambakit was "
                       "built without it (configure --with-nccl with the NCCL headers and "
                       "libnccl installed)", d->world);
    unsigned char id[MK_NCCL_ID_BYTES];
    char published[4096] = "";
    mk_status st = share_nccl_id(d, id, published, sizeof published);
    if (st == MK_OK)
        st = mk_dist_nccl_open(&d->nccl, id, d->rank, d->world, device_index);
    /* ncclCommInitRank returns on rank 0 once every rank has joined, so all have read the
     * rendezvous file (or the open failed): rank 0 removes it now, for the next run. */
    if (published[0])
        unlink(published);
    return st;
}

mk_status mk_dist_open(struct mk_dist **out, enum mk_device dev, int device_index)
{
    *out = NULL;
    struct mk_dist *d = calloc(1, sizeof *d);
    if (!d)
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    d->world = 1;
    d->dev = dev;
    mk_status st = find_ranks(d);
    if (st == MK_OK)
        st = pick_backend(d, device_index);
    if (st != MK_OK) {
        mk_dist_close(d);
        return st;
    }
    *out = d;
    return MK_OK;
}

void mk_dist_close(struct mk_dist *d)
{
    if (!d)
        return;
    mk_dist_nccl_close(d->nccl);
    if (d->mpi)
        mk_dist_mpi_finalize();
    free(d);
}

void mk_dist_abort(struct mk_dist *d, mk_status st)
{
    if (!d || d->world == 1 || st == MK_OK)
        return;
    fprintf(stderr, "mambakit: rank %d of %d failed: %s; stopping every rank\n", d->rank,
            d->world, mk_last_error());
    if (d->mpi)
        mk_dist_mpi_abort();
    exit(1);
}

int mk_dist_rank(const struct mk_dist *d)
{
    return d ? d->rank : 0;
}

int mk_dist_world(const struct mk_dist *d)
{
    return d ? d->world : 1;
}

mk_status mk_dist_barrier(struct mk_dist *d)
{
    double token = 0;
    if (!d || d->world == 1)
        return MK_OK;
    return d->mpi ? mk_dist_mpi_barrier() : mk_dist_nccl_sum_double(d->nccl, &token, 1);
}

mk_status mk_dist_broadcast(struct mk_dist *d, void *buf, size_t bytes, int root)
{
    if (!d || d->world == 1)
        return MK_OK;
    return d->mpi ? mk_dist_mpi_broadcast(buf, bytes, root)
                  : mk_dist_nccl_broadcast(d->nccl, buf, bytes, root);
}

mk_status mk_dist_sum(struct mk_dist *d, float *buf, size_t n)
{
    if (!d || d->world == 1)
        return MK_OK;
    return d->nccl ? mk_dist_nccl_sum_float(d->nccl, buf, n, d->bf16)
                   : mk_dist_mpi_sum_float(buf, n, d->bf16);
}

mk_status mk_dist_sum_start(struct mk_dist *d, float *buf, size_t n)
{
    if (!d || d->world == 1)
        return MK_OK;
    return d->nccl ? mk_dist_nccl_sum_start(d->nccl, buf, n, d->bf16)
                   : mk_dist_mpi_sum_float_start(buf, n, d->bf16);
}

void mk_dist_progress(struct mk_dist *d)
{
    if (d && d->world > 1 && !d->nccl)
        mk_dist_mpi_progress();
}

mk_status mk_dist_wait_all(struct mk_dist *d)
{
    if (!d || d->world == 1)
        return MK_OK;
    return d->nccl ? mk_dist_nccl_wait_all(d->nccl) : mk_dist_mpi_wait_all();
}

void mk_dist_set_wire(struct mk_dist *d, enum mk_dist_wire wire)
{
    if (d)
        d->bf16 = wire == MK_DIST_BF16;
}

mk_status mk_dist_sum_host(struct mk_dist *d, double *buf, size_t n)
{
    if (!d || d->world == 1)
        return MK_OK;
    return d->mpi ? mk_dist_mpi_sum_double(buf, n) : mk_dist_nccl_sum_double(d->nccl, buf, n);
}
