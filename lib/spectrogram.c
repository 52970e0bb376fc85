/* spectrogram.c — spectrogram.h: STFT power in dB per clip, panels laid out in rows on a
 * white page with a 4-pixel gap, written as PNG (png.c). */
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include "fft.h"
#include "png.h"
#include "spectrogram.h"

#define GAP 4

void mk_spectrogram_db(float *db, const float *samples, size_t n)
{
    double frame[2 * MK_SPEC_FRAME];
    for (int c = 0; c < MK_SPEC_COLUMNS; c++) {
        const size_t t0 = (size_t)c * MK_SPEC_HOP;
        for (int t = 0; t < MK_SPEC_FRAME; t++) {
            const double hann = 0.5 - 0.5 * cos(2.0 * M_PI * t / MK_SPEC_FRAME);
            frame[2 * t] = t0 + t < n ? hann * samples[t0 + t] : 0.0;
            frame[2 * t + 1] = 0.0;
        }
        mk_fft(frame, MK_SPEC_FRAME);
        for (int r = 0; r < MK_SPEC_ROWS; r++) { /* pixel r from the bottom: bins 2r, 2r+1 */
            double p = 0;
            for (int k = 2 * r; k < 2 * r + 2; k++)
                p += 0.5 * (frame[2 * k] * frame[2 * k] + frame[2 * k + 1] * frame[2 * k + 1]);
            db[(size_t)(MK_SPEC_ROWS - 1 - r) * MK_SPEC_COLUMNS + c] =
                (float)(10.0 * log10(p + 1e-20));
        }
    }
}

/* The first MK_SPEC_COLUMNS hops + one frame of a file, channels averaged, into buf. */
static mk_status read_clip(const char *path, float *buf, size_t cap, size_t *n)
{
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f)
        return mk_fail(MK_ERR_IO, "%s: cannot read it as audio: %s", path, sf_strerror(NULL));
    float *frames = malloc(cap * (size_t)info.channels * sizeof *frames);
    if (!frames) {
        sf_close(f);
        return mk_fail(MK_ERR_NOMEM, "%s: out of memory", path);
    }
    const sf_count_t got = sf_readf_float(f, frames, (sf_count_t)cap);
    sf_close(f);
    for (sf_count_t i = 0; i < got; i++) {
        float s = 0;
        for (int ch = 0; ch < info.channels; ch++)
            s += frames[i * info.channels + ch];
        buf[i] = s / info.channels;
    }
    free(frames);
    *n = got > 0 ? (size_t)got : 0;
    return *n ? MK_OK : mk_fail(MK_ERR_FORMAT, "%s: no audio samples", path);
}

/* dB -> colour: black, purple, orange, yellow at 0, 1/3, 2/3, 1 of the range */
static void colour(float v, uint8_t *rgb)
{
    static const float stops[4][3] = {{0, 0, 4}, {120, 28, 129}, {241, 105, 19}, {252, 253, 191}};
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    const float x = v * 3;
    const int i = x >= 3 ? 2 : (int)x;
    const float f = x - i;
    for (int ch = 0; ch < 3; ch++)
        rgb[ch] = (uint8_t)lrintf(stops[i][ch] + f * (stops[i + 1][ch] - stops[i][ch]));
}

mk_status mk_spectrogram_picture(const char *png, const char *const *const *rows,
                                 const int *n_files, int n_rows, int per_row)
{
    const size_t panel = (size_t)MK_SPEC_ROWS * MK_SPEC_COLUMNS;
    const size_t cap = (size_t)(MK_SPEC_COLUMNS - 1) * MK_SPEC_HOP + MK_SPEC_FRAME;
    int cols = 0;
    for (int r = 0; r < n_rows; r++)
        cols = n_files[r] < per_row ? (n_files[r] > cols ? n_files[r] : cols) : per_row;
    if (n_rows <= 0 || cols <= 0)
        return mk_fail(MK_ERR_INVALID, "%s: no audio files to draw", png);
    const int W = cols * (MK_SPEC_COLUMNS + GAP) + GAP, H = n_rows * (MK_SPEC_ROWS + GAP) + GAP;
    float *db = malloc((size_t)n_rows * cols * panel * sizeof *db), *clip = malloc(cap * sizeof *clip);
    uint8_t *rgb = malloc((size_t)W * H * 3);
    mk_status st = db && clip && rgb ? MK_OK : mk_fail(MK_ERR_NOMEM, "%s: out of memory", png);
    float top = -INFINITY;
    for (int r = 0; st == MK_OK && r < n_rows; r++)
        for (int i = 0; st == MK_OK && i < cols; i++) {
            float *p = db + ((size_t)r * cols + i) * panel;
            size_t n = 0;
            if (i >= n_files[r]) { /* a shorter row: an empty panel */
                for (size_t j = 0; j < panel; j++)
                    p[j] = -INFINITY;
                continue;
            }
            st = read_clip(rows[r][i], clip, cap, &n);
            if (st == MK_OK)
                mk_spectrogram_db(p, clip, n);
            for (size_t j = 0; st == MK_OK && j < panel; j++)
                top = p[j] > top ? p[j] : top;
        }
    if (st == MK_OK) {
        memset(rgb, 255, (size_t)W * H * 3);
        for (int r = 0; r < n_rows; r++)
            for (int i = 0; i < cols; i++) {
                const float *p = db + ((size_t)r * cols + i) * panel;
                const int x0 = GAP + i * (MK_SPEC_COLUMNS + GAP), y0 = GAP + r * (MK_SPEC_ROWS + GAP);
                for (int y = 0; i < n_files[r] && y < MK_SPEC_ROWS; y++)
                    for (int x = 0; x < MK_SPEC_COLUMNS; x++)
                        colour((p[(size_t)y * MK_SPEC_COLUMNS + x] - (top - MK_SPEC_RANGE_DB)) /
                                   (float)MK_SPEC_RANGE_DB,
                               rgb + ((size_t)(y0 + y) * W + x0 + x) * 3);
            }
        st = mk_png_write_rgb(png, rgb, W, H);
    }
    free(db);
    free(clip);
    free(rgb);
    return st;
}
