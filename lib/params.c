/* params.c — the parameter spec table: every tensor's Hugging Face name, shape, kind and
 * offset inside the one parameter block (gradients and optimizer moments use the same
 * offsets). Order: embeddings, then per layer norm and mixer tensors, norm_f, lm_head when
 * untied — the order of the forward pass.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"

struct builder {
    struct mk_param_layout *lay;
    int cap;
};

static int add(struct builder *bld, enum mk_param_kind kind, int layer, int ndim,
               const int64_t *shape, const char *fmt, ...)
{
    struct mk_param_layout *lay = bld->lay;
    if (lay->n == bld->cap) {
        int cap = bld->cap ? bld->cap * 2 : 64;
        struct mk_tensor_spec *s = realloc(lay->specs, (size_t)cap * sizeof *s);
        if (!s)
            return -1;
        lay->specs = s;
        bld->cap = cap;
    }
    struct mk_tensor_spec *t = &lay->specs[lay->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->offset = lay->total;
    lay->total += t->numel;
    t->layer = layer;
    t->kind = kind;
    /* mamba_ssm's no-weight-decay set: A_log and D (_no_weight_decay), every bias, every
     * norm weight and the embedding (the usual GPT grouping keeps 2-D matrices only). */
    t->no_weight_decay = !(kind == MK_P_IN_PROJ || kind == MK_P_X_PROJ || kind == MK_P_DT_PROJ_W ||
                           kind == MK_P_OUT_PROJ || kind == MK_P_CONV_W || kind == MK_P_LM_HEAD);
    return 0;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define ADD(kind, layer, name, ...)                                                          \
    do {                                                                                     \
        if (add(&bld, kind, layer, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__), name, layer) != 0) \
            goto nomem;                                                                      \
    } while (0)

mk_status mk_param_layout_make(struct mk_param_layout *lay, const struct mk_config *cfg)
{
    memset(lay, 0, sizeof *lay);
    mk_status st = mk_config_validate(cfg);
    if (st != MK_OK)
        return st;
    struct builder bld = {lay, 0};
    const int64_t D = cfg->d_model, E = cfg->d_inner, N = cfg->d_state, K = cfg->d_conv;
    const int64_t R = cfg->dt_rank, V = cfg->vocab_size;

    ADD(MK_P_EMBEDDING, -1, "backbone.embeddings.weight", V, D);
    for (int l = 0; l < cfg->n_layer; l++) {
        ADD(MK_P_NORM, l, "backbone.layers.%d.norm.weight", D);
        ADD(MK_P_IN_PROJ, l, "backbone.layers.%d.mixer.in_proj.weight", 2 * E, D);
        if (cfg->use_bias)
            ADD(MK_P_IN_PROJ_BIAS, l, "backbone.layers.%d.mixer.in_proj.bias", 2 * E);
        ADD(MK_P_CONV_W, l, "backbone.layers.%d.mixer.conv1d.weight", E, 1, K);
        if (cfg->use_conv_bias)
            ADD(MK_P_CONV_B, l, "backbone.layers.%d.mixer.conv1d.bias", E);
        ADD(MK_P_X_PROJ, l, "backbone.layers.%d.mixer.x_proj.weight", R + 2 * N, E);
        ADD(MK_P_DT_PROJ_W, l, "backbone.layers.%d.mixer.dt_proj.weight", E, R);
        ADD(MK_P_DT_PROJ_B, l, "backbone.layers.%d.mixer.dt_proj.bias", E);
        ADD(MK_P_A_LOG, l, "backbone.layers.%d.mixer.A_log", E, N);
        ADD(MK_P_D, l, "backbone.layers.%d.mixer.D", E);
        ADD(MK_P_OUT_PROJ, l, "backbone.layers.%d.mixer.out_proj.weight", D, E);
        if (cfg->use_bias)
            ADD(MK_P_OUT_PROJ_BIAS, l, "backbone.layers.%d.mixer.out_proj.bias", D);
    }
    ADD(MK_P_NORM_F, -1, "backbone.norm_f.weight", D);
    if (!cfg->tie_embeddings)
        ADD(MK_P_LM_HEAD, -1, "lm_head.weight", V, D);
    return MK_OK;
nomem:
    mk_param_layout_free(lay);
    return mk_fail(MK_ERR_NOMEM, "out of memory building the parameter table");
}

void mk_param_layout_free(struct mk_param_layout *lay)
{
    free(lay->specs);
    memset(lay, 0, sizeof *lay);
}

const struct mk_tensor_spec *mk_param_find(const struct mk_param_layout *lay, const char *name)
{
    for (int i = 0; i < lay->n; i++)
        if (strcmp(lay->specs[i].name, name) == 0)
            return &lay->specs[i];
    return NULL;
}
