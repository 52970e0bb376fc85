/* test_recipe.c — recipe loading: good recipes resolve with their defaults and overrides;
 * a table of bad ones each fail with the expected text at the expected line and column;
 * every schema key is documented in recipes/README.md.
 * Uses the built-in dna plugin and tests/data/dna/MT-human.fa.gz.
 */
#include <stdlib.h>
#include <string.h>
#include "recipe.h"
#include "recipe_schema.h"
#include "tap.h"

static char fasta[4096];

/* Expands @FA@ to the fixture path. */
static char *expand(const char *text)
{
    static char buf[8192];
    char *o = buf;
    for (const char *s = text; *s;) {
        if (!strncmp(s, "@FA@", 4)) {
            o += sprintf(o, "%s", fasta);
            s += 4;
        } else {
            *o++ = *s++;
        }
    }
    *o = 0;
    return buf;
}

static mk_status parse(const char *text, struct mk_recipe **r, const char *const *sets, int n)
{
    const char *t = expand(text);
    return mk_recipe_parse(r, "r.yaml", t, strlen(t), sets, n);
}

static const char good[] =
    "version: 1\n"
    "model: {d_model: 32, n_layer: 2}\n"
    "data:\n"
    "  plugin: dna\n"
    "  case: fold\n"
    "  train: {paths: [\"@FA@\"]}\n"
    "  seq_len: 64\n"
    "  micro_batch: 4\n"
    "  global_batch: 8\n"
    "task:\n"
    "  kind: train\n"
    "  max_steps: 10\n"
    "  optimizer: {lr: 3.0e-3}\n"
    "run: {out: /tmp/mk-test-recipe}\n";

struct bad {
    const char *what, *text, *set, *expect;
};

static const struct bad bad[] = {
    {"typo key with suggestion",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train: {paths: [\"@FA@\"]}\n  seq_lenn: 64\ntask: {max_steps: 1}\n", NULL,
     "r.yaml:6:3: data.plugin dna: dna: unknown option 'seq_lenn'"}, /* the plugin names it */
    {"typo in task with suggestion",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train: {paths: [\"@FA@\"]}\ntask:\n  max_stepz: 1\n", NULL,
     "r.yaml:7:3: unknown key 'task.max_stepz' (did you mean 'task.max_steps'?)"},
    {"key in the wrong section",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train: {paths: [\"@FA@\"]}\ntask: {max_steps: 1}\nrun:\n  lr: 0.1\n", NULL,
     "r.yaml:8:3: unknown key 'run.lr' (did you mean 'task.optimizer.lr'?)"},
    {"wrong type",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train: {paths: [\"@FA@\"]}\n  seq_len: abc\ntask: {max_steps: 1}\n", NULL,
     "r.yaml:6:12: data.seq_len: expected an integer, got 'abc'"},
    {"negative batch size",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train: {paths: [\"@FA@\"]}\n  micro_batch: -4\ntask: {max_steps: 1}\n", NULL,
     "r.yaml:6:16: data.micro_batch: -4 is out of range [1, 1.04858e+06]"},
    {"missing file",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train:\n    paths:\n      - nowhere/*.fa\ntask: {max_steps: 1}\n", NULL,
     "r.yaml:7:9: data.train.paths: no file matches 'nowhere/*.fa'"},
    {"wrong plugin name",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dnaa\n"
     "  train: {paths: [\"@FA@\"]}\ntask: {max_steps: 1}\n", NULL,
     "r.yaml:4:11: data.plugin dnaa:"},
    {"bad YAML syntax",
     "version: 1\nmodel: {d_model: 32, n_layer: 2\ndata:\n  plugin: dna\n", NULL,
     "r.yaml:3:5: YAML syntax error"},
    {"bad enum value with suggestion",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train:\n    paths: [\"@FA@\"]\n    sampler: random_windw\ntask: {max_steps: 1}\n", NULL,
     "r.yaml:7:14: data.train.sampler: 'random_windw' is not one of "
     "random_window|sequential|per_record (did you mean 'random_window'?)"},
    {"global batch not a multiple",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train: {paths: [\"@FA@\"]}\n  micro_batch: 4\n  global_batch: 6\ntask: {max_steps: 1}\n",
     NULL, "r.yaml:7:17: data.global_batch: 6 is not a multiple of data.micro_batch (4)"},
    {"no model",
     "version: 1\ndata:\n  plugin: dna\n  train: {paths: [\"@FA@\"]}\ntask: {max_steps: 1}\n",
     NULL, "r.yaml:1:1: model.d_model: required for a new model"},
    {"bad --set value", good, "data.seq_len=-1",
     "--set data.seq_len:1:4: data.seq_len: -1 is out of range"},
    {"--set of an unknown key", good, "task.optimizer.lrr=0.1",
     "unknown key 'task.optimizer.lrr' (did you mean 'task.optimizer.lr'?)"},
    {"missing version",
     "model: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n  train: {paths: [\"@FA@\"]}\n"
     "task: {max_steps: 1}\n", NULL, "r.yaml:1:1: missing 'version: 1'"},
    {"two budgets",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train: {paths: [\"@FA@\"]}\ntask: {max_steps: 1, epochs: 2}\n", NULL,
     "task: give exactly one training budget"},
    {"unknown precision", good, "run.precision=fp16",
     "run.precision: 'fp16' is not one of fp32|bf16"},
    {"bf16 on the CPU",
     "version: 1\nmodel: {d_model: 32, n_layer: 2}\ndata:\n  plugin: dna\n"
     "  train: {paths: [\"@FA@\"]}\ntask: {max_steps: 1}\nrun:\n  device: cpu\n"
     "  precision: bf16\n", NULL,
     "r.yaml:9:14: run.precision: bf16 needs the CUDA backend"},
};

static void test_good(void)
{
    struct mk_recipe *r;
    const char *sets[] = {"task.optimizer.betas=[0.8, 0.9]", "run.seed=7"};
    mk_status st = parse(good, &r, sets, 2);
    if (!ok(st == MK_OK, "good recipe loads")) {
        diag("%s", mk_last_error());
        return;
    }
    ok(r->d_model == 32 && r->n_layer == 2 && r->d_state == 16 && r->dt_rank == 2,
       "model keys and defaults (dt_rank auto = ceil(32/16))");
    ok(r->seq_len == 64 && r->micro_batch == 4 && r->global_batch == 8 && r->pack,
       "data keys");
    ok(r->betas[0] == 0.8 && r->betas[1] == 0.9 && r->seed == 7, "--set overrides");
    ok(r->lr == 3e-3 && r->weight_decay == 0.1 && r->grad_clip == 1.0 && r->eps == 1e-8,
       "optimizer defaults");
    ok(r->vocab_size == 8 && r->codec != NULL, "vocab from the dna plugin, padded to 8");
    ok(r->n_plugin_opts == 1 && !strcmp(r->plugin_opts[0].key, "case"), "plugin options");
    /* the resolved recipe loads again to the same values */
    char *text = mk_recipe_resolved(r);
    struct mk_recipe *again = NULL;
    st = mk_recipe_parse(&again, "resolved.yaml", text, strlen(text), NULL, 0);
    ok(st == MK_OK && again->betas[0] == 0.8 && again->global_batch == 8 &&
       again->dt_rank == 2 && !strcmp(again->out, r->out), "resolved recipe round-trips");
    if (st != MK_OK)
        diag("%s\n%s", mk_last_error(), text);
    free(text);
    mk_recipe_free(again);
    mk_recipe_free(r);
}

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct mk_recipe *r = NULL;
        const char *sets[1] = {bad[i].set};
        mk_status st = parse(bad[i].text, &r, sets, bad[i].set ? 1 : 0);
        int hit = st != MK_OK && r == NULL && strstr(mk_last_error(), bad[i].expect);
        if (!ok(hit, "bad recipe: %s", bad[i].what))
            diag("got: %s\nwant: %s", st == MK_OK ? "(success)" : mk_last_error(),
                 bad[i].expect);
        mk_recipe_free(r);
    }
}

/* Every key of the schema appears in recipes/README.md (as `key`). */
static void test_readme(const char *srcdir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/recipes/README.md", srcdir);
    unsigned char *text;
    size_t len;
    if (mk_read_file(path, &text, &len) != MK_OK) {
        ok(0, "recipes/README.md readable");
        return;
    }
    int missing = 0;
    for (const struct mk_rkey *k = mk_recipe_keys; k->key; k++) {
        char quoted[200];
        snprintf(quoted, sizeof quoted, "`%s`", k->key);
        if (!strstr((char *)text, quoted)) {
            diag("undocumented: %s", k->key);
            missing++;
        }
    }
    free(text);
    ok(missing == 0, "recipes/README.md documents every key");
}

int main(void)
{
    const char *src = getenv("MK_SRCDIR") ? getenv("MK_SRCDIR") : ".";
    snprintf(fasta, sizeof fasta, "%s/tests/data/dna/MT-human.fa.gz", src);
    plan(8 + (int)(sizeof bad / sizeof bad[0]) + 2);
    test_good();
    test_bad();
    ok(mk_edit_distance("seq_lenn", "seq_len") == 1 && mk_edit_distance("", "abc") == 3,
       "edit distance");
    test_readme(src);
    return exit_status();
}
