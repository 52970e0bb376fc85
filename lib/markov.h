/* markov.h — the order-k Markov baseline of a language model's evaluation (DNA: bits per
 * base against k-mer statistics). Fit on a split's token stream, scored on exactly the
 * targets of the model's evaluation batches with exactly the context the model has there
 * (the window's tokens since its start or the last document start), so the two numbers
 * compare like with like.
 *
 * Estimate, with n(c, x) the count of token x after context c in the training documents,
 * n(c) = sum_x n(c, x), c_j the last j tokens, V the vocabulary, beta = MK_MARKOV_BETA:
 *   p_0(x)       = (n(x) + 1) / (n + V)                             (add-one unigram)
 *   p_j(x | c_j) = (n(c_j, x) + beta p_{j-1}(x | c_{j-1})) / (n(c_j) + beta)
 * (interpolation toward the next lower order, a Dirichlet prior). A context shorter than j
 * (the start of a window or document) uses the highest order it has. Only targets count:
 * tokens of plugin weight 0 (ignored N, masked bases) are never counted as x.
 */
#ifndef MK_MARKOV_H
#define MK_MARKOV_H
#include <stddef.h>
#include <stdint.h>
#include "data.h"

#define MK_MARKOV_MAX_ORDER 12
#define MK_MARKOV_BETA 4.0

struct mk_markov;

/* Counts orders 0..k of ds (vocabulary V <= 32, so a context of 12 tokens fits one key). */
mk_status mk_markov_fit(struct mk_markov **out, const struct mk_dataset *ds, int k, int V);
void mk_markov_free(struct mk_markov *m);
/* ln p_j(x | the last j of ctx[0..n)) for j = min(order, n). */
double mk_markov_logp(const struct mk_markov *m, int order, const int32_t *ctx, size_t n,
                      int32_t x);
/* Adds -ln p_j of every target of b, for each order j = 1..k, to nats[j - 1]. */
void mk_markov_score_batch(const struct mk_markov *m, const struct mk_batch *b, double *nats);
int mk_markov_order(const struct mk_markov *m);

#endif
