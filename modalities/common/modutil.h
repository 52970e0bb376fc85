/* modutil.h — small pieces every modality needs: error messages into a caller's buffer,
 * option tables (recipe key/value views checked against what a modality accepts), growable
 * arrays and two hash maps (string → int32, uint64 → int64).
 *
 * Modality code follows the plugin ABI's rules (plugins/mambakit-plugin.h): functions return
 * an MK_MODALITY_* status and write a message to (err, errlen); nothing prints or exits.
 *
 *   static const struct mk_optdef defs[] = {
 *       {"case", MK_OPT_ENUM, offsetof(struct o, fold), .choices = "keep|fold"},
 *       {"rc_aug", MK_OPT_DOUBLE, offsetof(struct o, rc_aug), .min = 0, .max = 1}, {NULL}};
 *   st = mk_opts_parse(defs, &o, kv, n, "dna", err, errlen);
 */
#ifndef MK_MODUTIL_H
#define MK_MODUTIL_H

#include <stddef.h>
#include <stdint.h>
#include "mambakit-plugin.h"

#if defined(__GNUC__)
#define MK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MK_PRINTF(a, b)
#endif

/* Writes the message to err (if errlen > 0) and returns status. */
int mk_mod_fail(char *err, size_t errlen, int status, const char *fmt, ...) MK_PRINTF(4, 5);

/* ---- options ---- */

enum mk_opt_type {
    MK_OPT_BOOL,   /* int: "true"/"false" (also yes/no, 1/0) */
    MK_OPT_SIZE,   /* size_t: a non-negative integer in [min, max] */
    MK_OPT_DOUBLE, /* double in [min, max] */
    MK_OPT_ENUM,   /* int: index of the value in `choices` ("a|b|c") */
    MK_OPT_STRING  /* const char *: the value as given (borrowed from the caller) */
};

struct mk_optdef {
    const char *key;
    enum mk_opt_type type;
    size_t offset;       /* where the value goes in the options struct */
    double min, max;     /* MK_OPT_SIZE / MK_OPT_DOUBLE range */
    const char *choices; /* MK_OPT_ENUM */
};

/* Parses kv[0..n) into the struct at `dst` (which holds the defaults) by the table defs
 * (ended by a NULL key). A key not in the table or a bad value is MK_MODALITY_ERR_INVALID
 * with a message naming the modality, the key and the accepted keys or values. */
int mk_opts_parse(const struct mk_optdef *defs, void *dst, const struct mk_kv *kv, size_t n,
                  const char *modality, char *err, size_t errlen);

/* ---- growable arrays ---- */

/* Makes room for at least `need` elements of `size` bytes in *buf (capacity *cap, grown
 * geometrically). Returns 0, or -1 if out of memory (the old buffer is kept). */
int mk_grow(void **buf, size_t *cap, size_t need, size_t size);

/* A growable byte string (not NUL-terminated unless asked). */
struct mk_bytes {
    unsigned char *p;
    size_t n, cap;
};
int mk_bytes_append(struct mk_bytes *b, const void *data, size_t len); /* 0 or -1 */
/* The mk_byte_sink that appends to a struct mk_bytes (ctx). */
int mk_bytes_sink(void *ctx, const void *data, size_t len);
/* Reads the whole file into b (replacing its content; NUL-terminated, the NUL not counted). */
int mk_read_whole(const char *path, struct mk_bytes *b, char *err, size_t errlen);

/* ---- string → int32 hash map (open addressing, keys copied) ---- */

struct mk_strmap {
    char **keys;     /* [cap] NULL = empty slot */
    size_t *lens;    /* [cap] key lengths (keys may contain NUL bytes) */
    int32_t *vals;   /* [cap] */
    size_t n, cap;   /* cap is a power of two */
};
/* Inserts or replaces key[0..len) → val. Returns 0, or -1 if out of memory. */
int mk_strmap_put(struct mk_strmap *m, const char *key, size_t len, int32_t val);
/* The value for key[0..len), or -1 if absent. */
int32_t mk_strmap_get(const struct mk_strmap *m, const char *key, size_t len);
void mk_strmap_free(struct mk_strmap *m);

/* ---- uint64 → int64 hash map (open addressing; key UINT64_MAX is reserved) ---- */

struct mk_u64map {
    uint64_t *keys;  /* [cap] UINT64_MAX = empty */
    int64_t *vals;   /* [cap] */
    size_t n, cap;   /* cap is a power of two */
};
/* The value slot of key, inserted with value 0 if absent; NULL if out of memory. The pointer
 * is valid until the next insertion. */
int64_t *mk_u64map_at(struct mk_u64map *m, uint64_t key);
/* A pointer to key's value, or NULL if absent. */
const int64_t *mk_u64map_find(const struct mk_u64map *m, uint64_t key);
void mk_u64map_free(struct mk_u64map *m);

#endif
