/* test_spectrogram.c — the pieces of `mambakit spectrogram` against independent references:
 *   1. mk_fft against the naive O(n^2) DFT sum, n = 1 .. 512, relative 1e-10;
 *   2. the spectrogram of a sine placed exactly on a bin has its loudest row at that bin's
 *      pixel row in every column, and a silent clip is ~200 dB below it;
 *   3. mk_png_write_rgb's file read back: signature, IHDR size and type, every chunk's CRC-32,
 *      and the IDAT inflating (zlib) to the pixels with filter byte 0 on each row.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "fft.h"
#include "png.h"
#include "spectrogram.h"
#include "tap.h"

static void test_fft(size_t n)
{
    double *x = malloc(2 * n * sizeof *x), *in = malloc(2 * n * sizeof *in);
    for (size_t i = 0; i < 2 * n; i++)
        in[i] = x[i] = sin(0.7 * i * i + 1.3) + 0.25 * cos(3.1 * i);
    mk_fft(x, n);
    double err = 0, scale = 0;
    for (size_t k = 0; k < n; k++) {
        double re = 0, im = 0;
        for (size_t t = 0; t < n; t++) {
            const double a = -2.0 * M_PI * (double)((k * t) % n) / (double)n;
            re += in[2 * t] * cos(a) - in[2 * t + 1] * sin(a);
            im += in[2 * t] * sin(a) + in[2 * t + 1] * cos(a);
        }
        err = fmax(err, fmax(fabs(re - x[2 * k]), fabs(im - x[2 * k + 1])));
        scale = fmax(scale, hypot(re, im));
    }
    ok(err <= 1e-10 * fmax(scale, 1), "fft n=%zu matches the naive DFT (max err %.2g of %.3g)", n,
       err, scale);
    free(x);
    free(in);
}

static void test_sine(void)
{
    const size_t n = 16000;
    const int bin = 40; /* frequency = 40 / 512 of the rate: pixel row 20 from the bottom */
    float *s = malloc(n * sizeof *s), *db = malloc(MK_SPEC_ROWS * MK_SPEC_COLUMNS * sizeof *db);
    for (size_t t = 0; t < n; t++)
        s[t] = (float)sin(2.0 * M_PI * bin * (double)t / MK_SPEC_FRAME);
    mk_spectrogram_db(db, s, n);
    const int want = MK_SPEC_ROWS - 1 - bin / 2;
    int right = 0;
    for (int c = 0; c < MK_SPEC_COLUMNS; c++) {
        int best = 0;
        for (int r = 1; r < MK_SPEC_ROWS; r++)
            if (db[r * MK_SPEC_COLUMNS + c] > db[best * MK_SPEC_COLUMNS + c])
                best = r;
        right += best == want;
    }
    ok(right == MK_SPEC_COLUMNS, "sine on bin %d: loudest pixel row %d in %d of %d columns", bin,
       want, right, MK_SPEC_COLUMNS);
    const float peak = db[want * MK_SPEC_COLUMNS];
    memset(s, 0, n * sizeof *s);
    mk_spectrogram_db(db, s, n);
    ok(peak - db[0] > 150, "silence is %.0f dB below the sine's peak", peak - db[0]);
    free(s);
    free(db);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_png(void)
{
    enum { W = 5, H = 3 };
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        rgb[i] = (uint8_t)(i * 37 + 11);
    char path[] = "/tmp/test_spectrogram_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        bail_out("mkstemp");
    if (mk_png_write_rgb(path, rgb, W, H) != MK_OK)
        bail_out("png: %s", mk_last_error());
    unsigned char *f;
    size_t len;
    if (mk_read_file(path, &f, &len) != MK_OK)
        bail_out("read: %s", mk_last_error());
    remove(path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ok(len > 8 && !memcmp(f, sig, 8), "PNG signature");
    ok(len > 33 && !memcmp(f + 12, "IHDR", 4) && get32(f + 16) == W && get32(f + 20) == H &&
       f[24] == 8 && f[25] == 2, "IHDR: %d x %d, 8-bit RGB", W, H);
    int crc_ok = 1, n_chunks = 0;
    unsigned char raw[H * (1 + 3 * W)];
    uLongf raw_len = 0;
    for (size_t p = 8; p + 12 <= len; n_chunks++) {
        const uint32_t n = get32(f + p);
        if (p + 12 + n > len)
            break;
        crc_ok &= crc32(0, f + p + 4, n + 4) == get32(f + p + 8 + n);
        if (!memcmp(f + p + 4, "IDAT", 4)) {
            raw_len = sizeof raw;
            if (uncompress(raw, &raw_len, f + p + 8, n) != Z_OK)
                raw_len = 0;
        }
        p += 12 + n;
    }
    ok(crc_ok && n_chunks == 3, "3 chunks, every CRC-32 right");
    int same = raw_len == sizeof raw;
    for (int y = 0; same && y < H; y++)
        same = raw[y * (1 + 3 * W)] == 0 && !memcmp(raw + y * (1 + 3 * W) + 1, rgb + y * 3 * W, 3 * W);
    ok(same, "IDAT inflates to the pixels, filter 0 on every row");
    free(f);
}

int main(void)
{
    plan_lazy();
    for (size_t n = 1; n <= 512; n *= 2)
        test_fft(n);
    test_sine();
    test_png();
    return exit_status();
}
