/* test_task.h — helpers shared by the task tests (test_task_*.c): run a recipe given as
 * text, read a JSON output of a run, and count lines of a file.
 */
#ifndef MK_TEST_TASK_H
#define MK_TEST_TASK_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "train.h"

/* Parses and runs a recipe; log and out as in mk_run_opts (NULL: quiet). */
static inline mk_status run_recipe(const char *text, FILE *log, FILE *out)
{
    struct mk_recipe *r = NULL;
    mk_status st = mk_recipe_parse(&r, "task.yaml", text, strlen(text), NULL, 0);
    if (st == MK_OK) {
        const struct mk_run_opts o = {.log = log, .out = out};
        st = mk_recipe_run(r, &o);
    }
    if (st != MK_OK)
        diag("%s", mk_last_error());
    mk_recipe_free(r);
    return st;
}

/* dir/name parsed as JSON (NULL with a diagnostic when it cannot be read). */
static inline json_t *read_json(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        diag("%s: %s", path, err.text);
    return j;
}

/* Lines in a file (-1 if it cannot be opened). */
static inline long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long n = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

#endif
