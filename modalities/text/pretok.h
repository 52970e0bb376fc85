/* pretok.h — UTF-8 decoding, Unicode letter/number/space classes, and the GPT-2 byte-level
 * pre-tokenizer that splits text into the pieces BPE merges within (Hugging Face
 * ByteLevel with use_regex = true, GPT-2 / GPT-NeoX):
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * implemented by hand on code points (no regex engine has \p{L} in C). Bytes that are not
 * valid UTF-8 count as one "other" character each, so any byte string splits and the pieces
 * always concatenate back to the input.
 */
#ifndef MK_PRETOK_H
#define MK_PRETOK_H

#include <stddef.h>
#include <stdint.h>

enum mk_uclass { MK_UC_OTHER, MK_UC_LETTER, MK_UC_NUMBER, MK_UC_SPACE };

struct mk_unicode_range {
    uint32_t lo, hi;
    uint8_t cls;
};
extern const struct mk_unicode_range mk_unicode_ranges[]; /* unicode_classes.c (generated) */
extern const size_t mk_unicode_n_ranges;

/* MK_UC_LETTER for \p{L}, MK_UC_NUMBER for \p{N}, MK_UC_SPACE for White_Space, else other. */
enum mk_uclass mk_unicode_class(uint32_t cp);
/* Decodes the character at s[0..n) (n > 0) into *cp and returns its length in bytes; an
 * invalid or truncated sequence is one byte long with *cp = MK_UTF8_INVALID. */
#define MK_UTF8_INVALID 0xFFFFFFFFu
size_t mk_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
/* Calls piece(ctx, start, len) for each pre-token of s[0..n) in order; stops at and returns
 * the first nonzero value piece returns, else 0. */
int mk_pretok_gpt2(const unsigned char *s, size_t n,
                   int (*piece)(void *ctx, size_t start, size_t len), void *ctx);

#endif
