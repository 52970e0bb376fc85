/* spectrogram.h — a picture of audio clips' spectrograms, to compare generated speech with
 * real speech by eye: one row of panels per group of files, each panel the log power
 * |STFT|^2 of one clip, time left to right, frequency bottom to top.
 *
 * STFT: Hann window of MK_SPEC_FRAME samples, hop MK_SPEC_HOP, the first MK_SPEC_COLUMNS
 * frames of the clip (zero-padded: 125 columns = 1 s at 16 kHz); the FRAME/2 bins from 0 Hz to
 * just below Nyquist, pairs of neighbouring bins averaged into one pixel row. Power in dB,
 * 10 log10(P), shown from the loudest pixel of the whole picture down to 80 dB below it
 * (one scale for every panel, so panels compare), through a black-purple-orange-yellow map.
 */
#ifndef MK_SPECTROGRAM_H
#define MK_SPECTROGRAM_H
#include <stddef.h>
#include "mambakit.h"

#define MK_SPEC_FRAME 512
#define MK_SPEC_HOP 128
#define MK_SPEC_COLUMNS 125
#define MK_SPEC_ROWS (MK_SPEC_FRAME / 4)
#define MK_SPEC_RANGE_DB 80.0

/* Power in dB of one clip, [MK_SPEC_ROWS][MK_SPEC_COLUMNS], row 0 = the highest frequencies
 * (the picture's top). */
void mk_spectrogram_db(float *db, const float *samples, size_t n);

/* Reads every file of rows[r] (lists of n_files[r] paths, at most `per_row` used; any format
 * libsndfile reads, channels averaged) and writes the picture to png. Errors name the file. */
mk_status mk_spectrogram_picture(const char *png, const char *const *const *rows,
                                 const int *n_files, int n_rows, int per_row);

#endif
