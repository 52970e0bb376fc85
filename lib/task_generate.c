/* task_generate.c — task.kind generate: task.num_samples sequences of task.length tokens
 * from a trained model, sampled with task.sampling (sample i uses seed sampling.seed + i),
 * streamed to the output stream piece by piece as they are made (task.stream), and each
 * written, prompt included, through the plugin's writer to OUT/samples/sample-I<ext>
 * (task.output sets the directory): text as UTF-8, DNA as FASTA, audio as WAV. Ctrl-C (the
 * run's stop flag) ends generation early; what was made is still written.
 *
 * The prompt (task.prompt) is tokenized by longest match over the plugin's token pieces,
 * which is exact for byte-level text and DNA; task.prompt_file is read through the plugin's
 * reader. Without a prompt, generation starts from the BOS token (else EOS, else PAD).
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train_loop.h"

/* samples made in one batch of steps when they are not streamed, and the most tokens kept */
#define MK_GEN_BATCH 64
#define MK_GEN_TOKENS ((int64_t)1 << 24)
#define MK_GEN_CPU_BYTES ((size_t)32 << 20) /* below, the CPU makes one sample at a time */

/* Longest-match tokenization of text over the pieces of ids [0, V). */
static mk_status tokenize(const struct mk_recipe *r, const char *text, int32_t **ids, int *n)
{
    const struct mk_modality *p = &r->codec->plugin->m;
    const int32_t V = mk_codec_vocab_size(r->codec);
    size_t len = strlen(text);
    *ids = malloc((len + 1) * sizeof **ids);
    *n = 0;
    if (!*ids)
        return mk_fail(MK_ERR_NOMEM, "out of memory tokenizing the prompt");
    char piece[256];
    for (size_t i = 0; i < len;) {
        int32_t best = -1;
        size_t best_len = 0;
        for (int32_t id = 0; id < V; id++) {
            int k = p->piece(r->codec->handle, id, piece, sizeof piece);
            if (k > 0 && (size_t)k <= len - i && (size_t)k > best_len && k < (int)sizeof piece &&
                !memcmp(piece, text + i, (size_t)k)) {
                best = id;
                best_len = (size_t)k;
            }
        }
        if (best < 0) {
            free(*ids);
            *ids = NULL;
            return mk_fail(MK_ERR_INVALID, "task.prompt: the %s plugin has no token for the "
                           "text at byte %zu ('%.8s')", r->plugin, i, text + i);
        }
        (*ids)[(*n)++] = best;
        i += best_len;
    }
    return MK_OK;
}

static mk_status prompt_tokens(const struct mk_recipe *r, int32_t **ids, int *n)
{
    if (r->prompt && r->prompt[0])
        return tokenize(r, r->prompt, ids, n);
    if (r->prompt_file) {
        struct mk_reader *rd;
        struct mk_record rec;
        int end = 1;
        mk_status st = mk_reader_open(&rd, r->codec, r->prompt_file, NULL, 0);
        if (st == MK_OK && (st = mk_reader_next(rd, &rec, &end)) == MK_OK && !end &&
            (*ids = malloc(rec.n * sizeof **ids))) {
            memcpy(*ids, rec.tokens, rec.n * sizeof **ids);
            *n = (int)rec.n;
        } else if (st == MK_OK) {
            st = mk_fail(MK_ERR_INVALID, "task.prompt_file: %s has no record", r->prompt_file);
        }
        if (rd)
            mk_reader_close(rd);
        return st;
    }
    const enum mk_special_token order[3] = {MK_TOKEN_BOS, MK_TOKEN_EOS, MK_TOKEN_PAD};
    int32_t start = 0;
    for (int i = 2; i >= 0; i--) {
        int32_t s = mk_codec_special(r->codec, order[i]);
        start = s >= 0 ? s : start;
    }
    if (!(*ids = malloc(sizeof **ids)))
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    (*ids)[0] = start;
    *n = 1;
    return MK_OK;
}

/* Streaming: each token's piece goes to f (NULL: not streaming) as soon as it is made; a
 * set stop flag (Ctrl-C) ends the sample early, and what was made so far is still written.
 * Not streaming, the progress bar counts the tokens made: `rows` a step. */
struct stream_ctx {
    const struct mk_recipe *r;
    FILE *f;
    volatile sig_atomic_t *stop;
    struct mk_progress *progress;
    int64_t done;
    int rows;
};

static int stream_token(int32_t token, void *user)
{
    struct stream_ctx *c = user;
    char piece[256];
    int k = c->f && token >= 0 && !mk_task_is_markup(c->r->codec, token)
                ? c->r->codec->plugin->m.piece(c->r->codec->handle, token, piece, sizeof piece)
                : 0;
    if (k > 0 && k < (int)sizeof piece) {
        fwrite(piece, 1, (size_t)k, c->f);
        fflush(c->f);
    }
    c->done += c->rows;
    mk_progress_count(c->progress, c->done, c->done);
    return c->stop && *c->stop;
}

mk_status mk_task_generate(const struct mk_recipe *r, const struct mk_run_opts *o)
{
    struct mk_model *m = NULL;
    int n_prompt = 0;
    int32_t *prompt = NULL, *seq = NULL; /* seq: the prompt, then the new tokens */
    char dir[4200];
    if (r->output_dir)
        snprintf(dir, sizeof dir, "%s", r->output_dir);
    else
        snprintf(dir, sizeof dir, "%s/samples", r->out);
    mk_status st = mk_mkdirs(dir);
    if (st == MK_OK)
        st = mk_task_load_model(&m, r);
    if (st == MK_OK)
        st = prompt_tokens(r, &prompt, &n_prompt);
    if (st == MK_OK && !(seq = malloc(((size_t)n_prompt + (size_t)r->length) * sizeof *seq)))
        st = mk_fail(MK_ERR_NOMEM, "out of memory");
    if (st == MK_OK)
        memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);
    /* the plugin's padding, BOS, mask and unknown tokens are never training targets: never
     * sample them (EOS stays: it ends a sample). A plugin without BOS and EOS (audio) pads
     * with one of its data classes (silence), which is sampled like any other. */
    const enum mk_special_token never[] = {MK_TOKEN_PAD, MK_TOKEN_BOS, MK_TOKEN_MASK, MK_TOKEN_UNK};
    const int pad_is_data = mk_codec_special(r->codec, MK_TOKEN_BOS) < 0 &&
                            mk_codec_special(r->codec, MK_TOKEN_EOS) < 0;
    int32_t suppress[4];
    int n_suppress = 0;
    for (int k = pad_is_data; st == MK_OK && k < 4; k++) {
        int32_t id = mk_codec_special(r->codec, never[k]);
        if (id >= 0 && id != mk_codec_special(r->codec, MK_TOKEN_EOS))
            suppress[n_suppress++] = id;
    }
    struct mk_sampler_opts so = {(float)r->temperature, r->top_k, (float)r->top_p,
                                 (float)r->min_p, (float)r->repetition_penalty, 0, suppress,
                                 n_suppress};
    struct stream_ctx sc = {r, r->stream ? o->out : NULL, o->stop, NULL, 0, 1};
    if (st == MK_OK) /* a bar only when the text is not streamed to the same terminal */
        st = mk_progress_open(&sc.progress, o->log, sc.f ? MK_PROGRESS_NONE : r->progress,
                              (int64_t)r->num_samples * r->length, 0);
    /* Unless streamed (each sample printed as it grows), the samples are made in batches of
     * up to MK_GEN_BATCH rows (and MK_GEN_TOKENS tokens), one step of the model for all of
     * them: on a GPU a step costs about the same for 1 or 64 rows, and on the CPU a model
     * whose weights do not fit in the caches is read once a step for all rows (Mamba-130M,
     * 2 cores: 51 tokens/s one at a time, 122 in steps of 8 rows). A CPU model of less than
     * MK_GEN_CPU_BYTES of weights goes one sample at a time: the fused one-row step made 8
     * rows of a 6 x 128 model 2.4x faster that way. Row i is sample i either way (seed + i). */
    const int cpu_small = m && m->device == MK_DEVICE_CPU &&
                          mk_model_layout(m)->total * sizeof(float) < MK_GEN_CPU_BYTES;
    int batch = sc.f || !m || cpu_small             ? 1
                : r->num_samples < MK_GEN_BATCH     ? r->num_samples
                                                    : MK_GEN_BATCH;
    while (batch > 1 && (int64_t)batch * r->length > MK_GEN_TOKENS)
        batch /= 2;
    int32_t *made = malloc((size_t)batch * r->length * sizeof *made);
    int *n_made = malloc((size_t)batch * sizeof *n_made);
    if (st == MK_OK && (!made || !n_made))
        st = mk_fail(MK_ERR_NOMEM, "out of memory for %d samples of %lld tokens", batch,
                     (long long)r->length);
    for (int i0 = 0; st == MK_OK && i0 < r->num_samples && !(o->stop && *o->stop); i0 += batch) {
        const int nb = r->num_samples - i0 < batch ? r->num_samples - i0 : batch;
        so.seed = r->sample_seed + (uint64_t)i0;
        sc.rows = nb;
        for (int k = 0; sc.f && k < n_prompt; k++)
            stream_token(prompt[k], &sc);
        st = mk_generate_batch(m, prompt, n_prompt, r->length, nb, &so,
                               mk_model_config(m)->eos_token_id, stream_token, &sc, made, n_made);
        if (sc.f) {
            fputc('\n', sc.f);
            fflush(sc.f);
        }
        for (int b = 0; st == MK_OK && b < nb; b++) {
            const int i = i0 + b;
            char path[4400], id[64];
            snprintf(path, sizeof path, "%s/sample-%d%s", dir, i + 1,
                     r->codec->plugin->m.output_ext ? r->codec->plugin->m.output_ext : "");
            snprintf(id, sizeof id, "sample-%d", i + 1);
            memcpy(seq + n_prompt, made + (size_t)b * r->length,
                   (size_t)n_made[b] * sizeof *seq);
            st = mk_codec_write_file(r->codec, path, seq, (size_t)(n_prompt + n_made[b]), id);
            if (st == MK_OK)
                mk_progress_note(sc.progress, "wrote %s (%d prompt + %d new tokens)", path,
                                 n_prompt, n_made[b]);
        }
    }
    mk_progress_close(sc.progress);
    free(made);
    free(n_made);
    free(prompt);
    free(seq);
    mk_model_free(m);
    return st;
}
