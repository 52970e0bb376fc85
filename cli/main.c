/* main.c — the mambakit program: `mambakit COMMAND [OPTIONS]`. Dispatches to one
 * cli/cmd_*.c per command (see commands.h); `mambakit --help` lists them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "config.h"

static const struct mk_command commands[] = {
    {"check", "validate a recipe and print it resolved (every key, defaults filled in)",
     mk_cmd_check},
    {"forward", "logits, loss and gradients of a model on token ids", mk_cmd_forward},
    {"generate", "sample tokens from a model, streaming them as they come", mk_cmd_generate},
    {"init", "make a new model directory initialised as mamba_ssm does", mk_cmd_init},
    {"plot", "redraw OUT/curves.svg (loss, accuracy) from OUT/metrics.jsonl", mk_cmd_plot},
    {"spectrogram", "draw audio clips' spectrograms as a PNG, one row per glob", mk_cmd_spectrogram},
    {"plugins", "list the modality plugins with their versions", mk_cmd_plugins},
    {"run", "run a recipe: train, fine-tune, classify, generate or eval", mk_cmd_run},
    {"tokenizer", "train, apply and inspect BPE tokenizers (tokenizer.json)", mk_cmd_tokenizer},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

int mk_cli_error(const char *cmd, mk_status st)
{
    const char *detail = mk_last_error();
    fprintf(stderr, "mambakit %s: %s\n", cmd, detail[0] ? detail : mk_strerror(st));
    return 1;
}

int mk_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mambakit %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mambakit %s --help'.\n", cmd);
    return 2;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: mambakit COMMAND [OPTIONS]\n"
               "Mamba selective state-space models for text, DNA and audio.\n\nCommands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'mambakit COMMAND --help' describes a command's options.\n");
}

/* OpenMP's default wait policy keeps idle threads spinning between parallel regions; on small
 * machines that spinning slows the many short regions of decoding several-fold (measured on 2
 * cores: 13.7 -> 52 tokens/s for the 130M model, prefill and training unchanged). libgomp reads
 * OMP_WAIT_POLICY once, before main, so when the user has not chosen a policy the program runs
 * itself again with "passive". If that fails it simply carries on. */
static void prefer_passive_openmp(char **argv)
{
    if (getenv("OMP_WAIT_POLICY"))
        return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    prefer_passive_openmp(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            char help[] = "--help";
            char *sub[] = {argv[2], help, NULL};
            for (int i = 0; i < n_commands; i++)
                if (!strcmp(commands[i].name, argv[2]))
                    return commands[i].run(2, sub);
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version")) {
        printf("mambakit %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(commands[i].name, name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mambakit: unknown command '%s'\n", name);
    usage(stderr);
    return 2;
}
