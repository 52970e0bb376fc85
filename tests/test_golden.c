/* test_golden.c — parity with Hugging Face transformers (MambaForCausalLM, fp32) on the golden
 * references in $MK_GOLDEN/{tiny,odd} (tests/data/golden; `odd` made by make_golden.py):
 *   logits   max|ours - ref| / max|ref|            <= 1e-4
 *   loss     |ours - ref|                          <= 1e-5
 *   grads    per tensor max|ours - ref| / max|ref| <= 1e-3
 *   greedy generation identical token for token.
 * `tiny` is tied, no in/out_proj bias, d_conv 4; `odd` is untied, with biases, no conv bias,
 * d_conv 3, d_state 8, odd vocab and batch, so every config path is compared. Runs on the CPU
 * and, where there is a GPU, on CUDA (fp32) with the same tolerances.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"
#include "ops.h"
#include "safetensors.h"
#include "compare.h"
#include "tap.h"

struct golden {
    const char *name;
    int prompt_len; /* generate_ids starts with input_ids[0][:prompt_len] */
};

static float *read_f32(const struct mk_st_file *f, const char *name, size_t *numel)
{
    const struct mk_st_tensor *t = mk_st_find(f, name);
    if (!t)
        return NULL;
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (v && mk_st_read_f32(f, t, v) != MK_OK) {
        free(v);
        return NULL;
    }
    if (numel)
        *numel = n;
    return v;
}

static void check_grads(struct mk_model *m, const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    struct mk_st_file gf;
    if (!ok(mk_st_open(&gf, path) == MK_OK, "%s: grads.safetensors opens", name)) {
        diag("%s", mk_last_error());
        return;
    }
    const struct mk_param_layout *lay = mk_model_layout(m);
    float *grads = malloc(lay->total * sizeof *grads);
    mk_model_get_grads(m, grads);
    float worst = 0;
    const char *worst_name = "";
    int missing = 0;
    for (int i = 0; i < lay->n; i++) {
        const struct mk_tensor_spec *s = &lay->specs[i];
        size_t n = 0;
        float *ref = read_f32(&gf, s->name, &n);
        if (!ref || n != s->numel) {
            diag("%s: reference gradient %s missing or wrong size", name, s->name);
            missing++;
            free(ref);
            continue;
        }
        float e = max_rel_diff(grads + s->offset, ref, n);
        if (e > worst) {
            worst = e;
            worst_name = s->name;
        }
        free(ref);
    }
    diag("%s: worst gradient %s, max rel error %.2e", name, worst_name, worst);
    ok(missing == 0 && worst <= 1e-3f, "%s: every gradient within 1e-3 of transformers", name);
    free(grads);
    mk_st_close(&gf);
}

static void check_generation(struct mk_model *m, const struct mk_st_file *rf,
                             const struct golden *g)
{
    const struct mk_st_tensor *t = mk_st_find(rf, "generate_ids");
    size_t total = t ? (size_t)t->shape[1] : 0;
    int32_t *ref = malloc((total + 1) * sizeof *ref);
    if (!t || mk_st_read_i32(rf, t, ref) != MK_OK) {
        ok(0, "%s: generate_ids readable", g->name);
        free(ref);
        return;
    }
    const int max_new = (int)total - g->prompt_len;
    int32_t *out = malloc((size_t)max_new * sizeof *out);
    int n_out = 0;
    struct mk_sampler_opts so;
    mk_sampler_defaults(&so);
    so.temperature = 0;
    mk_status st = mk_generate(m, ref, g->prompt_len, max_new, &so, -1, NULL, NULL, out, &n_out);
    int same = st == MK_OK && n_out == max_new &&
               memcmp(out, ref + g->prompt_len, (size_t)max_new * sizeof *out) == 0;
    ok(same, "%s: greedy generation of %d tokens identical to transformers", g->name, max_new);
    if (!same)
        for (int i = 0; i < n_out; i++)
            if (out[i] != ref[g->prompt_len + i]) {
                diag("first difference at new token %d: %d, expected %d", i, out[i],
                     ref[g->prompt_len + i]);
                break;
            }
    free(out);
    free(ref);
}

static void run_golden(const char *root, const struct golden *g, enum mk_device dev)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/%s", root, g->name);
    diag("%s on %s", g->name, dev == MK_DEVICE_CUDA ? "cuda" : "cpu");
    struct mk_model *m = NULL;
    if (!ok(mk_ckpt_load(&m, dir, dev, 0) == MK_OK, "%s: checkpoint loads", g->name)) {
        diag("%s", mk_last_error());
        return;
    }
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    struct mk_st_file rf;
    if (mk_st_open(&rf, path) != MK_OK)
        bail_out("%s", mk_last_error());
    const struct mk_st_tensor *it = mk_st_find(&rf, "input_ids");
    const int B = (int)it->shape[0], L = (int)it->shape[1];
    const int V = mk_model_config(m)->vocab_size;
    int32_t *ids = malloc((size_t)B * L * sizeof *ids), *targets = malloc((size_t)B * L * sizeof *ids);
    mk_st_read_i32(&rf, it, ids);
    mk_next_token_targets(targets, ids, B, L);
    size_t n_logits = 0;
    float *ref_logits = read_f32(&rf, "logits", &n_logits);
    float *ref_loss = read_f32(&rf, "loss", NULL);
    float *logits = malloc((size_t)B * L * V * sizeof *logits);
    float loss = NAN;
    mk_status st = mk_model_zero_grads(m);
    if (st == MK_OK)
        st = mk_model_forward(m, ids, B, L, targets, &loss, logits, NULL);
    ok(st == MK_OK && n_logits == (size_t)B * L * V, "%s: forward on [%d, %d]", g->name, B, L);
    float e = max_rel_diff(logits, ref_logits, n_logits);
    diag("%s: logits max rel error %.2e, loss %.7f vs %.7f", g->name, e, loss, ref_loss[0]);
    ok(e <= 1e-4f, "%s: logits within 1e-4 of transformers", g->name);
    ok(fabsf(loss - ref_loss[0]) <= 1e-5f, "%s: loss within 1e-5 of transformers", g->name);
    st = mk_model_backward(m);
    ok(st == MK_OK, "%s: backward runs", g->name);
    check_grads(m, dir, g->name);
    check_generation(m, &rf, g);
    free(ids);
    free(targets);
    free(ref_logits);
    free(ref_loss);
    free(logits);
    mk_st_close(&rf);
    mk_model_free(m);
}

int main(void)
{
    const char *root = getenv("MK_GOLDEN");
    if (!root)
        root = "tests/data/golden";
    static const struct golden sets[] = {{"tiny", 8}, {"odd", 5}};
    const int n_dev = mk_cuda_device_count() > 0 ? 2 : 1;
    const int n_sets = (int)(sizeof sets / sizeof sets[0]);
    plan(n_dev * n_sets * 8);
    for (int d = 0; d < n_dev; d++)
        for (int i = 0; i < n_sets; i++)
            run_golden(root, &sets[i], d ? MK_DEVICE_CUDA : MK_DEVICE_CPU);
    return exit_status();
}
