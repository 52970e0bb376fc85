/* bpe.c — byte-level BPE: the model, Hugging Face tokenizer.json in and out, encoding and
 * decoding (see bpe.h; training is in bpe_train.c).
 *
 * Encoding one pre-token of n bytes: start from its n byte tokens, keep the adjacent pairs
 * that are merges in a min-heap keyed by (rank, position), and repeatedly apply the best one;
 * a popped entry whose symbols have changed since it was pushed is stale and skipped. That is
 * O(n log n) rather than the O(n^2) rescan, which matters for long runs such as a line of
 * 10,000 '=' characters. Results of short words are cached.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "text/bpe_impl.h"
#include "text/pretok.h"

struct heap_entry {
    int32_t rank, pos, left, right; /* the pair (left, right) at symbols pos, next[pos] */
};

enum { CACHE_MAX_WORD = 64, CACHE_MAX_ENTRIES = 1 << 18 };

/* ---- GPT-2's byte alphabet ---- */

static int printable_byte(int b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The code point standing for byte b: b itself if printable, else 256 + its index among the
 * non-printable bytes. */
static uint32_t byte_to_cp(int b)
{
    if (printable_byte(b))
        return (uint32_t)b;
    uint32_t k = 0;
    for (int i = 0; i < b; i++)
        k += !printable_byte(i);
    return 256 + k;
}

/* The byte a code point stands for, or -1. */
static int cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return printable_byte((int)cp) ? (int)cp : -1;
    for (int b = 0, k = 256; b < 256; b++)
        if (!printable_byte(b) && (uint32_t)k++ == cp)
            return b;
    return -1;
}

/* Token bytes → the UTF-8 token string of the alphabet, appended to out. */
static int bytes_to_token_string(const char *s, size_t len, struct mk_bytes *out)
{
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = byte_to_cp((unsigned char)s[i]);
        char u[2] = {(char)(cp < 0x80 ? cp : 0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F))};
        if (mk_bytes_append(out, u, cp < 0x80 ? 1 : 2))
            return -1;
    }
    return 0;
}

/* A token string of the alphabet → its bytes in out; 1 if a character is not in it. */
static int token_string_to_bytes(const char *s, struct mk_bytes *out)
{
    size_t n = strlen(s);
    out->n = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += mk_utf8_next((const unsigned char *)s + i, n - i, &cp);
        int b = cp == MK_UTF8_INVALID ? -1 : cp_to_byte(cp);
        if (b < 0)
            return 1;
        char c = (char)b;
        if (mk_bytes_append(out, &c, 1))
            return -1;
    }
    return 0;
}

/* ---- building a model ---- */

struct mk_bpe *mk_bpe_alloc(void)
{
    struct mk_bpe *b = calloc(1, sizeof *b);
    if (b)
        for (int i = 0; i < 256; i++)
            b->byte_id[i] = -1;
    return b;
}

int mk_bpe_set_token(struct mk_bpe *b, int32_t id, const char *s, size_t len, int flags)
{
    struct mk_strmap *map = (flags & MK_BPE_ADDED) ? &b->added_ids : &b->ids;
    if (id < 0 || mk_strmap_get(map, s, len) >= 0 || (id < b->V && b->piece[id]))
        return 1;
    if (id >= b->V) {
        size_t need = (size_t)id + 1, cap = b->cap;
        if (mk_grow((void **)&b->piece, &cap, need, sizeof(char *)) ||
            (cap = b->cap, mk_grow((void **)&b->piece_len, &cap, need, sizeof(uint32_t))) ||
            (cap = b->cap, mk_grow((void **)&b->flags, &cap, need, 1)))
            return -1;
        memset(b->piece + b->V, 0, (need - (size_t)b->V) * sizeof(char *));
        b->cap = cap;
        b->V = id + 1;
    }
    char *p = malloc(len + 1);
    if (!p || mk_strmap_put(map, s, len, id)) {
        free(p);
        return -1;
    }
    memcpy(p, s, len);
    p[len] = 0;
    b->piece[id] = p;
    b->piece_len[id] = (uint32_t)len;
    b->flags[id] = (uint8_t)flags;
    if (len == 1 && !(flags & MK_BPE_ADDED))
        b->byte_id[(unsigned char)s[0]] = id;
    return 0;
}

static uint64_t pair_key(int32_t a, int32_t c)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)c;
}

int mk_bpe_add_merge(struct mk_bpe *b, int32_t a, int32_t c)
{
    size_t la = b->piece_len[a], lc = b->piece_len[c];
    char stack[256], *joined = la + lc <= sizeof stack ? stack : malloc(la + lc);
    if (!joined)
        return -1;
    memcpy(joined, b->piece[a], la);
    memcpy(joined + la, b->piece[c], lc);
    int32_t m = mk_strmap_get(&b->ids, joined, la + lc);
    if (joined != stack)
        free(joined);
    if (m < 0)
        return 1;
    if (mk_u64map_find(&b->merges, pair_key(a, c)))
        return 2;
    int64_t *v = mk_u64map_at(&b->merges, pair_key(a, c));
    if (!v || mk_grow((void **)&b->merge_list, &b->merge_cap, b->n_merges + 1,
                      sizeof b->merge_list[0]))
        return -1;
    *v = (int64_t)b->n_merges << 32 | m;
    b->merge_list[b->n_merges][0] = a;
    b->merge_list[b->n_merges][1] = c;
    b->n_merges++;
    return 0;
}

int mk_bpe_finish(struct mk_bpe *b, const char *where, char *err, size_t errlen)
{
    for (int i = 0; i < 256; i++)
        if (b->byte_id[i] < 0)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                               "%s: not a byte-level BPE: byte 0x%02x has no token", where, i);
    size_t cap = 0;
    for (int32_t id = 0; id < b->V; id++) {
        if (!(b->flags[id] & MK_BPE_ADDED))
            continue;
        if (mk_grow((void **)&b->added, &cap, b->n_added + 1, sizeof(int32_t)))
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "%s: out of memory", where);
        b->added[b->n_added++] = id;
    }
    return MK_MODALITY_OK;
}

void mk_bpe_free(struct mk_bpe *b)
{
    if (!b)
        return;
    for (int32_t i = 0; i < b->V; i++)
        free(b->piece[i]);
    free(b->piece);
    free(b->piece_len);
    free(b->flags);
    mk_strmap_free(&b->ids);
    mk_strmap_free(&b->added_ids);
    mk_u64map_free(&b->merges);
    free(b->merge_list);
    free(b->added);
    mk_strmap_free(&b->cache);
    free(b->cache_v.v);
    free(b->work);
    free(b->heap);
    free(b);
}

int32_t mk_bpe_vocab_size(const struct mk_bpe *b)
{
    return b->V;
}

int32_t mk_bpe_token_id(const struct mk_bpe *b, const char *s, size_t len)
{
    int32_t id = mk_strmap_get(&b->added_ids, s, len);
    return id >= 0 ? id : mk_strmap_get(&b->ids, s, len);
}

const char *mk_bpe_piece(const struct mk_bpe *b, int32_t id, size_t *len)
{
    if (id < 0 || id >= b->V || !b->piece[id])
        return NULL;
    *len = b->piece_len[id];
    return b->piece[id];
}

int mk_bpe_is_special(const struct mk_bpe *b, int32_t id)
{
    return id >= 0 && id < b->V && (b->flags[id] & MK_BPE_SPECIAL);
}

/* ---- tokenizer.json ---- */

/* Refuses a component this implementation cannot reproduce. `allowed` lists the accepted
 * "type" values ('|'-separated); a JSON null is always accepted. */
static int check_component(json_t *root, const char *key, const char *allowed, const char *where,
                           char *err, size_t errlen)
{
    json_t *c = json_object_get(root, key);
    if (!c || json_is_null(c))
        return MK_MODALITY_OK;
    const char *type = json_string_value(json_object_get(c, "type"));
    size_t tl = type ? strlen(type) : 0;
    for (const char *p = allowed; type && *p;) {
        size_t k = strcspn(p, "|");
        if (k == tl && strncmp(p, type, k) == 0)
            return MK_MODALITY_OK;
        p += k + (p[k] == '|');
    }
    return mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                       "%s: %s type '%s' is not supported (only %s or null)", where, key,
                       type ? type : "?", allowed);
}

static int check_model(json_t *model, const char *where, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model) || (type && strcmp(type, "BPE") != 0))
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                           "%s: model type '%s' is not supported (only BPE)", where,
                           type ? type : "?");
    if (!json_is_object(json_object_get(model, "vocab")) ||
        !json_is_array(json_object_get(model, "merges")))
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                           "%s: model needs a vocab object and a merges array", where);
    static const char *const unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(model, unsupported[i]));
        if (v && *v)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                               "%s: model.%s '%s' is not supported", where, unsupported[i], v);
    }
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                           "%s: model.byte_fallback is not supported (byte-level BPE only)",
                           where);
    return MK_MODALITY_OK;
}

/* added_tokens first: their contents are raw text, and vocab entries equal to one of them
 * are taken as that raw text too (GPT-NeoX's runs of spaces are such entries). */
static int load_added(struct mk_bpe *b, json_t *root, const char *where, char *err,
                      size_t errlen)
{
    json_t *added = json_object_get(root, "added_tokens");
    size_t i;
    json_t *t;
    json_array_foreach(added, i, t) {
        json_t *id = json_object_get(t, "id");
        const char *content = json_string_value(json_object_get(t, "content"));
        if (!json_is_integer(id) || !content || !*content || json_integer_value(id) < 0 ||
            json_integer_value(id) > INT32_MAX - 1)
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                               "%s: added_tokens[%zu] needs an id and a content", where, i);
        int flags = MK_BPE_ADDED | (json_is_true(json_object_get(t, "special")) ? MK_BPE_SPECIAL
                                                                                : 0);
        int rc = mk_bpe_set_token(b, (int32_t)json_integer_value(id), content, strlen(content),
                                  flags);
        if (rc)
            return mk_mod_fail(err, errlen, rc < 0 ? MK_MODALITY_ERR_NOMEM : MK_MODALITY_ERR_FORMAT,
                               "%s: added_tokens[%zu] ('%s'): %s", where, i, content,
                               rc < 0 ? "out of memory" : "duplicate id or content");
    }
    return MK_MODALITY_OK;
}

static int load_vocab(struct mk_bpe *b, json_t *vocab, const char *where, char *err,
                      size_t errlen)
{
    const char *key;
    json_t *v;
    struct mk_bytes bytes = {0};
    int st = MK_MODALITY_OK;
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id > INT32_MAX - 1) {
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                             "%s: model.vocab['%s'] is not a token id", where, key);
            break;
        }
        if (mk_strmap_get(&b->added_ids, key, strlen(key)) == id)
            continue; /* an added token, listed in the vocab too */
        int rc = token_string_to_bytes(key, &bytes);
        if (rc > 0) {
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                             "%s: not a byte-level BPE: model.vocab token '%s' has a character "
                             "outside GPT-2's byte alphabet", where, key);
            break;
        }
        rc = rc ? rc : mk_bpe_set_token(b, (int32_t)id, (const char *)bytes.p, bytes.n, 0);
        if (rc) {
            st = mk_mod_fail(err, errlen, rc < 0 ? MK_MODALITY_ERR_NOMEM : MK_MODALITY_ERR_FORMAT,
                             "%s: model.vocab['%s'] = %lld: %s", where, key, (long long)id,
                             rc < 0 ? "out of memory" : "duplicate id or token");
            break;
        }
    }
    free(bytes.p);
    return st;
}

/* A merge's two token strings, from "a b" or ["a", "b"]. */
static int merge_parts(json_t *m, char *buf, size_t cap, const char **a, const char **c)
{
    if (json_is_array(m) && json_array_size(m) == 2) {
        *a = json_string_value(json_array_get(m, 0));
        *c = json_string_value(json_array_get(m, 1));
        return *a && *c ? 0 : -1;
    }
    const char *s = json_string_value(m);
    const char *sp = s ? strchr(s, ' ') : NULL;
    if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' ') || strlen(s) >= cap)
        return -1;
    memcpy(buf, s, strlen(s) + 1);
    buf[sp - s] = 0;
    *a = buf;
    *c = buf + (sp - s) + 1;
    return 0;
}

static int load_merges(struct mk_bpe *b, json_t *merges, const char *where, char *err,
                       size_t errlen)
{
    size_t i;
    json_t *m;
    char buf[1024];
    json_array_foreach(merges, i, m) {
        const char *a, *c;
        if (merge_parts(m, buf, sizeof buf, &a, &c))
            return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                               "%s: model.merges[%zu] is not \"a b\" or [\"a\", \"b\"]", where, i);
        int32_t ia = -1, ic = -1;
        struct mk_bytes ba = {0}, bc = {0};
        if (!token_string_to_bytes(a, &ba))
            ia = mk_strmap_get(&b->ids, (const char *)ba.p, ba.n);
        if (!token_string_to_bytes(c, &bc))
            ic = mk_strmap_get(&b->ids, (const char *)bc.p, bc.n);
        free(ba.p);
        free(bc.p);
        int rc = ia < 0 || ic < 0 ? 1 : mk_bpe_add_merge(b, ia, ic);
        if (rc)
            return mk_mod_fail(err, errlen, rc < 0 ? MK_MODALITY_ERR_NOMEM : MK_MODALITY_ERR_FORMAT,
                               "%s: model.merges[%zu] '%s %s': %s", where, i, a, c,
                               rc < 0    ? "out of memory"
                               : rc == 2 ? "repeats an earlier merge"
                                         : "a token or the merged token is not in the vocab");
    }
    return MK_MODALITY_OK;
}

int mk_bpe_from_json(struct mk_bpe **out, const char *json, size_t len, const char *where,
                     char *err, size_t errlen)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root)
        return mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT, "%s: line %d, column %d: %s",
                           where, jerr.line, jerr.column, jerr.text);
    struct mk_bpe *b = mk_bpe_alloc();
    json_t *model = json_object_get(root, "model");
    int st = !b ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM, "%s: out of memory", where)
             : !json_is_object(root)
                 ? mk_mod_fail(err, errlen, MK_MODALITY_ERR_FORMAT,
                               "%s: not a tokenizer.json (no top-level object)", where)
                 : check_model(model, where, err, errlen);
    st = st ? st : check_component(root, "pre_tokenizer", "ByteLevel", where, err, errlen);
    st = st ? st : check_component(root, "decoder", "ByteLevel", where, err, errlen);
    st = st ? st : check_component(root, "normalizer", "NFC", where, err, errlen);
    st = st ? st : load_added(b, root, where, err, errlen);
    st = st ? st : load_vocab(b, json_object_get(model, "vocab"), where, err, errlen);
    st = st ? st : load_merges(b, json_object_get(model, "merges"), where, err, errlen);
    st = st ? st : mk_bpe_finish(b, where, err, errlen);
    if (!st) {
        json_t *norm = json_object_get(root, "normalizer");
        b->nfc = json_is_object(norm);
        json_t *pre = json_object_get(root, "pre_tokenizer");
        if (json_is_true(json_object_get(pre, "add_prefix_space")) ||
            json_is_false(json_object_get(pre, "use_regex")))
            st = mk_mod_fail(err, errlen, MK_MODALITY_ERR_UNSUPPORTED,
                             "%s: pre_tokenizer ByteLevel with add_prefix_space or without "
                             "use_regex is not supported", where);
    }
    json_decref(root);
    if (st) {
        mk_bpe_free(b);
        return st;
    }
    *out = b;
    return MK_MODALITY_OK;
}

int mk_bpe_load(struct mk_bpe **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    struct mk_bytes text = {0};
    int st = mk_read_whole(path, &text, err, errlen);
    if (!st)
        st = mk_bpe_from_json(out, (const char *)text.p, text.n, path, err, errlen);
    free(text.p);
    return st;
}

/* {"type": "ByteLevel", ...} as GPT-NeoX writes it. */
static json_t *byte_level(void)
{
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                     "trim_offsets", 1, "use_regex", 1);
}

int mk_bpe_to_json(const struct mk_bpe *b, char **json, char *err, size_t errlen)
{
    *json = NULL;
    json_t *root = json_object(), *added = json_array(), *vocab = json_object();
    json_t *merges = json_array();
    struct mk_bytes s = {0};
    int fail = !root || !added || !vocab || !merges;
    for (int32_t id = 0; !fail && id < b->V; id++) {
        if (!b->piece[id])
            continue;
        s.n = 0;
        if (b->flags[id] & MK_BPE_ADDED)
            fail |= mk_bytes_append(&s, b->piece[id], b->piece_len[id]);
        else
            fail |= bytes_to_token_string(b->piece[id], b->piece_len[id], &s);
        fail |= mk_bytes_append(&s, "", 1);
        if (fail)
            break;
        if (b->flags[id] & MK_BPE_ADDED)
            fail |= json_array_append_new(
                added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", (int)id, "content",
                                 (const char *)s.p, "single_word", 0, "lstrip", 0, "rstrip", 0,
                                 "normalized", 0, "special", !!(b->flags[id] & MK_BPE_SPECIAL)));
        fail |= json_object_set_new(vocab, (const char *)s.p, json_integer(id));
    }
    for (size_t i = 0; !fail && i < b->n_merges; i++) {
        int32_t a = b->merge_list[i][0], c = b->merge_list[i][1];
        s.n = 0;
        fail |= bytes_to_token_string(b->piece[a], b->piece_len[a], &s) ||
                mk_bytes_append(&s, " ", 1) ||
                bytes_to_token_string(b->piece[c], b->piece_len[c], &s) ||
                mk_bytes_append(&s, "", 1);
        fail |= !fail && json_array_append_new(merges, json_string((const char *)s.p));
    }
    json_t *model = fail ? NULL
                         : json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:O, s:O}", "type", "BPE",
                                     "dropout", "unk_token", "continuing_subword_prefix",
                                     "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                                     "vocab", vocab, "merges", merges);
    fail |= !model ||
            json_object_set_new(root, "version", json_string("1.0")) ||
            json_object_set_new(root, "truncation", json_null()) ||
            json_object_set_new(root, "padding", json_null()) ||
            json_object_set(root, "added_tokens", added) ||
            json_object_set_new(root, "normalizer",
                                b->nfc ? json_pack("{s:s}", "type", "NFC") : json_null()) ||
            json_object_set_new(root, "pre_tokenizer", byte_level()) ||
            json_object_set_new(root, "post_processor", byte_level()) ||
            json_object_set_new(root, "decoder", byte_level()) ||
            json_object_set_new(root, "model", model);
    if (!fail)
        *json = json_dumps(root, JSON_INDENT(1) | JSON_ENSURE_ASCII);
    json_decref(root);
    json_decref(added);
    json_decref(vocab);
    json_decref(merges);
    free(s.p);
    return *json ? MK_MODALITY_OK
                 : mk_mod_fail(err, errlen, MK_MODALITY_ERR_NOMEM,
                               "tokenizer.json: out of memory");
}

/* ---- encoding ---- */

static int heap_less(const struct heap_entry *x, const struct heap_entry *y)
{
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static int heap_push(struct mk_bpe *b, size_t *n, struct heap_entry e)
{
    if (mk_grow((void **)&b->heap, &b->heap_cap, *n + 1, sizeof e))
        return -1;
    size_t i = (*n)++;
    while (i > 0 && heap_less(&e, &b->heap[(i - 1) / 2])) {
        b->heap[i] = b->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    b->heap[i] = e;
    return 0;
}

static struct heap_entry heap_pop(struct mk_bpe *b, size_t *n)
{
    struct heap_entry top = b->heap[0], last = b->heap[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && heap_less(&b->heap[c + 1], &b->heap[c]))
            c++;
        if (!heap_less(&b->heap[c], &last))
            break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (*n > 0)
        b->heap[i] = last;
    return top;
}

/* The symbols of a word being merged: a doubly linked list over positions. */
struct word {
    int32_t *sym, *prev, *next; /* [n] token id (-1 once merged away), neighbours (-1: none) */
};

/* Pushes the pair starting at symbol pos if it is a merge. */
static int push_pair(struct mk_bpe *b, const struct word *w, size_t *hn, int32_t pos)
{
    if (pos < 0 || w->next[pos] < 0)
        return 0;
    int32_t l = w->sym[pos], r = w->sym[w->next[pos]];
    const int64_t *m = mk_u64map_find(&b->merges, pair_key(l, r));
    if (!m)
        return 0;
    return heap_push(b, hn, (struct heap_entry){(int32_t)(*m >> 32), pos, l, r});
}

/* Appends the BPE ids of one pre-token t[0..n) (n > 0) to ids. */
static int encode_word(struct mk_bpe *b, const unsigned char *t, size_t n, struct mk_ids *ids)
{
    if (mk_grow((void **)&b->work, &b->work_cap, 3 * n, sizeof(int32_t)))
        return -1;
    struct word w = {b->work, b->work + n, b->work + 2 * n};
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        w.sym[i] = b->byte_id[t[i]];
        w.prev[i] = (int32_t)i - 1;
        w.next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (push_pair(b, &w, &hn, (int32_t)i))
            return -1;
    while (hn > 0) {
        struct heap_entry e = heap_pop(b, &hn);
        int32_t r = w.next[e.pos];
        if (w.sym[e.pos] != e.left || r < 0 || w.sym[r] != e.right)
            continue; /* stale: a neighbour merged since */
        w.sym[e.pos] = (int32_t)*mk_u64map_find(&b->merges, pair_key(e.left, e.right));
        w.sym[r] = -1;
        w.next[e.pos] = w.next[r];
        if (w.next[r] >= 0)
            w.prev[w.next[r]] = e.pos;
        if (push_pair(b, &w, &hn, w.prev[e.pos]) || push_pair(b, &w, &hn, e.pos))
            return -1;
    }
    for (int32_t i = 0; i >= 0; i = w.next[i]) {
        if (mk_grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof(int32_t)))
            return -1;
        ids->v[ids->n++] = w.sym[i];
    }
    return 0;
}

/* encode_word through the cache of short words. */
static int encode_cached(struct mk_bpe *b, const unsigned char *w, size_t n, struct mk_ids *ids)
{
    int cacheable = n <= CACHE_MAX_WORD;
    int32_t at = cacheable ? mk_strmap_get(&b->cache, (const char *)w, n) : -1;
    if (at < 0) {
        size_t start = ids->n;
        if (encode_word(b, w, n, ids))
            return -1;
        size_t k = ids->n - start, off = b->cache_v.n;
        if (!cacheable || b->cache.n >= CACHE_MAX_ENTRIES || off + k + 1 > INT32_MAX)
            return 0;
        if (mk_grow((void **)&b->cache_v.v, &b->cache_v.cap, off + k + 1, sizeof(int32_t)))
            return -1;
        b->cache_v.v[off] = (int32_t)k;
        memcpy(b->cache_v.v + off + 1, ids->v + start, k * sizeof(int32_t));
        b->cache_v.n += k + 1;
        return mk_strmap_put(&b->cache, (const char *)w, n, (int32_t)off);
    }
    size_t k = (size_t)b->cache_v.v[at];
    if (mk_grow((void **)&ids->v, &ids->cap, ids->n + k, sizeof(int32_t)))
        return -1;
    memcpy(ids->v + ids->n, b->cache_v.v + at + 1, k * sizeof(int32_t));
    ids->n += k;
    return 0;
}

struct word_ctx {
    struct mk_bpe *b;
    const unsigned char *text;
    struct mk_ids *ids;
};

static int encode_piece(void *ctx, size_t start, size_t len)
{
    struct word_ctx *c = ctx;
    return encode_cached(c->b, c->text + start, len, c->ids);
}

/* The longest added token at text[i..n), or -1. */
static int32_t added_at(const struct mk_bpe *b, const unsigned char *text, size_t i, size_t n)
{
    int32_t best = -1;
    for (size_t k = 0; k < b->n_added; k++) {
        int32_t id = b->added[k];
        size_t len = b->piece_len[id];
        if (len <= n - i && (unsigned char)b->piece[id][0] == text[i] &&
            memcmp(b->piece[id], text + i, len) == 0 &&
            (best < 0 || len > b->piece_len[best]))
            best = id;
    }
    return best;
}

int mk_bpe_encode(struct mk_bpe *b, const unsigned char *text, size_t n, struct mk_ids *ids)
{
    size_t seg = 0; /* start of the text not yet encoded */
    for (size_t i = 0; i <= n; i++) {
        int32_t id = i < n ? added_at(b, text, i, n) : -1;
        if (id < 0 && i < n)
            continue;
        struct word_ctx c = {b, text + seg, ids};
        if (mk_pretok_gpt2(text + seg, i - seg, encode_piece, &c))
            return -1;
        if (id >= 0) {
            if (mk_grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof(int32_t)))
                return -1;
            ids->v[ids->n++] = id;
            i += b->piece_len[id] - 1;
            seg = i + 1;
        }
    }
    return 0;
}

int mk_bpe_decode(const struct mk_bpe *b, const int32_t *ids, size_t n, int skip_special,
                  struct mk_bytes *out)
{
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = mk_bpe_piece(b, ids[i], &len);
        if (!p)
            return 1;
        if ((skip_special && mk_bpe_is_special(b, ids[i])) || !len)
            continue;
        if (mk_bytes_append(out, p, len))
            return -1;
    }
    return 0;
}
