/* plugin.c — the modality plugin loader and the mk_codec / mk_reader layer (see plugin.h).
 *
 * A descriptor is never used in place: it is checked, then copied into a struct of this
 * build's size with the fields past the plugin's struct_size left NULL. So a plugin built
 * against an older minor version of the ABI (a shorter struct) simply lacks the newer
 * optional hooks, and one built against a newer minor (a longer struct) loses only hooks this
 * build would not call anyway.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/modutil.h"
#include "config.h"
#include "plugin.h"

#ifndef MK_PLUGINDIR
#define MK_PLUGINDIR "/usr/local/lib/mambakit/plugins"
#endif

/* The statuses are shared numbers; the ABI promises it. */
_Static_assert((int)MK_MODALITY_ERR_NOMEM == (int)MK_ERR_NOMEM &&
                   (int)MK_MODALITY_ERR_IO == (int)MK_ERR_IO &&
                   (int)MK_MODALITY_ERR_FORMAT == (int)MK_ERR_FORMAT &&
                   (int)MK_MODALITY_ERR_INVALID == (int)MK_ERR_INVALID &&
                   (int)MK_MODALITY_ERR_UNSUPPORTED == (int)MK_ERR_UNSUPPORTED,
               "plugin status codes must equal mk_status");

/* Every ABI 1 plugin has the fields up to and including `write`. */
#define MK_MODALITY_MIN_SIZE (offsetof(struct mk_modality, write) + sizeof(void *))

const struct mk_modality *mk_modality_builtin_text(void);
const struct mk_modality *mk_modality_builtin_dna(void);
const struct mk_modality *mk_modality_builtin_audio(void);
const struct mk_modality *mk_modality_builtin_synthetic(void);

static const struct mk_modality *(*const builtins[])(void) = {
    mk_modality_builtin_text,
    mk_modality_builtin_dna,
    mk_modality_builtin_audio,
    mk_modality_builtin_synthetic,
};
enum { N_BUILTINS = sizeof builtins / sizeof builtins[0] };

const char *mk_plugin_origin_name(enum mk_plugin_origin o)
{
    switch (o) {
    case MK_PLUGIN_BUILTIN: return "built-in";
    case MK_PLUGIN_ENV: return "$MAMBAKIT_PLUGIN_PATH";
    case MK_PLUGIN_INSTALLED: return "installed";
    case MK_PLUGIN_FILE: return "file";
    }
    return "?";
}

static int valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* "plugin ABI 2.0; this mambakit 0.1.0 loads ABI 1.x (1.0)": both sides, for every refusal. */
static const char *versions(char *buf, size_t cap, uint32_t abi)
{
    snprintf(buf, cap, "plugin ABI %u.%u; this mambakit %s loads ABI %d.x (%d.%d)", abi >> 16,
             abi & 0xffff, PACKAGE_VERSION, MK_MODALITY_ABI_MAJOR, MK_MODALITY_ABI_MAJOR,
             MK_MODALITY_ABI_MINOR);
    return buf;
}

mk_status mk_plugin_check(const struct mk_modality *m, const char *where, struct mk_modality *out)
{
    char v[160];
    if (!m)
        return mk_fail(MK_ERR_FORMAT, "%s: the plugin's %s() returned no descriptor", where,
                       MK_MODALITY_ENTRY_SYMBOL);
    if (m->abi_version >> 16 != MK_MODALITY_ABI_MAJOR)
        return mk_fail(MK_ERR_UNSUPPORTED,
                       "%s: wrong ABI version (%s): rebuild the plugin against this "
                       "mambakit-plugin.h", where, versions(v, sizeof v, m->abi_version));
    if (m->struct_size < MK_MODALITY_MIN_SIZE)
        return mk_fail(MK_ERR_FORMAT,
                       "%s: bad descriptor: struct_size %u is smaller than the %zu bytes every "
                       "ABI %d plugin has (%s)", where, m->struct_size, MK_MODALITY_MIN_SIZE,
                       MK_MODALITY_ABI_MAJOR, versions(v, sizeof v, m->abi_version));
    memset(out, 0, sizeof *out);
    memcpy(out, m, m->struct_size < sizeof *out ? m->struct_size : sizeof *out);
    const char *missing = !valid_name(out->name) ? "a name of [a-z0-9_-] characters"
                          : !out->description    ? "a description"
                          : !out->version        ? "a version"
                          : !out->output_ext     ? "an output extension"
                          : !out->create         ? "create()"
                          : !out->destroy        ? "destroy()"
                          : !out->vocab_size     ? "vocab_size()"
                          : !out->special        ? "special()"
                          : !out->piece          ? "piece()"
                          : !out->open_reader    ? "open_reader()"
                          : !out->read           ? "read()"
                          : !out->close_reader   ? "close_reader()"
                          : !out->write          ? "write()"
                                                 : NULL;
    if (missing)
        return mk_fail(MK_ERR_FORMAT, "%s: bad descriptor: it has no %s (%s)", where, missing,
                       versions(v, sizeof v, m->abi_version));
    return MK_OK;
}

/* dlopens path and checks its descriptor into p; a file found by name (name != NULL) must
 * hold the modality of that name. On failure p->dl is closed. */
static mk_status load_file(struct mk_plugin *p, const char *path, const char *name,
                           enum mk_plugin_origin origin)
{
    snprintf(p->path, sizeof p->path, "%s", path);
    p->origin = origin;
    p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl)
        return mk_fail(MK_ERR_IO, "%s: cannot load the plugin: %s", path, dlerror());
    const struct mk_modality *(*entry)(void);
    *(void **)&entry = dlsym(p->dl, MK_MODALITY_ENTRY_SYMBOL);
    mk_status st = entry ? mk_plugin_check(entry(), path, &p->m)
                         : mk_fail(MK_ERR_FORMAT,
                                   "%s: not a mambakit plugin: it exports no %s() (plugin ABI "
                                   "unknown; this mambakit %s loads ABI %d.x (%d.%d))",
                                   path, MK_MODALITY_ENTRY_SYMBOL, PACKAGE_VERSION,
                                   MK_MODALITY_ABI_MAJOR, MK_MODALITY_ABI_MAJOR,
                                   MK_MODALITY_ABI_MINOR);
    if (!st && name && strcmp(p->m.name, name) != 0)
        st = mk_fail(MK_ERR_FORMAT, "%s: the file is named %s but its modality is '%s' (%s)",
                     path, name, p->m.name, versions((char[160]){0}, 160, p->m.abi_version));
    if (st) {
        dlclose(p->dl);
        p->dl = NULL;
    }
    return st;
}

/* Looks for dir/name.so; returns 1 and fills p if it exists (st: the load result). */
static int try_dir(struct mk_plugin *p, const char *dir, size_t dirlen, const char *name,
                   enum mk_plugin_origin origin, mk_status *st)
{
    char path[4096];
    snprintf(path, sizeof path, "%.*s/%s.so", (int)dirlen, dir, name);
    if (access(path, F_OK) != 0)
        return 0;
    *st = load_file(p, path, name, origin);
    return 1;
}

static mk_status find(struct mk_plugin *p, const char *name)
{
    mk_status st;
    const char *env = getenv("MAMBAKIT_PLUGIN_PATH");
    for (const char *d = env; d && *d;) {
        size_t len = strcspn(d, ":");
        if (len && try_dir(p, d, len, name, MK_PLUGIN_ENV, &st))
            return st;
        d += len + (d[len] == ':');
    }
    for (int i = 0; i < N_BUILTINS; i++) {
        const struct mk_modality *m = builtins[i]();
        if (strcmp(m->name, name) == 0) {
            p->origin = MK_PLUGIN_BUILTIN;
            return mk_plugin_check(m, "built-in", &p->m);
        }
    }
    if (try_dir(p, MK_PLUGINDIR, strlen(MK_PLUGINDIR), name, MK_PLUGIN_INSTALLED, &st))
        return st;
    return mk_fail(MK_ERR_INVALID,
                   "no modality plugin '%s' (looked in $MAMBAKIT_PLUGIN_PATH, the built-in "
                   "set and %s; `mambakit plugins` lists them)",
                   name, MK_PLUGINDIR);
}

mk_status mk_plugin_load(struct mk_plugin **out, const char *name)
{
    *out = NULL;
    struct mk_plugin *p = calloc(1, sizeof *p);
    if (!p)
        return mk_fail(MK_ERR_NOMEM, "out of memory loading plugin %s", name);
    mk_status st;
    if (strchr(name, '/'))
        st = load_file(p, name, NULL, MK_PLUGIN_FILE);
    else if (!valid_name(name))
        st = mk_fail(MK_ERR_INVALID, "'%s' is not a plugin name ([a-z0-9_-]) or a path", name);
    else
        st = find(p, name);
    if (st) {
        free(p);
        return st;
    }
    *out = p;
    return MK_OK;
}

void mk_plugin_unload(struct mk_plugin *p)
{
    if (!p)
        return;
    if (p->dl)
        dlclose(p->dl);
    free(p);
}

/* ---- listing ---- */

struct info_list {
    struct mk_plugin_info *v;
    size_t n, cap;
};

static mk_status add_info(struct info_list *l, const struct mk_plugin *p, const char *error)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct mk_plugin_info *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return mk_fail(MK_ERR_NOMEM, "out of memory listing plugins");
        l->v = v;
        l->cap = cap;
    }
    struct mk_plugin_info *i = &l->v[l->n++];
    memset(i, 0, sizeof *i);
    i->origin = p->origin;
    snprintf(i->path, sizeof i->path, "%s", p->path);
    snprintf(i->error, sizeof i->error, "%s", error ? error : "");
    if (error) { /* the name the file would be asked for by: its base name less ".so" */
        const char *base = strrchr(p->path, '/');
        base = base ? base + 1 : p->path;
        snprintf(i->name, sizeof i->name, "%.*s", (int)strcspn(base, "."), base);
    } else {
        snprintf(i->name, sizeof i->name, "%s", p->m.name);
        snprintf(i->version, sizeof i->version, "%s", p->m.version);
        snprintf(i->description, sizeof i->description, "%s", p->m.description);
        for (size_t k = 0; k + 1 < l->n; k++)
            i->shadowed |= strcmp(l->v[k].name, i->name) == 0;
    }
    return MK_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every *.so of dir[0..len), in name order. */
static mk_status list_dir(struct info_list *l, const char *dir, size_t len,
                          enum mk_plugin_origin origin)
{
    char path[4096];
    snprintf(path, sizeof path, "%.*s", (int)len, dir);
    DIR *d = opendir(path);
    if (!d)
        return MK_OK; /* a directory that is not there holds no plugins */
    char **names = NULL;
    size_t n = 0, cap = 0;
    mk_status st = MK_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        size_t k = strlen(e->d_name);
        if (k < 4 || strcmp(e->d_name + k - 3, ".so") != 0)
            continue;
        if (n == cap) {
            char **v = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *v);
            if (!v)
                st = mk_fail(MK_ERR_NOMEM, "out of memory listing plugins");
            else
                names = v;
        }
        if (!st && !(names[n++] = strdup(e->d_name)))
            st = mk_fail(MK_ERR_NOMEM, "out of memory listing plugins");
    }
    closedir(d);
    if (!st)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        struct mk_plugin p = {0};
        char file[4200];
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        names[i][strlen(names[i]) - 3] = 0; /* the name the search would ask for */
        mk_status ls = load_file(&p, file, names[i], origin);
        if (!st)
            st = add_info(l, &p, ls ? mk_last_error() : NULL);
        if (p.dl)
            dlclose(p.dl);
        free(names[i]);
    }
    free(names);
    return st;
}

mk_status mk_plugin_list(struct mk_plugin_info **list, size_t *n)
{
    struct info_list l = {0};
    mk_status st = MK_OK;
    const char *env = getenv("MAMBAKIT_PLUGIN_PATH");
    for (const char *d = env; !st && d && *d;) {
        size_t len = strcspn(d, ":");
        if (len)
            st = list_dir(&l, d, len, MK_PLUGIN_ENV);
        d += len + (d[len] == ':');
    }
    for (int i = 0; !st && i < N_BUILTINS; i++) {
        struct mk_plugin p = {.origin = MK_PLUGIN_BUILTIN};
        mk_status cs = mk_plugin_check(builtins[i](), "built-in", &p.m);
        st = add_info(&l, &p, cs ? mk_last_error() : NULL);
    }
    if (!st)
        st = list_dir(&l, MK_PLUGINDIR, strlen(MK_PLUGINDIR), MK_PLUGIN_INSTALLED);
    if (st) {
        free(l.v);
        l = (struct info_list){0};
    }
    *list = l.v;
    *n = l.n;
    return st;
}

/* ---- codec and reader ---- */

enum { ERRLEN = 1024 };

/* Records the plugin's message as the last error. */
static mk_status plugin_fail(int st, const char *err)
{
    return mk_fail(st > 0 ? (mk_status)st : MK_ERR_FORMAT, "%s", err[0] ? err : "plugin error");
}

mk_status mk_codec_open(struct mk_codec **out, const char *plugin, const struct mk_kv *options,
                        size_t n_options)
{
    *out = NULL;
    struct mk_codec *c = calloc(1, sizeof *c);
    if (!c)
        return mk_fail(MK_ERR_NOMEM, "out of memory opening plugin %s", plugin);
    mk_status st = mk_plugin_load(&c->plugin, plugin);
    if (!st) {
        char err[ERRLEN] = "";
        int rc = c->plugin->m.create(options, n_options, &c->handle, err, sizeof err);
        if (rc) {
            st = plugin_fail(rc, err);
            c->handle = NULL;
        }
    }
    if (st) {
        mk_codec_close(c);
        return st;
    }
    *out = c;
    return MK_OK;
}

void mk_codec_close(struct mk_codec *c)
{
    if (!c)
        return;
    if (c->handle)
        c->plugin->m.destroy(c->handle);
    mk_plugin_unload(c->plugin);
    free(c);
}

int32_t mk_codec_vocab_size(const struct mk_codec *c)
{
    return c->plugin->m.vocab_size(c->handle);
}

int32_t mk_codec_special(const struct mk_codec *c, enum mk_special_token which)
{
    return c->plugin->m.special(c->handle, which);
}

void mk_codec_augment(const struct mk_codec *c, int32_t *tokens, float *weights, size_t n,
                      uint64_t random)
{
    if (c->plugin->m.augment)
        c->plugin->m.augment(c->handle, tokens, weights, n, random);
}

mk_status mk_codec_reverse_complement(const struct mk_codec *c, int32_t *tokens, float *weights,
                                      size_t n)
{
    if (!c->plugin->m.reverse_complement)
        return mk_fail(MK_ERR_UNSUPPORTED, "the %s modality has no reverse complement",
                       c->plugin->m.name);
    c->plugin->m.reverse_complement(c->handle, tokens, weights, n);
    return MK_OK;
}

mk_status mk_codec_encode(const struct mk_codec *c, const int32_t *tokens, size_t n,
                          const char *id, unsigned char **data, size_t *len)
{
    struct mk_bytes b = {0};
    char err[ERRLEN] = "";
    int rc = c->plugin->m.write(c->handle, tokens, n, id, mk_bytes_sink, &b, err, sizeof err);
    if (rc) {
        free(b.p);
        *data = NULL;
        *len = 0;
        return plugin_fail(rc, err);
    }
    *data = b.p;
    *len = b.n;
    return MK_OK;
}

mk_status mk_codec_write_file(const struct mk_codec *c, const char *path, const int32_t *tokens,
                              size_t n, const char *id)
{
    unsigned char *data;
    size_t len;
    mk_status st = mk_codec_encode(c, tokens, n, id, &data, &len);
    if (st)
        return st;
    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            st = mk_fail(MK_ERR_IO, "standard output: write failed: %s", strerror(errno));
    } else {
        st = mk_write_file_atomic(path, data, len);
    }
    free(data);
    return st;
}

struct mk_reader {
    const struct mk_codec *codec;
    void *r;
};

mk_status mk_reader_open(struct mk_reader **out, const struct mk_codec *c, const char *source,
                         const char *labels, size_t max_chunk)
{
    *out = NULL;
    struct mk_reader *r = calloc(1, sizeof *r);
    if (!r)
        return mk_fail(MK_ERR_NOMEM, "out of memory opening %s", source);
    char err[ERRLEN] = "";
    int rc = c->plugin->m.open_reader(c->handle, source, labels, max_chunk, &r->r, err,
                                      sizeof err);
    if (rc) {
        free(r);
        return plugin_fail(rc, err);
    }
    r->codec = c;
    *out = r;
    return MK_OK;
}

mk_status mk_reader_next(struct mk_reader *r, struct mk_record *rec, int *end)
{
    char err[ERRLEN] = "";
    int rc = r->codec->plugin->m.read(r->r, rec, err, sizeof err);
    *end = rc == MK_MODALITY_END;
    if (rc == MK_MODALITY_OK || rc == MK_MODALITY_END)
        return MK_OK;
    return plugin_fail(rc, err);
}

void mk_reader_close(struct mk_reader *r)
{
    if (!r)
        return;
    r->codec->plugin->m.close_reader(r->r);
    free(r);
}
