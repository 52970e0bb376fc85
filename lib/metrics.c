/* metrics.c — OUT/metrics.jsonl: one JSON object per line, {"step": S, "split": "train",
 * "loss": ..., ...}, flushed as written so `tail -f` and `mambakit plot` see it live. A
 * resumed run first drops the lines past its checkpoint's step, so the file reads as one
 * uninterrupted run.
 */
#include "config.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train.h"

struct mk_metrics {
    FILE *f;
};

/* The "step" of a metrics line, or -1. */
static long long line_step(const char *line)
{
    const char *s = strstr(line, "\"step\":");
    return s ? strtoll(s + 7, NULL, 10) : -1;
}

static mk_status truncate_after(const char *path, int64_t keep_upto)
{
    unsigned char *text;
    size_t len;
    if (mk_read_file(path, &text, &len) != MK_OK)
        return MK_OK; /* nothing yet */
    char *kept = malloc(len + 1);
    size_t n = 0;
    if (!kept) {
        free(text);
        return mk_fail(MK_ERR_NOMEM, "out of memory reading %s", path);
    }
    for (char *line = (char *)text, *nl; line < (char *)text + len; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break; /* a torn last line */
        if (line_step(line) <= keep_upto) {
            memcpy(kept + n, line, (size_t)(nl - line) + 1);
            n += (size_t)(nl - line) + 1;
        }
    }
    mk_status st = mk_write_file_atomic(path, kept, n);
    free(kept);
    free(text);
    return st;
}

mk_status mk_metrics_open(struct mk_metrics **out, const char *dir, int64_t keep_upto)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    *out = NULL;
    mk_status st = keep_upto >= 0 ? truncate_after(path, keep_upto) : MK_OK;
    if (st != MK_OK)
        return st;
    struct mk_metrics *w = calloc(1, sizeof *w);
    if (!w)
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    if (!(w->f = fopen(path, keep_upto >= 0 ? "a" : "w"))) {
        free(w);
        return mk_fail(MK_ERR_IO, "%s: cannot open for writing", path);
    }
    *out = w;
    return MK_OK;
}

void mk_metrics_write(struct mk_metrics *w, int64_t step, const char *split, int n,
                      const char *const *names, const double *values)
{
    if (!w)
        return;
    fprintf(w->f, "{\"step\": %lld, \"split\": \"%s\"", (long long)step, split);
    for (int i = 0; i < n; i++) {
        if (isfinite(values[i]))
            fprintf(w->f, ", \"%s\": %.9g", names[i], values[i]);
        else
            fprintf(w->f, ", \"%s\": null", names[i]);
    }
    fputs("}\n", w->f);
    fflush(w->f);
}

void mk_metrics_close(struct mk_metrics *w)
{
    if (!w)
        return;
    fclose(w->f);
    free(w);
}
