/* inception.h — classifier-based scores of generated samples (Salimans et al. 2016, used for
 * SC09 by SaShiMi and the Mamba paper), from the class probabilities p(y|x) a trained
 * classifier gives each sample x, accumulated one sample at a time:
 *   Inception Score  IS = exp(E_x KL(p(y|x) || p(y))),  p(y) = E_x p(y|x)
 *                      = exp(E_x sum_y p(y|x) ln p(y|x) - sum_y p(y) ln p(y))
 *     (1 when every sample gets the same distribution, C when each is certain and the C
 *     classes are equally frequent)
 *   confident share  the fraction of samples whose top probability is >= threshold
 * Terms with p = 0 count as 0 (p ln p -> 0).
 */
#ifndef MK_INCEPTION_H
#define MK_INCEPTION_H

#include <stdint.h>

#define MK_CONFIDENT_THRESHOLD 0.9 /* the threshold classify.json reports */

struct mk_inception {
    int C;
    double threshold;
    int64_t n, confident;
    double sum_plogp; /* sum over samples of sum_y p ln p */
    double *sum_p;    /* [C] sum over samples of p(y|x) */
};

/* 0, or -1 when out of memory. */
int mk_inception_init(struct mk_inception *s, int C, double threshold);
void mk_inception_add(struct mk_inception *s, const float *p);
/* exp(E_x KL(p(y|x) || p(y))); 0 before any sample. */
double mk_inception_score(const struct mk_inception *s);
/* confident / n; 0 before any sample. */
double mk_inception_confident_share(const struct mk_inception *s);
void mk_inception_free(struct mk_inception *s);

#endif
