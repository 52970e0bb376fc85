/* plugin.h — modality plugins inside libmambakit: finding, loading and checking them, and a
 * thin layer over a loaded one (mk_codec, mk_reader) that turns the plugin's status codes and
 * error strings into mk_status and mk_last_error().
 *
 * Finding a plugin by name (a path with a '/' loads that file instead), first hit wins:
 *   1. each directory of $MAMBAKIT_PLUGIN_PATH (colon-separated), file NAME.so — first, so a
 *      user can try a new build of a plugin, built-in ones included, without reinstalling;
 *   2. the built-in set (text, dna, audio), compiled into libmambakit;
 *   3. the installed plugin directory MK_PLUGINDIR ($libdir/mambakit/plugins), NAME.so.
 * A file is refused, with a message naming it and both versions, when it has no entry point
 * (MK_MODALITY_ENTRY_SYMBOL), its ABI major differs from this build's, its struct_size is
 * smaller than the fields every ABI 1 plugin has, or its descriptor lacks a name, a version
 * or a required function.
 *
 * Use, as the data pipeline does:
 *   struct mk_codec *c;
 *   struct mk_kv opts[] = {{"case", "fold"}, {"n_policy", "ignore"}};
 *   mk_codec_open(&c, "dna", opts, 2);
 *   struct mk_reader *r;  mk_reader_open(&r, c, "genomes/h*.fa.gz", "dir", 1 << 20);
 *   struct mk_record rec; int end;
 *   while (mk_reader_next(r, &rec, &end) == MK_OK && !end) ...use rec (valid until next)...
 *   mk_reader_close(r);  mk_codec_write_file(c, "out.fasta", ids, n, "sample1");
 *   mk_codec_close(c);
 */
#ifndef MK_PLUGIN_H
#define MK_PLUGIN_H

#include <stdio.h>
#include "mambakit-plugin.h"
#include "mambakit.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mk_plugin_origin { MK_PLUGIN_BUILTIN, MK_PLUGIN_ENV, MK_PLUGIN_INSTALLED, MK_PLUGIN_FILE };

/* A loaded and checked plugin. */
struct mk_plugin {
    struct mk_modality m;         /* the descriptor, widened to this build's struct: fields past
                                     the plugin's struct_size are NULL */
    enum mk_plugin_origin origin;
    char path[4096];              /* the file it came from ("" for a built-in one) */
    void *dl;                     /* dlopen handle, NULL for a built-in one */
};

mk_status mk_plugin_load(struct mk_plugin **out, const char *name_or_path);
void mk_plugin_unload(struct mk_plugin *p);
/* Checks a descriptor as the loader does and copies it, widened, into *out. `where` names it
 * in messages (a file path or "built-in"). */
mk_status mk_plugin_check(const struct mk_modality *m, const char *where, struct mk_modality *out);
/* "built-in", "$MAMBAKIT_PLUGIN_PATH", "installed" or "file". */
const char *mk_plugin_origin_name(enum mk_plugin_origin o);

/* Every plugin the search would see, in search order, for `mambakit plugins`. */
struct mk_plugin_info {
    char name[64], version[32], description[256];
    enum mk_plugin_origin origin;
    char path[4096];   /* "" for built-ins */
    char error[1024];  /* why the file was refused ("" if it loads) */
    int shadowed;      /* an earlier plugin has the same name, so this one is never used */
};
mk_status mk_plugin_list(struct mk_plugin_info **list, size_t *n);

/* ---- a plugin instance ---- */

struct mk_codec {
    struct mk_plugin *plugin;
    void *handle;      /* from the plugin's create() */
};

/* Loads the plugin and creates a handle from the options. */
mk_status mk_codec_open(struct mk_codec **out, const char *plugin, const struct mk_kv *options,
                        size_t n_options);
void mk_codec_close(struct mk_codec *c);
int32_t mk_codec_vocab_size(const struct mk_codec *c);
int32_t mk_codec_special(const struct mk_codec *c, enum mk_special_token which); /* or -1 */
/* Training-time augmentation of one window in place (DNA: reverse complement with
 * probability rc_aug); `random` comes from the caller's seeded generator (mk_rng_next), so
 * runs stay reproducible. Does nothing for a modality without the hook. */
void mk_codec_augment(const struct mk_codec *c, int32_t *tokens, float *weights, size_t n,
                      uint64_t random);
/* The reverse complement in place (test-time strand averaging); MK_ERR_UNSUPPORTED for a
 * modality without strands. */
mk_status mk_codec_reverse_complement(const struct mk_codec *c, int32_t *tokens, float *weights,
                                      size_t n);
/* Encodes tokens in the modality's file format into a malloc'd buffer. */
mk_status mk_codec_encode(const struct mk_codec *c, const int32_t *tokens, size_t n,
                          const char *id, unsigned char **data, size_t *len);
/* Encodes and writes path atomically ("-": standard output). */
mk_status mk_codec_write_file(const struct mk_codec *c, const char *path, const int32_t *tokens,
                              size_t n, const char *id);

struct mk_reader;
mk_status mk_reader_open(struct mk_reader **out, const struct mk_codec *c, const char *source,
                         const char *labels, size_t max_chunk);
/* The next chunk into *rec (valid until the next call), or *end = 1 when the source is done. */
mk_status mk_reader_next(struct mk_reader *r, struct mk_record *rec, int *end);
void mk_reader_close(struct mk_reader *r);

#ifdef __cplusplus
}
#endif
#endif
