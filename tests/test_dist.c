/* test_dist.c — the communicator without a launcher (lib/dist.h): world 1 is an identity;
 * the environment's rank variables are checked and a world > 1 without a usable backend
 * fails naming what is missing; the rendezvous file hands bytes from a writer process to
 * reader processes started before it, and refuses a file left by an earlier run. The
 * 2-rank training over MPI is tests/test_dist.sh.
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../lib/dist.h"
#include "../lib/dist_backend.h"
#include "tap.h"

static void clear_env(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MAMBAKIT_WORLD_SIZE",
                           "MAMBAKIT_RANK", "MAMBAKIT_RENDEZVOUS", "MAMBAKIT_LOCAL_RANK",
                           "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
}

/* mk_dist_open fails and its message holds `expect`. */
static int open_fails(enum mk_device dev, const char *expect)
{
    struct mk_dist *d = NULL;
    mk_status st = mk_dist_open(&d, dev, 0);
    if (st == MK_OK) {
        mk_dist_close(d);
        return 0;
    }
    if (!strstr(mk_last_error(), expect)) {
        diag("message: %s", mk_last_error());
        return 0;
    }
    return 1;
}

static void test_world_one(void)
{
    clear_env();
    struct mk_dist *d = NULL;
    float x[3] = {1.5f, -2.0f, 3.25f};
    double y[2] = {0.5, 7.0};
    unsigned char b[4] = {1, 2, 3, 4};
    mk_status st = mk_dist_open(&d, MK_DEVICE_CPU, 0);
    ok(st == MK_OK && mk_dist_world(d) == 1 && mk_dist_rank(d) == 0,
       "no launcher: world 1, rank 0");
    st = mk_dist_sum(d, x, 3);
    if (st == MK_OK)
        st = mk_dist_sum_host(d, y, 2);
    if (st == MK_OK)
        st = mk_dist_broadcast(d, b, 4, 0);
    if (st == MK_OK)
        st = mk_dist_barrier(d);
    ok(st == MK_OK && x[0] == 1.5f && x[1] == -2.0f && x[2] == 3.25f && y[0] == 0.5 &&
           y[1] == 7.0 && b[3] == 4, "world 1: sum, broadcast and barrier leave the data as is");
    mk_dist_close(d);
    setenv("MAMBAKIT_WORLD_SIZE", "1", 1);
    st = mk_dist_open(&d, MK_DEVICE_CUDA, 0);
    ok(st == MK_OK && mk_dist_world(d) == 1, "MAMBAKIT_WORLD_SIZE=1 needs no backend");
    mk_dist_close(d);
}

static void test_env_errors(void)
{
    clear_env();
    setenv("MAMBAKIT_WORLD_SIZE", "2", 1);
    ok(open_fails(MK_DEVICE_CPU, "MAMBAKIT_RANK is not set"), "a world without a rank fails");
    setenv("MAMBAKIT_RANK", "2", 1);
    ok(open_fails(MK_DEVICE_CPU, "MAMBAKIT_RANK=2 is not below MAMBAKIT_WORLD_SIZE=2"),
       "a rank outside the world fails");
    setenv("MAMBAKIT_RANK", "x1", 1);
    ok(open_fails(MK_DEVICE_CPU, "MAMBAKIT_RANK=x1: expected a whole number"),
       "a rank that is not a number fails");
    setenv("MAMBAKIT_RANK", "1", 1);
    ok(open_fails(MK_DEVICE_CPU, "needs MPI; launch with mpirun -np 2"),
       "2 CPU ranks without mpirun: the error says MPI is needed");
    ok(open_fails(MK_DEVICE_CUDA, mk_dist_have_nccl() ? "MAMBAKIT_RENDEZVOUS=file:PATH"
                                                      : "need NCCL"),
       "2 CUDA ranks: the error names NCCL (or the missing rendezvous)");
    setenv("MAMBAKIT_LOCAL_RANK", "3", 1);
    ok(mk_dist_local_rank() == 3, "MAMBAKIT_LOCAL_RANK gives the local rank");
    unsetenv("MAMBAKIT_LOCAL_RANK");
    ok(mk_dist_local_rank() == 1, "without it the local rank is the rank");
    clear_env();
}

/* Three readers wait for the file a writer publishes 100 ms after them. */
static void test_rendezvous(void)
{
    char dir[] = "/tmp/mk-dist-XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/id", dir);
    unsigned char id[MK_NCCL_ID_BYTES];
    for (int i = 0; i < MK_NCCL_ID_BYTES; i++)
        id[i] = (unsigned char)(i * 37 + 11);
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        if ((kids[k] = fork()) == 0) {
            unsigned char got[MK_NCCL_ID_BYTES];
            mk_status st = mk_rendezvous_wait(path, got, sizeof got, 10);
            _exit(st == MK_OK && !memcmp(got, id, sizeof id) ? 0 : 1);
        }
    }
    usleep(100000);
    mk_status st = mk_rendezvous_publish(path, id, sizeof id);
    int good = 0;
    for (int k = 0; k < 3; k++) {
        int ws;
        waitpid(kids[k], &ws, 0);
        good += WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
    }
    ok(st == MK_OK && good == 3, "3 waiting readers get the bytes published after them");
    st = mk_rendezvous_publish(path, id, sizeof id);
    ok(st != MK_OK && strstr(mk_last_error(), "already exists"),
       "publishing over an existing file is refused");
    unlink(path);
    unsigned char got[MK_NCCL_ID_BYTES];
    st = mk_rendezvous_wait(path, got, sizeof got, 0.1);
    ok(st != MK_OK && strstr(mk_last_error(), "did not create"),
       "a reader gives up after its timeout, naming the file");
    rmdir(dir);
}

int main(void)
{
    plan(13);
    test_world_one();
    test_env_errors();
    test_rendezvous();
    return exit_status();
}
