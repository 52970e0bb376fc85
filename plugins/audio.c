/* audio.c — the `audio` modality plugin: sound files ↔ mu-law or linear sample tokens. The
 * logic lives in modalities/audio/ (documented there); this file only fills in the descriptor.
 * Built twice: as the loadable module audio.so and, with MK_MODALITY_BUILTIN, into
 * libmambakit.
 */
#include "audio/audio.h"
#include "mambakit-plugin.h"

static const struct mk_modality audio_modality = {
    .abi_version = MK_MODALITY_ABI_VERSION,
    .struct_size = sizeof(struct mk_modality),
    .name = "audio",
    .description = "sound files read by libsndfile as 8-bit mu-law or linear samples at one "
                   "rate, 16-bit WAV output",
    .version = "1.0.0",
    .output_ext = ".wav",
    .create = mk_audio_create,
    .destroy = mk_audio_destroy,
    .vocab_size = mk_audio_vocab_size,
    .special = mk_audio_special,
    .piece = mk_audio_piece,
    .open_reader = mk_audio_open_reader,
    .read = mk_audio_read,
    .close_reader = mk_audio_close_reader,
    .write = mk_audio_write,
};

MK_MODALITY_ENTRY(audio)
{
    return &audio_modality;
}
