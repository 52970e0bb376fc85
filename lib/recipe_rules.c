/* recipe_rules.c — the rules that tie recipe keys together (a model must be given or loaded,
 * batches must divide, one training budget, labels for a classifier, ...), the values derived
 * from others (run.out, the global batch, the model's shape from its checkpoint, the
 * vocabulary from the plugin), and opening the data plugin. Each problem names the key and
 * the place in the recipe where it was set (or the section, when it was left to default).
 */
#include "config.h"
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "recipe_schema.h"

void mk_recipe_rules(struct mk_recipe *r, const struct mk_rnode *root, struct mk_rerrs *e);
void mk_recipe_open_plugin(struct mk_recipe *r, const struct mk_rnode *root,
                           struct mk_rnode *const *opt_nodes, struct mk_rerrs *e);

/* The node of a key, or of its nearest written ancestor, for error positions. */
static const struct mk_rnode *at(const struct mk_rnode *root, const char *dotted)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dotted);
    for (;;) {
        const struct mk_rnode *n = mk_rtree_path(root, buf);
        if (n)
            return n;
        char *dot = strrchr(buf, '.');
        if (!dot)
            return root;
        *dot = 0;
    }
}

static int given(const struct mk_rnode *root, const char *dotted)
{
    return mk_rtree_path(root, dotted) != NULL;
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static const char *const arch_keys[] = {"model.d_model", "model.n_layer", "model.d_state",
                                        "model.d_conv", "model.expand", "model.dt_rank",
                                        "model.norm_eps", "model.tie_embeddings", NULL};

static void model_rules(struct mk_recipe *r, const struct mk_rnode *root, struct mk_rerrs *e)
{
    if (r->model_from) {
        char cfg_path[4200];
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", r->model_from);
        struct mk_config cfg;
        if (!is_file(cfg_path)) {
            mk_rerr(e, at(root, "model.from"), "model.from: no checkpoint at '%s' "
                    "(config.json is missing)", r->model_from);
            return;
        }
        for (int i = 0; arch_keys[i]; i++)
            if (given(root, arch_keys[i]))
                mk_rerr(e, at(root, arch_keys[i]), "%s: the model's shape comes from "
                        "model.from; remove this key", arch_keys[i]);
        if (mk_config_load(&cfg, cfg_path) != MK_OK) {
            mk_rerr(e, at(root, "model.from"), "model.from: %s", mk_last_error());
            return;
        }
        r->d_model = cfg.d_model;
        r->n_layer = cfg.n_layer;
        r->d_state = cfg.d_state;
        r->d_conv = cfg.d_conv;
        r->expand = cfg.expand;
        r->dt_rank = cfg.dt_rank;
        r->vocab_size = cfg.vocab_size;
        r->norm_eps = cfg.norm_eps;
        r->tie_embeddings = cfg.tie_embeddings;
        return;
    }
    if (r->kind != MK_TASK_TRAIN) {
        mk_rerr(e, at(root, "model.from"), "model.from: task.kind %s needs a trained model "
                "(a checkpoint directory such as runs/NAME/last)", mk_recipe_kind_name(r->kind));
        return;
    }
    if (r->d_model <= 0 || r->n_layer <= 0)
        mk_rerr(e, at(root, r->d_model <= 0 ? "model.d_model" : "model.n_layer"),
                "%s: required for a new model (or set model.from to start from a checkpoint)",
                r->d_model <= 0 ? "model.d_model" : "model.n_layer");
    if (r->dt_rank == 0)
        r->dt_rank = (r->d_model + 15) / 16;
}

/* Which splits a task reads, and whether each has data (its own paths, or a share of train). */
static void data_rules(struct mk_recipe *r, const struct mk_rnode *root, struct mk_rerrs *e)
{
    if (!r->plugin) {
        mk_rerr(e, at(root, "data.plugin"), "data.plugin: required (text, dna, audio, or a "
                "plugin of your own)");
        return;
    }
    const int derived = r->split_by != MK_SPLIT_NONE;
    int need = r->kind == MK_TASK_TRAIN ? MK_SPLIT_TRAIN : r->task_split;
    if (r->kind == MK_TASK_GENERATE)
        need = -1;
    if (need >= 0 && r->split[need].paths.n == 0 &&
        !(derived && r->split[MK_SPLIT_TRAIN].paths.n > 0)) {
        char key[64];
        snprintf(key, sizeof key, "data.%s.paths", mk_recipe_split_name(need));
        mk_rerr(e, at(root, key), "%s: task.kind %s reads the %s split, which has no files",
                key, mk_recipe_kind_name(r->kind), mk_recipe_split_name(need));
    }
    if (derived && r->split[MK_SPLIT_TRAIN].paths.n == 0)
        mk_rerr(e, at(root, "data.split.by"), "data.split.by: splits are cut from "
                "data.train.paths, which is empty");
    if (r->split_by == MK_SPLIT_RATIO || r->split_by == MK_SPLIT_REGION) {
        double s = r->split_ratio[0] + r->split_ratio[1] + r->split_ratio[2];
        if (s < 1 - 1e-6 || s > 1 + 1e-6)
            mk_rerr(e, at(root, "data.split.ratio"), "data.split.ratio: the three fractions "
                    "(train, val, test) add up to %g, not 1", s);
    }
    if (r->split_by == MK_SPLIT_LIST && r->split_list[MK_SPLIT_VAL].n == 0 &&
        r->split_list[MK_SPLIT_TEST].n == 0)
        mk_rerr(e, at(root, "data.split.by"), "data.split.by: list needs data.split.val or "
                "data.split.test (globs of files taken out of train)");
    for (int s = 0; s < MK_N_SPLITS; s++) {
        const char *lab = r->split[s].labels;
        if (lab && !strncmp(lab, "tsv:", 4) && !is_file(lab + 4)) {
            char key[64];
            snprintf(key, sizeof key, "data.%s.labels", mk_recipe_split_name(s));
            mk_rerr(e, at(root, key), "%s: label file '%s' not found", key, lab + 4);
        }
    }
    /* batches: the global batch is a whole number of micro-batches */
    if (r->global_batch_tokens > 0 && given(root, "data.global_batch"))
        mk_rerr(e, at(root, "data.global_batch_tokens"), "data.global_batch_tokens: give "
                "either data.global_batch (sequences) or this (tokens), not both");
    if (r->global_batch_tokens > 0) {
        int64_t seqs = (r->global_batch_tokens + r->seq_len - 1) / r->seq_len;
        int64_t micro = (seqs + r->micro_batch - 1) / r->micro_batch;
        r->global_batch = (int)(micro * r->micro_batch);
    } else if (r->global_batch == 0) {
        r->global_batch = r->micro_batch;
    } else if (r->global_batch % r->micro_batch != 0) {
        mk_rerr(e, at(root, "data.global_batch"), "data.global_batch: %d is not a multiple of "
                "data.micro_batch (%d)", r->global_batch, r->micro_batch);
    }
}

static void task_rules(struct mk_recipe *r, const struct mk_rnode *root, struct mk_rerrs *e)
{
    if (r->kind == MK_TASK_TRAIN) {
        int budgets = (r->max_steps > 0) + (r->max_tokens > 0) + (r->epochs > 0);
        if (budgets != 1)
            mk_rerr(e, at(root, "task.max_steps"), "task: give exactly one training budget of "
                    "task.max_steps, task.max_tokens, task.epochs (%d given)", budgets);
        const char *lab = r->split[MK_SPLIT_TRAIN].labels;
        if (r->objective == MK_OBJ_CLASSIFY && (!lab || !strcmp(lab, "none")))
            mk_rerr(e, at(root, "data.train.labels"), "data.train.labels: task.objective "
                    "classify needs labels (dir, header:REGEX or tsv:FILE)");
    }
    if (r->prompt && r->prompt_file)
        mk_rerr(e, at(root, "task.prompt_file"), "task.prompt_file: give task.prompt or "
                "task.prompt_file, not both");
    if (r->prompt_file && !is_file(r->prompt_file))
        mk_rerr(e, at(root, "task.prompt_file"), "task.prompt_file: '%s' not found",
                r->prompt_file);
}

static void run_rules(struct mk_recipe *r, const struct mk_rnode *root, struct mk_rerrs *e)
{
    enum mk_device dev;
    int idx;
    int dev_ok = mk_device_parse(r->device, &dev, &idx) == MK_OK;
    if (!dev_ok)
        mk_rerr(e, at(root, "run.device"), "run.device: %s", mk_last_error());
    /* bf16: the GEMMs multiply in bf16 on the tensor cores (mk_model_set_precision), CUDA only;
     * f16, q8: the weights decoding reads, stored in 16 / 8 bits, CPU only (issue 9) */
    const int lowp = !strcmp(r->precision, "f16") || !strcmp(r->precision, "q8");
    if (strcmp(r->precision, "fp32") != 0 && strcmp(r->precision, "bf16") != 0 && !lowp)
        mk_rerr(e, at(root, "run.precision"), "run.precision: '%s' is not one of "
                "fp32|bf16|f16|q8", r->precision);
    else if (!strcmp(r->precision, "bf16") && dev_ok && dev == MK_DEVICE_CPU)
        mk_rerr(e, at(root, "run.precision"), "run.precision: bf16 needs the CUDA backend "
                "(run.device '%s' is the CPU here); use fp32 or run.device: cuda", r->device);
    else if (lowp && dev_ok && dev == MK_DEVICE_CUDA)
        mk_rerr(e, at(root, "run.precision"), "run.precision: %s weights are a CPU decoding "
                "mode (run.device '%s' is CUDA); use fp32, bf16 or run.device: cpu",
                r->precision, r->device);
    else if (lowp && r->kind != MK_TASK_GENERATE)
        mk_rerr(e, at(root, "run.precision"), "run.precision: %s weights apply to decoding "
                "(task.kind: generate); this task computes in fp32", r->precision);
    if (!r->out) { /* runs/NAME for recipes/NAME.yaml */
        char *copy = strdup(r->path);
        const char *base = copy ? basename(copy) : "run";
        const char *dot = strrchr(base, '.');
        size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        if ((r->out = malloc(n + 6)))
            snprintf(r->out, n + 6, "runs/%.*s", (int)n, base);
        free(copy);
    }
}

void mk_recipe_rules(struct mk_recipe *r, const struct mk_rnode *root, struct mk_rerrs *e)
{
    model_rules(r, root, e);
    data_rules(r, root, e);
    task_rules(r, root, e);
    run_rules(r, root, e);
}

void mk_recipe_open_plugin(struct mk_recipe *r, const struct mk_rnode *root,
                           struct mk_rnode *const *opt_nodes, struct mk_rerrs *e)
{
    if (mk_codec_open(&r->codec, r->plugin, r->plugin_opts, (size_t)r->n_plugin_opts) != MK_OK) {
        /* point at the option the plugin names, if it names one, else at data.plugin */
        const char *msg = mk_last_error();
        const struct mk_rnode *where = at(root, "data.plugin");
        char where_key[200] = "";
        for (int i = 0; i < r->n_plugin_opts; i++) {
            char quoted[200];
            snprintf(quoted, sizeof quoted, "'%s'", r->plugin_opts[i].key);
            if (strstr(msg, quoted)) {
                where = opt_nodes[i];
                snprintf(where_key, sizeof where_key, "data.%s", r->plugin_opts[i].key);
                break;
            }
        }
        const char *near = where != at(root, "data.plugin") ? mk_rkey_suggest(where_key) : NULL;
        if (near)
            mk_rerr(e, where, "data.plugin %s: %s (or did you mean '%s'?)", r->plugin, msg, near);
        else
            mk_rerr(e, where, "data.plugin %s: %s", r->plugin, msg);
        r->codec = NULL;
        return;
    }
    int V = mk_codec_vocab_size(r->codec);
    if (r->vocab_size == 0) {
        r->vocab_size = mk_config_padded_vocab(V, r->pad_vocab_multiple);
    } else if (r->vocab_size < V) {
        mk_rerr(e, at(root, r->model_from ? "model.from" : "model.vocab_size"),
                "%s: the model has %d token ids but the %s plugin needs %d",
                r->model_from ? "model.from" : "model.vocab_size", r->vocab_size, r->plugin, V);
    }
}
