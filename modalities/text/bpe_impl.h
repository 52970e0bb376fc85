/* bpe_impl.h — the inside of struct mk_bpe, shared by bpe.c (the model, tokenizer.json,
 * encoding) and bpe_train.c (training builds a model through the same functions a load
 * uses). Not for use outside modalities/text/.
 */
#ifndef MK_BPE_IMPL_H
#define MK_BPE_IMPL_H

#include "text/bpe.h"

enum { MK_BPE_ADDED = 1, MK_BPE_SPECIAL = 2 };

struct mk_bpe {
    int32_t V;                /* ids are [0, V) */
    char **piece;             /* [V] bytes of each token (NULL: a hole in the id space) */
    uint32_t *piece_len;      /* [V] */
    uint8_t *flags;           /* [V] MK_BPE_ADDED, MK_BPE_SPECIAL */
    size_t cap;               /* capacity of the three arrays above */
    struct mk_strmap ids;     /* model token bytes → id */
    struct mk_strmap added_ids; /* added token content → id (may equal a model token's bytes:
                                 GPT-NeoX has both "ĠĠĠĠ" in the vocab and "    " added) */
    int32_t byte_id[256];     /* the single-byte tokens */
    struct mk_u64map merges;  /* (a << 32 | b) → (rank << 32 | merged id) */
    int32_t (*merge_list)[2]; /* [n_merges] the pairs in rank order */
    size_t n_merges, merge_cap;
    int32_t *added;           /* [n_added] ids of added tokens, matched before pre-tokenizing */
    size_t n_added;
    int nfc;                  /* the file had an NFC normalizer (kept when saving) */
    /* encoding scratch and the word cache (word bytes → offset of [n, ids...] in cache_v) */
    struct mk_strmap cache;
    struct mk_ids cache_v;
    int32_t *work;            /* 3 x the longest word: symbols, prev and next links */
    size_t work_cap;
    struct heap_entry *heap;
    size_t heap_cap;
};

struct mk_bpe *mk_bpe_alloc(void);
/* Gives id the bytes s[0..len) (flags: MK_BPE_ADDED / MK_BPE_SPECIAL). Returns 0, -1 if out
 * of memory, or 1 if the id, or the bytes among tokens of the same kind, already exist. */
int mk_bpe_set_token(struct mk_bpe *b, int32_t id, const char *s, size_t len, int flags);
/* Adds the merge (a, c) with the next rank; the merged token must exist. Returns 0, -1 if out
 * of memory, 1 if a token a+c is missing, 2 if the pair is already a merge. */
int mk_bpe_add_merge(struct mk_bpe *b, int32_t a, int32_t c);
/* Checks that the 256 single bytes are tokens and collects the added tokens. */
int mk_bpe_finish(struct mk_bpe *b, const char *where, char *err, size_t errlen);

#endif
