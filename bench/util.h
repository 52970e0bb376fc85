/* util.h — what the benchmark programs share: a monotonic clock and a fatal error that
 * names the program, the failed step and the library's message. Each program defines
 * BENCH_NAME before including it. */
#ifndef MK_BENCH_UTIL_H
#define MK_BENCH_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "mambakit.h"

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", BENCH_NAME, what, mk_last_error());
    exit(1);
}

#endif
