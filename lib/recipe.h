/* recipe.h — YAML recipes (schema version 1): load, override, validate, resolve, print.
 *
 * A recipe has four sections, `model`, `data`, `task` and `run` (recipes/README.md documents
 * every key). Loading goes in stages, and nothing runs until all of them pass:
 *   1. libyaml parses the file into a tree of nodes that remember file:line:column;
 *   2. each `--set a.b.c=VALUE` replaces (or adds) one node; VALUE is parsed as YAML, so
 *      `--set task.optimizer.betas=[0.9,0.99]` works;
 *   3. the tree is checked against the schema table (recipe_schema.c): unknown keys (with
 *      the nearest valid key by edit distance), wrong types, values out of range, missing
 *      input files; every problem found is reported, one per line, not only the first;
 *   4. cross-field rules (a model must be given or loaded, batches must divide, ...);
 *   5. the modality plugin named by data.plugin is found and created with the rest of the
 *      data section as its options.
 *
 *     struct mk_recipe *r;
 *     const char *sets[] = {"task.max_steps=100"};
 *     if (mk_recipe_load(&r, "recipes/text-lm.yaml", sets, 1) != MK_OK)
 *         fprintf(stderr, "%s\n", mk_last_error());   // "text-lm.yaml:7:3: unknown key ..."
 *     mk_recipe_print(r, stdout);                      // the resolved recipe, every key
 *     mk_recipe_free(r);
 *
 * Relative paths in a recipe are relative to the working directory, as on the command line.
 */
#ifndef MK_RECIPE_H
#define MK_RECIPE_H

#include <stdint.h>
#include <stdio.h>
#include "mambakit.h"
#include "mambakit-plugin.h"
#include "plugin.h"

enum mk_task_kind { MK_TASK_TRAIN, MK_TASK_CLASSIFY, MK_TASK_GENERATE, MK_TASK_EVAL };
enum mk_objective { MK_OBJ_LM, MK_OBJ_CLASSIFY };
enum mk_sampler_kind { MK_SAMPLER_RANDOM_WINDOW, MK_SAMPLER_SEQUENTIAL, MK_SAMPLER_PER_RECORD };
enum mk_split_by { MK_SPLIT_NONE, MK_SPLIT_RATIO, MK_SPLIT_LIST, MK_SPLIT_REGION };
enum mk_split_id { MK_SPLIT_TRAIN, MK_SPLIT_VAL, MK_SPLIT_TEST, MK_N_SPLITS };
enum mk_schedule_kind { MK_SCHED_COSINE, MK_SCHED_LINEAR, MK_SCHED_CONSTANT, MK_SCHED_WSD };
enum mk_pool_kind { MK_POOL_MEAN, MK_POOL_LAST };
enum mk_progress_kind { MK_PROGRESS_AUTO, MK_PROGRESS_BAR, MK_PROGRESS_LINES, MK_PROGRESS_NONE };
enum mk_load_kind { MK_LOAD_ALL, MK_LOAD_BACKBONE };
enum mk_best_metric { MK_BEST_NONE, MK_BEST_VAL_LOSS, MK_BEST_VAL_ACCURACY };

/* A list of strings (paths or globs) from the recipe. */
struct mk_strlist {
    char **v;
    int n;
};

struct mk_recipe_split {
    struct mk_strlist paths;  /* globs as written */
    char *labels;             /* label rule for the plugin's reader: dir, header:RE, tsv:F, none */
    int sampler;              /* enum mk_sampler_kind */
};

struct mk_recipe {
    char *path;               /* the recipe file */
    char *text;               /* its bytes, as read (saved in OUT as recipe.yaml) */
    int version;              /* schema version: 1 */

    /* model */
    char *model_from;         /* checkpoint directory, or NULL for a new model */
    int model_load;           /* enum mk_load_kind */
    int d_model, n_layer, d_state, d_conv, expand, dt_rank, vocab_size, pad_vocab_multiple;
    double norm_eps;
    int tie_embeddings;

    /* data */
    char *plugin;
    struct mk_kv *plugin_opts; /* the data keys mambakit does not read itself */
    int n_plugin_opts;
    struct mk_recipe_split split[MK_N_SPLITS];
    int split_by;              /* enum mk_split_by */
    double split_ratio[3];     /* train, val, test fractions (ratio, region) */
    uint64_t split_seed;
    struct mk_strlist split_list[MK_N_SPLITS]; /* by: list — globs taken out of train */
    int seq_len, micro_batch, global_batch;
    int64_t global_batch_tokens;
    int pack;

    /* task */
    int kind;                  /* enum mk_task_kind */
    int objective;             /* enum mk_objective (train) */
    int64_t max_steps, max_tokens;
    double epochs;
    double lr, betas[2], eps, weight_decay;
    int schedule;              /* enum mk_schedule_kind */
    double warmup, min_lr_ratio, decay_ratio;
    double grad_clip;
    int64_t eval_every, eval_batches;
    int markov_order;          /* eval: task.baseline.markov_order, 0 = no baseline */
    int head_classes, head_pool, freeze_backbone;
    int task_split;            /* classify / eval: enum mk_split_id */
    char *predictions;         /* classify output (.tsv or .jsonl), NULL: OUT/predictions.tsv */
    int num_samples, length;
    char *prompt, *prompt_file;
    double temperature, top_p, min_p, repetition_penalty;
    int top_k;
    uint64_t sample_seed;
    char *output_dir;          /* generate, NULL: OUT/samples */
    int stream;

    /* run */
    char *out;
    uint64_t seed;
    char *device;
    char *precision;
    int threads;
    int64_t ckpt_every;
    int keep_last;
    int ckpt_best;             /* run.checkpoint.best: enum mk_best_metric */
    int64_t log_every;
    int progress;              /* enum mk_progress_kind */
    double dist_bucket_mb;     /* data parallel: gradient sums in buckets of this many MiB
                                * (-1: 25 on CUDA, 0 = one sum on the CPU) */
    int dist_allreduce;        /* data parallel: enum mk_dist_wire (0 fp32, 1 bf16) */
    int dist_zero;             /* data parallel: AdamW moments sharded over the ranks (ZeRO-1) */

    /* the data plugin, loaded and created during loading (lib/plugin.h) */
    struct mk_codec *codec;
};

/* Loads, overrides and validates a recipe (see the stages above). `sets` are "a.b.c=VALUE"
 * strings. On failure *out is NULL and mk_last_error() has every problem found, one per
 * line, each as FILE:LINE:COL: message. */
mk_status mk_recipe_load(struct mk_recipe **out, const char *path, const char *const *sets,
                         int n_sets);
/* The same from text in memory (`name` is used in messages). */
mk_status mk_recipe_parse(struct mk_recipe **out, const char *name, const char *text,
                          size_t len, const char *const *sets, int n_sets);
void mk_recipe_free(struct mk_recipe *r);

/* Writes the resolved recipe (every key, defaults filled in) as YAML. */
void mk_recipe_print(const struct mk_recipe *r, FILE *f);
/* The resolved recipe as a malloc'd string (for saving in OUT). */
char *mk_recipe_resolved(const struct mk_recipe *r);

/* Names of enum values, for messages and outputs. */
const char *mk_recipe_split_name(int split);
const char *mk_recipe_kind_name(int kind); /* enum mk_task_kind: "train", ... */

/* Levenshtein distance between a and b (for "did you mean" suggestions). */
int mk_edit_distance(const char *a, const char *b);

#endif /* MK_RECIPE_H */
