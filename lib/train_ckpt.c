/* train_ckpt.c — the checkpoint directories of a run: listing ckpt-STEP (or best-STEP),
 * removing old ones, pointing `last` (or `best`) at one (see train.h), and mkdir -p.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "train.h"

mk_status mk_mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return mk_fail(MK_ERR_INVALID, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return mk_fail(MK_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        if (!c)
            return MK_OK;
        *p = c;
    }
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

mk_status mk_ckpt_list(const char *dir, const char *kind, int64_t **steps, int *n)
{
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? MK_OK : mk_fail(MK_ERR_IO, "%s: %s", dir, strerror(errno));
    int cap = 0;
    const size_t k = strlen(kind);
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, kind, k) != 0 || e->d_name[k] != '-')
            continue;
        long long step = strtoll(e->d_name + k + 1, &end, 10);
        if (*end || end == e->d_name + k + 1 || step < 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *s = realloc(*steps, (size_t)cap * sizeof *s);
            if (!s) {
                closedir(d);
                free(*steps);
                *steps = NULL;
                return mk_fail(MK_ERR_NOMEM, "out of memory listing %s", dir);
            }
            *steps = s;
        }
        (*steps)[(*n)++] = step;
    }
    closedir(d);
    qsort(*steps, (size_t)*n, sizeof **steps, cmp_desc);
    return MK_OK;
}

/* Removes the regular files of a directory we wrote, then the directory. */
static mk_status remove_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? MK_OK : mk_fail(MK_ERR_IO, "%s: %s", path, strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char f[4400];
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        unlink(f);
    }
    closedir(d);
    if (rmdir(path) != 0)
        return mk_fail(MK_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return MK_OK;
}

mk_status mk_ckpt_remove(const char *dir, const char *kind, int64_t step)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s-%lld", dir, kind, (long long)step);
    return remove_dir(path);
}

mk_status mk_ckpt_link(const char *dir, const char *name, const char *kind, int64_t step)
{
    char target[64], tmp[4200], link[4200];
    snprintf(target, sizeof target, "%s-%lld", kind, (long long)step);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(link, sizeof link, "%s/%s", dir, name);
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, link) != 0)
        return mk_fail(MK_ERR_IO, "%s: cannot point it at %s: %s", link, target,
                       strerror(errno));
    return MK_OK;
}

mk_status mk_ckpt_stage(const char *dir, const char *kind, int64_t step, char *tmp, size_t cap)
{
    snprintf(tmp, cap, "%s/.%s-%lld.tmp", dir, kind, (long long)step);
    mk_status st = remove_dir(tmp); /* a leftover of a crash */
    return st != MK_OK ? st : mk_mkdirs(tmp);
}

mk_status mk_ckpt_commit(const char *dir, const char *kind, int64_t step, const char *tmp)
{
    char final[4200];
    snprintf(final, sizeof final, "%s/%s-%lld", dir, kind, (long long)step);
    mk_status st = remove_dir(final); /* the same step saved again after a resume */
    if (st == MK_OK && rename(tmp, final) != 0)
        st = mk_fail(MK_ERR_IO, "%s: cannot rename to %s: %s", tmp, final, strerror(errno));
    return st;
}
