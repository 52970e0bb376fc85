/* dist_backend.h — internal to lib/dist*.c: the MPI and NCCL halves of the communicator
 * (dist_mpi.c, dist_nccl.c) and the rendezvous file (dist_rendezvous.c). In a build without
 * MPI (NCCL) the functions of that half fail with MK_ERR_UNSUPPORTED, so dist.c has no
 * #ifdef: it asks mk_dist_have_mpi() / mk_dist_have_nccl() first.
 */
#ifndef MK_DIST_BACKEND_H
#define MK_DIST_BACKEND_H

#include <stddef.h>
#include "mambakit.h"

/* ---- MPI on host buffers (MPI_COMM_WORLD) ---- */
int mk_dist_have_mpi(void);
mk_status mk_dist_mpi_init(int *rank, int *world);
void mk_dist_mpi_finalize(void);
void mk_dist_mpi_abort(void);
mk_status mk_dist_mpi_barrier(void);
mk_status mk_dist_mpi_broadcast(void *buf, size_t bytes, int root);
/* bf16: as mk_dist_set_wire says; the blocking bf16 sum also completes any started sums */
mk_status mk_dist_mpi_sum_float(float *buf, size_t n, int bf16);
mk_status mk_dist_mpi_sum_double(double *buf, size_t n);
/* non-blocking float sums: started (MPI_Iallreduce; the requests are kept in dist_mpi.c, as
 * MPI_COMM_WORLD is one per process), helped along (MPI_Testall), waited for (MPI_Waitall;
 * bf16 sums are widened back into their floats then) */
mk_status mk_dist_mpi_sum_float_start(float *buf, size_t n, int bf16);
void mk_dist_mpi_progress(void);
mk_status mk_dist_mpi_wait_all(void);

/* ---- NCCL on device buffers ---- */
enum { MK_NCCL_ID_BYTES = 128 }; /* NCCL_UNIQUE_ID_BYTES */
struct mk_nccl;
int mk_dist_have_nccl(void);
/* ncclGetUniqueId (rank 0 makes it, the others receive it) */
mk_status mk_dist_nccl_unique_id(unsigned char id[MK_NCCL_ID_BYTES]);
/* ncclCommInitRank on CUDA device `device` (cudaSetDevice first) */
mk_status mk_dist_nccl_open(struct mk_nccl **out, const unsigned char id[MK_NCCL_ID_BYTES],
                            int rank, int world, int device);
void mk_dist_nccl_close(struct mk_nccl *c);
/* in-place sums, waited for: device floats (bf16: summed as bf16, see mk_dist_set_wire), and
 * host doubles staged through the device */
mk_status mk_dist_nccl_sum_float(struct mk_nccl *c, float *dev_buf, size_t n, int bf16);
mk_status mk_dist_nccl_sum_double(struct mk_nccl *c, double *host_buf, size_t n);
mk_status mk_dist_nccl_broadcast(struct mk_nccl *c, void *host_buf, size_t bytes, int root);
/* the non-blocking float sum (mk_dist_sum_start): after the work issued so far on the
 * backend's compute stream, on the communicator's stream; wait_all makes the compute stream
 * wait for every sum started since the last wait_all */
mk_status mk_dist_nccl_sum_start(struct mk_nccl *c, float *dev_buf, size_t n, int bf16);
mk_status mk_dist_nccl_wait_all(struct mk_nccl *c);
/* lib/dist_bf16.cu (CUDA builds): dst[i] = bf16(src[i]) rounded to nearest even, and
 * dst[i] = (float)src[i], n elements on `stream` (a cudaStream_t); 0 or the cudaError_t of the
 * launch */
int mk_dist_bf16_pack(unsigned short *dst, const float *src, size_t n, void *stream);
int mk_dist_bf16_unpack(float *dst, const unsigned short *src, size_t n, void *stream);

/* ---- the rendezvous file (MAMBAKIT_RENDEZVOUS=file:PATH, dist_rendezvous.c) ---- */
/* Rank 0: writes bytes to PATH atomically (a temporary file linked into place); fails if
 * PATH exists (a previous run's: the other ranks could read its stale id). */
mk_status mk_rendezvous_publish(const char *path, const void *buf, size_t bytes);
/* The other ranks: wait up to timeout_s seconds for PATH, then read its bytes. */
mk_status mk_rendezvous_wait(const char *path, void *buf, size_t bytes, double timeout_s);
/* Seconds of the monotonic clock, for both rendezvous' time limits. */
double mk_rendezvous_seconds(void);

/* ---- the TCP rendezvous (MAMBAKIT_RENDEZVOUS=tcp:HOST:PORT, dist_rendezvous_tcp.c) ---- */
/* Rank 0: listens on PORT (every interface) and sends the bytes to each of the ranks
 * 1 .. world-1 as it connects, failing if they have not all come within timeout_s seconds. */
mk_status mk_rendezvous_serve_tcp(const char *hostport, const void *buf, size_t bytes,
                                  int world, double timeout_s);
/* Rank `rank` > 0: connects to HOST:PORT (retrying while nothing listens) and reads the
 * bytes, within timeout_s seconds. */
mk_status mk_rendezvous_fetch_tcp(const char *hostport, int rank, void *buf, size_t bytes,
                                  double timeout_s);

#endif /* MK_DIST_BACKEND_H */
