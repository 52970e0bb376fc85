/* bad_plugin.c — odd modality plugins for the loader's tests (test_plugins.c), built as
 * modules under tests/plugins/ with BAD_KIND set to one of:
 *   1 badabi    built for ABI 2.0          2 badsize   struct_size 16
 *   3 noentry   no mk_modality_entry       4 nowrite   descriptor without write()
 *   5 misnamed  its descriptor says "other"
 *   6 future    ABI 1.9 with a struct_size larger than this build's: must load
 *   7 old       a struct_size that ends before the optional hooks (which the object does
 *               have): must load, with the hooks taken as NULL
 * Everything else is a valid, do-nothing modality, so each file has exactly one oddity.
 */
#include <string.h>
#include "mambakit-plugin.h"

static int create(const struct mk_kv *kv, size_t n, void **h, char *err, size_t errlen)
{
    *h = NULL;
    return MK_MODALITY_OK;
}
static void destroy(void *h) {}
static int32_t vocab_size(void *h) { return 1; }
static int32_t special(void *h, enum mk_special_token w) { return -1; }
static int piece(void *h, int32_t id, char *buf, size_t cap) { return -1; }
static int open_reader(void *h, const char *src, const char *labels, size_t max_chunk,
                       void **r, char *err, size_t errlen)
{
    return MK_MODALITY_ERR_UNSUPPORTED;
}
static int read_(void *r, struct mk_record *rec, char *err, size_t errlen)
{
    return MK_MODALITY_END;
}
static void close_reader(void *r) {}
static int write_(void *h, const int32_t *t, size_t n, const char *id, mk_byte_sink sink,
                  void *ctx, char *err, size_t errlen)
{
    return MK_MODALITY_ERR_UNSUPPORTED;
}

static void augment(void *h, int32_t *t, float *w, size_t n, uint64_t random) {}

static const char *const names[] = {"", "badabi", "badsize", "noentry", "nowrite", "other",
                                    "future", "old"};

static const struct mk_modality desc = {
    .abi_version = BAD_KIND == 1   ? 2u << 16
                   : BAD_KIND == 6 ? 1u << 16 | 9
                                   : MK_MODALITY_ABI_VERSION,
    .struct_size = BAD_KIND == 2   ? 16
                   : BAD_KIND == 6 ? sizeof(struct mk_modality) + 64
                   : BAD_KIND == 7 ? offsetof(struct mk_modality, augment)
                                   : sizeof(struct mk_modality),
    .name = names[BAD_KIND],
    .description = "a broken plugin for tests",
    .version = "0.0.1",
    .output_ext = ".bin",
    .create = create, .destroy = destroy, .vocab_size = vocab_size, .special = special,
    .piece = piece, .open_reader = open_reader, .read = read_, .close_reader = close_reader,
    .write = BAD_KIND == 4 ? NULL : write_,
    .augment = augment,
};

#if BAD_KIND == 3
MK_MODALITY_EXPORT const struct mk_modality *mk_modality_entry_v0(void);
MK_MODALITY_EXPORT const struct mk_modality *mk_modality_entry_v0(void)
#else
MK_MODALITY_ENTRY(bad)
#endif
{
    return &desc;
}
