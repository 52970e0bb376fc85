/* cmd_forward.c — `mambakit forward`: logits, mean next-token loss and (optionally) the
 * gradient of every parameter for token ids read from a safetensors file.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli_util.h"
#include "commands.h"
#include "safetensors.h"

static const char usage_text[] =
    "Usage: mambakit forward --model DIR --tokens IN.safetensors --out OUT.safetensors\n"
    "                        [--grads GRADS.safetensors] [--device DEV]\n"
    "Run a checkpoint on token ids and write what it computes.\n\n"
    "  -m, --model DIR        checkpoint directory (config.json + model.safetensors)\n"
    "  -t, --tokens FILE      safetensors file with `input_ids`, int32 or int64, [B, L] (or [L])\n"
    "  -o, --out FILE         written atomically: `logits` fp32 [B, L, V] and `loss` fp32 scalar,\n"
    "                         the mean cross-entropy of ids[:, :-1] predicting ids[:, 1:]\n"
    "  -g, --grads FILE       also write d(loss)/d(param), fp32, under the parameter names\n"
    "      --device DEV       auto, cpu, cuda or cuda:N (default auto)\n"
    "  -h, --help             show this help\n\n"
    "The loss is also printed on stdout as `loss <value>`.\n";

/* input_ids [B, L] from a safetensors file, as int32. */
static mk_status read_ids(const char *path, int32_t **ids, int *B, int *L)
{
    struct mk_st_file f;
    mk_status st = mk_st_open(&f, path);
    if (st != MK_OK)
        return st;
    const struct mk_st_tensor *t = mk_st_find(&f, "input_ids");
    if (!t)
        st = mk_fail(MK_ERR_FORMAT, "%s: no tensor `input_ids`", path);
    else if (t->ndim < 1 || t->ndim > 2 || t->numel == 0)
        st = mk_fail(MK_ERR_FORMAT, "%s: `input_ids` must be [B, L] (or [L]) and non-empty, "
                     "found %d dimensions", path, t->ndim);
    else if (!(*ids = malloc(t->numel * sizeof **ids)))
        st = mk_fail(MK_ERR_NOMEM, "out of memory reading %s", path);
    else if ((st = mk_st_read_i32(&f, t, *ids)) == MK_OK) {
        *B = t->ndim == 2 ? (int)t->shape[0] : 1;
        *L = (int)t->shape[t->ndim - 1];
    }
    mk_st_close(&f);
    return st;
}

static mk_status write_outputs(const char *path, const float *logits, float loss, int B, int L, int V)
{
    const int64_t shape[3] = {B, L, V};
    struct mk_st_entry e[2] = {
        {"logits", MK_F32, 3, shape, logits},
        {"loss", MK_F32, 0, NULL, &loss},
    };
    mk_st_sort_canonical(e, 2);
    return mk_st_write(path, e, 2, NULL, -1);
}

static mk_status write_grads(const char *path, const struct mk_model *m)
{
    const struct mk_param_layout *lay = mk_model_layout(m);
    float *g = malloc(lay->total * sizeof *g);
    struct mk_st_entry *e = calloc((size_t)lay->n, sizeof *e);
    mk_status st = g && e ? mk_model_get_grads(m, g) : mk_fail(MK_ERR_NOMEM, "out of memory");
    for (int i = 0; st == MK_OK && i < lay->n; i++) {
        const struct mk_tensor_spec *s = &lay->specs[i];
        e[i] = (struct mk_st_entry){s->name, MK_F32, s->ndim, s->shape, g + s->offset};
    }
    if (st == MK_OK) {
        mk_st_sort_canonical(e, lay->n);
        st = mk_st_write(path, e, lay->n, NULL, -1);
    }
    free(g);
    free(e);
    return st;
}

int mk_cmd_forward(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"tokens", required_argument, 0, 't'},
        {"out", required_argument, 0, 'o'},   {"grads", required_argument, 0, 'g'},
        {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *model_dir = NULL, *tokens = NULL, *out = NULL, *grads = NULL, *device = "auto";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:o:g:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 't': tokens = optarg; break;
        case 'o': out = optarg; break;
        case 'g': grads = optarg; break;
        case 'd': device = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return mk_cli_usage_error("forward", "unknown or incomplete option");
        }
    }
    if (optind < argc)
        return mk_cli_usage_error("forward", "unexpected argument '%s'", argv[optind]);
    if (!model_dir || !tokens || !out)
        return mk_cli_usage_error("forward", "--model, --tokens and --out are required");

    int32_t *ids = NULL, *targets = NULL;
    float *logits = NULL, loss = 0;
    int B = 0, L = 0, idx;
    enum mk_device dev;
    struct mk_model *m = NULL;
    mk_status st = read_ids(tokens, &ids, &B, &L);
    if (st == MK_OK)
        st = mk_cli_parse_device(device, &dev, &idx);
    if (st == MK_OK)
        st = mk_ckpt_load(&m, model_dir, dev, idx);
    if (st == MK_OK) {
        const int V = mk_model_config(m)->vocab_size;
        targets = malloc((size_t)B * L * sizeof *targets);
        logits = malloc((size_t)B * L * V * sizeof *logits);
        if (!targets || !logits)
            st = mk_fail(MK_ERR_NOMEM, "out of memory for logits [%d, %d, %d]", B, L, V);
        if (st == MK_OK) {
            mk_next_token_targets(targets, ids, B, L);
            st = mk_model_forward(m, ids, B, L, targets, &loss, logits, NULL);
        }
        if (st == MK_OK && grads) {
            st = mk_model_zero_grads(m);
            if (st == MK_OK)
                st = mk_model_backward(m);
            if (st == MK_OK)
                st = write_grads(grads, m);
        }
        if (st == MK_OK)
            st = write_outputs(out, logits, loss, B, L, V);
        if (st == MK_OK)
            printf("loss %.7f\n", loss);
    }
    free(ids);
    free(targets);
    free(logits);
    mk_model_free(m);
    return st == MK_OK ? 0 : mk_cli_error("forward", st);
}
