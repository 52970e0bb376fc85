/* classifier.h — a classification head on a Mamba backbone: the final-norm features pooled
 * over each sequence (mean of its real tokens, or its last real token), then a linear layer
 * to C classes and a softmax cross-entropy.
 *
 *   pooled[b]  = mean_{t < len_b} h[b, t]    or    h[b, len_b - 1]        h = features [B, L, D]
 *   logits[b]  = W pooled[b] + bias                                        W [C, D], bias [C]
 *   loss       = mean_b -log softmax(logits[b])[label_b]
 *
 *     struct mk_classifier *c;
 *     mk_classifier_create(&c, model, n_classes, MK_POOL_MEAN);  mk_classifier_init(c, seed);
 *     mk_classifier_forward(c, model, &batch, probs, &loss, &correct, train);
 *     mk_classifier_backward(c, model, freeze_backbone);   // accumulates gW, gb (and the model's)
 *
 * The head is small, so it lives in host memory whatever the backbone's device is; the
 * pooling and its backward run on the backbone's backend (the op table's pool_fwd / pool_bwd),
 * so only the pooled features [B, D] come down and their gradient goes up once per
 * micro-batch. Parameters and gradients are each one block ([W | bias]) so the optimizer
 * treats them like the model's.
 */
#ifndef MK_CLASSIFIER_H
#define MK_CLASSIFIER_H

#include "data.h"
#include "mambakit.h"

struct mk_classifier {
    int C, D, pool;        /* classes, feature width, enum mk_pool_kind */
    float *params;         /* [C*D + C]: W then bias (host) */
    float *grads;          /* [C*D + C] accumulated */
    size_t n_params;
    struct mk_labels labels; /* class names, index = class id */
    /* the last forward, for backward */
    int B, L;
    float *pooled;         /* [B, D] host copy of the pooled features */
    float *dlogits;        /* [B, C] d(loss)/d(logits) */
    int32_t *len;          /* [B] real tokens of each row (1..L) */
    float *dfeat_dev;      /* backend [B, L, D], for mk_model_backward_features (made by the
                            * first backward) */
    size_t cap;            /* floats allocated for dfeat_dev */
    float *pooled_dev;     /* backend [B, D]: the pooled features, then their gradient */
    int32_t *len_dev;      /* backend [B] */
    int rows;              /* rows allocated for pooled / dlogits / len and their backend copies */
};

mk_status mk_classifier_create(struct mk_classifier **out, const struct mk_model *m, int C,
                               int pool);
void mk_classifier_free(struct mk_classifier *c, const struct mk_model *m);
/* W ~ N(0, 0.02^2), bias = 0 (the embedding init of mamba_ssm). */
void mk_classifier_init(struct mk_classifier *c, uint64_t seed);
void mk_classifier_zero_grads(struct mk_classifier *c);
/* Runs the backbone and the head on the batch. probs [B, C] (may be NULL) receives the
 * softmax; with labels known (batch->labels >= 0) *loss is their mean cross-entropy and
 * *correct counts argmax hits. `train` keeps what backward needs (the gradient of the mean
 * loss over the rows with a label). */
mk_status mk_classifier_forward(struct mk_classifier *c, struct mk_model *m,
                                const struct mk_batch *b, float *probs, double *loss,
                                int *correct, int *counted);
/* Accumulates the head's gradients and, unless frozen, the backbone's. */
mk_status mk_classifier_backward(struct mk_classifier *c, struct mk_model *m, int freeze);

/* classifier.safetensors in a checkpoint directory: classifier.weight [C, D],
 * classifier.bias [C]; metadata "labels" (names joined by newlines) and "pool". */
mk_status mk_classifier_save(const struct mk_classifier *c, const char *dir);
mk_status mk_classifier_load(struct mk_classifier **out, const struct mk_model *m,
                             const char *dir);

#endif /* MK_CLASSIFIER_H */
