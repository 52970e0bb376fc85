/* rng.c — deterministic random numbers: xoshiro256** (Blackman & Vigna) seeded through
 * splitmix64. The state is four words of plain data, so a training run can save it in a
 * checkpoint and resume bit-identically.
 */
#include <math.h>
#include "mambakit.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mk_rng_seed(struct mk_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t mk_rng_next(struct mk_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mk_rng_uniform(struct mk_rng *r)
{
    return (double)(mk_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box–Muller: z = sqrt(-2 ln u1) cos(2 pi u2), with u1 in (0, 1]. */
double mk_rng_normal(struct mk_rng *r)
{
    double u1 = 1.0 - mk_rng_uniform(r);
    double u2 = mk_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
