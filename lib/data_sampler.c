/* data_sampler.c — cutting batches of windows from a dataset (see data.h for the rules).
 *
 * Window starts. A window covers `span` tokens: L + 1 for a language model (ids and shifted
 * targets), L for a classifier. Inside a run of n tokens (one document, or the whole stream
 * when packed) the starts are 0 .. max(1, n - span + 1) - 1; a run shorter than the span has
 * the single start 0 and is padded. random_window draws uniformly among all starts of all
 * runs (a binary search over the runs' start counts); sequential and per_record step through
 * windows that do not overlap, with a stride of L.
 */
#include <stdlib.h>
#include <string.h>
#include "data.h"

void mk_sampler_init(struct mk_sampler *s, int kind, int L, int lm, int pack, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->L = L;
    s->lm = lm;
    s->pack = pack && lm; /* a classification window keeps to its document */
    s->seed = seed;
    mk_rng_seed(&s->rng, seed);
}

mk_status mk_batch_alloc(struct mk_batch *b, int B, int L)
{
    memset(b, 0, sizeof *b);
    size_t T = (size_t)B * L;
    b->B = B;
    b->L = L;
    b->ids = malloc(T * sizeof *b->ids);
    b->targets = malloc(T * sizeof *b->targets);
    b->weights = malloc(T * sizeof *b->weights);
    b->reset = malloc(T);
    b->labels = malloc((size_t)B * sizeof *b->labels);
    b->lengths = malloc((size_t)B * sizeof *b->lengths);
    b->doc = malloc((size_t)B * sizeof *b->doc);
    if (!b->ids || !b->targets || !b->weights || !b->reset || !b->labels || !b->lengths || !b->doc) {
        mk_batch_free(b);
        return mk_fail(MK_ERR_NOMEM, "out of memory for a batch of %d x %d", B, L);
    }
    return MK_OK;
}

void mk_batch_free(struct mk_batch *b)
{
    free(b->ids);
    free(b->targets);
    free(b->weights);
    free(b->reset);
    free(b->labels);
    free(b->lengths);
    free(b->doc);
    memset(b, 0, sizeof *b);
}

static size_t span_of(const struct mk_sampler *s)
{
    return (size_t)s->L + (s->lm ? 1 : 0);
}

/* Random starts in a run of n tokens; sequential windows (stride L) in it. */
static uint64_t n_starts(const struct mk_sampler *s, size_t n)
{
    size_t span = span_of(s);
    return n >= span ? n - span + 1 : 1;
}

static uint64_t n_windows(const struct mk_sampler *s, size_t n)
{
    size_t span = span_of(s), L = (size_t)s->L;
    return n >= span ? (n - span) / L + 1 : 1;
}

uint64_t mk_sampler_epoch_size(const struct mk_sampler *s, const struct mk_dataset *ds)
{
    if (s->kind == MK_SAMPLER_PER_RECORD)
        return ds->n_docs;
    if (s->pack)
        return n_windows(s, ds->n_tokens);
    uint64_t total = 0;
    for (size_t i = 0; i < ds->n_docs; i++)
        total += n_windows(s, ds->docs[i].len);
    return total;
}

/* The document holding stream position pos (binary search on starts). */
static size_t doc_at(const struct mk_dataset *ds, size_t pos)
{
    size_t lo = 0, hi = ds->n_docs;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (ds->docs[mid].start <= pos)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Picks the k-th window start among the runs, counting `per_run` starts in each. */
static size_t kth_start(const struct mk_sampler *s, const struct mk_dataset *ds, uint64_t k,
                        uint64_t (*per_run)(const struct mk_sampler *, size_t), size_t stride)
{
    if (s->pack)
        return (size_t)k * stride;
    for (size_t i = 0; i < ds->n_docs; i++) {
        uint64_t c = per_run(s, ds->docs[i].len);
        if (k < c)
            return ds->docs[i].start + (size_t)k * stride;
        k -= c;
    }
    return 0;
}

static uint64_t total_starts(const struct mk_sampler *s, const struct mk_dataset *ds)
{
    if (s->pack)
        return n_starts(s, ds->n_tokens);
    uint64_t total = 0;
    for (size_t i = 0; i < ds->n_docs; i++)
        total += n_starts(s, ds->docs[i].len);
    return total;
}

/* Uniform integer in [0, n) without modulo bias (Lemire's multiply-and-reject). */
static uint64_t below(struct mk_rng *r, uint64_t n)
{
    for (;;) {
        unsigned __int128 m = (unsigned __int128)mk_rng_next(r) * n;
        uint64_t lo = (uint64_t)m;
        if (lo >= (0 - n) % n)
            return (uint64_t)(m >> 64);
    }
}

/* The document at position c of epoch e's shuffled order (per_record). The order is a
 * pseudo-random permutation computed pointwise, so nothing but (seed, epoch, cursor) is state:
 * a 4-round Feistel network over the smallest power of four >= n is a bijection on it, and
 * "cycle walking" (apply again until the value is < n) restricts it to a bijection on [0, n). */
static size_t per_record_doc(const struct mk_sampler *s, uint64_t c, uint64_t e, size_t n)
{
    int half = 1;
    while (((uint64_t)1 << (2 * half)) < n)
        half++;
    const uint64_t mask = ((uint64_t)1 << half) - 1;
    const uint64_t key = s->seed ^ (0x9E3779B97F4A7C15ull * (e + 1));
    uint64_t x = c;
    do {
        uint64_t l = x >> half, r = x & mask;
        for (uint64_t round = 0; round < 4; round++) {
            struct mk_rng g;
            mk_rng_seed(&g, key ^ (round << 56) ^ r);
            uint64_t t = l ^ (mk_rng_next(&g) & mask);
            l = r;
            r = t;
        }
        x = l << half | r;
    } while (x >= n);
    return (size_t)x;
}

/* The start of the next window, advancing the sampler. */
static size_t next_start(struct mk_sampler *s, const struct mk_dataset *ds)
{
    if (s->kind == MK_SAMPLER_RANDOM_WINDOW)
        return kth_start(s, ds, below(&s->rng, total_starts(s, ds)), n_starts, 1);
    uint64_t size = mk_sampler_epoch_size(s, ds);
    if (s->cursor >= size) {
        s->cursor = 0;
        s->epoch++;
    }
    uint64_t c = s->cursor++;
    if (s->kind == MK_SAMPLER_SEQUENTIAL)
        return kth_start(s, ds, c, n_windows, (size_t)s->L);
    return ds->docs[per_record_doc(s, c, s->epoch, ds->n_docs)].start;
}

/* Scratch for one window: its tokens, weights, and where document pieces start. */
struct span_buf {
    int32_t *tok;
    float *w;
    uint8_t *cut; /* cut[i] = 1: token i starts a new document (packed windows) */
};

/* Fills row b from stream position `start`: ids, targets, reset flags, label, length. */
static void fill_row(struct mk_sampler *s, const struct mk_dataset *ds, struct mk_batch *bt,
                     int b, size_t start, const struct span_buf *sb,
                     const struct mk_modality *aug, void *handle)
{
    int32_t *span_tok = sb->tok;
    float *span_w = sb->w;
    const size_t span = span_of(s), L = (size_t)s->L;
    size_t d = doc_at(ds, start);
    size_t end = s->pack ? ds->n_tokens : ds->docs[d].start + ds->docs[d].len;
    size_t n = end - start < span ? end - start : span;
    memcpy(span_tok, ds->tokens + start, n * sizeof *span_tok);
    for (size_t i = 0; i < n; i++)
        span_w[i] = ds->weights ? ds->weights[start + i] : 1.0f;
    /* document pieces of the span: [piece_start, next doc start) */
    uint8_t *reset = bt->reset + (size_t)b * L;
    memset(reset, 0, L);
    size_t piece = 0;
    memset(sb->cut, 0, span);
    for (size_t i = 1; i <= n; i++) {
        int boundary = i < n && s->pack && doc_at(ds, start + i) != doc_at(ds, start + i - 1);
        if (i < n && !boundary)
            continue;
        if (aug && aug->augment)
            aug->augment(handle, span_tok + piece, span_w + piece, i - piece,
                         mk_rng_next(&s->rng));
        if (boundary) {
            sb->cut[i] = 1;
            if (i < L) {
                reset[i] = 1;
                bt->has_reset = 1;
            }
        }
        piece = i;
    }
    int32_t *ids = bt->ids + (size_t)b * L, *tg = bt->targets + (size_t)b * L;
    float *tw = bt->weights + (size_t)b * L;
    for (size_t t = 0; t < L; t++) {
        ids[t] = t < n ? span_tok[t] : ds->pad_id;
        int ok = s->lm && t + 1 < n && !sb->cut[t + 1] && span_w[t + 1] > 0;
        tg[t] = ok ? span_tok[t + 1] : -1;
        tw[t] = ok ? span_w[t + 1] : 0.0f;
        bt->has_weights |= ok && tw[t] != 1.0f;
        bt->n_targets += ok;
    }
    bt->labels[b] = ds->docs[d].label;
    bt->lengths[b] = (int32_t)(n < L ? n : L);
    bt->doc[b] = d;
}

mk_status mk_sampler_next(struct mk_sampler *s, const struct mk_dataset *ds,
                          struct mk_batch *b, const struct mk_modality *augment, void *handle)
{
    if (b->L != s->L)
        return mk_fail(MK_ERR_INVALID, "batch of length %d for a sampler of %d", b->L, s->L);
    if (ds->n_tokens == 0)
        return mk_fail(MK_ERR_INVALID, "the dataset is empty");
    size_t span = span_of(s);
    struct span_buf sb = {malloc(span * sizeof *sb.tok), malloc(span * sizeof *sb.w),
                          malloc(span)};
    mk_status st = MK_OK;
    if (!sb.tok || !sb.w || !sb.cut)
        st = mk_fail(MK_ERR_NOMEM, "out of memory sampling a batch");
    b->has_reset = 0;
    b->has_weights = 0;
    b->n_targets = 0;
    for (int r = 0; st == MK_OK && r < b->B; r++)
        fill_row(s, ds, b, r, next_start(s, ds), &sb, augment, handle);
    free(sb.tok);
    free(sb.w);
    free(sb.cut);
    return st;
}
