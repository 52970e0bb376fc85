/* dna.h — the DNA modality: FASTA / FASTA.gz files ↔ base tokens.
 *
 * Vocabulary (V = 8 with case: fold, 13 with case: keep):
 *   0 PAD  1 BOS  2 EOS  3 A  4 C  5 G  6 T  7 N   (keep: 8 a  9 c  10 g  11 t  12 n)
 * Every IUPAC ambiguity code (R Y S W K M B D H V N, either case) is an N; U reads as T.
 *
 * Options (the recipe's data section; defaults in brackets):
 *   case: fold|keep [fold]          lower case (soft-masked repeats) folded to upper or kept
 *                                   as tokens of its own
 *   softmask_loss_weight: W [1]     loss weight of lower-case bases (0 = ignore them)
 *   n_policy: token|ignore|skip|split [token]
 *       token: N is a token with weight 1; ignore: N is a token with weight 0; skip: N bases
 *       are dropped; split: runs of N split a record into records "ID:START" (1-based)
 *   rc_aug: P [0]                   augment(): reverse-complement a window with probability P
 *   add_bos, add_eos: bool [false]  BOS / EOS around each record
 *   window: W [0], stride: S [W]    hand out windows instead of records (common/chunker.h)
 *   line_width: N [60]              FASTA output line length (0: one line)
 *
 * Functions have the plugin ABI's signatures (void *handle), so plugins/dna.c only wraps them
 * in a descriptor; tests call them directly.
 */
#ifndef MK_DNA_H
#define MK_DNA_H

#include "mambakit-plugin.h"

enum { MK_DNA_PAD, MK_DNA_BOS, MK_DNA_EOS, MK_DNA_A, MK_DNA_C, MK_DNA_G, MK_DNA_T, MK_DNA_N,
       MK_DNA_LOWER = 5 /* a = A + 5, ... n = N + 5 with case: keep */ };

int mk_dna_create(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                  size_t errlen);
void mk_dna_destroy(void *handle);
int32_t mk_dna_vocab_size(void *handle);
int32_t mk_dna_special(void *handle, enum mk_special_token which);
int mk_dna_piece(void *handle, int32_t id, char *buf, size_t cap);
int mk_dna_open_reader(void *handle, const char *source, const char *labels, size_t max_chunk,
                       void **reader, char *err, size_t errlen);
int mk_dna_read(void *reader, struct mk_record *rec, char *err, size_t errlen);
void mk_dna_close_reader(void *reader);
int mk_dna_write(void *handle, const int32_t *tokens, size_t n, const char *id,
                 mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen);
void mk_dna_augment(void *handle, int32_t *tokens, float *weights, size_t n, uint64_t random);
void mk_dna_reverse_complement(void *handle, int32_t *tokens, float *weights, size_t n);

#endif
