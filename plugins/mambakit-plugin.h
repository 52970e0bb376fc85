/* mambakit-plugin.h — the modality plugin ABI of mambakit (installed as
 * <mambakit/mambakit-plugin.h>; `pkg-config --cflags mambakit` finds it).
 *
 * A modality turns source files into token sequences for the model and generated tokens back
 * into files: text (bytes or BPE), DNA (FASTA), audio (mu-law samples), or anything a third
 * party adds. This header is self-contained (only <stddef.h> and <stdint.h>), so a plugin
 * builds against it alone.
 *
 * A plugin is a shared object exporting exactly one function,
 *
 *     const struct mk_modality *mk_modality_entry(void);      (MK_MODALITY_ENTRY_SYMBOL)
 *
 * that returns a pointer to a constant descriptor valid until the object is unloaded. Write
 * it with the MK_MODALITY_ENTRY macro, which also gives the function default visibility, so
 * the rest of the plugin can be compiled with -fvisibility=hidden:
 *
 *     static const struct mk_modality desc = {
 *         .abi_version = MK_MODALITY_ABI_VERSION, .struct_size = sizeof(struct mk_modality),
 *         .name = "protein", .description = "amino-acid sequences, one per line",
 *         .version = "1.0.0", .create = my_create, ... };
 *     MK_MODALITY_ENTRY(protein) { return &desc; }
 *
 * Versioning (LV2's trick): abi_version is MAJOR << 16 | MINOR. mambakit loads a plugin only
 * when the majors are equal. A minor version appends fields at the end; struct_size tells
 * which fields a plugin has, and mambakit treats fields past it as NULL, so an old plugin keeps
 * working with a newer mambakit and the descriptor can grow without a major bump.
 *
 * Rules for every function here:
 *   - It returns an mk_modality status: 0 on success, a positive MK_MODALITY_ERR_* code on
 *     failure (the same numbers as libmambakit's mk_status), with a one-line English message
 *     written to err[0..errlen) (NUL-terminated, truncated if needed) that names the file,
 *     record and line where one applies. A reader also returns MK_MODALITY_END.
 *   - It never prints, never exits and never aborts on bad input.
 *   - A handle (from create) and the readers opened from it are used by one thread at a time;
 *     distinct handles are independent.
 */
#ifndef MAMBAKIT_PLUGIN_H
#define MAMBAKIT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MK_MODALITY_ABI_MAJOR 1
#define MK_MODALITY_ABI_MINOR 0
#define MK_MODALITY_ABI_VERSION ((uint32_t)(MK_MODALITY_ABI_MAJOR << 16 | MK_MODALITY_ABI_MINOR))
#define MK_MODALITY_ENTRY_SYMBOL "mk_modality_entry"

/* Status codes (equal to libmambakit's mk_status values) and the reader's end marker. */
enum {
    MK_MODALITY_OK = 0,
    MK_MODALITY_ERR_NOMEM = 1,       /* allocation failed */
    MK_MODALITY_ERR_IO = 2,          /* a file could not be opened, read or written */
    MK_MODALITY_ERR_FORMAT = 3,      /* a file's content is malformed */
    MK_MODALITY_ERR_INVALID = 4,     /* an option or argument is wrong (unknown option too) */
    MK_MODALITY_ERR_UNSUPPORTED = 5, /* valid, but not supported by this plugin */
    MK_MODALITY_END = -1             /* read(): no more records in this source */
};

/* Special tokens a caller may ask for; special() answers -1 for those a modality lacks. */
enum mk_special_token {
    MK_TOKEN_PAD = 0, /* filler for batches; never a target */
    MK_TOKEN_BOS,     /* start of a record */
    MK_TOKEN_EOS,     /* end of a record (text: end of a document) */
    MK_TOKEN_UNK,     /* anything the vocabulary cannot say */
    MK_TOKEN_MASK,    /* for masked modelling */
    MK_TOKEN_N,       /* DNA: an unknown or ambiguous base */
    MK_SPECIAL_TOKEN_COUNT /* how many kinds there are (not a token) */
};

/* One option of the recipe's data section, as text. Nested maps come with dotted keys
 * ("labels.file"); a sequence gives one entry per item, all with the same key, in order.
 * Booleans are "true"/"false", numbers as written in the recipe. */
struct mk_kv {
    const char *key;
    const char *value;
};

/* One record, or one chunk of a long record, from a reader. Everything it points to belongs
 * to the reader and stays valid until the next read() or close_reader() on it; copy what you
 * keep. A record longer than the reader's max_chunk arrives as several chunks with the same
 * id and growing offset, the last with last = 1. With a modality's window / stride options
 * each window is a record of its own: id "ID:START-END" (1-based, inclusive), last = 1. */
struct mk_record {
    const int32_t *tokens; /* [n] ids in [0, vocab_size) */
    const float *weights;  /* [n] per-token loss weights (e.g. soft-masked DNA), or NULL = 1 */
    size_t n;              /* tokens in this chunk (> 0) */
    const char *id;        /* record id: FASTA header's first word, file path, ... */
    const char *label;     /* class label from the reader's label rule, or NULL */
    uint64_t offset;       /* position of tokens[0] in the whole record */
    int last;              /* 1 if this chunk ends the record */
};

/* Where a writer's bytes go: called any number of times; returns 0, or nonzero to stop the
 * writer (which then fails with MK_MODALITY_ERR_IO). */
typedef int (*mk_byte_sink)(void *ctx, const void *data, size_t len);

struct mk_modality {
    /* ---- header: never moves ---- */
    uint32_t abi_version;        /* MK_MODALITY_ABI_VERSION the plugin was built with */
    uint32_t struct_size;        /* sizeof(struct mk_modality) the plugin was built with */

    /* ---- identity ---- */
    const char *name;            /* [a-z0-9_-]+; what recipes write after `plugin:` */
    const char *description;     /* one line, no trailing period needed */
    const char *version;         /* the plugin's own version, e.g. "1.2.0" */
    const char *output_ext;      /* file extension of write()'s output: ".txt", ".fasta" */

    /* ---- lifecycle ---- */
    /* Makes a handle from the options (the recipe's data section less the keys mambakit
     * itself reads: paths, splits, seq_len, batches). An unknown key or a bad value fails
     * with MK_MODALITY_ERR_INVALID and a message naming it. */
    int (*create)(const struct mk_kv *options, size_t n_options, void **handle, char *err,
                  size_t errlen);
    void (*destroy)(void *handle);

    /* ---- vocabulary ---- */
    int32_t (*vocab_size)(void *handle);                      /* V: ids are in [0, V) */
    int32_t (*special)(void *handle, enum mk_special_token which); /* id, or -1 */
    /* Writes the bytes token `id` stands for (text: its bytes, possibly part of a UTF-8
     * character; DNA: the base letter; audio: the sample value as "+0.12345"; special
     * tokens: their name such as "<|endoftext|>")
     * to buf[0..cap) and returns the full length (as snprintf does; no NUL is added), or -1
     * if id is out of range. */
    int (*piece)(void *handle, int32_t id, char *buf, size_t cap);

    /* ---- reading: source → records ---- */
    /* Opens a source: a file path or a glob pattern (files in sorted order). `labels` is the
     * split's label rule or NULL: "dir" (the name of the file's directory; "dir:N" the one N
     * levels up), "header:REGEX" (POSIX extended regex on the record's header, or the path
     * where records have none; group 1, or the whole match, is the label), "tsv:FILE" (lines
     * KEY<TAB>LABEL, KEY a record id, a path or a file name), "none". max_chunk > 0 caps the
     * tokens per record chunk so that long records stream; 0 = whole records. */
    int (*open_reader)(void *handle, const char *source, const char *labels, size_t max_chunk,
                       void **reader, char *err, size_t errlen);
    /* Fills *rec with the next chunk and returns MK_MODALITY_OK, or returns MK_MODALITY_END
     * when the source is exhausted, or an error. */
    int (*read)(void *reader, struct mk_record *rec, char *err, size_t errlen);
    void (*close_reader)(void *reader);

    /* ---- writing: tokens → file bytes ---- */
    /* Encodes one generated sequence (ids in [0, V); special tokens are dropped) as the
     * modality's file format and passes the bytes to sink: text as UTF-8 (any bytes), DNA as
     * a FASTA record named `id` with wrapped lines, audio as a 16-bit PCM WAV file. */
    int (*write)(void *handle, const int32_t *tokens, size_t n, const char *id,
                 mk_byte_sink sink, void *sink_ctx, char *err, size_t errlen);

    /* ---- optional hooks (NULL when absent) ---- */
    /* Training-time augmentation of one window in place. `random` is a uniform 64-bit number
     * from the caller's seeded generator, so runs stay reproducible; DNA reverse-complements
     * with probability rc_aug. */
    void (*augment)(void *handle, int32_t *tokens, float *weights, size_t n, uint64_t random);
    /* DNA: the reverse complement in place (for test-time strand averaging). */
    void (*reverse_complement)(void *handle, int32_t *tokens, float *weights, size_t n);

    /* ---- reserved for hooks of later minor versions; set to NULL ---- */
    void *reserved[8];
};

/* Defines the entry point. NAME is a C identifier naming the modality; a plugin built into
 * libmambakit (MK_MODALITY_BUILTIN defined) gets the distinct name mk_modality_builtin_NAME
 * instead, so several can live in one library. */
#if defined(__GNUC__)
#define MK_MODALITY_EXPORT __attribute__((visibility("default")))
#else
#define MK_MODALITY_EXPORT
#endif
#ifdef MK_MODALITY_BUILTIN
#define MK_MODALITY_ENTRY(NAME) const struct mk_modality *mk_modality_builtin_##NAME(void)
#else
#define MK_MODALITY_ENTRY(NAME)                                                                \
    MK_MODALITY_EXPORT const struct mk_modality *mk_modality_entry(void);                      \
    MK_MODALITY_EXPORT const struct mk_modality *mk_modality_entry(void)
#endif

#ifdef __cplusplus
}
#endif
#endif /* MAMBAKIT_PLUGIN_H */
