/* test_train.c — the training task end to end on real text (the Devil's Dictionary, A-D,
 * tests/data/text/devil-a-d.txt, through the built-in text plugin as bytes; CPU, one thread):
 *   1. the loss falls well below the data's unigram entropy (by more than 0.3 nats: a model
 *      that only learnt the byte frequencies would sit at the entropy, so the gap is what it
 *      learnt from context);
 *   2. N steps straight and N/2 steps + resume + N/2 steps give exactly the same losses
 *      (a constant schedule, so both halves see the same learning rates);
 *   3. with the newest checkpoint truncated on disk, resume warns and uses the one before.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "data.h"
#include "plugin.h"
#include "tap.h"
#include "train.h"

enum { STEPS = 200 };
static char text_path[4096];

static struct mk_recipe *load(const char *out, int steps)
{
    char text[8192];
    snprintf(text, sizeof text,
             "version: 1\nmodel: {d_model: 32, n_layer: 2}\n"
             "data: {plugin: text, train: {paths: [\"%s\"]}, seq_len: 64, micro_batch: 4,"
             " global_batch: 8}\n"
             "task: {max_steps: %d, optimizer: {lr: 1.0e-2},"
             " schedule: {name: constant, warmup: 5}}\n"
             "run: {out: \"%s\", seed: 3, device: cpu, threads: 1, log: {progress: none},"
             " checkpoint: {every: 10, keep_last: 5}}\n", text_path, steps, out);
    struct mk_recipe *r = NULL;
    if (mk_recipe_parse(&r, "train.yaml", text, strlen(text), NULL, 0) != MK_OK)
        bail_out("recipe: %s", mk_last_error());
    return r;
}

static mk_status run(const char *out, int steps, int resume, double *losses, FILE *log)
{
    struct mk_recipe *r = load(out, steps);
    struct mk_run_opts o = {.resume = resume, .losses = losses, .log = log};
    mk_status st = mk_recipe_run(r, &o);
    if (st != MK_OK)
        diag("%s", mk_last_error());
    mk_recipe_free(r);
    return st;
}

/* Unigram entropy of the training tokens, in nats: H = -sum_k p_k ln p_k over the token
 * frequencies p_k, the loss of the best model that ignores context. */
static double unigram_entropy(const char *out)
{
    struct mk_recipe *r = load(out, 1);
    struct mk_dataset ds;
    const int V = mk_codec_vocab_size(r->codec);
    double *count = calloc((size_t)V, sizeof *count), h = 0;
    if (count && mk_data_load(&ds, r, MK_SPLIT_TRAIN, NULL) == MK_OK) {
        for (size_t i = 0; i < ds.n_tokens; i++)
            count[ds.tokens[i]]++;
        for (int k = 0; k < V; k++)
            if (count[k] > 0)
                h -= count[k] / (double)ds.n_tokens * log(count[k] / (double)ds.n_tokens);
        mk_data_free(&ds);
    }
    free(count);
    mk_recipe_free(r);
    return h;
}

static int same(const double *a, const double *b, int n)
{
    for (int i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0) {
            diag("step %d: %.17g vs %.17g", i + 1, a[i], b[i]);
            return 0;
        }
    return 1;
}

int main(void)
{
    const char *src = getenv("MK_SRCDIR") ? getenv("MK_SRCDIR") : ".";
    snprintf(text_path, sizeof text_path, "%s/tests/data/text/devil-a-d.txt", src);
    char a[64], b[64], c[64], path[256];
    snprintf(a, sizeof a, "/tmp/mk-train-a.%d", (int)getpid());
    snprintf(b, sizeof b, "/tmp/mk-train-b.%d", (int)getpid());
    snprintf(c, sizeof c, "/tmp/mk-train-c.%d", (int)getpid());
    plan(7);

    double full[STEPS], part[STEPS], again[STEPS];
    ok(run(a, STEPS, 0, full, NULL) == MK_OK, "train %d steps", STEPS);
    double h = unigram_entropy(a);
    double tail = 0; /* the mean of the last 10 steps: one batch's loss is noisy */
    for (int i = STEPS - 10; i < STEPS; i++)
        tail += full[i] / 10;
    diag("unigram entropy %.4f nats; loss %.4f at step 1, %.4f over steps %d-%d", h, full[0],
         tail, STEPS - 9, STEPS);
    ok(tail < h - 0.3, "the loss ends more than 0.3 nats below the unigram entropy");

    ok(run(b, STEPS / 2, 0, part, NULL) == MK_OK &&
       run(b, STEPS, 1, part, NULL) == MK_OK, "train %d steps, then resume to %d", STEPS / 2,
       STEPS);
    ok(same(full, part, STEPS), "resumed losses are bit-identical to the straight run");

    /* truncate the newest checkpoint of a copy of run a: resume must fall back to the one before */
    snprintf(path, sizeof path, "cp -r %s %s && truncate -s 1000 %s/ckpt-%d/model.safetensors",
             a, c, c, STEPS);
    ok(system(path) == 0, "copied the run and truncated its newest checkpoint");
    FILE *log = tmpfile();
    ok(run(c, STEPS, 1, again, log) == MK_OK, "resume with a truncated newest checkpoint");
    char text[4096] = "";
    rewind(log);
    size_t n = fread(text, 1, sizeof text - 1, log);
    text[n] = 0;
    fclose(log);
    char warn[64], resumed[64];
    snprintf(warn, sizeof warn, "ckpt-%d is unusable", STEPS);
    snprintf(resumed, sizeof resumed, "resuming from step %d", STEPS - 10);
    ok(strstr(text, warn) && strstr(text, resumed) && same(full + STEPS - 10, again + STEPS - 10, 10),
       "warned, resumed from the checkpoint before, same losses");
    snprintf(path, sizeof path, "rm -rf %s %s %s", a, b, c);
    if (system(path) != 0)
        diag("could not remove the run directories");
    return exit_status();
}
