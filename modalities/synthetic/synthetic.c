/* synthetic.c — the synthetic modality (see synthetic.h): split specs in, generated examples
 * out, chunked when an example is longer than the caller's max_chunk.
 *
 * Randomness is counter-based: example i of seed S draws from splitmix64 started at
 * a mix of S and i, so an example does not depend on which examples were generated before it (a
 * split can be read in any order, or in part, with the same result): the stream starts at
 *   x = splitmix64(S) xor splitmix64(i).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/modutil.h"
#include "synthetic/synthetic.h"

struct synth {
    int task;             /* enum mk_synth_task */
    size_t vocab;         /* V */
    size_t length;        /* L: input tokens per example */
    size_t copy_tokens;   /* M */
};

struct synth_reader {
    struct synth *s;
    char *id_prefix;      /* the spec file's path */
    char id[64 + 4096];
    uint64_t seed, examples, next; /* next: the example being handed out */
    size_t max_chunk, pos;         /* pos: tokens of it already handed out */
    int32_t *tokens;               /* [length + 1] */
    float *weights;                /* [length + 1] */
};

static const char piece_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
enum { MAX_VOCAB = sizeof piece_chars - 1 + 2 };

/* splitmix64: one step of the stream whose state is *x. */
static uint64_t draw(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) for n < 2^32: the top 32 bits scaled (Lemire), bias below 2^-32 · n. */
static uint64_t below(uint64_t *x, uint64_t n)
{
    return ((draw(x) >> 32) * n) >> 32;
}

/* x = 0 noise, 1 .. V-2 data, V-1 marker. Knuth's selection sampling (Algorithm S) picks M
 * of the N = L - M body positions, each subset equally likely, already in increasing order:
 * position t is taken with probability (M - taken) / (N - t). */
static void selective_copying(const struct synth *s, uint64_t *x, int32_t *tok, float *w)
{
    const size_t L = s->length, M = s->copy_tokens, N = L - M;
    const int32_t marker = (int32_t)s->vocab - 1;
    size_t taken = 0;
    for (size_t t = 0; t < N; t++) {
        tok[t] = 0;
        if (below(x, N - t) < M - taken) {
            tok[t] = 1 + (int32_t)below(x, s->vocab - 2);
            tok[N + 1 + taken++] = tok[t];
        }
    }
    tok[N] = marker;
    for (size_t t = 0; t <= L; t++)
        w[t] = t > N ? 1.0f : 0.0f;
}

/* x = 0 .. V-2 content, V-1 trigger at p in [0, L-2) and at L-1; the answer x[L] = x[p+1]. */
static void induction_heads(const struct synth *s, uint64_t *x, int32_t *tok, float *w)
{
    const size_t L = s->length;
    const int32_t trigger = (int32_t)s->vocab - 1;
    for (size_t t = 0; t + 1 < L; t++)
        tok[t] = (int32_t)below(x, s->vocab - 1);
    const size_t p = below(x, L - 2);
    tok[p] = trigger;
    tok[L - 1] = trigger;
    tok[L] = tok[p + 1];
    for (size_t t = 0; t <= L; t++)
        w[t] = t == L ? 1.0f : 0.0f;
}

void mk_synth_example(void *handle, uint64_t seed, uint64_t index, int32_t *tokens,
                      float *weights)
{
    const struct synth *s = handle;
    uint64_t x = seed, i = index;
    x = draw(&x) ^ draw(&i);
    if (s->task == MK_SYNTH_SELECTIVE_COPYING)
        selective_copying(s, &x, tokens, weights);
    else
        induction_heads(s, &x, tokens, weights);
}

int mk_synth_create(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                    size_t errlen)
{
    static const struct mk_optdef defs[] = {
        {"task", MK_OPT_ENUM, offsetof(struct synth, task), 0, 0,
         "selective-copying|induction-heads"},
        {"vocab", MK_OPT_SIZE, offsetof(struct synth, vocab), 3, MAX_VOCAB, 0},
        {"length", MK_OPT_SIZE, offsetof(struct synth, length), 3, 1 << 30, 0},
        {"copy_tokens", MK_OPT_SIZE, offsetof(struct synth, copy_tokens), 1, 1 << 20, 0},
        {NULL, 0, 0, 0, 0, 0}};
    struct synth o = {.task = MK_SYNTH_NONE, .vocab = 16, .length = 256, .copy_tokens = 16};
    int st = mk_opts_parse(defs, &o, options, n_options, "synthetic", err, errlen);
    if (st)
        return st;
    if (o.task == MK_SYNTH_NONE)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "synthetic: option task is required "
                           "(selective-copying|induction-heads)");
    if (o.task == MK_SYNTH_SELECTIVE_COPYING && o.length < 2 * o.copy_tokens)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "synthetic: length %zu is too short for copy_tokens %zu "
                           "(selective copying needs length >= 2 * copy_tokens)",
                           o.length, o.copy_tokens);
    struct synth *s = malloc(sizeof *s);
    if (!s)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "synthetic: out of memory");
    *s = o;
    *handle = s;
    return MK_MODALITY_OK;
}

void mk_synth_destroy(void *handle)
{
    free(handle);
}

int32_t mk_synth_vocab_size(void *handle)
{
    return (int32_t)((struct synth *)handle)->vocab;
}

int32_t mk_synth_special(void *handle, enum mk_special_token which)
{
    (void)handle;
    (void)which;
    return -1;
}

int mk_synth_piece(void *handle, int32_t id, char *buf, size_t cap)
{
    const struct synth *s = handle;
    if (id < 0 || (size_t)id >= s->vocab)
        return -1;
    const int copying = s->task == MK_SYNTH_SELECTIVE_COPYING;
    char c = (size_t)id == s->vocab - 1 ? '|'
             : copying && id == 0      ? '.'
                                       : piece_chars[id - copying];
    if (cap > 0)
        buf[0] = c;
    return 1;
}

/* Reads "examples: N" and "seed: S" from the spec file. */
static int parse_spec(struct synth_reader *rd, const char *path, char *err, size_t errlen)
{
    struct mk_bytes b = {0};
    int st = mk_read_whole(path, &b, err, errlen);
    int have_examples = 0, line = 0;
    for (char *save = NULL, *l = st || !b.p ? NULL : strtok_r((char *)b.p, "\n", &save);
         l && !st; l = strtok_r(NULL, "\n", &save)) {
        line++;
        l[strcspn(l, "#\r")] = 0;
        while (isspace((unsigned char)*l))
            l++;
        if (!*l)
            continue;
        char key[32], rest[2];
        unsigned long long v;
        if (sscanf(l, "%31[a-z_] : %llu %1s", key, &v, rest) != 2 ||
            (strcmp(key, "examples") && strcmp(key, "seed")))
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                             "%s: line %d: expected `examples: N` or `seed: S`, got \"%s\"",
                             path, line, l);
        else if (!strcmp(key, "seed"))
            rd->seed = v;
        else
            rd->examples = v, have_examples = 1;
    }
    if (!st && (!have_examples || rd->examples == 0))
        st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                         "%s: a synthetic split spec needs `examples: N` with N >= 1", path);
    free(b.p);
    return st;
}

int mk_synth_open_reader(void *handle, const char *source, const char *labels,
                         size_t max_chunk, void **reader, char *err, size_t errlen)
{
    struct synth *s = handle;
    if (labels && strcmp(labels, "none"))
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                           "synthetic: %s: labels \"%s\" are not supported (the tasks are "
                           "next-token tasks)", source, labels);
    struct synth_reader *rd = calloc(1, sizeof *rd);
    if (!rd)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "synthetic: out of memory");
    rd->s = s;
    rd->max_chunk = max_chunk ? max_chunk : s->length + 1;
    rd->id_prefix = strdup(source);
    rd->tokens = malloc((s->length + 1) * sizeof *rd->tokens);
    rd->weights = malloc((s->length + 1) * sizeof *rd->weights);
    int st = !rd->id_prefix || !rd->tokens || !rd->weights
                 ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "synthetic: out of memory")
                 : parse_spec(rd, source, err, errlen);
    if (st) {
        mk_synth_close_reader(rd);
        return st;
    }
    *reader = rd;
    return MK_MODALITY_OK;
}

int mk_synth_read(void *reader, struct mk_record *rec, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct synth_reader *rd = reader;
    const size_t n_example = rd->s->length + 1;
    if (rd->next == rd->examples)
        return MK_MODALITY_END;
    if (rd->pos == 0) {
        mk_synth_example(rd->s, rd->seed, rd->next, rd->tokens, rd->weights);
        snprintf(rd->id, sizeof rd->id, "%s:%llu", rd->id_prefix,
                 (unsigned long long)rd->next + 1);
    }
    const size_t n = n_example - rd->pos < rd->max_chunk ? n_example - rd->pos : rd->max_chunk;
    *rec = (struct mk_record){.tokens = rd->tokens + rd->pos, .weights = rd->weights + rd->pos,
                              .n = n, .id = rd->id, .offset = rd->pos,
                              .last = rd->pos + n == n_example};
    rd->pos += n;
    if (rec->last)
        rd->pos = 0, rd->next++;
    return MK_MODALITY_OK;
}

void mk_synth_close_reader(void *reader)
{
    struct synth_reader *rd = reader;
    if (!rd)
        return;
    free(rd->id_prefix);
    free(rd->tokens);
    free(rd->weights);
    free(rd);
}

/* One character per token (its piece), a newline at the end. */
int mk_synth_write(void *handle, const int32_t *tokens, size_t n, const char *id,
                   mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen)
{
    (void)id;
    struct mk_bytes b = {0};
    int st = MK_MODALITY_OK;
    for (size_t i = 0; i <= n && !st; i++) {
        char c = '\n';
        if (i < n && mk_synth_piece(handle, tokens[i], &c, 1) < 0)
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                             "synthetic: token %d at %zu is outside the vocabulary", tokens[i],
                             i);
        else if (mk_bytes_append(&b, &c, 1))
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "synthetic: out of memory");
    }
    if (!st && sink(sink_ctx, b.p, b.n))
        st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "synthetic: the output sink failed");
    free(b.p);
    return st;
}
