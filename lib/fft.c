/* fft.c — iterative radix-2 FFT (fft.h). The input is put in bit-reversed order, then for
 * each span m = 2, 4, ..., n every pair (a, b) at distance m/2 inside a block becomes
 *   a' = a + w b,  b' = a - w b,  w = e^{-2 pi i j / m}  (j: the pair's place in the block),
 * with w computed directly (cos, sin) for each j so errors do not accumulate along a block.
 */
#include <math.h>
#include "fft.h"

static void bit_reverse(double *x, size_t n)
{
    for (size_t i = 1, j = 0; i < n; i++) {
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j |= bit;
        if (i < j) {
            double re = x[2 * i], im = x[2 * i + 1];
            x[2 * i] = x[2 * j], x[2 * i + 1] = x[2 * j + 1];
            x[2 * j] = re, x[2 * j + 1] = im;
        }
    }
}

void mk_fft(double *x, size_t n)
{
    bit_reverse(x, n);
    for (size_t m = 2; m <= n; m <<= 1) {
        const size_t half = m / 2;
        for (size_t j = 0; j < half; j++) {
            const double angle = -2.0 * M_PI * (double)j / (double)m;
            const double wr = cos(angle), wi = sin(angle);
            for (size_t a = j; a < n; a += m) {
                const size_t b = a + half;
                const double br = x[2 * b] * wr - x[2 * b + 1] * wi;
                const double bi = x[2 * b] * wi + x[2 * b + 1] * wr;
                x[2 * b] = x[2 * a] - br, x[2 * b + 1] = x[2 * a + 1] - bi;
                x[2 * a] += br, x[2 * a + 1] += bi;
            }
        }
    }
}
