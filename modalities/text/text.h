/* text.h — the text modality: plain text files ↔ byte or byte-level BPE tokens.
 *
 * Vocabulary:
 *   tokenizer: bytes   ids 0..255 are the bytes, 256 <pad>, 257 <s> (BOS), 258 </s> (EOS),
 *                      259 <mask>: V = 260. Any file, UTF-8 or not, round-trips exactly.
 *   tokenizer: bpe     the tokenizer.json named by vocab_file (bpe.h): V from the file;
 *                      EOS = <|endoftext|> (or </s>, <eos>), BOS = <s> or <bos> if present,
 *                      else the EOS token (as GPT-NeoX does), PAD = <|padding|> (or <pad>).
 *
 * Options (defaults in brackets):
 *   tokenizer: bytes|bpe [bytes]     vocab_file: PATH (tokenizer.json; needed for bpe)
 *   doc: file|line [file]            a document is a whole file, or each non-empty line
 *                                    (without its newline; id "PATH:LINE")
 *   add_bos [false], add_eos [true]  around each document (EOS separates documents when
 *                                    they are packed, as in GPT-NeoX's training data)
 *   window: W [0], stride: S [W]     hand out windows (common/chunker.h)
 * Empty documents are skipped. Files are read whole (text corpora are megabytes); tokens
 * still come out in chunks of at most max_chunk.
 *
 * The writer decodes ids to bytes (special tokens dropped) and writes them as they are.
 */
#ifndef MK_TEXT_H
#define MK_TEXT_H

#include "mambakit-plugin.h"

enum { MK_TEXT_PAD = 256, MK_TEXT_BOS, MK_TEXT_EOS, MK_TEXT_MASK, MK_TEXT_BYTES_V };

int mk_text_create(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                   size_t errlen);
void mk_text_destroy(void *handle);
int32_t mk_text_vocab_size(void *handle);
int32_t mk_text_special(void *handle, enum mk_special_token which);
int mk_text_piece(void *handle, int32_t id, char *buf, size_t cap);
int mk_text_open_reader(void *handle, const char *source, const char *labels, size_t max_chunk,
                        void **reader, char *err, size_t errlen);
int mk_text_read(void *reader, struct mk_record *rec, char *err, size_t errlen);
void mk_text_close_reader(void *reader);
int mk_text_write(void *handle, const int32_t *tokens, size_t n, const char *id,
                  mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen);

#endif
