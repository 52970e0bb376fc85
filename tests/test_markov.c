/* test_markov.c — the Markov baseline of task.kind eval (lib/markov.c) against references
 * computed here without its hash tables:
 *   1. every ln p_j(x | c) for orders 1..3 over random contexts equals the formula of
 *      markov.h evaluated on counts made by scanning the documents;
 *   2. on an i.i.d. source of entropy 1.5 bits, the order-2 model scores fresh data at
 *      1.5 bits per token (within 0.01);
 *   3. tokens of weight 0 are never counted as targets, and contexts do not cross documents;
 *   4. a batch is scored with the context since the row's last document start.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "markov.h"
#include "mambakit.h"
#include "tap.h"

/* n(c, x) and n(c) by scanning: c = the j tokens ctx[n-j..n-1] */
static void scan_counts(const struct mk_dataset *ds, const int32_t *ctx, size_t n, int j, int32_t x,
                        double *nx, double *nc)
{
    *nx = *nc = 0;
    for (size_t d = 0; d < ds->n_docs; d++) {
        const int32_t *doc = ds->tokens + ds->docs[d].start;
        const float *w = ds->weights ? ds->weights + ds->docs[d].start : NULL;
        for (size_t i = (size_t)j; i < ds->docs[d].len; i++) {
            if (w && w[i] == 0)
                continue;
            if (j && memcmp(doc + i - j, ctx + n - j, (size_t)j * sizeof *ctx))
                continue;
            *nc += 1;
            *nx += doc[i] == x;
        }
    }
}

static double reference_logp(const struct mk_dataset *ds, int V, int order, const int32_t *ctx,
                             size_t n, int32_t x)
{
    double p = 0, nx, nc;
    for (int j = 0; j <= order && (size_t)j <= n; j++) {
        scan_counts(ds, ctx, n, j, x, &nx, &nc);
        p = j == 0 ? (nx + 1) / (nc + V) : (nx + MK_MARKOV_BETA * p) / (nc + MK_MARKOV_BETA);
    }
    return log(p);
}

static void random_doc(struct mk_dataset *ds, struct mk_rng *r, size_t n, int V, int zero_every)
{
    int32_t *t = malloc(n * sizeof *t);
    float *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++) {
        const uint64_t u = mk_rng_next(r) % 4; /* p = 1/2, 1/4, 1/4 over 0, 1, 2 */
        t[i] = u < 2 ? 0 : (int32_t)u - 1;
        t[i] = t[i] < V ? t[i] : 0;
        w[i] = zero_every && i % zero_every == 0 ? 0.0f : 1.0f;
    }
    if (mk_data_add(ds, t, zero_every ? w : NULL, n, "doc", -1) != MK_OK)
        bail_out("mk_data_add: %s", mk_last_error());
    free(t);
    free(w);
}

int main(void)
{
    plan_lazy();
    struct mk_rng r;
    mk_rng_seed(&r, 5);
    struct mk_dataset ds = {0};
    random_doc(&ds, &r, 3000, 3, 7);
    random_doc(&ds, &r, 500, 3, 0);
    struct mk_markov *m = NULL;
    if (mk_markov_fit(&m, &ds, 3, 4) != MK_OK)
        bail_out("fit: %s", mk_last_error());
    double worst = 0;
    for (int q = 0; q < 300; q++) {
        int32_t ctx[3];
        const size_t n = 1 + q % 3;
        for (size_t i = 0; i < n; i++)
            ctx[i] = (int32_t)(mk_rng_next(&r) % 3);
        const int32_t x = (int32_t)(mk_rng_next(&r) % 4);
        for (int order = 1; order <= 3; order++)
            worst = fmax(worst, fabs(mk_markov_logp(m, order, ctx, n, x) -
                                     reference_logp(&ds, 4, order, ctx, n, x)));
    }
    ok(worst < 1e-12, "ln p of orders 1-3 == the formula on scanned counts (max diff %.1e)", worst);
    mk_markov_free(m);
    mk_data_free(&ds);

    struct mk_dataset train = {0}, test = {0};
    random_doc(&train, &r, 200000, 3, 0);
    random_doc(&test, &r, 50000, 3, 0);
    if (mk_markov_fit(&m, &train, 2, 3) != MK_OK)
        bail_out("fit: %s", mk_last_error());
    double bits = 0;
    for (size_t i = 2; i < test.n_tokens; i++)
        bits -= mk_markov_logp(m, 2, test.tokens, i, test.tokens[i]) / log(2.0);
    bits /= (double)(test.n_tokens - 2);
    ok(fabs(bits - 1.5) < 0.01, "i.i.d. source of entropy 1.5 bits: order 2 scores %.4f bits", bits);

    /* 3: one document 0 0 0 0 with the last token's weight 0, another 1 1: after context 0
     * only 0 follows (3 times, not 4), and 1 never follows 0 across the boundary */
    struct mk_dataset two = {0};
    const int32_t a[] = {0, 0, 0, 0}, b2[] = {1, 1};
    const float wa[] = {1, 1, 1, 0};
    mk_data_add(&two, a, wa, 4, "a", -1);
    mk_data_add(&two, b2, NULL, 2, "b", -1);
    struct mk_markov *m2 = NULL;
    if (mk_markov_fit(&m2, &two, 1, 2) != MK_OK)
        bail_out("fit: %s", mk_last_error());
    const int32_t c0 = 0;
    /* p_0(0) = (3 + 1) / (5 + 2); p_1(0 | 0) = (2 + 4 p_0(0)) / (2 + 4): targets after 0 are
     * positions 1, 2 of a (position 3 weighs 0) */
    const double p00 = 4.0 / 7.0, want = (2 + MK_MARKOV_BETA * p00) / (2 + MK_MARKOV_BETA);
    ok(fabs(mk_markov_logp(m2, 1, &c0, 1, 0) - log(want)) < 1e-12,
       "weight-0 targets and document boundaries are not counted (p %.6f, want %.6f)",
       exp(mk_markov_logp(m2, 1, &c0, 1, 0)), want);

    /* 4: a row 0 0 | 1 1 with a document start at t = 2: the target at t = 2 (id 1 -> 1) is
     * scored with context [1] only, not [0 0 1] */
    struct mk_batch bt;
    mk_batch_alloc(&bt, 1, 4);
    const int32_t ids[] = {0, 0, 1, 1}, tg[] = {0, -1, 1, 0};
    memcpy(bt.ids, ids, sizeof ids);
    memcpy(bt.targets, tg, sizeof tg);
    memset(bt.reset, 0, 4);
    bt.reset[2] = 1;
    bt.has_reset = 1;
    double nats[1] = {0};
    mk_markov_score_batch(m2, &bt, nats);
    const int32_t row[] = {0, 0, 1, 1};
    const double expect = -(mk_markov_logp(m2, 1, row, 1, 0) + mk_markov_logp(m2, 1, row + 2, 1, 1) +
                            mk_markov_logp(m2, 1, row + 2, 2, 0));
    ok(fabs(nats[0] - expect) < 1e-12, "batch scored with the context since the document start "
       "(%.6f nats, want %.6f)", nats[0], expect);
    mk_batch_free(&bt);
    mk_markov_free(m2);
    mk_markov_free(m);
    mk_data_free(&two);
    mk_data_free(&train);
    mk_data_free(&test);
    return exit_status();
}
