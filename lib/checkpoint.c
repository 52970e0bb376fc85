/* checkpoint.c — mk_ckpt_load / mk_ckpt_save: a checkpoint directory in the Hugging Face
 * layout, config.json + model.safetensors, with MambaForCausalLM tensor names.
 *
 * Loading: config.json (either form, see config.c) gives the spec table (params.c); every
 * spec must be found in model.safetensors with exactly its shape, in F32, F16, BF16 or F64
 * (converted to the fp32 master weights). Also accepted, as published checkpoints have them:
 *  - "backbone.embedding.weight", mamba_ssm's name of the embedding;
 *  - "lm_head.weight" next to a tied embedding: transformers ties it to the embedding and
 *    ignores the stored copy, and so does this loader;
 *  - sharded checkpoints: model.safetensors.index.json and the shard files it lists.
 * Anything else is refused with a message naming the tensor: a missing tensor (and how many
 * are missing), a wrong shape (found and expected), a tensor the config does not describe
 * (and how many there are), an untied config without lm_head.weight.
 *
 * Saving writes model.safetensors (tensors in the Python library's canonical order, metadata
 * {"format": "pt"}, so the bytes are those save_pretrained would write), then config.json;
 * each file is replaced atomically. In a BF16 or F16 checkpoint A_log and D stay F32: they
 * are tiny, feed exp() and the skip connection, and mamba_ssm keeps them in fp32 for the
 * same reason. F16 refuses values beyond its range instead of storing infinities.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "safetensors.h"

#define LEGACY_EMBEDDING "backbone.embedding.weight"
#define LM_HEAD "lm_head.weight"

static mk_status join(char *buf, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
        return mk_fail(MK_ERR_INVALID, "%s/%s: path too long", dir, name);
    return MK_OK;
}

/* ---- the tensors of a checkpoint: one file or several shards ---------------------------- */

struct source {
    int n;
    struct mk_st_file *files;
};

struct found {
    const struct mk_st_file *file;
    const struct mk_st_tensor *t;
};

static void source_close(struct source *s)
{
    for (int i = 0; i < s->n; i++)
        mk_st_close(&s->files[i]);
    free(s->files);
    memset(s, 0, sizeof *s);
}

static struct found source_find(const struct source *s, const char *name)
{
    for (int i = 0; i < s->n; i++) {
        const struct mk_st_tensor *t = mk_st_find(&s->files[i], name);
        if (t)
            return (struct found){&s->files[i], t};
    }
    return (struct found){NULL, NULL};
}

static mk_status source_add(struct source *s, const char *dir, const char *name)
{
    char path[PATH_MAX];
    mk_status st = join(path, sizeof path, dir, name);
    if (st != MK_OK)
        return st;
    struct mk_st_file *f = realloc(s->files, (size_t)(s->n + 1) * sizeof *f);
    if (!f)
        return mk_fail(MK_ERR_NOMEM, "%s: out of memory", path);
    s->files = f;
    st = mk_st_open(&s->files[s->n], path);
    s->n += st == MK_OK;
    return st;
}

/* A tensor name in two shards would make the result depend on the order of the files. */
static mk_status check_no_duplicates(const struct source *s)
{
    for (int i = 1; i < s->n; i++)
        for (int j = 0; j < s->files[i].n; j++)
            for (int k = 0; k < i; k++)
                if (mk_st_find(&s->files[k], s->files[i].t[j].name))
                    return mk_fail(MK_ERR_FORMAT, "tensor \"%s\" is in both %s and %s",
                                   s->files[i].t[j].name, s->files[k].path, s->files[i].path);
    return MK_OK;
}

/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}.
 * Opens every shard named (each once) and checks that each listed tensor is where the
 * index says. Shard names must be plain file names in the checkpoint directory. */
static mk_status open_shards(struct source *s, const char *dir, const char *index_path)
{
    json_error_t err;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return mk_fail(MK_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", index_path, err.line,
                       err.column, err.text);
    const json_t *map = json_object_get(root, "weight_map");
    mk_status st = json_is_object(map) && json_object_size(map) > 0
                       ? MK_OK
                       : mk_fail(MK_ERR_FORMAT, "%s: \"weight_map\" is missing or not a "
                                 "non-empty object", index_path);
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)map, name, v) {
        const char *shard = json_string_value(v);
        if (st != MK_OK)
            break;
        if (!shard || !*shard || strchr(shard, '/') || strcmp(shard, "..") == 0)
            st = mk_fail(MK_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a file name in the "
                         "checkpoint directory", index_path, name);
        int seen = 0;
        char path[PATH_MAX];
        if (st == MK_OK)
            st = join(path, sizeof path, dir, shard);
        for (int i = 0; i < s->n && st == MK_OK && !seen; i++)
            seen = strcmp(s->files[i].path, path) == 0;
        if (st == MK_OK && !seen)
            st = source_add(s, dir, shard);
    }
    if (st == MK_OK)
        st = check_no_duplicates(s);
    json_object_foreach((json_t *)map, name, v) {
        if (st != MK_OK)
            break;
        struct found f = source_find(s, name);
        char path[PATH_MAX];
        join(path, sizeof path, dir, json_string_value(v));
        if (!f.t || strcmp(f.file->path, path) != 0)
            st = mk_fail(MK_ERR_FORMAT, "%s: weight_map puts tensor \"%s\" in %s, but that file "
                         "does not have it", index_path, name, json_string_value(v));
    }
    json_decref(root);
    return st;
}

static mk_status source_open(struct source *s, const char *dir)
{
    char path[PATH_MAX];
    memset(s, 0, sizeof *s);
    mk_status st = join(path, sizeof path, dir, "model.safetensors.index.json");
    if (st != MK_OK)
        return st;
    if (access(path, F_OK) == 0)
        st = open_shards(s, dir, path);
    else {
        st = source_add(s, dir, "model.safetensors");
        /* a PyTorch pickle is not read (it can run code); say how to convert it */
        if (st == MK_ERR_IO && join(path, sizeof path, dir, "pytorch_model.bin") == MK_OK &&
            access(path, F_OK) == 0)
            st = mk_fail(MK_ERR_UNSUPPORTED, "%s: has pytorch_model.bin but no "
                         "model.safetensors; convert it (transformers: "
                         "save_pretrained(dir, safe_serialization=True))", dir);
    }
    if (st != MK_OK)
        source_close(s);
    return st;
}

/* ---- loading ---------------------------------------------------------------------------- */

static int same_shape(const struct mk_tensor_spec *sp, const struct mk_st_tensor *t)
{
    if (sp->ndim != t->ndim)
        return 0;
    for (int i = 0; i < sp->ndim; i++)
        if (sp->shape[i] != t->shape[i])
            return 0;
    return 1;
}

/* Finds the tensor for a spec, under the legacy embedding name too. */
static mk_status find_spec(const struct source *s, const struct mk_tensor_spec *sp,
                           struct found *out)
{
    *out = source_find(s, sp->name);
    if (sp->kind != MK_P_EMBEDDING)
        return MK_OK;
    struct found legacy = source_find(s, LEGACY_EMBEDDING);
    if (out->t && legacy.t)
        return mk_fail(MK_ERR_FORMAT, "%s: has both \"%s\" and \"%s\"; expected one embedding",
                       legacy.file->path, sp->name, LEGACY_EMBEDDING);
    if (!out->t)
        *out = legacy;
    return MK_OK;
}

/* Matches every spec to a tensor (found[i] for spec i), checking shapes and dtypes, then
 * refuses tensors that match no spec. */
static mk_status match(const struct source *s, const char *dir, const struct mk_param_layout *lay,
                       const struct mk_config *cfg, struct found *found)
{
    char want[96], got[96];
    const char *where = s->n == 1 ? s->files[0].path : dir;
    int missing = 0, first_missing = -1;
    for (int i = 0; i < lay->n; i++) {
        const struct mk_tensor_spec *sp = &lay->specs[i];
        mk_status st = find_spec(s, sp, &found[i]);
        const struct mk_st_tensor *t = found[i].t;
        if (st != MK_OK)
            return st;
        if (!t) {
            missing++;
            first_missing = first_missing < 0 ? i : first_missing;
            continue;
        }
        mk_st_shape_str(want, sizeof want, sp->shape, sp->ndim);
        if (!same_shape(sp, t))
            return mk_fail(MK_ERR_FORMAT, "%s: tensor \"%s\" has shape %s, expected %s (from "
                           "config.json)", found[i].file->path, t->name,
                           mk_st_shape_str(got, sizeof got, t->shape, t->ndim), want);
        if (t->dtype != MK_F32 && t->dtype != MK_F16 && t->dtype != MK_BF16 && t->dtype != MK_F64)
            return mk_fail(MK_ERR_UNSUPPORTED, "%s: tensor \"%s\" has dtype %s; expected F32, "
                           "F16 or BF16", found[i].file->path, t->name,
                           mk_st_dtype_name(t->dtype));
    }
    if (missing) {
        const struct mk_tensor_spec *sp = &lay->specs[first_missing];
        mk_st_shape_str(want, sizeof want, sp->shape, sp->ndim);
        if (sp->kind == MK_P_LM_HEAD)
            return mk_fail(MK_ERR_FORMAT, "%s: tensor \"%s\" %s is missing: config.json has "
                           "tie_word_embeddings false, so the checkpoint must store the LM head",
                           where, sp->name, want);
        return mk_fail(MK_ERR_FORMAT, "%s: tensor \"%s\" %s is missing (%d of the %d tensors "
                       "config.json describes are missing)", where, sp->name, want, missing,
                       lay->n);
    }
    int unknown = 0;
    const struct mk_st_file *file = NULL;
    const char *first = NULL;
    for (int f = 0; f < s->n; f++)
        for (int j = 0; j < s->files[f].n; j++) {
            const char *name = s->files[f].t[j].name;
            int known = mk_param_find(lay, name) || strcmp(name, LEGACY_EMBEDDING) == 0 ||
                        (cfg->tie_embeddings && strcmp(name, LM_HEAD) == 0);
            if (!known && !unknown++) {
                file = &s->files[f];
                first = name;
            }
        }
    if (unknown)
        return mk_fail(MK_ERR_FORMAT, "%s: unknown tensor \"%s\" (%d tensor%s not part of the "
                       "model config.json describes)", file->path, first, unknown,
                       unknown == 1 ? " is" : "s are");
    return MK_OK;
}

mk_status mk_ckpt_load(struct mk_model **out, const char *dir, enum mk_device device,
                       int cuda_index)
{
    *out = NULL;
    char path[PATH_MAX];
    struct mk_config cfg;
    struct mk_param_layout lay = {0};
    struct source src = {0};
    struct found *found = NULL;
    float *block = NULL;
    struct mk_model *m = NULL;
    mk_status st = join(path, sizeof path, dir, "config.json");
    if (st == MK_OK)
        st = mk_config_load(&cfg, path);
    if (st == MK_OK)
        st = mk_param_layout_make(&lay, &cfg);
    if (st == MK_OK)
        st = source_open(&src, dir);
    if (st == MK_OK && !(found = calloc((size_t)lay.n, sizeof *found)))
        st = mk_fail(MK_ERR_NOMEM, "%s: out of memory", dir);
    if (st == MK_OK)
        st = match(&src, dir, &lay, &cfg, found);
    /* the device before the (long) read, so a missing GPU is reported at once */
    if (st == MK_OK)
        st = mk_model_create(&m, &cfg, device, cuda_index);
    if (st == MK_OK && !(block = malloc(lay.total * sizeof *block)))
        st = mk_fail(MK_ERR_NOMEM, "%s: out of memory for %zu parameters", dir, lay.total);
    for (int i = 0; i < lay.n && st == MK_OK; i++)
        st = mk_st_read_f32(found[i].file, found[i].t, block + lay.specs[i].offset);
    if (st == MK_OK)
        st = mk_model_set_params(m, block);
    if (st == MK_OK)
        *out = m;
    else
        mk_model_free(m);
    free(block);
    free(found);
    source_close(&src);
    mk_param_layout_free(&lay);
    return st;
}

/* ---- saving ----------------------------------------------------------------------------- */

/* mkdir -p: every missing component of dir is created. */
static mk_status make_dirs(const char *dir)
{
    char buf[PATH_MAX];
    struct stat sb;
    if ((size_t)snprintf(buf, sizeof buf, "%s", dir) >= sizeof buf)
        return mk_fail(MK_ERR_INVALID, "%s: path too long", dir);
    for (char *p = buf + 1; ; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return mk_fail(MK_ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mk_fail(MK_ERR_IO, "%s: exists and is not a directory", dir);
    return MK_OK;
}

/* A_log and D stay fp32 whatever the storage type (see the header comment). */
static enum mk_dtype storage_of(const struct mk_tensor_spec *sp, enum mk_dtype dtype)
{
    return sp->kind == MK_P_A_LOG || sp->kind == MK_P_D ? MK_F32 : dtype;
}

/* Narrows the tensor to 16 bits (dst, same element offsets as the float block). */
static mk_status narrow(const char *dir, const struct mk_tensor_spec *sp, const float *src,
                        uint16_t *dst, enum mk_dtype dtype)
{
    for (size_t i = 0; i < sp->numel; i++) {
        dst[i] = dtype == MK_BF16 ? mk_f32_to_bf16(src[i]) : mk_f32_to_f16(src[i]);
        if (dtype == MK_F16 && (dst[i] & 0x7fff) == 0x7c00 && isfinite(src[i]))
            return mk_fail(MK_ERR_INVALID, "%s: tensor \"%s\": element %zu = %g is beyond the F16 "
                           "range (65504); save as BF16 or F32", dir, sp->name, i,
                           (double)src[i]);
    }
    return MK_OK;
}

mk_status mk_ckpt_save(const struct mk_model *m, const char *dir, enum mk_dtype dtype)
{
    if (dtype != MK_F32 && dtype != MK_BF16 && dtype != MK_F16)
        return mk_fail(MK_ERR_INVALID, "%s: checkpoint dtype must be F32, BF16 or F16, not %s",
                       dir, mk_st_dtype_name(dtype) ? mk_st_dtype_name(dtype) : "unknown");
    const struct mk_param_layout *lay = mk_model_layout(m);
    char path[PATH_MAX];
    float *block = malloc(lay->total * sizeof *block);
    uint16_t *half = dtype == MK_F32 ? NULL : malloc(lay->total * sizeof *half);
    struct mk_st_entry *e = calloc((size_t)lay->n, sizeof *e);
    const struct mk_st_meta meta[] = {{"format", "pt"}};
    mk_status st = block && e && (dtype == MK_F32 || half)
                       ? make_dirs(dir)
                       : mk_fail(MK_ERR_NOMEM, "%s: out of memory for %zu parameters", dir,
                                 lay->total);
    if (st == MK_OK)
        st = mk_model_get_params(m, block);
    for (int i = 0; i < lay->n && st == MK_OK; i++) {
        const struct mk_tensor_spec *sp = &lay->specs[i];
        enum mk_dtype dt = storage_of(sp, dtype);
        e[i] = (struct mk_st_entry){sp->name, dt, sp->ndim, sp->shape, block + sp->offset};
        if (dt != MK_F32) {
            st = narrow(dir, sp, block + sp->offset, half + sp->offset, dt);
            e[i].data = half + sp->offset;
        }
    }
    if (st == MK_OK) {
        mk_st_sort_canonical(e, lay->n);
        st = join(path, sizeof path, dir, "model.safetensors");
    }
    if (st == MK_OK)
        st = mk_st_write(path, e, lay->n, meta, 1);
    if (st == MK_OK)
        st = join(path, sizeof path, dir, "config.json");
    if (st == MK_OK)
        st = mk_config_save_as(mk_model_config(m), path, dtype);
    free(e);
    free(half);
    free(block);
    return st;
}
