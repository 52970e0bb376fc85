/* sampling.c — picking the next token from logits, in the order Hugging Face's generate
 * applies its processors:
 *   0. suppressed tokens (padding, BOS, mask: never targets in training) get logit -inf;
 *   1. repetition penalty (CTRL, Keskar et al. 2019): for every distinct token already seen,
 *      logit /= p if positive, logit *= p if negative;
 *   2. temperature 0 → argmax (the first maximum); otherwise logits / temperature;
 *   3. top-k: keep the k largest;  4. top-p: keep the smallest set of most likely tokens whose
 *      probability reaches p;  5. min-p: drop tokens with probability < min_p · max probability;
 *   6. draw from the renormalised distribution with one uniform number (inverse CDF).
 *
 * Definition (what the picks must equal, bit for bit): p_i = (float)(e_i / z) with
 * e_i = expf((l_i - max l) / T) and z = Σ_i e_i summed in double in id order; the candidates
 * ordered by p descending, ties by lower id first; keep = min(V, top_k), then the first i < keep
 * with cumulative (double, in that order) ≥ top_p gives keep = i + 1, then min-p keeps the
 * prefix with p ≥ min_p · p_0 (at least one); u = uniform · Σ_{i<keep} p_i and the pick is the
 * first i with u < Σ_{j≤i} p_j (the last kept one if none).
 *
 * Fast exact method (issue 9: no allocation and no sort of all V per token). Every kept set is
 * a prefix of that order, so it is enough to sort a set S = {p ≥ θ} that contains it: the
 * tokens outside S all come after S's. θ comes from a histogram of p over buckets of its float
 * bits (bits >> 20: one octave of p in 8 slices), walked from the top until the buckets so far
 * hold ≥ top_k tokens, or ≥ top_p of the mass, or reach min_p · p_max. S is sorted by a stable
 * radix sort of its float bits (linear in |S|), and the definition runs on the sorted prefix; if
 * the prefix does not decide keep (the bucket mass, summed in another order, met top_p by a
 * rounding) or no filter is set, S is all V. Non-finite sums (NaN or +inf logits, every logit
 * -inf) have no distribution: the pick is then the argmax (one draw is still used up).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"

enum { BUCKET_SHIFT = 20, N_BUCKETS = (0x3f800000u >> BUCKET_SHIFT) + 1 /* p ≤ 1 */ };

struct cand {
    float p;
    int id;
};

struct mk_sampler {
    int V;
    float *p;               /* [V] probabilities in id order */
    struct cand *c, *tmp;   /* [V] the sorted candidates, radix sort scratch */
    unsigned char *seen;    /* [V] repetition penalty marks, all zero between calls */
    int count[N_BUCKETS];   /* tokens per bucket of p's bits */
    double mass[N_BUCKETS]; /* their probability */
};

void mk_sampler_defaults(struct mk_sampler_opts *o)
{
    memset(o, 0, sizeof *o);
    o->temperature = 1.0f;
    o->top_p = 1.0f;
    o->repetition_penalty = 1.0f;
}

mk_status mk_sampler_create(struct mk_sampler **out, int V)
{
    *out = NULL;
    if (V <= 0)
        return mk_fail(MK_ERR_INVALID, "mk_sampler_create: vocabulary size %d must be positive", V);
    struct mk_sampler *s = calloc(1, sizeof *s);
    if (s) {
        s->V = V;
        s->p = malloc((size_t)V * sizeof *s->p);
        s->c = malloc((size_t)V * sizeof *s->c);
        s->tmp = malloc((size_t)V * sizeof *s->tmp);
        s->seen = calloc((size_t)V, 1);
    }
    if (!s || !s->p || !s->c || !s->tmp || !s->seen) {
        mk_sampler_free(s);
        return mk_fail(MK_ERR_NOMEM, "out of memory for a sampler over %d tokens", V);
    }
    *out = s;
    return MK_OK;
}

void mk_sampler_free(struct mk_sampler *s)
{
    if (!s)
        return;
    free(s->p), free(s->c), free(s->tmp), free(s->seen);
    free(s);
}

/* marks each distinct valid token of hist once, penalises it, then clears the marks (O(n)) */
static void apply_repetition_penalty(float *logits, unsigned char *seen, int V, float penalty,
                                     const int32_t *hist, int n)
{
    for (int i = 0; i < n; i++) {
        int t = hist[i];
        if (t < 0 || t >= V || seen[t])
            continue;
        seen[t] = 1;
        logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
    }
    for (int i = 0; i < n; i++)
        if (hist[i] >= 0 && hist[i] < V)
            seen[hist[i]] = 0;
}

static int argmax(const float *x, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* p_i = (float)(e_i / z) into s->p and the bucket histogram; returns max_i p_i, or -1 when z
 * is not finite */
static float softmax_histogram(struct mk_sampler *s, const float *logits, float T)
{
    const int V = s->V;
    const float mx = logits[argmax(logits, V)];
    double z = 0;
    for (int i = 0; i < V; i++) {
        s->p[i] = expf((logits[i] - mx) / T);
        z += s->p[i];
    }
    if (!isfinite(z))
        return -1.0f;
    memset(s->count, 0, sizeof s->count);
    memset(s->mass, 0, sizeof s->mass);
    float p_max = 0.0f;
    for (int i = 0; i < V; i++) {
        const float p = s->p[i] = (float)(s->p[i] / z);
        const uint32_t b = float_bits(p) >> BUCKET_SHIFT;
        s->count[b]++;
        s->mass[b] += p;
        p_max = p > p_max ? p : p_max;
    }
    return p_max;
}

/* The lowest bucket B such that S = {bucket ≥ B} holds the top-k, top-p or min-p set (the
 * first of them reached from the top); 0 (all V) when no filter is on. */
static int threshold_bucket(const struct mk_sampler *s, const struct mk_sampler_opts *o, float p_max)
{
    const int k = o->top_k > 0 ? o->top_k : s->V + 1;
    const int min_bucket = o->min_p > 0.0f ? (int)(float_bits(o->min_p * p_max) >> BUCKET_SHIFT) : 0;
    int n = 0;
    double mass = 0;
    for (int b = N_BUCKETS - 1; b > 0; b--) {
        n += s->count[b];
        mass += s->mass[b];
        if (n >= k || (o->top_p < 1.0f && mass >= o->top_p) || b <= min_bucket)
            return b;
    }
    return 0;
}

/* Stable LSD radix sort of c [n] by p descending (by ~bits ascending, 8 bits a pass); with c
 * gathered in id order, ties stay in id order. Passes where every key has the same digit are
 * skipped. The result ends in c. */
static void radix_sort_desc(struct cand *c, struct cand *tmp, int n)
{
    for (int shift = 0; shift < 32; shift += 8) {
        int start[257] = {0};
        for (int i = 0; i < n; i++)
            start[((~float_bits(c[i].p) >> shift) & 255) + 1]++;
        if (n == 0 || start[((~float_bits(c[0].p) >> shift) & 255) + 1] == n)
            continue;
        for (int d = 0; d < 256; d++)
            start[d + 1] += start[d];
        for (int i = 0; i < n; i++)
            tmp[start[(~float_bits(c[i].p) >> shift) & 255]++] = c[i];
        memcpy(c, tmp, (size_t)n * sizeof *c);
    }
}

/* Sorts the tokens of buckets ≥ B into s->c; returns how many. */
static int gather_sorted(struct mk_sampler *s, int B)
{
    const uint32_t lowest = (uint32_t)B << BUCKET_SHIFT;
    int m = 0;
    for (int i = 0; i < s->V; i++)
        if (float_bits(s->p[i]) >= lowest)
            s->c[m++] = (struct cand){s->p[i], i};
    radix_sort_desc(s->c, s->tmp, m);
    return m;
}

/* The definition's keep on the sorted prefix c [m] of the V candidates; every token outside it
 * has p < below. Returns 0 when the prefix cannot decide (a longer one is needed). */
static int decide_keep(const struct cand *c, int m, int V, float below,
                       const struct mk_sampler_opts *o, int *keep_out)
{
    int keep = V;
    if (o->top_k > 0 && o->top_k < keep)
        keep = o->top_k;
    if (o->top_p < 1.0f) {
        double cum = 0;
        int i = 0;
        for (; i < keep && i < m; i++) {
            cum += c[i].p;
            if (cum >= o->top_p)
                break;
        }
        if (i < keep && i < m)
            keep = i + 1;
        else if (i < keep)
            return 0;
    }
    if (o->min_p > 0.0f) {
        const float floor_p = o->min_p * c[0].p;
        int k = 1;
        while (k < keep && k < m && c[k].p >= floor_p)
            k++;
        if (k < keep && k == m && m < V && below > floor_p)
            return 0; /* the next token might still reach the floor */
        keep = k;
    }
    if (keep > m)
        return 0;
    *keep_out = keep;
    return 1;
}

int mk_sampler_pick(struct mk_sampler *s, float *logits, const struct mk_sampler_opts *o,
                    struct mk_rng *rng, const int32_t *history, int n_history)
{
    const int V = s->V;
    for (int i = 0; i < o->n_suppress; i++)
        if (o->suppress[i] >= 0 && o->suppress[i] < V)
            logits[o->suppress[i]] = -INFINITY;
    if (o->repetition_penalty != 1.0f && history && n_history > 0)
        apply_repetition_penalty(logits, s->seen, V, o->repetition_penalty, history, n_history);
    if (o->temperature <= 0.0f)
        return argmax(logits, V);
    const float p_max = softmax_histogram(s, logits, o->temperature);
    if (p_max < 0.0f) {
        mk_rng_uniform(rng); /* the draw is still spent, keeping the stream in step */
        return argmax(logits, V);
    }
    const int B = threshold_bucket(s, o, p_max);
    int m = gather_sorted(s, B), keep;
    float below;
    const uint32_t below_bits = (uint32_t)B << BUCKET_SHIFT;
    memcpy(&below, &below_bits, sizeof below);
    if (!decide_keep(s->c, m, V, below, o, &keep)) {
        m = gather_sorted(s, 0);
        decide_keep(s->c, m, V, 0.0f, o, &keep);
    }
    const struct cand *c = s->c;
    double total = 0;
    for (int i = 0; i < keep; i++)
        total += c[i].p;
    double u = mk_rng_uniform(rng) * total, cum = 0;
    for (int i = 0; i < keep; i++) {
        cum += c[i].p;
        if (u < cum)
            return c[i].id;
    }
    return c[keep - 1].id;
}

int mk_sample(float *logits, int V, const struct mk_sampler_opts *o, struct mk_rng *rng,
              const int32_t *history, int n_history)
{
    struct mk_sampler *s = NULL;
    if (mk_sampler_create(&s, V) != MK_OK)
        return argmax(logits, V);
    int pick = mk_sampler_pick(s, logits, o, rng, history, n_history);
    mk_sampler_free(s);
    return pick;
}
