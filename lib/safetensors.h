/* safetensors.h — internal interface of the checkpoint code (not installed): the safetensors
 * reader and writer, fp16/bf16 conversions, and the config writer with a dtype.
 *
 * The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length n, n bytes of JSON {"__metadata__": {str: str}, name: {"dtype", "shape",
 * "data_offsets": [begin, end]}, ...} padded with spaces, then the data section; offsets are
 * relative to it.
 *
 * Reading:
 *     struct mk_st_file f;
 *     if (mk_st_open(&f, "model.safetensors") != MK_OK) ... mk_last_error() says why
 *     const struct mk_st_tensor *t = mk_st_find(&f, "backbone.norm_f.weight");
 *     mk_st_read_f32(&f, t, dst);          F32/F16/BF16/F64 -> float
 *     mk_st_close(&f);
 * mk_st_open maps the file and checks everything the Python library checks, and more
 * (duplicate keys, unknown fields): the tensors exactly tile the data section, sizes agree
 * with shape x dtype. A file that opens can be read without further checks. The file is
 * mapped, not copied: it must not be truncated while open (as with the Python library).
 *
 * Writing: fill mk_st_entry's (data = raw little-endian elements of the dtype), optionally
 * mk_st_sort_canonical() to get the order of the Python library (dtype alignment descending,
 * then name), then mk_st_write(). The header is byte-for-byte what the Python library writes
 * for the same tensors, order and metadata.
 */
#ifndef MK_SAFETENSORS_H
#define MK_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "mambakit.h"
#include "half.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code copies it as host memory"
#endif

enum { MK_ST_MAX_DIMS = 8 };
#define MK_ST_MAX_HEADER ((size_t)100000000) /* the Python library's limit */

/* "F32", "BF16", ...; NULL for a value outside enum mk_dtype. */
const char *mk_st_dtype_name(enum mk_dtype dtype);
/* Writes "[260, 64]" into buf and returns buf. */
char *mk_st_shape_str(char *buf, size_t size, const int64_t *shape, int ndim);

struct mk_st_tensor {
    const char *name;      /* UTF-8, NUL-terminated, owned by the file */
    enum mk_dtype dtype;
    int ndim;
    int64_t shape[MK_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;     /* byte range in the data section */
};

struct mk_st_meta {
    const char *key, *value;
};

struct mk_st_file {
    const char *path;            /* the name used in messages (owned) */
    const unsigned char *data;   /* the data section */
    size_t data_len;
    int n;                       /* tensors, in header order */
    struct mk_st_tensor *t;
    int n_meta;                  /* __metadata__ entries in file order; -1 if absent */
    struct mk_st_meta *meta;
    /* private */
    void *map;                   /* mmap'ed file (mk_st_open), or NULL */
    size_t map_len;
    char *strings;               /* path, names, metadata */
};

/* Maps `path` and parses it (see above). On failure f is left closed. */
mk_status mk_st_open(struct mk_st_file *f, const char *path);
/* Parses a file held in memory; buf must outlive f. `name` is used in messages. */
mk_status mk_st_parse(struct mk_st_file *f, const char *name, const unsigned char *buf,
                      size_t len);
void mk_st_close(struct mk_st_file *f);
const struct mk_st_tensor *mk_st_find(const struct mk_st_file *f, const char *name);
/* The tensor's elements as float: F32 copied, F16/BF16 exactly widened, F64 rounded (an F64
 * value beyond the float range is an error). Other dtypes: MK_ERR_UNSUPPORTED. */
mk_status mk_st_read_f32(const struct mk_st_file *f, const struct mk_st_tensor *t, float *dst);
/* The tensor's elements as int32 (token ids): I32 copied; I64, I16, I8, U8 converted, an
 * I64 value outside the int32 range is an error. Other dtypes: MK_ERR_UNSUPPORTED. */
mk_status mk_st_read_i32(const struct mk_st_file *f, const struct mk_st_tensor *t,
                         int32_t *dst);

struct mk_st_entry {
    const char *name;
    enum mk_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;      /* numel x dtype size bytes, little-endian; may be NULL if empty */
};

/* Orders entries like the Python library's serializer: by dtype descending in the Rust
 * crate's enum order (alignment: I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL), then
 * by name bytewise. */
void mk_st_sort_canonical(struct mk_st_entry *e, int n);
/* The whole file in a malloc'd buffer: tensors in the given order, packed; __metadata__
 * first when n_meta >= 0 (n_meta = -1: no __metadata__ key). */
mk_status mk_st_serialize(const struct mk_st_entry *e, int n, const struct mk_st_meta *meta,
                          int n_meta, unsigned char **out, size_t *len);
/* mk_st_serialize, then written to path atomically. */
mk_status mk_st_write(const char *path, const struct mk_st_entry *e, int n,
                      const struct mk_st_meta *meta, int n_meta);

/* ---- config ---------------------------------------------------------------------------- */

/* mk_config_save, with the Hugging Face "dtype" field naming the checkpoint's storage type
 * (float32, bfloat16 or float16), so transformers loads it in that precision. */
mk_status mk_config_save_as(const struct mk_config *cfg, const char *path, enum mk_dtype dtype);

#endif /* MK_SAFETENSORS_H */
