/* dna.c — the DNA modality (see dna.h): a streaming FASTA / FASTA.gz reader, the FASTA writer
 * and reverse complement.
 *
 * The reader pulls 64 KB blocks through zlib's gzread (which also reads plain files) and runs
 * a three-state machine per byte: FILE_START (blank lines, then '>' or the file is not
 * FASTA), HEADER (the rest of the '>' line), SEQ (bases; '>' at a line start ends the record).
 * Tokens go into a chunker (common/chunker.h), which hands out whole records, streamed chunks
 * or windows, so memory stays bounded by the chunk or window size, not the genome.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "common/chunker.h"
#include "common/modutil.h"
#include "common/source.h"
#include "dna/dna.h"

enum n_policy { N_TOKEN, N_IGNORE, N_SKIP, N_SPLIT };

struct dna {
    int keep_case;        /* 1: lower case has tokens of its own */
    double softmask_w;    /* loss weight of lower-case bases */
    int n_policy;         /* enum n_policy */
    double rc_aug;        /* probability of reverse-complementing in augment() */
    int add_bos, add_eos;
    size_t window, stride, line_width;
};

/* Byte classes: 0 bad; SKIP ignorable inside sequence lines; an upper-case base is its token
 * (A..N = 3..7); a lower-case base is its token | LOWER_BIT. */
enum { BAD = 0, SKIP = 1, LOWER_BIT = 8 };
#define IUPAC_N(c) [c] = MK_DNA_N, [c + 32] = MK_DNA_N | LOWER_BIT
static const unsigned char byte_class[256] = {
    [' '] = SKIP, ['\t'] = SKIP, ['\r'] = SKIP, ['\v'] = SKIP, ['\f'] = SKIP,
    ['A'] = MK_DNA_A, ['C'] = MK_DNA_C, ['G'] = MK_DNA_G, ['T'] = MK_DNA_T, ['U'] = MK_DNA_T,
    ['a'] = MK_DNA_A | LOWER_BIT, ['c'] = MK_DNA_C | LOWER_BIT, ['g'] = MK_DNA_G | LOWER_BIT,
    ['t'] = MK_DNA_T | LOWER_BIT, ['u'] = MK_DNA_T | LOWER_BIT,
    IUPAC_N('N'), IUPAC_N('R'), IUPAC_N('Y'), IUPAC_N('S'), IUPAC_N('W'), IUPAC_N('K'),
    IUPAC_N('M'), IUPAC_N('B'), IUPAC_N('D'), IUPAC_N('H'), IUPAC_N('V'),
};
#undef IUPAC_N

static const char *const piece_names[] = {"<pad>", "<s>", "</s>", "A", "C", "G", "T", "N",
                                          "a", "c", "g", "t", "n"};

int mk_dna_create(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                  size_t errlen)
{
    static const struct mk_optdef defs[] = {
        {"case", MK_OPT_ENUM, offsetof(struct dna, keep_case), 0, 0, "fold|keep"},
        {"softmask_loss_weight", MK_OPT_DOUBLE, offsetof(struct dna, softmask_w), 0, 1e6, 0},
        {"n_policy", MK_OPT_ENUM, offsetof(struct dna, n_policy), 0, 0,
         "token|ignore|skip|split"},
        {"rc_aug", MK_OPT_DOUBLE, offsetof(struct dna, rc_aug), 0, 1, 0},
        {"add_bos", MK_OPT_BOOL, offsetof(struct dna, add_bos), 0, 0, 0},
        {"add_eos", MK_OPT_BOOL, offsetof(struct dna, add_eos), 0, 0, 0},
        {"window", MK_OPT_SIZE, offsetof(struct dna, window), 0, 1e12, 0},
        {"stride", MK_OPT_SIZE, offsetof(struct dna, stride), 1, 1e12, 0},
        {"line_width", MK_OPT_SIZE, offsetof(struct dna, line_width), 0, 1e9, 0},
        {NULL, 0, 0, 0, 0, 0}};
    struct dna o = {.softmask_w = 1.0, .line_width = 60};
    int st = mk_opts_parse(defs, &o, options, n_options, "dna", err, errlen);
    if (st)
        return st;
    if (o.stride && !o.window)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "dna: option stride needs a window");
    struct dna *d = malloc(sizeof *d);
    if (!d)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "dna: out of memory");
    *d = o;
    *handle = d;
    return MK_MODALITY_OK;
}

void mk_dna_destroy(void *handle)
{
    free(handle);
}

int32_t mk_dna_vocab_size(void *handle)
{
    const struct dna *d = handle;
    return d->keep_case ? MK_DNA_N + MK_DNA_LOWER + 1 : MK_DNA_N + 1;
}

int32_t mk_dna_special(void *handle, enum mk_special_token which)
{
    switch (which) {
    case MK_TOKEN_PAD: return MK_DNA_PAD;
    case MK_TOKEN_BOS: return MK_DNA_BOS;
    case MK_TOKEN_EOS: return MK_DNA_EOS;
    case MK_TOKEN_N: return MK_DNA_N;
    default: return -1;
    }
}

int mk_dna_piece(void *handle, int32_t id, char *buf, size_t cap)
{
    if (id < 0 || id >= mk_dna_vocab_size(handle))
        return -1;
    size_t len = strlen(piece_names[id]);
    memcpy(buf, piece_names[id], len < cap ? len : cap);
    return (int)len;
}

/* ---- reader ---- */

enum { FILE_START, HEADER, SEQ, FILE_DONE };

struct fasta_reader {
    struct mk_source_reader base; /* files, labels, chunker */
    struct dna o;
    size_t file_i;            /* the file being read */
    gzFile gz;
    unsigned char buf[1 << 16];
    size_t pos, len;          /* unread bytes are buf[pos..len) */
    int state;
    int status;               /* error status of a failed next_byte() */
    uint64_t line;            /* 1-based line of the next byte */
    int line_start;           /* the next byte starts a line */
    struct mk_bytes header;   /* the current header line without '>', NUL-terminated */
    struct mk_bytes id;       /* its first word, NUL-terminated */
    uint64_t record_no;       /* 1-based record number in the file */
    uint64_t raw;             /* sequence characters of the current record so far */
    int seg_open;             /* a record (or split segment) is open in the chunker */
    char label[1024];         /* the current record's label */
    int has_label;
};

static const char *path_of(const struct fasta_reader *r)
{
    return r->base.files.paths[r->file_i];
}

/* The next byte, -1 at the end of the file, or -2 on a read error (r->status and err set). */
static int next_byte(struct fasta_reader *r, char *err, size_t errlen)
{
    if (r->pos == r->len) {
        int k = gzread(r->gz, r->buf, sizeof r->buf);
        int zerr = Z_OK;
        const char *msg = gzerror(r->gz, &zerr);
        if (k <= 0 && zerr != Z_OK) {
            r->status = zerr == Z_ERRNO ? MK_MODALITY_ERR_IO : MK_MODALITY_ERR_FORMAT;
            if (zerr == Z_BUF_ERROR)
                mk_mod_fail(err, errlen, r->status,
                            "%s: truncated gzip stream (the file ends inside the data, "
                            "line %llu)", path_of(r), (unsigned long long)r->line);
            else
                mk_mod_fail(err, errlen, r->status, "%s: cannot read: %s", path_of(r),
                            zerr == Z_ERRNO ? strerror(errno) : msg);
            return -2;
        }
        if (k <= 0)
            return -1;
        r->pos = 0;
        r->len = (size_t)k;
    }
    return r->buf[r->pos++];
}

/* "'x'" for a printable byte, "byte 0xNN" otherwise, in buf[16]. */
static const char *describe_byte(int c, char *buf)
{
    snprintf(buf, 16, c > 32 && c < 127 ? "'%c'" : "byte 0x%02x", c);
    return buf;
}

static int start_file(struct fasta_reader *r, char *err, size_t errlen)
{
    if (!r->gz) {
        r->gz = gzopen(path_of(r), "rb");
        if (!r->gz)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "%s: cannot open: %s",
                               path_of(r), errno ? strerror(errno) : "out of memory");
        gzbuffer(r->gz, 1 << 17);
        r->pos = r->len = 0;
        r->line = 1;
        r->line_start = 1;
        r->record_no = 0;
    }
    for (;;) {
        int c = next_byte(r, err, errlen);
        if (c == -2)
            return r->status;
        if (c == -1)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                               "%s: not a FASTA file: no '>' record in it", path_of(r));
        if (c == '>') {
            r->state = HEADER;
            return MK_MODALITY_OK;
        }
        if (c == '\n')
            r->line++;
        else if (byte_class[c] != SKIP)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                               "%s: line %llu: not a FASTA file (a record starts with '>', "
                               "found %s)", path_of(r), (unsigned long long)r->line,
                               describe_byte(c, (char[16]){0}));
    }
}

static int read_header(struct fasta_reader *r, char *err, size_t errlen)
{
    uint64_t line = r->line;
    int c;
    r->header.n = r->id.n = 0;
    while ((c = next_byte(r, err, errlen)) >= 0 && c != '\n') {
        char ch = (char)c;
        if (mk_bytes_append(&r->header, &ch, 1))
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "dna: out of memory");
    }
    if (c == -2)
        return r->status;
    r->line++;
    r->line_start = 1;
    while (r->header.n > 0 && (r->header.p[r->header.n - 1] == '\r' ||
                               r->header.p[r->header.n - 1] == ' '))
        r->header.n--;
    r->header.p[r->header.n] = 0;
    const char *name = (const char *)r->header.p;
    size_t len = strcspn(name, " \t");
    r->record_no++;
    r->raw = 0;
    if (len == 0)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                           "%s: record %llu, line %llu: header without a name after '>'",
                           path_of(r), (unsigned long long)r->record_no,
                           (unsigned long long)line);
    if (mk_bytes_append(&r->id, name, len + 1))
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "dna: out of memory");
    r->id.p[len] = 0;
    const char *label;
    int st = mk_labeler_label(&r->base.lab, path_of(r), (const char *)r->id.p, name, &label, err,
                              errlen);
    if (st)
        return st;
    r->has_label = label != NULL;
    if (label)
        snprintf(r->label, sizeof r->label, "%s", label);
    r->state = SEQ;
    return MK_MODALITY_OK;
}

/* Opens a record in the chunker at the current base: the record itself, or with n_policy
 * split the segment "ID:START" starting at this base (1-based). */
static int open_segment(struct fasta_reader *r)
{
    char id[1100];
    const char *name = (const char *)r->id.p;
    if (r->o.n_policy == N_SPLIT) {
        snprintf(id, sizeof id, "%s:%llu", name, (unsigned long long)r->raw);
        name = id;
    }
    r->seg_open = 1;
    if (mk_chunker_begin(&r->base.ch, name, r->has_label ? r->label : NULL))
        return -1;
    return r->o.add_bos ? mk_chunker_push(&r->base.ch, MK_DNA_BOS, 1.0f) : 0;
}

static int close_segment(struct fasta_reader *r)
{
    r->seg_open = 0;
    int rc = r->o.add_eos ? mk_chunker_push(&r->base.ch, MK_DNA_EOS, 1.0f) : 0;
    mk_chunker_end(&r->base.ch);
    return rc;
}

static int end_record(struct fasta_reader *r, char *err, size_t errlen)
{
    if (r->raw == 0)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                           "%s: record '%s' (%llu), line %llu: empty record (no sequence)",
                           path_of(r), (const char *)r->id.p,
                           (unsigned long long)r->record_no, (unsigned long long)r->line);
    if (r->seg_open && close_segment(r))
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "dna: out of memory");
    return MK_MODALITY_OK;
}

/* Reads bases until the record ends, a split segment ends, or the input block is used up. */
static int read_bases(struct fasta_reader *r, char *err, size_t errlen)
{
    for (;;) {
        int c = next_byte(r, err, errlen);
        if (c == -2)
            return r->status;
        if (c == -1) {
            r->state = FILE_DONE;
            return end_record(r, err, errlen);
        }
        if (c == '\n') {
            r->line++;
            r->line_start = 1;
            continue;
        }
        if (c == '>' && r->line_start) {
            r->state = HEADER;
            return end_record(r, err, errlen);
        }
        r->line_start = 0;
        int cls = byte_class[c];
        if (cls == SKIP)
            continue;
        if (cls == BAD)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                               "%s: record '%s' (%llu), line %llu: bad character %s",
                               path_of(r), (const char *)r->id.p,
                               (unsigned long long)r->record_no, (unsigned long long)r->line,
                               describe_byte(c, (char[16]){0}));
        r->raw++;
        int lower = cls & LOWER_BIT, tok = cls & ~LOWER_BIT;
        float w = lower ? (float)r->o.softmask_w : 1.0f;
        if (tok == MK_DNA_N && r->o.n_policy == N_SPLIT && r->seg_open) {
            if (close_segment(r))
                return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "dna: out of memory");
            return MK_MODALITY_OK; /* hand the segment out before going on */
        }
        if (tok == MK_DNA_N && (r->o.n_policy == N_SPLIT || r->o.n_policy == N_SKIP))
            continue;
        if (tok == MK_DNA_N && r->o.n_policy == N_IGNORE)
            w = 0.0f;
        if (lower && r->o.keep_case)
            tok += MK_DNA_LOWER;
        if ((!r->seg_open && open_segment(r)) || mk_chunker_push(&r->base.ch, tok, w))
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "dna: out of memory");
        if (r->pos == r->len)
            return MK_MODALITY_OK; /* let ready chunks out once per block */
    }
}

static int advance(struct mk_source_reader *base, char *err, size_t errlen)
{
    struct fasta_reader *r = (struct fasta_reader *)base;
    switch (r->state) {
    case FILE_START:
        return start_file(r, err, errlen);
    case HEADER:
        return read_header(r, err, errlen);
    case SEQ:
        return read_bases(r, err, errlen);
    default:
        if (r->gz) {
            gzclose(r->gz);
            r->gz = NULL;
            r->file_i++;
        }
        if (r->file_i >= r->base.files.n)
            return MK_MODALITY_END;
        r->state = FILE_START;
        return MK_MODALITY_OK;
    }
}

int mk_dna_read(void *reader, struct mk_record *rec, char *err, size_t errlen)
{
    return mk_source_reader_read(reader, rec, err, errlen);
}

void mk_dna_close_reader(void *reader)
{
    struct fasta_reader *r = reader;
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
    mk_source_reader_free(&r->base);
    free(r->header.p);
    free(r->id.p);
    free(r);
}

int mk_dna_open_reader(void *handle, const char *source, const char *labels, size_t max_chunk,
                       void **reader, char *err, size_t errlen)
{
    const struct dna *d = handle;
    struct fasta_reader *r = calloc(1, sizeof *r);
    if (!r)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "dna: out of memory");
    r->o = *d;
    r->base.advance = advance;
    int weighted = d->softmask_w != 1.0 || d->n_policy == N_IGNORE;
    int st = mk_source_reader_init(&r->base, source, labels, max_chunk, d->window, d->stride,
                                   weighted, err, errlen);
    if (st) {
        mk_dna_close_reader(r);
        return st;
    }
    *reader = r;
    return MK_MODALITY_OK;
}

/* ---- writer ---- */

int mk_dna_write(void *handle, const int32_t *tokens, size_t n, const char *id,
                 mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen)
{
    const struct dna *d = handle;
    int32_t V = mk_dna_vocab_size(handle);
    struct mk_bytes out = {0};
    int fail = mk_bytes_append(&out, ">", 1) || mk_bytes_append(&out, id ? id : "generated",
                                                                 strlen(id ? id : "generated"));
    size_t col = 0;
    for (size_t i = 0; i < n && !fail; i++) {
        if (tokens[i] < 0 || tokens[i] >= V) {
            free(out.p);
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "dna: token %ld at position %zu is outside the vocabulary [0, %d)",
                               (long)tokens[i], i, (int)V);
        }
        if (tokens[i] < MK_DNA_A)
            continue;
        if (col == 0 || (d->line_width && col == d->line_width)) {
            fail |= mk_bytes_append(&out, "\n", 1);
            col = 0;
        }
        fail |= mk_bytes_append(&out, piece_names[tokens[i]], 1);
        col++;
    }
    fail = fail || mk_bytes_append(&out, "\n", 1);
    int st = fail ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "dna: out of memory")
             : sink(sink_ctx, out.p, out.n)
                 ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "dna: writing the FASTA failed")
                 : MK_MODALITY_OK;
    free(out.p);
    return st;
}

/* ---- strands ---- */

/* The complementary base: A + T = C + G = 9 in token ids, so c(b) = A + T - b. */
static int32_t complement(int32_t t)
{
    if (t < MK_DNA_A)
        return t;
    int32_t lower = t > MK_DNA_N ? MK_DNA_LOWER : 0, b = t - lower;
    return (b == MK_DNA_N ? b : MK_DNA_A + MK_DNA_T - b) + lower;
}

void mk_dna_reverse_complement(void *handle, int32_t *tokens, float *weights, size_t n)
{
    for (size_t i = 0, j = n; i < j--; i++) {
        int32_t t = complement(tokens[i]);
        tokens[i] = complement(tokens[j]);
        tokens[j] = t;
        if (weights) {
            float w = weights[i];
            weights[i] = weights[j];
            weights[j] = w;
        }
    }
}

void mk_dna_augment(void *handle, int32_t *tokens, float *weights, size_t n, uint64_t random)
{
    const struct dna *d = handle;
    if ((double)(random >> 11) * 0x1.0p-53 < d->rc_aug)
        mk_dna_reverse_complement(handle, tokens, weights, n);
}
