/* optim.c — AdamW with per-group weight decay, schedules and clipping (see optim.h). */
#include "config.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "optim.h"
#include "recipe.h"
#include "safetensors.h"

/* mk_optim_create for the shard [lo, hi) of the block */
static mk_status create_shard(struct mk_optim **out, const struct mk_ops *ops, size_t n,
                              size_t lo, size_t hi, const struct mk_optim_group *groups,
                              int n_groups, const struct mk_optim_hp *hp)
{
    *out = NULL;
    struct mk_optim *o = calloc(1, sizeof *o);
    if (!o || !(o->groups = malloc((size_t)n_groups * sizeof *o->groups))) {
        free(o);
        return mk_fail(MK_ERR_NOMEM, "out of memory for the optimizer");
    }
    o->ops = ops;
    o->n = n;
    o->lo = lo;
    o->hi = hi;
    o->hp = *hp;
    o->n_groups = n_groups;
    memcpy(o->groups, groups, (size_t)n_groups * sizeof *groups);
    const size_t bytes = (hi - lo) * sizeof(float);
    mk_status st = ops->alloc((void **)&o->m, bytes ? bytes : sizeof(float));
    if (st == MK_OK)
        st = ops->alloc((void **)&o->v, bytes ? bytes : sizeof(float));
    if (st == MK_OK)
        st = ops->zero(o->m, bytes);
    if (st == MK_OK)
        st = ops->zero(o->v, bytes);
    if (st != MK_OK) {
        mk_optim_free(o);
        return st;
    }
    *out = o;
    return MK_OK;
}

mk_status mk_optim_create(struct mk_optim **out, const struct mk_ops *ops, size_t n,
                          const struct mk_optim_group *groups, int n_groups,
                          const struct mk_optim_hp *hp)
{
    return create_shard(out, ops, n, 0, n, groups, n_groups, hp);
}

mk_status mk_optim_create_for_model(struct mk_optim **out, const struct mk_model *m,
                                    const struct mk_optim_hp *hp, int shard, int shards)
{
    const struct mk_param_layout *lay = &m->lay;
    struct mk_optim_group *g = malloc((size_t)lay->n * sizeof *g);
    if (!g)
        return mk_fail(MK_ERR_NOMEM, "out of memory for the optimizer");
    int n = 0;
    for (int i = 0; i < lay->n; i++) { /* merge neighbours with the same rule */
        const struct mk_tensor_spec *s = &lay->specs[i];
        int decay = !s->no_weight_decay;
        if (n > 0 && g[n - 1].decay == decay && g[n - 1].offset + g[n - 1].n == s->offset)
            g[n - 1].n += s->numel;
        else
            g[n++] = (struct mk_optim_group){s->offset, s->numel, decay};
    }
    const size_t total = lay->total, k = shards > 1 ? (size_t)shards : 1;
    const size_t lo = total * (size_t)shard / k, hi = total * ((size_t)shard + 1) / k;
    mk_status st = create_shard(out, m->ops, total, lo, hi, g, n, hp);
    free(g);
    return st;
}

void mk_optim_free(struct mk_optim *o)
{
    if (!o)
        return;
    if (o->m)
        o->ops->free(o->m);
    if (o->v)
        o->ops->free(o->v);
    free(o->groups);
    free(o);
}

void mk_optim_step(struct mk_optim *o, float *params, const float *grads, float lr,
                   float grad_scale)
{
    o->step++;
    struct mk_adamw_hp hp = {
        .lr = lr, .beta1 = o->hp.beta1, .beta2 = o->hp.beta2, .eps = o->hp.eps,
        .grad_scale = grad_scale,
        .bc1 = (float)(1.0 - pow(o->hp.beta1, (double)o->step)),
        .bc2 = (float)(1.0 - pow(o->hp.beta2, (double)o->step)),
    };
    for (int i = 0; i < o->n_groups; i++) { /* each group's part in the shard */
        const struct mk_optim_group *g = &o->groups[i];
        const size_t a = g->offset > o->lo ? g->offset : o->lo;
        const size_t b = g->offset + g->n < o->hi ? g->offset + g->n : o->hi;
        if (a >= b)
            continue;
        hp.weight_decay = g->decay ? o->hp.weight_decay : 0.0f;
        o->ops->adamw(params + a, o->m + (a - o->lo), o->v + (a - o->lo), grads + a, b - a, &hp);
    }
}

mk_status mk_optim_download(const struct mk_optim *o, float **m, float **v)
{
    const size_t n = o->hi - o->lo;
    *m = malloc((n ? n : 1) * sizeof(float));
    *v = malloc((n ? n : 1) * sizeof(float));
    mk_status st = *m && *v ? MK_OK : mk_fail(MK_ERR_NOMEM, "out of memory saving moments");
    if (st == MK_OK)
        st = o->ops->download(*m, o->m, n * sizeof(float));
    if (st == MK_OK)
        st = o->ops->download(*v, o->v, n * sizeof(float));
    if (st != MK_OK) {
        free(*m);
        free(*v);
        *m = *v = NULL;
    }
    return st;
}

/* Reads one moment tensor of exactly n floats, its shard [lo, hi) into backend memory. */
static mk_status restore_one(struct mk_optim *o, const struct mk_st_file *f, const char *name,
                             float *dst, float *host)
{
    const struct mk_st_tensor *t = mk_st_find(f, name);
    if (!t || t->dtype != MK_F32 || t->numel != o->n)
        return mk_fail(MK_ERR_FORMAT, "%s: tensor %s missing or not F32[%zu]", f->path, name,
                       o->n);
    mk_status st = mk_st_read_f32(f, t, host);
    return st != MK_OK ? st
                       : o->ops->upload(dst, host + o->lo, (o->hi - o->lo) * sizeof(float));
}

mk_status mk_optim_restore(struct mk_optim *o, const struct mk_st_file *f, const char *prefix)
{
    char name[128];
    float *host = malloc(o->n * sizeof(float));
    if (!host)
        return mk_fail(MK_ERR_NOMEM, "out of memory loading moments");
    snprintf(name, sizeof name, "%s.m", prefix);
    mk_status st = restore_one(o, f, name, o->m, host);
    snprintf(name, sizeof name, "%s.v", prefix);
    if (st == MK_OK)
        st = restore_one(o, f, name, o->v, host);
    free(host);
    snprintf(name, sizeof name, "%s.step", prefix);
    const struct mk_st_tensor *t = mk_st_find(f, name);
    if (st == MK_OK && (!t || t->dtype != MK_I64 || t->numel != 1))
        st = mk_fail(MK_ERR_FORMAT, "%s: tensor %s missing or not I64[1]", f->path, name);
    if (st == MK_OK)
        memcpy(&o->step, f->data + t->begin, sizeof o->step);
    return st;
}

void mk_schedule_init(struct mk_schedule *s, int kind, int64_t total, double warmup,
                      double min_ratio, double decay)
{
    s->kind = kind;
    s->total = total > 0 ? total : 1;
    s->warmup = warmup < 1 ? (int64_t)(warmup * (double)s->total) : (int64_t)warmup;
    s->min_ratio = min_ratio;
    s->decay = decay;
}

double mk_lr_factor(const struct mk_schedule *s, int64_t step)
{
    if (step < s->warmup)
        return (double)(step + 1) / (double)s->warmup;
    const double lo = s->min_ratio;
    double p = (double)(step - s->warmup) / (double)(s->total - s->warmup > 1 ? s->total - s->warmup - 1 : 1);
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    switch (s->kind) {
    case MK_SCHED_COSINE:
        return lo + (1 - lo) * 0.5 * (1 + cos(M_PI * p));
    case MK_SCHED_LINEAR:
        return lo + (1 - lo) * (1 - p);
    case MK_SCHED_WSD: {
        double start = 1 - s->decay; /* fraction of all steps where the decay begins */
        double q = (double)step / (double)(s->total > 1 ? s->total - 1 : 1);
        return q <= start || s->decay <= 0 ? 1.0 : lo + (1 - lo) * (1 - (q - start) / s->decay);
    }
    default:
        return 1.0;
    }
}

float mk_clip_factor(double norm, double max_norm)
{
    if (max_norm <= 0 || !(norm > max_norm))
        return 1.0f;
    return (float)(max_norm / (norm + 1e-6));
}
