/* inception.c — the Inception Score and confident share of inception.h. */
#include "config.h"
#include <math.h>
#include <stdlib.h>
#include "inception.h"

static double plogp(double p)
{
    return p > 0 ? p * log(p) : 0;
}

int mk_inception_init(struct mk_inception *s, int C, double threshold)
{
    *s = (struct mk_inception){.C = C, .threshold = threshold};
    s->sum_p = calloc((size_t)(C > 0 ? C : 1), sizeof *s->sum_p);
    return s->sum_p ? 0 : -1;
}

void mk_inception_add(struct mk_inception *s, const float *p)
{
    double top = 0;
    for (int y = 0; y < s->C; y++) {
        s->sum_p[y] += p[y];
        s->sum_plogp += plogp(p[y]);
        top = p[y] > top ? p[y] : top;
    }
    s->confident += top >= s->threshold;
    s->n++;
}

/* E_x KL = (1/n) sum_x sum_y p ln p - sum_y pbar ln pbar with pbar = sum_p / n. */
double mk_inception_score(const struct mk_inception *s)
{
    if (s->n == 0)
        return 0;
    double marginal = 0;
    for (int y = 0; y < s->C; y++)
        marginal += plogp(s->sum_p[y] / (double)s->n);
    return exp(s->sum_plogp / (double)s->n - marginal);
}

double mk_inception_confident_share(const struct mk_inception *s)
{
    return s->n ? (double)s->confident / (double)s->n : 0;
}

void mk_inception_free(struct mk_inception *s)
{
    free(s->sum_p);
    s->sum_p = NULL;
}
