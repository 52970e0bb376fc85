/* optim.h — AdamW over a parameter block (fp32 master weights: the block itself), the
 * learning-rate schedules, and global-norm clipping.
 *
 *     struct mk_optim *o;
 *     mk_optim_create_for_model(&o, model, &hp);     // groups: decay / no decay from the layout
 *     for each step:
 *         lr = base_lr * mk_lr_factor(&sched, step);
 *         ...accumulate gradients of `accum` micro-batches...
 *         norm = sqrt(sumsq(grads)) / accum;  clip = mk_clip_factor(norm, max_norm);
 *         mk_optim_step(o, params, grads, lr, clip / accum);
 *     mk_optim_save / mk_optim_load: the moments and the step count, exactly
 *
 * The update is kernels/adamw.h's (torch.optim.AdamW order), run through the model's op table
 * so it happens where the parameters live (CPU or GPU). Weight decay is applied per group:
 * mamba_ssm's no-weight-decay set (A_log, D, biases, norms, embeddings; the layout's
 * no_weight_decay flags) gets none.
 */
#ifndef MK_OPTIM_H
#define MK_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "mambakit.h"
#include "ops.h"

struct mk_optim_hp {
    float beta1, beta2, eps, weight_decay;
};

/* A contiguous run of the block with one decay rule. */
struct mk_optim_group {
    size_t offset, n;
    int decay; /* 1: weight decay applies */
};

struct mk_optim {
    const struct mk_ops *ops;
    size_t n;                      /* floats in the block */
    size_t lo, hi;                 /* the shard it updates: [lo, hi) (0, n: the whole block) */
    float *m, *v;                  /* backend [hi - lo] first and second moments of the shard */
    struct mk_optim_group *groups;
    int n_groups;
    struct mk_optim_hp hp;
    int64_t step;                  /* updates made so far */
};

/* Moments of n floats on the backend `ops`, with the given groups (copied). */
mk_status mk_optim_create(struct mk_optim **out, const struct mk_ops *ops, size_t n,
                          const struct mk_optim_group *groups, int n_groups,
                          const struct mk_optim_hp *hp);
/* The same for a model's parameter block, grouping its layout by no_weight_decay; with shards
 * > 1, only shard `shard` of `shards` near-equal runs of the block (ZeRO-1: each data-parallel
 * rank keeps and updates the moments of its own run; the caller gathers the parameters). */
mk_status mk_optim_create_for_model(struct mk_optim **out, const struct mk_model *m,
                                    const struct mk_optim_hp *hp, int shard, int shards);
void mk_optim_free(struct mk_optim *o);
/* Whether o holds a shard of the block's moments rather than all of them */
static inline int mk_optim_sharded(const struct mk_optim *o)
{
    return o->hi - o->lo != o->n;
}
/* One AdamW update of params from grads (both backend memory, n floats) at learning rate lr,
 * with the gradient multiplied by grad_scale (clipping and accumulation averaging); only
 * [lo, hi) of params changes. */
void mk_optim_step(struct mk_optim *o, float *params, const float *grads, float lr,
                   float grad_scale);

/* Moments and step as tensors PREFIX.m, PREFIX.v, PREFIX.step (see safetensors.h). */
struct mk_st_entry;
struct mk_st_file;
/* Host copies of the moments for saving: *m and *v are malloc'd [hi - lo] (the shard). */
mk_status mk_optim_download(const struct mk_optim *o, float **m, float **v);
/* Reads PREFIX.m, .v ([n] each: whole moments, whatever shards saved them) and .step, keeping
 * [lo, hi). */
mk_status mk_optim_restore(struct mk_optim *o, const struct mk_st_file *f, const char *prefix);

/* Learning-rate schedules: the factor (of the peak lr) at step (0-based) of total steps.
 *   warmup  linear ramp (step + 1) / W over the first W steps (W = warmup * total when
 *           warmup < 1, else warmup steps), then with p = progress through the rest in [0, 1]:
 *   cosine  min + (1 - min) (1 + cos(pi p)) / 2
 *   linear  min + (1 - min) (1 - p)
 *   constant 1
 *   wsd     warmup-stable-decay: 1 until the last `decay` fraction of the steps, then linear
 *           down to min over it. */
struct mk_schedule {
    int kind;          /* enum mk_schedule_kind */
    int64_t total, warmup;
    double min_ratio, decay;
};
void mk_schedule_init(struct mk_schedule *s, int kind, int64_t total, double warmup,
                      double min_ratio, double decay);
double mk_lr_factor(const struct mk_schedule *s, int64_t step);

/* torch.nn.utils.clip_grad_norm_'s factor: min(1, max_norm / (norm + 1e-6)); 1 when
 * max_norm is 0 (no clipping). */
float mk_clip_factor(double norm, double max_norm);

#endif /* MK_OPTIM_H */
