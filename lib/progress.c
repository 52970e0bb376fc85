/* progress.c — what a user watches during a run, written to the FILE* the caller gives
 * (stderr): on a terminal a one-line bar redrawn in place,
 *     [#########-----------]  450/1000  45%  loss 1.8123  lr 8.0e-04  12.3k tok/s  ETA 0:41
 * and elsewhere (a log file, CI) a plain line every log.every steps. Notes (evaluation
 * results, checkpoints, warnings) clear the bar, print, and let it be redrawn.
 * Speed is measured from this run's first step, so a resumed run shows its own rate.
 */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "train.h"

struct mk_progress {
    FILE *f;
    int bar;                /* redraw in place */
    int quiet;              /* progress: none */
    int64_t total, first;   /* steps: total, and where this run began */
    int64_t first_tokens;
    double t0;
    int drawn;              /* a bar is on the line */
    double last;            /* when mk_progress_count last drew */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mk_status mk_progress_open(struct mk_progress **out, FILE *f, int mode, int64_t total,
                           int64_t first_step)
{
    struct mk_progress *p = calloc(1, sizeof *p);
    if (!p)
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    p->f = f;
    p->quiet = !f || mode == MK_PROGRESS_NONE;
    p->bar = f && (mode == MK_PROGRESS_BAR || (mode == MK_PROGRESS_AUTO && isatty(fileno(f))));
    p->total = total;
    p->first = first_step;
    p->first_tokens = -1;
    p->t0 = now();
    *out = p;
    return MK_OK;
}

static void fmt_time(char *buf, size_t n, double s)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* The bar (or, with lines, a line when `line` is set) for `step` of p->total: mid is what
 * goes between the count and the speed (a training step's loss and lr, or nothing). */
static void show(struct mk_progress *p, int64_t step, int64_t tokens, const char *mid, int line)
{
    if (p->first_tokens < 0) { /* the clock starts at the first finished step */
        p->first_tokens = tokens;
        p->first = step;
        p->t0 = now();
    }
    double dt = now() - p->t0;
    double tps = dt > 0 ? (double)(tokens - p->first_tokens) / dt : 0;
    double per_step = step > p->first ? dt / (double)(step - p->first) : 0;
    char eta[32];
    fmt_time(eta, sizeof eta, per_step * (double)(p->total - step));
    const char *unit = tps >= 1e6 ? "M" : tps >= 1e3 ? "k" : "";
    double shown = tps >= 1e6 ? tps / 1e6 : tps >= 1e3 ? tps / 1e3 : tps;
    if (p->bar) {
        char bar[21];
        int fill = p->total > 0 ? (int)(20 * step / p->total) : 0;
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[20] = 0;
        fprintf(p->f, "\r[%s] %6lld/%lld %3d%%  %s%.1f%s tok/s  ETA %s\033[K", bar,
                (long long)step, (long long)p->total,
                p->total > 0 ? (int)(100 * step / p->total) : 0, mid, shown, unit, eta);
        p->drawn = 1;
    } else if (line) {
        fprintf(p->f, "step %lld/%lld  %s%.1f%s tok/s  ETA %s\n", (long long)step,
                (long long)p->total, mid, shown, unit, eta);
    }
    fflush(p->f);
}

void mk_progress_update(struct mk_progress *p, int64_t step, double loss, double lr,
                        int64_t tokens, int64_t every)
{
    if (p->quiet)
        return;
    char mid[64];
    if (p->bar)
        snprintf(mid, sizeof mid, "loss %.4f  lr %.1e  ", loss, lr);
    else
        snprintf(mid, sizeof mid, "loss %.4f  lr %.2e  ", loss, lr);
    show(p, step, tokens, mid, step % every == 0 || step == p->total);
}

void mk_progress_set_total(struct mk_progress *p, int64_t total)
{
    if (p)
        p->total = total;
}

void mk_progress_count(struct mk_progress *p, int64_t done, int64_t tokens)
{
    if (!p || p->quiet || !p->bar)
        return;
    double t = now();
    if (done < p->total && p->drawn && t - p->last < 0.1)
        return; /* at most ten redraws a second */
    p->last = t;
    show(p, done, tokens, "", 0);
}

void mk_progress_note(struct mk_progress *p, const char *fmt, ...)
{
    if (!p->f)
        return;
    if (p->drawn)
        fputs("\r\033[K", p->f);
    p->drawn = 0;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->f, fmt, ap);
    va_end(ap);
    fputc('\n', p->f);
    fflush(p->f);
}

void mk_progress_close(struct mk_progress *p)
{
    if (!p)
        return;
    if (p->drawn)
        fputc('\n', p->f);
    free(p);
}
