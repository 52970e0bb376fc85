/* text.c — the `text` modality plugin: plain text ↔ byte or BPE tokens. The logic lives in
 * modalities/text/ (documented there); this file only fills in the descriptor. Built twice:
 * as the loadable module text.so and, with MK_MODALITY_BUILTIN, into libmambakit.
 */
#include "text/text.h"
#include "mambakit-plugin.h"

static const struct mk_modality text_modality = {
    .abi_version = MK_MODALITY_ABI_VERSION,
    .struct_size = sizeof(struct mk_modality),
    .name = "text",
    .description = "plain text as bytes (V = 260) or byte-level BPE (Hugging Face "
                   "tokenizer.json), text output",
    .version = "1.0.0",
    .output_ext = ".txt",
    .create = mk_text_create,
    .destroy = mk_text_destroy,
    .vocab_size = mk_text_vocab_size,
    .special = mk_text_special,
    .piece = mk_text_piece,
    .open_reader = mk_text_open_reader,
    .read = mk_text_read,
    .close_reader = mk_text_close_reader,
    .write = mk_text_write,
};

MK_MODALITY_ENTRY(text)
{
    return &text_modality;
}
