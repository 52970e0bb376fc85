/* train_state.c — saving a training run as a checkpoint directory, and resuming from the
 * newest one that loads (see train.h for the layout and the guarantees).
 *
 * train_state.safetensors holds what the model files do not: optim.{m,v,step} (AdamW
 * moments, exact fp32), head.{m,v,step} for a classifier head, `sampler` (the sampler struct
 * as 64-bit words: kind, L, lm, pack, seed, rng[4], cursor, epoch), `step` and `tokens`, and
 * with run.checkpoint.best once there is one, `best` (F64 [2]: the step and the value of the
 * best validation so far; absent in older checkpoints, read as none).
 */
#include "config.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "safetensors.h"
#include "train_loop.h"

enum { SAMPLER_WORDS = 11 };

static void sampler_pack(const struct mk_sampler *s, int64_t *w)
{
    const int64_t v[SAMPLER_WORDS] = {s->kind, s->L, s->lm, s->pack, (int64_t)s->seed,
                                      (int64_t)s->rng.s[0], (int64_t)s->rng.s[1],
                                      (int64_t)s->rng.s[2], (int64_t)s->rng.s[3],
                                      (int64_t)s->cursor, (int64_t)s->epoch};
    memcpy(w, v, sizeof v);
}

static void sampler_unpack(struct mk_sampler *s, const int64_t *w)
{
    s->kind = (int)w[0];
    s->L = (int)w[1];
    s->lm = (int)w[2];
    s->pack = (int)w[3];
    s->seed = (uint64_t)w[4];
    for (int i = 0; i < 4; i++)
        s->rng.s[i] = (uint64_t)w[5 + i];
    s->cursor = (uint64_t)w[9];
    s->epoch = (uint64_t)w[10];
}

/* Adds PREFIX.m, PREFIX.v, PREFIX.step of an optimizer to the entries: its moments (into
 * bufs), or whole_m / whole_v when it holds a shard of them (run.dist.zero: gathered). */
static mk_status add_optim(const struct mk_optim *o, const float *whole_m, const float *whole_v,
                           const char *prefix, struct mk_st_entry *e, int *n, float **bufs,
                           int64_t *shape, int64_t *step, char names[][32])
{
    const int shard = mk_optim_sharded(o);
    if (shard && (!whole_m || !whole_v))
        return mk_fail(MK_ERR_INVALID, "saving a shard of the optimizer's moments: the whole "
                       "ones were not gathered");
    mk_status st = shard ? MK_OK : mk_optim_download(o, &bufs[0], &bufs[1]);
    if (st != MK_OK)
        return st;
    const float *mv[2] = {shard ? whole_m : bufs[0], shard ? whole_v : bufs[1]};
    *shape = (int64_t)o->n;
    *step = o->step;
    static const int64_t one = 1;
    const char *suffix[3] = {"m", "v", "step"};
    for (int i = 0; i < 3; i++) {
        snprintf(names[i], 32, "%s.%s", prefix, suffix[i]);
        e[*n] = (struct mk_st_entry){names[i], i < 2 ? MK_F32 : MK_I64, 1, i < 2 ? shape : &one,
                                     i < 2 ? (const void *)mv[i] : step};
        (*n)++;
    }
    return MK_OK;
}

static mk_status write_state(const struct trainer *t, const char *dir)
{
    struct mk_st_entry e[13];
    float *bufs[4] = {0};
    int64_t shapes[2], steps[2], words[SAMPLER_WORDS];
    char names[6][32];
    int n = 0;
    mk_status st = MK_OK;
    if (t->opt)
        st = add_optim(t->opt, t->whole_m, t->whole_v, "optim", e, &n, bufs, &shapes[0],
                       &steps[0], names);
    if (st == MK_OK && t->head_opt)
        st = add_optim(t->head_opt, NULL, NULL, "head", e, &n, bufs + 2, &shapes[1], &steps[1],
                       names + 3);
    static const int64_t one = 1, nw = SAMPLER_WORDS;
    sampler_pack(&t->sampler, words);
    e[n++] = (struct mk_st_entry){"sampler", MK_I64, 1, &nw, words};
    e[n++] = (struct mk_st_entry){"step", MK_I64, 1, &one, &t->step};
    e[n++] = (struct mk_st_entry){"tokens", MK_I64, 1, &one, &t->tokens};
    static const int64_t two = 2;
    const double best[2] = {(double)t->best_step, t->best_value};
    if (t->best_step >= 0)
        e[n++] = (struct mk_st_entry){"best", MK_F64, 1, &two, best};
    char path[4400];
    snprintf(path, sizeof path, "%s/train_state.safetensors", dir);
    struct mk_st_meta meta[1] = {{"format", "mambakit-train-state-1"}};
    if (st == MK_OK)
        st = mk_st_write(path, e, n, meta, 1);
    for (int i = 0; i < 4; i++)
        free(bufs[i]);
    return st;
}

/* Removes the KIND-STEP directories of dir past the newest `keep`. */
static mk_status remove_older(const char *dir, const char *kind, int keep)
{
    int64_t *steps;
    int n;
    mk_status st = mk_ckpt_list(dir, kind, &steps, &n);
    if (st != MK_OK)
        return st;
    for (int i = keep; i < n && st == MK_OK; i++)
        st = mk_ckpt_remove(dir, kind, steps[i]);
    free(steps);
    return st;
}

/* best.json of a best-STEP directory: the step, the metric and the value of t's best */
static mk_status write_best(const struct trainer *t, const char *dir)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/best.json", dir);
    FILE *f = fopen(path, "w");
    const char *metric = t->r->ckpt_best == MK_BEST_VAL_ACCURACY ? "val_accuracy" : "val_loss";
    mk_status st = f && fprintf(f, "{\"step\": %lld, \"metric\": \"%s\", \"value\": %.9g}\n",
                                (long long)t->best_step, metric, t->best_value) >= 0
                       ? MK_OK : mk_fail(MK_ERR_IO, "%s: cannot write", path);
    if (f && fclose(f) != 0 && st == MK_OK)
        st = mk_fail(MK_ERR_IO, "%s: cannot write", path);
    return st;
}

/* The model (and a classifier's head) and the file `extra` writes, as dir/KIND-STEP: staged,
 * renamed into place, the link `link` pointed at it, all but the newest `keep` removed. */
static mk_status save_dir(const struct trainer *t, const char *kind, const char *link, int keep,
                          mk_status (*extra)(const struct trainer *, const char *))
{
    const char *out = t->r->out;
    char tmp[4200];
    mk_status st = mk_ckpt_stage(out, kind, t->step, tmp, sizeof tmp);
    if (st == MK_OK)
        st = mk_ckpt_save(t->m, tmp, MK_F32);
    if (st == MK_OK && t->head)
        st = mk_classifier_save(t->head, tmp);
    if (st == MK_OK)
        st = extra(t, tmp);
    if (st == MK_OK)
        st = mk_ckpt_commit(out, kind, t->step, tmp);
    if (st == MK_OK)
        st = mk_ckpt_link(out, link, kind, t->step);
    return st == MK_OK ? remove_older(out, kind, keep) : st;
}

mk_status mk_trainer_save(struct trainer *t)
{
    return save_dir(t, "ckpt", "last", t->r->keep_last, write_state);
}

mk_status mk_trainer_save_best(struct trainer *t, double value, int *saved)
{
    const int higher = t->r->ckpt_best == MK_BEST_VAL_ACCURACY;
    *saved = 0;
    if (higher && isnan(value))
        return mk_fail(MK_ERR_INVALID, "run.checkpoint.best is val_accuracy, but this task "
                       "reports no validation accuracy (a language model on unweighted text); "
                       "use val_loss");
    if (isnan(value) || (t->best_step >= 0 && (higher ? value <= t->best_value
                                                      : value >= t->best_value)))
        return MK_OK;
    const int64_t old_step = t->best_step;
    const double old_value = t->best_value;
    t->best_step = t->step;
    t->best_value = value;
    mk_status st = save_dir(t, "best", "best", 1, write_best);
    if (st != MK_OK) { /* the best on disk is still the old one */
        t->best_step = old_step;
        t->best_value = old_value;
    }
    *saved = st == MK_OK;
    return st;
}

static mk_status read_i64(const struct mk_st_file *f, const char *name, int64_t *dst, size_t n)
{
    const struct mk_st_tensor *t = mk_st_find(f, name);
    if (!t || t->dtype != MK_I64 || t->numel != n)
        return mk_fail(MK_ERR_FORMAT, "%s: tensor %s missing or not I64[%zu]", f->path, name, n);
    memcpy(dst, f->data + t->begin, n * sizeof *dst);
    return MK_OK;
}

/* Everything of one checkpoint directory, or an error (then t is as before). */
static mk_status load_one(struct trainer *t, const char *dir)
{
    const struct mk_recipe *r = t->r;
    enum mk_device dev;
    int idx;
    struct mk_model *m = NULL;
    struct mk_classifier *head = NULL;
    struct mk_st_file f;
    char path[4400];
    snprintf(path, sizeof path, "%s/train_state.safetensors", dir);
    mk_status st = mk_task_device(r, &dev, &idx);
    if (st == MK_OK)
        st = mk_st_open(&f, path);
    if (st != MK_OK)
        return st;
    int64_t words[SAMPLER_WORDS], step, tokens;
    st = mk_ckpt_load(&m, dir, dev, idx);
    if (st == MK_OK && t->head_opt)
        st = mk_classifier_load(&head, m, dir);
    if (st == MK_OK && t->opt)
        st = mk_optim_restore(t->opt, &f, "optim");
    if (st == MK_OK && t->head_opt)
        st = mk_optim_restore(t->head_opt, &f, "head");
    if (st == MK_OK)
        st = read_i64(&f, "sampler", words, SAMPLER_WORDS);
    if (st == MK_OK)
        st = read_i64(&f, "step", &step, 1);
    if (st == MK_OK)
        st = read_i64(&f, "tokens", &tokens, 1);
    const struct mk_st_tensor *bt = mk_st_find(&f, "best");
    double best[2] = {-1, 0};
    if (st == MK_OK && bt && (bt->dtype != MK_F64 || bt->numel != 2))
        st = mk_fail(MK_ERR_FORMAT, "%s: tensor best is not F64[2]", f.path);
    else if (st == MK_OK && bt)
        memcpy(best, f.data + bt->begin, sizeof best);
    mk_st_close(&f);
    if (st != MK_OK) {
        mk_classifier_free(head, m);
        mk_model_free(m);
        return st;
    }
    /* the optimizers were made for the fresh model: they only hold backend buffers of the
     * same layout, so they carry over to the loaded one */
    if (t->head) {
        head->labels = t->head->labels; /* the names come from the data, as in a new run */
        t->head->labels = (struct mk_labels){0};
        mk_classifier_free(t->head, t->m);
        t->head = head;
    }
    mk_model_free(t->m);
    t->m = m;
    sampler_unpack(&t->sampler, words);
    t->step = step;
    t->tokens = tokens;
    t->best_step = (int64_t)best[0];
    t->best_value = best[1];
    return MK_OK;
}

mk_status mk_trainer_resume(struct trainer *t, int *found)
{
    *found = 0;
    int64_t *steps;
    int n;
    mk_status st = mk_ckpt_list(t->r->out, "ckpt", &steps, &n);
    for (int i = 0; st == MK_OK && i < n && !*found; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/ckpt-%lld", t->r->out, (long long)steps[i]);
        if (load_one(t, dir) == MK_OK)
            *found = 1;
        else
            mk_progress_note(t->progress, "warning: checkpoint %s is unusable (%s); trying "
                             "the one before it", dir, mk_last_error());
    }
    free(steps);
    return st;
}
