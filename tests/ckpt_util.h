/* ckpt_util.h — helpers shared by the checkpoint tests (test_config, test_safetensors,
 * test_checkpoint): golden file paths, a scratch directory under /tmp removed at the end,
 * "does the last error mention this" checks, and mk_st_entry views of an open file.
 * Header-only, static inline functions; include it before any system header.
 *
 *     const char *dir = scratch_dir();           -> /tmp/mk-ckpt-XXXXXX, removed at exit
 *     golden(path, sizeof path, "tiny/config.json");  -> $MK_GOLDEN/tiny/config.json
 *     ok(st == MK_ERR_FORMAT && error_has("duplicate"), ...);
 */
#ifndef MK_CKPT_UTIL_H
#define MK_CKPT_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw's FTW_DEPTH / FTW_PHYS; include this header first */
#endif
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mambakit.h"
#include "safetensors.h"
#include "tap.h"

/* $MK_GOLDEN/<file>, e.g. file = "tiny/config.json". `make check` sets MK_GOLDEN to the
 * source tree's tests/data/golden; run by hand from the source root, the default works. */
static inline char *golden(char *buf, size_t size, const char *file)
{
    const char *root = getenv("MK_GOLDEN");
    snprintf(buf, size, "%s/%s", root && *root ? root : "tests/data/golden", file);
    return buf;
}

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static inline const char *scratch_dir(void);

static inline void remove_scratch(void)
{
    nftw(scratch_dir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under /tmp, made on the first call; it and everything in it are removed
 * when the program exits, bail-outs included. */
static inline const char *scratch_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mk-ckpt-XXXXXX");
        if (!mkdtemp(dir))
            bail_out("cannot create a directory under /tmp");
        atexit(remove_scratch);
    }
    return dir;
}

/* Joins dir and name into buf. */
static inline char *path_in(char *buf, size_t size, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, size, "%s/%s", dir, name) >= size)
        bail_out("path too long: %s/%s", dir, name);
    return buf;
}

/* The last error message contains `what` (reported as a diagnostic when it does not). */
static inline int error_has(const char *what)
{
    if (strstr(mk_last_error(), what))
        return 1;
    diag("expected \"%s\" in: %s", what, mk_last_error());
    return 0;
}

/* Entries pointing into an open file's tensors, in its header order (free() the array). */
static inline struct mk_st_entry *entries_of(const struct mk_st_file *f)
{
    struct mk_st_entry *e = calloc((size_t)f->n + 1, sizeof *e);
    if (!e)
        bail_out("out of memory");
    for (int i = 0; i < f->n; i++) {
        const struct mk_st_tensor *t = &f->t[i];
        e[i] = (struct mk_st_entry){t->name, t->dtype, t->ndim, t->shape, f->data + t->begin};
    }
    return e;
}

#endif /* MK_CKPT_UTIL_H */
