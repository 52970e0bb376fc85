/* bpe_train.c — training a byte-level BPE on a corpus (mk_bpe_train in bpe.h).
 *
 * The classic algorithm (Sennrich et al. 2016) on unique pre-tokens weighted by their counts:
 * count every adjacent token pair, merge the most frequent pair into a new token everywhere,
 * repeat. Done incrementally, as Hugging Face's trainer does: a merge only touches the words
 * that contain the pair (an index pair → words), and updates the counts of the pairs around
 * each occurrence:
 *     x a b y  →  x ab y :  (x,a) -= c, (a,b) -= c, (b,y) -= c, (x,ab) += c, (ab,y) += c
 * for a word of count c. The best pair comes from a max-heap with lazy deletion: an entry
 * whose count is no longer the pair's count is skipped (and re-pushed with the current count
 * if that went down). Ties go to the smaller pair of ids, so training is deterministic.
 */
#include <stdlib.h>
#include <string.h>
#include "common/source.h"
#include "text/bpe_impl.h"
#include "text/pretok.h"

struct pair_entry {
    int64_t count;
    uint64_t pair;
};

struct word_list {
    int32_t *v; /* word indices, possibly repeated */
    size_t n, cap;
};

struct trainer {
    struct mk_bpe *b;
    /* unique pre-tokens */
    struct mk_strmap word_ids; /* bytes → word index (during counting) */
    int64_t *count;            /* [n_words] occurrences */
    size_t *start, *len;       /* [n_words] symbols sym[start .. start + len) */
    size_t n_words, words_cap, count_cap, start_cap, len_cap;
    int32_t *sym;
    size_t n_sym, sym_cap;
    /* pairs */
    struct mk_u64map pair_count;   /* pair → count */
    struct mk_u64map pair_where;   /* pair → index into where[] */
    struct word_list *where;
    size_t n_where, where_cap;
    struct pair_entry *heap;
    size_t n_heap, heap_cap;
    int64_t *seen;                 /* [n_words] last merge that visited the word */
};

/* Counts one pre-token w[0..len). */
static int add_word(struct trainer *t, const char *w, size_t len)
{
    int32_t k = mk_strmap_get(&t->word_ids, w, len);
    if (k >= 0) {
        t->count[k]++;
        return 0;
    }
    size_t i = t->n_words;
    if (i >= INT32_MAX || mk_strmap_put(&t->word_ids, w, len, (int32_t)i) ||
        mk_grow((void **)&t->count, &t->count_cap, i + 1, sizeof(int64_t)) ||
        mk_grow((void **)&t->start, &t->start_cap, i + 1, sizeof(size_t)) ||
        mk_grow((void **)&t->len, &t->len_cap, i + 1, sizeof(size_t)) ||
        mk_grow((void **)&t->sym, &t->sym_cap, t->n_sym + len, sizeof(int32_t)))
        return -1;
    t->count[i] = 1;
    t->start[i] = t->n_sym;
    t->len[i] = len;
    for (size_t j = 0; j < len; j++)
        t->sym[t->n_sym++] = t->b->byte_id[(unsigned char)w[j]];
    t->n_words++;
    return 0;
}

struct count_ctx {
    struct trainer *t;
    const unsigned char *text;
};

static int count_piece(void *ctx, size_t start, size_t len)
{
    struct count_ctx *c = ctx;
    return add_word(c->t, (const char *)c->text + start, len);
}

/* ---- pair bookkeeping ---- */

static uint64_t pair_of(int32_t a, int32_t c)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)c;
}

/* Max-heap order: higher count first, then the smaller pair. */
static int heap_above(const struct pair_entry *x, const struct pair_entry *y)
{
    return x->count > y->count || (x->count == y->count && x->pair < y->pair);
}

static int heap_push(struct trainer *t, int64_t count, uint64_t pair)
{
    if (mk_grow((void **)&t->heap, &t->heap_cap, t->n_heap + 1, sizeof(struct pair_entry)))
        return -1;
    struct pair_entry e = {count, pair};
    size_t i = t->n_heap++;
    while (i > 0 && heap_above(&e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return 0;
}

static struct pair_entry heap_pop(struct trainer *t)
{
    struct pair_entry top = t->heap[0], last = t->heap[--t->n_heap];
    size_t i = 0, n = t->n_heap;
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && heap_above(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!heap_above(&t->heap[c], &last))
            break;
        t->heap[i] = t->heap[c];
    }
    if (n > 0)
        t->heap[i] = last;
    return top;
}

/* Adds delta occurrences of pair (a, c) in word w; a pair that gains is (re)pushed. */
static int add_pair(struct trainer *t, int32_t a, int32_t c, int64_t delta, size_t w)
{
    uint64_t p = pair_of(a, c);
    int64_t *cnt = mk_u64map_at(&t->pair_count, p);
    if (!cnt)
        return -1;
    *cnt += delta;
    if (delta < 0)
        return 0;
    int64_t now = *cnt;
    int64_t *wi = mk_u64map_at(&t->pair_where, p);
    if (!wi)
        return -1;
    if (*wi == 0) { /* 0 = no list yet; lists are numbered from 1 */
        if (mk_grow((void **)&t->where, &t->where_cap, t->n_where + 1, sizeof(struct word_list)))
            return -1;
        t->where[t->n_where++] = (struct word_list){0};
        *wi = (int64_t)t->n_where;
    }
    struct word_list *l = &t->where[*wi - 1];
    if (!(l->n > 0 && l->v[l->n - 1] == (int32_t)w)) {
        if (mk_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(int32_t)))
            return -1;
        l->v[l->n++] = (int32_t)w;
    }
    return heap_push(t, now, p);
}

/* Replaces every (a, c) in word w by m, updating the pair counts around each occurrence. The
 * word is rewritten in place: s[0..o) is already merged, s[i..) not yet. */
static int merge_in_word(struct trainer *t, size_t w, int32_t a, int32_t c, int32_t m)
{
    int32_t *s = t->sym + t->start[w];
    size_t len = t->len[w], o = 0, i = 0;
    int64_t cnt = t->count[w];
    while (i < len) {
        if (i + 1 < len && s[i] == a && s[i + 1] == c) {
            int32_t x = o > 0 ? s[o - 1] : -1, y = i + 2 < len ? s[i + 2] : -1;
            if ((x >= 0 && (add_pair(t, x, a, -cnt, w) || add_pair(t, x, m, cnt, w))) ||
                (y >= 0 && (add_pair(t, c, y, -cnt, w) || add_pair(t, m, y, cnt, w))) ||
                add_pair(t, a, c, -cnt, w))
                return -1;
            s[o++] = m;
            i += 2;
        } else {
            s[o++] = s[i++];
        }
    }
    t->len[w] = o;
    return 0;
}

/* The token for the bytes of a followed by c: an existing one, or a new id V. */
static int merged_token(struct mk_bpe *b, int32_t a, int32_t c, int32_t *id)
{
    size_t la = b->piece_len[a], lc = b->piece_len[c];
    char *joined = malloc(la + lc);
    if (!joined)
        return -1;
    memcpy(joined, b->piece[a], la);
    memcpy(joined + la, b->piece[c], lc);
    *id = mk_strmap_get(&b->ids, joined, la + lc);
    int rc = 0;
    if (*id < 0) {
        *id = b->V;
        rc = mk_bpe_set_token(b, *id, joined, la + lc, 0);
    }
    free(joined);
    return rc;
}

static int count_corpus(struct trainer *t, const char *const *sources, size_t n_sources,
                        char *err, size_t errlen)
{
    struct mk_bytes text = {0};
    int st = MK_MODALITY_OK;
    for (size_t s = 0; !st && s < n_sources; s++) {
        struct mk_filelist fl;
        st = mk_filelist_expand(&fl, sources[s], err, errlen);
        for (size_t f = 0; !st && f < fl.n; f++) {
            st = mk_read_whole(fl.paths[f], &text, err, errlen);
            struct count_ctx c = {t, text.p};
            if (!st && mk_pretok_gpt2(text.p, text.n, count_piece, &c))
                st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "bpe: out of memory");
        }
        mk_filelist_free(&fl);
    }
    free(text.p);
    return st;
}

static int train_merges(struct trainer *t, int32_t vocab_size, int64_t min_frequency)
{
    for (size_t w = 0; w < t->n_words; w++)
        for (size_t i = 0; i + 1 < t->len[w]; i++)
            if (add_pair(t, t->sym[t->start[w] + i], t->sym[t->start[w] + i + 1], t->count[w], w))
                return -1;
    if (!(t->seen = malloc((t->n_words ? t->n_words : 1) * sizeof(int64_t))))
        return -1;
    memset(t->seen, 0xff, (t->n_words ? t->n_words : 1) * sizeof(int64_t));
    for (int64_t step = 0; t->b->V < vocab_size && t->n_heap > 0;) {
        struct pair_entry e = heap_pop(t);
        const int64_t *now = mk_u64map_find(&t->pair_count, e.pair);
        if (*now != e.count) {
            if (*now < e.count && *now > 0 && heap_push(t, *now, e.pair))
                return -1;
            continue;
        }
        if (e.count < min_frequency || e.count <= 0)
            break;
        int32_t a = (int32_t)(e.pair >> 32), c = (int32_t)(e.pair & 0xffffffffu), m;
        if (merged_token(t->b, a, c, &m) || mk_bpe_add_merge(t->b, a, c) < 0)
            return -1;
        /* merging adds pairs, so the maps and t->where may move while the words are
         * visited: hold the list's number, not pointers (the list itself never grows here,
         * since no new pair (x, m) or (m, y) equals (a, c)) */
        size_t list = (size_t)*mk_u64map_find(&t->pair_where, e.pair) - 1;
        for (size_t k = 0; k < t->where[list].n; k++) {
            size_t w = (size_t)t->where[list].v[k];
            if (t->seen[w] == step)
                continue;
            t->seen[w] = step;
            if (merge_in_word(t, w, a, c, m))
                return -1;
        }
        step++;
    }
    return 0;
}

static void trainer_free(struct trainer *t)
{
    mk_strmap_free(&t->word_ids);
    free(t->count);
    free(t->start);
    free(t->len);
    free(t->sym);
    mk_u64map_free(&t->pair_count);
    mk_u64map_free(&t->pair_where);
    for (size_t i = 0; i < t->n_where; i++)
        free(t->where[i].v);
    free(t->where);
    free(t->heap);
    free(t->seen);
}

int mk_bpe_train(struct mk_bpe **out, const char *const *sources, size_t n_sources,
                 int32_t vocab_size, int64_t min_frequency, char *err, size_t errlen)
{
    static const char *const specials[] = {"<|endoftext|>", "<|padding|>"};
    enum { N_SPECIALS = 2 };
    *out = NULL;
    if (vocab_size < N_SPECIALS + 256)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "bpe: vocab_size %d is too small: the 2 special tokens and 256 bytes "
                           "come first", (int)vocab_size);
    struct trainer t = {.b = mk_bpe_alloc()};
    int rc = !t.b;
    for (int32_t i = 0; !rc && i < N_SPECIALS; i++)
        rc = mk_bpe_set_token(t.b, i, specials[i], strlen(specials[i]),
                              MK_BPE_ADDED | MK_BPE_SPECIAL);
    for (int i = 0; !rc && i < 256; i++) {
        char c = (char)i;
        rc = mk_bpe_set_token(t.b, N_SPECIALS + i, &c, 1, 0);
    }
    int st = rc ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "bpe: out of memory")
                : count_corpus(&t, sources, n_sources, err, errlen);
    if (!st && train_merges(&t, vocab_size, min_frequency))
        st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "bpe: out of memory");
    if (!st)
        st = mk_bpe_finish(t.b, "bpe", err, errlen);
    trainer_free(&t);
    if (st) {
        mk_bpe_free(t.b);
        return st;
    }
    *out = t.b;
    return MK_MODALITY_OK;
}
