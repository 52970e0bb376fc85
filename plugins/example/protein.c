/* protein.c — an example out-of-tree mambakit modality plugin: protein sequences, one per
 * line, over the 20 standard amino acids. It shows everything a plugin needs and nothing
 * more: it includes only <mambakit/mambakit-plugin.h> (found with `pkg-config --cflags
 * mambakit`), is compiled with -fvisibility=hidden, and exports the single entry point
 * written with MK_MODALITY_ENTRY.
 *
 * Build: make (see Makefile); use: MAMBAKIT_PLUGIN_PATH=$PWD mambakit plugins, then
 * `plugin: protein` in a recipe's data section.
 *
 * Vocabulary: 0 PAD, 1 BOS, 2 EOS, 3 UNK (X and the ambiguity letters B Z J U O), then the
 * amino acids ACDEFGHIKLMNPQRSTVWY as 4..23. Options: add_eos (true|false, default false).
 * Reader: one plain-text file; each non-empty line is a record named "FILE:LINE"; no label
 * rules. Writer: the sequence as one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mambakit-plugin.h>

static const char amino[] = "ACDEFGHIKLMNPQRSTVWY";
enum { PAD, BOS, EOS, UNK, FIRST_AA, V = FIRST_AA + 20 };

struct protein {
    int add_eos;
};

struct reader {
    FILE *f;
    char *path, *line, id[1100];
    size_t cap, lineno, max_chunk, pos, n; /* the current line's tokens tok[pos..n) remain */
    int32_t *tok;
    int add_eos;
};

static int fail(char *err, size_t errlen, int st, const char *msg, const char *what)
{
    snprintf(err, errlen, "protein: %s%s", msg, what);
    return st;
}

static int create(const struct mk_kv *kv, size_t n, void **handle, char *err, size_t errlen)
{
    struct protein p = {0};
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, "add_eos") != 0)
            return fail(err, errlen, MK_MODALITY_ERR_INVALID, "unknown option ", kv[i].key);
        if (strcmp(kv[i].value, "true") && strcmp(kv[i].value, "false"))
            return fail(err, errlen, MK_MODALITY_ERR_INVALID, "add_eos must be true or false: ",
                        kv[i].value);
        p.add_eos = strcmp(kv[i].value, "true") == 0;
    }
    struct protein *h = malloc(sizeof *h);
    if (!h)
        return fail(err, errlen, MK_MODALITY_ERR_NOMEM, "out of memory", "");
    *h = p;
    *handle = h;
    return MK_MODALITY_OK;
}

static void destroy(void *handle)
{
    free(handle);
}

static int32_t vocab_size(void *handle)
{
    return V;
}

static int32_t special(void *handle, enum mk_special_token which)
{
    return which == MK_TOKEN_PAD ? PAD : which == MK_TOKEN_BOS ? BOS
         : which == MK_TOKEN_EOS ? EOS : which == MK_TOKEN_UNK ? UNK : -1;
}

static int piece(void *handle, int32_t id, char *buf, size_t cap)
{
    static const char *const names[] = {"<pad>", "<s>", "</s>", "X"};
    if (id < 0 || id >= V)
        return -1;
    char aa[2] = {id >= FIRST_AA ? amino[id - FIRST_AA] : 0, 0};
    const char *s = id < FIRST_AA ? names[id] : aa;
    size_t len = strlen(s);
    memcpy(buf, s, len < cap ? len : cap);
    return (int)len;
}

static void close_reader(void *rd)
{
    struct reader *r = rd;
    if (r->f)
        fclose(r->f);
    free(r->path);
    free(r->line);
    free(r->tok);
    free(r);
}

static int open_reader(void *handle, const char *source, const char *labels, size_t max_chunk,
                       void **rd, char *err, size_t errlen)
{
    if (labels && *labels && strcmp(labels, "none") != 0)
        return fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED, "no label rules: ", labels);
    struct reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(source))) {
        free(r);
        return fail(err, errlen, MK_MODALITY_ERR_NOMEM, "out of memory", "");
    }
    r->f = fopen(source, "r");
    if (!r->f) {
        close_reader(r);
        return fail(err, errlen, MK_MODALITY_ERR_IO, "cannot open ", source);
    }
    r->max_chunk = max_chunk;
    r->add_eos = ((const struct protein *)handle)->add_eos;
    *rd = r;
    return MK_MODALITY_OK;
}

/* Tokenises the next non-empty line into r->tok; returns 0, MK_MODALITY_END or an error. */
static int next_line(struct reader *r, char *err, size_t errlen)
{
    ssize_t len;
    do {
        if ((len = getline(&r->line, &r->cap, r->f)) < 0)
            return MK_MODALITY_END;
        r->lineno++;
        while (len > 0 && (r->line[len - 1] == '\n' || r->line[len - 1] == '\r'))
            len--;
    } while (len == 0);
    int32_t *t = realloc(r->tok, ((size_t)len + 1) * sizeof *t);
    if (!t)
        return fail(err, errlen, MK_MODALITY_ERR_NOMEM, "out of memory", "");
    r->tok = t;
    r->n = 0;
    for (ssize_t i = 0; i < len; i++) {
        const char *a = strchr(amino, r->line[i] & ~32); /* upper case */
        if (r->line[i] && a && *a)
            t[r->n++] = FIRST_AA + (int32_t)(a - amino);
        else if (strchr("XBZJUOxbzjuo", r->line[i]) && r->line[i])
            t[r->n++] = UNK;
        else
            return fail(err, errlen, MK_MODALITY_ERR_FORMAT, "not an amino acid in ", r->path);
    }
    if (r->add_eos)
        t[r->n++] = EOS;
    r->pos = 0;
    snprintf(r->id, sizeof r->id, "%s:%zu", r->path, r->lineno);
    return MK_MODALITY_OK;
}

static int read_record(void *rd, struct mk_record *rec, char *err, size_t errlen)
{
    struct reader *r = rd;
    if (r->pos == r->n) {
        int st = next_line(r, err, errlen);
        if (st)
            return st;
    }
    size_t k = r->n - r->pos;
    if (r->max_chunk && k > r->max_chunk)
        k = r->max_chunk;
    *rec = (struct mk_record){.tokens = r->tok + r->pos, .n = k, .id = r->id,
                              .offset = r->pos, .last = r->pos + k == r->n};
    r->pos += k;
    return MK_MODALITY_OK;
}

static int write_seq(void *handle, const int32_t *tok, size_t n, const char *id,
                     mk_byte_sink sink, void *ctx, char *err, size_t errlen)
{
    char *s = malloc(n + 1);
    size_t k = 0;
    if (!s)
        return fail(err, errlen, MK_MODALITY_ERR_NOMEM, "out of memory", "");
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < 0 || tok[i] >= V) {
            free(s);
            return fail(err, errlen, MK_MODALITY_ERR_INVALID, "token outside the vocabulary",
                        "");
        }
        if (tok[i] >= UNK)
            s[k++] = tok[i] == UNK ? 'X' : amino[tok[i] - FIRST_AA];
    }
    s[k++] = '\n';
    int bad = sink(ctx, s, k);
    free(s);
    return bad ? fail(err, errlen, MK_MODALITY_ERR_IO, "writing failed", "") : MK_MODALITY_OK;
}

static const struct mk_modality protein_modality = {
    .abi_version = MK_MODALITY_ABI_VERSION,
    .struct_size = sizeof(struct mk_modality),
    .name = "protein",
    .description = "protein sequences, one per line (example out-of-tree plugin)",
    .version = "0.1.0",
    .output_ext = ".txt",
    .create = create,
    .destroy = destroy,
    .vocab_size = vocab_size,
    .special = special,
    .piece = piece,
    .open_reader = open_reader,
    .read = read_record,
    .close_reader = close_reader,
    .write = write_seq,
};

MK_MODALITY_ENTRY(protein)
{
    return &protein_modality;
}
