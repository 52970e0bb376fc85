/* test_checkpoint.c — lib/checkpoint.c: loading the transformers-made golden checkpoints,
 * saving F32 (the bytes save_pretrained writes), BF16 and F16 (reload within rounding),
 * legacy and sharded layouts, and checkpoints that must be refused with a message naming
 * the tensor.
 */
#include "ckpt_util.h"
#include <math.h>
#include <sys/stat.h>

static const char *dir;

/* dir/<name>, in a static buffer (one at a time) */
static const char *at(const char *name)
{
    static char buf[512];
    return path_in(buf, sizeof buf, dir, name);
}

static float *params_of(const struct mk_model *m)
{
    size_t n = mk_model_layout(m)->total;
    float *p = malloc(n * sizeof *p);
    if (!p || mk_model_get_params(m, p) != MK_OK)
        bail_out("cannot read the parameters: %s", mk_last_error());
    return p;
}

static int same_params(const struct mk_model *a, const struct mk_model *b)
{
    size_t n = mk_model_layout(a)->total;
    float *pa = params_of(a), *pb = params_of(b);
    int same = n == mk_model_layout(b)->total && memcmp(pa, pb, n * sizeof *pa) == 0;
    free(pa);
    free(pb);
    return same;
}

static int same_file(const char *a, const char *b)
{
    unsigned char *x, *y;
    size_t nx, ny;
    if (mk_read_file(a, &x, &nx) != MK_OK)
        return 0;
    if (mk_read_file(b, &y, &ny) != MK_OK) {
        free(x);
        return 0;
    }
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static struct mk_model *load_or_bail(const char *d)
{
    struct mk_model *m;
    if (mk_ckpt_load(&m, d, MK_DEVICE_CPU, 0) != MK_OK)
        bail_out("%s", mk_last_error());
    return m;
}

/* Every parameter equals the golden file's tensor of the same name, bit for bit. */
static void golden_load(const char *set)
{
    char gdir[512], path[512];
    struct mk_model *m;
    struct mk_st_file f;
    golden(gdir, sizeof gdir, set);
    mk_status st = mk_ckpt_load(&m, gdir, MK_DEVICE_CPU, 0);
    if (!ok(st == MK_OK, "%s: golden checkpoint loads", set)) {
        diag("%s", mk_last_error());
        return;
    }
    if (mk_st_open(&f, path_in(path, sizeof path, gdir, "model.safetensors")) != MK_OK)
        bail_out("%s", mk_last_error());
    const struct mk_param_layout *lay = mk_model_layout(m);
    float *p = params_of(m);
    int same = lay->n == f.n;
    for (int i = 0; i < lay->n; i++) {
        const struct mk_st_tensor *t = mk_st_find(&f, lay->specs[i].name);
        same &= t && memcmp(p + lay->specs[i].offset, f.data + t->begin, t->end - t->begin) == 0;
    }
    ok(same, "%s: all %d tensors equal the file's bytes", set, lay->n);
    free(p);
    mk_st_close(&f);
    mk_model_free(m);
}

/* Saved as F32, the golden checkpoints come out byte-identical (transformers wrote them). */
static void save_f32(const char *set)
{
    char gdir[512], a[512], b[512];
    golden(gdir, sizeof gdir, set);
    struct mk_model *m = load_or_bail(gdir), *back;
    mk_status st = mk_ckpt_save(m, at(set), MK_F32);
    ok(st == MK_OK && same_file(path_in(a, sizeof a, gdir, "model.safetensors"),
                                path_in(b, sizeof b, at(set), "model.safetensors")),
       "%s: saved F32 model.safetensors is byte-identical to transformers'", set);
    st = mk_ckpt_load(&back, at(set), MK_DEVICE_CPU, 0);
    ok(st == MK_OK && same_params(m, back) &&
           memcmp(mk_model_config(m), mk_model_config(back), sizeof(struct mk_config)) == 0,
       "%s: it reloads with identical parameters and config", set);
    if (st == MK_OK)
        mk_model_free(back);
    mk_model_free(m);
}

/* BF16 / F16: every tensor within half an ulp of its 16-bit type; A_log and D exact (F32). */
static void save_16(enum mk_dtype dtype)
{
    const char *name = dtype == MK_BF16 ? "bf16" : "f16";
    const float rel = dtype == MK_BF16 ? 0x1p-8f : 0x1p-11f, tiny = 0x1p-25f;
    char gdir[512], path[512];
    struct mk_model *m = load_or_bail(golden(gdir, sizeof gdir, "odd")), *back;
    mk_status st = mk_ckpt_save(m, at(name), dtype);
    if (st == MK_OK)
        st = mk_ckpt_load(&back, at(name), MK_DEVICE_CPU, 0);
    if (!ok(st == MK_OK, "%s: saved and reloaded", name)) {
        diag("%s", mk_last_error());
        mk_model_free(m);
        return;
    }
    const struct mk_param_layout *lay = mk_model_layout(m);
    float *p = params_of(m), *q = params_of(back);
    int within = 1, exact32 = 1, dtypes = 1;
    struct mk_st_file f;
    if (mk_st_open(&f, path_in(path, sizeof path, at(name), "model.safetensors")) != MK_OK)
        bail_out("%s", mk_last_error());
    for (int i = 0; i < lay->n; i++) {
        const struct mk_tensor_spec *sp = &lay->specs[i];
        int fp32 = sp->kind == MK_P_A_LOG || sp->kind == MK_P_D;
        dtypes &= mk_st_find(&f, sp->name)->dtype == (fp32 ? MK_F32 : dtype);
        for (size_t j = sp->offset; j < sp->offset + sp->numel; j++) {
            if (fp32)
                exact32 &= p[j] == q[j];
            else
                within &= fabsf(p[j] - q[j]) <= fmaxf(rel * fabsf(p[j]), tiny);
        }
    }
    ok(within && exact32 && dtypes, "%s: within rounding; A_log and D stored F32, exact", name);
    unsigned char *cfg;
    size_t len;
    const char *want = dtype == MK_BF16 ? "\"dtype\": \"bfloat16\"" : "\"dtype\": \"float16\"";
    ok(mk_read_file(path_in(path, sizeof path, at(name), "config.json"), &cfg, &len) == MK_OK &&
           strstr((char *)cfg, want),
       "%s: config.json names the storage dtype", name);
    free(cfg);
    mk_st_close(&f);
    free(p);
    free(q);
    mk_model_free(back);
    mk_model_free(m);
}

static void save_errors(void)
{
    char gdir[512];
    struct mk_model *m = load_or_bail(golden(gdir, sizeof gdir, "tiny"));
    float *p = params_of(m);
    p[mk_param_find(mk_model_layout(m), "backbone.norm_f.weight")->offset + 3] = 1e5f;
    mk_model_set_params(m, p);
    ok(mk_ckpt_save(m, at("f16big"), MK_F16) == MK_ERR_INVALID &&
           error_has("\"backbone.norm_f.weight\": element 3 = 100000 is beyond the F16 range"),
       "F16 refuses a value beyond its range, naming the tensor");
    ok(mk_ckpt_save(m, at("bf16big"), MK_BF16) == MK_OK, "BF16 stores it");
    ok(mk_ckpt_save(m, at("i32"), MK_I32) == MK_ERR_INVALID && error_has("F32, BF16 or F16"),
       "an integer checkpoint dtype is refused");
    ok(mk_ckpt_save(m, at("deep/er/dir"), MK_F32) == MK_OK &&
           access(at("deep/er/dir/config.json"), F_OK) == 0,
       "missing parent directories are created");
    ok(mk_ckpt_save(m, at("deep/er/dir/config.json"), MK_F32) == MK_ERR_IO &&
           error_has("not a directory"),
       "saving over a file is refused");
    free(p);
    mk_model_free(m);
}

/* ---- doctored checkpoints ----------------------------------------------------------------- */

struct doctored {
    struct mk_st_file f;      /* the golden tiny model.safetensors */
    struct mk_st_entry *e;    /* its tensors, to be edited */
    int n;
    struct mk_config cfg;
};

static void doctor_begin(struct doctored *d)
{
    char path[512];
    if (mk_st_open(&d->f, golden(path, sizeof path, "tiny/model.safetensors")) != MK_OK ||
        mk_config_load(&d->cfg, golden(path, sizeof path, "tiny/config.json")) != MK_OK)
        bail_out("%s", mk_last_error());
    d->e = entries_of(&d->f);
    d->n = d->f.n;
}

static void doctor_end(struct doctored *d)
{
    free(d->e);
    mk_st_close(&d->f);
}

static struct mk_st_entry *entry(struct doctored *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->e[i].name, name) == 0)
            return &d->e[i];
    bail_out("no tensor %s", name);
    return NULL;
}

/* Writes the doctored checkpoint to dir/sub (config.json: cfg_text if not NULL, else d->cfg)
 * and loads it; the model goes to *out, or is freed when out is NULL. */
static mk_status write_and_load(struct doctored *d, const char *sub, const char *cfg_text,
                                struct mk_model **out)
{
    char path[512], keep[512];
    snprintf(keep, sizeof keep, "%s", at(sub));
    mkdir(keep, 0777);
    path_in(path, sizeof path, keep, "config.json");
    if ((cfg_text ? mk_write_file_atomic(path, cfg_text, strlen(cfg_text))
                  : mk_config_save(&d->cfg, path)) != MK_OK ||
        mk_st_write(path_in(path, sizeof path, keep, "model.safetensors"), d->e, d->n, NULL, -1) !=
            MK_OK)
        bail_out("%s", mk_last_error());
    struct mk_model *m = NULL;
    mk_status st = mk_ckpt_load(&m, keep, MK_DEVICE_CPU, 0);
    if (out)
        *out = m;
    else
        mk_model_free(m);
    return st;
}

static void refusals(void)
{
    struct doctored d;
    static const int64_t s63[] = {63};
    const char *emb = "backbone.embeddings.weight";

    doctor_begin(&d);
    d.e[2] = d.e[--d.n]; /* drop backbone.layers.0.mixer.D */
    ok(write_and_load(&d, "missing", NULL, NULL) == MK_ERR_FORMAT &&
           error_has("missing/model.safetensors: tensor \"backbone.layers.0.mixer.D\" [128] is "
                     "missing (1 of the 22 tensors config.json describes are missing)"),
       "a missing tensor is named, with the count");
    doctor_end(&d);

    doctor_begin(&d);
    entry(&d, "backbone.norm_f.weight")->shape = s63;
    entry(&d, "backbone.norm_f.weight")->data = d.f.data; /* 63 floats of something */
    ok(write_and_load(&d, "shape", NULL, NULL) == MK_ERR_FORMAT &&
           error_has("tensor \"backbone.norm_f.weight\" has shape [63], expected [64]"),
       "a wrong shape is named, found and expected");
    doctor_end(&d);

    doctor_begin(&d);
    d.cfg.vocab_size = 300;
    ok(write_and_load(&d, "vocab", NULL, NULL) == MK_ERR_FORMAT &&
           error_has("\"backbone.embeddings.weight\" has shape [260, 64], expected [300, 64]"),
       "a vocab_size that disagrees with the embedding is named");
    doctor_end(&d);

    doctor_begin(&d);
    struct mk_st_entry *extra = realloc(d.e, (size_t)(d.n + 2) * sizeof *extra);
    d.e = extra;
    d.e[d.n] = d.e[0];
    d.e[d.n++].name = "extra.weight";
    d.e[d.n] = d.e[1];
    d.e[d.n++].name = "more.weight";
    ok(write_and_load(&d, "unknown", NULL, NULL) == MK_ERR_FORMAT &&
           error_has("unknown tensor \"extra.weight\" (2 tensors are not part of the model"),
       "unknown tensors are named and counted");
    doctor_end(&d);

    doctor_begin(&d);
    d.cfg.tie_embeddings = 0;
    ok(write_and_load(&d, "untied", NULL, NULL) == MK_ERR_FORMAT &&
           error_has("tensor \"lm_head.weight\" [260, 64] is missing: config.json has "
                     "tie_word_embeddings false"),
       "an untied config without lm_head.weight is refused");
    doctor_end(&d);

    doctor_begin(&d);
    entry(&d, "backbone.norm_f.weight")->dtype = MK_I32;
    ok(write_and_load(&d, "int", NULL, NULL) == MK_ERR_UNSUPPORTED &&
           error_has("\"backbone.norm_f.weight\" has dtype I32; expected F32, F16 or BF16"),
       "an integer tensor is refused");
    doctor_end(&d);

    doctor_begin(&d);
    entry(&d, emb)->name = "backbone.embedding.weight";
    struct mk_model *legacy, *gold;
    char gdir[512];
    mk_status st = write_and_load(&d, "legacy", NULL, &legacy);
    gold = load_or_bail(golden(gdir, sizeof gdir, "tiny"));
    ok(st == MK_OK && same_params(legacy, gold), "mamba_ssm's backbone.embedding.weight loads");
    if (st == MK_OK)
        mk_model_free(legacy);
    /* a mamba_ssm checkpoint: its config form, its embedding name, vocab 257 padded to 260 */
    st = write_and_load(&d, "mamba_ssm", "{\"d_model\": 64, \"n_layer\": 2, \"vocab_size\": 257, "
                        "\"ssm_cfg\": {}, \"rms_norm\": true, \"residual_in_fp32\": true, "
                        "\"fused_add_norm\": true, \"pad_vocab_size_multiple\": 4, "
                        "\"tie_embeddings\": true}", &legacy);
    ok(st == MK_OK && same_params(legacy, gold) && mk_model_config(legacy)->vocab_size == 260,
       "a mamba_ssm checkpoint (its config form and names) loads");
    if (st == MK_OK)
        mk_model_free(legacy);
    extra = realloc(d.e, (size_t)(d.n + 1) * sizeof *extra);
    d.e = extra;
    d.e[d.n] = *entry(&d, "backbone.embedding.weight");
    d.e[d.n++].name = emb;
    ok(write_and_load(&d, "both", NULL, NULL) == MK_ERR_FORMAT && error_has("has both"),
       "both embedding names at once are refused");
    d.e[d.n - 1].name = "lm_head.weight";
    st = write_and_load(&d, "tied_head", NULL, &legacy);
    ok(st == MK_OK && same_params(legacy, gold),
       "a stored lm_head.weight next to a tied embedding is ignored");
    if (st == MK_OK)
        mk_model_free(legacy);
    mk_model_free(gold);
    doctor_end(&d);
}

static void missing_files(void)
{
    struct mk_model *m;
    char path[512];
    mkdir(at("empty"), 0777);
    ok(mk_ckpt_load(&m, at("empty"), MK_DEVICE_CPU, 0) == MK_ERR_IO &&
           error_has("empty/config.json: cannot open") && m == NULL,
       "no config.json: an I/O error naming it");
    struct mk_config c;
    mk_config_default(&c, 64, 2, 260);
    mk_config_save(&c, path_in(path, sizeof path, at("empty"), "config.json"));
    ok(mk_ckpt_load(&m, at("empty"), MK_DEVICE_CPU, 0) == MK_ERR_IO &&
           error_has("empty/model.safetensors: cannot open"),
       "no model.safetensors: an I/O error naming it");
    FILE *fp = fopen(path_in(path, sizeof path, at("empty"), "pytorch_model.bin"), "w");
    if (fp)
        fclose(fp);
    ok(mk_ckpt_load(&m, at("empty"), MK_DEVICE_CPU, 0) == MK_ERR_UNSUPPORTED &&
           error_has("has pytorch_model.bin but no model.safetensors"),
       "a pytorch_model.bin-only directory says how to convert it");
    char gdir[512];
    unsigned char *raw;
    size_t len;
    if (mk_read_file(golden(gdir, sizeof gdir, "tiny/model.safetensors"), &raw, &len) != MK_OK ||
        mk_write_file_atomic(path_in(path, sizeof path, at("empty"), "model.safetensors"), raw,
                             len / 2) != MK_OK)
        bail_out("%s", mk_last_error());
    free(raw);
    ok(mk_ckpt_load(&m, at("empty"), MK_DEVICE_CPU, 0) == MK_ERR_FORMAT &&
           error_has("empty/model.safetensors: tensor") && error_has("run past the end"),
       "a truncated model.safetensors is refused, naming the file and a tensor");
}

/* The golden tiny tensors split over two shards with an index, as the Hub's large models. */
static void sharded(void)
{
    struct doctored d;
    char path[512], index[8192];
    doctor_begin(&d);
    mkdir(at("shards"), 0777);
    int half = d.n / 2, k = 0;
    mk_config_save(&d.cfg, path_in(path, sizeof path, at("shards"), "config.json"));
    mk_st_write(path_in(path, sizeof path, at("shards"), "model-00001-of-00002.safetensors"), d.e,
                half, NULL, -1);
    mk_st_write(path_in(path, sizeof path, at("shards"), "model-00002-of-00002.safetensors"),
                d.e + half, d.n - half, NULL, -1);
    k += snprintf(index + k, sizeof index - (size_t)k, "{\"metadata\": {}, \"weight_map\": {");
    for (int i = 0; i < d.n; i++)
        k += snprintf(index + k, sizeof index - (size_t)k, "%s\"%s\": \"model-0000%d-of-00002."
                      "safetensors\"", i ? ", " : "", d.e[i].name, i < half ? 1 : 2);
    snprintf(index + k, sizeof index - (size_t)k, "}}");
    path_in(path, sizeof path, at("shards"), "model.safetensors.index.json");
    mk_write_file_atomic(path, index, strlen(index));

    struct mk_model *m, *gold;
    char gdir[512];
    gold = load_or_bail(golden(gdir, sizeof gdir, "tiny"));
    mk_status st = mk_ckpt_load(&m, at("shards"), MK_DEVICE_CPU, 0);
    ok(st == MK_OK && same_params(m, gold), "a sharded checkpoint loads");
    if (st == MK_OK)
        mk_model_free(m);

    char *wrong = strstr(index, "00001-of"); /* the first tensor said to be in shard 2 */
    wrong[4] = '2';
    mk_write_file_atomic(path, index, strlen(index));
    ok(mk_ckpt_load(&m, at("shards"), MK_DEVICE_CPU, 0) == MK_ERR_FORMAT &&
           error_has("weight_map puts tensor \"backbone.embeddings.weight\" in "
                     "model-00002-of-00002.safetensors, but that file does not have it"),
       "an index that misplaces a tensor is refused");
    memcpy(wrong - 6, "../x", 4);
    mk_write_file_atomic(path, index, strlen(index));
    ok(mk_ckpt_load(&m, at("shards"), MK_DEVICE_CPU, 0) == MK_ERR_FORMAT &&
           error_has("is not a file name in the checkpoint directory"),
       "an index pointing outside the directory is refused");
    mk_model_free(gold);
    doctor_end(&d);
}

int main(void)
{
    dir = scratch_dir();
    plan(4 + 4 + 6 + 5 + 10 + 4 + 3);
    golden_load("tiny");
    golden_load("odd");
    save_f32("tiny");
    save_f32("odd");
    save_16(MK_BF16);
    save_16(MK_F16);
    save_errors();
    refusals();
    missing_files();
    sharded();
    return exit_status();
}
