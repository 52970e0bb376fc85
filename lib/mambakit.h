/* mambakit.h — the public API of libmambakit: the Mamba selective state-space model
 * (Gu & Dao, arXiv 2312.00752) in C11, with CPU and CUDA backends.
 *
 * Use: load a checkpoint (mk_ckpt_load), or make a config and initialise (mk_model_create +
 * mk_model_init), then mk_model_forward / mk_model_backward for training and mk_state_* +
 * mk_model_step for generation. Every function that can fail returns mk_status; the detail is
 * in mk_last_error(). The library never prints and never exits.
 *
 * Dimension letters, used in every shape comment of the project:
 *   B  batch (sequences)           L  sequence length (tokens)
 *   D  d_model (hidden_size)       E  d_inner = expand * D (intermediate_size)
 *   N  d_state (state_size)        K  d_conv (conv_kernel)
 *   R  dt_rank (time_step_rank)    V  vocab_size (rows of the embedding)
 * Activations are token-major: a [B, L, C] tensor has element (b, t, c) at (b*L + t)*C + c.
 */
#ifndef MAMBAKIT_H
#define MAMBAKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ----------------------------------------------------------------- */

typedef enum mk_status {
    MK_OK = 0,
    MK_ERR_NOMEM,       /* allocation failed */
    MK_ERR_IO,          /* a file could not be opened, read or written */
    MK_ERR_FORMAT,      /* a file's content is malformed (JSON, safetensors, FASTA, ...) */
    MK_ERR_INVALID,     /* an argument or configuration value is out of range */
    MK_ERR_UNSUPPORTED, /* valid, but not supported by this build or backend */
    MK_ERR_DEVICE,      /* CUDA / cuBLAS failure, or no device */
    MK_ERR_INTERRUPTED  /* stopped by a signal; state was saved */
} mk_status;

/* A fixed English text for the status code. */
const char *mk_strerror(mk_status st);
/* The detailed message of the last error in this thread ("" if none): names the file, the
 * tensor, the key, the record and line, as applicable. */
const char *mk_last_error(void);
/* Records a formatted detail message for this thread and returns st (for `return mk_fail(...)`). */
mk_status mk_fail(mk_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- configuration (Hugging Face MambaConfig fields) ------------------------------------ */

struct mk_config {
    int d_model;                 /* D: hidden_size */
    int n_layer;                 /* num_hidden_layers */
    int d_state;                 /* N: state_size */
    int d_conv;                  /* K: conv_kernel */
    int expand;                  /* E = expand * D */
    int d_inner;                 /* E: intermediate_size */
    int dt_rank;                 /* R: time_step_rank (config "auto" = ceil(D/16)) */
    int vocab_size;              /* V: rows of the embedding (kept as given) */
    int pad_vocab_size_multiple; /* used only when a new model is made from a tokenizer */
    float norm_eps;              /* layer_norm_epsilon */
    int use_bias;                /* in_proj / out_proj biases */
    int use_conv_bias;           /* conv1d bias */
    int residual_in_fp32;        /* must be 1: the residual stream is always fp32 here */
    int tie_embeddings;          /* lm_head shares backbone.embeddings.weight */
    /* initialisation (time_step_* fields of MambaConfig) */
    float dt_min, dt_max, dt_init_floor, dt_scale;
    int dt_init_random;          /* time_step_init_scheme: 1 "random", 0 "constant" */
    float initializer_range;     /* std of the embedding init (mamba_ssm uses 0.02) */
    int bos_token_id, eos_token_id, pad_token_id;
};

/* The defaults of mamba_ssm's MambaConfig for a model of width d_model and depth n_layer. */
void mk_config_default(struct mk_config *cfg, int d_model, int n_layer, int vocab_size);
/* Checks ranges and derived fields (d_inner, dt_rank); names the offending field. */
mk_status mk_config_validate(const struct mk_config *cfg);
/* Reads a Hugging Face config.json (also mamba_ssm's d_model/n_layer/ssm_cfg form). */
mk_status mk_config_load(struct mk_config *cfg, const char *path);
/* Writes config.json with Hugging Face MambaConfig field names, atomically. */
mk_status mk_config_save(const struct mk_config *cfg, const char *path);
/* vocab_size rounded up to pad_vocab_size_multiple (for a new model from a tokenizer). */
int mk_config_padded_vocab(int vocab_size, int multiple);

/* ---- parameters: one block, laid out from a spec table ------------------------------------ */

enum { MK_MAX_DIMS = 4, MK_NAME_MAX = 96 };

enum mk_param_kind { /* what a tensor is: drives init and weight decay */
    MK_P_EMBEDDING, MK_P_NORM, MK_P_IN_PROJ, MK_P_IN_PROJ_BIAS, MK_P_CONV_W, MK_P_CONV_B,
    MK_P_X_PROJ, MK_P_DT_PROJ_W, MK_P_DT_PROJ_B, MK_P_A_LOG, MK_P_D, MK_P_OUT_PROJ,
    MK_P_OUT_PROJ_BIAS, MK_P_NORM_F, MK_P_LM_HEAD
};

struct mk_tensor_spec {
    char name[MK_NAME_MAX];  /* Hugging Face name, e.g. backbone.layers.3.mixer.A_log */
    int ndim;
    int64_t shape[MK_MAX_DIMS];
    size_t numel;
    size_t offset;           /* in floats from the start of the block */
    int layer;               /* -1 outside the layers */
    enum mk_param_kind kind;
    int no_weight_decay;     /* mamba_ssm's set: A_log, D, biases, norms, embeddings */
};

struct mk_param_layout {
    int n;                        /* number of tensors */
    struct mk_tensor_spec *specs; /* n entries, in checkpoint order */
    size_t total;                 /* floats in the block */
};

mk_status mk_param_layout_make(struct mk_param_layout *lay, const struct mk_config *cfg);
void mk_param_layout_free(struct mk_param_layout *lay);
/* The spec with this name, or NULL. */
const struct mk_tensor_spec *mk_param_find(const struct mk_param_layout *lay, const char *name);

/* ---- model ---------------------------------------------------------------------------------- */

enum mk_device { MK_DEVICE_CPU = 0, MK_DEVICE_CUDA = 1 };

struct mk_model; /* opaque: config, layout, params/grads blocks, activations, backend */

/* Allocates a model (parameters uninitialised) on the given device (CUDA: device index
 * cuda_index). Activations are sized lazily for the largest B*L seen. */
mk_status mk_model_create(struct mk_model **out, const struct mk_config *cfg,
                          enum mk_device device, int cuda_index);
void mk_model_free(struct mk_model *m);
const struct mk_config *mk_model_config(const struct mk_model *m);
const struct mk_param_layout *mk_model_layout(const struct mk_model *m);
/* Host copies of the parameter / gradient blocks (length layout.total floats). */
mk_status mk_model_get_params(const struct mk_model *m, float *dst);
mk_status mk_model_set_params(struct mk_model *m, const float *src);
mk_status mk_model_get_grads(const struct mk_model *m, float *dst);
/* Initialises as mamba_ssm does (see lib/init.c for every rule), from seed. */
mk_status mk_model_init(struct mk_model *m, uint64_t seed);

/* Forward over ids [B, L] (int32, each in [0, V)). Writes logits [B, L, V] to the host
 * buffer `logits` if not NULL. If `targets` [B, L] is given (-1 = ignore), *loss receives the
 * mean cross-entropy over the non-ignored targets and the model keeps what backward needs.
 * `state` (may be NULL) supplies initial conv/SSM states and receives the final ones. */
struct mk_state;
mk_status mk_model_forward(struct mk_model *m, const int32_t *ids, int B, int L,
                           const int32_t *targets, float *loss, float *logits,
                           struct mk_state *state);
/* Next-token targets for ids [B, L]: targets[b, t] = ids[b, t+1], and -1 at t = L-1. */
void mk_next_token_targets(int32_t *targets, const int32_t *ids, int B, int L);
/* Backward of the mean cross-entropy of the last forward (with targets): accumulates
 * d(loss)/d(param) into the gradient block. */
mk_status mk_model_backward(struct mk_model *m);
/* A training step's forward and backward in one call (same loss and gradients as
 * mk_model_forward with targets then mk_model_backward): the LM head's gradient is taken
 * chunk by chunk while its logits are at hand, instead of recomputing them in backward. */
mk_status mk_model_forward_backward(struct mk_model *m, const int32_t *ids, int B, int L,
                                    const int32_t *targets, float *loss);
mk_status mk_model_zero_grads(struct mk_model *m);

/* ---- recurrent state (conv window + SSM state per layer, per sequence) ---------------- */

struct mk_state; /* opaque; conv [n_layer][B][E][K-1] and ssm [n_layer][B][E][N], fp32 */

mk_status mk_state_create(struct mk_state **out, const struct mk_model *m, int B);
void mk_state_free(struct mk_state *s);
void mk_state_reset(struct mk_state *s);                   /* all sequences to zero */
void mk_state_reset_seq(struct mk_state *s, int b);        /* one sequence to zero */
int mk_state_batch(const struct mk_state *s);
/* Host copies of the whole state: conv block then ssm block, mk_state_numel() floats. */
size_t mk_state_numel(const struct mk_state *s);
mk_status mk_state_get(const struct mk_state *s, float *dst);
mk_status mk_state_set(struct mk_state *s, const float *src);

/* One recurrent step: ids [B] (one token per sequence) → logits [B, V] (host), updating s.
 * Equivalent to mk_model_forward with L = 1 and the same state. */
mk_status mk_model_step(struct mk_model *m, struct mk_state *s, const int32_t *ids, float *logits);
/* The greedy step: as mk_model_step, then next[b] = argmax of row b of the logits (the first
 * maximum, as mk_sample at temperature 0). On CUDA the argmax runs in the step's graph and
 * only the B ids come back, not B x V logits. */
mk_status mk_model_step_greedy(struct mk_model *m, struct mk_state *s, const int32_t *ids,
                               int32_t *next);

/* ---- checkpoints (directory with config.json + model.safetensors, Hugging Face names) ---- */

enum mk_dtype { MK_F32 = 0, MK_F16, MK_BF16, MK_F64, MK_I8, MK_U8, MK_I16, MK_I32, MK_I64, MK_BOOL };

/* Loads config.json + model.safetensors from dir onto the device. Accepts F32/F16/BF16
 * tensors, tied or untied heads, `embedding.` or `embeddings.`; reports unknown tensors. */
mk_status mk_ckpt_load(struct mk_model **out, const char *dir, enum mk_device device,
                       int cuda_index);
/* Writes dir/config.json and dir/model.safetensors atomically (dir is created), with tensors
 * stored as `dtype` (MK_F32, MK_BF16 or MK_F16). */
mk_status mk_ckpt_save(const struct mk_model *m, const char *dir, enum mk_dtype dtype);

/* ---- sampling -------------------------------------------------------------------------- */

struct mk_sampler_opts {
    float temperature;        /* 0 = greedy (argmax) */
    int top_k;                /* 0 = off */
    float top_p;              /* 1 = off */
    float min_p;              /* 0 = off */
    float repetition_penalty; /* 1 = off (CTRL-style: divide positive logits, multiply negative) */
    uint64_t seed;
    const int32_t *suppress;  /* [n_suppress] tokens never to pick (padding, BOS, mask, ...) */
    int n_suppress;
};
void mk_sampler_defaults(struct mk_sampler_opts *o);

/* Random numbers: xoshiro256** seeded by splitmix64; the state is plain data so it can be saved. */
struct mk_rng { uint64_t s[4]; };
void mk_rng_seed(struct mk_rng *r, uint64_t seed);
uint64_t mk_rng_next(struct mk_rng *r);
double mk_rng_uniform(struct mk_rng *r);  /* [0, 1) with 53 bits */
double mk_rng_normal(struct mk_rng *r);   /* standard normal (Box–Muller, no caching) */

/* Picks the next token from logits [V] (modified in place). `history` [n_history] are the
 * tokens so far, for the repetition penalty. */
int mk_sample(float *logits, int V, const struct mk_sampler_opts *o, struct mk_rng *rng,
              const int32_t *history, int n_history);

/* A sampler's workspace for vocabularies of V tokens (issue 9): made once per generation, so
 * that picking a token allocates nothing and sorts only the candidates that can be kept.
 * mk_sampler_pick gives exactly mk_sample's pick (the same token for the same draw); mk_sample
 * is mk_sampler_pick on a workspace made and freed for the call. */
struct mk_sampler;
mk_status mk_sampler_create(struct mk_sampler **out, int V);
void mk_sampler_free(struct mk_sampler *s);
int mk_sampler_pick(struct mk_sampler *s, float *logits, const struct mk_sampler_opts *o,
                    struct mk_rng *rng, const int32_t *history, int n_history);

/* Called with each generated token as it is made; a non-zero return stops generation. */
typedef int (*mk_token_fn)(int32_t token, void *user);

/* Generates up to max_new tokens after prompt [n_prompt] (B = 1), stopping early after eos_id
 * (-1: never). The new tokens go to on_token (may be NULL) and to out [max_new] (may be NULL);
 * *n_out (may be NULL) receives how many were made. Deterministic for a given opts->seed. */
mk_status mk_generate(struct mk_model *m, const int32_t *prompt, int n_prompt, int max_new,
                      const struct mk_sampler_opts *opts, int eos_id,
                      mk_token_fn on_token, void *user, int32_t *out, int *n_out);
/* Generates n_seq sequences after the same prompt in one batch of recurrent steps (one
 * mk_model_step of n_seq rows per token; on a GPU about as fast as one sequence). Row i
 * samples with seed opts->seed + i and its own history, as mk_generate does with that seed:
 * the same tokens where the batched step computes each row as the one-row step does (the
 * CPU's op table), else the same distribution (CUDA's products round differently with the
 * number of rows, and a long sample at temperature > 0 soon takes another path after one
 * draw lands on the other side of a boundary). Each row stops after eos_id; generation ends when every row has, after
 * max_new steps, or when on_token returns non-zero. on_token (may be NULL) gets row 0's tokens,
 * then -1 at each further step once row 0 has ended. out (may be NULL) [n_seq * max_new]: row
 * i's tokens from out + i * max_new; n_out (may be NULL) [n_seq] their counts. */
mk_status mk_generate_batch(struct mk_model *m, const int32_t *prompt, int n_prompt, int max_new,
                            int n_seq, const struct mk_sampler_opts *opts, int eos_id,
                            mk_token_fn on_token, void *user, int32_t *out, int *n_out);

/* ---- files ------------------------------------------------------------------------------ */

/* Writes len bytes to path atomically: temporary in the same directory, fsync, rename. */
mk_status mk_write_file_atomic(const char *path, const void *data, size_t len);
/* Reads a whole file into a malloc'd buffer (NUL-terminated for convenience). */
mk_status mk_read_file(const char *path, unsigned char **data, size_t *len);

/* ---- devices (lib/task_device.c; added by the recipes/tasks work, issue 4) -------------- */

/* Reads a device name: "auto" (CUDA device 0 when there is one, else the CPU), "cpu", "cuda"
 * or "cuda:N". Fails with MK_ERR_INVALID for a malformed name and MK_ERR_DEVICE when CUDA is
 * asked for and this build or machine has none. Prints nothing. */
mk_status mk_device_parse(const char *spec, enum mk_device *dev, int *index);

/* ---- precision (lib/precision.c; issue 6, mixed-precision GEMMs) ------------------------ */

/* MK_PRECISION_FP32: every GEMM in plain fp32 (the default; matches the CPU reference to fp32
 * rounding). MK_PRECISION_BF16: the GEMMs (the linear layers, forward and backward) multiply
 * in bf16 on the tensor cores, with fp32 storage, accumulation and everything else (what
 * torch.autocast does to matmuls); ~1e-2 relative error per GEMM, several times faster. */
enum mk_precision { MK_PRECISION_FP32 = 0, MK_PRECISION_BF16 = 1, MK_PRECISION_F16 = 2,
                    MK_PRECISION_Q8 = 3 };
/* MK_PRECISION_F16, MK_PRECISION_Q8 (CPU only; issue 9): decoding reads the weight matrices
 * (in_proj, x_proj, dt_proj, out_proj, the head) from a copy in f16, or in 8 bits per weight
 * (blocks of 32 with an fp32 scale, as llama.cpp's Q8_0), made from the fp32 parameters when
 * the precision is set; activations, sums and the recurrent state stay fp32. Only the batch-1
 * step (mk_model_step, mk_generate) uses the copy: forward passes (prefill, training) and
 * larger batches compute from the fp32 parameters. The fp32 parameters stay the model's (what
 * is saved and trained); mk_model_set_params, mk_model_zero_grads and the trainer's optimizer
 * step mark the copy out of date and the next step remakes it. f16 fails (MK_ERR_INVALID) on a weight beyond its range
 * (65504). Measured cost on the golden tiny model: tests/test_step_cpu.c. */

/* Sets the GEMM precision of m's backend. The mode belongs to the backend, so it applies to
 * every model on it (one CUDA device per process), from the next op issued; a decoding step
 * already recorded into a CUDA graph (mk_state) keeps the mode it was recorded with. bf16 fails
 * with MK_ERR_UNSUPPORTED on a backend without the mode (the CPU); fp32 always succeeds. f16
 * and q8 belong to the model (its weight copy) and fail with MK_ERR_UNSUPPORTED on CUDA. */
mk_status mk_model_set_precision(struct mk_model *m, enum mk_precision p);
/* The precision named "fp32", "bf16", "f16" or "q8" (a recipe's run.precision, the CLI's
 * --precision); MK_ERR_INVALID for any other name, with a message listing them. */
mk_status mk_precision_parse(const char *name, enum mk_precision *out);

#ifdef __cplusplus
}
#endif
#endif /* MAMBAKIT_H */
