/* recipe_schema.c — the table of every recipe key, and reading / writing values through it.
 *
 * One row per key: its dotted path, type, default (as YAML text, parsed by the same code as a
 * user's value, so the defaults cannot disagree with the parser), range or choices. The order
 * of the rows is the order of the printed resolved recipe. recipes/README.md explains each key.
 */
#include "config.h"
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "recipe_schema.h"

#define OFF(field) offsetof(struct mk_recipe, field)
#define SPLIT_KEYS(name, i, def_sampler)                                                           \
    {"data." name ".paths", MK_RT_GLOBS, OFF(split[i].paths), "[]", 0, 0, NULL, 0},            \
    {"data." name ".labels", MK_RT_STR, OFF(split[i].labels), NULL, 0, 0, NULL, 0},            \
    {"data." name ".sampler", MK_RT_ENUM, OFF(split[i].sampler), def_sampler, 0, 0,              \
     "random_window|sequential|per_record", 0}

const struct mk_rkey mk_recipe_keys[] = {
    {"version", MK_RT_INT, OFF(version), "1", 1, 1, NULL, 0},
    {"model.from", MK_RT_STR, OFF(model_from), NULL, 0, 0, NULL, 0},
    {"model.load", MK_RT_ENUM, OFF(model_load), "all", 0, 0, "all|backbone", 0},
    {"model.d_model", MK_RT_INT, OFF(d_model), "0", 0, 65536, NULL, 0},
    {"model.n_layer", MK_RT_INT, OFF(n_layer), "0", 0, 1024, NULL, 0},
    {"model.d_state", MK_RT_INT, OFF(d_state), "16", 1, 1024, NULL, 0},
    {"model.d_conv", MK_RT_INT, OFF(d_conv), "4", 2, 64, NULL, 0},
    {"model.expand", MK_RT_INT, OFF(expand), "2", 1, 16, NULL, 0},
    {"model.dt_rank", MK_RT_INT, OFF(dt_rank), "0", 0, 65536, NULL, 0},
    {"model.vocab_size", MK_RT_INT, OFF(vocab_size), "0", 0, 1 << 24, NULL, 0},
    {"model.pad_vocab_multiple", MK_RT_INT, OFF(pad_vocab_multiple), "8", 1, 1024, NULL, 0},
    {"model.norm_eps", MK_RT_FLOAT, OFF(norm_eps), "1e-5", 1e-12, 1, NULL, 0},
    {"model.tie_embeddings", MK_RT_BOOL, OFF(tie_embeddings), "true", 0, 0, NULL, 0},
    {"data.plugin", MK_RT_STR, OFF(plugin), NULL, 0, 0, NULL, 0},
    SPLIT_KEYS("train", MK_SPLIT_TRAIN, "random_window"),
    SPLIT_KEYS("val", MK_SPLIT_VAL, "sequential"),
    SPLIT_KEYS("test", MK_SPLIT_TEST, "sequential"),
    {"data.split.by", MK_RT_ENUM, OFF(split_by), "none", 0, 0, "none|ratio|list|region", 0},
    {"data.split.ratio", MK_RT_FLOATS, OFF(split_ratio), "[0.9, 0.05, 0.05]", 0, 1, NULL, 3},
    {"data.split.seed", MK_RT_SEED, OFF(split_seed), "0", 0, 0, NULL, 0},
    {"data.split.val", MK_RT_GLOBS, OFF(split_list[MK_SPLIT_VAL]), "[]", 0, 0, NULL, 0},
    {"data.split.test", MK_RT_GLOBS, OFF(split_list[MK_SPLIT_TEST]), "[]", 0, 0, NULL, 0},
    {"data.seq_len", MK_RT_INT, OFF(seq_len), "1024", 2, 1 << 24, NULL, 0},
    {"data.micro_batch", MK_RT_INT, OFF(micro_batch), "8", 1, 1 << 20, NULL, 0},
    {"data.global_batch", MK_RT_INT, OFF(global_batch), "0", 0, 1 << 24, NULL, 0},
    {"data.global_batch_tokens", MK_RT_INT64, OFF(global_batch_tokens), "0", 0, 1e15, NULL, 0},
    {"data.pack", MK_RT_BOOL, OFF(pack), "true", 0, 0, NULL, 0},
    {"task.kind", MK_RT_ENUM, OFF(kind), "train", 0, 0, "train|classify|generate|eval", 0},
    {"task.objective", MK_RT_ENUM, OFF(objective), "lm", 0, 0, "lm|classify", 0},
    {"task.max_steps", MK_RT_INT64, OFF(max_steps), "0", 0, 1e15, NULL, 0},
    {"task.max_tokens", MK_RT_INT64, OFF(max_tokens), "0", 0, 1e18, NULL, 0},
    {"task.epochs", MK_RT_FLOAT, OFF(epochs), "0", 0, 1e9, NULL, 0},
    {"task.optimizer.lr", MK_RT_FLOAT, OFF(lr), "1e-3", 1e-12, 100, NULL, 0},
    {"task.optimizer.betas", MK_RT_FLOATS, OFF(betas), "[0.9, 0.95]", 0, 0.999999, NULL, 2},
    {"task.optimizer.eps", MK_RT_FLOAT, OFF(eps), "1e-8", 1e-30, 1, NULL, 0},
    {"task.optimizer.weight_decay", MK_RT_FLOAT, OFF(weight_decay), "0.1", 0, 100, NULL, 0},
    {"task.schedule.name", MK_RT_ENUM, OFF(schedule), "cosine", 0, 0,
     "cosine|linear|constant|wsd", 0},
    {"task.schedule.warmup", MK_RT_FLOAT, OFF(warmup), "0.02", 0, 1e15, NULL, 0},
    {"task.schedule.min_lr_ratio", MK_RT_FLOAT, OFF(min_lr_ratio), "0.1", 0, 1, NULL, 0},
    {"task.schedule.decay", MK_RT_FLOAT, OFF(decay_ratio), "0.2", 0, 1, NULL, 0},
    {"task.grad_clip", MK_RT_FLOAT, OFF(grad_clip), "1.0", 0, 1e12, NULL, 0},
    {"task.eval.every", MK_RT_INT64, OFF(eval_every), "0", 0, 1e15, NULL, 0},
    {"task.eval.batches", MK_RT_INT64, OFF(eval_batches), "20", 0, 1e15, NULL, 0},
    {"task.baseline.markov_order", MK_RT_INT, OFF(markov_order), "0", 0, 12, NULL, 0},
    {"task.head.classes", MK_RT_INT, OFF(head_classes), "0", 0, 1 << 20, NULL, 0},
    {"task.head.pool", MK_RT_ENUM, OFF(head_pool), "mean", 0, 0, "mean|last", 0},
    {"task.head.freeze_backbone", MK_RT_BOOL, OFF(freeze_backbone), "false", 0, 0, NULL, 0},
    {"task.split", MK_RT_ENUM, OFF(task_split), "test", 0, 0, "train|val|test", 0},
    {"task.predictions", MK_RT_STR, OFF(predictions), NULL, 0, 0, NULL, 0},
    {"task.num_samples", MK_RT_INT, OFF(num_samples), "1", 1, 1 << 20, NULL, 0},
    {"task.length", MK_RT_INT, OFF(length), "256", 1, 1 << 30, NULL, 0},
    {"task.prompt", MK_RT_STR, OFF(prompt), NULL, 0, 0, NULL, 0},
    {"task.prompt_file", MK_RT_STR, OFF(prompt_file), NULL, 0, 0, NULL, 0},
    {"task.sampling.temperature", MK_RT_FLOAT, OFF(temperature), "1.0", 0, 1e6, NULL, 0},
    {"task.sampling.top_k", MK_RT_INT, OFF(top_k), "0", 0, 1 << 24, NULL, 0},
    {"task.sampling.top_p", MK_RT_FLOAT, OFF(top_p), "1.0", 1e-9, 1, NULL, 0},
    {"task.sampling.min_p", MK_RT_FLOAT, OFF(min_p), "0", 0, 1, NULL, 0},
    {"task.sampling.repetition_penalty", MK_RT_FLOAT, OFF(repetition_penalty), "1.0", 1e-6,
     1e6, NULL, 0},
    {"task.sampling.seed", MK_RT_SEED, OFF(sample_seed), "0", 0, 0, NULL, 0},
    {"task.output", MK_RT_STR, OFF(output_dir), NULL, 0, 0, NULL, 0},
    {"task.stream", MK_RT_BOOL, OFF(stream), "true", 0, 0, NULL, 0},
    {"run.out", MK_RT_STR, OFF(out), NULL, 0, 0, NULL, 0},
    {"run.seed", MK_RT_SEED, OFF(seed), "0", 0, 0, NULL, 0},
    {"run.device", MK_RT_STR, OFF(device), "auto", 0, 0, NULL, 0},
    {"run.precision", MK_RT_STR, OFF(precision), "fp32", 0, 0, NULL, 0},
    {"run.threads", MK_RT_INT, OFF(threads), "0", 0, 4096, NULL, 0},
    {"run.checkpoint.every", MK_RT_INT64, OFF(ckpt_every), "0", 0, 1e15, NULL, 0},
    {"run.checkpoint.keep_last", MK_RT_INT, OFF(keep_last), "3", 1, 1 << 20, NULL, 0},
    {"run.checkpoint.best", MK_RT_ENUM, OFF(ckpt_best), "none", 0, 0,
     "none|val_loss|val_accuracy", 0},
    {"run.log.every", MK_RT_INT64, OFF(log_every), "10", 1, 1e15, NULL, 0},
    {"run.log.progress", MK_RT_ENUM, OFF(progress), "auto", 0, 0, "auto|bar|lines|none", 0},
    {"run.dist.bucket_mb", MK_RT_FLOAT, OFF(dist_bucket_mb), "-1", -1, 1e6, NULL, 0},
    {"run.dist.allreduce", MK_RT_ENUM, OFF(dist_allreduce), "fp32", 0, 0, "fp32|bf16", 0},
    {"run.dist.zero", MK_RT_BOOL, OFF(dist_zero), "false", 0, 0, NULL, 0},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0},
};

const struct mk_rkey *mk_rkey_find(const char *dotted)
{
    for (const struct mk_rkey *k = mk_recipe_keys; k->key; k++)
        if (!strcmp(k->key, dotted))
            return k;
    return NULL;
}

int mk_rkey_is_section(const char *prefix)
{
    size_t n = strlen(prefix);
    for (const struct mk_rkey *k = mk_recipe_keys; k->key; k++)
        if (!strncmp(k->key, prefix, n) && k->key[n] == '.')
            return 1;
    return 0;
}

int mk_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Copies the part of `key` after `parent.` up to the next dot into out (the child name). */
static int child_of(const char *key, const char *parent, size_t plen, char *out, size_t cap)
{
    if (plen && (strncmp(key, parent, plen) != 0 || key[plen] != '.'))
        return 0;
    const char *s = key + (plen ? plen + 1 : 0), *dot = strchr(s, '.');
    size_t n = dot ? (size_t)(dot - s) : strlen(s);
    if (n >= cap)
        return 0;
    memcpy(out, s, n);
    out[n] = 0;
    return 1;
}

const char *mk_rkey_suggest(const char *dotted)
{
    static _Thread_local char best[160];
    const char *dot = strrchr(dotted, '.'), *leaf = dot ? dot + 1 : dotted;
    size_t plen = dot ? (size_t)(dot - dotted) : 0;
    int best_d = 1 << 30;
    best[0] = 0;
    /* siblings: children of the same parent, by edit distance on the last part */
    for (const struct mk_rkey *k = mk_recipe_keys; k->key; k++) {
        char child[64];
        if (!child_of(k->key, dotted, plen, child, sizeof child))
            continue;
        int d = mk_edit_distance(leaf, child);
        if (d < best_d) {
            best_d = d;
            snprintf(best, sizeof best, "%.*s%s%s", (int)plen, dotted, plen ? "." : "", child);
        }
    }
    int limit = (int)strlen(leaf) / 3 + 1;
    if (best_d <= (limit < 3 ? limit : 3))
        return best;
    /* the same name in another section (run.lr → task.optimizer.lr) */
    for (const struct mk_rkey *k = mk_recipe_keys; k->key; k++) {
        const char *kd = strrchr(k->key, '.');
        if (kd && !strcmp(kd + 1, leaf)) {
            snprintf(best, sizeof best, "%s", k->key);
            return best;
        }
    }
    return NULL;
}

/* ---- reading values ---------------------------------------------------------------------- */

static int is_null(const struct mk_rnode *n)
{
    return n->kind == MK_RN_SCALAR && n->plain &&
           (!strcmp(n->value, "null") || !strcmp(n->value, "~") || !n->value[0]);
}

/* A whole-string number; integers may be written 1e6 when exact. */
static int parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static const char *type_word(enum mk_rtype t)
{
    switch (t) {
    case MK_RT_INT: case MK_RT_INT64: case MK_RT_SEED: return "an integer";
    case MK_RT_FLOAT: return "a number";
    case MK_RT_FLOATS: return "a list of numbers";
    case MK_RT_BOOL: return "true or false";
    case MK_RT_ENUM: return "one of the listed words";
    case MK_RT_STR: return "a string";
    default: return "a list of paths";
    }
}

static int check_range(const struct mk_rkey *k, const struct mk_rnode *n, double v,
                       struct mk_rerrs *e)
{
    if ((k->min != 0 || k->max != 0) && (v < k->min || v > k->max)) {
        mk_rerr(e, n, "%s: %s is out of range [%g, %g]", k->key, n->value, k->min, k->max);
        return -1;
    }
    return 0;
}

static void read_int(const struct mk_rkey *k, const struct mk_rnode *n, void *dst,
                     struct mk_rerrs *e)
{
    double v;
    if (parse_number(n->value, &v) != 0 || v != floor(v) || fabs(v) > 9.2e18 ||
        (k->type == MK_RT_SEED && v < 0)) {
        mk_rerr(e, n, "%s: expected %s, got '%s'", k->key,
                k->type == MK_RT_SEED ? "a non-negative integer" : "an integer", n->value);
        return;
    }
    if (check_range(k, n, v, e) != 0)
        return;
    if (k->type == MK_RT_INT)
        *(int *)dst = (int)v;
    else if (k->type == MK_RT_INT64)
        *(int64_t *)dst = (int64_t)v;
    else if (strspn(n->value, "0123456789") == strlen(n->value))
        *(uint64_t *)dst = strtoull(n->value, NULL, 10); /* exact beyond double's 53 bits */
    else
        *(uint64_t *)dst = (uint64_t)v;
}

static void read_float(const struct mk_rkey *k, const struct mk_rnode *n, double *dst,
                       struct mk_rerrs *e)
{
    double v;
    if (n->kind != MK_RN_SCALAR || parse_number(n->value, &v) != 0) {
        mk_rerr(e, n, "%s: expected a number, got %s%s%s", k->key,
                n->kind == MK_RN_SCALAR ? "'" : "a ", n->kind == MK_RN_SCALAR ? n->value
                : n->kind == MK_RN_MAP ? "mapping" : "list", n->kind == MK_RN_SCALAR ? "'" : "");
        return;
    }
    if (check_range(k, n, v, e) == 0)
        *dst = v;
}

static void read_enum(const struct mk_rkey *k, const struct mk_rnode *n, int *dst,
                      struct mk_rerrs *e)
{
    const char *c = k->choices, *best = NULL;
    int best_d = 1 << 30, best_len = 0;
    for (int i = 0; *c; i++) {
        const char *bar = strchr(c, '|');
        int len = bar ? (int)(bar - c) : (int)strlen(c);
        char word[64];
        snprintf(word, sizeof word, "%.*s", len, c);
        if (!strcmp(word, n->value)) {
            *dst = i;
            return;
        }
        int d = mk_edit_distance(word, n->value);
        if (d < best_d) {
            best_d = d;
            best = c;
            best_len = len;
        }
        c = bar ? bar + 1 : c + len;
    }
    if (best && best_d <= 2)
        mk_rerr(e, n, "%s: '%s' is not one of %s (did you mean '%.*s'?)", k->key, n->value,
                k->choices, best_len, best);
    else
        mk_rerr(e, n, "%s: '%s' is not one of %s", k->key, n->value, k->choices);
}

static void strlist_free(struct mk_strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* A path or glob must name at least one existing file: the error comes here, with the line. */
static void read_globs(const struct mk_rkey *k, const struct mk_rnode *n, struct mk_strlist *l,
                       struct mk_rerrs *e, int check_files)
{
    strlist_free(l);
    int count = n->kind == MK_RN_SEQ ? n->n : 1;
    if (!(l->v = calloc((size_t)count + 1, sizeof *l->v)))
        return;
    for (int i = 0; i < count; i++) {
        const struct mk_rnode *it = n->kind == MK_RN_SEQ ? n->val[i] : n;
        if (it->kind != MK_RN_SCALAR) {
            mk_rerr(e, it, "%s: expected a path or glob", k->key);
            continue;
        }
        glob_t g;
        int rc = check_files ? glob(it->value, 0, NULL, &g) : 0;
        if (rc != 0)
            mk_rerr(e, it, "%s: no file matches '%s'", k->key, it->value);
        if (check_files)
            globfree(&g);
        l->v[l->n++] = strdup(it->value);
    }
}

void mk_rkey_read(const struct mk_rkey *k, const struct mk_rnode *n, struct mk_recipe *r,
                  struct mk_rerrs *e)
{
    void *dst = (char *)r + k->offset;
    if (k->type == MK_RT_GLOBS) {
        read_globs(k, n, dst, e, n->src[0] != '@'); /* '@': a built-in default */
        return;
    }
    if (k->type == MK_RT_FLOATS) {
        if (n->kind != MK_RN_SEQ || n->n != k->count) {
            mk_rerr(e, n, "%s: expected a list of %d numbers", k->key, k->count);
            return;
        }
        for (int i = 0; i < k->count; i++)
            read_float(k, n->val[i], (double *)dst + i, e);
        return;
    }
    if (n->kind != MK_RN_SCALAR) {
        mk_rerr(e, n, "%s: expected %s, got a %s", k->key, type_word(k->type),
                n->kind == MK_RN_MAP ? "mapping" : "list");
        return;
    }
    switch (k->type) {
    case MK_RT_INT: case MK_RT_INT64: case MK_RT_SEED:
        read_int(k, n, dst, e);
        break;
    case MK_RT_FLOAT:
        read_float(k, n, dst, e);
        break;
    case MK_RT_BOOL: {
        const char *v = n->value;
        if (!strcmp(v, "true") || !strcmp(v, "yes"))
            *(int *)dst = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "no"))
            *(int *)dst = 0;
        else
            mk_rerr(e, n, "%s: expected true or false, got '%s'", k->key, v);
        break;
    }
    case MK_RT_ENUM:
        read_enum(k, n, dst, e);
        break;
    default: { /* MK_RT_STR */
        char **s = dst;
        free(*s);
        *s = is_null(n) ? NULL : strdup(n->value);
        break;
    }
    }
}

void mk_recipe_defaults(struct mk_recipe *r)
{
    struct mk_rerrs e = {0};
    for (const struct mk_rkey *k = mk_recipe_keys; k->key; k++) {
        if (!k->def)
            continue;
        struct mk_rnode *n = NULL;
        char doc[128]; /* the tree parser takes a mapping: read the default as {v: DEF} */
        snprintf(doc, sizeof doc, "v: %s", k->def);
        if (mk_rtree_parse(&n, "@default", doc, strlen(doc)) == MK_OK) {
            mk_rkey_read(k, mk_rtree_get(n, "v"), r, &e);
            mk_rtree_free(n);
        }
    }
    free(e.buf);
}

void mk_recipe_free_fields(struct mk_recipe *r)
{
    for (const struct mk_rkey *k = mk_recipe_keys; k->key; k++) {
        void *dst = (char *)r + k->offset;
        if (k->type == MK_RT_STR) {
            free(*(char **)dst);
            *(char **)dst = NULL;
        } else if (k->type == MK_RT_GLOBS) {
            strlist_free(dst);
        }
    }
}

/* ---- writing values ---------------------------------------------------------------------- */

/* A string as a YAML double-quoted scalar. */
static void write_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\x%02x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* The shortest %g form that reads back to the same double (0.95, not 0.94999999999999996). */
static void write_double(FILE *f, double v)
{
    char buf[32];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

void mk_rkey_write(const struct mk_rkey *k, const struct mk_recipe *r, FILE *f)
{
    const void *src = (const char *)r + k->offset;
    switch (k->type) {
    case MK_RT_INT: fprintf(f, "%d", *(const int *)src); break;
    case MK_RT_INT64: fprintf(f, "%lld", (long long)*(const int64_t *)src); break;
    case MK_RT_SEED: fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)src); break;
    case MK_RT_FLOAT: write_double(f, *(const double *)src); break;
    case MK_RT_BOOL: fputs(*(const int *)src ? "true" : "false", f); break;
    case MK_RT_FLOATS:
        for (int i = 0; i < k->count; i++) {
            fputs(i ? ", " : "[", f);
            write_double(f, ((const double *)src)[i]);
        }
        fputc(']', f);
        break;
    case MK_RT_ENUM: {
        const char *c = k->choices;
        for (int i = 0; i < *(const int *)src && strchr(c, '|'); i++)
            c = strchr(c, '|') + 1;
        const char *bar = strchr(c, '|');
        fprintf(f, "%.*s", bar ? (int)(bar - c) : (int)strlen(c), c);
        break;
    }
    case MK_RT_STR:
        if (*(char *const *)src)
            write_str(f, *(char *const *)src);
        else
            fputs("null", f);
        break;
    case MK_RT_GLOBS: {
        const struct mk_strlist *l = src;
        fputc('[', f);
        for (int i = 0; i < l->n; i++) {
            if (i)
                fputs(", ", f);
            write_str(f, l->v[i]);
        }
        fputc(']', f);
        break;
    }
    }
}
