/* fft.h — the discrete Fourier transform of a power-of-two length, for spectrograms:
 *   X[k] = sum_{t<n} x[t] e^{-2 pi i k t / n},  k < n
 * in place on interleaved (re, im) pairs, radix-2 decimation in time.
 */
#ifndef MK_FFT_H
#define MK_FFT_H
#include <stddef.h>

/* n a power of two (>= 1); x holds 2n doubles: re0, im0, re1, im1, ... */
void mk_fft(double *x, size_t n);

#endif
