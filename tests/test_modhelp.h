/* test_modhelp.h — helpers shared by the modality tests (test_dna.c, test_text.c,
 * test_audio.c, test_plugins.c): a scratch directory, writing small files, and draining a
 * reader of any modality through its plugin descriptor into one flat list of tokens.
 * Header-only (static functions), like tap.h.
 */
#ifndef MK_TEST_MODHELP_H
#define MK_TEST_MODHELP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/modutil.h"
#include "mambakit-plugin.h"
#include "tap.h"

/* A fresh directory under $TMPDIR (or /tmp), removed by scratch_cleanup(). */
static char scratch_dir[512];

static inline void scratch_cleanup(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
    if (system(cmd) != 0)
        diag("could not remove %s", scratch_dir);
}

static inline const char *scratch(void)
{
    if (!scratch_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(scratch_dir, sizeof scratch_dir, "%s/mktest.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(scratch_dir))
            bail_out("cannot make a scratch directory");
        atexit(scratch_cleanup);
    }
    return scratch_dir;
}

/* scratch()/name, in a static buffer (one of 8 rotating). */
static inline const char *spath(const char *name)
{
    static char bufs[8][600];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 600, "%s/%s", scratch(), name);
    return b;
}

static inline const char *write_scratch(const char *name, const void *data, size_t len)
{
    const char *p = spath(name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        bail_out("cannot write %s", p);
    return p;
}

/* Reads a whole file into a malloc'd buffer; bails out if it cannot. */
static inline void slurp(const char *path, unsigned char **data, size_t *len)
{
    struct mk_bytes b = {0};
    char buf[4096];
    size_t k;
    FILE *f = fopen(path, "rb");
    if (!f)
        bail_out("cannot open %s", path);
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        if (mk_bytes_append(&b, buf, k))
            bail_out("out of memory");
    fclose(f);
    *data = b.p;
    *len = b.n;
}

/* Everything a reader gave, flattened. */
struct drained {
    int32_t *tok;        /* [n] all tokens in order */
    float *w;            /* [n] weights (1 where the reader gave none) */
    size_t n, cap, wcap;
    size_t records;      /* chunks with last = 1 */
    size_t chunks;
    char ids[4096];      /* "id|label;" for each chunk with last = 1 */
    int status;          /* MK_MODALITY_END, or the error status */
    char err[512];
};

static inline void drained_free(struct drained *d)
{
    free(d->tok);
    free(d->w);
}

/* Opens `source` with the modality's reader and reads to the end or the first error. */
static inline void drain(const struct mk_modality *m, void *h, const char *source,
                         const char *labels, size_t max_chunk, struct drained *d)
{
    memset(d, 0, sizeof *d);
    void *r = NULL;
    d->status = m->open_reader(h, source, labels, max_chunk, &r, d->err, sizeof d->err);
    if (d->status)
        return;
    struct mk_record rec;
    while ((d->status = m->read(r, &rec, d->err, sizeof d->err)) == MK_MODALITY_OK) {
        if (mk_grow((void **)&d->tok, &d->cap, d->n + rec.n, sizeof(int32_t)) ||
            mk_grow((void **)&d->w, &d->wcap, d->n + rec.n, sizeof(float)))
            bail_out("out of memory");
        for (size_t i = 0; i < rec.n; i++) {
            d->tok[d->n + i] = rec.tokens[i];
            d->w[d->n + i] = rec.weights ? rec.weights[i] : 1.0f;
        }
        d->n += rec.n;
        d->chunks++;
        if (rec.last) {
            d->records++;
            size_t used = strlen(d->ids);
            snprintf(d->ids + used, sizeof d->ids - used, "%s|%s;", rec.id,
                     rec.label ? rec.label : "");
        }
    }
    m->close_reader(r);
}

/* Writes tokens with the modality's writer into a malloc'd buffer (*out, *len). */
static inline int write_tokens(const struct mk_modality *m, void *h, const int32_t *tok,
                               size_t n, const char *id, unsigned char **out, size_t *len,
                               char *err, size_t errlen)
{
    struct mk_bytes b = {0};
    int st = m->write(h, tok, n, id, mk_bytes_sink, &b, err, errlen);
    *out = b.p;
    *len = b.n;
    return st;
}

#endif
