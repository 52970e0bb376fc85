/* test_dist.c — the communicator without a launcher (lib/dist.h): world 1 is an identity;
 * the environment's rank variables are checked and a world > 1 without a usable backend
 * fails naming what is missing; the rendezvous file hands bytes from a writer process to
 * reader processes started before it, and refuses a file left by an earlier run. The
 * 2-rank training over MPI is tests/test_dist.sh.
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
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

/* an id of MK_NCCL_ID_BYTES bytes that differ from each other and from other seeds' */
static void fill_id(unsigned char *id, int seed)
{
    for (int i = 0; i < MK_NCCL_ID_BYTES; i++)
        id[i] = (unsigned char)(i * 37 + seed);
}

/* 3 reader processes, started before the writer: reader k fetches MK_NCCL_ID_BYTES from
 * `where` (a file, or host:port) as rank ranks[k] within 10 s and exits 0 when they are
 * `id`. */
typedef mk_status (*fetch_fn)(const char *where, int rank, void *buf, size_t bytes,
                              double timeout_s);
static void start_readers(pid_t kids[3], fetch_fn fetch, const char *where,
                          const unsigned char *id, const int ranks[3])
{
    for (int k = 0; k < 3; k++) {
        if ((kids[k] = fork()) == 0) {
            unsigned char got[MK_NCCL_ID_BYTES];
            mk_status st = fetch(where, ranks[k], got, sizeof got, 10);
            _exit(st == MK_OK && !memcmp(got, id, sizeof got) ? 0 : 1);
        }
    }
}

/* the file rendezvous as a fetch_fn (every rank reads the same file) */
static mk_status wait_file(const char *path, int rank, void *buf, size_t bytes, double t)
{
    (void)rank;
    return mk_rendezvous_wait(path, buf, bytes, t);
}

static const int ranks123[3] = {1, 2, 3};

/* how many of the 3 readers got the bytes */
static int readers_good(const pid_t kids[3])
{
    int good = 0;
    for (int k = 0; k < 3; k++) {
        int ws;
        waitpid(kids[k], &ws, 0);
        good += WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
    }
    return good;
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
    fill_id(id, 11);
    pid_t kids[3];
    start_readers(kids, wait_file, path, id, ranks123);
    usleep(100000);
    mk_status st = mk_rendezvous_publish(path, id, sizeof id);
    ok(st == MK_OK && readers_good(kids) == 3,
       "3 waiting readers get the bytes published after them");
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

/* A TCP port of 127.0.0.1 that nothing listens on (the kernel's pick; *fd keeps it bound
 * but not listening, so no other program takes it meanwhile: close it before using it). */
static int free_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(*fd, (struct sockaddr *)&a, &len) != 0)
        return 0;
    return ntohs(a.sin_port);
}

/* MAMBAKIT_RENDEZVOUS=tcp:HOST:PORT: three readers started before rank 0 listens. */
static void test_rendezvous_tcp(void)
{
    int hold, port = free_port(&hold);
    char spec[64];
    snprintf(spec, sizeof spec, "127.0.0.1:%d", port);
    close(hold);
    unsigned char id[MK_NCCL_ID_BYTES];
    fill_id(id, 7);
    pid_t kids[3];
    start_readers(kids, mk_rendezvous_fetch_tcp, spec, id, ranks123);
    usleep(200000);
    mk_status st = mk_rendezvous_serve_tcp(spec, id, sizeof id, 4, 10);
    ok(st == MK_OK && readers_good(kids) == 3,
       "tcp: 3 ranks connecting before rank 0 listens get the bytes");
    /* world 3: rank 1 twice and a connection that says nothing valid stand for 1 rank */
    const int twice[3] = {1, 1, 0};
    start_readers(kids, mk_rendezvous_fetch_tcp, spec, id, twice);
    st = mk_rendezvous_serve_tcp(spec, id, sizeof id, 3, 1);
    readers_good(kids);
    ok(st != MK_OK && strstr(mk_last_error(), "1 of the 2 other ranks connected"),
       "tcp: rank 0 waits for every rank: a rank asking twice or a stray connection is no "
       "other rank, and it gives up saying how many came");
    unsigned char got[MK_NCCL_ID_BYTES];
    st = mk_rendezvous_fetch_tcp(spec, 1, got, sizeof got, 0.2);
    ok(st != MK_OK && strstr(mk_last_error(), "rank 0 did not answer"),
       "tcp: a rank gives up when rank 0 does not answer, naming host and port");
    st = mk_rendezvous_fetch_tcp("localhost", 1, got, sizeof got, 1);
    mk_status st2 = mk_rendezvous_fetch_tcp("localhost:99999", 1, got, sizeof got, 1);
    ok(st != MK_OK && st2 != MK_OK && strstr(mk_last_error(), "expected tcp:HOST:PORT"),
       "tcp: a spec without a valid port is refused");
    /* a port some other program listens on: rank 0 cannot take it, and a rank reading from
     * that program gets an error instead of its bytes */
    int other = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* past TIME_WAIT */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int listening = other >= 0 && bind(other, (struct sockaddr *)&a, sizeof a) == 0 &&
                    listen(other, 4) == 0;
    pid_t talker = listening ? fork() : -1;
    if (talker == 0) { /* answers one connection with 132 bytes of something else */
        int c = accept(other, NULL, NULL);
        char junk[4 + MK_NCCL_ID_BYTES] = "HTTP";
        if (c >= 0 && write(c, junk, sizeof junk) < 0)
            _exit(1);
        _exit(0);
    }
    st = mk_rendezvous_fetch_tcp(spec, 1, got, sizeof got, 5);
    int ws = 0;
    if (talker > 0)
        waitpid(talker, &ws, 0);
    if (!listening)
        diag("could not listen on port %d for the test", port);
    ok(listening && st != MK_OK && strstr(mk_last_error(), "something else answers"),
       "tcp: bytes from another program on that port are refused");
    st = mk_rendezvous_serve_tcp(spec, id, sizeof id, 2, 0.2);
    ok(listening && st != MK_OK && strstr(mk_last_error(), "cannot listen"),
       "tcp: a port in use is refused, naming it");
    if (other >= 0)
        close(other);
}

int main(void)
{
    plan(19);
    test_world_one();
    test_env_errors();
    test_rendezvous();
    test_rendezvous_tcp();
    return exit_status();
}
