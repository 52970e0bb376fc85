/* test_dist_buckets.c — the bucket plan of the overlapped gradient sum (lib/dist_buckets.h),
 * without MPI.
 *
 * 1. Plans for several layouts (tied and untied head, with and without biases, 1 to 5 layers)
 *    and bucket sizes: every gradient float is in exactly one bucket (a count per float),
 *    the buckets come in backward order (from the end of the block down), every inner cut
 *    is the first offset of a layer, each bucket but the last holds >= target floats and
 *    would hold fewer without its lowest layer, and target 0 gives one bucket.
 * 2. The hook driven as the backward drives it (layers n-1 .. 0, then the end), on a world-1
 *    communicator: after layer l's call, a bucket is started exactly when every tensor it
 *    overlaps is final by the parameter table (a layer >= l, norm_f or the untied head), and
 *    after the end every bucket is.
 * 3. The real backward on the CPU (tied and untied): the model calls the hook once per layer,
 *    from the last down, and at layer l's call the gradients from layer l's first offset to
 *    the end already hold their final values (a copy taken in the hook equals the block after
 *    the backward, bit for bit), while the embedding's do not yet.
 */
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "../lib/dist_buckets.h"
#include "tap.h"

struct shape {
    int n_layer, tie, bias;
};

static struct mk_config config_of(struct shape s, int d_model)
{
    struct mk_config cfg;
    mk_config_default(&cfg, d_model, s.n_layer, 24);
    cfg.tie_embeddings = s.tie;
    cfg.use_bias = s.bias;
    return cfg;
}

/* The first offset of layer l in the table (independent of the plan's own search). */
static size_t layer_first(const struct mk_param_layout *lay, int l)
{
    for (int i = 0; i < lay->n; i++)
        if (lay->specs[i].layer == l)
            return lay->specs[i].offset;
    return (size_t)-1;
}

/* Whether the plan of `lay` with `target` floats per bucket has the properties of (1). */
static int plan_ok(const struct mk_param_layout *lay, int n_layer, size_t target, char *why,
                   size_t why_n)
{
    struct mk_bucket_plan p;
    if (mk_bucket_plan_make(&p, lay, n_layer, target) != MK_OK)
        bail_out("%s", mk_last_error());
    int good = p.n >= 1 && p.cut[0] == lay->total && p.cut[p.n] == 0;
    unsigned char *count = calloc(lay->total, 1);
    for (int k = 0; good && k < p.n; k++) {
        if (p.cut[k + 1] >= p.cut[k]) {
            snprintf(why, why_n, "bucket %d is empty or out of order", k);
            good = 0;
            break;
        }
        for (size_t i = p.cut[k + 1]; i < p.cut[k]; i++)
            count[i]++;
        if (k + 1 < p.n) { /* an inner cut: a layer start, the first one that fills the bucket */
            int l = -1;
            for (int j = 0; j < n_layer; j++)
                if (layer_first(lay, j) == p.cut[k + 1])
                    l = j;
            const size_t size = p.cut[k] - p.cut[k + 1];
            const size_t without = l + 1 < n_layer ? p.cut[k] - layer_first(lay, l + 1) : 0;
            if (l < 0 || size < target || (layer_first(lay, l + 1) < p.cut[k] && without >= target)) {
                snprintf(why, why_n, "cut %zu (bucket %d, %zu floats, target %zu) is not where "
                         "the bucket first fills", p.cut[k + 1], k, size, target);
                good = 0;
            }
        }
    }
    for (size_t i = 0; good && i < lay->total; i++)
        if (count[i] != 1) {
            snprintf(why, why_n, "float %zu is in %d buckets", i, count[i]);
            good = 0;
        }
    if (good && target == 0 && p.n != 1) {
        snprintf(why, why_n, "target 0 gave %d buckets", p.n);
        good = 0;
    }
    free(count);
    mk_bucket_plan_free(&p);
    return good;
}

/* Every tensor overlapping [lo, hi) is final after layer l's hook. */
static int final_after(const struct mk_param_layout *lay, size_t lo, size_t hi, int l)
{
    for (int i = 0; i < lay->n; i++) {
        const struct mk_tensor_spec *t = &lay->specs[i];
        const int overlaps = t->offset < hi && t->offset + t->numel > lo;
        const int final = t->layer >= l || t->kind == MK_P_NORM_F || t->kind == MK_P_LM_HEAD;
        if (overlaps && !final)
            return 0;
    }
    return 1;
}

/* (2): buckets are started exactly when final, in the hook order of the backward. */
static int hook_order_ok(struct mk_dist *d, const struct mk_param_layout *lay, int n_layer,
                         double mb, int *n_buckets)
{
    struct mk_grad_sync *s;
    if (mk_grad_sync_create(&s, d, lay, n_layer, mb) != MK_OK)
        bail_out("%s", mk_last_error());
    float *grads = calloc(lay->total, sizeof *grads);
    mk_grad_sync_arm(s, grads);
    int good = 1;
    *n_buckets = s->plan.n;
    for (int l = n_layer - 1; l >= 0; l--) {
        mk_grad_sync_layer_done(s, l);
        for (int k = 0; k < s->plan.n; k++) {
            const int final = final_after(lay, s->plan.cut[k + 1], s->plan.cut[k], l);
            if ((k < s->started) != final) {
                diag("after layer %d: bucket %d [%zu, %zu) final %d started %d", l, k,
                     s->plan.cut[k + 1], s->plan.cut[k], final, k < s->started);
                good = 0;
            }
        }
    }
    good = good && mk_grad_sync_finish(s) == MK_OK && s->started == s->plan.n && !s->grads;
    free(grads);
    mk_grad_sync_free(s);
    return good;
}

static void test_plans(struct mk_dist *d)
{
    const struct shape shapes[] = {{1, 1, 0}, {3, 1, 0}, {3, 0, 0}, {5, 0, 1}, {4, 1, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct mk_config cfg = config_of(shapes[i], 8);
        struct mk_param_layout lay;
        if (mk_param_layout_make(&lay, &cfg) != MK_OK)
            bail_out("%s", mk_last_error());
        const size_t targets[] = {0, 1, 100, 700, 1500, lay.total / 2, lay.total, 10 * lay.total};
        int good = 1;
        char why[200] = "";
        for (size_t j = 0; good && j < sizeof targets / sizeof targets[0]; j++)
            good = plan_ok(&lay, cfg.n_layer, targets[j], why, sizeof why);
        ok(good, "%d layers, %s head%s: each float in one bucket, backward order, cuts at the "
           "first layer start that fills a bucket %s", cfg.n_layer, cfg.tie_embeddings ? "tied" :
           "untied", cfg.use_bias ? ", biases" : "", why);
        int nb_small = 0, nb_big = 0, nb_zero = 0; /* layers of ~1300 floats */
        good = hook_order_ok(d, &lay, cfg.n_layer, 1e-4, &nb_small) &&
               hook_order_ok(d, &lay, cfg.n_layer, 6e-3, &nb_big) &&
               hook_order_ok(d, &lay, cfg.n_layer, 0, &nb_zero);
        ok(good && nb_small == cfg.n_layer + 1 &&
           nb_big < nb_small - (cfg.n_layer > 2) && nb_zero == 1, "%d layers, %s head: the hook "
           "starts each bucket once all its tensors are final (%d, %d and %d buckets)",
           cfg.n_layer, cfg.tie_embeddings ? "tied" : "untied", nb_small, nb_big, nb_zero);
        mk_param_layout_free(&lay);
    }
    ok(mk_bucket_floats(25) == 25u * 1048576 / 4 && mk_bucket_floats(0) == 0 &&
       mk_bucket_floats(1e-9) == 1, "run.dist.bucket_mb in floats: 25 MiB = 6553600, 0 = "
       "one bucket, a tiny size = 1 float");
}

/* What the recording hook of (3) sees. */
struct recorder {
    struct mk_model *m;
    int calls, order_ok;
    float **at;    /* [n_layer]: the gradient block copied at layer l's call */
};

static void record(void *ctx, int layer)
{
    struct recorder *r = ctx;
    const size_t n = r->m->lay.total;
    r->order_ok &= layer == r->m->cfg.n_layer - 1 - r->calls;
    r->calls++;
    if (layer >= 0 && layer < r->m->cfg.n_layer && !r->at[layer]) {
        r->at[layer] = malloc(n * sizeof(float));
        memcpy(r->at[layer], r->m->grads, n * sizeof(float));
    }
}

static void test_backward_hook(struct shape s)
{
    struct mk_config cfg = config_of(s, 16);
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, MK_DEVICE_CPU, 0) != MK_OK || mk_model_init(m, 3) != MK_OK)
        bail_out("%s", mk_last_error());
    enum { B = 2, L = 12 };
    int32_t ids[B * L], tg[B * L];
    for (int i = 0; i < B * L; i++)
        ids[i] = (int32_t)((i * 7 + 3) % cfg.vocab_size);
    mk_next_token_targets(tg, ids, B, L);
    struct recorder r = {m, 0, 1, calloc((size_t)cfg.n_layer, sizeof(float *))};
    float loss;
    /* a first micro-batch without the hook, so the block already holds gradients */
    if (mk_model_zero_grads(m) != MK_OK ||
        mk_model_forward_backward_packed(m, ids, NULL, B, L, tg, NULL, &loss) != MK_OK)
        bail_out("%s", mk_last_error());
    m->grad_ready = record;
    m->grad_ready_ctx = &r;
    for (int i = 0; i < B * L; i++)
        ids[i] = (int32_t)((i * 5 + 1) % cfg.vocab_size);
    mk_next_token_targets(tg, ids, B, L);
    mk_status st = mk_model_forward_backward_packed(m, ids, NULL, B, L, tg, NULL, &loss);
    m->grad_ready = NULL;
    if (st != MK_OK)
        bail_out("%s", mk_last_error());
    const size_t n = m->lay.total;
    int final = r.calls == cfg.n_layer && r.order_ok, embed_later = 1;
    for (int l = 0; final && l < cfg.n_layer; l++) {
        const size_t lo = layer_first(&m->lay, l);
        final = memcmp(r.at[l] + lo, m->grads + lo, (n - lo) * sizeof(float)) == 0;
    }
    /* the test can fail: the embedding's gradients change after the last call */
    if (final)
        embed_later = memcmp(r.at[0], m->grads, layer_first(&m->lay, 0) * sizeof(float)) != 0;
    ok(final && embed_later, "backward (%d layers, %s head): %d hook calls from the last layer "
       "down; at layer l's call the gradients from layer l to the end are final, the "
       "embedding's not yet", cfg.n_layer, s.tie ? "tied" : "untied", r.calls);
    for (int l = 0; l < cfg.n_layer; l++)
        free(r.at[l]);
    free(r.at);
    mk_model_free(m);
}

int main(void)
{
    plan(14);
    const char *env[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MAMBAKIT_WORLD_SIZE"};
    for (int i = 0; i < 3; i++)
        unsetenv(env[i]);
    struct mk_dist *d = NULL;
    if (mk_dist_open(&d, MK_DEVICE_CPU, 0) != MK_OK)
        bail_out("%s", mk_last_error());
    test_plans(d);
    test_backward_hook((struct shape){3, 1, 0});
    test_backward_hook((struct shape){2, 0, 1});
    struct mk_param_layout lay;
    struct mk_config cfg = config_of((struct shape){2, 1, 0}, 8);
    mk_param_layout_make(&lay, &cfg);
    struct mk_grad_sync *s = NULL;
    mk_status st = mk_grad_sync_create(&s, d, &lay, 2, 1e-4);
    mk_grad_sync_layer_done(s, 1); /* not armed: nothing starts */
    int idle = s->started == 0;
    st = st == MK_OK ? mk_grad_sync_finish(s) : st;
    ok(idle && st != MK_OK && strstr(mk_last_error(), "not armed"),
       "the hook does nothing unarmed, and finishing an unarmed sum is an error");
    mk_grad_sync_free(s);
    mk_param_layout_free(&lay);
    mk_dist_close(d);
    return exit_status();
}
