/* dist.h — the communicator of data-parallel training: this process's rank among `world`
 * processes, and the collectives the trainer needs (barrier, broadcast, in-place sum).
 *
 *     struct mk_dist *d;
 *     if (mk_dist_open(&d, MK_DEVICE_CPU, 0) != MK_OK) ... mk_last_error() says why
 *     mk_dist_sum(d, grads, n);            // every rank now holds the sum over ranks
 *     mk_dist_close(d);
 *
 * Where the ranks come from (the first that applies):
 *   - mpirun (Open MPI: OMPI_COMM_WORLD_SIZE; MPICH / Slurm PMI: PMI_SIZE): MPI_Init, ranks
 *     from MPI_COMM_WORLD;
 *   - MAMBAKIT_RANK and MAMBAKIT_WORLD_SIZE (job schedulers, no MPI): with CUDA, the NCCL
 *     unique id travels through MAMBAKIT_RENDEZVOUS=file:PATH (dist_rendezvous.c);
 *   - neither: world 1, every collective an identity.
 * The local rank (which GPU of the host: run.device's index + local rank) is
 * OMPI_COMM_WORLD_LOCAL_RANK, else MAMBAKIT_LOCAL_RANK, else the rank.
 *
 * Backends: world 1 needs none. On the CPU the buffers are host memory and MPI sums them
 * (MPI_Allreduce); on CUDA they are device memory and NCCL sums them (ncclAllReduce), the
 * unique id broadcast over MPI or the rendezvous file. A world > 1 whose backend this build
 * lacks (configure --with-mpi / --with-nccl) fails in mk_dist_open, naming what is missing.
 * Every collective must be called by all ranks in the same order.
 */
#ifndef MK_DIST_H
#define MK_DIST_H

#include <stddef.h>
#include "mambakit.h"

struct mk_dist;

/* The communicator of this process for buffers on `dev` (CUDA: device `device_index`, the
 * model's); world 1 gets one too. */
mk_status mk_dist_open(struct mk_dist **out, enum mk_device dev, int device_index);
/* Ends the collectives (MPI_Finalize, ncclCommDestroy) and frees d (NULL is fine). */
void mk_dist_close(struct mk_dist *d);
/* After a failure on this rank: the others would wait for it forever in the next
 * collective, so with world > 1 this prints the error and ends every rank (MPI_Abort, or
 * exit(1) for NCCL-only worlds, whose peers then fail in NCCL). A no-op with world 1. */
void mk_dist_abort(struct mk_dist *d, mk_status st);

int mk_dist_rank(const struct mk_dist *d);  /* 0 .. world-1; 0 for NULL */
int mk_dist_world(const struct mk_dist *d); /* 1 for NULL */
/* The rank among the processes of this host, from the environment (usable before open). */
int mk_dist_local_rank(void);

mk_status mk_dist_barrier(struct mk_dist *d);
/* Copies `bytes` of host memory at buf from rank root to every rank. */
mk_status mk_dist_broadcast(struct mk_dist *d, void *buf, size_t bytes, int root);
/* buf[i] = sum over ranks of buf[i], for n floats in the memory of the backend of `dev`
 * (host memory on the CPU, device memory on CUDA), once the kernels writing them have
 * finished (ops->sync()). The result is bitwise the same on every rank. */
mk_status mk_dist_sum(struct mk_dist *d, float *buf, size_t n);
/* The same for n doubles in host memory (losses, counters, flags). */
mk_status mk_dist_sum_host(struct mk_dist *d, double *buf, size_t n);

#endif /* MK_DIST_H */
