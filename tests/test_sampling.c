/* test_sampling.c — mk_sample against its definition: greedy is argmax; top-k = 1 and a tiny
 * top-p are greedy; at temperature 1 the empirical frequencies of 40000 draws match the softmax
 * (each within 5 standard errors); top-k never returns a token outside the k best; the
 * repetition penalty follows the CTRL/Hugging Face rule on known numbers; a seed reproduces.
 */
#include <math.h>
#include <string.h>
#include "mambakit.h"
#include "tap.h"

enum { V = 6 };
static const float base[V] = {1.0f, 2.5f, -0.5f, 2.0f, 0.0f, -3.0f};

static int draw(const struct mk_sampler_opts *o, struct mk_rng *r)
{
    float l[V];
    memcpy(l, base, sizeof l);
    return mk_sample(l, V, o, r, NULL, 0);
}

int main(void)
{
    plan(9);
    struct mk_sampler_opts o;
    struct mk_rng r;
    mk_rng_seed(&r, 5);
    mk_sampler_defaults(&o);
    o.temperature = 0;
    ok(draw(&o, &r) == 1, "temperature 0 picks the argmax");
    mk_sampler_defaults(&o);
    o.top_k = 1;
    int all1 = 1;
    for (int i = 0; i < 50; i++)
        all1 &= draw(&o, &r) == 1;
    ok(all1, "top-k 1 is greedy");
    mk_sampler_defaults(&o);
    o.top_p = 1e-4f;
    all1 = 1;
    for (int i = 0; i < 50; i++)
        all1 &= draw(&o, &r) == 1;
    ok(all1, "a tiny top-p is greedy");

    mk_sampler_defaults(&o);
    enum { DRAWS = 40000 };
    int count[V] = {0};
    for (int i = 0; i < DRAWS; i++)
        count[draw(&o, &r)]++;
    double z = 0, worst = 0;
    for (int v = 0; v < V; v++)
        z += exp(base[v]);
    for (int v = 0; v < V; v++) {
        double p = exp(base[v]) / z, se = sqrt(p * (1 - p) / DRAWS);
        worst = fmax(worst, fabs(count[v] / (double)DRAWS - p) / se);
    }
    diag("largest deviation from softmax: %.2f standard errors", worst);
    ok(worst < 5, "temperature 1 samples the softmax");

    mk_sampler_defaults(&o);
    o.top_k = 3;
    int inside = 1;
    for (int i = 0; i < 2000; i++) {
        int t = draw(&o, &r);
        inside &= t == 1 || t == 3 || t == 0;
    }
    ok(inside, "top-k 3 only returns the three best tokens");

    /* penalty 2 on tokens {1, 2}: 2.5 -> 1.25 (positive: divided), -0.5 -> -1.0 (multiplied);
     * now token 3 (2.0) is the argmax */
    mk_sampler_defaults(&o);
    o.temperature = 0;
    o.repetition_penalty = 2.0f;
    float l[V];
    memcpy(l, base, sizeof l);
    int32_t hist[] = {1, 2, 1};
    int t = mk_sample(l, V, &o, &r, hist, 3);
    ok(t == 3 && l[1] == 1.25f && l[2] == -1.0f, "repetition penalty: CTRL rule, once per token");

    mk_sampler_defaults(&o);
    struct mk_rng a, b;
    mk_rng_seed(&a, 99);
    mk_rng_seed(&b, 99);
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= draw(&o, &a) == draw(&o, &b);
    ok(same, "the same seed gives the same samples");
    mk_sampler_defaults(&o);
    o.min_p = 0.5f;
    int minp = 1;
    for (int i = 0; i < 2000; i++) {
        int u = draw(&o, &r);
        minp &= u == 1 || u == 3; /* p(3)/p(1) = e^-0.5 = 0.61 >= 0.5; p(0)/p(1) = e^-1.5 < 0.5 */
    }
    ok(minp, "min-p 0.5 keeps only tokens with at least half the top probability");

    /* suppressing the two most likely tokens leaves token 0 (logit 1.0) the argmax, and
     * sampling never returns a suppressed token */
    mk_sampler_defaults(&o);
    const int32_t never[] = {1, 3};
    o.suppress = never;
    o.n_suppress = 2;
    o.temperature = 0;
    int supp = draw(&o, &r) == 0;
    o.temperature = 1;
    for (int i = 0; i < 2000; i++) {
        int u = draw(&o, &r);
        supp &= u != 1 && u != 3;
    }
    ok(supp, "suppressed tokens are never picked");
    return exit_status();
}
