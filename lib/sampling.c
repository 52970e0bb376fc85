/* sampling.c — picking the next token from logits, in the order Hugging Face's generate
 * applies its processors:
 *   0. suppressed tokens (padding, BOS, mask: never targets in training) get logit -inf;
 *   1. repetition penalty (CTRL, Keskar et al. 2019): for every distinct token already seen,
 *      logit /= p if positive, logit *= p if negative;
 *   2. temperature 0 → argmax (the first maximum); otherwise logits / temperature;
 *   3. top-k: keep the k largest;  4. top-p: keep the smallest set of most likely tokens whose
 *      probability reaches p;  5. min-p: drop tokens with probability < min_p · max probability;
 *   6. draw from the renormalised distribution with one uniform number (inverse CDF).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"

void mk_sampler_defaults(struct mk_sampler_opts *o)
{
    memset(o, 0, sizeof *o);
    o->temperature = 1.0f;
    o->top_p = 1.0f;
    o->repetition_penalty = 1.0f;
}

static void apply_repetition_penalty(float *logits, int V, float penalty, const int32_t *hist,
                                     int n)
{
    unsigned char *seen = calloc((size_t)V, 1);
    if (!seen)
        return;
    for (int i = 0; i < n; i++) {
        int t = hist[i];
        if (t < 0 || t >= V || seen[t])
            continue;
        seen[t] = 1;
        logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
    }
    free(seen);
}

static int argmax(const float *x, int V)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

struct cand {
    float p;
    int id;
};

static int by_prob_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return x->id - y->id;
}

int mk_sample(float *logits, int V, const struct mk_sampler_opts *o, struct mk_rng *rng,
              const int32_t *history, int n_history)
{
    for (int i = 0; i < o->n_suppress; i++)
        if (o->suppress[i] >= 0 && o->suppress[i] < V)
            logits[o->suppress[i]] = -INFINITY;
    if (o->repetition_penalty != 1.0f && history && n_history > 0)
        apply_repetition_penalty(logits, V, o->repetition_penalty, history, n_history);
    if (o->temperature <= 0.0f)
        return argmax(logits, V);
    struct cand *c = malloc((size_t)V * sizeof *c);
    if (!c)
        return argmax(logits, V);
    /* softmax of logits / T, stable */
    const float mx = logits[argmax(logits, V)];
    double z = 0;
    for (int i = 0; i < V; i++) {
        c[i].id = i;
        c[i].p = expf((logits[i] - mx) / o->temperature);
        z += c[i].p;
    }
    for (int i = 0; i < V; i++)
        c[i].p = (float)(c[i].p / z);
    qsort(c, (size_t)V, sizeof *c, by_prob_desc);
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
