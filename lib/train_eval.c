/* train_eval.c — validation during training: mean loss over the tokens (language model) or
 * over the sequences (classifier), and the classifier's accuracy, on task.eval.batches
 * micro-batches of the val split. When that budget covers the split, every window is taken
 * once, in order (the sampler wraps around to fill the last micro-batch; those rows are
 * masked out, targets and labels -1). A smaller budget takes a fixed random sample of
 * windows from the whole split (seed 0, the same at every evaluation, so the curve compares
 * like with like): taken in order it would only ever see the first records — the first
 * genome of a species-classification split, say. The sampler is its own and touches nothing
 * the training state depends on, so evaluating does not change the training run (resume
 * stays bit-identical whatever eval.every is).
 */
#include "config.h"
#include <math.h>
#include "train_loop.h"

/* Ignores rows [keep, B) of a batch: no targets, no label. */
static void mask_rows(struct mk_batch *b, int keep)
{
    for (int r = keep; r < b->B; r++) {
        for (int t = 0; t < b->L; t++) {
            b->n_targets -= b->targets[(size_t)r * b->L + t] >= 0;
            b->targets[(size_t)r * b->L + t] = -1;
        }
        b->labels[r] = -1;
    }
}

mk_status mk_trainer_eval(struct trainer *t, const struct mk_dataset *ds, int64_t batches,
                          double *loss, double *accuracy)
{
    const struct mk_recipe *r = t->r;
    const int lm = r->objective == MK_OBJ_LM;
    struct mk_sampler s;
    mk_sampler_init(&s, MK_SAMPLER_SEQUENTIAL, r->seq_len, lm, r->pack, 0);
    uint64_t windows = mk_sampler_epoch_size(&s, ds);
    int64_t max_batches = (int64_t)((windows + (uint64_t)r->micro_batch - 1) / (uint64_t)r->micro_batch);
    const int whole = batches <= 0 || batches >= max_batches;
    if (whole)
        batches = max_batches;
    else
        mk_sampler_init(&s, MK_SAMPLER_RANDOM_WINDOW, r->seq_len, lm, r->pack, 0);
    double sum = 0, count = 0, hits = 0;
    mk_status st = MK_OK;
    for (int64_t i = 0; st == MK_OK && i < batches; i++) {
        st = mk_sampler_next(&s, ds, &t->batch, NULL, NULL);
        if (st != MK_OK)
            break;
        const uint64_t left = windows - (uint64_t)i * (uint64_t)r->micro_batch;
        if (whole && left < (uint64_t)r->micro_batch)
            mask_rows(&t->batch, (int)left);
        const struct mk_batch *b = &t->batch;
        if (lm) {
            float l = 0;
            /* validation reports the plain mean over every target: loss weights shape training only */
            st = mk_model_forward_packed(t->m, b->ids, b->has_reset ? b->reset : NULL, b->B,
                                         b->L, b->targets, NULL, &l, NULL, NULL);
            sum += (double)l * (double)b->n_targets;
            count += (double)b->n_targets;
        } else {
            double l;
            int correct, n;
            st = mk_classifier_forward(t->head, t->m, b, NULL, &l, &correct, &n);
            sum += l * n;
            count += n;
            hits += correct;
        }
    }
    *loss = count > 0 ? sum / count : NAN;
    *accuracy = !lm && count > 0 ? hits / count : NAN;
    return st;
}
