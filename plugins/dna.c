/* dna.c — the `dna` modality plugin: FASTA / FASTA.gz ↔ base tokens. The logic lives in
 * modalities/dna/ (documented there); this file only fills in the descriptor. Built twice:
 * as the loadable module dna.so and, with MK_MODALITY_BUILTIN, into libmambakit.
 */
#include "dna/dna.h"
#include "mambakit-plugin.h"

static const struct mk_modality dna_modality = {
    .abi_version = MK_MODALITY_ABI_VERSION,
    .struct_size = sizeof(struct mk_modality),
    .name = "dna",
    .description = "DNA from FASTA and FASTA.gz: bases A C G T N (soft-mask aware), "
                   "FASTA output",
    .version = "1.0.0",
    .output_ext = ".fasta",
    .create = mk_dna_create,
    .destroy = mk_dna_destroy,
    .vocab_size = mk_dna_vocab_size,
    .special = mk_dna_special,
    .piece = mk_dna_piece,
    .open_reader = mk_dna_open_reader,
    .read = mk_dna_read,
    .close_reader = mk_dna_close_reader,
    .write = mk_dna_write,
    .augment = mk_dna_augment,
    .reverse_complement = mk_dna_reverse_complement,
};

MK_MODALITY_ENTRY(dna)
{
    return &dna_modality;
}
