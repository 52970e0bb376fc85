/* markov.c — markov.h: one open-addressing hash table per order, keyed by the context packed
 * 5 bits a token (order j: j tokens, the newest in the low bits, plus a leading 1 so that
 * contexts of different lengths never share a key), holding n(c) and n(c, x) for every x.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "markov.h"

struct table {
    uint64_t *keys;   /* [cap], 0 = empty */
    uint32_t *counts; /* [cap][V + 1]: n(c, x) for x < V, then n(c) */
    size_t cap, used;
};

struct mk_markov {
    int k, V;
    struct table t[MK_MARKOV_MAX_ORDER + 1];
};

static uint64_t hash(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
}

static size_t find(const struct table *t, uint64_t key)
{
    size_t i = hash(key) & (t->cap - 1);
    while (t->keys[i] && t->keys[i] != key)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int grow(struct table *t, int V)
{
    struct table n = {.cap = t->cap ? 2 * t->cap : 1024};
    n.keys = calloc(n.cap, sizeof *n.keys);
    n.counts = calloc(n.cap * (size_t)(V + 1), sizeof *n.counts);
    if (!n.keys || !n.counts) {
        free(n.keys);
        free(n.counts);
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i]) {
            size_t j = find(&n, t->keys[i]);
            n.keys[j] = t->keys[i];
            memcpy(n.counts + j * (V + 1), t->counts + i * (V + 1), (V + 1) * sizeof *n.counts);
            n.used++;
        }
    free(t->keys);
    free(t->counts);
    *t = n;
    return 0;
}

/* the key of the j tokens before position i (ctx[i-j .. i-1]) */
static uint64_t key_of(const int32_t *ctx, size_t i, int j)
{
    uint64_t key = 1;
    for (int q = j; q >= 1; q--)
        key = key << 5 | (uint64_t)ctx[i - q];
    return key;
}

mk_status mk_markov_fit(struct mk_markov **out, const struct mk_dataset *ds, int k, int V)
{
    *out = NULL;
    if (k < 1 || k > MK_MARKOV_MAX_ORDER)
        return mk_fail(MK_ERR_INVALID, "Markov order %d: expected 1 to %d", k, MK_MARKOV_MAX_ORDER);
    if (V < 1 || V > 32)
        return mk_fail(MK_ERR_UNSUPPORTED, "a Markov baseline needs a vocabulary of at most 32 "
                       "tokens (DNA), not %d", V);
    struct mk_markov *m = calloc(1, sizeof *m);
    if (!m)
        return mk_fail(MK_ERR_NOMEM, "out of memory for the Markov baseline");
    m->k = k;
    m->V = V;
    for (size_t d = 0; d < ds->n_docs; d++) {
        const int32_t *doc = ds->tokens + ds->docs[d].start;
        const float *w = ds->weights ? ds->weights + ds->docs[d].start : NULL;
        for (size_t i = 0; i < ds->docs[d].len; i++) {
            if ((w && w[i] == 0) || doc[i] < 0 || doc[i] >= V)
                continue;
            for (int j = 0; j <= k && (size_t)j <= i; j++) {
                struct table *t = &m->t[j];
                if (2 * (t->used + 1) > t->cap && grow(t, V)) {
                    mk_markov_free(m);
                    return mk_fail(MK_ERR_NOMEM, "out of memory for the order-%d Markov counts", j);
                }
                const uint64_t key = key_of(doc, i, j);
                size_t s = find(t, key);
                if (!t->keys[s]) {
                    t->keys[s] = key;
                    t->used++;
                }
                t->counts[s * (V + 1) + doc[i]]++;
                t->counts[s * (V + 1) + V]++;
            }
        }
    }
    *out = m;
    return MK_OK;
}

void mk_markov_free(struct mk_markov *m)
{
    if (!m)
        return;
    for (int j = 0; j <= MK_MARKOV_MAX_ORDER; j++) {
        free(m->t[j].keys);
        free(m->t[j].counts);
    }
    free(m);
}

int mk_markov_order(const struct mk_markov *m)
{
    return m->k;
}

double mk_markov_logp(const struct mk_markov *m, int order, const int32_t *ctx, size_t n,
                      int32_t x)
{
    const int V = m->V, top = (size_t)order < n ? order : (int)n;
    double p = 1.0 / V;
    for (int j = 0; j <= top; j++) {
        const struct table *t = &m->t[j];
        double nx = 0, nc = 0;
        if (t->cap) {
            const size_t s = find(t, key_of(ctx, n, j));
            if (t->keys[s]) {
                nx = t->counts[s * (V + 1) + x];
                nc = t->counts[s * (V + 1) + V];
            }
        }
        p = j == 0 ? (nx + 1.0) / (nc + V) : (nx + MK_MARKOV_BETA * p) / (nc + MK_MARKOV_BETA);
    }
    return log(p);
}

void mk_markov_score_batch(const struct mk_markov *m, const struct mk_batch *b, double *nats)
{
    for (int r = 0; r < b->B; r++) {
        const int32_t *ids = b->ids + (size_t)r * b->L;
        size_t start = 0; /* the row's context starts at its last document start */
        for (int t = 0; t < b->L; t++) {
            if (b->reset && b->has_reset && b->reset[(size_t)r * b->L + t])
                start = (size_t)t;
            const int32_t y = b->targets[(size_t)r * b->L + t];
            if (y < 0 || y >= m->V)
                continue;
            for (int j = 1; j <= m->k; j++)
                nats[j - 1] -= mk_markov_logp(m, j, ids + start, (size_t)t + 1 - start, y);
        }
    }
}
