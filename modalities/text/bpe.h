/* bpe.h — byte-level BPE (GPT-2 / GPT-NeoX style): load and save the Hugging Face
 * tokenizer.json format, train on a corpus, encode any bytes, decode ids back to the bytes.
 *
 * The model: every token stands for a byte string; ids 0..V-1. Encoding splits the text on
 * added tokens (leftmost-longest match, as Hugging Face does), cuts the rest into GPT-2
 * pre-tokens (pretok.h), starts each pre-token as its single-byte tokens and applies the
 * merges in rank order (lowest rank first, leftmost first among equals) until none applies.
 * Decoding concatenates the tokens' bytes, so decode(encode(x)) == x for every byte string x,
 * valid UTF-8 or not.
 *
 * tokenizer.json (the parts used): model.type "BPE", model.vocab {token: id}, model.merges
 * as "a b" strings or [a, b] pairs, added_tokens [{id, content, special}], pre_tokenizer
 * ByteLevel (or null), decoder ByteLevel (or null), normalizer null or NFC. Token strings
 * are in GPT-2's byte alphabet: byte b is the code point b for the printable bytes '!'..'~',
 * 0xA1..0xAC and 0xAE..0xFF, and 256, 257, ... for the other 68 bytes in order (so a space
 * is 'Ġ' U+0120). Loading refuses, naming the key, what this cannot reproduce: other model
 * types, byte_fallback, subword prefixes/suffixes, other pre-tokenizers and normalizers. An
 * NFC normalizer is accepted but not applied (text is expected in NFC already; ids of text
 * not in NFC may then differ from Hugging Face's, but still decode to the same bytes).
 *
 *   struct mk_bpe *b;  mk_bpe_load(&b, "tokenizer.json", err, sizeof err);
 *   struct mk_ids ids = {0};  mk_bpe_encode(b, text, len, &ids);
 *   struct mk_bytes out = {0};  mk_bpe_decode(b, ids.v, ids.n, 1, &out);
 */
#ifndef MK_BPE_H
#define MK_BPE_H

#include <stddef.h>
#include <stdint.h>
#include "common/modutil.h"

struct mk_bpe;

/* A growable list of token ids. */
struct mk_ids {
    int32_t *v;
    size_t n, cap;
};

int mk_bpe_load(struct mk_bpe **out, const char *path, char *err, size_t errlen);
/* Parses tokenizer.json text (json[0..len)); `where` names it in messages. */
int mk_bpe_from_json(struct mk_bpe **out, const char *json, size_t len, const char *where,
                     char *err, size_t errlen);
/* The tokenizer.json text of b (malloc'd, NUL-terminated). */
int mk_bpe_to_json(const struct mk_bpe *b, char **json, char *err, size_t errlen);
void mk_bpe_free(struct mk_bpe *b);

/* Trains on the files of the given sources (paths or globs, read whole) until the vocabulary
 * has vocab_size tokens or no pair occurs min_frequency times. The vocabulary starts with
 * <|endoftext|> (0) and <|padding|> (1), as GPT-NeoX's does, then the 256 bytes. */
int mk_bpe_train(struct mk_bpe **out, const char *const *sources, size_t n_sources,
                 int32_t vocab_size, int64_t min_frequency, char *err, size_t errlen);

int32_t mk_bpe_vocab_size(const struct mk_bpe *b);
/* The id of the token whose bytes are s[0..len) (model vocabulary or added token), or -1. */
int32_t mk_bpe_token_id(const struct mk_bpe *b, const char *s, size_t len);
/* The bytes of token id (*len of them), or NULL for an id outside [0, V) or a hole. */
const char *mk_bpe_piece(const struct mk_bpe *b, int32_t id, size_t *len);
/* 1 if id is an added token marked special (<|endoftext|>, <|padding|>). */
int mk_bpe_is_special(const struct mk_bpe *b, int32_t id);

/* Appends the ids of text[0..n) to ids. Returns 0, or -1 if out of memory. Not thread-safe
 * (it caches the ids of frequent words in b). */
int mk_bpe_encode(struct mk_bpe *b, const unsigned char *text, size_t n, struct mk_ids *ids);
/* Appends the bytes of ids to out, special tokens too unless skip_special. Returns 0, -1 if
 * out of memory, or 1 if an id is outside the vocabulary. */
int mk_bpe_decode(const struct mk_bpe *b, const int32_t *ids, size_t n, int skip_special,
                  struct mk_bytes *out);

#endif
