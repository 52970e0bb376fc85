/* test_precision.c — mk_model_set_precision (issue 6): on the CPU, fp32 is accepted and bf16
 * fails with MK_ERR_UNSUPPORTED and a message that says it needs CUDA, leaving the model as it
 * was; unknown values are MK_ERR_INVALID. Where there is a CUDA device, also the mode itself on
 * a small model: bf16 logits within 5e-2 (relative to max |logit|) of fp32 ones but not
 * identical, no NaN, and back in fp32 the first logits again bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"
#include "ops.h"
#include "tap.h"

enum { B = 2, L = 37, V = 40 };

static struct mk_model *make(enum mk_device dev)
{
    struct mk_config cfg;
    struct mk_model *m = NULL;
    mk_config_default(&cfg, 64, 2, V);
    if (mk_model_create(&m, &cfg, dev, 0) != MK_OK || mk_model_init(m, 5) != MK_OK)
        bail_out("model: %s", mk_last_error());
    return m;
}

static float *logits(struct mk_model *m, const int32_t *ids)
{
    size_t n = (size_t)B * L * mk_model_config(m)->vocab_size;
    float *out = malloc(n * sizeof *out);
    if (mk_model_forward(m, ids, B, L, NULL, NULL, out, NULL) != MK_OK)
        bail_out("forward: %s", mk_last_error());
    return out;
}

/* max|a - b| / max|b|; NaN anywhere gives infinity */
static double rel(const float *a, const float *b, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        md = e == e && md < e ? e : e == e ? md : INFINITY;
        mr = fabs(b[i]) > mr ? fabs(b[i]) : mr;
    }
    return mr > 0 ? md / mr : md;
}

int main(void)
{
    int32_t ids[B * L];
    for (int i = 0; i < B * L; i++)
        ids[i] = (i * 7 + 3) % V;
    plan_lazy();

    struct mk_model *m = make(MK_DEVICE_CPU);
    size_t n = (size_t)B * L * mk_model_config(m)->vocab_size;
    float *before = logits(m, ids);
    ok(mk_model_set_precision(m, MK_PRECISION_FP32) == MK_OK, "cpu: fp32 accepted");
    mk_status st = mk_model_set_precision(m, MK_PRECISION_BF16);
    ok(st == MK_ERR_UNSUPPORTED, "cpu: bf16 fails with MK_ERR_UNSUPPORTED");
    if (!ok(strstr(mk_last_error(), "bf16 needs the CUDA backend") != NULL,
            "cpu: the message says bf16 needs CUDA"))
        diag("got: %s", mk_last_error());
    ok(mk_model_set_precision(m, (enum mk_precision)7) == MK_ERR_INVALID,
       "unknown precision: MK_ERR_INVALID");
    ok(mk_model_set_precision(NULL, MK_PRECISION_FP32) == MK_ERR_INVALID, "no model: MK_ERR_INVALID");
    float *after = logits(m, ids);
    ok(memcmp(before, after, n * sizeof *after) == 0, "cpu: the model is unchanged (bit for bit)");
    free(before), free(after);
    mk_model_free(m);

    if (mk_cuda_device_count() == 0) {
        diag("no CUDA device: bf16 mode itself not tested here (tests/test_cuda_ops does)");
        return exit_status();
    }
    m = make(MK_DEVICE_CUDA);
    float *f32 = logits(m, ids);
    ok(mk_model_set_precision(m, MK_PRECISION_BF16) == MK_OK, "cuda: bf16 accepted");
    float *b16 = logits(m, ids);
    double e = rel(b16, f32, n);
    diag("cuda: bf16 vs fp32 logits: max rel diff %.3g", e);
    ok(e <= 5e-2, "cuda: bf16 logits within 5e-2 of fp32 (bf16 products, 2 layers)");
    ok(e > 0, "cuda: bf16 mode is in effect (logits differ from fp32)");
    ok(mk_model_set_precision(m, MK_PRECISION_FP32) == MK_OK, "cuda: back to fp32");
    float *again = logits(m, ids);
    ok(memcmp(again, f32, n * sizeof *f32) == 0, "cuda: fp32 again gives the same logits");
    free(f32), free(b16), free(again);
    mk_model_free(m);
    return exit_status();
}
