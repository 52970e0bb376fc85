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
 *     unique id travels through MAMBAKIT_RENDEZVOUS=file:PATH (dist_rendezvous.c) or
 *     tcp:HOST:PORT (dist_rendezvous_tcp.c);
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
/* The number of processes the launcher announces in the environment (mpirun, PMI,
 * MAMBAKIT_WORLD_SIZE), without opening anything; 1 when none does. */
int mk_dist_launched_world(void);

mk_status mk_dist_barrier(struct mk_dist *d);
/* Copies `bytes` of host memory at buf from rank root to every rank. */
mk_status mk_dist_broadcast(struct mk_dist *d, void *buf, size_t bytes, int root);
/* buf[i] = sum over ranks of buf[i], for n floats in the memory of the backend of `dev`
 * (host memory on the CPU, device memory on CUDA), as written by the kernels issued before
 * the call (CUDA: the sum waits for them on the device). Returns when the sum is done. The
 * result is bitwise the same on every rank. */
mk_status mk_dist_sum(struct mk_dist *d, float *buf, size_t n);
/* The same for n doubles in host memory (losses, counters, flags). */
mk_status mk_dist_sum_host(struct mk_dist *d, double *buf, size_t n);

/* Non-blocking float sums, to overlap the gradient all-reduce with the backward pass
 * (lib/dist_buckets.h). mk_dist_sum_start starts buf[i] = sum over ranks of buf[i] for n
 * floats of the backend's memory, as written by the kernels issued before the call: on CUDA
 * an event recorded on the compute stream makes the communicator's stream wait, then
 * ncclAllReduce runs there while the compute stream goes on; on the CPU MPI_Iallreduce.
 * Until mk_dist_wait_all returns, nothing may read or write those floats. mk_dist_progress
 * lets MPI move the started sums along (MPI_Testall; a hint only: wait_all completes them
 * anyway). mk_dist_wait_all: every started sum is done (CUDA: kernels issued afterwards on
 * the compute stream see the sums; the host is not blocked). The results are those of
 * mk_dist_sum. World 1: nothing to do, nothing allocated. */
mk_status mk_dist_sum_start(struct mk_dist *d, float *buf, size_t n);
void mk_dist_progress(struct mk_dist *d);
mk_status mk_dist_wait_all(struct mk_dist *d);

/* The number format of the float sums (mk_dist_sum, mk_dist_sum_start) between ranks: fp32
 * (the default), or bf16, half the bytes: every rank's value rounded to bf16 (to nearest,
 * ties to even), the values added in fp32 with each partial sum rounded to bf16 (NCCL's
 * ncclBfloat16 sum; on MPI a user operation doing the same), the result widened back to fp32
 * in place. With 2 ranks: bf16(bf16(x_0) + bf16(x_1)). World 1: nothing changes. */
enum mk_dist_wire { MK_DIST_FP32, MK_DIST_BF16 };
void mk_dist_set_wire(struct mk_dist *d, enum mk_dist_wire wire);

#endif /* MK_DIST_H */
