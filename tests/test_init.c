/* test_init.c — mk_model_init follows mamba_ssm's rules (MAMBA.md §2), checked on the values:
 * A_log = log(n+1) exactly, D = 1, norms = 1, softplus(dt bias) log-uniform in
 * [dt_min, dt_max] (mean of log dt at the midpoint), embeddings with std 0.02, uniform tensors
 * inside their bound and reaching close to it, biases 0; same seed → same model, another seed
 * → another model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"
#include "tap.h"

struct stats {
    double mean, std, absmax;
};

static struct stats stats_of(const float *x, size_t n)
{
    double s = 0, s2 = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        mx = fmax(mx, fabs(x[i]));
    }
    struct stats r = {s / n, sqrt(fmax(0, s2 / n - (s / n) * (s / n))), mx};
    return r;
}

static const float *tensor(const struct mk_model *m, const float *block, const char *name)
{
    const struct mk_tensor_spec *s = mk_param_find(mk_model_layout(m), name);
    if (!s)
        bail_out("no tensor %s", name);
    return block + s->offset;
}

int main(void)
{
    plan(11);
    struct mk_config cfg;
    mk_config_default(&cfg, 96, 4, 256);
    cfg.use_bias = 1;
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, MK_DEVICE_CPU, 0) != MK_OK || mk_model_init(m, 42) != MK_OK)
        bail_out("%s", mk_last_error());
    const size_t total = mk_model_layout(m)->total;
    float *p = malloc(total * sizeof *p), *q = malloc(total * sizeof *q);
    mk_model_get_params(m, p);
    const int E = cfg.d_inner, N = cfg.d_state, D = cfg.d_model;

    const float *A_log = tensor(m, p, "backbone.layers.1.mixer.A_log");
    int exact = 1;
    for (int e = 0; e < E; e++)
        for (int n = 0; n < N; n++)
            exact &= A_log[e * N + n] == (float)log(n + 1.0);
    ok(exact, "A_log[e, n] = log(n + 1)");

    const float *Dv = tensor(m, p, "backbone.layers.2.mixer.D");
    const float *nw = tensor(m, p, "backbone.layers.0.norm.weight");
    int ones = 1;
    for (int i = 0; i < E; i++)
        ones &= Dv[i] == 1.0f;
    for (int i = 0; i < D; i++)
        ones &= nw[i] == 1.0f;
    ok(ones, "D = 1 and norm weights = 1");

    /* softplus(bias) = dt, log-uniform in [1e-3, 0.1]: log dt uniform, mean (ln 1e-3 + ln 0.1)/2 */
    double lo = 1, hi = 0, mean_log = 0;
    int n_dt = 0;
    for (int l = 0; l < cfg.n_layer; l++) {
        char name[96];
        snprintf(name, sizeof name, "backbone.layers.%d.mixer.dt_proj.bias", l);
        const float *b = tensor(m, p, name);
        for (int e = 0; e < E; e++, n_dt++) {
            double dt = log1p(exp(b[e]));
            lo = fmin(lo, dt);
            hi = fmax(hi, dt);
            mean_log += log(dt);
        }
    }
    mean_log /= n_dt;
    diag("dt in [%.5f, %.5f], mean log dt %.3f (expected %.3f)", lo, hi, mean_log, 0.5 * (log(1e-3) + log(0.1)));
    ok(lo >= 1e-3 * 0.999 && hi <= 0.1 * 1.001 && lo < 1.5e-3 && hi > 0.09,
       "softplus(dt_proj.bias) spans [dt_min, dt_max]");
    /* std of log dt uniform over a range of width w: w / sqrt(12); the mean of n draws has
     * standard error w / sqrt(12 n): allow 4 of them */
    const double w = log(0.1) - log(1e-3);
    ok(fabs(mean_log - 0.5 * (log(1e-3) + log(0.1))) < 4 * w / sqrt(12.0 * n_dt),
       "dt is log-uniform (mean of log dt at the midpoint)");

    struct stats emb = stats_of(tensor(m, p, "backbone.embeddings.weight"), (size_t)cfg.vocab_size * D);
    diag("embedding mean %.4f std %.4f", emb.mean, emb.std);
    ok(fabs(emb.std - 0.02) < 0.001 && fabs(emb.mean) < 0.001, "embeddings ~ N(0, 0.02)");

    const double out_bound = 1.0 / sqrt((double)E) / sqrt((double)cfg.n_layer);
    struct stats outp = stats_of(tensor(m, p, "backbone.layers.3.mixer.out_proj.weight"), (size_t)D * E);
    ok(outp.absmax <= out_bound && outp.absmax > 0.99 * out_bound &&
           fabs(outp.std - out_bound / sqrt(3.0)) < 0.02 * out_bound,
       "out_proj ~ U(+-1/sqrt(E)) / sqrt(n_layer)");
    struct stats inp = stats_of(tensor(m, p, "backbone.layers.0.mixer.in_proj.weight"), (size_t)2 * E * D);
    ok(inp.absmax <= 1 / sqrt((double)D) && inp.absmax > 0.99 / sqrt((double)D), "in_proj ~ U(+-1/sqrt(D))");
    struct stats conv = stats_of(tensor(m, p, "backbone.layers.0.mixer.conv1d.weight"), (size_t)E * cfg.d_conv);
    ok(conv.absmax <= 0.5 && conv.absmax > 0.45, "conv1d weight ~ U(+-1/sqrt(K))");
    struct stats bias = stats_of(tensor(m, p, "backbone.layers.0.mixer.in_proj.bias"), (size_t)2 * E);
    ok(bias.absmax == 0, "linear biases are zero");

    mk_model_init(m, 42);
    mk_model_get_params(m, q);
    ok(memcmp(p, q, total * sizeof *p) == 0, "the same seed gives the same model");
    mk_model_init(m, 43);
    mk_model_get_params(m, q);
    ok(memcmp(p, q, total * sizeof *p) != 0, "another seed gives another model");
    free(p);
    free(q);
    mk_model_free(m);
    return exit_status();
}
