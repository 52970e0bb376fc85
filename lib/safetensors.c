/* safetensors.c — reading and writing safetensors files (see safetensors.h for the format
 * and the API).
 *
 * Reading maps the file and validates the whole header before anything is used, so a
 * truncated, corrupted or hostile file is refused with a message naming the file and the
 * tensor, never read out of bounds. The checks are those of the Python/Rust library
 * (header length within 100 MB and the file, UTF-8 JSON, sizes = numel x dtype size
 * computed without overflow, tensors tiling the data section exactly: no gap, no overlap,
 * nothing after the last tensor) plus what it lets through silently: duplicate keys, unknown
 * fields in a tensor entry, more than 8 dimensions.
 *
 * Writing reproduces the Python library's bytes: compact JSON with "__metadata__" first, the
 * tensors in the given order with consecutive offsets, strings escaped as serde_json does,
 * the header padded with spaces to a multiple of 8 so the data stays 8-byte aligned.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "safetensors.h"

/* rank: position in the Rust crate's Dtype enum, which is ordered by alignment; only the
 * relative order matters (the canonical file order sorts by it, descending). */
static const struct {
    const char *name;
    size_t size;
    int rank;
} dtypes[] = {
    [MK_F32] = {"F32", 4, 15}, [MK_F16] = {"F16", 2, 11},  [MK_BF16] = {"BF16", 2, 12},
    [MK_F64] = {"F64", 8, 17}, [MK_I8] = {"I8", 1, 5},     [MK_U8] = {"U8", 1, 4},
    [MK_I16] = {"I16", 2, 9},  [MK_I32] = {"I32", 4, 13},  [MK_I64] = {"I64", 8, 18},
    [MK_BOOL] = {"BOOL", 1, 0},
};
enum { N_DTYPES = (int)(sizeof dtypes / sizeof dtypes[0]) };

/* Valid safetensors dtypes that mambakit has no use for. */
static const char *const foreign_dtypes[] = {"U16", "U32", "U64", "F8_E5M2", "F8_E4M3",
                                             "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"};

static int dtype_ok(enum mk_dtype d)
{
    return (int)d >= 0 && (int)d < N_DTYPES && dtypes[d].name;
}

const char *mk_st_dtype_name(enum mk_dtype dtype)
{
    return dtype_ok(dtype) ? dtypes[dtype].name : NULL;
}

char *mk_st_shape_str(char *buf, size_t size, const int64_t *shape, int ndim)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

/* numel * elem as a byte count; 0 on overflow of size_t (with *ok cleared). */
static size_t nbytes(const int64_t *shape, int ndim, size_t elem, size_t *numel, int *ok)
{
    size_t n = 1;
    *ok = 1;
    for (int i = 0; i < ndim; i++) {
        size_t d = (size_t)shape[i];
        if (d != 0 && n > SIZE_MAX / d)
            *ok = 0;
        n *= d;
    }
    if (*ok && elem != 0 && n > SIZE_MAX / elem)
        *ok = 0;
    *numel = n;
    return *ok ? n * elem : 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Everything parse_* need to name things in messages. */
struct ctx {
    const char *path;
    size_t data_len;
};

static mk_status bad_tensor(const struct ctx *c, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static mk_status bad_tensor(const struct ctx *c, const char *name, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mk_fail(MK_ERR_FORMAT, "%s: tensor \"%s\": %s", c->path, name, what);
}

static mk_status parse_dtype(const struct ctx *c, const char *name, const json_t *v,
                             enum mk_dtype *out)
{
    const char *s = json_string_value(v);
    if (!s)
        return bad_tensor(c, name, "\"dtype\" is not a string");
    for (int d = 0; d < N_DTYPES; d++)
        if (dtypes[d].name && strcmp(dtypes[d].name, s) == 0) {
            *out = (enum mk_dtype)d;
            return MK_OK;
        }
    for (size_t i = 0; i < sizeof foreign_dtypes / sizeof *foreign_dtypes; i++)
        if (strcmp(foreign_dtypes[i], s) == 0)
            return mk_fail(MK_ERR_UNSUPPORTED, "%s: tensor \"%s\": dtype \"%s\" is not "
                           "supported by mambakit", c->path, name, s);
    return bad_tensor(c, name, "unknown dtype \"%.40s\"", s);
}

/* A JSON array of `want` non-negative integers (want < 0: up to MK_ST_MAX_DIMS). */
static mk_status parse_ints(const struct ctx *c, const char *name, const char *field,
                            const json_t *v, int want, int64_t *out, int *count)
{
    if (!json_is_array(v))
        return bad_tensor(c, name, "\"%s\" is not an array", field);
    size_t n = json_array_size(v);
    if (want >= 0 && n != (size_t)want)
        return bad_tensor(c, name, "\"%s\" has %zu elements, expected %d", field, n, want);
    if (n > MK_ST_MAX_DIMS)
        return bad_tensor(c, name, "\"%s\" has %zu dimensions; at most %d are supported", field,
                          n, MK_ST_MAX_DIMS);
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return bad_tensor(c, name, "\"%s\"[%zu] is not a non-negative integer", field, i);
        out[i] = json_integer_value(x);
    }
    *count = (int)n;
    return MK_OK;
}

static mk_status parse_entry(const struct ctx *c, const char *name, const json_t *v,
                             struct mk_st_tensor *t)
{
    static const char *const keys[] = {"dtype", "shape", "data_offsets"};
    if (!json_is_object(v))
        return bad_tensor(c, name, "entry is not an object");
    for (int i = 0; i < 3; i++)
        if (!json_object_get(v, keys[i]))
            return bad_tensor(c, name, "missing \"%s\"", keys[i]);
    if (json_object_size(v) != 3) {
        const char *key;
        const json_t *x;
        json_object_foreach((json_t *)v, key, x) {
            if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
                return bad_tensor(c, name, "unexpected field \"%.40s\" (expected dtype, shape, "
                                  "data_offsets)", key);
        }
    }
    int64_t off[2];
    int n_off;
    mk_status st = parse_dtype(c, name, json_object_get(v, "dtype"), &t->dtype);
    if (st == MK_OK)
        st = parse_ints(c, name, "shape", json_object_get(v, "shape"), -1, t->shape, &t->ndim);
    if (st == MK_OK)
        st = parse_ints(c, name, "data_offsets", json_object_get(v, "data_offsets"), 2, off,
                        &n_off);
    if (st != MK_OK)
        return st;
    char shape[160];
    int ok;
    size_t bytes = nbytes(t->shape, t->ndim, dtypes[t->dtype].size, &t->numel, &ok);
    mk_st_shape_str(shape, sizeof shape, t->shape, t->ndim);
    if (!ok)
        return bad_tensor(c, name, "shape %s x %zu bytes overflows", shape,
                          dtypes[t->dtype].size);
    if (off[0] > off[1])
        return bad_tensor(c, name, "data_offsets [%" PRId64 ", %" PRId64 "]: begin is after end",
                          off[0], off[1]);
    if ((uint64_t)off[1] > c->data_len)
        return bad_tensor(c, name, "data_offsets [%" PRId64 ", %" PRId64 "] run past the end of "
                          "the data section (%zu bytes)", off[0], off[1], c->data_len);
    t->begin = (size_t)off[0];
    t->end = (size_t)off[1];
    if (t->end - t->begin != bytes)
        return bad_tensor(c, name, "data_offsets [%zu, %zu] hold %zu bytes, but shape %s of %s "
                          "needs %zu", t->begin, t->end, t->end - t->begin, shape,
                          dtypes[t->dtype].name, bytes);
    return MK_OK;
}

static int by_offsets(const void *a, const void *b)
{
    const struct mk_st_tensor *x = *(const struct mk_st_tensor *const *)a;
    const struct mk_st_tensor *y = *(const struct mk_st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* The tensors must tile the data section: sorted by offsets, each starts where the previous
 * one ended, and the last one ends at the end of the file. */
static mk_status check_tiling(const struct ctx *c, struct mk_st_file *f)
{
    if (f->n == 0) {
        if (c->data_len)
            return mk_fail(MK_ERR_FORMAT, "%s: %zu bytes after the header, but no tensors",
                           c->path, c->data_len);
        return MK_OK;
    }
    const struct mk_st_tensor **order = malloc((size_t)f->n * sizeof *order);
    if (!order)
        return mk_fail(MK_ERR_NOMEM, "%s: out of memory", c->path);
    for (int i = 0; i < f->n; i++)
        order[i] = &f->t[i];
    qsort(order, (size_t)f->n, sizeof *order, by_offsets);
    mk_status st = MK_OK;
    size_t pos = 0;
    const struct mk_st_tensor *prev = NULL;
    for (int i = 0; i < f->n && st == MK_OK; i++) {
        const struct mk_st_tensor *t = order[i];
        if (t->begin > pos)
            st = bad_tensor(c, t->name, "data_offsets [%zu, %zu] leave bytes [%zu, %zu) of the "
                            "data section unused", t->begin, t->end, pos, t->begin);
        else if (t->begin < pos)
            st = bad_tensor(c, t->name, "data_offsets [%zu, %zu] overlap tensor \"%s\" [%zu, %zu]",
                            t->begin, t->end, prev->name, prev->begin, prev->end);
        pos = t->end;
        prev = t;
    }
    if (st == MK_OK && pos != c->data_len)
        st = mk_fail(MK_ERR_FORMAT, "%s: the last %zu bytes of the file belong to no tensor (the "
                     "tensors end at byte %zu of the %zu-byte data section)", c->path,
                     c->data_len - pos, pos, c->data_len);
    free(order);
    return st;
}

static char *arena_put(char **at, const char *s)
{
    char *r = *at;
    size_t n = strlen(s) + 1;
    memcpy(r, s, n);
    *at += n;
    return r;
}

/* Copies the names, the metadata and the path into one allocation, and fills f->meta. */
static mk_status keep_strings(struct mk_st_file *f, const char *path, json_t *root,
                              const json_t *meta)
{
    size_t size = strlen(path) + 1;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) size += strlen(key) + 1;
    json_object_foreach((json_t *)meta, key, v) {
        size += strlen(key) + strlen(json_string_value(v)) + 2;
    }
    char *at = f->strings = malloc(size);
    if (meta)
        f->meta = malloc((json_object_size(meta) + 1) * sizeof *f->meta);
    if (!f->strings || (meta && !f->meta))
        return mk_fail(MK_ERR_NOMEM, "%s: out of memory reading the header", path);
    f->path = arena_put(&at, path);
    if (meta) {
        f->n_meta = 0;
        json_object_foreach((json_t *)meta, key, v) {
            f->meta[f->n_meta].key = arena_put(&at, key);
            f->meta[f->n_meta++].value = arena_put(&at, json_string_value(v));
        }
    }
    int i = 0;
    json_object_foreach(root, key, v) {
        if (v != meta)
            f->t[i++].name = arena_put(&at, key);
    }
    return MK_OK;
}

static mk_status check_metadata(const char *path, const json_t *meta)
{
    const char *key;
    json_t *v;
    if (!json_is_object(meta))
        return mk_fail(MK_ERR_FORMAT, "%s: \"__metadata__\" is not an object", path);
    json_object_foreach((json_t *)meta, key, v) {
        if (!json_is_string(v))
            return mk_fail(MK_ERR_FORMAT, "%s: \"__metadata__\" entry \"%.40s\" is not a string",
                           path, key);
    }
    return MK_OK;
}

static mk_status parse(struct mk_st_file *f, const char *path, const unsigned char *buf,
                       size_t len)
{
    if (len < 8)
        return mk_fail(MK_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file (the "
                       "header length alone takes 8)", path, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | buf[i];
    if (n == 0)
        return mk_fail(MK_ERR_FORMAT, "%s: header length is 0", path);
    if (n > MK_ST_MAX_HEADER)
        return mk_fail(MK_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the limit of %zu "
                       "bytes (not a safetensors file?)", path, n, MK_ST_MAX_HEADER);
    if (n > len - 8)
        return mk_fail(MK_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end of the "
                       "%zu-byte file (truncated?)", path, n, len);
    json_error_t err;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return mk_fail(MK_ERR_FORMAT, "%s: header is not valid JSON (byte %d of the file): %s",
                       path, 8 + err.position, err.text);
    struct ctx c = {path, len - 8 - (size_t)n};
    const json_t *meta = json_object_get(root, "__metadata__");
    mk_status st = MK_OK;
    if (!json_is_object(root))
        st = mk_fail(MK_ERR_FORMAT, "%s: header is not a JSON object", path);
    else if (meta)
        st = check_metadata(path, meta);
    f->n = (int)json_object_size(root) - (meta != NULL);
    if (st == MK_OK && !(f->t = calloc((size_t)f->n + 1, sizeof *f->t)))
        st = mk_fail(MK_ERR_NOMEM, "%s: out of memory reading the header", path);
    if (st == MK_OK)
        st = keep_strings(f, path, root, meta);
    const char *key;
    json_t *v;
    int i = 0;
    json_object_foreach(root, key, v) {
        if (st != MK_OK)
            break;
        if (v != meta)
            st = parse_entry(&c, key, v, &f->t[i++]);
    }
    json_decref(root);
    if (st == MK_OK)
        st = check_tiling(&c, f);
    f->data = buf + 8 + n;
    f->data_len = c.data_len;
    return st;
}

mk_status mk_st_parse(struct mk_st_file *f, const char *name, const unsigned char *buf,
                      size_t len)
{
    memset(f, 0, sizeof *f);
    f->n_meta = -1;
    mk_status st = parse(f, name, buf, len);
    if (st != MK_OK)
        mk_st_close(f);
    return st;
}

mk_status mk_st_open(struct mk_st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->n_meta = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mk_fail(MK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int e = fstat(fd, &sb) != 0 ? errno : 0;
    if (e || !S_ISREG(sb.st_mode)) {
        close(fd);
        return mk_fail(MK_ERR_IO, "%s: %s", path, e ? strerror(e) : "not a regular file");
    }
    size_t len = (size_t)sb.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            e = errno;
            close(fd);
            return mk_fail(MK_ERR_IO, "%s: cannot map %zu bytes: %s", path, len, strerror(e));
        }
    }
    close(fd);
    mk_status st = mk_st_parse(f, path, map ? map : (const void *)"", len);
    if (st != MK_OK) {
        if (map)
            munmap(map, len);
        return st;
    }
    f->map = map;
    f->map_len = len;
    return MK_OK;
}

void mk_st_close(struct mk_st_file *f)
{
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->t);
    free(f->meta);
    free(f->strings);
    memset(f, 0, sizeof *f);
    f->n_meta = -1;
}

const struct mk_st_tensor *mk_st_find(const struct mk_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i];
    return NULL;
}

static mk_status wrong_dtype(const struct mk_st_file *f, const struct mk_st_tensor *t,
                             const char *expected)
{
    return mk_fail(MK_ERR_UNSUPPORTED, "%s: tensor \"%s\" has dtype %s; expected %s", f->path,
                   t->name, dtypes[t->dtype].name, expected);
}

mk_status mk_st_read_f32(const struct mk_st_file *f, const struct mk_st_tensor *t, float *dst)
{
    const unsigned char *p = f->data + t->begin;
    switch (t->dtype) {
    case MK_F32:
        memcpy(dst, p, t->numel * sizeof *dst);
        return MK_OK;
    case MK_BF16:
    case MK_F16:
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->dtype == MK_BF16 ? mk_bf16_to_f32(h) : mk_f16_to_f32(h);
        }
        return MK_OK;
    case MK_F64:
        for (size_t i = 0; i < t->numel; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
            if (isinf(dst[i]) && !isinf(d))
                return mk_fail(MK_ERR_INVALID, "%s: tensor \"%s\": element %zu = %g is outside "
                               "the float range", f->path, t->name, i, d);
        }
        return MK_OK;
    default:
        return wrong_dtype(f, t, "a floating-point tensor (F32, F16, BF16 or F64)");
    }
}

mk_status mk_st_read_i32(const struct mk_st_file *f, const struct mk_st_tensor *t, int32_t *dst)
{
    const unsigned char *p = f->data + t->begin;
    for (size_t i = 0; i < t->numel; i++) {
        int64_t v;
        switch (t->dtype) {
        case MK_I32: {
            int32_t x;
            memcpy(&x, p + 4 * i, 4);
            v = x;
            break;
        }
        case MK_I64:
            memcpy(&v, p + 8 * i, 8);
            break;
        case MK_I16: {
            int16_t x;
            memcpy(&x, p + 2 * i, 2);
            v = x;
            break;
        }
        case MK_I8:
            v = (int8_t)p[i];
            break;
        case MK_U8:
            v = p[i];
            break;
        default:
            return wrong_dtype(f, t, "an integer tensor (I32, I64, I16, I8 or U8)");
        }
        if (v < INT32_MIN || v > INT32_MAX)
            return mk_fail(MK_ERR_INVALID, "%s: tensor \"%s\": element %zu = %" PRId64 " does not "
                           "fit in int32", f->path, t->name, i, v);
        dst[i] = (int32_t)v;
    }
    return MK_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int rank(enum mk_dtype d)
{
    return dtype_ok(d) ? dtypes[d].rank : -1; /* invalid ones last; the writer refuses them */
}

static int canonical_order(const void *a, const void *b)
{
    const struct mk_st_entry *x = a, *y = b;
    int rx = rank(x->dtype), ry = rank(y->dtype);
    if (rx != ry)
        return ry - rx;
    return strcmp(x->name, y->name); /* compares as unsigned char: Rust's byte order */
}

void mk_st_sort_canonical(struct mk_st_entry *e, int n)
{
    if (n > 1)
        qsort(e, (size_t)n, sizeof *e, canonical_order);
}

/* A growing byte buffer; `oom` is sticky so callers check once at the end. */
struct out {
    unsigned char *p;
    size_t len, cap;
    int oom;
};

static void put(struct out *o, const void *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + n)
            cap *= 2;
        unsigned char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A JSON string as serde_json writes it: \" \\ \b \f \n \r \t, other control characters as
 * \u00xx with lowercase hex, everything else (including '/' and non-ASCII UTF-8) raw. */
static void put_string(struct out *o, const char *s)
{
    put(o, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *short_esc = NULL;
        switch (*p) {
        case '"': short_esc = "\\\""; break;
        case '\\': short_esc = "\\\\"; break;
        case '\b': short_esc = "\\b"; break;
        case '\f': short_esc = "\\f"; break;
        case '\n': short_esc = "\\n"; break;
        case '\r': short_esc = "\\r"; break;
        case '\t': short_esc = "\\t"; break;
        }
        if (short_esc)
            puts_(o, short_esc);
        else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(o, esc);
        } else
            put(o, p, 1);
    }
    put(o, "\"", 1);
}

static void put_u64(struct out *o, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    puts_(o, buf);
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s++;
        int more;
        unsigned min, cp;
        if (c < 0x80)
            continue;
        else if ((c & 0xe0) == 0xc0)
            more = 1, min = 0x80, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            more = 2, min = 0x800, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            more = 3, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        for (int i = 0; i < more; i++, s++) {
            if ((*s & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (*s & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses what the Python library could never have written. */
static mk_status check_entries(const struct mk_st_entry *e, int n, const struct mk_st_meta *meta,
                               int n_meta, size_t *data_bytes)
{
    *data_bytes = 0;
    for (int i = 0; i < n; i++) {
        const char *name = e[i].name;
        if (!name || !utf8_valid(name) || strcmp(name, "__metadata__") == 0)
            return mk_fail(MK_ERR_INVALID, "safetensors writer: tensor %d: name %s%s%s is not "
                           "allowed", i, name ? "\"" : "", name ? name : "NULL", name ? "\"" : "");
        if (!dtype_ok(e[i].dtype))
            return mk_fail(MK_ERR_INVALID, "safetensors writer: tensor \"%s\": invalid dtype %d",
                           name, (int)e[i].dtype);
        if (e[i].ndim < 0 || e[i].ndim > MK_ST_MAX_DIMS)
            return mk_fail(MK_ERR_INVALID, "safetensors writer: tensor \"%s\": %d dimensions "
                           "(0 to %d allowed)", name, e[i].ndim, MK_ST_MAX_DIMS);
        for (int d = 0; d < e[i].ndim; d++)
            if (e[i].shape[d] < 0)
                return mk_fail(MK_ERR_INVALID, "safetensors writer: tensor \"%s\": negative "
                               "dimension %" PRId64, name, e[i].shape[d]);
        int ok;
        size_t numel, b = nbytes(e[i].shape, e[i].ndim, dtypes[e[i].dtype].size, &numel, &ok);
        if (!ok || b > SIZE_MAX - *data_bytes)
            return mk_fail(MK_ERR_INVALID, "safetensors writer: tensor \"%s\": size overflows",
                           name);
        if (b && !e[i].data)
            return mk_fail(MK_ERR_INVALID, "safetensors writer: tensor \"%s\": no data", name);
        *data_bytes += b;
    }
    if (n_meta > 0 && !meta)
        return mk_fail(MK_ERR_INVALID, "safetensors writer: %d metadata entries but no array",
                       n_meta);
    for (int i = 0; i < n_meta; i++)
        if (!meta[i].key || !meta[i].value || !utf8_valid(meta[i].key) ||
            !utf8_valid(meta[i].value))
            return mk_fail(MK_ERR_INVALID, "safetensors writer: metadata entry %d is not a pair "
                           "of UTF-8 strings", i);
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    if (!names)
        return mk_fail(MK_ERR_NOMEM, "safetensors writer: out of memory");
    for (int i = 0; i < n; i++)
        names[i] = e[i].name;
    qsort(names, (size_t)n, sizeof *names, by_name);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            dup = names[i];
    mk_status st = dup ? mk_fail(MK_ERR_INVALID, "safetensors writer: tensor name \"%s\" given "
                                 "twice", dup)
                       : MK_OK;
    free(names);
    return st;
}

mk_status mk_st_serialize(const struct mk_st_entry *e, int n, const struct mk_st_meta *meta,
                          int n_meta, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t data_bytes;
    mk_status st = check_entries(e, n, meta, n_meta, &data_bytes);
    if (st != MK_OK)
        return st;
    struct out h = {0};
    put(&h, "\0\0\0\0\0\0\0\0{", 9); /* the length is filled in below */
    if (n_meta >= 0) {
        puts_(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                puts_(&h, ",");
            put_string(&h, meta[i].key);
            puts_(&h, ":");
            put_string(&h, meta[i].value);
        }
        puts_(&h, n ? "}," : "}");
    }
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        int ok;
        size_t numel, b = nbytes(e[i].shape, e[i].ndim, dtypes[e[i].dtype].size, &numel, &ok);
        if (i)
            puts_(&h, ",");
        put_string(&h, e[i].name);
        puts_(&h, ":{\"dtype\":");
        put_string(&h, dtypes[e[i].dtype].name);
        puts_(&h, ",\"shape\":[");
        for (int d = 0; d < e[i].ndim; d++) {
            if (d)
                puts_(&h, ",");
            put_u64(&h, (uint64_t)e[i].shape[d]);
        }
        puts_(&h, "],\"data_offsets\":[");
        put_u64(&h, offset);
        puts_(&h, ",");
        put_u64(&h, offset + b);
        puts_(&h, "]}");
        offset += b;
    }
    puts_(&h, "}");
    while ((h.len - 8) % 8)
        puts_(&h, " ");
    uint64_t hlen = h.len - 8;
    if (!h.oom && data_bytes > SIZE_MAX - h.len) {
        free(h.p);
        return mk_fail(MK_ERR_INVALID, "safetensors writer: file size overflows");
    }
    unsigned char *buf = h.oom ? NULL : realloc(h.p, h.len + data_bytes);
    if (!buf) {
        free(h.p);
        return mk_fail(MK_ERR_NOMEM, "safetensors writer: out of memory for %zu bytes",
                       h.len + data_bytes);
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hlen >> (8 * i));
    size_t at = h.len;
    for (int i = 0; i < n; i++) {
        int ok;
        size_t numel, b = nbytes(e[i].shape, e[i].ndim, dtypes[e[i].dtype].size, &numel, &ok);
        if (b)
            memcpy(buf + at, e[i].data, b);
        at += b;
    }
    *out = buf;
    *len = at;
    return MK_OK;
}

mk_status mk_st_write(const char *path, const struct mk_st_entry *e, int n,
                      const struct mk_st_meta *meta, int n_meta)
{
    unsigned char *buf;
    size_t len;
    mk_status st = mk_st_serialize(e, n, meta, n_meta, &buf, &len);
    if (st != MK_OK) { /* prefix the path; mk_fail must not read the buffer it writes */
        char why[1024];
        snprintf(why, sizeof why, "%s", mk_last_error());
        return mk_fail(st, "%s: %s", path, why);
    }
    st = mk_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}
