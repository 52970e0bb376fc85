/* ops_common.h — helpers shared by the kernel tests (test_ops_fd.c, test_ops_ref.c):
 * a seeded random generator, random fills, a dot product and the scale-free error metric.
 * Header-only: every function is static inline. Everything is double; the float test
 * converts at its edges.
 */
#ifndef MK_TEST_OPS_COMMON_H
#define MK_TEST_OPS_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "tap.h"

/* splitmix64: a full-period 64-bit generator, good enough for test data */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static inline double rng_unif(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(s) >> 11) * 0x1.0p-53);
}

static inline void fill_unif(double *x, size_t n, double lo, double hi, uint64_t *s)
{
    for (size_t i = 0; i < n; i++)
        x[i] = rng_unif(s, lo, hi);
}

static inline double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* max|a - b| / max|b|: the error relative to the tensor's scale (max|a - b| when b is 0) */
static inline double rel_err(const double *a, const double *b, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        d = e > d || isnan(e) ? e : d;
        m = fabs(b[i]) > m ? fabs(b[i]) : m;
    }
    return m > 0 ? d / m : d;
}

/* calloc that bails out of the test on failure */
static inline void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        bail_out("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

#endif /* MK_TEST_OPS_COMMON_H */
