/* chunker.c — whole records, streamed chunks and windows from a record's token stream
 * (see chunker.h).
 *
 * The buffer holds the record's tokens from position `base`. A chunk handed out points into
 * it, so nothing moves until the next call; then the tokens before `keep_from` are dropped.
 * Streamed chunks hold one token back (a chunk goes out only when more than max_chunk tokens
 * wait) so that the final chunk always has tokens and can carry last = 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/chunker.h"
#include "common/modutil.h"

void mk_chunker_init(struct mk_chunker *ch, size_t max_chunk, size_t window, size_t stride,
                     int weighted)
{
    *ch = (struct mk_chunker){.max_chunk = max_chunk, .window = window,
                              .stride = stride ? stride : window, .weighted = weighted};
}

void mk_chunker_free(struct mk_chunker *ch)
{
    free(ch->id);
    free(ch->label);
    free(ch->chunk_id);
    free(ch->tok);
    free(ch->w);
    mk_chunker_init(ch, 0, 0, 0, 0);
}

int mk_chunker_begin(struct mk_chunker *ch, const char *id, const char *label)
{
    free(ch->id);
    free(ch->label);
    ch->id = strdup(id);
    ch->label = label ? strdup(label) : NULL;
    ch->n = 0;
    ch->base = ch->keep_from = ch->next_start = ch->covered = 0;
    ch->ended = ch->done = 0;
    return (!ch->id || (label && !ch->label)) ? -1 : 0;
}

int mk_chunker_push(struct mk_chunker *ch, int32_t tok, float weight)
{
    if (mk_grow((void **)&ch->tok, &ch->tok_cap, ch->n + 1, sizeof(int32_t)))
        return -1;
    if (ch->weighted) {
        if (mk_grow((void **)&ch->w, &ch->w_cap, ch->n + 1, sizeof(float)))
            return -1;
        ch->w[ch->n] = weight;
    }
    ch->tok[ch->n++] = tok;
    return 0;
}

void mk_chunker_end(struct mk_chunker *ch)
{
    ch->ended = 1;
}

uint64_t mk_chunker_length(const struct mk_chunker *ch)
{
    return ch->base + ch->n;
}

/* Drops the buffered tokens before keep_from. */
static void compact(struct mk_chunker *ch)
{
    size_t k = (size_t)(ch->keep_from - ch->base);
    if (k == 0)
        return;
    memmove(ch->tok, ch->tok + k, (ch->n - k) * sizeof(int32_t));
    if (ch->weighted)
        memmove(ch->w, ch->w + k, (ch->n - k) * sizeof(float));
    ch->n -= k;
    ch->base = ch->keep_from;
}

/* Hands out record positions [start, start + len). */
static int emit(struct mk_chunker *ch, struct mk_record *rec, uint64_t start, size_t len,
                int last)
{
    size_t i = (size_t)(start - ch->base);
    *rec = (struct mk_record){.tokens = ch->tok + i, .weights = ch->weighted ? ch->w + i : NULL,
                              .n = len, .id = ch->id, .label = ch->label, .offset = start,
                              .last = last};
    ch->covered = start + len;
    if (ch->window) {
        int k = snprintf(NULL, 0, "%s:%" PRIu64 "-%" PRIu64, ch->id, start + 1, start + len);
        char *s = realloc(ch->chunk_id, (size_t)k + 1);
        if (!s)
            return -1;
        snprintf(s, (size_t)k + 1, "%s:%" PRIu64 "-%" PRIu64, ch->id, start + 1, start + len);
        ch->chunk_id = s;
        rec->id = s;
    }
    return 1;
}

static int next_window(struct mk_chunker *ch, struct mk_record *rec)
{
    uint64_t len = ch->base + ch->n, start = ch->next_start;
    if (start + ch->window <= len) {
        ch->keep_from = start; /* the tail window may reach back into this one */
        ch->next_start += ch->stride;
        return emit(ch, rec, start, ch->window, 1);
    }
    if (!ch->ended || ch->done)
        return 0;
    ch->done = 1;
    if (ch->covered == len)
        return 0;
    start = len > ch->window ? len - ch->window : 0;
    return emit(ch, rec, start, (size_t)(len - start), 1);
}

static int next_chunk(struct mk_chunker *ch, struct mk_record *rec)
{
    if (ch->max_chunk && ch->n > ch->max_chunk) {
        ch->keep_from = ch->base + ch->max_chunk;
        return emit(ch, rec, ch->base, ch->max_chunk, 0);
    }
    if (!ch->ended || ch->done || ch->n == 0)
        return 0;
    ch->done = 1;
    ch->keep_from = ch->base + ch->n;
    return emit(ch, rec, ch->base, ch->n, 1);
}

int mk_chunker_next(struct mk_chunker *ch, struct mk_record *rec)
{
    compact(ch);
    return ch->window ? next_window(ch, rec) : next_chunk(ch, rec);
}
