/* sampling_ref.h — the straightforward sampler that lib/sampling.c must equal pick for pick (as
 * mk_sample was before issue 9): full softmax, a qsort of all V candidates by probability
 * descending (ties: lower id first), top-k, top-p, min-p on that order, inverse-CDF draw.
 * Header-only (static functions) for tests/test_sampling.c and bench/bench_sampling.c.
 */
#ifndef MK_SAMPLING_REF_H
#define MK_SAMPLING_REF_H

#include <math.h>
#include <stdlib.h>
#include "mambakit.h"

struct ref_cand {
    float p;
    int id;
};

static int ref_by_prob_desc(const void *a, const void *b)
{
    const struct ref_cand *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return x->id - y->id;
}

static int ref_argmax(const float *x, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* as mk_sample: logits [V] are modified in place (suppression, penalty) */
static int ref_sample(float *logits, int V, const struct mk_sampler_opts *o, struct mk_rng *rng,
                      const int32_t *hist, int n_hist)
{
    for (int i = 0; i < o->n_suppress; i++)
        if (o->suppress[i] >= 0 && o->suppress[i] < V)
            logits[o->suppress[i]] = -INFINITY;
    if (o->repetition_penalty != 1.0f && hist && n_hist > 0) {
        unsigned char *seen = calloc((size_t)V, 1);
        for (int i = 0; seen && i < n_hist; i++) {
            int t = hist[i];
            if (t < 0 || t >= V || seen[t])
                continue;
            seen[t] = 1;
            const float p = o->repetition_penalty;
            logits[t] = logits[t] > 0 ? logits[t] / p : logits[t] * p;
        }
        free(seen);
    }
    if (o->temperature <= 0.0f)
        return ref_argmax(logits, V);
    struct ref_cand *c = malloc((size_t)V * sizeof *c);
    if (!c)
        abort();
    const float mx = logits[ref_argmax(logits, V)];
    double z = 0;
    for (int i = 0; i < V; i++) {
        c[i].id = i;
        c[i].p = expf((logits[i] - mx) / o->temperature);
        z += c[i].p;
    }
    for (int i = 0; i < V; i++)
        c[i].p = (float)(c[i].p / z);
    qsort(c, (size_t)V, sizeof *c, ref_by_prob_desc);
    int keep = V;
    if (o->top_k > 0 && o->top_k < keep)
        keep = o->top_k;
    if (o->top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < keep; i++) {
            cum += c[i].p;
            if (cum >= o->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (o->min_p > 0.0f) {
        const float floor_p = o->min_p * c[0].p;
        int k = 1;
        while (k < keep && c[k].p >= floor_p)
            k++;
        keep = k;
    }
    double total = 0;
    for (int i = 0; i < keep; i++)
        total += c[i].p;
    double u = mk_rng_uniform(rng) * total, cum = 0;
    int pick = c[keep - 1].id;
    for (int i = 0; i < keep; i++) {
        cum += c[i].p;
        if (u < cum) {
            pick = c[i].id;
            break;
        }
    }
    free(c);
    return pick;
}

#endif
