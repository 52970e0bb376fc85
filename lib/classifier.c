/* classifier.c — the classification head (see classifier.h for the math).
 *
 * Backward: with p = softmax(logits) and y the one-hot label, d(loss)/d(logits[b]) =
 * (p - y) / n over the n labelled rows; then dW += dlogits^T pooled, dbias += dlogits,
 * dpooled = dlogits W, spread back to the features: 1/len_b on each real token for mean
 * pooling, all of it on the last real token for last pooling, zero on padding.
 */
#include "config.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "classifier.h"
#include "model_internal.h"
#include "safetensors.h"

mk_status mk_classifier_create(struct mk_classifier **out, const struct mk_model *m, int C,
                               int pool)
{
    *out = NULL;
    if (C < 2)
        return mk_fail(MK_ERR_INVALID, "a classifier needs at least 2 classes, the data has %d",
                       C);
    struct mk_classifier *c = calloc(1, sizeof *c);
    if (!c)
        return mk_fail(MK_ERR_NOMEM, "out of memory for the classifier");
    c->C = C;
    c->D = m->cfg.d_model;
    c->pool = pool;
    c->n_params = (size_t)C * c->D + C;
    c->params = calloc(c->n_params, sizeof(float));
    c->grads = calloc(c->n_params, sizeof(float));
    if (!c->params || !c->grads) {
        mk_classifier_free(c, m);
        return mk_fail(MK_ERR_NOMEM, "out of memory for the classifier");
    }
    *out = c;
    return MK_OK;
}

void mk_classifier_free(struct mk_classifier *c, const struct mk_model *m)
{
    if (!c)
        return;
    m->ops->free(c->dfeat_dev);
    m->ops->free(c->pooled_dev);
    m->ops->free(c->len_dev);
    free(c->params);
    free(c->grads);
    free(c->pooled);
    free(c->dlogits);
    free(c->len);
    mk_labels_free(&c->labels);
    free(c);
}

void mk_classifier_init(struct mk_classifier *c, uint64_t seed)
{
    struct mk_rng r;
    mk_rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)c->C * c->D; i++)
        c->params[i] = (float)(0.02 * mk_rng_normal(&r));
    memset(c->params + (size_t)c->C * c->D, 0, (size_t)c->C * sizeof(float));
}

void mk_classifier_zero_grads(struct mk_classifier *c)
{
    memset(c->grads, 0, c->n_params * sizeof(float));
}

/* The backend's feature gradient [B, L, D], made by the first backward (classifying alone
 * never needs it) and grown when the batch is. */
static mk_status reserve_dfeat(struct mk_classifier *c, const struct mk_model *m, int B, int L)
{
    size_t need = (size_t)B * L * c->D;
    if (need <= c->cap)
        return MK_OK;
    m->ops->free(c->dfeat_dev);
    c->dfeat_dev = NULL;
    c->cap = 0;
    if (m->ops->alloc((void **)&c->dfeat_dev, need * sizeof(float)) != MK_OK)
        return mk_fail(MK_ERR_NOMEM, "out of memory for the classifier's feature gradient "
                       "(%d x %d x %d floats)", B, L, c->D);
    c->cap = need;
    return MK_OK;
}

/* Buffers for B rows of L tokens: per row, the pooled features, the logits' gradient and the
 * lengths (host and backend copies). */
static mk_status reserve(struct mk_classifier *c, const struct mk_model *m, int B, int L)
{
    const struct mk_ops *ops = m->ops;
    if (B > c->rows) {
        ops->free(c->pooled_dev);
        ops->free(c->len_dev);
        c->pooled_dev = NULL;
        c->len_dev = NULL;
        c->rows = 0;
        free(c->pooled);
        free(c->dlogits);
        free(c->len);
        c->pooled = malloc((size_t)B * c->D * sizeof(float));
        c->dlogits = malloc((size_t)B * c->C * sizeof(float));
        c->len = malloc((size_t)B * sizeof(int32_t));
        if (!c->pooled || !c->dlogits || !c->len ||
            ops->alloc((void **)&c->pooled_dev, (size_t)B * c->D * sizeof(float)) != MK_OK ||
            ops->alloc((void **)&c->len_dev, (size_t)B * sizeof(int32_t)) != MK_OK)
            return mk_fail(MK_ERR_NOMEM, "out of memory for the classifier's outputs");
        c->rows = B;
    }
    c->B = B;
    c->L = L;
    return MK_OK;
}

mk_status mk_classifier_forward(struct mk_classifier *c, struct mk_model *m,
                                const struct mk_batch *b, float *probs, double *loss,
                                int *correct, int *counted)
{
    const int B = b->B, L = b->L, D = c->D, C = c->C;
    const struct mk_ops *ops = m->ops;
    const float *dev_feat;
    mk_status st = reserve(c, m, B, L);
    for (int r = 0; st == MK_OK && r < B; r++)
        c->len[r] = b->lengths[r] < 1 ? 1 : b->lengths[r] > L ? L : b->lengths[r];
    if (st == MK_OK)
        st = mk_model_forward_features(m, b->ids, b->has_reset ? b->reset : NULL, B, L,
                                       &dev_feat);
    if (st == MK_OK)
        st = ops->upload(c->len_dev, c->len, (size_t)B * sizeof(int32_t));
    if (st == MK_OK) {
        ops->pool_fwd(c->pooled_dev, dev_feat, c->len_dev, B, L, D, c->pool == MK_POOL_LAST);
        st = ops->download(c->pooled, c->pooled_dev, (size_t)B * D * sizeof(float));
    }
    if (st == MK_OK)
        st = ops->sync();
    if (st != MK_OK)
        return st;
    const float *W = c->params, *bias = c->params + (size_t)C * D;
    double sum = 0;
    int n = 0, hits = 0;
    for (int r = 0; r < B; r++)
        n += b->labels[r] >= 0;
    for (int r = 0; r < B; r++) {
        const float *pooled = c->pooled + (size_t)r * D;
        /* logits, then a stable softmax (subtract the max) */
        float *dl = c->dlogits + (size_t)r * C;
        float mx = -INFINITY;
        for (int k = 0; k < C; k++) {
            double z = bias[k];
            for (int d = 0; d < D; d++)
                z += (double)W[(size_t)k * D + d] * pooled[d];
            dl[k] = (float)z;
            mx = dl[k] > mx ? dl[k] : mx;
        }
        int arg = 0; /* the first largest logit, taken before dl is overwritten */
        for (int k = 1; k < C; k++)
            arg = dl[k] > dl[arg] ? k : arg;
        double zsum = 0;
        for (int k = 0; k < C; k++) {
            dl[k] = expf(dl[k] - mx);
            zsum += dl[k];
        }
        for (int k = 0; k < C; k++) {
            dl[k] = (float)(dl[k] / zsum);
            if (probs)
                probs[(size_t)r * C + k] = dl[k];
        }
        int y = b->labels[r];
        if (y >= 0 && y < C) {
            sum += -log(dl[y] > 1e-30f ? dl[y] : 1e-30f);
            hits += arg == y;
            dl[y] -= 1.0f;
            for (int k = 0; k < C; k++)
                dl[k] /= (float)n;
        } else {
            memset(dl, 0, (size_t)C * sizeof(float)); /* no label: no gradient */
        }
    }
    if (loss)
        *loss = n ? sum / n : 0.0;
    if (correct)
        *correct = hits;
    if (counted)
        *counted = n;
    return MK_OK;
}

mk_status mk_classifier_backward(struct mk_classifier *c, struct mk_model *m, int freeze)
{
    const int B = c->B, L = c->L, D = c->D, C = c->C;
    const float *W = c->params;
    float *gW = c->grads, *gb = c->grads + (size_t)C * D;
    /* the host's pooled features are read, then replaced by d(loss)/d(pooled) = dlogits W */
    for (int r = 0; r < B; r++) {
        const float *dl = c->dlogits + (size_t)r * C;
        float *pooled = c->pooled + (size_t)r * D;
        for (int k = 0; k < C; k++) {
            gb[k] += dl[k];
            for (int d = 0; d < D; d++)
                gW[(size_t)k * D + d] += dl[k] * pooled[d];
        }
        for (int d = 0; d < D; d++) {
            float dp = 0;
            for (int k = 0; k < C; k++)
                dp += dl[k] * W[(size_t)k * D + d];
            pooled[d] = dp;
        }
    }
    if (freeze)
        return MK_OK;
    mk_status st = reserve_dfeat(c, m, B, L);
    if (st == MK_OK)
        st = m->ops->upload(c->pooled_dev, c->pooled, (size_t)B * D * sizeof(float));
    if (st != MK_OK)
        return st;
    m->ops->pool_bwd(c->dfeat_dev, c->pooled_dev, c->len_dev, B, L, D, c->pool == MK_POOL_LAST);
    return mk_model_backward_features(m, c->dfeat_dev);
}

mk_status mk_classifier_save(const struct mk_classifier *c, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/classifier.safetensors", dir);
    size_t len = 1;
    for (int i = 0; i < c->labels.n; i++)
        len += strlen(c->labels.names[i]) + 1;
    char *names = calloc(len, 1);
    if (!names)
        return mk_fail(MK_ERR_NOMEM, "out of memory saving the classifier");
    for (int i = 0; i < c->labels.n; i++) {
        strcat(names, c->labels.names[i]);
        if (i + 1 < c->labels.n)
            strcat(names, "\n");
    }
    const int64_t wshape[2] = {c->C, c->D}, bshape[1] = {c->C};
    struct mk_st_entry e[2] = {
        {"classifier.weight", MK_F32, 2, wshape, c->params},
        {"classifier.bias", MK_F32, 1, bshape, c->params + (size_t)c->C * c->D},
    };
    struct mk_st_meta meta[2] = {{"labels", names},
                                 {"pool", c->pool == MK_POOL_LAST ? "last" : "mean"}};
    mk_status st = mk_st_write(path, e, 2, meta, 2);
    free(names);
    return st;
}

static const char *meta_get(const struct mk_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[i].key, key))
            return f->meta[i].value;
    return NULL;
}

mk_status mk_classifier_load(struct mk_classifier **out, const struct mk_model *m,
                             const char *dir)
{
    *out = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/classifier.safetensors", dir);
    struct mk_st_file f;
    mk_status st = mk_st_open(&f, path);
    if (st != MK_OK)
        return st;
    const struct mk_st_tensor *w = mk_st_find(&f, "classifier.weight");
    const struct mk_st_tensor *b = mk_st_find(&f, "classifier.bias");
    const char *labels = meta_get(&f, "labels"), *pool = meta_get(&f, "pool");
    struct mk_classifier *c = NULL;
    if (!w || !b || !labels || w->ndim != 2 || w->shape[1] != m->cfg.d_model ||
        b->numel != (size_t)w->shape[0])
        st = mk_fail(MK_ERR_FORMAT, "%s: not a classifier for this model (needs "
                     "classifier.weight [C, %d], classifier.bias [C] and labels)", path,
                     m->cfg.d_model);
    if (st == MK_OK)
        st = mk_classifier_create(&c, m, (int)w->shape[0],
                                  pool && !strcmp(pool, "last") ? MK_POOL_LAST : MK_POOL_MEAN);
    if (st == MK_OK)
        st = mk_st_read_f32(&f, w, c->params);
    if (st == MK_OK)
        st = mk_st_read_f32(&f, b, c->params + (size_t)c->C * c->D);
    if (st == MK_OK && !(c->labels.names = calloc((size_t)c->C, sizeof(char *))))
        st = mk_fail(MK_ERR_NOMEM, "out of memory loading labels");
    for (const char *s = labels; st == MK_OK && c->labels.n < c->C; c->labels.n++) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        if (!(c->labels.names[c->labels.n] = strndup(s, n)))
            st = mk_fail(MK_ERR_NOMEM, "out of memory loading labels");
        s = nl ? nl + 1 : s + n;
    }
    mk_st_close(&f);
    if (st != MK_OK) {
        mk_classifier_free(c, m);
        return st;
    }
    *out = c;
    return MK_OK;
}
