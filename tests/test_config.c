/* test_config.c — lib/config.c: defaults, validation, reading both config.json forms,
 * writing the Hugging Face form, and a table of configs that must be refused with a message
 * naming the file and the key.
 */
#include "ckpt_util.h"
#include <limits.h>
#include <math.h>
#include <jansson.h>

static const char *dir;
static char cfg_path[512];

/* Writes text to dir/config.json and loads it. */
static mk_status load_text(struct mk_config *c, const char *text)
{
    if (mk_write_file_atomic(cfg_path, text, strlen(text)) != MK_OK)
        bail_out("%s", mk_last_error());
    return mk_config_load(c, cfg_path);
}

static void golden_config(void)
{
    char path[512];
    struct mk_config c = {0};
    mk_status st = mk_config_load(&c, golden(path, sizeof path, "tiny/config.json"));
    ok(st == MK_OK, "golden config.json loads");
    ok(c.d_model == 64 && c.n_layer == 2 && c.d_state == 16 && c.d_conv == 4 && c.expand == 2 &&
           c.d_inner == 128 && c.dt_rank == 4 && c.vocab_size == 260 &&
           c.pad_vocab_size_multiple == 8,
       "golden: sizes D 64, 2 layers, N 16, K 4, E 128, R 4, V 260");
    ok(c.norm_eps == 1e-5f && !c.use_bias && c.use_conv_bias && c.residual_in_fp32 &&
           c.tie_embeddings && c.dt_min == 1e-3f && c.dt_max == 0.1f &&
           c.dt_init_floor == 1e-4f && c.dt_scale == 1.0f && c.dt_init_random &&
           c.initializer_range == 0.1f && c.bos_token_id == 0 && c.eos_token_id == 0 &&
           c.pad_token_id == 0,
       "golden: flags, time-step init and token ids");
}

static void defaults(void)
{
    struct mk_config c;
    mk_config_default(&c, 768, 24, 50280);
    ok(c.d_state == 16 && c.d_conv == 4 && c.expand == 2 && c.d_inner == 1536 &&
           c.dt_rank == 48 && c.pad_vocab_size_multiple == 8 && c.norm_eps == 1e-5f &&
           !c.use_bias && c.use_conv_bias && c.residual_in_fp32 && c.tie_embeddings &&
           c.dt_min == 1e-3f && c.dt_max == 0.1f && c.dt_init_floor == 1e-4f &&
           c.dt_scale == 1.0f && c.dt_init_random && c.initializer_range == 0.02f &&
           mk_config_validate(&c) == MK_OK,
       "mk_config_default gives mamba_ssm's defaults, and they validate");
    mk_config_default(&c, 65, 1, 10);
    ok(c.dt_rank == 5 && c.d_inner == 130, "dt_rank = ceil(65 / 16) = 5");
    ok(mk_config_padded_vocab(50277, 8) == 50280 && mk_config_padded_vocab(50280, 8) == 50280 &&
           mk_config_padded_vocab(50277, 16) == 50288 && mk_config_padded_vocab(5, 1) == 5 &&
           mk_config_padded_vocab(5, 0) == 5 && mk_config_padded_vocab(INT_MAX, 16) == -1,
       "mk_config_padded_vocab rounds up, and reports overflow");
}

static void validation(void)
{
    struct mk_config c;
    mk_config_default(&c, 64, 2, 260);
    c.d_model = 0;
    ok(mk_config_validate(&c) == MK_ERR_INVALID &&
           error_has("config: d_model (hidden_size) is 0; expected an integer in [1, 65536]"),
       "validate names d_model");
    mk_config_default(&c, 64, 2, 260);
    c.d_inner = 100;
    ok(mk_config_validate(&c) == MK_ERR_INVALID &&
           error_has("d_inner (intermediate_size) is 100; expected expand (expand) * d_model"),
       "validate checks d_inner = expand * d_model");
    mk_config_default(&c, 64, 2, 260);
    c.dt_max = 1e-4f;
    ok(mk_config_validate(&c) == MK_ERR_INVALID && error_has("dt_max (time_step_max)"),
       "validate checks dt_max >= dt_min");
    mk_config_default(&c, 64, 2, 260);
    c.residual_in_fp32 = 0;
    ok(mk_config_validate(&c) == MK_ERR_INVALID && error_has("residual_in_fp32"),
       "validate requires residual_in_fp32");
    mk_config_default(&c, 64, 2, 260);
    c.norm_eps = NAN;
    ok(mk_config_validate(&c) == MK_ERR_INVALID && error_has("norm_eps (layer_norm_epsilon)"),
       "validate refuses a NaN epsilon");
    mk_config_default(&c, 64, 2, 260);
    c.eos_token_id = 260;
    ok(mk_config_validate(&c) == MK_ERR_INVALID && error_has("eos_token_id") &&
           error_has("[-1, 259]"),
       "validate keeps token ids inside the vocabulary");
    mk_config_default(&c, 64, 2, 260);
    c.use_conv_bias = 2;
    ok(mk_config_validate(&c) == MK_ERR_INVALID && error_has("use_conv_bias") &&
           error_has("0 or 1"),
       "validate keeps flags 0 or 1");
}

static void hf_forms(void)
{
    struct mk_config c;
    ok(load_text(&c, "{\"hidden_size\": 768}") == MK_OK && c.n_layer == 32 &&
           c.vocab_size == 50280 && c.use_bias == 1 && c.initializer_range == 0.1f &&
           c.dt_rank == 48 && c.d_inner == 1536 && c.tie_embeddings,
       "HF: missing fields take transformers' MambaConfig defaults");
    ok(load_text(&c, "{\"hidden_size\": 100, \"time_step_rank\": \"auto\", \"expand\": 2}") ==
           MK_OK && c.dt_rank == 7,
       "HF: time_step_rank \"auto\" = ceil(100 / 16) = 7");
    ok(load_text(&c, "{\"hidden_size\": 64, \"intermediate_size\": 192}") == MK_OK &&
           c.expand == 3 && c.d_inner == 192,
       "HF: expand follows intermediate_size when absent");
    ok(load_text(&c, "{\"hidden_size\": 64, \"vocab_size\": 50277, \"pad_token_id\": null, "
                     "\"expand\": 2.0, \"residual_in_fp32\": false, \"torch_dtype\": "
                     "\"bfloat16\", \"use_mambapy\": true, \"id2label\": {\"0\": \"x\"}}") ==
               MK_OK &&
           c.vocab_size == 50277 && c.pad_token_id == -1 && c.expand == 2 &&
           c.residual_in_fp32 == 1,
       "HF: vocab kept as given, null token, 2.0 as int, informational keys ignored");
}

static void ssm_forms(void)
{
    struct mk_config c;
    ok(load_text(&c, "{\"d_model\": 768, \"n_layer\": 24, \"vocab_size\": 50277, \"ssm_cfg\": "
                     "{}, \"rms_norm\": true, \"residual_in_fp32\": true, \"fused_add_norm\": "
                     "true, \"pad_vocab_size_multiple\": 8}") == MK_OK &&
           c.d_model == 768 && c.n_layer == 24 && c.vocab_size == 50280 && c.d_inner == 1536 &&
           c.dt_rank == 48 && c.d_state == 16 && !c.use_bias && c.use_conv_bias &&
           c.tie_embeddings && c.initializer_range == 0.02f && c.norm_eps == 1e-5f,
       "mamba_ssm (state-spaces/mamba-130m): vocab 50277 padded to 50280 rows");
    ok(load_text(&c, "{\"d_model\": 64, \"n_layer\": 3, \"vocab_size\": 250, \"ssm_cfg\": "
                     "{\"layer\": \"Mamba1\", \"d_state\": 8, \"d_conv\": 3, \"expand\": 3, "
                     "\"dt_rank\": 5, \"dt_min\": 0.002, \"dt_max\": 0.2, \"dt_init\": "
                     "\"constant\", \"dt_scale\": 2.0, \"dt_init_floor\": 0.001, \"bias\": true, "
                     "\"conv_bias\": false, \"use_fast_path\": true}, \"d_intermediate\": 0, "
                     "\"attn_layer_idx\": [], \"attn_cfg\": {}, \"tie_embeddings\": false, "
                     "\"pad_vocab_size_multiple\": 16}") == MK_OK &&
           c.n_layer == 3 && c.vocab_size == 256 && c.d_state == 8 && c.d_conv == 3 &&
           c.expand == 3 && c.d_inner == 192 && c.dt_rank == 5 && c.dt_min == 0.002f &&
           c.dt_max == 0.2f && !c.dt_init_random && c.dt_scale == 2.0f &&
           c.dt_init_floor == 0.001f && c.use_bias && !c.use_conv_bias && !c.tie_embeddings,
       "mamba_ssm: every ssm_cfg field honoured");
}

/* The golden file was written by transformers: a saved config must have every one of its
 * keys with the same value (transformers_version aside). */
static void save_matches_transformers(void)
{
    char path[512];
    struct mk_config c;
    json_error_t err;
    if (mk_config_load(&c, golden(path, sizeof path, "tiny/config.json")) != MK_OK ||
        mk_config_save(&c, cfg_path) != MK_OK)
        bail_out("%s", mk_last_error());
    json_t *want = json_load_file(path, 0, &err), *got = json_load_file(cfg_path, 0, &err);
    const char *key;
    json_t *v;
    int same = want && got;
    json_object_foreach(want, key, v) {
        json_t *g = json_object_get(got, key);
        int eq = json_equal(v, g) ||
                 (json_is_number(v) && json_is_number(g) &&
                  (float)json_number_value(v) == (float)json_number_value(g));
        if (!eq && strcmp(key, "transformers_version") != 0) {
            diag("key %s differs", key);
            same = 0;
        }
    }
    ok(same && json_object_size(got) == json_object_size(want) - 1,
       "saved golden config has transformers' keys and values");
    json_decref(want);
    json_decref(got);

    unsigned char *text;
    size_t len;
    if (mk_read_file(cfg_path, &text, &len) != MK_OK)
        bail_out("%s", mk_last_error());
    ok(strncmp((char *)text, "{\n  \"architectures\": [\n    \"MambaForCausalLM\"\n  ],\n  "
                             "\"bos_token_id\": 0,\n", 70) == 0 &&
           strstr((char *)text, "\"layer_norm_epsilon\": 1e-5,") &&
           strstr((char *)text, "\"time_step_min\": 0.001,") && text[len - 1] == '\n',
       "pretty-printed, sorted keys, shortest floats, final newline");
    free(text);
}

static void round_trip(void)
{
    struct mk_config c, back;
    mk_config_default(&c, 96, 3, 300);
    c.d_state = 8;
    c.d_conv = 3;
    c.expand = 3;
    c.d_inner = 288;
    c.dt_rank = 11;
    c.norm_eps = 1e-6f;
    c.use_bias = 1;
    c.use_conv_bias = 0;
    c.tie_embeddings = 0;
    c.dt_min = 3e-4f;
    c.dt_max = 0.3f;
    c.dt_init_floor = 2.5e-5f;
    c.dt_scale = 0.7f;
    c.dt_init_random = 0;
    c.initializer_range = 0.0123456789f;
    c.bos_token_id = 1;
    c.eos_token_id = 2;
    c.pad_token_id = -1;
    mk_status st = mk_config_save(&c, cfg_path);
    ok(st == MK_OK && mk_config_load(&back, cfg_path) == MK_OK &&
           memcmp(&c, &back, sizeof c) == 0,
       "save -> load round trip gives the identical struct (floats exact)");
    ok(mk_config_save_as(&c, cfg_path, MK_BF16) == MK_OK &&
           mk_config_load(&back, cfg_path) == MK_OK && memcmp(&c, &back, sizeof c) == 0,
       "mk_config_save_as(bfloat16) loads back too");
    c.d_model = -1;
    ok(mk_config_save(&c, cfg_path) == MK_ERR_INVALID && error_has(cfg_path) &&
           error_has("d_model"),
       "an invalid config is not written");
}

static const struct {
    const char *text;
    mk_status st;
    const char *msg;
} bad[] = {
    {"{\n  \"hidden_size\": 64,\n  \"state_size\": }\n", MK_ERR_FORMAT, "config.json:3:"},
    {"", MK_ERR_FORMAT, "config.json:1:0: invalid JSON"},
    {"[1]", MK_ERR_FORMAT, "expected a JSON object, found an array"},
    {"{\"foo\": 1}", MK_ERR_FORMAT, "neither \"hidden_size\""},
    {"{\"hidden_size\": 64, \"d_model\": 64}", MK_ERR_FORMAT, "has both"},
    {"{\"hidden_size\": 64, \"hidden_size\": 32}", MK_ERR_FORMAT, "duplicate"},
    {"{\"hidden_size\": \"64\"}", MK_ERR_FORMAT,
     "\"hidden_size\": expected an integer, found a string"},
    {"{\"hidden_size\": 64.5}", MK_ERR_FORMAT,
     "\"hidden_size\": expected an integer, found a real"},
    {"{\"hidden_size\": -3}", MK_ERR_INVALID,
     "\"hidden_size\": -3 is out of range: expected an integer in [1, 65536]"},
    {"{\"hidden_size\": 0}", MK_ERR_INVALID, "\"hidden_size\": 0 is out of range"},
    {"{\"hidden_size\": 64, \"num_hidden_layers\": 1e9}", MK_ERR_INVALID,
     "\"num_hidden_layers\": 1000000000 is out of range"},
    {"{\"hidden_size\": 64, \"use_bias\": 1}", MK_ERR_FORMAT,
     "\"use_bias\": expected true or false, found an integer"},
    {"{\"hidden_size\": 64, \"layer_norm_epsilon\": \"1e-5\"}", MK_ERR_FORMAT,
     "\"layer_norm_epsilon\": expected a number, found a string"},
    {"{\"hidden_size\": 64, \"layer_norm_epsilon\": 0}", MK_ERR_INVALID,
     "\"layer_norm_epsilon\": 0 is out of range: expected a number in (0, 1]"},
    {"{\"hidden_size\": 64, \"vocab_size\": null}", MK_ERR_FORMAT,
     "\"vocab_size\": expected an integer, found null"},
    {"{\"hidden_size\": 64, \"model_type\": \"mamba2\"}", MK_ERR_UNSUPPORTED,
     "\"model_type\" is \"mamba2\"; mambakit supports only \"mamba\""},
    {"{\"hidden_size\": 64, \"model_type\": 1}", MK_ERR_FORMAT,
     "\"model_type\": expected a string"},
    {"{\"hidden_size\": 64, \"hidden_act\": \"gelu\"}", MK_ERR_UNSUPPORTED,
     "\"hidden_act\" is \"gelu\""},
    {"{\"hidden_size\": 64, \"time_step_rank\": \"big\"}", MK_ERR_FORMAT,
     "\"time_step_rank\": expected an integer or \"auto\""},
    {"{\"hidden_size\": 64, \"time_step_init_scheme\": \"uniform\"}", MK_ERR_INVALID,
     "\"time_step_init_scheme\": expected \"random\" or \"constant\""},
    {"{\"hidden_size\": 64, \"intermediate_size\": 100}", MK_ERR_INVALID,
     "\"intermediate_size\" is 100; expected \"expand\" * \"hidden_size\" = 2 * 64 = 128"},
    {"{\"hidden_size\": 64, \"time_step_min\": 0.5}", MK_ERR_INVALID,
     "\"time_step_max\" 0.1 is below \"time_step_min\" 0.5"},
    {"{\"hidden_size\": 64, \"vocab_size\": 100, \"eos_token_id\": 100}", MK_ERR_INVALID,
     "\"eos_token_id\" is 100; expected an integer in [-1, 99]"},
    {"{\"d_model\": 64, \"ssm_cfg\": {\"layer\": \"Mamba2\"}}", MK_ERR_UNSUPPORTED,
     "\"ssm_cfg.layer\" is \"Mamba2\""},
    {"{\"d_model\": 64, \"d_intermediate\": 64}", MK_ERR_UNSUPPORTED,
     "\"d_intermediate\" is 64"},
    {"{\"d_model\": 64, \"attn_layer_idx\": [1]}", MK_ERR_UNSUPPORTED,
     "\"attn_layer_idx\" lists 1 attention layers"},
    {"{\"d_model\": 64, \"rms_norm\": false}", MK_ERR_UNSUPPORTED, "only RMSNorm"},
    {"{\"d_model\": 64, \"ssm_cfg\": {\"headdim\": 64}}", MK_ERR_FORMAT,
     "unknown mamba_ssm config key \"ssm_cfg.headdim\""},
    {"{\"d_model\": 64, \"n_heads\": 4}", MK_ERR_FORMAT,
     "unknown mamba_ssm config key \"n_heads\""},
    {"{\"d_model\": 64, \"ssm_cfg\": []}", MK_ERR_FORMAT, "\"ssm_cfg\": expected an object"},
    {"{\"d_model\": 64, \"ssm_cfg\": {\"d_state\": 0}}", MK_ERR_INVALID,
     "\"ssm_cfg.d_state\": 0 is out of range"},
    {"{\"d_model\": 64, \"ssm_cfg\": {\"dt_max\": 0.0001}}", MK_ERR_INVALID,
     "\"ssm_cfg.dt_max\" 0.0001 is below \"ssm_cfg.dt_min\" 0.001"},
};

static void refusals(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct mk_config c;
        mk_status st = load_text(&c, bad[i].text);
        ok(st == bad[i].st && error_has("config.json") && error_has(bad[i].msg),
           "refused: %s", bad[i].msg);
    }
    struct mk_config c;
    char path[512];
    ok(mk_config_load(&c, path_in(path, sizeof path, dir, "none.json")) == MK_ERR_IO &&
           error_has("none.json: cannot open"),
       "a missing config.json is an I/O error naming it");
}

int main(void)
{
    dir = scratch_dir();
    path_in(cfg_path, sizeof cfg_path, dir, "config.json");
    plan(3 + 3 + 7 + 4 + 2 + 2 + 3 + (int)(sizeof bad / sizeof bad[0]) + 1);
    golden_config();
    defaults();
    validation();
    hf_forms();
    ssm_forms();
    save_matches_transformers();
    round_trip();
    refusals();
    return exit_status();
}
