/* state.c — the recurrent state of a model for B sequences: per layer the conv window (the
 * last K-1 conv inputs, oldest first) and the SSM state h [E, N], in fp32, in backend memory.
 * Generation, long-sequence chunking and streaming all go through it: mk_model_forward with a
 * state continues where the previous call stopped, mk_model_step advances one token.
 */
#include <stdlib.h>
#include "model_internal.h"

static size_t conv_numel(const struct mk_state *s)
{
    return (size_t)s->n_layer * s->B * s->E * (s->K - 1);
}

static size_t ssm_numel(const struct mk_state *s)
{
    return (size_t)s->n_layer * s->B * s->E * s->N;
}

mk_status mk_state_create(struct mk_state **out, const struct mk_model *m, int B)
{
    *out = NULL;
    if (B <= 0)
        return mk_fail(MK_ERR_INVALID, "state batch %d must be positive", B);
    struct mk_state *s = calloc(1, sizeof *s);
    if (!s)
        return mk_fail(MK_ERR_NOMEM, "out of memory for the recurrent state");
    const struct mk_config *c = &m->cfg;
    *s = (struct mk_state){.ops = m->ops, .B = B, .n_layer = c->n_layer, .E = c->d_inner,
                           .N = c->d_state, .K = c->d_conv};
    mk_status st = s->ops->alloc((void **)&s->conv, (conv_numel(s) + 1) * sizeof(float));
    if (st == MK_OK)
        st = s->ops->alloc((void **)&s->ssm, ssm_numel(s) * sizeof(float));
    if (st != MK_OK) {
        mk_state_free(s);
        return mk_fail(st, "cannot allocate the recurrent state for %d sequences", B);
    }
    mk_state_reset(s);
    *out = s;
    return MK_OK;
}

void mk_state_free(struct mk_state *s)
{
    if (!s)
        return;
    if (s->conv)
        s->ops->free(s->conv);
    if (s->ssm)
        s->ops->free(s->ssm);
    if (s->graph && s->ops->graph_free)
        s->ops->graph_free(s->graph);
    free(s);
}

void mk_state_reset(struct mk_state *s)
{
    s->ops->zero(s->conv, conv_numel(s) * sizeof(float));
    s->ops->zero(s->ssm, ssm_numel(s) * sizeof(float));
}

void mk_state_reset_seq(struct mk_state *s, int b)
{
    const size_t conv_seq = (size_t)s->E * (s->K - 1), ssm_seq = (size_t)s->E * s->N;
    for (int l = 0; l < s->n_layer; l++) {
        s->ops->zero(s->conv + ((size_t)l * s->B + b) * conv_seq, conv_seq * sizeof(float));
        s->ops->zero(s->ssm + ((size_t)l * s->B + b) * ssm_seq, ssm_seq * sizeof(float));
    }
}

int mk_state_batch(const struct mk_state *s)
{
    return s->B;
}

size_t mk_state_numel(const struct mk_state *s)
{
    return conv_numel(s) + ssm_numel(s);
}

mk_status mk_state_get(const struct mk_state *s, float *dst)
{
    mk_status st = s->ops->download(dst, s->conv, conv_numel(s) * sizeof(float));
    return st != MK_OK ? st : s->ops->download(dst + conv_numel(s), s->ssm, ssm_numel(s) * sizeof(float));
}

mk_status mk_state_set(struct mk_state *s, const float *src)
{
    mk_status st = s->ops->upload(s->conv, src, conv_numel(s) * sizeof(float));
    return st != MK_OK ? st : s->ops->upload(s->ssm, src + conv_numel(s), ssm_numel(s) * sizeof(float));
}
