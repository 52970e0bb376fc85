/* plot.c — OUT/curves.svg from OUT/metrics.jsonl: the training loss (line) and the
 * validation loss (dots) against the step, and the validation accuracy in a second panel
 * when the run has one. Plain SVG, no dependencies; `mambakit plot OUT` redraws it.
 */
#include "config.h"
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train.h"

struct series {
    double *x, *y;
    size_t n, cap;
};

static void push(struct series *s, double x, double y)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, cap * sizeof *nx), *ny;
        if (!nx)
            return;
        s->x = nx;
        if (!(ny = realloc(s->y, cap * sizeof *ny)))
            return;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
}

/* One panel at vertical offset y0: axes, ticks, and the series (line or dots). */
static void panel(FILE *f, int y0, const char *title, struct series *s, const int *dots,
                  const char *const *colors, int ns, double xmax)
{
    const int W = 640, H = 260, L = 60, R = 20, T = 30, B = 30;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            lo = fmin(lo, s[k].y[i]);
            hi = fmax(hi, s[k].y[i]);
        }
    if (!(hi > lo)) {
        lo = isfinite(lo) ? lo - 1 : 0;
        hi = lo + 2;
    }
    fprintf(f, "<g transform='translate(0,%d)'>\n<text x='%d' y='18' font-size='14'>%s</text>\n",
            y0, L, title);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#999'/>\n", L, T,
            W - L - R, H - T - B);
    for (int i = 0; i <= 4; i++) {
        double v = lo + (hi - lo) * i / 4;
        int y = H - B - (H - T - B) * i / 4;
        fprintf(f, "<text x='%d' y='%d' font-size='10' text-anchor='end'>%.3g</text>\n", L - 4,
                y + 3, v);
        double xs = xmax * i / 4;
        fprintf(f, "<text x='%d' y='%d' font-size='10' text-anchor='middle'>%.0f</text>\n",
                L + (W - L - R) * i / 4, H - B + 14, xs);
    }
    for (int k = 0; k < ns; k++) {
        if (!dots[k])
            fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='", colors[k]);
        for (size_t i = 0; i < s[k].n; i++) {
            double px = L + (W - L - R) * s[k].x[i] / (xmax > 0 ? xmax : 1);
            double py = H - B - (H - T - B) * (s[k].y[i] - lo) / (hi - lo);
            if (dots[k])
                fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>\n", px, py, colors[k]);
            else
                fprintf(f, "%.1f,%.1f ", px, py);
        }
        if (!dots[k])
            fputs("'/>\n", f);
    }
    fputs("</g>\n", f);
}

mk_status mk_plot_run(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *in = fopen(path, "r");
    if (!in)
        return mk_fail(MK_ERR_IO, "%s: cannot open (is it a run directory?)", path);
    struct series s[3] = {{0}}; /* train loss, val loss, val accuracy */
    double xmax = 0;
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            continue;
        double step = json_number_value(json_object_get(j, "step"));
        const char *split = json_string_value(json_object_get(j, "split"));
        json_t *loss = json_object_get(j, "loss"), *acc = json_object_get(j, "accuracy");
        int val = split && !strcmp(split, "val");
        if (json_is_number(loss))
            push(&s[val], step, json_number_value(loss));
        if (val && json_is_number(acc))
            push(&s[2], step, json_number_value(acc));
        xmax = fmax(xmax, step);
        json_decref(j);
    }
    fclose(in);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    mk_status st = MK_OK;
    if (!f) {
        st = mk_fail(MK_ERR_NOMEM, "out of memory drawing curves");
    } else {
        int height = s[2].n ? 540 : 270;
        fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='640' height='%d' "
                   "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
                height);
        static const int line_dot[2] = {0, 1}, dot[1] = {1};
        static const char *const lc[2] = {"#1f77b4", "#d62728"}, *const ac[1] = {"#2ca02c"};
        panel(f, 0, "loss (blue: train, red: val) per step", s, line_dot, lc, 2, xmax);
        if (s[2].n)
            panel(f, 270, "val accuracy per step", &s[2], dot, ac, 1, xmax);
        fputs("</svg>\n", f);
        fclose(f);
        snprintf(path, sizeof path, "%s/curves.svg", dir);
        st = mk_write_file_atomic(path, buf, len);
        free(buf);
    }
    for (int k = 0; k < 3; k++) {
        free(s[k].x);
        free(s[k].y);
    }
    return st;
}
