/* train.h — running a validated recipe: the task entry points, the training loop's
 * checkpoints, and the metrics / progress writers they share.
 *
 *     struct mk_run_opts o = {.resume = 1, .log = stderr, .out = stdout, .stop = &flag};
 *     mk_status st = mk_recipe_run(recipe, &o);   // train | classify | generate | eval
 *
 * Output directory (run.out): recipe.yaml (as written), recipe.resolved.yaml, metrics.jsonl,
 * curves.svg, ckpt-STEP/ (config.json, model.safetensors, train_state.safetensors and, for
 * a classifier, classifier.safetensors), and `last`, a symbolic link to the newest complete
 * checkpoint. A checkpoint is written into .ckpt-STEP.tmp/ and renamed into place, and `last`
 * is replaced by a rename too, so a crash never leaves `last` pointing at a partial one.
 * With run.checkpoint.best, every validation that beats the best so far (lower val loss or
 * higher val accuracy) saves the model as best-STEP/ (config.json, model.safetensors, a
 * classifier's classifier.safetensors, best.json: step, metric, value), the same way, points
 * the symbolic link `best` at it and removes the previous best-STEP; the best value so far is
 * part of the training state, so a resumed run keeps comparing against it.
 *
 * Resume: the model (fp32), the AdamW moments and step, the sampler (position and random
 * state) and the token count are restored exactly, so the run continues bit-identically.
 * A checkpoint that fails to load (truncated, corrupt) is reported on `log` and the previous
 * one is tried.
 */
#ifndef MK_TRAIN_H
#define MK_TRAIN_H

#include <signal.h>
#include <stdio.h>
#include "recipe.h"

struct mk_run_opts {
    int resume;                       /* continue from the newest good checkpoint in run.out */
    FILE *log;                        /* progress, warnings, results (stderr); NULL = quiet */
    FILE *out;                        /* generated text streamed here (stdout); NULL = none */
    volatile sig_atomic_t *stop;      /* set by a signal handler: save and stop (may be NULL) */
    double *final_loss;               /* if not NULL: the last training loss (for tests) */
    double *losses;                   /* if not NULL: [max_steps] every step's loss (tests) */
};

mk_status mk_recipe_run(const struct mk_recipe *r, const struct mk_run_opts *o);

/* the tasks (lib/task_*.c) */
mk_status mk_task_train(const struct mk_recipe *r, const struct mk_run_opts *o);
mk_status mk_task_eval(const struct mk_recipe *r, const struct mk_run_opts *o);
mk_status mk_task_classify(const struct mk_recipe *r, const struct mk_run_opts *o);
mk_status mk_task_generate(const struct mk_recipe *r, const struct mk_run_opts *o);

/* ---- checkpoint directories (train_ckpt.c) ---- */

/* `kind` names the directories: "ckpt" (checkpoints, KIND-STEP) or "best" (the best model). */
/* The steps of the KIND-STEP directories in dir, newest first (*steps malloc'd). */
mk_status mk_ckpt_list(const char *dir, const char *kind, int64_t **steps, int *n);
/* Removes dir/KIND-STEP and the files in it. */
mk_status mk_ckpt_remove(const char *dir, const char *kind, int64_t step);
/* Points the symbolic link dir/NAME ("last", "best") at KIND-STEP (replaced by rename). */
mk_status mk_ckpt_link(const char *dir, const char *name, const char *kind, int64_t step);
/* A fresh staging directory dir/.KIND-STEP.tmp (its path into tmp), and its rename into
 * dir/KIND-STEP once every file is written. */
mk_status mk_ckpt_stage(const char *dir, const char *kind, int64_t step, char *tmp, size_t cap);
mk_status mk_ckpt_commit(const char *dir, const char *kind, int64_t step, const char *tmp);
/* mkdir -p */
mk_status mk_mkdirs(const char *path);

/* ---- metrics.jsonl (metrics.c) ---- */

struct mk_metrics;
/* Opens dir/metrics.jsonl for appending; with keep_upto >= 0 first drops the lines of steps
 * after it (a resumed run rewrites what followed its checkpoint). */
mk_status mk_metrics_open(struct mk_metrics **out, const char *dir, int64_t keep_upto);
/* One line: {"step": S, "split": "train", "NAME": VALUE, ...}; NaN values are written null. */
void mk_metrics_write(struct mk_metrics *w, int64_t step, const char *split, int n,
                      const char *const *names, const double *values);
void mk_metrics_close(struct mk_metrics *w);

/* ---- progress on a terminal, or plain lines (progress.c) ---- */

struct mk_progress;
mk_status mk_progress_open(struct mk_progress **out, FILE *f, int mode, int64_t total,
                           int64_t first_step);
/* Shows step, loss, tokens/s and ETA: redraws the bar, or prints a line every `every`. */
void mk_progress_update(struct mk_progress *p, int64_t step, double loss, double lr,
                        int64_t tokens, int64_t every);
/* Progress of work counted in items (generated tokens: done of the total opened with) with
 * tokens/s and ETA, on a terminal only, redrawn at most ten times a second; cheap enough to
 * call for every token. */
void mk_progress_count(struct mk_progress *p, int64_t done, int64_t tokens);
/* The total a bar counts to, once it is known (NULL: nothing). */
void mk_progress_set_total(struct mk_progress *p, int64_t total);
/* A message above the bar (or a plain line). */
void mk_progress_note(struct mk_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void mk_progress_close(struct mk_progress *p);

/* ---- curves (plot.c) ---- */

/* Reads dir/metrics.jsonl and writes dir/curves.svg: loss per step (train, val) and the
 * validation accuracy when there is one. */
mk_status mk_plot_run(const char *dir);

#endif /* MK_TRAIN_H */
