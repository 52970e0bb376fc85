/* cmd_generate.c — `mambakit generate`: sample token ids from a checkpoint, streaming them to
 * stdout as they are made (text, DNA and audio output come with the modality plugins and the
 * generate task of recipes).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_util.h"
#include "commands.h"

static const char usage_text[] =
    "Usage: mambakit generate --model DIR --prompt-ids IDS [OPTIONS]\n"
    "Generate token ids after a prompt with a Mamba checkpoint (config.json + model.safetensors).\n"
    "The prompt and then each new id are printed comma-separated on one line as they are made.\n\n"
    "  -m, --model DIR            checkpoint directory (required)\n"
    "  -p, --prompt-ids IDS       comma-separated prompt token ids, e.g. 17,226,47 (required)\n"
    "  -n, --max-new N            tokens to generate (default 64)\n"
    "      --greedy               always take the most likely token (the default)\n"
    "  -t, --temperature T        sample at temperature T > 0 (0 = greedy)\n"
    "  -k, --top-k K              keep the K most likely tokens (0 = all)\n"
    "      --top-p P              nucleus sampling: keep tokens up to probability P (1 = all)\n"
    "      --min-p P              drop tokens below P times the top probability (0 = off)\n"
    "      --repetition-penalty R penalise tokens already seen (1 = off; HF/CTRL rule)\n"
    "  -s, --seed S               random seed for sampling (default 0)\n"
    "      --ignore-eos           keep going after the config's eos_token_id\n"
    "      --device DEV           auto, cpu, cuda or cuda:N (default auto)\n"
    "      --precision P          fp32 (default); on the CPU f16 or q8: decode from f16 or 8-bit\n"
    "                             (Q8_0) copies of the weight matrices; on CUDA bf16 GEMMs\n"
    "                             (as a recipe's run.precision)\n"
    "  -h, --help                 show this help\n\n"
    "Example:\n"
    "  mambakit generate --model tests/data/golden/tiny --prompt-ids 17,226,47 --max-new 25\n";

static int print_token(int32_t token, void *user)
{
    (void)user;
    printf(",%d", token);
    fflush(stdout);
    return 0;
}

int mk_cmd_generate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},  {"prompt-ids", required_argument, 0, 'p'},
        {"max-new", required_argument, 0, 'n'}, {"greedy", no_argument, 0, 'g'},
        {"temperature", required_argument, 0, 't'}, {"top-k", required_argument, 0, 'k'},
        {"top-p", required_argument, 0, 'P'},  {"min-p", required_argument, 0, 'M'},
        {"repetition-penalty", required_argument, 0, 'r'}, {"seed", required_argument, 0, 's'},
        {"ignore-eos", no_argument, 0, 'E'},  {"device", required_argument, 0, 'd'},
        {"precision", required_argument, 0, 'R'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *model_dir = NULL, *prompt_s = NULL, *device = "auto";
    long max_new = 64, top_k = 0;
    int ignore_eos = 0;
    enum mk_precision precision = MK_PRECISION_FP32;
    struct mk_sampler_opts so;
    mk_sampler_defaults(&so);
    so.temperature = 0.0f;
    mk_status st = MK_OK;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:n:t:k:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'p': prompt_s = optarg; break;
        case 'n': st = mk_cli_parse_long("--max-new", optarg, 0, 1 << 30, &max_new); break;
        case 'g': so.temperature = 0.0f; break;
        case 't': st = mk_cli_parse_float("--temperature", optarg, 0, 1e6, &so.temperature); break;
        case 'k': st = mk_cli_parse_long("--top-k", optarg, 0, 1 << 30, &top_k); break;
        case 'P': st = mk_cli_parse_float("--top-p", optarg, 1e-9, 1, &so.top_p); break;
        case 'M': st = mk_cli_parse_float("--min-p", optarg, 0, 1, &so.min_p); break;
        case 'r': st = mk_cli_parse_float("--repetition-penalty", optarg, 1e-6, 1e6, &so.repetition_penalty); break;
        case 's': st = mk_cli_parse_u64("--seed", optarg, &so.seed); break;
        case 'E': ignore_eos = 1; break;
        case 'd': device = optarg; break;
        case 'R':
            if (mk_precision_parse(optarg, &precision) != MK_OK) /* "--precision: 'x' is not ..." */
                return mk_cli_usage_error("generate", "--%s", mk_last_error());
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return mk_cli_usage_error("generate", "unknown or incomplete option");
        }
        if (st != MK_OK)
            return mk_cli_usage_error("generate", "%s", mk_last_error());
    }
    so.top_k = (int)top_k;
    if (optind < argc)
        return mk_cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
    if (!model_dir || !prompt_s)
        return mk_cli_usage_error("generate", "--model and --prompt-ids are required");
    int32_t *prompt = NULL;
    int n_prompt = 0;
    if ((st = mk_cli_parse_ids(prompt_s, &prompt, &n_prompt)) != MK_OK)
        return mk_cli_usage_error("generate", "%s", mk_last_error());
    if (n_prompt == 0) {
        free(prompt);
        return mk_cli_usage_error("generate", "--prompt-ids needs at least one id");
    }
    enum mk_device dev;
    int idx;
    struct mk_model *m = NULL;
    st = mk_cli_parse_device(device, &dev, &idx);
    if (st == MK_OK)
        st = mk_ckpt_load(&m, model_dir, dev, idx);
    if (st == MK_OK)
        st = mk_model_set_precision(m, precision);
    if (st == MK_OK) {
        for (int i = 0; i < n_prompt; i++)
            printf(i ? ",%d" : "%d", prompt[i]);
        fflush(stdout);
        int eos = ignore_eos ? -1 : mk_model_config(m)->eos_token_id;
        st = mk_generate(m, prompt, n_prompt, (int)max_new, &so, eos, print_token, NULL, NULL, NULL);
        printf("\n");
    }
    free(prompt);
    mk_model_free(m);
    return st == MK_OK ? 0 : mk_cli_error("generate", st);
}
