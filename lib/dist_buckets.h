/* dist_buckets.h — the gradient all-reduce of data-parallel training in buckets, started
 * during the backward pass as soon as each bucket's gradients are final (as PyTorch DDP's
 * bucket_cap_mb), so the sums overlap the backward of the earlier layers.
 *
 * The gradient block is laid out in forward order (lib/params.c):
 *     embedding | layer 0 | layer 1 | ... | layer n-1 | norm_f | lm_head (untied)
 * and the backward finishes it from the end: the untied head's gradient and norm_f's come
 * before the layers, layer l's after its mixer and norm (the model's grad_ready hook,
 * lib/backward.c), the embedding's (with the tied head's) last. So after layer l's hook
 * every float from layer l's first offset to the end of the block is final: the "ready
 * frontier" moves down the block, one layer at a time, and reaches 0 when the backward ends.
 *
 * The buckets are cut in that order, on layer boundaries: from the end of the block down, a
 * bucket closes at the first layer start where it holds >= target floats; what is left
 * below the last cut (the embedding and any layers short of a full bucket) is the last
 * bucket, summed after the backward. Bucket k is [cut[k+1], cut[k]), with
 *     cut[0] = total > cut[1] > ... > cut[n] = 0,
 * so the buckets cover every float exactly once, and bucket k is started when the frontier
 * reaches cut[k+1]. target 0: one bucket, the whole block summed after the backward.
 *
 *     mk_grad_sync_create(&s, dist, &m->lay, n_layer, bucket_mb);
 *     mk_grad_sync_arm(s, m->grads);        // before the step's last backward
 *     m->grad_ready = mk_grad_sync_layer_done; m->grad_ready_ctx = s;
 *     ... backward ...
 *     m->grad_ready = NULL;
 *     ops->sync(); mk_grad_sync_finish(s);  // the last bucket, then wait for all
 */
#ifndef MK_DIST_BUCKETS_H
#define MK_DIST_BUCKETS_H

#include <stddef.h>
#include "dist.h"
#include "mambakit.h"

struct mk_bucket_plan {
    int n;               /* buckets */
    size_t *cut;         /* [n + 1], descending from total to 0 (above) */
    int n_layer;
    size_t *layer_start; /* [n_layer]: layer l's first offset, the frontier after its hook */
};

/* The plan for a block laid out as `lay` with n_layer layers and buckets of >= target floats
 * (the last one excepted). A layout not in the order above gets one bucket (no overlap). */
mk_status mk_bucket_plan_make(struct mk_bucket_plan *p, const struct mk_param_layout *lay,
                              int n_layer, size_t target);
void mk_bucket_plan_free(struct mk_bucket_plan *p);

/* The floats of a bucket of `mb` MiB of fp32 gradients (0 for 0; at least 1 otherwise). */
size_t mk_bucket_floats(double mb);

/* A step's bucketed sum of one gradient block over the ranks of a communicator. */
struct mk_grad_sync {
    struct mk_bucket_plan plan;
    struct mk_dist *dist;
    float *grads;  /* the block being summed while armed, else NULL */
    int started;   /* buckets 0 .. started-1 are started */
    mk_status st;  /* the first failure of a sum started from the hook */
};

mk_status mk_grad_sync_create(struct mk_grad_sync **out, struct mk_dist *d,
                              const struct mk_param_layout *lay, int n_layer, double bucket_mb);
void mk_grad_sync_free(struct mk_grad_sync *s);
/* The next backward writes the final gradients of the step into grads (backend memory). */
void mk_grad_sync_arm(struct mk_grad_sync *s, float *grads);
/* The model's grad_ready hook (ctx: the mk_grad_sync): layer `layer`'s gradients are final;
 * starts every bucket now wholly final, then lets MPI progress. Does nothing unarmed. */
void mk_grad_sync_layer_done(void *ctx, int layer);
/* After the backward, with the backend synced: starts the buckets left, waits for every one,
 * disarms. A plan of one bucket is summed by the blocking mk_dist_sum instead (the sum of
 * before the buckets: nothing to overlap, and MPI's blocking all-reduce is the faster). */
mk_status mk_grad_sync_finish(struct mk_grad_sync *s);

#endif /* MK_DIST_BUCKETS_H */
