/* synthetic.h — the synthetic modality: the Mamba paper's selective-copying and induction-heads
 * tasks (Gu & Dao 2023, Sec. 4.1, App. E.1), generated deterministically from a seed.
 *
 * A "file" of this modality is a tiny split spec, lines `key: value` ('#' comments):
 *   examples: N    how many examples the split holds (required)
 *   seed: S        the generator's seed [0]; example i depends only on (S, i)
 * Each example is one record of length + 1 tokens, so a language-model window of
 * data.seq_len = length tokens holds exactly one example: its inputs are the first `length`
 * tokens and its targets the last `length`. The per-token weights are 1 on the answer tokens
 * and 0 elsewhere, so training loss and evaluation accuracy count only the answers.
 *
 * Options (the recipe's data section; defaults in brackets):
 *   task: selective-copying|induction-heads   (required)
 *   vocab: V [16]         all tokens, special ones included (3 .. 64)
 *   length: L [256]       input tokens per example; set data.seq_len to the same value
 *   copy_tokens: M [16]   selective copying: data tokens to memorise (L >= 2M)
 *
 * selective-copying, V tokens: 0 is the noise (blank) token, 1 .. V-2 data tokens, V-1 the
 * copy marker. Positions [0, L-M) are noise except M of them, drawn uniformly without
 * replacement, which hold uniform data tokens; position L-M is the marker; positions
 * L-M+1 .. L repeat the M data tokens in order of position (the answers, weight 1). The model
 * therefore reads the answer so far as it emits the next one (teacher forcing), where the
 * paper's model outputs all M at M marker positions.
 *
 *   L = 12, M = 3:   . . c . . a . . e | c a e        (answers: c a e)
 *
 * induction-heads, V tokens: 0 .. V-2 content tokens, V-1 the trigger. Positions [0, L-1)
 * are uniform content tokens except one trigger at a uniform position p in [0, L-2), whose
 * successor a = x[p+1] is the answer; position L-1 is the trigger again and position L is a
 * (the one answer, weight 1). The trigger occurs nowhere else.
 *
 *   L = 10:   d a b | f c e a b | f                 (answer: f)
 *
 * Pieces (for write and for logs): selective copying '.' noise, '|' marker, data tokens
 * a b c ...; induction heads a b c ... content, '|' trigger (letters a-z, A-Z, then 0-9).
 * No PAD/BOS/EOS: windows never need padding when data.seq_len = length.
 *
 * Functions have the plugin ABI's signatures; plugins/synthetic.c wraps them in a descriptor.
 */
#ifndef MK_SYNTHETIC_H
#define MK_SYNTHETIC_H

#include "mambakit-plugin.h"

enum mk_synth_task { MK_SYNTH_SELECTIVE_COPYING, MK_SYNTH_INDUCTION_HEADS, MK_SYNTH_NONE };

int mk_synth_create(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                    size_t errlen);
void mk_synth_destroy(void *handle);
int32_t mk_synth_vocab_size(void *handle);
int32_t mk_synth_special(void *handle, enum mk_special_token which);
int mk_synth_piece(void *handle, int32_t id, char *buf, size_t cap);
int mk_synth_open_reader(void *handle, const char *source, const char *labels,
                         size_t max_chunk, void **reader, char *err, size_t errlen);
int mk_synth_read(void *reader, struct mk_record *rec, char *err, size_t errlen);
void mk_synth_close_reader(void *reader);
int mk_synth_write(void *handle, const int32_t *tokens, size_t n, const char *id,
                   mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen);

/* Example `index` of the stream `seed` into tokens[0..length] and weights[0..length]
 * (length + 1 entries each); the reader hands out exactly these. */
void mk_synth_example(void *handle, uint64_t seed, uint64_t index, int32_t *tokens,
                      float *weights);

#endif
