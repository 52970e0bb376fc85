/* dist_rendezvous_tcp.c — handing a few bytes (the NCCL unique id) from rank 0 to the other
 * ranks over TCP, for launches without MPI and without a shared file system
 * (MAMBAKIT_RENDEZVOUS=tcp:HOST:PORT, HOST naming rank 0's host).
 *
 * Rank 0 listens on PORT on every interface of its host. Each other rank connects to
 * HOST:PORT (retrying every 50 ms while nothing listens there yet: rank 0 may start last)
 * and says who it is, a 4-byte tag and its rank (4 bytes, little-endian); rank 0 answers the
 * tag and the bytes and closes the connection. Rank 0 is done when every rank 1..world-1 has
 * been answered (a rank that asks twice, after a broken connection, is answered again; a
 * connection that says nothing valid within 2 s is dropped), which NCCL's setup needs anyway.
 * Each side checks the other's tag, so a stray program on that port is an error rather than
 * a wrong id.
 */
#include "config.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "dist_backend.h"

static const char tag[4] = {'M', 'K', 'R', '1'};

/* HOST and PORT of "HOST:PORT" ("[v6 address]:PORT" too). */
static mk_status split_hostport(const char *spec, char *host, size_t hlen, char *port,
                                size_t plen)
{
    const char *whole = spec, *colon = strrchr(spec, ':');
    const char *p = colon ? colon + 1 : "";
    int digits = (int)strlen(p) > 0 && (int)strlen(p) <= 5;
    for (const char *c = p; *c && digits; c++)
        digits = *c >= '0' && *c <= '9';
    long number = digits ? strtol(p, NULL, 10) : 0;
    size_t n = colon ? (size_t)(colon - spec) : 0;
    if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']')
        spec++, n -= 2;
    if (!colon || n == 0 || n >= hlen || number < 1 || number > 65535)
        return mk_fail(MK_ERR_INVALID, "MAMBAKIT_RENDEZVOUS=tcp:%s: expected tcp:HOST:PORT "
                       "(rank 0's host name or address, and a free port 1..65535)", whole);
    memcpy(host, spec, n);
    host[n] = 0;
    snprintf(port, plen, "%ld", number);
    return MK_OK;
}

/* Sends (`out`) or receives all `bytes` at buf over socket fd: 0, or -1 on an error, a time
 * limit or a closed connection. */
static int move_all(int fd, void *buf, size_t bytes, int out)
{
    char *p = buf;
    while (bytes > 0) {
        ssize_t k = out ? send(fd, p, bytes, MSG_NOSIGNAL) : recv(fd, p, bytes, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        bytes -= (size_t)k;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t bytes)
{
    return move_all(fd, (void *)buf, bytes, 1);
}

static int read_all(int fd, void *buf, size_t bytes)
{
    return move_all(fd, buf, bytes, 0);
}

/* A listening socket on PORT of every interface (IPv6 with IPv4 mapped, else IPv4). */
static int listen_on(const char *port, int *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *res, *a;
    int fd = -1, rc = getaddrinfo(NULL, port, &hints, &res);
    *err = rc ? EINVAL : 0;
    for (a = rc ? NULL : res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            *err = errno;
            close(fd);
            fd = -1;
        }
    }
    if (!rc)
        freeaddrinfo(res);
    return fd;
}

/* Sets both time limits of socket fd to `seconds` (connect() and send() use SO_SNDTIMEO). */
static void time_limit(int fd, double seconds)
{
    struct timeval tv = {.tv_sec = (time_t)seconds,
                         .tv_usec = (long)((seconds - (double)(long)seconds) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* The rank a connection announces (tag + rank), or -1. */
static int hello(int c)
{
    unsigned char m[sizeof tag + 4];
    time_limit(c, 2);
    if (read_all(c, m, sizeof m) != 0 || memcmp(m, tag, sizeof tag) != 0)
        return -1;
    const unsigned char *r = m + sizeof tag;
    return (int)((uint32_t)r[0] | (uint32_t)r[1] << 8 | (uint32_t)r[2] << 16 |
                 (uint32_t)r[3] << 24);
}

mk_status mk_rendezvous_serve_tcp(const char *spec, const void *buf, size_t bytes, int world,
                                  double timeout_s)
{
    char host[256], port[8];
    mk_status st = split_hostport(spec, host, sizeof host, port, sizeof port);
    if (st != MK_OK)
        return st;
    unsigned char *answered = calloc((size_t)world, 1);
    if (!answered)
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    int err, fd = listen_on(port, &err);
    if (fd < 0) {
        free(answered);
        return mk_fail(MK_ERR_IO, "rendezvous tcp:%s: cannot listen on port %s: %s (is it in "
                       "use? give each job its own port)", spec, port, strerror(err));
    }
    const double t0 = mk_rendezvous_seconds();
    int served = 0;
    while (served < world - 1) {
        const double left = timeout_s - (mk_rendezvous_seconds() - t0);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = left > 0 ? poll(&p, 1, (int)(left * 1000) + 1) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            st = mk_fail(MK_ERR_IO, "rendezvous tcp:%s: %d of the %d other ranks connected "
                         "within %g s (do they all have MAMBAKIT_RENDEZVOUS=tcp:%s, and can "
                         "they reach this host?)", spec, served, world - 1, timeout_s, spec);
            break;
        }
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            continue;
        const int r = hello(c);
        if (r >= 1 && r < world && write_all(c, tag, sizeof tag) == 0 &&
            write_all(c, buf, bytes) == 0 && !answered[r]) {
            answered[r] = 1;
            served++;
        }
        close(c);
    }
    close(fd);
    free(answered);
    return st;
}

/* One attempt: connect to an address of host:port, say hello as `rank` and read the tag and
 * the bytes; -1 if nothing answers there (yet), -2 if something answered with other bytes. */
static int fetch_once(const char *host, const char *port, int rank, void *buf, size_t bytes,
                      double left)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *a;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    unsigned char m[sizeof tag + 4];
    memcpy(m, tag, sizeof tag);
    for (int i = 0; i < 4; i++)
        m[sizeof tag + i] = (unsigned char)((uint32_t)rank >> (8 * i));
    int got = -1;
    for (a = res; a && got == -1; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        time_limit(fd, left < 5 ? left : 5);
        char t[sizeof tag];
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            got = write_all(fd, m, sizeof m) == 0 && read_all(fd, t, sizeof t) == 0 &&
                          !memcmp(t, tag, sizeof tag) && read_all(fd, buf, bytes) == 0
                      ? 0
                      : -2;
        close(fd);
    }
    freeaddrinfo(res);
    return got;
}

mk_status mk_rendezvous_fetch_tcp(const char *spec, int rank, void *buf, size_t bytes,
                                  double timeout_s)
{
    char host[256], port[8];
    mk_status st = split_hostport(spec, host, sizeof host, port, sizeof port);
    if (st != MK_OK)
        return st;
    const double t0 = mk_rendezvous_seconds();
    for (;;) {
        const double left = timeout_s - (mk_rendezvous_seconds() - t0);
        int got = fetch_once(host, port, rank, buf, bytes, left > 0.05 ? left : 0.05);
        if (got == 0)
            return MK_OK;
        if (got == -2)
            return mk_fail(MK_ERR_FORMAT, "rendezvous tcp:%s: something else answers on that "
                           "port (not a mambakit rank 0)", spec);
        if (mk_rendezvous_seconds() - t0 > timeout_s)
            return mk_fail(MK_ERR_IO, "rendezvous tcp:%s: rank 0 did not answer within %g s "
                           "(is MAMBAKIT_RENDEZVOUS the same on every rank, HOST rank 0's host, "
                           "and the port reachable?)", spec, timeout_s);
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
}
