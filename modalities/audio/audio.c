/* audio.c — the audio modality (see audio.h): libsndfile in, mono mix, libsamplerate,
 * mu-law or linear quantisation, chunked records out; the writer makes a 16-bit WAV.
 */
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audio/audio.h"
#include "common/chunker.h"
#include "common/source.h"

enum { Q_MULAW, Q_LINEAR };
enum { NORM_NONE, NORM_PEAK, NORM_MINMAX };

struct audio {
    size_t sample_rate, bits, raw_rate, raw_channels, window, stride;
    int quantize, resample, normalize, raw_format, raw_big_endian;
    double mu;             /* 2^bits - 1 */
};

/* libsndfile subformats for raw_format, in the order of its choices (none first). */
static const int raw_subformats[] = {0, SF_FORMAT_PCM_S8, SF_FORMAT_PCM_U8, SF_FORMAT_PCM_16,
                                     SF_FORMAT_PCM_24, SF_FORMAT_PCM_32, SF_FORMAT_FLOAT,
                                     SF_FORMAT_ULAW, SF_FORMAT_ALAW};

int mk_audio_create(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                    size_t errlen)
{
    static const struct mk_optdef defs[] = {
        {"sample_rate", MK_OPT_SIZE, offsetof(struct audio, sample_rate), 1, 1e7, 0},
        {"quantize", MK_OPT_ENUM, offsetof(struct audio, quantize), 0, 0, "mulaw|linear"},
        {"bits", MK_OPT_SIZE, offsetof(struct audio, bits), 1, 16, 0},
        {"resample", MK_OPT_BOOL, offsetof(struct audio, resample), 0, 0, 0},
        {"normalize", MK_OPT_ENUM, offsetof(struct audio, normalize), 0, 0, "none|peak|minmax"},
        {"raw_format", MK_OPT_ENUM, offsetof(struct audio, raw_format), 0, 0,
         "none|pcm_s8|pcm_u8|pcm_16|pcm_24|pcm_32|float|ulaw|alaw"},
        {"raw_rate", MK_OPT_SIZE, offsetof(struct audio, raw_rate), 1, 1e7, 0},
        {"raw_channels", MK_OPT_SIZE, offsetof(struct audio, raw_channels), 1, 64, 0},
        {"raw_endian", MK_OPT_ENUM, offsetof(struct audio, raw_big_endian), 0, 0, "little|big"},
        {"window", MK_OPT_SIZE, offsetof(struct audio, window), 0, 1e12, 0},
        {"stride", MK_OPT_SIZE, offsetof(struct audio, stride), 1, 1e12, 0},
        {NULL, 0, 0, 0, 0, 0}};
    struct audio o = {.sample_rate = 16000, .bits = 8, .resample = 1, .raw_rate = 8000,
                      .raw_channels = 1};
    int st = mk_opts_parse(defs, &o, options, n_options, "audio", err, errlen);
    if (st)
        return st;
    if (o.stride && !o.window)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "audio: option stride needs a window");
    o.mu = ldexp(1.0, (int)o.bits) - 1.0;
    struct audio *a = malloc(sizeof *a);
    if (!a)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "audio: out of memory");
    *a = o;
    *handle = a;
    return MK_MODALITY_OK;
}

void mk_audio_destroy(void *handle)
{
    free(handle);
}

int32_t mk_audio_vocab_size(void *handle)
{
    const struct audio *a = handle;
    return (int32_t)a->mu + 1;
}

int32_t mk_audio_quantize(void *handle, float x)
{
    const struct audio *a = handle;
    double v = x != x ? 0.0 : x < -1.0f ? -1.0 : x > 1.0f ? 1.0 : x;
    if (a->quantize == Q_MULAW)
        v = (v < 0 ? -1.0 : 1.0) * log1p(a->mu * fabs(v)) / log1p(a->mu);
    return (int32_t)floor((v + 1.0) / 2.0 * a->mu + 0.5);
}

float mk_audio_dequantize(void *handle, int32_t k)
{
    const struct audio *a = handle;
    double y = 2.0 * k / a->mu - 1.0;
    if (a->quantize == Q_MULAW)
        y = (y < 0 ? -1.0 : 1.0) * expm1(fabs(y) * log1p(a->mu)) / a->mu;
    return (float)y;
}

int32_t mk_audio_special(void *handle, enum mk_special_token which)
{
    return which == MK_TOKEN_PAD ? mk_audio_quantize(handle, 0.0f) : -1;
}

int mk_audio_piece(void *handle, int32_t id, char *buf, size_t cap)
{
    if (id < 0 || id >= mk_audio_vocab_size(handle))
        return -1;
    char s[32];
    int len = snprintf(s, sizeof s, "%+.5f", (double)mk_audio_dequantize(handle, id));
    memcpy(buf, s, (size_t)len < cap ? (size_t)len : cap);
    return len;
}

/* ---- reader ---- */

struct audio_reader {
    struct mk_source_reader base; /* files, labels, chunker */
    const struct audio *a;
    size_t file_i;
};

/* Reads path as mono floats at its own rate into *x (*n frames, *rate Hz). */
static int load_mono(const struct audio *a, const char *path, float **x, size_t *n, int *rate,
                     char *err, size_t errlen)
{
    SF_INFO info = {0};
    if (a->raw_format) {
        info.format = SF_FORMAT_RAW | raw_subformats[a->raw_format] |
                      (a->raw_big_endian ? SF_ENDIAN_BIG : SF_ENDIAN_LITTLE);
        info.samplerate = (int)a->raw_rate;
        info.channels = (int)a->raw_channels;
    }
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "%s: cannot open", path);
    fclose(probe);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                           "%s: not a sound file libsndfile reads (%s); for headerless data "
                           "set raw_format", path, sf_strerror(NULL));
    int st = MK_MODALITY_OK;
    size_t frames = info.frames > 0 ? (size_t)info.frames : 0, ch = (size_t)info.channels;
    float *buf = frames ? malloc(frames * ch * sizeof(float)) : NULL;
    if (frames == 0)
        st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT, "%s: no audio samples in it",
                         path);
    else if (!buf)
        st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "%s: out of memory", path);
    else if ((size_t)sf_readf_float(sf, buf, (sf_count_t)frames) != frames)
        st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT, "%s: truncated audio data (%s)",
                         path, sf_strerror(sf));
    sf_close(sf);
    if (st) {
        free(buf);
        return st;
    }
    /* mono: the mean of the channels, in place */
    for (size_t i = 0; i < frames && ch > 1; i++) {
        float s = 0;
        for (size_t c = 0; c < ch; c++)
            s += buf[i * ch + c];
        buf[i] = s / (float)ch;
    }
    *x = buf;
    *n = frames;
    *rate = info.samplerate;
    return MK_MODALITY_OK;
}

/* Resamples x[0..*n) from rate to a->sample_rate (replacing *x), or refuses. */
static int to_rate(const struct audio *a, const char *path, float **x, size_t *n, int rate,
                   char *err, size_t errlen)
{
    if ((size_t)rate == a->sample_rate)
        return MK_MODALITY_OK;
    if (!a->resample)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "%s: sample rate %d Hz, but the recipe's sample_rate is %zu Hz "
                           "(set resample: true, or convert the file)", path, rate,
                           a->sample_rate);
    double ratio = (double)a->sample_rate / rate;
    size_t out_n = (size_t)ceil((double)*n * ratio);
    float *y = malloc((out_n ? out_n : 1) * sizeof(float));
    if (!y)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "%s: out of memory", path);
    SRC_DATA d = {.data_in = *x, .data_out = y, .input_frames = (long)*n,
                  .output_frames = (long)out_n, .src_ratio = ratio};
    int rc = src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1);
    if (rc) {
        free(y);
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                           "%s: cannot resample %d Hz to %zu Hz: %s", path, rate,
                           a->sample_rate, src_strerror(rc));
    }
    free(*x);
    *x = y;
    *n = (size_t)d.output_frames_gen;
    return MK_MODALITY_OK;
}

/* Scales x in place: peak: x / max|x|; minmax: (x - min) / (max - min) * 2 - 1. */
static void normalize(int how, float *x, size_t n)
{
    float lo = x[0], hi = x[0], peak = 0;
    for (size_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
        peak = fabsf(x[i]) > peak ? fabsf(x[i]) : peak;
    }
    for (size_t i = 0; i < n; i++) {
        if (how == NORM_PEAK && peak > 0)
            x[i] /= peak;
        else if (how == NORM_MINMAX && hi > lo)
            x[i] = (x[i] - lo) / (hi - lo) * 2.0f - 1.0f;
    }
}

/* Loads the next file as one record in the chunker. */
static int next_file(struct mk_source_reader *base, char *err, size_t errlen)
{
    struct audio_reader *r = (struct audio_reader *)base;
    if (r->file_i >= r->base.files.n)
        return MK_MODALITY_END;
    const char *path = r->base.files.paths[r->file_i++];
    float *x = NULL;
    size_t n = 0;
    int rate = 0;
    const char *label;
    int st = mk_labeler_label(&r->base.lab, path, path, NULL, &label, err, errlen);
    st = st ? st : load_mono(r->a, path, &x, &n, &rate, err, errlen);
    st = st ? st : to_rate(r->a, path, &x, &n, rate, err, errlen);
    if (!st) {
        if (r->a->normalize != NORM_NONE)
            normalize(r->a->normalize, x, n);
        int fail = mk_chunker_begin(&r->base.ch, path, label);
        for (size_t i = 0; !fail && i < n; i++)
            fail = mk_chunker_push(&r->base.ch, mk_audio_quantize((void *)r->a, x[i]), 1.0f);
        mk_chunker_end(&r->base.ch);
        if (fail)
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "%s: out of memory", path);
    }
    free(x);
    return st;
}

int mk_audio_read(void *reader, struct mk_record *rec, char *err, size_t errlen)
{
    return mk_source_reader_read(reader, rec, err, errlen);
}

void mk_audio_close_reader(void *reader)
{
    struct audio_reader *r = reader;
    if (!r)
        return;
    mk_source_reader_free(&r->base);
    free(r);
}

int mk_audio_open_reader(void *handle, const char *source, const char *labels,
                         size_t max_chunk, void **reader, char *err, size_t errlen)
{
    const struct audio *a = handle;
    struct audio_reader *r = calloc(1, sizeof *r);
    if (!r)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "audio: out of memory");
    r->a = a;
    r->base.advance = next_file;
    int st = mk_source_reader_init(&r->base, source, labels, max_chunk, a->window, a->stride, 0,
                                   err, errlen);
    if (st) {
        mk_audio_close_reader(r);
        return st;
    }
    *reader = r;
    return MK_MODALITY_OK;
}

/* ---- writer: 16-bit PCM mono WAV ---- */

static void put_le(unsigned char *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int mk_audio_write(void *handle, const int32_t *tokens, size_t n, const char *id,
                   mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen)
{
    const struct audio *a = handle;
    int32_t V = mk_audio_vocab_size(handle);
    if (n > (UINT32_MAX - 36) / 2)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "audio: %zu samples do not fit in a WAV file", n);
    unsigned char *wav = malloc(44 + 2 * n);
    if (!wav)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "audio: out of memory");
    /* RIFF header: "RIFF" size "WAVE", "fmt " chunk (PCM, 1 channel, rate, byte rate,
     * block align 2, 16 bits), "data" chunk */
    uint32_t data = (uint32_t)(2 * n), rate = (uint32_t)a->sample_rate;
    memcpy(wav, "RIFF", 4);
    put_le(wav + 4, 36 + data, 4);
    memcpy(wav + 8, "WAVEfmt ", 8);
    put_le(wav + 16, 16, 4);
    put_le(wav + 20, 1, 2);
    put_le(wav + 22, 1, 2);
    put_le(wav + 24, rate, 4);
    put_le(wav + 28, 2 * rate, 4);
    put_le(wav + 32, 2, 2);
    put_le(wav + 34, 16, 2);
    memcpy(wav + 36, "data", 4);
    put_le(wav + 40, data, 4);
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= V) {
            free(wav);
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "audio: token %ld at sample %zu is outside the vocabulary [0, %d)",
                               (long)tokens[i], i, (int)V);
        }
        long s = lrintf(mk_audio_dequantize(handle, tokens[i]) * 32767.0f);
        s = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
        put_le(wav + 44 + 2 * i, (uint32_t)(int16_t)s, 2);
    }
    int bad = sink(sink_ctx, wav, 44 + 2 * n);
    free(wav);
    return bad ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "audio: writing the WAV failed")
               : MK_MODALITY_OK;
}
