/* cmd_spectrogram.c — `mambakit spectrogram`: a PNG of audio clips' spectrograms, one row per
 * glob (lib/spectrogram.c), to set generated clips beside real ones.
 */
#include <getopt.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include "commands.h"
#include "spectrogram.h"

static const char usage_text[] =
    "Usage: mambakit spectrogram [-o FILE.png] [-n N] GLOB...\n"
    "Draw the spectrograms of audio clips as one PNG: each GLOB (quote it) is one row of\n"
    "panels, its first N files in name order. A panel is the log power of one clip's\n"
    "short-time Fourier transform (Hann window of 512 samples, hop 128, the first 125\n"
    "frames: 1 s at 16 kHz), time left to right, 0 Hz at the bottom, all panels on one\n"
    "80 dB colour scale (black quiet, yellow loud). Any format libsndfile reads.\n\n"
    "  -o, --output FILE   the picture [spectrogram.png]\n"
    "  -n, --per-row N     clips per row [8]\n"
    "  -h, --help          show this help\n\n"
    "Example: generated clips above real ones\n"
    "  mambakit spectrogram -o spec.png 'runs/speech-generate/samples/*.wav' \\\n"
    "      'datasets/sc09/test/*/*_0000?.wav'\n";

int mk_cmd_spectrogram(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, 0, 'o'},
                                             {"per-row", required_argument, 0, 'n'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *out = "spectrogram.png";
    int per_row = 8, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'n':
            per_row = atoi(optarg);
            if (per_row < 1 || per_row > 64)
                return mk_cli_usage_error("spectrogram", "--per-row %s: expected 1 to 64", optarg);
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return mk_cli_usage_error("spectrogram", "unknown option");
        }
    }
    const int n_rows = argc - optind;
    if (n_rows < 1)
        return mk_cli_usage_error("spectrogram", "at least one GLOB of audio files is required");
    glob_t *globs = calloc((size_t)n_rows, sizeof *globs);
    const char *const **rows = calloc((size_t)n_rows, sizeof *rows);
    int *counts = calloc((size_t)n_rows, sizeof *counts), rc = 0;
    if (!globs || !rows || !counts) {
        fputs("mambakit spectrogram: out of memory\n", stderr);
        rc = 1;
    }
    for (int r = 0; rc == 0 && r < n_rows; r++) {
        if (glob(argv[optind + r], 0, NULL, &globs[r]) != 0) {
            fprintf(stderr, "mambakit spectrogram: no file matches '%s'\n", argv[optind + r]);
            rc = 1;
            break;
        }
        rows[r] = (const char *const *)globs[r].gl_pathv;
        counts[r] = (int)globs[r].gl_pathc;
    }
    if (rc == 0) {
        mk_status st = mk_spectrogram_picture(out, rows, counts, n_rows, per_row);
        rc = st == MK_OK ? 0 : mk_cli_error("spectrogram", st);
        if (rc == 0)
            printf("wrote %s\n", out);
    }
    for (int r = 0; globs && r < n_rows; r++)
        if (rows && rows[r])
            globfree(&globs[r]);
    free(globs);
    free(rows);
    free(counts);
    return rc;
}
