/* test_sampling.c — mk_sample against its definition: greedy is argmax; top-k = 1 and a tiny
 * top-p are greedy; at temperature 1 the empirical frequencies of 40000 draws match the softmax
 * (each within 5 standard errors); top-k never returns a token outside the k best; the
 * repetition penalty follows the CTRL/Hugging Face rule on known numbers; a seed reproduces.
 *
 * The fast sampler (issue 9: workspace, no full sort) against the straightforward one of
 * sampling_ref.h, pick for pick with the same random stream: random logit vectors (spread,
 * exact ties, peaked, underflowing, -inf, flat) at V from 1 to 50280, random temperature,
 * top-k, top-p, min-p, repetition penalty (a workspace reused across calls and histories) and
 * suppression; then a chi-square test that top-k + top-p draws follow the renormalised softmax.
 */
#include <math.h>
#include <string.h>
#include "mambakit.h"
#include "sampling_ref.h"
#include "tap.h"

enum { V = 6 };
static const float base[V] = {1.0f, 2.5f, -0.5f, 2.0f, 0.0f, -3.0f};

static int draw(const struct mk_sampler_opts *o, struct mk_rng *r)
{
    float l[V];
    memcpy(l, base, sizeof l);
    return mk_sample(l, V, o, r, NULL, 0);
}

/* logits of one of six shapes: 0 normal with a random spread, 1 quantised to halves (many
 * exact ties), 2 peaked (a few tokens far above the rest, as a trained model), 3 a huge spread
 * (most probabilities underflow to 0, exact ties at 0) with some -inf, 4 all equal, 5 normal
 * with a tenth of the tokens at -inf */
static void random_logits(float *l, int n, int shape, struct mk_rng *r)
{
    const double spread = 0.3 + 4 * mk_rng_uniform(r);
    for (int i = 0; i < n; i++) {
        double x = mk_rng_normal(r);
        switch (shape) {
        case 0: l[i] = (float)(spread * x); break;
        case 1: l[i] = (float)(round(2 * x) / 2); break;
        case 2: l[i] = (float)(x + (mk_rng_uniform(r) < 0.002 ? 8 + 4 * mk_rng_uniform(r) : 0)); break;
        case 3: l[i] = mk_rng_uniform(r) < 0.05 ? -INFINITY : (float)(60 * x); break;
        case 4: l[i] = 1.5f; break;
        default: l[i] = mk_rng_uniform(r) < 0.1 ? -INFINITY : (float)(spread * x); break;
        }
    }
}

/* random options: each filter on about half the time, with values near its edges too */
static void random_opts(struct mk_sampler_opts *o, int n, struct mk_rng *r)
{
    static const float temps[] = {0.0f, 0.3f, 0.7f, 1.0f, 1.0f, 1.0f, 1.5f, 4.0f};
    static const float top_ps[] = {1.0f, 1.0f, 0.999f, 0.95f, 0.9f, 0.9f, 0.5f, 0.1f, 1e-3f};
    static const float min_ps[] = {0.0f, 0.0f, 0.0f, 1e-6f, 0.02f, 0.1f, 0.5f, 1.0f};
    const int top_ks[] = {0, 0, 1, 2, 5, 40, n - 1, n, n + 7};
    mk_sampler_defaults(o);
    o->temperature = temps[mk_rng_next(r) % 8];
    o->top_k = top_ks[mk_rng_next(r) % 9];
    o->top_p = top_ps[mk_rng_next(r) % 9];
    o->min_p = min_ps[mk_rng_next(r) % 8];
    o->repetition_penalty = mk_rng_uniform(r) < 0.3 ? 1.3f : 1.0f;
}

/* `cases` random (logits, options) at vocabulary size n, `draws` picks each from the fast
 * sampler (one workspace for all), mk_sample and the reference, the same stream for all three;
 * returns how many picks differ (printed) */
static int compare_with_reference(int n, int cases, int draws, struct mk_rng *r)
{
    struct mk_sampler *s = NULL;
    if (mk_sampler_create(&s, n) != MK_OK)
        return -1;
    float *l = malloc((size_t)n * sizeof *l), *a = malloc((size_t)n * sizeof *a),
          *b = malloc((size_t)n * sizeof *b), *c = malloc((size_t)n * sizeof *c);
    int32_t hist[24], supp[3];
    int differ = 0;
    for (int k = 0; k < cases; k++) {
        struct mk_sampler_opts o;
        random_logits(l, n, k % 6, r);
        random_opts(&o, n, r);
        const int n_hist = (int)(mk_rng_next(r) % 24);
        for (int i = 0; i < n_hist; i++) /* repeats and ids outside [0, n) too */
            hist[i] = (int32_t)(mk_rng_next(r) % (uint64_t)(n + 2)) - 1;
        if (mk_rng_uniform(r) < 0.2) {
            for (int i = 0; i < 3; i++)
                supp[i] = (int32_t)(mk_rng_next(r) % (uint64_t)n);
            o.suppress = supp;
            o.n_suppress = 3;
        }
        for (int d = 0; d < draws; d++) {
            struct mk_rng ra, rb, rc;
            ra = rb = rc = *r;
            memcpy(a, l, (size_t)n * sizeof *l);
            memcpy(b, l, (size_t)n * sizeof *l);
            memcpy(c, l, (size_t)n * sizeof *l);
            int want = ref_sample(c, n, &o, &rc, hist, n_hist);
            /* no finite logit left (all suppressed or -inf): no distribution, the reference's
             * pick is whatever qsort makes of NaNs; the defined pick is then the argmax */
            if (!isfinite(c[ref_argmax(c, n)]))
                want = ref_argmax(c, n);
            const int fast = mk_sampler_pick(s, a, &o, &ra, hist, n_hist);
            const int once = mk_sample(b, n, &o, &rb, hist, n_hist);
            if (fast != want || once != want || memcmp(&ra, &rc, sizeof ra) ||
                memcmp(&rb, &rc, sizeof rb) || memcmp(a, c, (size_t)n * sizeof *a)) {
                if (differ++ < 5)
                    diag("V %d shape %d T %g top_k %d top_p %g min_p %g rep %g: fast %d, "
                         "mk_sample %d, reference %d, streams %s, logits %s", n, k % 6,
                         o.temperature, o.top_k, o.top_p, o.min_p, o.repetition_penalty, fast,
                         once, want, memcmp(&ra, &rc, sizeof ra) || memcmp(&rb, &rc, sizeof rb)
                         ? "differ" : "same", memcmp(a, c, (size_t)n * sizeof *a) ? "differ" : "same");
            }
            *r = rc;
        }
    }
    mk_sampler_free(s);
    free(l), free(a), free(b), free(c);
    return differ;
}

/* chi-square of `draws` picks of the fast sampler (top-k 8, top-p 0.9, T 0.8) over 12 tokens
 * against the definition's renormalised probabilities computed here from scratch */
static double chi_square_top_k_top_p(int draws, int *kept, struct mk_rng *r)
{
    enum { N = 12 };
    const float l[N] = {2.0f, 1.1f, -0.4f, 0.3f, 1.7f, -2.0f, 0.9f, 0.0f, 1.4f, -1.0f, 0.6f, 2.2f};
    const double T = 0.8;
    struct mk_sampler_opts o;
    mk_sampler_defaults(&o);
    o.temperature = (float)T;
    o.top_k = 8;
    o.top_p = 0.9f;
    /* expected: softmax, ranks by logit, the top 8, then the shortest prefix reaching 0.9 */
    double p[N], z = 0;
    int order[N];
    for (int i = 0; i < N; i++)
        z += p[i] = exp(l[i] / T), order[i] = i;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (l[order[j]] > l[order[i]]) {
                int t = order[i];
                order[i] = order[j], order[j] = t;
            }
    double cum = 0, mass = 0;
    int keep = 0;
    while (keep < o.top_k && cum < o.top_p)
        cum += p[order[keep++]] / z;
    for (int i = 0; i < keep; i++)
        mass += p[order[i]];
    int count[N] = {0};
    struct mk_sampler *s = NULL;
    if (mk_sampler_create(&s, N) != MK_OK)
        return INFINITY;
    for (int d = 0; d < draws; d++) {
        float x[N];
        memcpy(x, l, sizeof x);
        count[mk_sampler_pick(s, x, &o, r, NULL, 0)]++;
    }
    mk_sampler_free(s);
    double chi2 = 0;
    int outside = 0;
    for (int i = 0; i < N; i++) {
        const int rank_kept = i < keep;
        const double e = rank_kept ? draws * p[order[i]] / mass : 0;
        if (rank_kept)
            chi2 += (count[order[i]] - e) * (count[order[i]] - e) / e;
        else
            outside += count[order[i]];
    }
    *kept = outside ? -1 : keep;
    return chi2;
}

int main(void)
{
    plan(14);
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

    struct mk_rng cr;
    mk_rng_seed(&cr, 2024);
    static const int small[] = {1, 2, 3, 7, 16, 64, 257, 1000};
    int differ = 0;
    for (int i = 0; i < 8; i++)
        differ += compare_with_reference(small[i], 400, 6, &cr);
    ok(differ == 0, "fast sampler == reference: V 1..1000, 3200 cases x 6 draws (%d differ)", differ);
    differ = compare_with_reference(50280, 48, 3, &cr);
    ok(differ == 0, "fast sampler == reference: V 50280, 48 cases x 3 draws (%d differ)", differ);

    /* the CLI's and the benchmark's setting, on peaked logits at V 50280, many draws */
    {
        enum { NV = 50280 };
        static float l0[NV], a0[NV], c0[NV];
        struct mk_sampler *sp = NULL;
        int bad = mk_sampler_create(&sp, NV) != MK_OK;
        for (int k = 0; !bad && k < 6; k++) {
            random_logits(l0, NV, k % 2 ? 2 : 0, &cr);
            struct mk_sampler_opts o2;
            mk_sampler_defaults(&o2);
            o2.top_p = 0.9f;
            o2.top_k = k < 3 ? 0 : 40;
            for (int d = 0; d < 40; d++) {
                struct mk_rng ra = cr;
                memcpy(a0, l0, sizeof a0);
                memcpy(c0, l0, sizeof c0);
                const int want = ref_sample(c0, NV, &o2, &cr, NULL, 0);
                bad += mk_sampler_pick(sp, a0, &o2, &ra, NULL, 0) != want;
            }
        }
        mk_sampler_free(sp);
        ok(!bad, "fast sampler == reference: V 50280, T 1, top-p 0.9 (and top-k 40), 240 draws");
    }

    /* a reused workspace must not carry penalty marks from one call to the next (a stale mark
     * would skip token 1's penalty in the second call and pick it) */
    {
        struct mk_sampler *sp = NULL;
        mk_sampler_create(&sp, V);
        mk_sampler_defaults(&o);
        o.temperature = 0;
        o.repetition_penalty = 100.0f;
        const int32_t h1[] = {1, 3, 3}, h2[] = {1};
        float x[V], y[V];
        memcpy(x, base, sizeof x);
        int first = mk_sampler_pick(sp, x, &o, &r, h1, 3);
        memcpy(x, base, sizeof x);
        memcpy(y, base, sizeof y);
        int second = mk_sampler_pick(sp, x, &o, &r, h2, 1), want = ref_sample(y, V, &o, &r, h2, 1);
        mk_sampler_free(sp);
        ok(first == 0 && second == 3 && want == 3 && !memcmp(x, y, sizeof x),
           "a reused workspace penalises each call's history only (%d, %d)", first, second);
    }

    int kept = 0;
    const double chi2 = chi_square_top_k_top_p(60000, &kept, &cr);
    /* kept - 1 = 6 degrees of freedom; the 0.999 quantile of chi-square with 6 dof: 22.46 */
    diag("top-k 8, top-p 0.9 at T 0.8 over 12 tokens: %d kept, chi-square %.2f", kept, chi2);
    ok(kept == 7 && chi2 < 22.46, "top-k + top-p draws follow the renormalised softmax (chi-square)");
    return exit_status();
}
