/* train_eval.c — validation during training and task.kind eval: mean loss over the tokens
 * (language model) or over the sequences (classifier), and accuracy, on task.eval.batches
 * micro-batches of the val split. Accuracy is the classifier's, or for a language model on
 * weighted data (the synthetic tasks, whose plugin weighs the answer tokens 1 and the rest
 * 0, so only answers are targets) the token accuracy
 *   accuracy = #{targets y_t : argmax_v logits[t, v] = y_t} / #targets
 * and, where the weights are answer masks (every weight 0 or 1, answers a minority of the
 * tokens: one example a window), the exact match, the fraction of windows whose targets are
 * all right; the paper's tables report the token accuracy. (Other weights, as DNA's, leave
 * only the next-token accuracy: there a window is no example.)
 * When the task.eval.batches budget covers the split, every window is taken once, in order
 * (the sampler wraps around to fill the last micro-batch; those rows are masked out, targets
 * and labels -1). A smaller budget takes a fixed random sample of
 * windows from the whole split (seed 0, the same at every evaluation, so the curve compares
 * like with like): taken in order it would only ever see the first records — the first
 * genome of a species-classification split, say. The sampler is its own and touches nothing
 * the training state depends on, so evaluating does not change the training run (resume
 * stays bit-identical whatever eval.every is).
 */
#include "config.h"
#include <math.h>
#include <stdlib.h>
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

/* The first index of the largest of x[0..n). */
static int argmax(const float *x, int n)
{
    int best = 0;
    for (int v = 1; v < n; v++)
        if (x[v] > x[best])
            best = v;
    return best;
}

void mk_eval_count_hits(const struct mk_batch *b, const float *logits, int V, int64_t *hits,
                        int64_t *scored, int64_t *exact, int64_t *rows)
{
    for (int r = 0; r < b->B; r++) {
        int64_t row_targets = 0, row_hits = 0;
        for (int t = 0; t < b->L; t++) {
            const size_t i = (size_t)r * b->L + t;
            if (b->targets[i] < 0)
                continue;
            row_targets++;
            row_hits += argmax(logits + i * V, V) == b->targets[i];
        }
        *hits += row_hits;
        *scored += row_targets;
        *exact += row_targets > 0 && row_hits == row_targets;
        *rows += row_targets > 0;
    }
}

/* whether the loss weights are answer masks: each 0 or 1, and answers a minority of the
 * tokens (a DNA set with its N bases weighted 0 is 0/1 too, but nearly all targets) */
static int answer_masks(const struct mk_dataset *ds)
{
    size_t answers = 0;
    for (size_t i = 0; i < ds->n_tokens; i++) {
        if (ds->weights[i] != 0.0f && ds->weights[i] != 1.0f)
            return 0;
        answers += ds->weights[i] == 1.0f;
    }
    return 2 * answers < ds->n_tokens;
}

mk_status mk_trainer_evaluate(struct trainer *t, const struct mk_dataset *ds, int64_t batches,
                              struct mk_eval_scores *out)
{
    const struct mk_recipe *r = t->r;
    const int lm = r->objective == MK_OBJ_LM, lm_acc = lm && ds->weights;
    const int examples = lm_acc && answer_masks(ds);
    const int V = t->m->cfg.vocab_size;
    struct mk_sampler s;
    mk_sampler_init(&s, MK_SAMPLER_SEQUENTIAL, r->seq_len, lm, r->pack, 0);
    uint64_t windows = mk_sampler_epoch_size(&s, ds);
    int64_t max_batches = (int64_t)((windows + (uint64_t)r->micro_batch - 1) / (uint64_t)r->micro_batch);
    const int whole = batches <= 0 || batches >= max_batches;
    if (whole)
        batches = max_batches;
    else
        mk_sampler_init(&s, MK_SAMPLER_RANDOM_WINDOW, r->seq_len, lm, r->pack, 0);
    mk_progress_set_total(t->eval_bar, batches);
    float *logits =
        lm_acc ? malloc((size_t)r->micro_batch * r->seq_len * V * sizeof *logits) : NULL;
    double sum = 0, count = 0, markov[MK_MARKOV_MAX_ORDER] = {0};
    int64_t hits = 0, scored = 0, exact = 0, rows = 0;
    mk_status st = lm_acc && !logits ? mk_fail(MK_ERR_NOMEM, "out of memory for eval logits")
                                     : MK_OK;
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
                                         b->L, b->targets, NULL, &l, logits, NULL);
            sum += (double)l * (double)b->n_targets;
            count += (double)b->n_targets;
            if (st == MK_OK && lm_acc)
                mk_eval_count_hits(b, logits, V, &hits, &scored, &exact, &rows);
            if (t->markov)
                mk_markov_score_batch(t->markov, b, markov);
        } else {
            double l;
            int correct, n;
            st = mk_classifier_forward(t->head, t->m, b, NULL, &l, &correct, &n);
            sum += l * n;
            count += n;
            hits += correct;
            scored += n;
            rows += n;
        }
        mk_progress_count(t->eval_bar, i + 1, (i + 1) * (int64_t)b->B * b->L);
    }
    free(logits);
    out->loss = count > 0 ? sum / count : NAN;
    out->accuracy = (!lm || lm_acc) && scored > 0 ? (double)hits / (double)scored : NAN;
    out->exact_match = examples && rows > 0 ? (double)exact / (double)rows : NAN;
    for (int j = 0; j < MK_MARKOV_MAX_ORDER; j++)
        out->markov_loss[j] = t->markov && j < mk_markov_order(t->markov) && count > 0
                                  ? markov[j] / count : NAN;
    out->scored = scored;
    out->windows = rows;
    return st;
}

mk_status mk_trainer_eval(struct trainer *t, const struct mk_dataset *ds, int64_t batches,
                          double *loss, double *accuracy)
{
    struct mk_eval_scores sc;
    mk_status st = mk_trainer_evaluate(t, ds, batches, &sc);
    *loss = sc.loss;
    *accuracy = sc.accuracy;
    return st;
}
