/* task_train.c — task.kind train: language-model pre-training or classification
 * fine-tuning, with AdamW, the schedule, clipping, accumulation, validation, checkpoints,
 * metrics and progress (train.h describes the outputs).
 *
 * One optimizer step:
 *   lr    = optimizer.lr * schedule(step)
 *   for each of accum = global_batch / micro_batch micro-batches:
 *       loss_i = mean cross-entropy of the micro-batch; gradients accumulate (sum)
 *   g     = sum_i grad_i / accum                      (the mean over the global batch)
 *   norm  = ||g||_2 over every trainable tensor (model and head together)
 *   AdamW(params, g * min(1, clip / (norm + 1e-6)))   (torch's clip_grad_norm_)
 * The 1/accum and the clip factor go into the optimizer's grad_scale, so gradients are read
 * once.
 */
#include "config.h"
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "train_loop.h"

/* Steps of the run from the budget (one of max_steps, max_tokens, epochs). */
static int64_t total_steps(const struct trainer *t)
{
    const struct mk_recipe *r = t->r;
    const int64_t per_step = (int64_t)r->global_batch * r->seq_len;
    if (r->max_steps > 0)
        return r->max_steps;
    if (r->max_tokens > 0)
        return (r->max_tokens + per_step - 1) / per_step;
    double windows = (double)mk_sampler_epoch_size(&t->sampler, &t->train);
    int64_t n = (int64_t)ceil(r->epochs * windows / r->global_batch);
    return n > 0 ? n : 1;
}

static mk_status setup_data(struct trainer *t)
{
    const struct mk_recipe *r = t->r;
    struct mk_labels *labels = r->objective == MK_OBJ_CLASSIFY ? &t->labels : NULL;
    mk_status st = mk_data_load(&t->train, r, MK_SPLIT_TRAIN, labels);
    t->has_val = r->split[MK_SPLIT_VAL].paths.n > 0 || r->split_by != MK_SPLIT_NONE;
    if (st == MK_OK && t->has_val)
        st = mk_data_load(&t->val, r, MK_SPLIT_VAL, labels);
    if (st == MK_OK && labels && r->head_classes > 0 && r->head_classes != labels->n)
        st = mk_fail(MK_ERR_INVALID, "task.head.classes is %d but the training data has %d "
                     "labels", r->head_classes, labels->n);
    if (st == MK_OK)
        st = mk_batch_alloc(&t->batch, r->micro_batch, r->seq_len);
    mk_sampler_init(&t->sampler, r->split[MK_SPLIT_TRAIN].sampler, r->seq_len,
                    r->objective == MK_OBJ_LM, r->pack, r->seed);
    t->accum = r->global_batch / r->micro_batch;
    return st;
}

static mk_status setup_model(struct trainer *t)
{
    const struct mk_recipe *r = t->r;
    enum mk_device dev;
    int idx;
    mk_status st = MK_OK;
    if (r->model_from) {
        st = mk_task_device(r, &dev, &idx);
        if (st == MK_OK)
            st = mk_ckpt_load(&t->m, r->model_from, dev, idx);
    } else {
        st = mk_task_new_model(&t->m, r);
    }
    if (st == MK_OK)
        st = mk_task_precision(r, t->m);
    const struct mk_optim_hp hp = {(float)r->betas[0], (float)r->betas[1], (float)r->eps,
                                   (float)r->weight_decay};
    if (st == MK_OK && r->objective == MK_OBJ_CLASSIFY) {
        if (r->model_from && r->model_load == MK_LOAD_ALL) {
            char path[4200];
            snprintf(path, sizeof path, "%s/classifier.safetensors", r->model_from);
            FILE *f = fopen(path, "rb");
            if (f)
                fclose(f);
            st = f ? mk_classifier_load(&t->head, t->m, r->model_from)
                   : mk_classifier_create(&t->head, t->m, t->labels.n, r->head_pool);
        } else {
            st = mk_classifier_create(&t->head, t->m, t->labels.n, r->head_pool);
        }
        if (st == MK_OK && t->head->C != t->labels.n)
            st = mk_fail(MK_ERR_INVALID, "the classifier in %s has %d classes, the data %d",
                         r->model_from, t->head->C, t->labels.n);
        if (st == MK_OK && t->head->labels.n == 0) {
            mk_classifier_init(t->head, r->seed ^ 0xC1A55u);
            t->head->labels = t->labels; /* the head owns the names from here */
            t->labels = (struct mk_labels){0};
        }
        const struct mk_optim_group g[2] = {
            {0, (size_t)t->head->C * t->head->D, 1},
            {(size_t)t->head->C * t->head->D, (size_t)t->head->C, 0}};
        if (st == MK_OK)
            st = mk_optim_create(&t->head_opt, mk_ops_cpu(), t->head->n_params, g, 2, &hp);
    }
    if (st == MK_OK && !(r->objective == MK_OBJ_CLASSIFY && r->freeze_backbone))
        st = mk_optim_create_for_model(&t->opt, t->m, &hp);
    return st;
}

/* One optimizer step; *loss receives the mean micro-batch loss, *norm the gradient norm. */
static mk_status train_step(struct trainer *t, float lr, double *loss, double *norm)
{
    const struct mk_recipe *r = t->r;
    const int classify = r->objective == MK_OBJ_CLASSIFY;
    const struct mk_modality *aug = &t->r->codec->plugin->m;
    mk_status st = t->opt ? mk_model_zero_grads(t->m) : MK_OK;
    if (t->head)
        mk_classifier_zero_grads(t->head);
    double sum = 0;
    for (int a = 0; st == MK_OK && a < t->accum; a++) {
        const struct mk_batch *b = &t->batch;
        st = mk_sampler_next(&t->sampler, &t->train, &t->batch, aug, r->codec->handle);
        if (st == MK_OK && classify) {
            double l;
            st = mk_classifier_forward(t->head, t->m, b, NULL, &l, NULL, NULL);
            if (st == MK_OK)
                st = mk_classifier_backward(t->head, t->m, t->opt == NULL);
            sum += l;
        } else if (st == MK_OK) {
            float l = 0;
            st = mk_model_forward_backward_packed(t->m, b->ids, b->has_reset ? b->reset : NULL,
                                                  b->B, b->L, b->targets,
                                                  b->has_weights ? b->weights : NULL, &l);
            sum += l;
        }
    }
    if (st != MK_OK)
        return st;
    double sq = t->opt ? t->m->ops->sumsq(t->m->grads, t->m->lay.total) : 0;
    if (t->head)
        sq += mk_ops_cpu()->sumsq(t->head->grads, t->head->n_params);
    *norm = sqrt(sq) / t->accum;
    *loss = sum / t->accum;
    if (!isfinite(*loss) || !isfinite(*norm))
        return mk_fail(MK_ERR_INVALID, "step %lld: the loss or the gradient is not finite "
                       "(loss %g, norm %g); lower task.optimizer.lr or task.grad_clip",
                       (long long)t->step + 1, *loss, *norm);
    const float scale = mk_clip_factor(*norm, r->grad_clip) / (float)t->accum;
    if (t->opt)
        mk_optim_step(t->opt, t->m->params, t->m->grads, lr, scale);
    if (t->head_opt)
        mk_optim_step(t->head_opt, t->head->params, t->head->grads, lr, scale);
    return t->m->ops->sync();
}

static mk_status validate(struct trainer *t)
{
    double loss, acc;
    mk_status st = mk_trainer_eval(t, &t->val, t->r->eval_batches, &loss, &acc);
    if (st != MK_OK)
        return st;
    const char *names[] = {"loss", "accuracy"};
    const double values[] = {loss, acc};
    mk_metrics_write(t->metrics, t->step, "val", isnan(acc) ? 1 : 2, names, values);
    if (isnan(acc))
        mk_progress_note(t->progress, "step %lld  val loss %.4f", (long long)t->step, loss);
    else
        mk_progress_note(t->progress, "step %lld  val loss %.4f  accuracy %.4f",
                         (long long)t->step, loss, acc);
    return MK_OK;
}

static mk_status checkpoint(struct trainer *t)
{
    mk_status st = mk_trainer_save(t);
    if (st == MK_OK)
        mk_progress_note(t->progress, "saved %s/ckpt-%lld", t->r->out, (long long)t->step);
    return st;
}

static mk_status run_loop(struct trainer *t)
{
    const struct mk_recipe *r = t->r;
    const struct mk_run_opts *o = t->o;
    mk_status st = MK_OK;
    while (st == MK_OK && t->step < t->total) {
        if (o->stop && *o->stop) {
            mk_progress_note(t->progress, "interrupted at step %lld: saving a checkpoint",
                             (long long)t->step);
            st = checkpoint(t);
            return st == MK_OK ? mk_fail(MK_ERR_INTERRUPTED, "interrupted at step %lld; "
                                         "continue with --resume", (long long)t->step) : st;
        }
        const float lr = (float)(r->lr * mk_lr_factor(&t->sched, t->step));
        double loss, norm;
        st = train_step(t, lr, &loss, &norm);
        if (st != MK_OK)
            break;
        t->step++;
        t->tokens += (int64_t)r->global_batch * r->seq_len;
        if (o->losses)
            o->losses[t->step - 1] = loss;
        if (o->final_loss)
            *o->final_loss = loss;
        if (t->step % r->log_every == 0 || t->step == t->total) {
            const char *names[] = {"loss", "lr", "grad_norm", "tokens"};
            const double values[] = {loss, lr, norm, (double)t->tokens};
            mk_metrics_write(t->metrics, t->step, "train", 4, names, values);
        }
        mk_progress_update(t->progress, t->step, loss, lr, t->tokens, r->log_every);
        if (t->has_val && ((r->eval_every > 0 && t->step % r->eval_every == 0) ||
                           t->step == t->total))
            st = validate(t);
        if (st == MK_OK && ((r->ckpt_every > 0 && t->step % r->ckpt_every == 0) ||
                            t->step == t->total))
            st = checkpoint(t);
    }
    return st;
}

static void trainer_free(struct trainer *t)
{
    mk_progress_close(t->progress);
    mk_metrics_close(t->metrics);
    mk_optim_free(t->opt);
    mk_optim_free(t->head_opt);
    mk_classifier_free(t->head, t->m);
    mk_model_free(t->m);
    mk_batch_free(&t->batch);
    mk_data_free(&t->train);
    mk_data_free(&t->val);
    mk_labels_free(&t->labels);
}

/* recipe.yaml as written and recipe.resolved.yaml, so the run can be reproduced. */
static mk_status save_recipes(const struct mk_recipe *r)
{
    char *resolved = mk_recipe_resolved(r);
    mk_status st = resolved ? mk_task_write_text(r->out, "recipe.yaml", r->text)
                            : mk_fail(MK_ERR_NOMEM, "out of memory");
    if (st == MK_OK)
        st = mk_task_write_text(r->out, "recipe.resolved.yaml", resolved);
    free(resolved);
    return st;
}

/* A run directory that already holds checkpoints is continued only on purpose: a fresh run
 * there would interleave its checkpoints and metrics with the old run's. */
static mk_status refuse_old_run(const char *out)
{
    char last[4096];
    struct stat sb;
    snprintf(last, sizeof last, "%s/last", out);
    if (lstat(last, &sb) != 0)
        return MK_OK;
    return mk_fail(MK_ERR_INVALID, "%s already holds a training run (%s): continue it with "
                   "--resume, or start over in another directory (--set run.out=DIR) or after "
                   "removing it", out, last);
}

mk_status mk_task_train(const struct mk_recipe *r, const struct mk_run_opts *o)
{
    struct trainer t = {.r = r, .o = o};
    mk_status st = o->resume ? MK_OK : refuse_old_run(r->out);
    if (st == MK_OK)
        st = mk_mkdirs(r->out);
    if (st == MK_OK)
        st = save_recipes(r);
    if (st == MK_OK)
        st = setup_data(&t);
    if (st == MK_OK)
        st = setup_model(&t);
    if (st == MK_OK) {
        t.total = total_steps(&t);
        mk_schedule_init(&t.sched, r->schedule, t.total, r->warmup, r->min_lr_ratio,
                         r->decay_ratio);
        st = mk_progress_open(&t.progress, o->log, r->progress, t.total, 0);
    }
    int resumed = 0;
    if (st == MK_OK && o->resume) {
        st = mk_trainer_resume(&t, &resumed);
        if (st == MK_OK && resumed)
            mk_progress_note(t.progress, "resuming from step %lld", (long long)t.step);
        else if (st == MK_OK)
            mk_progress_note(t.progress, "no usable checkpoint in %s: starting from step 0",
                             r->out);
    }
    if (st == MK_OK)
        st = mk_metrics_open(&t.metrics, r->out, resumed ? t.step : -1);
    if (st == MK_OK) {
        mk_progress_note(t.progress, "training %lld steps of %d x %d tokens (%d micro-batches "
                         "of %d), %zu training tokens", (long long)t.total, r->global_batch,
                         r->seq_len, t.accum, r->micro_batch, t.train.n_tokens);
        st = run_loop(&t);
    }
    mk_status pst = t.metrics ? mk_plot_run(r->out) : MK_OK;
    if (st == MK_OK)
        st = pst;
    trainer_free(&t);
    return st;
}
