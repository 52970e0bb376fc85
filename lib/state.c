/* state.c — the recurrent state of a model for B sequences: per layer the conv window (the
 * last K-1 conv inputs, oldest first) and the SSM state h [E, N], in fp32, in backend memory.
 * Generation, long-sequence chunking and streaming all go through it: mk_model_forward with a
 * state continues where the previous call stopped, mk_model_step advances one token.
 *
 * On the CPU at batch 1, mk_model_step runs the fast step at the end of this file.
 */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "model_internal.h"

static void cpu_ws_free(struct mk_cpu_ws *w);

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
    cpu_ws_free(s->cpu_ws);
    free(s->greedy_logits);
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

/* ---- the CPU's fast step ------------------------------------------------------------------
 *
 * One token of one sequence through every layer in one OpenMP parallel region. Thread t of nt
 * owns a block of channels [e0, e1) (multiples of 32, so 8-bit blocks never straddle two
 * threads) and a block of the rows of x_proj, out_proj and the head; per layer:
 *   1. x, z = rows e0..e1 and E+e0..E+e1 of in_proj . normed;  u = SiLU(conv step of x)
 *   -- barrier --
 *   2. its rows of xdbl = x_proj . u  (dt_raw | B | C)
 *   -- barrier --
 *   3. delta = dt_proj[e0:e1] . dt_raw; the scan step with D skip and the SiLU(z) gate -> y
 *   -- barrier --
 *   4. its rows of mix = out_proj . y (+ bias)
 *   -- barrier --
 *   5. every thread adds mix into its own copy of the residual stream and normalises it for
 *      the next layer (D floats: cheaper than another barrier)
 * then its rows of the head straight into the caller's logits. Every weight matrix is read
 * once, each thread a block of whole rows, in order: one sequential stream per thread (a
 * split by columns, which would save two barriers, read the weights at a quarter of the
 * bandwidth). The barriers spin briefly and then yield (kernels/step_cpu.c): OpenMP's own
 * barrier sleeps in the kernel under OMP_WAIT_POLICY=passive, which the command-line program
 * sets. Every sum has a fixed order, whatever the thread count. Nothing is allocated per
 * token: the scratch lives in the state, made by its first step (again only if the thread
 * count grows).
 */

#define WS_ALIGN 16 /* floats: 64 bytes */

struct mk_cpu_ws {
    int nt;                       /* threads the scratch is sized for */
    float *block;
    float *xz, *u, *delta, *y;    /* [2E], [E], [E], [E]: each thread writes its channels */
    float *xdbl, *mix;            /* [X], [D]: each thread writes its rows */
    float *priv;                  /* per thread: resid, normed [Ds] each */
    size_t Ds;
    struct mk_wmat *mat;          /* [4 n_layer + 1]: the fp32 weights (see struct mk_cpu_lowp) */
    struct mk_cpu_barrier bar;
};

static size_t round_up(size_t n)
{
    return (n + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
}

static void cpu_ws_free(struct mk_cpu_ws *w)
{
    if (!w)
        return;
    free(w->block);
    free(w->mat);
    free(w);
}

static mk_status cpu_ws_make(struct mk_state *s, const struct mk_config *c, int nt)
{
    if (s->cpu_ws && s->cpu_ws->nt >= nt)
        return MK_OK;
    cpu_ws_free(s->cpu_ws);
    s->cpu_ws = NULL;
    struct mk_cpu_ws *w = calloc(1, sizeof *w);
    const size_t E = round_up((size_t)c->d_inner);
    const size_t X = round_up((size_t)c->dt_rank + 2 * (size_t)c->d_state);
    const int n_mat = 4 * c->n_layer + 1;
    if (!w || !(w->mat = calloc((size_t)n_mat, sizeof *w->mat))) {
        free(w);
        return mk_fail(MK_ERR_NOMEM, "out of memory for the decoding scratch");
    }
    w->nt = nt;
    w->Ds = round_up((size_t)c->d_model);
    const size_t floats = 5 * E + X + w->Ds + (size_t)nt * 2 * w->Ds;
    if (posix_memalign((void **)&w->block, 64, floats * sizeof(float)) != 0) {
        free(w->mat);
        free(w);
        return mk_fail(MK_ERR_NOMEM, "out of memory for the decoding scratch");
    }
    memset(w->block, 0, floats * sizeof(float));
    w->xz = w->block;
    w->u = w->xz + 2 * E;
    w->delta = w->u + E;
    w->y = w->delta + E;
    w->xdbl = w->y + E;
    w->mix = w->xdbl + X;
    w->priv = w->mix + w->Ds;
    s->cpu_ws = w;
    return MK_OK;
}

/* The fp32 weight matrices of the model, in the order of struct mk_cpu_lowp. */
static void f32_mats(struct mk_wmat *mat, const struct mk_model *m)
{
    const struct mk_config *c = &m->cfg;
    const int D = c->d_model, E = c->d_inner, R = c->dt_rank, X = R + 2 * c->d_state;
    for (int l = 0; l < c->n_layer; l++) {
        const struct mk_layer_params *lp = &m->p.layer[l];
        mat[4 * l] = (struct mk_wmat){lp->in_proj_w, NULL, MK_WFMT_F32, 2 * E, D, (size_t)D};
        mat[4 * l + 1] = (struct mk_wmat){lp->x_proj_w, NULL, MK_WFMT_F32, X, E, (size_t)E};
        mat[4 * l + 2] = (struct mk_wmat){lp->dt_proj_w, NULL, MK_WFMT_F32, E, R, (size_t)R};
        mat[4 * l + 3] = (struct mk_wmat){lp->out_proj_w, NULL, MK_WFMT_F32, D, E, (size_t)E};
    }
    mat[4 * c->n_layer] = (struct mk_wmat){m->p.head, NULL, MK_WFMT_F32, c->vocab_size, D,
                                           (size_t)D};
}

struct step_job {
    const struct mk_model *m;
    struct mk_state *s;
    struct mk_cpu_ws *w;
    const struct mk_wmat *mat;
    int32_t id;
    float *logits;
    int simd;
};

/* [lo, hi) of n items split into nt parts, part t, cut at multiples of `unit` */
static void split(int n, int unit, int t, int nt, int *lo, int *hi)
{
    const int units = (n + unit - 1) / unit;
    const int u0 = (int)((long long)units * t / nt), u1 = (int)((long long)units * (t + 1) / nt);
    *lo = u0 * unit < n ? u0 * unit : n;
    *hi = u1 * unit < n ? u1 * unit : n;
}

static void step_thread(const struct step_job *j, int t, int nt)
{
    const struct mk_model *m = j->m;
    const struct mk_config *c = &m->cfg;
    struct mk_cpu_ws *w = j->w;
    const int D = c->d_model, E = c->d_inner, N = c->d_state, K = c->d_conv, R = c->dt_rank;
    const int X = R + 2 * N, simd = j->simd;
    float *resid = w->priv + (size_t)t * 2 * w->Ds, *normed = resid + w->Ds;
    float *x = w->xz, *z = w->xz + E;
    int e0, e1, x0, x1, d0, d1;
    split(E, 32, t, nt, &e0, &e1);
    split(X, 1, t, nt, &x0, &x1);
    split(D, 8, t, nt, &d0, &d1);
    const int ne = e1 - e0;

    memcpy(resid, m->p.wte + (size_t)j->id * D, (size_t)D * sizeof *resid);
    mk_cpu_add_rmsnorm(resid, normed, NULL, m->p.layer[0].norm_w, D, c->norm_eps);
    for (int l = 0; l < c->n_layer; l++) {
        const struct mk_layer_params *lp = &m->p.layer[l];
        const struct mk_wmat *W = j->mat + 4 * l;
        float *conv = j->s->conv + (size_t)l * E * (K - 1), *ssm = j->s->ssm + (size_t)l * E * N;
        if (ne > 0) {
            mk_cpu_gemv(x + e0, &W[0], e0, ne, 0, D, normed, simd);
            mk_cpu_gemv(z + e0, &W[0], E + e0, ne, 0, D, normed, simd);
            if (lp->in_proj_b)
                for (int e = e0; e < e1; e++) {
                    x[e] += lp->in_proj_b[e];
                    z[e] += lp->in_proj_b[E + e];
                }
            mk_cpu_conv_step(w->u + e0, conv + (size_t)e0 * (K - 1), x + e0,
                             lp->conv_w + (size_t)e0 * K, lp->conv_b ? lp->conv_b + e0 : NULL,
                             ne, K);
        }
        mk_cpu_barrier_wait(&w->bar, nt);
        mk_cpu_gemv(w->xdbl + x0, &W[1], x0, x1 - x0, 0, E, w->u, simd);
        mk_cpu_barrier_wait(&w->bar, nt);
        if (ne > 0) {
            mk_cpu_gemv(w->delta + e0, &W[2], e0, ne, 0, R, w->xdbl, simd);
            const float *A = m->lowp ? m->lowp->A + ((size_t)l * E + e0) * N : NULL;
            mk_cpu_scan_step(w->y + e0, ssm + (size_t)e0 * N, w->u + e0, w->delta + e0,
                             lp->dt_proj_b + e0, lp->A_log + (size_t)e0 * N, A, w->xdbl + R,
                             w->xdbl + R + N, lp->Dskip + e0, z + e0, ne, N);
        }
        mk_cpu_barrier_wait(&w->bar, nt);
        mk_cpu_gemv(w->mix + d0, &W[3], d0, d1 - d0, 0, E, w->y, simd);
        if (lp->out_proj_b)
            for (int d = d0; d < d1; d++)
                w->mix[d] += lp->out_proj_b[d];
        mk_cpu_barrier_wait(&w->bar, nt);
        const float *nw = l + 1 < c->n_layer ? m->p.layer[l + 1].norm_w : m->p.norm_f;
        mk_cpu_add_rmsnorm(resid, normed, w->mix, nw, D, c->norm_eps);
    }
    if (j->logits) {
        int v0, v1;
        split(c->vocab_size, 8, t, nt, &v0, &v1);
        mk_cpu_gemv(j->logits + v0, &j->mat[4 * c->n_layer], v0, v1 - v0, 0, D, normed, simd);
    }
}

int mk_cpu_step_wanted(const struct mk_model *m, const struct mk_state *s)
{
    if (m->device != MK_DEVICE_CPU || s->B != 1)
        return 0;
    const char *no = getenv("MK_NO_FAST_STEP");
    return !(no && *no && strcmp(no, "0") != 0);
}

mk_status mk_cpu_step(struct mk_model *m, struct mk_state *s, const int32_t *ids, float *logits)
{
    const struct mk_config *c = &m->cfg;
    if (ids[0] < 0 || ids[0] >= c->vocab_size)
        return mk_fail(MK_ERR_INVALID, "token id %d at [0, 0] is outside the vocabulary [0, %d)",
                       ids[0], c->vocab_size);
    if (s->n_layer != c->n_layer || s->E != c->d_inner || s->N != c->d_state ||
        s->K != c->d_conv || s->ops != m->ops)
        return mk_fail(MK_ERR_INVALID, "the recurrent state was made for another model or batch "
                       "(state batch %d, input batch %d)", s->B, 1);
    m->fwd_ready = 0; /* as any forward without targets */
    mk_status st = mk_cpu_lowp_refresh(m);
    int nt = 1;
#ifdef _OPENMP
    nt = omp_in_parallel() ? 1 : omp_get_max_threads();
#endif
    /* every thread gets at least one block of 32 channels */
    const int blocks = (c->d_inner + 31) / 32;
    nt = nt < blocks ? nt : blocks;
    if (st == MK_OK)
        st = cpu_ws_make(s, c, nt);
    if (st != MK_OK)
        return st;
    struct mk_cpu_ws *w = s->cpu_ws;
    if (!m->lowp)
        f32_mats(w->mat, m);
    struct step_job j = {m, s, w, m->lowp ? m->lowp->mat : w->mat, ids[0], logits, mk_cpu_simd()};
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#ifdef _OPENMP
        step_thread(&j, omp_get_thread_num(), omp_get_num_threads());
#else
        step_thread(&j, 0, 1);
#endif
    }
    return MK_OK;
}
