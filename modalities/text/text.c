/* text.c — the text modality (see text.h): documents from plain text files, tokenised as
 * bytes or with a byte-level BPE, handed out through a chunker; the writer decodes ids back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/chunker.h"
#include "common/source.h"
#include "text/bpe.h"
#include "text/text.h"

enum { TOK_BYTES, TOK_BPE };
enum { DOC_FILE, DOC_LINE };

struct text {
    int tokenizer, doc, add_bos, add_eos;
    const char *vocab_file;       /* borrowed during create only */
    size_t window, stride;
    struct mk_bpe *bpe;           /* TOK_BPE */
    int32_t special[MK_SPECIAL_TOKEN_COUNT];
};

static const char *const byte_specials[] = {"<pad>", "<s>", "</s>", "<mask>"};

/* The id of the first of the names the BPE vocabulary has, or -1. */
static int32_t find_token(const struct mk_bpe *b, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = mk_bpe_token_id(b, *names, strlen(*names));
        if (id >= 0)
            return id;
    }
    return -1;
}

static void set_specials(struct text *t)
{
    for (int i = 0; i < MK_SPECIAL_TOKEN_COUNT; i++)
        t->special[i] = -1;
    if (t->tokenizer == TOK_BYTES) {
        t->special[MK_TOKEN_PAD] = MK_TEXT_PAD;
        t->special[MK_TOKEN_BOS] = MK_TEXT_BOS;
        t->special[MK_TOKEN_EOS] = MK_TEXT_EOS;
        t->special[MK_TOKEN_MASK] = MK_TEXT_MASK;
        return;
    }
    static const char *const eos[] = {"<|endoftext|>", "</s>", "<eos>", NULL};
    static const char *const bos[] = {"<s>", "<bos>", "<|startoftext|>", NULL};
    static const char *const pad[] = {"<|padding|>", "<pad>", "[PAD]", NULL};
    static const char *const unk[] = {"<unk>", "[UNK]", "<|unk|>", NULL};
    static const char *const mask[] = {"<mask>", "[MASK]", NULL};
    t->special[MK_TOKEN_EOS] = find_token(t->bpe, eos);
    t->special[MK_TOKEN_BOS] = find_token(t->bpe, bos);
    if (t->special[MK_TOKEN_BOS] < 0)
        t->special[MK_TOKEN_BOS] = t->special[MK_TOKEN_EOS];
    t->special[MK_TOKEN_PAD] = find_token(t->bpe, pad);
    t->special[MK_TOKEN_UNK] = find_token(t->bpe, unk);
    t->special[MK_TOKEN_MASK] = find_token(t->bpe, mask);
}

int mk_text_create(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                   size_t errlen)
{
    static const struct mk_optdef defs[] = {
        {"tokenizer", MK_OPT_ENUM, offsetof(struct text, tokenizer), 0, 0, "bytes|bpe"},
        {"vocab_file", MK_OPT_STRING, offsetof(struct text, vocab_file), 0, 0, 0},
        {"doc", MK_OPT_ENUM, offsetof(struct text, doc), 0, 0, "file|line"},
        {"add_bos", MK_OPT_BOOL, offsetof(struct text, add_bos), 0, 0, 0},
        {"add_eos", MK_OPT_BOOL, offsetof(struct text, add_eos), 0, 0, 0},
        {"window", MK_OPT_SIZE, offsetof(struct text, window), 0, 1e12, 0},
        {"stride", MK_OPT_SIZE, offsetof(struct text, stride), 1, 1e12, 0},
        {NULL, 0, 0, 0, 0, 0}};
    struct text o = {.add_eos = 1};
    int st = mk_opts_parse(defs, &o, options, n_options, "text", err, errlen);
    if (st)
        return st;
    if (o.stride && !o.window)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "text: option stride needs a window");
    if ((o.tokenizer == TOK_BPE) != (o.vocab_file != NULL))
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           o.vocab_file ? "text: vocab_file is for tokenizer: bpe"
                                        : "text: tokenizer: bpe needs vocab_file: a "
                                          "tokenizer.json (mambakit tokenizer train makes one)");
    if (o.tokenizer == TOK_BPE && (st = mk_bpe_load(&o.bpe, o.vocab_file, err, errlen)))
        return st;
    o.vocab_file = NULL;
    set_specials(&o);
    if ((o.add_bos && o.special[MK_TOKEN_BOS] < 0) || (o.add_eos && o.special[MK_TOKEN_EOS] < 0)) {
        mk_bpe_free(o.bpe);
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                           "text: add_%s: the tokenizer has no %s token", o.add_bos ? "bos" : "eos",
                           o.add_bos ? "BOS" : "EOS (<|endoftext|>)");
    }
    struct text *t = malloc(sizeof *t);
    if (!t) {
        mk_bpe_free(o.bpe);
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "text: out of memory");
    }
    *t = o;
    *handle = t;
    return MK_MODALITY_OK;
}

void mk_text_destroy(void *handle)
{
    struct text *t = handle;
    if (t)
        mk_bpe_free(t->bpe);
    free(t);
}

int32_t mk_text_vocab_size(void *handle)
{
    const struct text *t = handle;
    return t->tokenizer == TOK_BPE ? mk_bpe_vocab_size(t->bpe) : MK_TEXT_BYTES_V;
}

int32_t mk_text_special(void *handle, enum mk_special_token which)
{
    const struct text *t = handle;
    return which >= 0 && which < MK_SPECIAL_TOKEN_COUNT ? t->special[which] : -1;
}

int mk_text_piece(void *handle, int32_t id, char *buf, size_t cap)
{
    const struct text *t = handle;
    size_t len;
    const char *p;
    char byte = (char)id;
    if (t->tokenizer == TOK_BPE)
        p = mk_bpe_piece(t->bpe, id, &len);
    else if (id >= 0 && id < 256)
        p = &byte, len = 1;
    else if (id >= MK_TEXT_PAD && id < MK_TEXT_BYTES_V)
        p = byte_specials[id - MK_TEXT_PAD], len = strlen(p);
    else
        p = NULL;
    if (!p)
        return -1;
    memcpy(buf, p, len < cap ? len : cap);
    return (int)len;
}

/* ---- reader ---- */

struct text_reader {
    struct mk_source_reader base; /* files, labels, chunker */
    struct text *t;
    size_t file_i;             /* next file to load */
    struct mk_bytes text;      /* the loaded file */
    size_t pos;                /* next unread byte of it */
    int loaded;
    size_t line;               /* line number of text[pos] */
    struct mk_ids ids;
};

/* Tokenises doc[0..len) as the record `id` into the chunker. */
static int start_document(struct text_reader *r, const unsigned char *doc, size_t len,
                          const char *id, char *err, size_t errlen)
{
    const struct text *t = r->t;
    const char *label;
    const char *path = r->base.files.paths[r->file_i - 1];
    int st = mk_labeler_label(&r->base.lab, path, id, NULL, &label, err, errlen);
    if (st)
        return st;
    r->ids.n = 0;
    int fail = 0;
    if (t->tokenizer == TOK_BPE) {
        fail = mk_bpe_encode(t->bpe, doc, len, &r->ids);
    } else {
        fail = mk_grow((void **)&r->ids.v, &r->ids.cap, len, sizeof(int32_t));
        for (size_t i = 0; !fail && i < len; i++)
            r->ids.v[r->ids.n++] = doc[i];
    }
    fail = fail || mk_chunker_begin(&r->base.ch, id, label);
    if (!fail && t->add_bos)
        fail = mk_chunker_push(&r->base.ch, t->special[MK_TOKEN_BOS], 1.0f);
    for (size_t i = 0; !fail && i < r->ids.n; i++)
        fail = mk_chunker_push(&r->base.ch, r->ids.v[i], 1.0f);
    if (!fail && t->add_eos)
        fail = mk_chunker_push(&r->base.ch, t->special[MK_TOKEN_EOS], 1.0f);
    mk_chunker_end(&r->base.ch);
    return fail ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "text: out of memory")
                : MK_MODALITY_OK;
}

/* Starts the next non-empty document; MK_MODALITY_END when the files are done. */
static int next_document(struct mk_source_reader *base, char *err, size_t errlen)
{
    struct text_reader *r = (struct text_reader *)base;
    for (;;) {
        if (!r->loaded) {
            if (r->file_i >= r->base.files.n)
                return MK_MODALITY_END;
            int st = mk_read_whole(r->base.files.paths[r->file_i++], &r->text, err, errlen);
            if (st)
                return st;
            r->loaded = 1;
            r->pos = 0;
            r->line = 1;
        }
        const char *path = r->base.files.paths[r->file_i - 1];
        if (r->t->doc == DOC_FILE) {
            r->loaded = 0;
            if (r->text.n > 0)
                return start_document(r, r->text.p, r->text.n, path, err, errlen);
            continue;
        }
        while (r->pos < r->text.n) {
            const unsigned char *s = r->text.p + r->pos;
            const unsigned char *nl = memchr(s, '\n', r->text.n - r->pos);
            size_t len = nl ? (size_t)(nl - s) : r->text.n - r->pos, line = r->line++;
            r->pos += len + (nl != NULL);
            if (len > 0 && s[len - 1] == '\r')
                len--;
            if (len == 0)
                continue;
            char id[4200];
            snprintf(id, sizeof id, "%s:%zu", path, line);
            return start_document(r, s, len, id, err, errlen);
        }
        r->loaded = 0;
    }
}

int mk_text_read(void *reader, struct mk_record *rec, char *err, size_t errlen)
{
    return mk_source_reader_read(reader, rec, err, errlen);
}

void mk_text_close_reader(void *reader)
{
    struct text_reader *r = reader;
    if (!r)
        return;
    mk_source_reader_free(&r->base);
    free(r->text.p);
    free(r->ids.v);
    free(r);
}

int mk_text_open_reader(void *handle, const char *source, const char *labels, size_t max_chunk,
                        void **reader, char *err, size_t errlen)
{
    struct text *t = handle;
    struct text_reader *r = calloc(1, sizeof *r);
    if (!r)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "text: out of memory");
    r->t = t;
    r->base.advance = next_document;
    int st = mk_source_reader_init(&r->base, source, labels, max_chunk, t->window, t->stride, 0,
                                   err, errlen);
    if (st) {
        mk_text_close_reader(r);
        return st;
    }
    *reader = r;
    return MK_MODALITY_OK;
}

/* ---- writer ---- */

int mk_text_write(void *handle, const int32_t *tokens, size_t n, const char *id,
                  mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen)
{
    const struct text *t = handle;
    struct mk_bytes out = {0};
    int rc = 0;
    if (t->tokenizer == TOK_BPE) {
        rc = mk_bpe_decode(t->bpe, tokens, n, 1, &out);
    } else {
        for (size_t i = 0; !rc && i < n; i++) {
            char c = (char)tokens[i];
            rc = tokens[i] < 0 || tokens[i] >= MK_TEXT_BYTES_V ? 1
                 : tokens[i] < 256                             ? mk_bytes_append(&out, &c, 1)
                                                               : 0;
        }
    }
    int st = rc > 0 ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                                  "text: a token is outside the vocabulary [0, %d)",
                                  (int)mk_text_vocab_size(handle))
             : rc < 0 ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "text: out of memory")
             : out.n && sink(sink_ctx, out.p, out.n)
                 ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "text: writing failed")
                 : MK_MODALITY_OK;
    free(out.p);
    return st;
}
