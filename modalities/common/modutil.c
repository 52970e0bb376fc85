/* modutil.c — error messages, option tables, growable arrays and the string hash map shared
 * by the modalities (see modutil.h).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/modutil.h"

int mk_mod_fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* ---- options ---- */

/* Index of `value` among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    int i = 0;
    for (const char *p = choices;; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && memcmp(p, value, len) == 0)
            return i;
        if (!bar)
            return -1;
        p = bar + 1;
    }
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* Parses a whole-string finite number. */
static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    return (end == v || *end || errno || !isfinite(*out)) ? -1 : 0;
}

static int set_option(const struct mk_optdef *d, char *dst, const char *v, const char *modality,
                      char *err, size_t errlen)
{
    double x;
    int b;
    switch (d->type) {
    case MK_OPT_BOOL:
        if (parse_bool(v, &b))
            break; /* to the message below */
        *(int *)(dst + d->offset) = b;
        return MK_MODALITY_OK;
    case MK_OPT_SIZE:
        if (parse_double(v, &x) || x != floor(x) || x < d->min || x > d->max)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "%s: option %s: '%s' is not an integer in [%.0f, %.0f]", modality,
                               d->key, v, d->min, d->max);
        *(size_t *)(dst + d->offset) = (size_t)x;
        return MK_MODALITY_OK;
    case MK_OPT_DOUBLE:
        if (parse_double(v, &x) || x < d->min || x > d->max)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "%s: option %s: '%s' is not a number in [%g, %g]", modality,
                               d->key, v, d->min, d->max);
        *(double *)(dst + d->offset) = x;
        return MK_MODALITY_OK;
    case MK_OPT_ENUM:
        b = choice_index(d->choices, v);
        if (b < 0)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "%s: option %s: '%s' is not one of %s", modality, d->key, v,
                               d->choices);
        *(int *)(dst + d->offset) = b;
        return MK_MODALITY_OK;
    case MK_OPT_STRING:
        *(const char **)(dst + d->offset) = v;
        return MK_MODALITY_OK;
    }
    return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                       "%s: option %s: '%s' is not true or false", modality, d->key, v);
}

int mk_opts_parse(const struct mk_optdef *defs, void *dst, const struct mk_kv *kv, size_t n,
                  const char *modality, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct mk_optdef *d = defs;
        while (d->key && strcmp(d->key, kv[i].key) != 0)
            d++;
        if (!d->key) {
            char known[512] = "";
            size_t used = 0;
            for (d = defs; d->key && used < sizeof known; d++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
                                         d == defs ? "" : ", ", d->key);
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_INVALID,
                               "%s: unknown option '%s' (known: %s)", modality, kv[i].key,
                               known);
        }
        int st = set_option(d, dst, kv[i].value ? kv[i].value : "", modality, err, errlen);
        if (st)
            return st;
    }
    return MK_MODALITY_OK;
}

/* ---- growable arrays ---- */

int mk_grow(void **buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *p = realloc(*buf, c * size);
    if (!p)
        return -1;
    *buf = p;
    *cap = c;
    return 0;
}

int mk_bytes_append(struct mk_bytes *b, const void *data, size_t len)
{
    if (mk_grow((void **)&b->p, &b->cap, b->n + len + 1, 1))
        return -1;
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

int mk_bytes_sink(void *ctx, const void *data, size_t len)
{
    return mk_bytes_append(ctx, data, len);
}

int mk_read_whole(const char *path, struct mk_bytes *b, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "%s: cannot open: %s", path,
                           strerror(errno));
    char buf[1 << 16];
    size_t k;
    int nomem = 0;
    b->n = 0;
    while (!nomem && (k = fread(buf, 1, sizeof buf, f)) > 0)
        nomem = mk_bytes_append(b, buf, k);
    int rd = ferror(f);
    fclose(f);
    if (!nomem && !b->p)
        nomem = mk_bytes_append(b, "", 0);
    if (nomem)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "%s: out of memory", path);
    if (rd)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_IO, "%s: read error", path);
    b->p[b->n] = 0;
    return MK_MODALITY_OK;
}

/* ---- string → int32 hash map ---- */

/* FNV-1a, 64 bit. */
static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const struct mk_strmap *m, const char *key, size_t len)
{
    size_t i = (size_t)hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[i] && !(m->lens[i] == len && memcmp(m->keys[i], key, len) == 0))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int rehash(struct mk_strmap *m, size_t cap)
{
    struct mk_strmap big = {calloc(cap, sizeof(char *)), malloc(cap * sizeof(size_t)),
                            malloc(cap * sizeof(int32_t)), m->n, cap};
    if (!big.keys || !big.lens || !big.vals) {
        free(big.keys);
        free(big.lens);
        free(big.vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = find_slot(&big, m->keys[i], m->lens[i]);
        big.keys[j] = m->keys[i];
        big.lens[j] = m->lens[i];
        big.vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->lens);
    free(m->vals);
    *m = big;
    return 0;
}

int mk_strmap_put(struct mk_strmap *m, const char *key, size_t len, int32_t val)
{
    /* keep the load factor under 1/2 so probe runs stay short */
    if (2 * (m->n + 1) > m->cap && rehash(m, m->cap ? 2 * m->cap : 64))
        return -1;
    size_t i = find_slot(m, key, len);
    if (!m->keys[i]) {
        char *k = malloc(len + 1);
        if (!k)
            return -1;
        memcpy(k, key, len);
        k[len] = 0;
        m->keys[i] = k;
        m->lens[i] = len;
        m->n++;
    }
    m->vals[i] = val;
    return 0;
}

int32_t mk_strmap_get(const struct mk_strmap *m, const char *key, size_t len)
{
    if (!m->cap)
        return -1;
    size_t i = find_slot(m, key, len);
    return m->keys[i] ? m->vals[i] : -1;
}

void mk_strmap_free(struct mk_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->lens);
    free(m->vals);
    *m = (struct mk_strmap){0};
}

/* ---- uint64 → int64 hash map ---- */

/* A 64-bit mix (splitmix64's finaliser) spreads pair keys (a << 32 | b) over the table. */
static size_t u64_slot(const struct mk_u64map *m, uint64_t key)
{
    uint64_t z = key;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    size_t i = (size_t)(z ^ (z >> 31)) & (m->cap - 1);
    while (m->keys[i] != UINT64_MAX && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int u64_rehash(struct mk_u64map *m, size_t cap)
{
    struct mk_u64map big = {malloc(cap * sizeof(uint64_t)), malloc(cap * sizeof(int64_t)),
                            m->n, cap};
    if (!big.keys || !big.vals) {
        free(big.keys);
        free(big.vals);
        return -1;
    }
    memset(big.keys, 0xff, cap * sizeof(uint64_t));
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == UINT64_MAX)
            continue;
        size_t j = u64_slot(&big, m->keys[i]);
        big.keys[j] = m->keys[i];
        big.vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    *m = big;
    return 0;
}

int64_t *mk_u64map_at(struct mk_u64map *m, uint64_t key)
{
    if (2 * (m->n + 1) > m->cap && u64_rehash(m, m->cap ? 2 * m->cap : 1024))
        return NULL;
    size_t i = u64_slot(m, key);
    if (m->keys[i] == UINT64_MAX) {
        m->keys[i] = key;
        m->vals[i] = 0;
        m->n++;
    }
    return &m->vals[i];
}

const int64_t *mk_u64map_find(const struct mk_u64map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    size_t i = u64_slot(m, key);
    return m->keys[i] == UINT64_MAX ? NULL : &m->vals[i];
}

void mk_u64map_free(struct mk_u64map *m)
{
    free(m->keys);
    free(m->vals);
    *m = (struct mk_u64map){0};
}
