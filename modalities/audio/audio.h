/* audio.h — the audio modality: sound files ↔ quantised sample tokens, one token per sample
 * at the recipe's rate (raw-waveform modelling, as SaShiMi and the Mamba paper's SC09 work).
 *
 * Reading: anything libsndfile reads (WAV, FLAC, OGG/Vorbis, AU with mu-law, AIFF, ...), or
 * headerless data with raw_format; channels are averaged to mono; a file at another rate is
 * resampled with libsamplerate (sinc, medium quality), or refused when resample is false.
 * Quantisation of x in [-1, 1] to Q = 2^bits classes (bits = 8: 256), mu = Q - 1:
 *   mulaw:  y = sign(x) ln(1 + mu |x|) / ln(1 + mu),  k = floor((y + 1) / 2 * mu + 1/2)
 *           inverse x = sign(y) ((1 + mu)^|y| - 1) / mu with y = 2k / mu - 1
 *   linear: k = floor((x + 1) / 2 * mu + 1/2),  inverse x = 2k / mu - 1
 * Token ids are the classes, V = Q; PAD is the class of silence (x = 0). There are no BOS /
 * EOS tokens: clips are fixed-length records.
 *
 * Options (defaults in brackets):
 *   sample_rate: HZ [16000]   quantize: mulaw|linear [mulaw]   bits: 1..16 [8]
 *   resample: bool [true]     normalize: none|peak|minmax [none] (minmax scales each clip
 *                             to [-1, 1] as SaShiMi's data loader does; peak divides by max |x|)
 *   raw_format: none|pcm_s8|pcm_u8|pcm_16|pcm_24|pcm_32|float|ulaw|alaw [none]
 *   raw_rate: HZ [8000], raw_channels: N [1], raw_endian: little|big [little]
 *                             (headerless files, e.g. Debian saytime's .au digits: ulaw, 8000)
 *   window: W [0], stride: S [W]   windows of samples (common/chunker.h)
 * Labels: dir (e.g. sc09/seven/x.wav → seven), tsv:MANIFEST, header:REGEX on the path.
 * A file is read whole (clips and utterances); tokens still stream in max_chunk chunks.
 *
 * Writing: tokens → samples by the inverse above → a 16-bit PCM mono WAV at sample_rate.
 */
#ifndef MK_AUDIO_H
#define MK_AUDIO_H

#include "mambakit-plugin.h"

int mk_audio_create(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                    size_t errlen);
void mk_audio_destroy(void *handle);
int32_t mk_audio_vocab_size(void *handle);
int32_t mk_audio_special(void *handle, enum mk_special_token which);
int mk_audio_piece(void *handle, int32_t id, char *buf, size_t cap);
int mk_audio_open_reader(void *handle, const char *source, const char *labels,
                         size_t max_chunk, void **reader, char *err, size_t errlen);
int mk_audio_read(void *reader, struct mk_record *rec, char *err, size_t errlen);
void mk_audio_close_reader(void *reader);
int mk_audio_write(void *handle, const int32_t *tokens, size_t n, const char *id,
                   mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen);

/* The quantiser, exposed for tests: class of x in [-1, 1] (clipped) and back. */
int32_t mk_audio_quantize(void *handle, float x);
float mk_audio_dequantize(void *handle, int32_t k);

#endif
