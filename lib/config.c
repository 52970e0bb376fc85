/* config.c — struct mk_config: defaults, validation, and config.json reading and writing.
 *
 * mk_config_load accepts the two forms in which Mamba-1 checkpoints are published:
 *
 *  (a) Hugging Face MambaConfig (recognised by "hidden_size"), as written by transformers'
 *      save_pretrained. Missing fields take MambaConfig's own defaults (use_bias true,
 *      initializer_range 0.1, num_hidden_layers 32, ...), because that is what transformers
 *      would build from the same file. vocab_size is kept as given: it is the number of
 *      embedding rows. "time_step_rank" may be "auto" (= ceil(hidden_size / 16)).
 *      intermediate_size, when absent, is expand * hidden_size; expand, when absent, is
 *      intermediate_size / hidden_size (or 2).
 *  (b) mamba_ssm MambaConfig (recognised by "d_model"): d_model, n_layer, vocab_size,
 *      ssm_cfg {d_state, d_conv, expand, dt_rank, dt_min, dt_max, dt_init, dt_scale,
 *      dt_init_floor, bias, conv_bias}, ... Missing fields take mamba_ssm's defaults. Here the
 *      embedding has vocab_size rounded up to pad_vocab_size_multiple rows, because
 *      mamba_ssm pads (50277 -> 50280), so that is the vocab_size stored in mk_config.
 *
 * Unknown keys. Each form is read the way its own library reads it:
 *  - Hugging Face configs carry many generic PretrainedConfig fields (architectures, dtype,
 *    transformers_version, use_cache, output_*, id2label, ...), and transformers accepts any
 *    extra key, so unknown keys are ignored there. What would change the architecture is
 *    refused: model_type other than "mamba" (mamba2, falcon_mamba, ...), hidden_act other
 *    than "silu".
 *  - mamba_ssm builds its MambaConfig dataclass and Mamba module from the keys, so an
 *    unknown key there is an error in mamba_ssm too; it is refused here, naming the key.
 *    Architecture changes are refused with a reason: ssm_cfg.layer other than "Mamba1",
 *    d_intermediate != 0 (an MLP after each mixer), a non-empty attn_layer_idx (hybrid
 *    attention layers), rms_norm false (LayerNorm).
 *  - residual_in_fp32 false is accepted and read as true: mambakit always keeps the residual
 *    stream in fp32, which differs from a half-precision residual only by rounding.
 * Wrong JSON types, out-of-range values and syntax errors are refused with the file name
 * and the key (and line:column for syntax errors).
 *
 * mk_config_save writes the Hugging Face form with every MambaConfig field, pretty-printed
 * with sorted keys like transformers does, so MambaForCausalLM.from_pretrained loads it.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "safetensors.h"

/* Upper limits: generous for any published model, small enough that every per-dimension
 * size fits an int and every element count fits size_t without overflow. */
#define MAX_DIM (1 << 16)     /* d_model, dt_rank */
#define MAX_INNER (1 << 22)   /* d_inner */
#define MAX_LAYERS (1 << 12)
#define MAX_STATE (1 << 10)
#define MAX_CONV 64
#define MAX_EXPAND 64
#define MAX_VOCAB (1 << 24)

enum kind { K_INT, K_BOOL, K_FLOAT, K_TOKEN };

/* One mk_config member: its names in both file forms and its range. `ssm` is the mamba_ssm
 * key ("ssm_cfg.x" for a key of the ssm_cfg object), NULL where mamba_ssm has no such key.
 * Two fields need more than a type and a range to be read (time_step_rank: an integer or
 * "auto"; time_step_init_scheme: "random" or "constant", stored as 1 or 0) and are read by
 * dedicated code; the table still gives their names and ranges. */
struct field {
    const char *member; /* mk_config member, for messages about a struct */
    const char *hf;     /* Hugging Face key */
    const char *ssm;    /* mamba_ssm key */
    enum kind kind;
    size_t off;
    double lo, hi;      /* inclusive; K_TOKEN: [-1, vocab_size - 1], set at check time */
};

#define F(member, hf, ssm, kind, lo, hi) \
    {#member, hf, ssm, kind, offsetof(struct mk_config, member), lo, hi}
static const struct field fields[] = {
    F(d_model, "hidden_size", "d_model", K_INT, 1, MAX_DIM),
    F(n_layer, "num_hidden_layers", "n_layer", K_INT, 1, MAX_LAYERS),
    F(d_state, "state_size", "ssm_cfg.d_state", K_INT, 1, MAX_STATE),
    F(d_conv, "conv_kernel", "ssm_cfg.d_conv", K_INT, 1, MAX_CONV),
    F(expand, "expand", "ssm_cfg.expand", K_INT, 1, MAX_EXPAND),
    F(d_inner, "intermediate_size", NULL, K_INT, 1, MAX_INNER),
    F(dt_rank, "time_step_rank", "ssm_cfg.dt_rank", K_INT, 1, MAX_DIM),
    F(vocab_size, "vocab_size", "vocab_size", K_INT, 1, MAX_VOCAB),
    F(pad_vocab_size_multiple, "pad_vocab_size_multiple", "pad_vocab_size_multiple", K_INT, 1,
      MAX_DIM),
    F(norm_eps, "layer_norm_epsilon", NULL, K_FLOAT, FLT_TRUE_MIN, 1),
    F(use_bias, "use_bias", "ssm_cfg.bias", K_BOOL, 0, 1),
    F(use_conv_bias, "use_conv_bias", "ssm_cfg.conv_bias", K_BOOL, 0, 1),
    F(residual_in_fp32, "residual_in_fp32", "residual_in_fp32", K_BOOL, 1, 1),
    F(tie_embeddings, "tie_word_embeddings", "tie_embeddings", K_BOOL, 0, 1),
    F(dt_min, "time_step_min", "ssm_cfg.dt_min", K_FLOAT, FLT_TRUE_MIN, FLT_MAX),
    F(dt_max, "time_step_max", "ssm_cfg.dt_max", K_FLOAT, FLT_TRUE_MIN, FLT_MAX),
    F(dt_init_floor, "time_step_floor", "ssm_cfg.dt_init_floor", K_FLOAT, 0, FLT_MAX),
    F(dt_scale, "time_step_scale", "ssm_cfg.dt_scale", K_FLOAT, 0, FLT_MAX),
    F(dt_init_random, "time_step_init_scheme", "ssm_cfg.dt_init", K_BOOL, 0, 1),
    F(initializer_range, "initializer_range", NULL, K_FLOAT, 0, FLT_MAX),
    F(bos_token_id, "bos_token_id", NULL, K_TOKEN, 0, 0),
    F(eos_token_id, "eos_token_id", NULL, K_TOKEN, 0, 0),
    F(pad_token_id, "pad_token_id", NULL, K_TOKEN, 0, 0),
};
#undef F
enum { N_FIELDS = (int)(sizeof fields / sizeof fields[0]) };

static int *int_at(struct mk_config *c, const struct field *f)
{
    return (int *)((char *)c + f->off);
}

static float *float_at(struct mk_config *c, const struct field *f)
{
    return (float *)((char *)c + f->off);
}

static const struct field *field_at(size_t off)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (fields[i].off == off)
            return &fields[i];
    return NULL;
}
#define FIELD(member) field_at(offsetof(struct mk_config, member))

static double value_of(const struct mk_config *c, const struct field *f)
{
    const char *p = (const char *)c + f->off;
    return f->kind == K_FLOAT ? (double)*(const float *)p : (double)*(const int *)p;
}

/* ---- defaults, validation ------------------------------------------------------------ */

void mk_config_default(struct mk_config *cfg, int d_model, int n_layer, int vocab_size)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->d_model = d_model;
    cfg->n_layer = n_layer;
    cfg->d_state = 16;
    cfg->d_conv = 4;
    cfg->expand = 2;
    cfg->d_inner = 2 * d_model;
    cfg->dt_rank = (d_model + 15) / 16;
    cfg->vocab_size = vocab_size;
    cfg->pad_vocab_size_multiple = 8;
    cfg->norm_eps = 1e-5f;
    cfg->use_bias = 0;
    cfg->use_conv_bias = 1;
    cfg->residual_in_fp32 = 1;
    cfg->tie_embeddings = 1;
    cfg->dt_min = 1e-3f;
    cfg->dt_max = 0.1f;
    cfg->dt_init_floor = 1e-4f;
    cfg->dt_scale = 1.0f;
    cfg->dt_init_random = 1;
    cfg->initializer_range = 0.02f;
    cfg->bos_token_id = 0;
    cfg->eos_token_id = 0;
    cfg->pad_token_id = 0;
}

/* The range of f in configuration c (token ids depend on vocab_size). */
static void range_of(const struct mk_config *c, const struct field *f, double *lo, double *hi)
{
    *lo = f->lo;
    *hi = f->hi;
    if (f->kind == K_TOKEN) {
        *lo = -1;
        *hi = (double)c->vocab_size - 1;
    }
}

/* "an integer in [1, 65536]", "a number in (0, 1]", "a number > 0", ...: what a value of
 * this kind and range must be. FLT_TRUE_MIN stands for "> 0", FLT_MAX for "no upper limit". */
static const char *describe(enum kind kind, double lo, double hi, char *buf, size_t size)
{
    const char *what = kind == K_FLOAT ? "a number" : "an integer";
    if (kind == K_BOOL)
        snprintf(buf, size, "0 or 1");
    else if (lo == FLT_TRUE_MIN && hi == FLT_MAX)
        snprintf(buf, size, "%s > 0", what);
    else if (hi == FLT_MAX)
        snprintf(buf, size, "%s >= %.10g", what, lo);
    else if (lo == FLT_TRUE_MIN)
        snprintf(buf, size, "%s in (0, %.10g]", what, hi);
    else
        snprintf(buf, size, "%s in [%.10g, %.10g]", what, lo, hi);
    return buf;
}

/* How a field is named in messages: by the struct member and its Hugging Face key for a
 * config built in code, by the key as written in the file for a loaded one. */
enum naming { NAME_STRUCT, NAME_HF, NAME_SSM };

static const char *label(const struct field *f, enum naming how, char *buf, size_t size)
{
    if (how == NAME_STRUCT)
        snprintf(buf, size, "%s (%s)", f->member, f->hf);
    else
        snprintf(buf, size, "\"%s\"", how == NAME_SSM && f->ssm ? f->ssm : f->hf);
    return buf;
}

/* mk_config_validate, with messages starting with `who` (the file, or "config"). */
static mk_status validate(const struct mk_config *cfg, const char *who, enum naming how)
{
    char a[96], b[96], c[96];
    for (int i = 0; i < N_FIELDS; i++) {
        const struct field *f = &fields[i];
        double v = value_of(cfg, f), lo, hi;
        range_of(cfg, f, &lo, &hi);
        if (v >= lo && v <= hi) /* also refuses NaN */
            continue;
        if (f == FIELD(residual_in_fp32))
            return mk_fail(MK_ERR_INVALID, "%s: residual_in_fp32 is %g; it must be 1 (mambakit "
                           "always keeps the residual stream in fp32)", who, v);
        return mk_fail(MK_ERR_INVALID, "%s: %s is %.9g; expected %s", who,
                       label(f, how, a, sizeof a), v, describe(f->kind, lo, hi, b, sizeof b));
    }
    if ((long long)cfg->expand * cfg->d_model != cfg->d_inner)
        return mk_fail(MK_ERR_INVALID, "%s: %s is %d; expected %s * %s = %d * %d = %lld", who,
                       label(FIELD(d_inner), how, a, sizeof a), cfg->d_inner,
                       label(FIELD(expand), how, b, sizeof b),
                       label(FIELD(d_model), how, c, sizeof c), cfg->expand, cfg->d_model,
                       (long long)cfg->expand * cfg->d_model);
    if (cfg->dt_max < cfg->dt_min)
        return mk_fail(MK_ERR_INVALID, "%s: %s %g is below %s %g", who,
                       label(FIELD(dt_max), how, a, sizeof a), (double)cfg->dt_max,
                       label(FIELD(dt_min), how, b, sizeof b), (double)cfg->dt_min);
    return MK_OK;
}

mk_status mk_config_validate(const struct mk_config *cfg)
{
    return validate(cfg, "config", NAME_STRUCT);
}

int mk_config_padded_vocab(int vocab_size, int multiple)
{
    if (vocab_size <= 0 || multiple <= 1)
        return vocab_size;
    long long v = ((long long)vocab_size + multiple - 1) / multiple * multiple;
    return v > INT_MAX ? -1 : (int)v;
}

/* ---- reading -------------------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Where a value came from, for messages: the file and the key as written in it. */
struct src {
    const char *path;
    const char *key;
};

static mk_status bad_type(struct src s, const json_t *v, const char *expected)
{
    return mk_fail(MK_ERR_FORMAT, "%s: \"%s\": expected %s, found %s", s.path, s.key, expected,
                   type_name(v));
}

static mk_status out_of_range(struct src s, double v, enum kind kind, double lo, double hi)
{
    char want[96];
    return mk_fail(MK_ERR_INVALID, "%s: \"%s\": %.10g is out of range: expected %s", s.path,
                   s.key, v, describe(kind, lo, hi, want, sizeof want));
}

/* An integer (a real with an integral value is accepted: Python writes 2.0 for expand=2.0). */
static mk_status read_int(struct src s, const json_t *v, double lo, double hi, int *out)
{
    double x;
    if (json_is_integer(v))
        x = (double)json_integer_value(v);
    else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v))
        x = json_real_value(v);
    else
        return bad_type(s, v, "an integer");
    if (!(x >= lo && x <= hi))
        return out_of_range(s, x, K_INT, lo, hi);
    *out = (int)x;
    return MK_OK;
}

static mk_status read_value(struct src s, const json_t *v, const struct field *f,
                            struct mk_config *c)
{
    switch (f->kind) {
    case K_INT:
        return read_int(s, v, f->lo, f->hi, int_at(c, f));
    case K_TOKEN: /* null (no such token) is stored as -1; the upper bound waits for vocab */
        if (json_is_null(v)) {
            *int_at(c, f) = -1;
            return MK_OK;
        }
        return read_int(s, v, -1, MAX_VOCAB - 1, int_at(c, f));
    case K_BOOL:
        if (!json_is_boolean(v))
            return bad_type(s, v, "true or false");
        *int_at(c, f) = json_is_true(v);
        return MK_OK;
    case K_FLOAT: {
        if (!json_is_number(v))
            return bad_type(s, v, "a number");
        double x = json_number_value(v);
        if (!(x >= f->lo && x <= f->hi))
            return out_of_range(s, x, K_FLOAT, f->lo, f->hi);
        *float_at(c, f) = (float)x;
        return MK_OK;
    }
    }
    return MK_OK;
}

/* time_step_rank / ssm_cfg.dt_rank: a positive integer or "auto" (= ceil(d_model / 16)). */
static mk_status read_dt_rank(struct src s, const json_t *v, struct mk_config *c)
{
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "auto") != 0)
            return mk_fail(MK_ERR_FORMAT, "%s: \"%s\": expected an integer or \"auto\", found "
                           "\"%s\"", s.path, s.key, json_string_value(v));
        c->dt_rank = (c->d_model + 15) / 16;
        return MK_OK;
    }
    return read_int(s, v, 1, MAX_DIM, &c->dt_rank);
}

/* time_step_init_scheme / ssm_cfg.dt_init: "random" or "constant". */
static mk_status read_dt_init(struct src s, const json_t *v, struct mk_config *c)
{
    const char *str = json_string_value(v);
    if (!str)
        return bad_type(s, v, "\"random\" or \"constant\"");
    if (strcmp(str, "random") != 0 && strcmp(str, "constant") != 0)
        return mk_fail(MK_ERR_INVALID, "%s: \"%s\": expected \"random\" or \"constant\", found "
                       "\"%s\"", s.path, s.key, str);
    c->dt_init_random = strcmp(str, "random") == 0;
    return MK_OK;
}

/* A key that must be a given string, or absent (model_type, hidden_act, ssm_cfg.layer). */
static mk_status require_string(struct src s, const json_t *obj, const char *want,
                                const char *why)
{
    const char *dot = strrchr(s.key, '.'); /* "ssm_cfg.layer" is "layer" in ssm_cfg */
    const json_t *v = json_object_get(obj, dot ? dot + 1 : s.key);
    if (!v)
        return MK_OK;
    if (!json_is_string(v))
        return bad_type(s, v, "a string");
    if (strcmp(json_string_value(v), want) != 0)
        return mk_fail(MK_ERR_UNSUPPORTED, "%s: \"%s\" is \"%s\"; mambakit supports only \"%s\" "
                       "(%s)", s.path, s.key, json_string_value(v), want, why);
    return MK_OK;
}

/* Reads the table fields named in one form: `key_of` picks the field's key in that form;
 * `obj` is the object it lives in. dt_rank needs d_model, so it is read after the loop. */
static mk_status read_fields(const char *path, const json_t *obj, const char *prefix,
                             struct mk_config *c, int ssm_form)
{
    const json_t *dt_rank = NULL;
    struct src dt_rank_src = {path, NULL};
    size_t plen = strlen(prefix);
    for (int i = 0; i < N_FIELDS; i++) {
        const struct field *f = &fields[i];
        const char *key = ssm_form ? f->ssm : f->hf;
        if (!key || strncmp(key, prefix, plen) != 0 || strchr(key + plen, '.'))
            continue;
        struct src s = {path, key};
        const json_t *v = json_object_get(obj, key + plen);
        if (!v)
            continue;
        mk_status st;
        if (f == FIELD(dt_rank)) {
            dt_rank = v;
            dt_rank_src = s;
            continue;
        }
        if (f == FIELD(dt_init_random))
            st = read_dt_init(s, v, c);
        else
            st = read_value(s, v, f, c);
        if (st != MK_OK)
            return st;
    }
    return dt_rank ? read_dt_rank(dt_rank_src, dt_rank, c) : MK_OK;
}

/* residual_in_fp32 false: see the header comment. */
static void residual_always_fp32(struct mk_config *c)
{
    c->residual_in_fp32 = 1;
}

static mk_status load_hf(struct mk_config *c, const char *path, const json_t *root)
{
    /* transformers' MambaConfig defaults */
    mk_config_default(c, 768, 32, 50280);
    c->use_bias = 1;
    c->initializer_range = 0.1f;
    mk_status st = require_string((struct src){path, "model_type"}, root, "mamba",
                                  "Mamba-1 language models");
    if (st == MK_OK)
        st = require_string((struct src){path, "hidden_act"}, root, "silu",
                            "the activation of the Mamba block");
    if (st == MK_OK)
        st = read_fields(path, root, "", c, 0);
    if (st != MK_OK)
        return st;
    if (!json_object_get(root, "time_step_rank"))
        c->dt_rank = (c->d_model + 15) / 16;
    int has_expand = json_object_get(root, "expand") != NULL;
    if (!json_object_get(root, "intermediate_size"))
        c->d_inner = c->expand * c->d_model;
    else if (!has_expand && c->d_inner % c->d_model == 0)
        c->expand = c->d_inner / c->d_model;
    residual_always_fp32(c);
    return MK_OK;
}

/* mamba_ssm keys read with a meaning outside the table, or only checked. */
static const char *const ssm_top_extra[] = {"ssm_cfg", "rms_norm", "fused_add_norm",
                                            "d_intermediate", "attn_layer_idx", "attn_cfg"};
static const char *const ssm_cfg_extra[] = {"layer", "use_fast_path"};

/* Refuses a key of `obj` that is neither a table key with this prefix nor in `extra`. */
static mk_status refuse_unknown(const char *path, const json_t *obj, const char *prefix,
                                const char *const *extra, int n_extra)
{
    const char *key;
    const json_t *v;
    size_t plen = strlen(prefix);
    json_object_foreach((json_t *)obj, key, v) {
        int known = 0;
        for (int i = 0; i < N_FIELDS && !known; i++)
            known = fields[i].ssm && strncmp(fields[i].ssm, prefix, plen) == 0 &&
                    !strchr(fields[i].ssm + plen, '.') && strcmp(fields[i].ssm + plen, key) == 0;
        for (int i = 0; i < n_extra && !known; i++)
            known = strcmp(extra[i], key) == 0;
        if (!known)
            return mk_fail(MK_ERR_FORMAT, "%s: unknown mamba_ssm config key \"%s%s\"", path,
                           prefix, key);
    }
    return MK_OK;
}

static mk_status check_ssm_architecture(const char *path, const json_t *root,
                                        const json_t *ssm_cfg)
{
    const json_t *v;
    mk_status st = require_string((struct src){path, "ssm_cfg.layer"}, ssm_cfg, "Mamba1",
                                  "Mamba2 blocks are a different architecture");
    if (st != MK_OK)
        return st;
    if ((v = json_object_get(root, "rms_norm")) && !json_is_true(v))
        return json_is_false(v) ? mk_fail(MK_ERR_UNSUPPORTED, "%s: \"rms_norm\" is false; "
                                          "mambakit supports only RMSNorm", path)
                                : bad_type((struct src){path, "rms_norm"}, v, "true or false");
    if ((v = json_object_get(root, "fused_add_norm")) && !json_is_boolean(v))
        return bad_type((struct src){path, "fused_add_norm"}, v, "true or false");
    if ((v = json_object_get(root, "d_intermediate"))) {
        int d = 0;
        st = read_int((struct src){path, "d_intermediate"}, v, 0, INT_MAX, &d);
        if (st != MK_OK)
            return st;
        if (d != 0)
            return mk_fail(MK_ERR_UNSUPPORTED, "%s: \"d_intermediate\" is %d; mambakit supports "
                           "only 0 (no MLP after the mixer)", path, d);
    }
    if ((v = json_object_get(root, "attn_layer_idx"))) {
        if (!json_is_array(v))
            return bad_type((struct src){path, "attn_layer_idx"}, v, "an array");
        if (json_array_size(v) != 0)
            return mk_fail(MK_ERR_UNSUPPORTED, "%s: \"attn_layer_idx\" lists %zu attention "
                           "layers; mambakit supports only pure Mamba models (an empty list)",
                           path, json_array_size(v));
    }
    if ((v = json_object_get(root, "attn_cfg")) && !json_is_object(v))
        return bad_type((struct src){path, "attn_cfg"}, v, "an object");
    if ((v = json_object_get(ssm_cfg, "use_fast_path")) && !json_is_boolean(v))
        return bad_type((struct src){path, "ssm_cfg.use_fast_path"}, v, "true or false");
    return MK_OK;
}

static mk_status load_ssm(struct mk_config *c, const char *path, const json_t *root)
{
    /* mamba_ssm's MambaConfig and Mamba defaults */
    mk_config_default(c, 2560, 64, 50277);
    /* ssm_cfg may be absent: jansson's getters and iterators treat NULL as an empty object */
    const json_t *ssm_cfg = json_object_get(root, "ssm_cfg");
    mk_status st = MK_OK;
    if (ssm_cfg && !json_is_object(ssm_cfg))
        st = bad_type((struct src){path, "ssm_cfg"}, ssm_cfg, "an object");
    if (st == MK_OK)
        st = refuse_unknown(path, root, "", ssm_top_extra,
                            (int)(sizeof ssm_top_extra / sizeof *ssm_top_extra));
    if (st == MK_OK)
        st = refuse_unknown(path, ssm_cfg, "ssm_cfg.", ssm_cfg_extra,
                            (int)(sizeof ssm_cfg_extra / sizeof *ssm_cfg_extra));
    if (st == MK_OK)
        st = check_ssm_architecture(path, root, ssm_cfg);
    if (st == MK_OK)
        st = read_fields(path, root, "", c, 1);
    if (st == MK_OK)
        st = read_fields(path, ssm_cfg, "ssm_cfg.", c, 1);
    if (st != MK_OK)
        return st;
    c->d_inner = c->expand * c->d_model;
    if (!json_object_get(ssm_cfg, "dt_rank"))
        c->dt_rank = (c->d_model + 15) / 16;
    residual_always_fp32(c);
    int v = mk_config_padded_vocab(c->vocab_size, c->pad_vocab_size_multiple);
    if (v < 0 || v > MAX_VOCAB)
        return out_of_range((struct src){path, "vocab_size"}, c->vocab_size, K_INT, 1, MAX_VOCAB);
    c->vocab_size = v;
    return MK_OK;
}

mk_status mk_config_load(struct mk_config *cfg, const char *path)
{
    unsigned char *buf;
    size_t len;
    mk_status st = mk_read_file(path, &buf, &len);
    if (st != MK_OK)
        return st;
    json_error_t err;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &err);
    free(buf);
    if (!root)
        return mk_fail(MK_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, err.line, err.column,
                       err.text);
    struct mk_config c;
    int hf = json_object_get(root, "hidden_size") != NULL;
    int ssm = json_object_get(root, "d_model") != NULL;
    if (!json_is_object(root))
        st = mk_fail(MK_ERR_FORMAT, "%s: expected a JSON object, found %s", path,
                     type_name(root));
    else if (hf && ssm)
        st = mk_fail(MK_ERR_FORMAT, "%s: has both \"hidden_size\" (Hugging Face) and "
                     "\"d_model\" (mamba_ssm); expected one form", path);
    else if (!hf && !ssm)
        st = mk_fail(MK_ERR_FORMAT, "%s: not a Mamba config: neither \"hidden_size\" (Hugging "
                     "Face MambaConfig) nor \"d_model\" (mamba_ssm) is present", path);
    else
        st = hf ? load_hf(&c, path, root) : load_ssm(&c, path, root);
    json_decref(root);
    if (st == MK_OK) /* the cross-field checks, named as in the file */
        st = validate(&c, path, hf ? NAME_HF : NAME_SSM);
    if (st == MK_OK)
        *cfg = c;
    return st;
}

/* ---- writing -------------------------------------------------------------------------- */

/* The float as the shortest decimal that reads back as the same float, as a double, so
 * that 1e-5f is written 1e-5 and not 9.9999997473787516e-06. */
static double shortest(float x)
{
    char buf[32];
    for (int prec = 1; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x)
            return strtod(buf, NULL);
    }
    return (double)x;
}

static json_t *token_json(int id)
{
    return id < 0 ? json_null() : json_integer(id);
}

static const char *torch_dtype_name(enum mk_dtype dtype)
{
    switch (dtype) {
    case MK_F16: return "float16";
    case MK_BF16: return "bfloat16";
    default: return "float32";
    }
}

mk_status mk_config_save_as(const struct mk_config *cfg, const char *path, enum mk_dtype dtype)
{
    mk_status st = validate(cfg, path, NAME_STRUCT);
    if (st != MK_OK)
        return st;
    json_t *o = json_object(), *arch = json_array();
    int bad = !o || !arch || json_array_append_new(arch, json_string("MambaForCausalLM"));
    bad |= json_object_set_new(o, "architectures", arch);
    for (int i = 0; i < N_FIELDS; i++) {
        const struct field *f = &fields[i];
        double v = value_of(cfg, f);
        json_t *j;
        if (f == FIELD(dt_init_random))
            j = json_string(v != 0 ? "random" : "constant");
        else if (f->kind == K_BOOL)
            j = json_boolean(v != 0);
        else if (f->kind == K_FLOAT)
            j = json_real(shortest(*(const float *)((const char *)cfg + f->off)));
        else if (f->kind == K_TOKEN)
            j = token_json((int)v);
        else
            j = json_integer((json_int_t)v);
        bad |= json_object_set_new(o, f->hf, j);
    }
    /* the fixed MambaConfig fields mambakit does not vary */
    bad |= json_object_set_new(o, "model_type", json_string("mamba"));
    bad |= json_object_set_new(o, "hidden_act", json_string("silu"));
    bad |= json_object_set_new(o, "dtype", json_string(torch_dtype_name(dtype)));
    bad |= json_object_set_new(o, "rescale_prenorm_residual", json_false());
    bad |= json_object_set_new(o, "use_cache", json_true());
    bad |= json_object_set_new(o, "use_mambapy", json_false());
    bad |= json_object_set_new(o, "use_associative_scan", json_true());
    char *text = bad ? NULL
                     : json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!text)
        return mk_fail(MK_ERR_NOMEM, "%s: out of memory formatting the config", path);
    size_t n = strlen(text);
    char *withnl = realloc(text, n + 2);
    if (!withnl) {
        free(text);
        return mk_fail(MK_ERR_NOMEM, "%s: out of memory formatting the config", path);
    }
    withnl[n] = '\n';
    withnl[n + 1] = 0;
    st = mk_write_file_atomic(path, withnl, n + 1);
    free(withnl);
    return st;
}

mk_status mk_config_save(const struct mk_config *cfg, const char *path)
{
    return mk_config_save_as(cfg, path, MK_F32);
}
