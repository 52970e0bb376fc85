/* chunker.h — turns the token stream of one record into the chunks a reader hands out
 * (struct mk_record): whole records, streamed chunks of at most max_chunk tokens, or windows
 * of a given length and stride. Readers push tokens as they parse, so a 5 Mbp genome never
 * needs to be in memory at once unless whole records are asked for.
 *
 *   mk_chunker_begin(&ch, "chrM", label);
 *   for each token: mk_chunker_push(&ch, tok, weight);   then, between pushes or at the end,
 *   while (mk_chunker_next(&ch, &rec)) hand rec out;      (rec valid until the next call)
 *   mk_chunker_end(&ch); while (mk_chunker_next(&ch, &rec)) hand rec out;
 *
 * Windows (window = W > 0, stride S): record positions [kS, kS + W) for k = 0, 1, ... while
 * they fit, then, if the tail is not covered, one more window [len - W, len) ending at the
 * record's end; a record shorter than W gives one short window. Each window is a record of its
 * own: id "ID:START-END" (1-based, inclusive, as samtools regions), offset START - 1, last = 1.
 */
#ifndef MK_CHUNKER_H
#define MK_CHUNKER_H

#include <stddef.h>
#include <stdint.h>
#include "mambakit-plugin.h"

struct mk_chunker {
    size_t max_chunk;       /* 0 = whole records (ignored with windows) */
    size_t window, stride;  /* window > 0: windows mode */
    int weighted;           /* keep per-token weights */
    char *id, *label;       /* current record's id and label (owned copies; label may be NULL) */
    char *chunk_id;         /* id handed out with a window */
    int32_t *tok;           /* [n] buffered tokens; tok[0] is at record position base */
    float *w;               /* [n] their weights if weighted */
    size_t n, tok_cap, w_cap;
    uint64_t base;          /* record position of tok[0] */
    uint64_t keep_from;     /* tokens before this position may be dropped */
    uint64_t next_start;    /* windows: start of the next full window */
    uint64_t covered;       /* end of the last chunk or window handed out */
    int ended;              /* no more tokens in this record */
    int done;               /* everything of this record was handed out */
};

void mk_chunker_init(struct mk_chunker *ch, size_t max_chunk, size_t window, size_t stride,
                     int weighted);
void mk_chunker_free(struct mk_chunker *ch);
/* Starts a record (the previous one is dropped). Returns 0, or -1 if out of memory. */
int mk_chunker_begin(struct mk_chunker *ch, const char *id, const char *label);
/* Appends one token. Returns 0, or -1 if out of memory. */
int mk_chunker_push(struct mk_chunker *ch, int32_t tok, float weight);
void mk_chunker_end(struct mk_chunker *ch);
/* Tokens pushed in the current record so far. */
uint64_t mk_chunker_length(const struct mk_chunker *ch);
/* Fills rec with the next chunk that is ready and returns 1, or returns 0 if more tokens are
 * needed (or, after mk_chunker_end, when the record is exhausted). Returns -1 if out of
 * memory. */
int mk_chunker_next(struct mk_chunker *ch, struct mk_record *rec);

#endif
