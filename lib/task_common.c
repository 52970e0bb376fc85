/* task_common.c — setup shared by the tasks: the device of run.device, a new model from the
 * recipe's model section, run.precision on the model's backend, which tokens are markup, small
 * text outputs in run.out, and mk_recipe_run, which sets run.threads and dispatches on
 * task.kind.
 */
#include "config.h"
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "train_loop.h"

mk_status mk_task_device(const struct mk_recipe *r, enum mk_device *dev, int *index)
{
    mk_status st = mk_device_parse(r->device, dev, index);
    if (st == MK_OK && *dev == MK_DEVICE_CUDA)
        *index += mk_dist_local_rank(); /* data-parallel ranks of a host: one GPU each */
    return st;
}

mk_status mk_task_new_model(struct mk_model **out, const struct mk_recipe *r)
{
    struct mk_config cfg;
    mk_config_default(&cfg, r->d_model, r->n_layer, r->vocab_size);
    cfg.d_state = r->d_state;
    cfg.d_conv = r->d_conv;
    cfg.expand = r->expand;
    cfg.d_inner = r->expand * r->d_model;
    cfg.dt_rank = r->dt_rank;
    cfg.norm_eps = (float)r->norm_eps;
    cfg.tie_embeddings = r->tie_embeddings;
    cfg.pad_vocab_size_multiple = r->pad_vocab_multiple;
    cfg.bos_token_id = mk_codec_special(r->codec, MK_TOKEN_BOS);
    cfg.eos_token_id = mk_codec_special(r->codec, MK_TOKEN_EOS);
    cfg.pad_token_id = mk_codec_special(r->codec, MK_TOKEN_PAD);
    enum mk_device dev;
    int idx;
    mk_status st = mk_config_validate(&cfg);
    if (st == MK_OK)
        st = mk_task_device(r, &dev, &idx);
    if (st == MK_OK)
        st = mk_model_create(out, &cfg, dev, idx);
    if (st == MK_OK && (st = mk_model_init(*out, r->seed)) != MK_OK) {
        mk_model_free(*out);
        *out = NULL;
    }
    return st;
}

mk_status mk_task_precision(const struct mk_recipe *r, struct mk_model *m)
{
    enum mk_precision p = MK_PRECISION_FP32;
    mk_status st = r->precision ? mk_precision_parse(r->precision, &p) : MK_OK;
    return st != MK_OK ? st : mk_model_set_precision(m, p);
}

mk_status mk_task_load_model(struct mk_model **out, const struct mk_recipe *r)
{
    enum mk_device dev;
    int idx;
    *out = NULL;
    mk_status st = mk_task_device(r, &dev, &idx);
    if (st == MK_OK)
        st = mk_ckpt_load(out, r->model_from, dev, idx);
    if (st == MK_OK)
        st = mk_task_precision(r, *out);
    return st;
}

int mk_task_is_markup(const struct mk_codec *c, int32_t id)
{
    static const enum mk_special_token markup[] = {MK_TOKEN_PAD, MK_TOKEN_BOS, MK_TOKEN_EOS,
                                                   MK_TOKEN_MASK};
    for (size_t i = 0; i < sizeof markup / sizeof markup[0]; i++)
        if (id == mk_codec_special(c, markup[i]))
            return 1;
    return 0;
}

mk_status mk_task_write_text(const char *dir, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return mk_write_file_atomic(path, text, strlen(text));
}

mk_status mk_recipe_run(const struct mk_recipe *r, const struct mk_run_opts *o)
{
#ifdef _OPENMP
    if (r->threads > 0)
        omp_set_num_threads(r->threads);
#endif
    /* several processes would each do the whole job, into the same run.out */
    const int world = mk_dist_launched_world();
    if (r->kind != MK_TASK_TRAIN && world > 1)
        return mk_fail(MK_ERR_INVALID, "task.kind %s runs in one process, and this is one of "
                       "%d (mpirun, mambakit-launch or MAMBAKIT_WORLD_SIZE): several processes "
                       "are for task.kind train; run it without the launcher",
                       mk_recipe_kind_name(r->kind), world);
    switch (r->kind) {
    case MK_TASK_TRAIN: return mk_task_train(r, o);
    case MK_TASK_EVAL: return mk_task_eval(r, o);
    case MK_TASK_CLASSIFY: return mk_task_classify(r, o);
    default: return mk_task_generate(r, o);
    }
}
