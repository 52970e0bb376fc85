/* test_audio.c — the audio modality through its plugin descriptor (built in, no dlopen).
 * Fixtures are made at test time with libsndfile: a 1 s 16 kHz tone as WAV, FLAC, OGG/Vorbis,
 * AU mu-law, headerless mu-law, stereo and 8 kHz. Checks WAV → mu-law → WAV within the
 * quantisation error, linear quantisation, every format, mono mixing, resampling, labels,
 * chunks, and the error for each bad input.
 */
#include <math.h>
#include <sndfile.h>
#include "audio/audio.h"
#include "tap.h"
#include "test_modhelp.h"

const struct mk_modality *mk_modality_builtin_audio(void);
static const struct mk_modality *M;
static char err[512];
enum { RATE = 16000, N = 16000 };

static void *make(int n, const struct mk_kv *kv)
{
    void *h = NULL;
    if (M->create(kv, (size_t)n, &h, err, sizeof err))
        bail_out("create: %s", err);
    return h;
}

/* The test signal: two tones and a slow fade, peak 0.8. */
static float signal_at(size_t i, int rate)
{
    double t = (double)i / rate;
    return (float)(0.8 * (0.6 * sin(2 * M_PI * 440 * t) + 0.4 * sin(2 * M_PI * 97 * t)) *
                   (0.2 + 0.8 * t));
}

/* Writes `frames` frames of the signal (channel c of a stereo file gets sign[c] * signal). */
static const char *make_sound(const char *name, int format, int rate, int channels,
                              size_t frames, const float *sign)
{
    const char *p = spath(name);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    if (!sf_format_check(&info))
        return NULL;
    SNDFILE *sf = sf_open(p, SFM_WRITE, &info);
    if (!sf)
        bail_out("cannot write %s: %s", p, sf_strerror(NULL));
    float *buf = malloc((frames ? frames : 1) * (size_t)channels * sizeof(float));
    for (size_t i = 0; i < frames; i++)
        for (int c = 0; c < channels; c++)
            buf[i * (size_t)channels + (size_t)c] = (sign ? sign[c] : 1.0f) * signal_at(i, rate);
    sf_writef_float(sf, buf, (sf_count_t)frames);
    sf_close(sf);
    free(buf);
    return p;
}

/* Reads a WAV written by the plugin back with libsndfile. */
static float *read_back(const unsigned char *wav, size_t len, size_t *n, int *rate)
{
    const char *p = write_scratch("back.wav", wav, len);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(p, SFM_READ, &info);
    if (!sf)
        return NULL;
    float *x = malloc((size_t)info.frames * sizeof(float));
    *n = (size_t)sf_readf_float(sf, x, info.frames);
    *rate = info.samplerate;
    sf_close(sf);
    return x;
}

static void test_roundtrip(const char *quantize)
{
    struct mk_kv kv[] = {{"quantize", quantize}};
    void *h = make(1, kv);
    const char *wav = make_sound("tone.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 1, N, NULL);
    struct drained d;
    drain(M, h, wav, NULL, 0, &d);
    ok(d.status == MK_MODALITY_END && d.n == N && M->vocab_size(h) == 256,
       "%s: a 1 s WAV gives 16000 tokens of 256 classes %s", quantize, d.err);
    unsigned char *out;
    size_t len, n = 0;
    int rate = 0;
    int st = write_tokens(M, h, d.tok, d.n, "x", &out, &len, err, sizeof err);
    float *y = st ? NULL : read_back(out, len, &n, &rate);
    /* each sample within half its quantisation cell (plus 16-bit rounding) of the input */
    double worst = 0, sig = 0, noise = 0;
    int inside = y && n == N && rate == RATE;
    for (size_t i = 0; inside && i < N; i++) {
        float x = signal_at(i, RATE);
        x = roundf(x * 32767) / 32767; /* what the 16-bit fixture holds */
        int32_t k = d.tok[i];
        float lo = mk_audio_dequantize(h, k > 0 ? k - 1 : k);
        float hi = mk_audio_dequantize(h, k < 255 ? k + 1 : k);
        double e = fabs(y[i] - x), bound = (hi - lo) / 2 + 1.0 / 32767;
        worst = fmax(worst, e / bound);
        sig += (double)x * x;
        noise += e * e;
    }
    double snr = 10 * log10(sig / noise);
    ok(inside && worst <= 1.0 && snr > (strcmp(quantize, "mulaw") == 0 ? 30 : 35),
       "%s: WAV -> tokens -> WAV within the quantisation error (worst %.2f of the bound, "
       "SNR %.1f dB)", quantize, worst, snr);
    struct drained again;
    drain(M, h, spath("back.wav"), NULL, 0, &again);
    ok(again.n == N && memcmp(again.tok, d.tok, N * sizeof(int32_t)) == 0,
       "%s: re-reading the written WAV gives the same tokens", quantize);
    drained_free(&again);
    free(y);
    free(out);
    drained_free(&d);
    M->destroy(h);
}

/* Mean |a - b| over n tokens. */
static double token_diff(const int32_t *a, const int32_t *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += abs(a[i] - b[i]);
    return s / (double)n;
}

static void test_formats(void)
{
    void *h = make(0, NULL);
    struct drained ref, d;
    drain(M, h, spath("tone.wav"), NULL, 0, &ref);
    static const struct {
        const char *name;
        int format;
        double max_diff;
    } fmts[] = {
        {"tone.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 0},
        {"tone.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 1.5},
        {"tone.au", SF_FORMAT_AU | SF_FORMAT_ULAW, 1.0},
        {"tone.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_24, 0.01},
    };
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        const char *p = make_sound(fmts[i].name, fmts[i].format, RATE, 1, N, NULL);
        if (!p) {
            ok(1, "# SKIP this libsndfile cannot write %s", fmts[i].name);
            continue;
        }
        drain(M, h, p, NULL, 0, &d);
        double diff = d.n == N ? token_diff(d.tok, ref.tok, N) : 1e9;
        ok(d.status == MK_MODALITY_END && diff <= fmts[i].max_diff,
           "%s reads like the WAV (mean token difference %.3f) %s", fmts[i].name, diff, d.err);
        drained_free(&d);
    }
    /* headerless mu-law, as Debian saytime's digits: raw_format ulaw at 8 kHz, resampled */
    const char *au = make_sound("tone8k.au", SF_FORMAT_AU | SF_FORMAT_ULAW, 8000, 1, 8000, NULL);
    unsigned char *bytes;
    size_t len;
    slurp(au, &bytes, &len);
    uint32_t off = (uint32_t)bytes[4] << 24 | bytes[5] << 16 | bytes[6] << 8 | bytes[7];
    const char *raw = write_scratch("tone.ul", bytes + off, len - off);
    free(bytes);
    struct mk_kv kv[] = {{"raw_format", "ulaw"}, {"raw_rate", "8000"}};
    void *hr = make(2, kv);
    drain(M, hr, raw, NULL, 0, &d);
    double diff = d.n >= N - 2 && d.n <= N + 2 ? token_diff(d.tok + 100, ref.tok + 100, N - 200)
                                               : 1e9;
    ok(d.status == MK_MODALITY_END && diff < 3,
       "headerless mu-law 8 kHz with raw_format, resampled to 16 kHz: %zu samples, mean token "
       "difference %.2f %s", d.n, diff, d.err);
    drained_free(&d);
    M->destroy(hr);

    /* stereo: equal channels mix to the mono signal; opposite ones to silence */
    const float same[2] = {1, 1}, opposite[2] = {1, -1};
    drain(M, h, make_sound("same.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 2, N, same),
          NULL, 0, &d);
    ok(d.n == N && token_diff(d.tok, ref.tok, N) == 0, "stereo with equal channels = mono");
    drained_free(&d);
    drain(M, h, make_sound("opp.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 2, N, opposite),
          NULL, 0, &d);
    size_t silent = 0;
    for (size_t i = 0; i < d.n; i++)
        silent += d.tok[i] == M->special(h, MK_TOKEN_PAD);
    ok(d.n == N && silent == N, "opposite channels mix to silence (the PAD class %d)",
       (int)M->special(h, MK_TOKEN_PAD));
    drained_free(&d);

    struct mk_kv peak[] = {{"normalize", "peak"}};
    void *hp = make(1, peak);
    drain(M, hp, spath("tone.wav"), NULL, 0, &d);
    int32_t lo = 255, hi = 0;
    for (size_t i = 0; i < d.n; i++) {
        lo = d.tok[i] < lo ? d.tok[i] : lo;
        hi = d.tok[i] > hi ? d.tok[i] : hi;
    }
    ok(d.n == N && (lo == 0 || hi == 255),
       "normalize: peak scales the loudest sample to full scale (classes %d..%d)", (int)lo,
       (int)hi);
    drained_free(&d);
    M->destroy(hp);

    drain(M, h, spath("tone.wav"), NULL, 4000, &d);
    ok(d.chunks == 4 && d.records == 1 && d.n == N, "max_chunk 4000: 4 chunks of one record");
    drained_free(&d);
    drained_free(&ref);
    M->destroy(h);
}

static void test_labels_and_errors(void)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/seven", scratch());
    mkdir(dir, 0755);
    make_sound("seven/a.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 1, 100, NULL);
    make_sound("seven/b.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 1, 100, NULL);
    void *h = make(0, NULL);
    struct drained d;
    drain(M, h, spath("seven/*.wav"), "dir", 0, &d);
    char want[1600];
    snprintf(want, sizeof want, "%s/seven/a.wav|seven;%s/seven/b.wav|seven;", scratch(), scratch());
    ok(d.records == 2 && strcmp(d.ids, want) == 0, "labels from directory names, glob");
    drained_free(&d);

    make_sound("empty.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, RATE, 1, 0, NULL);
    make_sound("slow.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 800, NULL);
    const char junk[] = "this is not a sound file, just text that ends in .wav\n";
    write_scratch("junk.wav", junk, sizeof junk - 1);
    struct mk_kv noresample[] = {{"resample", "false"}};
    void *hn = make(1, noresample);
    static const struct {
        const char *file;
        int strict;
        int status;
        const char *expect;
    } bad[] = {
        {"empty.wav", 0, MK_MODALITY_ERR_FORMAT, "empty.wav: no audio samples in it"},
        {"junk.wav", 0, MK_MODALITY_ERR_UNSUPPORTED, "junk.wav: not a sound file libsndfile reads"},
        {"missing.wav", 0, MK_MODALITY_ERR_IO, "missing.wav: cannot open"},
        {"slow.wav", 1, MK_MODALITY_ERR_INVALID,
         "slow.wav: sample rate 8000 Hz, but the recipe's sample_rate is 16000 Hz (set resample: true"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        drain(M, bad[i].strict ? hn : h, spath(bad[i].file), NULL, 0, &d);
        ok(d.status == bad[i].status && strstr(d.err, bad[i].expect), "bad input %s: %s",
           bad[i].file, d.err);
        drained_free(&d);
    }
    drain(M, h, spath("slow.wav"), NULL, 0, &d);
    ok(d.status == MK_MODALITY_END && d.n == 1600, "8 kHz resampled to 16 kHz: 800 -> %zu", d.n);
    drained_free(&d);
    int32_t bad_tok = 256;
    unsigned char *out;
    size_t len;
    int st = write_tokens(M, h, &bad_tok, 1, "x", &out, &len, err, sizeof err);
    ok(st == MK_MODALITY_ERR_INVALID && strstr(err, "outside the vocabulary [0, 256)"),
       "writer refuses a token outside the vocabulary: %s", err);
    free(out);
    static const struct mk_kv opts[][1] = {{{"bits", "0"}}, {{"quantize", "alaw"}},
                                           {{"sample_rate", "16k"}}, {{"channels", "2"}}};
    static const char *const expect[] = {"bits: '0' is not an integer in [1, 16]",
                                         "quantize: 'alaw' is not one of mulaw|linear",
                                         "sample_rate: '16k' is not an integer",
                                         "unknown option 'channels'"};
    for (size_t i = 0; i < 4; i++) {
        void *x = NULL;
        st = M->create(opts[i], 1, &x, err, sizeof err);
        ok(st == MK_MODALITY_ERR_INVALID && strstr(err, expect[i]), "bad option: %s", err);
    }
    struct mk_kv four[] = {{"bits", "4"}, {"quantize", "linear"}};
    void *h4 = make(2, four);
    ok(M->vocab_size(h4) == 16 && mk_audio_quantize(h4, -1) == 0 &&
           mk_audio_quantize(h4, 1) == 15 && mk_audio_quantize(h4, 0.1f) == 8 &&
           fabsf(mk_audio_dequantize(h4, 15) - 1) < 1e-6f,
       "4-bit linear: 16 classes, ends at -1 and 1");
    M->destroy(h4);
    M->destroy(hn);
    M->destroy(h);
}

int main(void)
{
    M = mk_modality_builtin_audio();
    plan_lazy();
    test_roundtrip("mulaw");
    test_roundtrip("linear");
    test_formats();
    test_labels_and_errors();
    return exit_status();
}
