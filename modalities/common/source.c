/* source.c — file lists from globs and label rules (see source.h). */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/source.h"

int mk_filelist_expand(struct mk_filelist *fl, const char *source, char *err, size_t errlen)
{
    *fl = (struct mk_filelist){0};
    if (!source || !*source)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID, "empty source path");
    glob_t g;
    int rc = glob(source, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        int has_magic = strpbrk(source, "*?[") != NULL;
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, has_magic ? "%s: no file matches"
                                                                   : "%s: cannot open: %s",
                           source, strerror(ENOENT));
    }
    if (rc != 0)
        return mk_mod_fail(err, errlen, rc == GLOB_NOSPACE ? MK_MODALITY_ERR_NOMEM
                                                            : MK_MODALITY_ERR_IO,
                           "%s: cannot list the files: %s", source, strerror(errno));
    int st = MK_MODALITY_OK;
    fl->paths = calloc(g.gl_pathc, sizeof(char *));
    if (!fl->paths)
        st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "%s: out of memory", source);
    for (size_t i = 0; !st && i < g.gl_pathc; i++) {
        struct stat sb;
        if (stat(g.gl_pathv[i], &sb) != 0)
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "%s: cannot open: %s",
                             g.gl_pathv[i], strerror(errno));
        else if (!S_ISREG(sb.st_mode))
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "%s: not a regular file",
                             g.gl_pathv[i]);
        else if (!(fl->paths[fl->n++] = strdup(g.gl_pathv[i])))
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "%s: out of memory", source);
    }
    globfree(&g);
    if (st)
        mk_filelist_free(fl);
    return st;
}

void mk_filelist_free(struct mk_filelist *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        free(fl->paths[i]);
    free(fl->paths);
    *fl = (struct mk_filelist){0};
}

/* ---- labels ---- */

/* Adds "KEY<TAB>LABEL" lines of the TSV file to the labeler. */
static int load_tsv(struct mk_labeler *lab, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "label file %s: cannot open: %s",
                           file, strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0, label_cap = 0;
    ssize_t len;
    int st = MK_MODALITY_OK;
    while (!st && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0 || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || !tab[1] || strchr(tab + 1, '\t')) {
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                             "label file %s: line %zu: expected KEY<TAB>LABEL", file, lineno);
            break;
        }
        if (mk_grow((void **)&lab->labels, &label_cap, lab->n_labels + 1, sizeof(char *)) ||
            !(lab->labels[lab->n_labels] = strdup(tab + 1)) ||
            mk_strmap_put(&lab->keys, line, (size_t)(tab - line), (int32_t)lab->n_labels)) {
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "label file %s: out of memory",
                             file);
            break;
        }
        lab->n_labels++;
    }
    free(line);
    fclose(f);
    if (!st && lab->n_labels == 0)
        st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT, "label file %s: no labels", file);
    return st;
}

int mk_labeler_init(struct mk_labeler *lab, const char *rule, char *err, size_t errlen)
{
    *lab = (struct mk_labeler){0};
    if (!rule || !*rule || strcmp(rule, "none") == 0)
        return MK_MODALITY_OK;
    if (strcmp(rule, "dir") == 0 || strncmp(rule, "dir:", 4) == 0) {
        char *end = NULL;
        long level = rule[3] ? strtol(rule + 4, &end, 10) : 1;
        if (rule[3] && (end == rule + 4 || *end || level < 1 || level > 64))
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "labels: '%s': the level of dir:N is an integer in [1, 64]", rule);
        lab->kind = MK_LABELS_DIR;
        lab->dir_level = (int)level;
        return MK_MODALITY_OK;
    }
    if (strncmp(rule, "header:", 7) == 0) {
        int rc = regcomp(&lab->re, rule + 7, REG_EXTENDED);
        if (rc) {
            char msg[256];
            regerror(rc, &lab->re, msg, sizeof msg);
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "labels: bad regex '%s': %s", rule + 7, msg);
        }
        lab->kind = MK_LABELS_HEADER;
        lab->re_groups = (int)lab->re.re_nsub;
        return MK_MODALITY_OK;
    }
    if (strncmp(rule, "tsv:", 4) == 0) {
        lab->kind = MK_LABELS_TSV;
        int st = load_tsv(lab, rule + 4, err, errlen);
        if (st)
            mk_labeler_free(lab);
        return st;
    }
    return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                       "labels: unknown rule '%s' (expected none, dir, dir:N, header:REGEX or "
                       "tsv:FILE)",
                       rule);
}

void mk_labeler_free(struct mk_labeler *lab)
{
    if (lab->kind == MK_LABELS_HEADER)
        regfree(&lab->re);
    for (size_t i = 0; i < lab->n_labels; i++)
        free(lab->labels[i]);
    free(lab->labels);
    mk_strmap_free(&lab->keys);
    *lab = (struct mk_labeler){0};
}

/* The name of the directory lab->dir_level levels above path: level 1 of "a/b/c.fa" is "b". */
static int dir_label(struct mk_labeler *lab, const char *path, const char **label, char *err,
                     size_t errlen)
{
    const char *end = path + strlen(path), *start = end;
    for (int level = 0; level <= lab->dir_level; level++) {
        while (start > path && start[-1] == '/') /* skip the separator(s) */
            start--;
        end = start;
        while (start > path && start[-1] != '/')
            start--;
        if (start == end || (start == path && level < lab->dir_level))
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "%s: labels: dir%s needs the file %d director%s deep, named by "
                               "its class", path, lab->dir_level > 1 ? ":N" : "",
                               lab->dir_level, lab->dir_level > 1 ? "ies" : "y");
    }
    snprintf(lab->buf, sizeof lab->buf, "%.*s", (int)(end - start), start);
    *label = lab->buf;
    return MK_MODALITY_OK;
}

static int header_label(struct mk_labeler *lab, const char *path, const char *header,
                        const char **label, char *err, size_t errlen)
{
    regmatch_t m[2];
    if (regexec(&lab->re, header, 2, m, 0) != 0)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                           "%s: labels: header '%s' does not match the label regex", path,
                           header);
    regmatch_t g = lab->re_groups > 0 && m[1].rm_so >= 0 ? m[1] : m[0];
    snprintf(lab->buf, sizeof lab->buf, "%.*s", (int)(g.rm_eo - g.rm_so), header + g.rm_so);
    *label = lab->buf;
    return MK_MODALITY_OK;
}

static int tsv_label(struct mk_labeler *lab, const char *path, const char *id,
                     const char **label, char *err, size_t errlen)
{
    const char *base = strrchr(path, '/');
    const char *keys[3] = {id, path, base ? base + 1 : path};
    for (int i = 0; i < 3; i++) {
        int32_t k = keys[i] ? mk_strmap_get(&lab->keys, keys[i], strlen(keys[i])) : -1;
        if (k >= 0) {
            *label = lab->labels[k];
            return MK_MODALITY_OK;
        }
    }
    return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                       "%s: labels: no entry for record '%s' or the file in the label file",
                       path, id ? id : "");
}

int mk_labeler_label(struct mk_labeler *lab, const char *path, const char *id,
                     const char *header, const char **label, char *err, size_t errlen)
{
    *label = NULL;
    switch (lab->kind) {
    case MK_LABELS_NONE:
        return MK_MODALITY_OK;
    case MK_LABELS_DIR:
        return dir_label(lab, path, label, err, errlen);
    case MK_LABELS_HEADER:
        return header_label(lab, path, header ? header : path, label, err, errlen);
    case MK_LABELS_TSV:
        return tsv_label(lab, path, id, label, err, errlen);
    }
    return MK_MODALITY_OK;
}

/* ---- the reader every modality builds on ---- */

int mk_source_reader_init(struct mk_source_reader *r, const char *source, const char *labels,
                          size_t max_chunk, size_t window, size_t stride, int weighted,
                          char *err, size_t errlen)
{
    mk_chunker_init(&r->ch, max_chunk, window, stride, weighted);
    int st = mk_filelist_expand(&r->files, source, err, errlen);
    if (!st)
        st = mk_labeler_init(&r->lab, labels, err, errlen);
    return st;
}

int mk_source_reader_read(struct mk_source_reader *r, struct mk_record *rec, char *err,
                          size_t errlen)
{
    for (;;) {
        int k = mk_chunker_next(&r->ch, rec);
        if (k < 0)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "out of memory");
        if (k > 0)
            return MK_MODALITY_OK;
        int st = r->advance(r, err, errlen);
        if (st)
            return st;
    }
}

void mk_source_reader_free(struct mk_source_reader *r)
{
    mk_filelist_free(&r->files);
    mk_labeler_free(&r->lab);
    mk_chunker_free(&r->ch);
}
