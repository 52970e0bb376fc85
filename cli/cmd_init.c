/* cmd_init.c — `mambakit init`: a new checkpoint directory (config.json + model.safetensors)
 * initialised as mamba_ssm does (lib/init.c), from a config.json or from size options.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli_util.h"
#include "commands.h"

static const char usage_text[] =
    "Usage: mambakit init (--config config.json | --d-model D --n-layer N --vocab-size V)\n"
    "                     --out DIR [--seed S] [--dtype f32|bf16|f16]\n"
    "Write a freshly initialised model to DIR (config.json + model.safetensors, Hugging Face\n"
    "names, loadable by transformers' MambaForCausalLM). Initialisation follows mamba_ssm:\n"
    "log-uniform dt in [time_step_min, time_step_max] through an inverse-softplus dt_proj bias,\n"
    "A_log = log(1..N), D = 1, out_proj scaled by 1/sqrt(n_layer), embeddings N(0, 0.02).\n\n"
    "  -c, --config FILE      a Hugging Face (or mamba_ssm) config.json\n"
    "      --d-model D        width (with --n-layer and --vocab-size, instead of --config)\n"
    "      --n-layer N        number of Mamba blocks\n"
    "      --vocab-size V     embedding rows (padded up to a multiple of 8)\n"
    "  -o, --out DIR          output directory (created; files are replaced atomically)\n"
    "  -s, --seed S           random seed (default 0)\n"
    "      --dtype T          tensor storage: f32 (default), bf16 or f16\n"
    "  -h, --help             show this help\n";

int mk_cmd_init(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'}, {"d-model", required_argument, 0, 'D'},
        {"n-layer", required_argument, 0, 'L'}, {"vocab-size", required_argument, 0, 'V'},
        {"out", required_argument, 0, 'o'},    {"seed", required_argument, 0, 's'},
        {"dtype", required_argument, 0, 't'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *config = NULL, *out = NULL, *dtype_s = "f32";
    long d_model = 0, n_layer = 0, vocab = 0;
    uint64_t seed = 0;
    mk_status st = MK_OK;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'D': st = mk_cli_parse_long("--d-model", optarg, 1, 1 << 20, &d_model); break;
        case 'L': st = mk_cli_parse_long("--n-layer", optarg, 1, 1 << 12, &n_layer); break;
        case 'V': st = mk_cli_parse_long("--vocab-size", optarg, 1, 1 << 28, &vocab); break;
        case 'o': out = optarg; break;
        case 's': st = mk_cli_parse_u64("--seed", optarg, &seed); break;
        case 't': dtype_s = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return mk_cli_usage_error("init", "unknown or incomplete option");
        }
        if (st != MK_OK)
            return mk_cli_usage_error("init", "%s", mk_last_error());
    }
    if (optind < argc)
        return mk_cli_usage_error("init", "unexpected argument '%s'", argv[optind]);
    if (!out)
        return mk_cli_usage_error("init", "--out is required");
    if (!config == !(d_model || n_layer || vocab) || (!config && !(d_model && n_layer && vocab)))
        return mk_cli_usage_error("init", "give either --config, or all of --d-model, --n-layer "
                                  "and --vocab-size");
    enum mk_dtype dtype;
    if (!strcmp(dtype_s, "f32"))
        dtype = MK_F32;
    else if (!strcmp(dtype_s, "bf16"))
        dtype = MK_BF16;
    else if (!strcmp(dtype_s, "f16"))
        dtype = MK_F16;
    else
        return mk_cli_usage_error("init", "--dtype '%s': expected f32, bf16 or f16", dtype_s);

    struct mk_config cfg;
    if (config)
        st = mk_config_load(&cfg, config);
    else
        mk_config_default(&cfg, (int)d_model, (int)n_layer,
                          mk_config_padded_vocab((int)vocab, 8));
    struct mk_model *m = NULL;
    if (st == MK_OK)
        st = mk_model_create(&m, &cfg, MK_DEVICE_CPU, 0);
    if (st == MK_OK)
        st = mk_model_init(m, seed);
    if (st == MK_OK)
        st = mk_ckpt_save(m, out, dtype);
    if (st == MK_OK)
        fprintf(stderr, "mambakit init: wrote %s (%zu parameters, seed %llu)\n", out,
                mk_model_layout(m)->total, (unsigned long long)seed);
    mk_model_free(m);
    return st == MK_OK ? 0 : mk_cli_error("init", st);
}
