/* synthetic.c — the `synthetic` modality plugin: the Mamba paper's selective-copying and
 * induction-heads tasks, generated from a seed. The logic lives in modalities/synthetic/
 * (documented there); this file only fills in the descriptor. Built twice: as the loadable
 * module synthetic.so and, with MK_MODALITY_BUILTIN, into libmambakit.
 */
#include "synthetic/synthetic.h"
#include "mambakit-plugin.h"

static const struct mk_modality synthetic_modality = {
    .abi_version = MK_MODALITY_ABI_VERSION,
    .struct_size = sizeof(struct mk_modality),
    .name = "synthetic",
    .description = "the Mamba paper's synthetic tasks (selective copying, induction heads), "
                   "generated from a seed",
    .version = "1.0.0",
    .output_ext = ".txt",
    .create = mk_synth_create,
    .destroy = mk_synth_destroy,
    .vocab_size = mk_synth_vocab_size,
    .special = mk_synth_special,
    .piece = mk_synth_piece,
    .open_reader = mk_synth_open_reader,
    .read = mk_synth_read,
    .close_reader = mk_synth_close_reader,
    .write = mk_synth_write,
};

MK_MODALITY_ENTRY(synthetic)
{
    return &synthetic_modality;
}
