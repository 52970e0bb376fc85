/* test_task_lm.c — the eval and generate tasks on a small byte-level model of the Devil's
 * Dictionary (tests/data/text/devil-a-d.txt), trained here for a few steps:
 *   eval:     eval.json's loss equals a direct computation (mk_model_forward's logits and a
 *             log-softmax in double over every window of the val split, each counted once),
 *             perplexity = exp(loss), bits per token = loss / ln 2, bits per byte = bits per
 *             token x tokens / bytes (the EOS token stands for no byte);
 *   generate: samples start with the prompt, the same seed gives the same bytes, another
 *             seed other bytes, the streamed output equals the files; a DNA model writes
 *             FASTA through the dna plugin's writer.
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include "data.h"
#include "test_task.h"

enum { L = 32, MICRO = 3 };
static char text_path[4096], fasta[4096], dir[64];

static const char prompt[] = "ABASEMENT, n.  ";

/* A recipe on the text fixture (val: the last 10% of it) with the given sections. */
static void text_recipe(char *buf, size_t cap, const char *model, const char *task,
                        const char *out)
{
    snprintf(buf, cap,
             "version: 1\nmodel: %s\n"
             "data: {plugin: text, train: {paths: [\"%s\"]}, split: {by: region, ratio: "
             "[0.9, 0.1, 0.0]}, seq_len: %d, micro_batch: %d}\n"
             "task: %s\nrun: {out: \"%s/%s\", seed: 2, device: cpu, threads: 1, "
             "log: {progress: none}}\n", model, text_path, L, MICRO, task, dir, out);
}

static mk_status run_text(const char *model, const char *task, const char *out, FILE *stream)
{
    char text[8192];
    text_recipe(text, sizeof text, model, task, out);
    return run_recipe(text, NULL, stream);
}

/* The val split's mean next-token loss computed directly: non-overlapping windows of L
 * inputs (stride L, each needing L + 1 tokens), logits from mk_model_forward, and
 *   loss = sum_t [logsumexp_v z_t,v - z_t,y_t] / (number of targets).
 * Also returns the split's tokens and bytes (tokens below 256 are bytes). */
static double direct_loss(const char *model_dir, double *n_tokens, double *n_bytes)
{
    char text[8192], model[256];
    snprintf(model, sizeof model, "{from: \"%s\"}", model_dir);
    text_recipe(text, sizeof text, model, "{kind: eval}", "unused");
    struct mk_recipe *r = NULL;
    struct mk_dataset ds = {0};
    struct mk_model *m = NULL;
    double sum = 0, count = 0;
    if (mk_recipe_parse(&r, "direct.yaml", text, strlen(text), NULL, 0) != MK_OK ||
        mk_data_load(&ds, r, MK_SPLIT_VAL, NULL) != MK_OK ||
        mk_ckpt_load(&m, model_dir, MK_DEVICE_CPU, 0) != MK_OK)
        bail_out("direct computation: %s", mk_last_error());
    if (ds.n_docs != 1)
        bail_out("expected the val split to be one document, got %zu", ds.n_docs);
    const int V = mk_model_config(m)->vocab_size;
    float *z = malloc((size_t)L * V * sizeof *z);
    size_t windows = (ds.n_tokens - (L + 1)) / L + 1;
    diag("val split: %zu tokens, %zu windows (%zu in the last micro-batch of %d)", ds.n_tokens,
         windows, windows % MICRO ? windows % MICRO : MICRO, MICRO);
    for (size_t w = 0; z && w < windows; w++) {
        const int32_t *ids = ds.tokens + w * L;
        if (mk_model_forward(m, ids, 1, L, NULL, NULL, z, NULL) != MK_OK)
            bail_out("forward: %s", mk_last_error());
        for (int t = 0; t < L; t++) {
            const float *zt = z + (size_t)t * V;
            double mx = zt[0], se = 0;
            for (int v = 1; v < V; v++)
                mx = fmax(mx, zt[v]);
            for (int v = 0; v < V; v++)
                se += exp(zt[v] - mx);
            sum += mx + log(se) - zt[ids[t + 1]];
            count++;
        }
    }
    *n_tokens = (double)ds.n_tokens;
    *n_bytes = 0;
    for (size_t i = 0; i < ds.n_tokens; i++)
        *n_bytes += ds.tokens[i] < 256;
    free(z);
    mk_model_free(m);
    mk_data_free(&ds);
    mk_recipe_free(r);
    return sum / count;
}

static double num(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void test_eval(void)
{
    char model[256];
    snprintf(model, sizeof model, "{from: \"%s/lm/last\"}", dir);
    ok(run_text(model, "{kind: eval, split: val, eval: {batches: 0}}", "eval", NULL) == MK_OK,
       "eval task on the val split");
    double n_tok, n_bytes;
    snprintf(model, sizeof model, "%s/lm/last", dir);
    const double want = direct_loss(model, &n_tok, &n_bytes);
    char out[128];
    snprintf(out, sizeof out, "%s/eval", dir);
    json_t *j = read_json(out, "eval.json");
    const double loss = num(j, "loss");
    diag("eval.json loss %.6f, direct %.6f", loss, want);
    ok(fabs(loss - want) < 1e-4 * want, "eval loss equals the direct computation");
    const double bpt = loss / log(2.0);
    ok(fabs(num(j, "perplexity") - exp(loss)) < 1e-6 * exp(loss) &&
       fabs(num(j, "bits_per_token") - bpt) < 1e-6 * bpt &&
       fabs(num(j, "bits_per_byte") - bpt * n_tok / n_bytes) < 1e-6 * bpt,
       "perplexity, bits per token and bits per byte follow from the loss");
    json_decref(j);
}

static char *sample(const char *run, int i, const char *ext, size_t *len)
{
    char path[256];
    unsigned char *data = NULL;
    snprintf(path, sizeof path, "%s/%s/samples/sample-%d%s", dir, run, i, ext);
    if (mk_read_file(path, &data, len) != MK_OK)
        diag("%s", mk_last_error());
    return (char *)data;
}

static void test_generate(void)
{
    char model[256], task[256];
    snprintf(model, sizeof model, "{from: \"%s/lm/last\"}", dir);
    snprintf(task, sizeof task, "{kind: generate, prompt: \"%s\", num_samples: 2, length: 40, "
             "sampling: {temperature: 1.0, seed: 7}}", prompt);
    FILE *stream = tmpfile();
    ok(run_text(model, task, "gen1", stream) == MK_OK &&
       run_text(model, task, "gen2", NULL) == MK_OK, "generate twice with the same seed");
    size_t n1, n2, n3;
    char *a = sample("gen1", 1, ".txt", &n1), *b = sample("gen2", 1, ".txt", &n2);
    char *c = sample("gen1", 2, ".txt", &n3);
    ok(a && b && c && n1 > strlen(prompt) && !memcmp(a, prompt, strlen(prompt)) &&
       !memcmp(c, prompt, strlen(prompt)), "samples start with the prompt");
    if (a)
        diag("sample 1: %.*s", (int)n1, a);
    ok(a && b && n1 == n2 && !memcmp(a, b, n1), "the same seed gives the same sample");
    ok(a && c && (n1 != n3 || memcmp(a, c, n1)), "sample 2 (seed + 1) differs from sample 1");
    char streamed[1024] = "", want[1024] = "";
    rewind(stream);
    streamed[fread(streamed, 1, sizeof streamed - 1, stream)] = 0;
    fclose(stream);
    snprintf(want, sizeof want, "%.*s\n%.*s\n", (int)n1, a ? a : "", (int)n3, c ? c : "");
    ok(!strcmp(streamed, want), "the streamed text equals the sample files");
    free(a);
    free(b);
    free(c);
}

/* A DNA model (40 steps: enough to make EOS, never a target, unlikely) continues the first
 * bases of the genome for 50 bases, written as FASTA by the dna plugin. (A prompt, since a
 * model trained without add_bos has never seen the BOS token unconditional sampling starts
 * from.) */
static void test_generate_dna(void)
{
    char text[4096];
    snprintf(text, sizeof text,
             "version: 1\nmodel: {d_model: 16, n_layer: 1}\n"
             "data: {plugin: dna, train: {paths: [\"%s\"]}, seq_len: 32, micro_batch: 2}\n"
             "task: {max_steps: 40, optimizer: {lr: 1.0e-2}}\nrun: {out: \"%s/dna\", device: cpu, "
             "threads: 1, "
             "log: {progress: none}}\n", fasta, dir);
    int good = run_recipe(text, NULL, NULL) == MK_OK;
    snprintf(text, sizeof text,
             "version: 1\nmodel: {from: \"%s/dna/last\"}\ndata: {plugin: dna}\n"
             "task: {kind: generate, prompt: GATCACAGG, length: 50, stream: false, "
             "sampling: {seed: 3}}\n"
             "run: {out: \"%s/dnagen\", device: cpu, threads: 1}\n", dir, dir);
    ok(good && run_recipe(text, NULL, NULL) == MK_OK, "train a DNA model and generate from it");
    size_t n;
    char *fa = sample("dnagen", 1, ".fasta", &n);
    int bases = 0, other = 0;
    const char *body = fa ? memchr(fa, '\n', n) : NULL;
    for (const char *p = body; p && p < fa + n; p++) {
        bases += strchr("ACGTN", *p) != NULL;
        other += strchr("ACGTN\n", *p) == NULL;
    }
    ok(fa && !strncmp(fa, ">sample-1", 9) && bases > 9 && bases <= 59 && !other,
       "the sample is FASTA (>sample-1, then %d bases, prompt included)", bases);
    free(fa);
}

int main(void)
{
    const char *src = getenv("MK_SRCDIR") ? getenv("MK_SRCDIR") : ".";
    snprintf(text_path, sizeof text_path, "%s/tests/data/text/devil-a-d.txt", src);
    snprintf(fasta, sizeof fasta, "%s/tests/data/dna/MT-human.fa.gz", src);
    snprintf(dir, sizeof dir, "/tmp/mk-task-lm.%d", (int)getpid());
    plan(11);
    ok(run_text("{d_model: 32, n_layer: 1}", "{max_steps: 30, optimizer: {lr: 1.0e-2}}", "lm",
                NULL) == MK_OK, "train a byte-level LM for 30 steps");
    test_eval();
    test_generate();
    test_generate_dna();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return exit_status();
}
