/* train_loop.h — internal to the training task: the trainer's state, shared by
 * task_train.c (the loop), train_state.c (checkpoint save / resume) and train_eval.c
 * (validation), plus the setup helpers the other tasks use too (device, model).
 */
#ifndef MK_TRAIN_LOOP_H
#define MK_TRAIN_LOOP_H

#include "classifier.h"
#include "data.h"
#include "dist.h"
#include "model_internal.h"
#include "optim.h"
#include "train.h"
#include "markov.h"

struct trainer {
    const struct mk_recipe *r;
    const struct mk_run_opts *o;
    struct mk_model *m;
    struct mk_classifier *head;    /* objective classify */
    struct mk_optim *opt;          /* the model's (NULL with a frozen backbone) */
    struct mk_optim *head_opt;     /* the head's */
    struct mk_dataset train, val;
    int has_val;
    struct mk_labels labels;
    struct mk_sampler sampler;
    struct mk_batch batch;
    struct mk_schedule sched;
    int64_t step, total, tokens;
    int accum;                     /* micro-batches per step */
    struct mk_metrics *metrics;
    struct mk_progress *progress;
    struct mk_progress *eval_bar;  /* the eval task's bar over its batches (else NULL) */
    struct mk_markov *markov;      /* eval: the Markov baseline scored on the same targets */
    struct mk_dist *dist;          /* data-parallel ranks (task_train.c; world 1 by default) */
    struct mk_grad_sync *gsync;    /* world > 1: the bucketed gradient sum (dist_buckets.h) */
    float *whole_m, *whole_v;      /* run.dist.zero: rank 0's host copies of the whole moments,
                                    * gathered before each checkpoint (else NULL) */
    int64_t best_step;             /* run.checkpoint.best: the step of the best validation so
                                    * far, -1 before the first */
    double best_value;             /* its val loss or val accuracy */
};

/* Saves the trainer as ckpt-STEP in run.out and updates `last`, keeping the newest
 * run.checkpoint.keep_last. */
mk_status mk_trainer_save(struct trainer *t);
/* run.checkpoint.best: when `value` (this step's val loss, or val accuracy) beats the best so
 * far, saves the model (and a classifier's head) as best-STEP, points `best` at it, removes
 * the older best-STEP and records the new best; *saved says whether it did. */
mk_status mk_trainer_save_best(struct trainer *t, double value, int *saved);
/* Loads the newest checkpoint of run.out that loads completely, warning about each broken
 * one on the progress stream; *found = 0 when there is none. Sets t->m (and head, optimizer
 * state, sampler, step, tokens). */
mk_status mk_trainer_resume(struct trainer *t, int *found);
/* Validation loss (and accuracy for a classifier, else NaN) over task.eval.batches batches
 * of the val split, from its start. */
mk_status mk_trainer_eval(struct trainer *t, const struct mk_dataset *ds, int64_t batches,
                          double *loss, double *accuracy);
/* The same with every score: for a language model on weighted data (answer tokens weight 1,
 * the rest 0: the synthetic tasks), accuracy is argmax == target over the scored targets and
 * exact_match the fraction of windows whose scored targets are all right (NaN otherwise). */
struct mk_eval_scores {
    double loss, accuracy, exact_match;
    int64_t scored, windows; /* targets and windows counted */
    /* with t->markov: the mean loss of the order-j baseline over the same targets, j = 1.. */
    double markov_loss[MK_MARKOV_MAX_ORDER];
};
mk_status mk_trainer_evaluate(struct trainer *t, const struct mk_dataset *ds, int64_t batches,
                              struct mk_eval_scores *out);
/* Counts the rows of b whose targets (>= 0) are all argmax of logits [B, L, V]: adds the
 * right targets to *hits, the targets to *scored, rows all right to *exact and rows with a
 * target to *rows. */
void mk_eval_count_hits(const struct mk_batch *b, const float *logits, int V, int64_t *hits,
                        int64_t *scored, int64_t *exact, int64_t *rows);

/* The device of run.device. */
mk_status mk_task_device(const struct mk_recipe *r, enum mk_device *dev, int *index);
/* A new model from the recipe's model section, initialised from run.seed. */
mk_status mk_task_new_model(struct mk_model **out, const struct mk_recipe *r);
/* Sets run.precision (fp32|bf16) on the model's backend (mk_model_set_precision); every task
 * calls it once its model is created or loaded. */
mk_status mk_task_precision(const struct mk_recipe *r, struct mk_model *m);
/* The model of model.from on run.device with run.precision set (classify, eval, generate). */
mk_status mk_task_load_model(struct mk_model **out, const struct mk_recipe *r);
/* 1 if id is a special token that stands for no bytes of the data (PAD, BOS, EOS, MASK; not
 * UNK or DNA's N): it is not streamed by generate nor counted as bytes by eval. */
int mk_task_is_markup(const struct mk_codec *c, int32_t id);
/* Writes text to dir/name atomically. */
mk_status mk_task_write_text(const char *dir, const char *name, const char *text);

#endif /* MK_TRAIN_LOOP_H */
