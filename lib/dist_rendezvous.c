/* dist_rendezvous.c — handing a few bytes (the NCCL unique id) from rank 0 to the other
 * ranks through a file on a shared file system, for launches without MPI.
 *
 * Rank 0 writes PATH.tmp.PID, then link()s it to PATH: link fails if PATH exists, and a
 * reader sees either no PATH or the complete file, never a partial one. Readers poll for
 * PATH every 20 ms. Rank 0 removes PATH once NCCL's communicator is made (every rank has
 * joined it, so every rank has read PATH; dist.c), so the next run starts without it; a PATH
 * left by a crash is an error rather than a stale id.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "dist_backend.h"

mk_status mk_rendezvous_publish(const char *path, const void *buf, size_t bytes)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return mk_fail(MK_ERR_IO, "rendezvous %s: cannot create: %s", tmp, strerror(errno));
    int ok = write(fd, buf, bytes) == (ssize_t)bytes && fsync(fd) == 0;
    int err = errno;
    close(fd);
    mk_status st = MK_OK;
    if (!ok)
        st = mk_fail(MK_ERR_IO, "rendezvous %s: cannot write: %s", tmp, strerror(err));
    else if (link(tmp, path) != 0)
        st = errno == EEXIST
                 ? mk_fail(MK_ERR_IO, "rendezvous file %s already exists (left by an earlier "
                           "run?): remove it, or give each job its own path", path)
                 : mk_fail(MK_ERR_IO, "rendezvous %s: cannot create: %s", path,
                           strerror(errno));
    unlink(tmp);
    return st;
}

double mk_rendezvous_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mk_status mk_rendezvous_wait(const char *path, void *buf, size_t bytes, double timeout_s)
{
    const double t0 = mk_rendezvous_seconds();
    for (;;) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            ssize_t got = read(fd, buf, bytes);
            close(fd);
            if (got == (ssize_t)bytes)
                return MK_OK;
            return mk_fail(MK_ERR_FORMAT, "rendezvous file %s: expected %zu bytes, read %zd",
                           path, bytes, got);
        }
        if (errno != ENOENT)
            return mk_fail(MK_ERR_IO, "rendezvous %s: %s", path, strerror(errno));
        if (mk_rendezvous_seconds() - t0 > timeout_s)
            return mk_fail(MK_ERR_IO, "rendezvous: rank 0 did not create %s within %.0f s "
                           "(is MAMBAKIT_RENDEZVOUS the same shared path on every rank?)",
                           path, timeout_s);
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
}
