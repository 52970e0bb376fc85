/* data.c — loading a recipe's split through its modality plugin into a struct mk_dataset
 * (see data.h): file lists from globs, the split rules of data.split, and the label map.
 *
 * Records come from the plugin's reader in chunks (so a genome streams); consecutive chunks
 * of one record (offset > 0) are joined into one document. Splits cut from train:
 *   ratio   record i goes to train, val or test by u = hash(split.seed, file, i) in [0, 1)
 *           against the cumulative ratios — the same record always lands in the same split;
 *   region  every record is cut into three contiguous parts of those fractions (one genome
 *           per class: held-out windows never overlap training windows);
 *   list    files matching split.val / split.test globs leave train for that split.
 */
#include "config.h"
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include "data.h"

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* capacities, kept outside the public struct: recomputed from the sizes (powers of two) */
static size_t cap_of(size_t n)
{
    size_t c = 1024;
    while (c < n)
        c *= 2;
    return n ? c : 0;
}

mk_status mk_data_add(struct mk_dataset *ds, const int32_t *tokens, const float *weights,
                      size_t n, const char *id, int label)
{
    size_t tcap = cap_of(ds->n_tokens), dcap = cap_of(ds->n_docs);
    size_t wcap = ds->weights ? tcap : 0;
    if (weights && !ds->weights) { /* the first weighted record: earlier tokens weigh 1 */
        if (grow((void **)&ds->weights, &wcap, ds->n_tokens + n, sizeof(float)) != 0)
            return mk_fail(MK_ERR_NOMEM, "out of memory loading data");
        for (size_t i = 0; i < ds->n_tokens; i++)
            ds->weights[i] = 1.0f;
    }
    if (grow((void **)&ds->tokens, &tcap, ds->n_tokens + n, sizeof(int32_t)) != 0 ||
        (ds->weights && grow((void **)&ds->weights, &wcap, ds->n_tokens + n, sizeof(float))) ||
        grow((void **)&ds->docs, &dcap, ds->n_docs + 1, sizeof(struct mk_doc)) != 0)
        return mk_fail(MK_ERR_NOMEM, "out of memory loading data");
    memcpy(ds->tokens + ds->n_tokens, tokens, n * sizeof(int32_t));
    for (size_t i = 0; ds->weights && i < n; i++)
        ds->weights[ds->n_tokens + i] = weights ? weights[i] : 1.0f;
    struct mk_doc *d = &ds->docs[ds->n_docs];
    d->start = ds->n_tokens;
    d->len = n;
    d->label = label;
    d->id = strdup(id ? id : "");
    if (!d->id)
        return mk_fail(MK_ERR_NOMEM, "out of memory loading data");
    ds->n_docs++;
    ds->n_tokens += n;
    return MK_OK;
}

void mk_data_free(struct mk_dataset *ds)
{
    for (size_t i = 0; i < ds->n_docs; i++)
        free(ds->docs[i].id);
    free(ds->docs);
    free(ds->tokens);
    free(ds->weights);
    memset(ds, 0, sizeof *ds);
}

void mk_labels_free(struct mk_labels *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = 0;
}

/* ---- one record at a time ------------------------------------------------------------- */

/* A record being assembled from chunks, with its label text. */
struct rec {
    int32_t *tok;
    float *w;
    size_t n, cap, wcap;
    int weighted;
    char *id, *label;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct loader {
    const struct mk_recipe *r;
    int split;                 /* the split being built */
    struct mk_dataset *ds;
    char **label_text;         /* [n_docs] label strings until they are mapped */
    size_t n_label_text, cap_label_text;
};

/* Adds [from, to) of the record as one document. */
static mk_status keep(struct loader *ld, const struct rec *rc, size_t from, size_t to)
{
    if (to <= from)
        return MK_OK;
    mk_status st = mk_data_add(ld->ds, rc->tok + from, rc->weighted ? rc->w + from : NULL,
                               to - from, rc->id, -1);
    if (st != MK_OK)
        return st;
    if (grow((void **)&ld->label_text, &ld->cap_label_text, ld->n_label_text + 1,
             sizeof(char *)) != 0)
        return mk_fail(MK_ERR_NOMEM, "out of memory loading labels");
    ld->label_text[ld->n_label_text++] = rc->label ? strdup(rc->label) : NULL;
    return MK_OK;
}

/* Routes a finished record by data.split (file = the path it came from, index = its number
 * in that file). `own` is 1 when the file belongs to this split as a whole. */
static mk_status route(struct loader *ld, const struct rec *rc, const char *file,
                       uint64_t index, int own)
{
    const struct mk_recipe *r = ld->r;
    if (own || r->split_by == MK_SPLIT_NONE || r->split_by == MK_SPLIT_LIST)
        return keep(ld, rc, 0, rc->n);
    const double *q = r->split_ratio;
    if (r->split_by == MK_SPLIT_RATIO) {
        uint64_t h = mix64(r->split_seed ^ mix64(hash_str(file) + index));
        double u = (double)(h >> 11) * 0x1.0p-53;
        int s = u < q[0] ? MK_SPLIT_TRAIN : u < q[0] + q[1] ? MK_SPLIT_VAL : MK_SPLIT_TEST;
        return s == ld->split ? keep(ld, rc, 0, rc->n) : MK_OK;
    }
    size_t a = (size_t)(q[0] * (double)rc->n), b = (size_t)((q[0] + q[1]) * (double)rc->n);
    size_t from = ld->split == MK_SPLIT_TRAIN ? 0 : ld->split == MK_SPLIT_VAL ? a : b;
    size_t to = ld->split == MK_SPLIT_TRAIN ? a : ld->split == MK_SPLIT_VAL ? b : rc->n;
    return keep(ld, rc, from, to);
}

static mk_status rec_append(struct rec *rc, const struct mk_record *in)
{
    if (grow((void **)&rc->tok, &rc->cap, rc->n + in->n, sizeof(int32_t)) != 0)
        return mk_fail(MK_ERR_NOMEM, "out of memory reading record %s", in->id);
    if ((in->weights || rc->weighted) &&
        grow((void **)&rc->w, &rc->wcap, rc->n + in->n, sizeof(float)) != 0)
        return mk_fail(MK_ERR_NOMEM, "out of memory reading record %s", in->id);
    if (in->weights && !rc->weighted) {
        for (size_t i = 0; i < rc->n; i++)
            rc->w[i] = 1.0f;
        rc->weighted = 1;
    }
    memcpy(rc->tok + rc->n, in->tokens, in->n * sizeof(int32_t));
    for (size_t i = 0; rc->weighted && i < in->n; i++)
        rc->w[rc->n + i] = in->weights ? in->weights[i] : 1.0f;
    rc->n += in->n;
    return MK_OK;
}

static void rec_reset(struct rec *rc)
{
    free(rc->id);
    free(rc->label);
    rc->id = rc->label = NULL;
    rc->n = 0;
    rc->weighted = 0;
}

static mk_status read_file(struct loader *ld, const char *path, const char *labels, int own)
{
    struct mk_reader *rd;
    mk_status st = mk_reader_open(&rd, ld->r->codec, path, labels, (size_t)1 << 20);
    if (st != MK_OK)
        return st;
    struct rec rc = {0};
    uint64_t index = 0;
    for (;;) {
        struct mk_record in;
        int end = 0;
        if ((st = mk_reader_next(rd, &in, &end)) != MK_OK || end)
            break;
        if (in.offset == 0) {
            rec_reset(&rc);
            rc.id = strdup(in.id ? in.id : path);
            rc.label = in.label ? strdup(in.label) : NULL;
        }
        if ((st = rec_append(&rc, &in)) != MK_OK)
            break;
        if (in.last && (st = route(ld, &rc, path, index++, own)) != MK_OK)
            break;
    }
    rec_reset(&rc);
    free(rc.tok);
    free(rc.w);
    mk_reader_close(rd);
    return st;
}

/* ---- files of a split ------------------------------------------------------------------ */

static int matches_any(const char *path, const struct mk_strlist *globs)
{
    for (int i = 0; i < globs->n; i++) {
        glob_t g;
        if (glob(globs->v[i], 0, NULL, &g) != 0)
            continue;
        int hit = 0;
        for (size_t j = 0; j < g.gl_pathc && !hit; j++)
            hit = !strcmp(g.gl_pathv[j], path);
        globfree(&g);
        if (hit)
            return 1;
    }
    return 0;
}

/* Which split a train file belongs to under split.by: list (-1: cut by records). */
static int list_split(const struct mk_recipe *r, const char *path)
{
    if (r->split_by != MK_SPLIT_LIST)
        return -1;
    for (int s = MK_SPLIT_VAL; s <= MK_SPLIT_TEST; s++)
        if (matches_any(path, &r->split_list[s]))
            return s;
    return MK_SPLIT_TRAIN;
}

static mk_status read_globs(struct loader *ld, const struct mk_strlist *globs,
                            const char *labels, int own)
{
    mk_status st = MK_OK;
    for (int i = 0; st == MK_OK && i < globs->n; i++) {
        glob_t g;
        if (glob(globs->v[i], 0, NULL, &g) != 0)
            return mk_fail(MK_ERR_IO, "no file matches '%s'", globs->v[i]);
        for (size_t j = 0; st == MK_OK && j < g.gl_pathc; j++) {
            int s = own ? ld->split : list_split(ld->r, g.gl_pathv[j]);
            if (s == ld->split || s == -1)
                st = read_file(ld, g.gl_pathv[j], labels, own || s != -1);
        }
        globfree(&g);
    }
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Turns label strings into indices, creating the sorted map when it is empty. */
static mk_status map_labels(struct loader *ld, struct mk_labels *labels)
{
    struct mk_dataset *ds = ld->ds;
    if (labels && labels->n == 0) {
        for (size_t i = 0; i < ld->n_label_text; i++) {
            const char *t = ld->label_text[i];
            if (!t || bsearch(&t, labels->names, (size_t)labels->n, sizeof(char *), cmp_str))
                continue;
            char **names = realloc(labels->names, (size_t)(labels->n + 1) * sizeof *names);
            if (!names || !(names[labels->n] = strdup(t)))
                return mk_fail(MK_ERR_NOMEM, "out of memory for labels");
            labels->names = names;
            labels->n++;
            qsort(labels->names, (size_t)labels->n, sizeof(char *), cmp_str);
        }
    }
    for (size_t i = 0; i < ds->n_docs; i++) {
        const char *t = ld->label_text[i];
        if (!t || !labels)
            continue;
        char **hit = bsearch(&t, labels->names, (size_t)labels->n, sizeof(char *), cmp_str);
        if (!hit)
            return mk_fail(MK_ERR_INVALID, "record '%s' has label '%s', which is not one of "
                           "the %d classes the classifier knows", ds->docs[i].id, t, labels->n);
        ds->docs[i].label = (int)(hit - labels->names);
    }
    return MK_OK;
}

mk_status mk_data_load(struct mk_dataset *ds, const struct mk_recipe *r, int split,
                       struct mk_labels *labels)
{
    memset(ds, 0, sizeof *ds);
    int32_t pad = mk_codec_special(r->codec, MK_TOKEN_PAD);
    ds->pad_id = pad >= 0 ? pad : 0;
    struct loader ld = {.r = r, .split = split, .ds = ds};
    const struct mk_recipe_split *own = &r->split[split];
    mk_status st;
    if (own->paths.n > 0 && (split != MK_SPLIT_TRAIN || r->split_by == MK_SPLIT_NONE))
        st = read_globs(&ld, &own->paths, own->labels, 1);
    else
        st = read_globs(&ld, &r->split[MK_SPLIT_TRAIN].paths,
                        r->split[MK_SPLIT_TRAIN].labels, 0);
    if (st == MK_OK && ds->n_tokens == 0)
        st = mk_fail(MK_ERR_INVALID, "the %s split has no data (check data.%s.paths and "
                     "data.split)", mk_recipe_split_name(split), mk_recipe_split_name(split));
    if (st == MK_OK)
        st = map_labels(&ld, labels);
    for (size_t i = 0; i < ld.n_label_text; i++)
        free(ld.label_text[i]);
    free(ld.label_text);
    if (st != MK_OK)
        mk_data_free(ds);
    return st;
}
