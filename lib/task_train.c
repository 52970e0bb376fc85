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
 *
 * Data parallel (W ranks, lib/dist.h): every rank draws the step's accum micro-batches in the
 * order one rank would, and rank r computes micro-batches r, r+W, r+2W, ... (accum / W of
 * them), so the step sees the same data as on one rank. Then the gradient block, the head's
 * gradients and the loss sum are summed over ranks (sum_i grad_i is the same sum, in another
 * order), and every rank computes the same norm and takes the same AdamW step. The model's
 * gradient sum is bucketed and overlapped with the backward of the step's last micro-batch
 * (lib/dist_buckets.h: run.dist.bucket_mb, run.dist.allreduce); the earlier micro-batches
 * only accumulate. Only rank 0 writes recipes, metrics, checkpoints and curves, and
 * evaluates; the checkpoint holds the global sampler state, so a run resumes on any number
 * of ranks.
 */
#include "config.h"
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "dist_buckets.h"
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
    const int shards = r->dist_zero ? mk_dist_world(t->dist) : 1; /* ZeRO-1 */
    if (st == MK_OK && !(r->objective == MK_OBJ_CLASSIFY && r->freeze_backbone))
        st = mk_optim_create_for_model(&t->opt, t->m, &hp, shards > 1 ? mk_dist_rank(t->dist) : 0,
                                       shards);
    return st;
}

/* run.dist.zero (ZeRO-1): rank r keeps and updates the moments of its run [lo, hi) of the
 * parameter block only. What the ranks hold in their runs is gathered into `dst` (backend, the
 * whole block, on every rank) by summing, in fp32, each rank's run `shard` placed in zeros
 * (x + 0 is exact): one all-reduce of the block, in the gradient block, which is free between
 * the optimizer step and the next step's zeroing. */
static int sharded(const struct trainer *t)
{
    return t->opt && mk_optim_sharded(t->opt);
}

static mk_status gather_shards(struct trainer *t, float *dst, const float *shard)
{
    const struct mk_ops *ops = t->m->ops;
    const struct mk_optim *o = t->opt;
    mk_status st = t->m->grads ? MK_OK : mk_model_zero_grads(t->m);
    float *buf = t->m->grads;
    if (st == MK_OK)
        st = ops->zero(buf, o->n * sizeof(float));
    if (st == MK_OK && o->hi > o->lo)
        st = ops->copy(buf + o->lo, shard, (o->hi - o->lo) * sizeof(float));
    mk_dist_set_wire(t->dist, MK_DIST_FP32);
    if (st == MK_OK)
        st = mk_dist_sum(t->dist, buf, o->n);
    mk_dist_set_wire(t->dist, (enum mk_dist_wire)t->r->dist_allreduce);
    if (st == MK_OK && dst != buf)
        st = ops->copy(dst, buf, o->n * sizeof(float));
    return st;
}

/* Before a checkpoint with sharded moments: the whole moments on rank 0's host (every rank
 * takes part) */
static mk_status gather_moments(struct trainer *t)
{
    if (!sharded(t))
        return MK_OK;
    const int lead = mk_dist_rank(t->dist) == 0;
    const size_t bytes = t->opt->n * sizeof(float);
    if (lead && !t->whole_m && (!(t->whole_m = malloc(bytes)) || !(t->whole_v = malloc(bytes))))
        return mk_fail(MK_ERR_NOMEM, "out of memory gathering the optimizer's moments");
    float *host[2] = {t->whole_m, t->whole_v};
    const float *shard[2] = {t->opt->m, t->opt->v};
    mk_status st = MK_OK;
    for (int i = 0; i < 2 && st == MK_OK; i++) {
        st = gather_shards(t, t->m->grads, shard[i]);
        if (st == MK_OK && lead)
            st = t->m->ops->download(host[i], t->m->grads, bytes);
    }
    return st;
}

/* With world > 1 and a trained backbone: the backward of the step's last micro-batch on this
 * rank (on = 1) starts the model's bucketed gradient sums as its layers finish; off again
 * after it. The earlier micro-batches only accumulate. */
static void overlap_sums(struct trainer *t, int on)
{
    if (!t->gsync)
        return;
    if (on)
        mk_grad_sync_arm(t->gsync, t->m->grads);
    t->m->grad_ready = on ? mk_grad_sync_layer_done : NULL;
    t->m->grad_ready_ctx = on ? t->gsync : NULL;
}

/* Sums the step's gradients and loss (*sum, this rank's share on entry) over the ranks:
 * the model's gradient block on its backend (the buckets the backward did not start, then
 * the wait for all), the head's (host) gradients and the loss in one host buffer of
 * doubles. */
static mk_status sum_over_ranks(struct trainer *t, double *sum)
{
    mk_status st = t->m->ops->sync();
    if (st == MK_OK && t->gsync)
        st = mk_grad_sync_finish(t->gsync);
    const size_t nh = t->head ? t->head->n_params : 0;
    double *host = malloc((1 + nh) * sizeof *host);
    if (st == MK_OK && !host)
        st = mk_fail(MK_ERR_NOMEM, "out of memory");
    if (st != MK_OK) {
        free(host);
        return st;
    }
    host[0] = *sum;
    for (size_t i = 0; i < nh; i++)
        host[1 + i] = t->head->grads[i];
    st = mk_dist_sum_host(t->dist, host, 1 + nh);
    *sum = host[0];
    for (size_t i = 0; i < nh; i++)
        t->head->grads[i] = (float)host[1 + i];
    free(host);
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
    const int world = mk_dist_world(t->dist), rank = mk_dist_rank(t->dist);
    double sum = 0;
    for (int a = 0; st == MK_OK && a < t->accum; a++) {
        const struct mk_batch *b = &t->batch;
        st = mk_sampler_next(&t->sampler, &t->train, &t->batch, aug, r->codec->handle);
        if (a % world != rank)
            continue; /* another rank's micro-batch: drawn only to keep the sampler in step */
        overlap_sums(t, a + world >= t->accum);
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
        overlap_sums(t, 0);
    }
    if (st == MK_OK && world > 1)
        st = sum_over_ranks(t, &sum);
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
    if (t->opt) {
        mk_optim_step(t->opt, t->m->params, t->m->grads, lr, scale);
        if (sharded(t)) /* every rank updated its run of the parameters: all of them */
            st = gather_shards(t, t->m->params, t->m->params + t->opt->lo);
        mk_model_params_changed(t->m); /* CPU decoding copies (lib/precision.c) are now old */
    }
    if (t->head_opt)
        mk_optim_step(t->head_opt, t->head->params, t->head->grads, lr, scale);
    return st != MK_OK ? st : t->m->ops->sync();
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
    int best = 0;
    if (t->r->ckpt_best != MK_BEST_NONE)
        st = mk_trainer_save_best(t, t->r->ckpt_best == MK_BEST_VAL_LOSS ? loss : acc, &best);
    if (isnan(acc))
        mk_progress_note(t->progress, "step %lld  val loss %.4f%s", (long long)t->step, loss,
                         best ? "  (best so far: saved best)" : "");
    else
        mk_progress_note(t->progress, "step %lld  val loss %.4f  accuracy %.4f%s",
                         (long long)t->step, loss, acc, best ? "  (best so far: saved best)" : "");
    return st;
}

static mk_status checkpoint(struct trainer *t)
{
    mk_status st = mk_trainer_save(t);
    if (st == MK_OK)
        mk_progress_note(t->progress, "saved %s/ckpt-%lld", t->r->out, (long long)t->step);
    return st;
}

/* The stop flag (Ctrl-C, SIGTERM) of any rank stops them all at the same step. */
static mk_status stop_requested(struct trainer *t, int *stop)
{
    double flag = t->o->stop && *t->o->stop;
    mk_status st = mk_dist_sum_host(t->dist, &flag, 1);
    *stop = flag > 0;
    return st;
}

static mk_status run_loop(struct trainer *t)
{
    const struct mk_recipe *r = t->r;
    const struct mk_run_opts *o = t->o;
    const int lead = mk_dist_rank(t->dist) == 0;
    mk_status st = MK_OK;
    while (st == MK_OK && t->step < t->total) {
        int stop;
        if ((st = stop_requested(t, &stop)) != MK_OK)
            break;
        if (stop) {
            mk_progress_note(t->progress, "interrupted at step %lld: saving a checkpoint",
                             (long long)t->step);
            st = gather_moments(t);
            st = st == MK_OK && lead ? checkpoint(t) : st;
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
        if (lead && t->has_val && ((r->eval_every > 0 && t->step % r->eval_every == 0) ||
                           t->step == t->total))
            st = validate(t);
        const int ckpt = (r->ckpt_every > 0 && t->step % r->ckpt_every == 0) ||
                         t->step == t->total;
        if (st == MK_OK && ckpt)
            st = gather_moments(t);
        if (st == MK_OK && lead && ckpt)
            st = checkpoint(t);
    }
    return st;
}

/* A 64-bit FNV-1a hash of the fp32 parameter block and `salt`. */
static mk_status params_hash(struct trainer *t, uint64_t salt, uint64_t *hash)
{
    const size_t n = t->m->lay.total;
    float *p = malloc(n * sizeof *p);
    if (!p)
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    mk_status st = t->m->ops->download(p, t->m->params, n * sizeof *p);
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *bytes = (const unsigned char *)p;
    for (size_t i = 0; st == MK_OK && i < n * sizeof *p; i++)
        h = (h ^ bytes[i]) * 0x100000001b3ull;
    for (int i = 0; i < 8; i++)
        h = (h ^ (unsigned char)(salt >> (8 * i))) * 0x100000001b3ull;
    free(p);
    *hash = h;
    return st;
}

/* *differ = how many ranks' `mine` differs from rank 0's (the same count on every rank). */
static mk_status count_unlike_rank0(struct trainer *t, uint64_t mine, int *differ)
{
    uint64_t lead = mine;
    mk_status st = mk_dist_broadcast(t->dist, &lead, sizeof lead, 0);
    double n = lead != mine;
    if (st == MK_OK)
        st = mk_dist_sum_host(t->dist, &n, 1);
    *differ = (int)n;
    return st;
}

/* Before the first step: every rank must start from rank 0's parameters and step. They all
 * resume from what they see in run.out, so a rank that sees another run.out (another host
 * without a shared file system) would train from another step, and the collectives of the
 * ranks would no longer match. */
static mk_status check_same_start(struct trainer *t)
{
    uint64_t h;
    int differ = 0;
    mk_status st = params_hash(t, (uint64_t)t->step, &h);
    if (st == MK_OK)
        st = count_unlike_rank0(t, h, &differ);
    if (st == MK_OK && differ > 0)
        return mk_fail(MK_ERR_INVALID, "%d of the %d ranks would start from other parameters "
                       "or another step than rank 0 (step %lld): every rank must see the same "
                       "run.out (on several hosts, a shared file system) and the same recipe",
                       differ, mk_dist_world(t->dist), (long long)t->step);
    return st;
}

/* Every rank must end with the parameters of rank 0 (they differ only if a collective or a
 * kernel is not deterministic across ranks). */
static mk_status check_replicas(struct trainer *t)
{
    uint64_t hash;
    int differ = 0;
    mk_status st = params_hash(t, 0, &hash);
    if (st == MK_OK)
        st = count_unlike_rank0(t, hash, &differ);
    if (st == MK_OK && differ > 0)
        return mk_fail(MK_ERR_INVALID, "after training, %d of %d ranks hold parameters that "
                       "differ from rank 0's", differ, mk_dist_world(t->dist));
    if (st == MK_OK)
        mk_progress_note(t->progress, "the %d ranks hold identical parameters (hash %016llx)",
                         mk_dist_world(t->dist), (unsigned long long)hash);
    return st;
}

/* On a GPU, the device memory in use once training is done: the training's peak, as its
 * buffers are made by the first steps and kept (cudaMemGetInfo: the CUDA context and the
 * libraries' workspaces included; rank 0's GPU). */
static void note_gpu_memory(struct trainer *t)
{
    enum mk_device dev;
    int idx;
    size_t used, total;
    if (mk_task_device(t->r, &dev, &idx) == MK_OK && dev == MK_DEVICE_CUDA &&
        mk_cuda_mem_info(idx, &used, &total) == MK_OK)
        mk_progress_note(t->progress, "GPU memory in use after training: %.2f GiB of %.1f%s",
                         (double)used / (1 << 30), (double)total / (1 << 30),
                         mk_dist_world(t->dist) > 1 ? " (rank 0)" : "");
}

/* The ranks of the run (lib/dist.h), and the global batch dealt evenly over them. */
static mk_status setup_ranks(struct trainer *t)
{
    const struct mk_recipe *r = t->r;
    enum mk_device dev;
    int idx;
    mk_status st = mk_task_device(r, &dev, &idx);
    if (st == MK_OK)
        st = mk_dist_open(&t->dist, dev, idx);
    const int world = mk_dist_world(t->dist);
    mk_dist_set_wire(t->dist, (enum mk_dist_wire)r->dist_allreduce);
    if (st == MK_OK && r->global_batch % (r->micro_batch * world) != 0)
        st = mk_fail(MK_ERR_INVALID, "data.global_batch %d is not a multiple of "
                     "data.micro_batch %d x %d ranks: each rank takes the same number of "
                     "micro-batches per step", r->global_batch, r->micro_batch, world);
    return st;
}

static void trainer_free(struct trainer *t)
{
    mk_grad_sync_free(t->gsync);
    mk_progress_close(t->progress);
    mk_metrics_close(t->metrics);
    mk_optim_free(t->opt);
    free(t->whole_m);
    free(t->whole_v);
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
    struct trainer t = {.r = r, .o = o, .best_step = -1};
    mk_status st = setup_ranks(&t);
    const int lead = mk_dist_rank(t.dist) == 0, world = mk_dist_world(t.dist);
    if (st == MK_OK && !o->resume)
        st = refuse_old_run(r->out);
    if (st == MK_OK && lead)
        st = mk_mkdirs(r->out);
    if (st == MK_OK && lead)
        st = save_recipes(r);
    if (st == MK_OK)
        st = setup_data(&t);
    if (st == MK_OK)
        st = setup_model(&t);
    if (st == MK_OK) {
        t.total = total_steps(&t);
        mk_schedule_init(&t.sched, r->schedule, t.total, r->warmup, r->min_lr_ratio,
                         r->decay_ratio);
        st = mk_progress_open(&t.progress, lead ? o->log : NULL, r->progress, t.total, 0);
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
    /* run.dist.bucket_mb -1: buckets where the sums can overlap the backward (NCCL's own
     * stream), one blocking sum on CPU ranks (single-threaded MPI makes no progress meanwhile) */
    const double bucket_mb = r->dist_bucket_mb >= 0 ? r->dist_bucket_mb
                             : t.m && t.m->device == MK_DEVICE_CUDA ? 25 : 0;
    if (st == MK_OK && r->ckpt_best != MK_BEST_NONE && !t.has_val)
        st = mk_fail(MK_ERR_INVALID, "run.checkpoint.best: %s needs a validation split "
                     "(data.split.by or data.val.paths)", r->ckpt_best == MK_BEST_VAL_LOSS ? "val_loss"
                                                                            : "val_accuracy");
    if (st == MK_OK && world > 1)
        st = check_same_start(&t);
    if (st == MK_OK && world > 1 && t.opt)
        st = mk_grad_sync_create(&t.gsync, t.dist, &t.m->lay, t.m->cfg.n_layer, bucket_mb);
    if (st == MK_OK && lead)
        st = mk_metrics_open(&t.metrics, r->out, resumed ? t.step : -1);
    if (st == MK_OK) {
        mk_progress_note(t.progress, "training %lld steps of %d x %d tokens (%d micro-batch%s "
                         "of %d), %zu training tokens", (long long)t.total, r->global_batch,
                         r->seq_len, t.accum, t.accum == 1 ? "" : "es", r->micro_batch,
                         t.train.n_tokens);
        if (world > 1)
            mk_progress_note(t.progress, "data parallel over %d ranks: %d micro-batch%s each "
                             "per step; the model's gradients summed in %s in %d bucket%s "
                             "(run.dist.bucket_mb %g)", world, t.accum / world,
                             t.accum / world == 1 ? "" : "es",
                             r->dist_allreduce ? "bf16" : "fp32", t.gsync ? t.gsync->plan.n : 0,
                             t.gsync && t.gsync->plan.n == 1 ? "" : "s", bucket_mb);
        if (sharded(&t))
            mk_progress_note(t.progress, "AdamW moments sharded over the %d ranks "
                             "(run.dist.zero): %.1f MiB a rank instead of %.1f", world,
                             2.0 * (double)(t.opt->hi - t.opt->lo) * 4 / (1 << 20),
                             2.0 * (double)t.opt->n * 4 / (1 << 20));
        st = run_loop(&t);
    }
    if (st == MK_OK)
        note_gpu_memory(&t);
    if (st == MK_OK && world > 1)
        st = check_replicas(&t);
    if (st != MK_OK && st != MK_ERR_INTERRUPTED)
        mk_dist_abort(t.dist, st);
    mk_status pst = t.metrics ? mk_plot_run(r->out) : MK_OK;
    if (st == MK_OK)
        st = pst;
    trainer_free(&t);
    mk_dist_close(t.dist);
    return st;
}
