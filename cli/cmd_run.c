/* cmd_run.c — `mambakit run RECIPE [--set KEY=VALUE]... [--resume]`: validates the recipe
 * (as `mambakit check` does; nothing runs unless all of it is valid), says which device it
 * uses, and runs its task (lib/train.h): train, classify, generate or eval.
 *
 * Ctrl-C (SIGINT) and SIGTERM only set the stop flag that the training loop polls between
 * optimizer steps: it then writes a checkpoint and returns MK_ERR_INTERRUPTED, and the
 * command exits with 130 (128 + SIGINT, the shell convention). A second signal kills the
 * process at once the usual way — but only from a second after the first on: `timeout -s
 * INT`, job schedulers and terminals send one stop to the process and again to its process
 * group, and that echo must not kill the run while it saves. (clock_gettime, signal and raise
 * are async-signal-safe.)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli_util.h"
#include "commands.h"
#include "train.h"

static const char usage_text[] =
    "Usage: mambakit run RECIPE.yaml [--set KEY=VALUE]... [--resume]\n"
    "Run the job a recipe describes: train a language model or fine-tune a classifier\n"
    "(task.kind train), label data with a trained classifier (classify), sample from a\n"
    "model (generate), or measure loss, perplexity and bits per token (eval). The recipe is\n"
    "validated first, completely (see `mambakit check`); its keys are documented in\n"
    "recipes/README.md.\n\n"
    "  -s, --set KEY=VALUE   override one key (dotted path, e.g. run.device=cpu); VALUE is\n"
    "                        YAML; may be repeated, later ones win\n"
    "      --resume          continue training from the newest checkpoint in run.out that\n"
    "                        loads completely (a broken one is reported and skipped); the\n"
    "                        run goes on bit-identically to one never stopped\n"
    "  -h, --help            show this help\n\n"
    "Outputs go to run.out: recipe.yaml and recipe.resolved.yaml (to reproduce the run),\n"
    "metrics.jsonl, curves.svg, ckpt-STEP/ checkpoints with `last` pointing at the newest,\n"
    "eval.json, predictions.tsv and classify.json, samples/. Progress goes to standard\n"
    "error (a bar on a terminal, plain lines otherwise); generated text streams to standard\n"
    "output.\n\n"
    "Several processes (data parallel; the global batch is dealt over them, so the loss\n"
    "curve is that of one process): mpirun -np N mambakit run RECIPE.yaml (a build with\n"
    "MPI; on CUDA also NCCL, one GPU per rank from run.device's index), or, without MPI\n"
    "(CUDA only), mambakit-launch -n N mambakit run RECIPE.yaml on one host, or under a\n"
    "scheduler MAMBAKIT_WORLD_SIZE=N MAMBAKIT_RANK=R [MAMBAKIT_LOCAL_RANK=L]\n"
    "MAMBAKIT_RENDEZVOUS=file:PATH (shared) or tcp:HOST:PORT (rank 0's host) in each of\n"
    "the N processes. data.global_batch must be a multiple of data.micro_batch x N; rank 0\n"
    "writes the outputs.\n\n"
    "Ctrl-C during training saves a checkpoint and exits; `--resume` continues from it.\n"
    "A second Ctrl-C, a second or more after the first, stops at once.\n\n"
    "Exit status: 0 done, 1 failed or invalid recipe, 2 bad usage, 130 interrupted (saved).\n\n"
    "Examples:\n"
    "  mambakit run recipes/text-lm.yaml\n"
    "  mambakit run recipes/text-lm.yaml --set task.max_steps=2000 --resume\n"
    "  mambakit run recipes/text-generate.yaml --set task.prompt='DIPLOMACY, n.'\n";

static volatile sig_atomic_t stop_flag;

static struct timespec first_signal;

static void on_signal(int sig)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!stop_flag) {
        stop_flag = 1;
        first_signal = now;
        return;
    }
    const double since = (double)(now.tv_sec - first_signal.tv_sec) +
                         1e-9 * (double)(now.tv_nsec - first_signal.tv_nsec);
    if (since < 1.0) /* the same stop, delivered again to the process group */
        return;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int mk_cmd_run(int argc, char **argv)
{
    struct mk_recipe *r = NULL;
    int resume = 0;
    int rc = mk_cli_recipe_load("run", usage_text, argc, argv, &resume, &r);
    if (rc >= 0)
        return rc;
    enum mk_device dev;
    int idx;
    mk_status st = mk_cli_parse_device(r->device, &dev, &idx);
    if (st == MK_OK) {
        install_handlers();
        const struct mk_run_opts o = {.resume = resume, .log = stderr, .out = stdout,
                                      .stop = &stop_flag};
        st = mk_recipe_run(r, &o);
    }
    mk_recipe_free(r);
    if (st == MK_ERR_INTERRUPTED) {
        fprintf(stderr, "mambakit run: %s\n", mk_last_error());
        return 130;
    }
    return st == MK_OK ? 0 : mk_cli_error("run", st);
}
