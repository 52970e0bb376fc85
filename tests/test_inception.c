/* test_inception.c — the Inception Score and confident share (lib/inception.h) against values
 * worked out by hand. */
#include "config.h"
#include <math.h>
#include "tap.h"
#include "../lib/inception.h"

static double score_of(const float *p, int n, int C, double threshold, double *share)
{
    struct mk_inception s;
    if (mk_inception_init(&s, C, threshold))
        return -1;
    for (int i = 0; i < n; i++)
        mk_inception_add(&s, p + (size_t)i * C);
    double is = mk_inception_score(&s);
    *share = mk_inception_confident_share(&s);
    mk_inception_free(&s);
    return is;
}

int main(void)
{
    plan(8);
    double share;
    /* Certain and balanced over 4 classes: KL = ln 4 for each sample, IS = 4. */
    const float certain[] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    ok(fabs(score_of(certain, 4, 4, 0.9, &share) - 4) < 1e-9, "certain balanced: IS = C");
    ok(share == 1, "certain balanced: all confident");
    /* Every sample the same distribution: p(y) equals it, KL = 0, IS = 1. */
    const float same[] = {0.5f, 0.3f, 0.2f, 0.5f, 0.3f, 0.2f};
    ok(fabs(score_of(same, 2, 3, 0.9, &share) - 1) < 1e-6, "identical rows: IS = 1");
    ok(share == 0, "identical rows: none confident");
    /* All certain of class 0: collapse, IS = 1. */
    const float collapsed[] = {1, 0, 1, 0, 1, 0};
    ok(fabs(score_of(collapsed, 3, 2, 0.9, &share) - 1) < 1e-9, "mode collapse: IS = 1");
    /* By hand: x1 = (0.9, 0.1), x2 = (0.2, 0.8); p(y) = (0.55, 0.45).
     * KL1 = 0.9 ln(0.9/0.55) + 0.1 ln(0.1/0.45) = 0.443229... - 0.150408... = 0.292821...
     * KL2 = 0.2 ln(0.2/0.55) + 0.8 ln(0.8/0.45) = -0.202320... + 0.460291... = 0.257971...
     * IS = exp((KL1 + KL2) / 2) = exp(0.275396...) = 1.317052... */
    const float two[] = {0.9f, 0.1f, 0.2f, 0.8f};
    const double kl1 = 0.9 * log(0.9 / 0.55) + 0.1 * log(0.1 / 0.45);
    const double kl2 = 0.2 * log(0.2 / 0.55) + 0.8 * log(0.8 / 0.45);
    const double is = score_of(two, 2, 2, 0.85, &share);
    ok(fabs(is - exp((kl1 + kl2) / 2)) < 1e-6 && fabs(is - 1.317052) < 1e-5,
       "two rows: IS %.6f by hand 1.317052", is);
    ok(share == 0.5, "threshold 0.85: one of two confident (0.9 yes, 0.8 no)");
    struct mk_inception empty;
    mk_inception_init(&empty, 3, 0.9);
    ok(mk_inception_score(&empty) == 0 && mk_inception_confident_share(&empty) == 0,
       "no samples: 0");
    mk_inception_free(&empty);
    return exit_status();
}
