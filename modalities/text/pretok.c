/* pretok.c — UTF-8, Unicode classes and the GPT-2 pre-tokenizer (see pretok.h). */
#include "text/pretok.h"

enum mk_uclass mk_unicode_class(uint32_t cp)
{
    /* White_Space: 9-13, 32, 0x85, 0xA0, 0x1680, 0x2000-0x200A, 0x2028, 0x2029, 0x202F,
     * 0x205F, 0x3000 */
    if ((cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
        (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
        cp == 0x205F || cp == 0x3000)
        return MK_UC_SPACE;
    size_t lo = 0, hi = mk_unicode_n_ranges;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < mk_unicode_ranges[mid].lo)
            hi = mid;
        else if (cp > mk_unicode_ranges[mid].hi)
            lo = mid + 1;
        else
            return (enum mk_uclass)mk_unicode_ranges[mid].cls;
    }
    return MK_UC_OTHER;
}

size_t mk_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    /* smallest code point of each length, to refuse overlong forms */
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    *cp = MK_UTF8_INVALID;
    if (len == 1)
        *cp = c;
    if (len <= 1 || len > n)
        return 1;
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 1;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min_cp[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 1;
    *cp = v;
    return len;
}

static enum mk_uclass class_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    uint32_t cp;
    *len = mk_utf8_next(s + i, n - i, &cp);
    return cp == MK_UTF8_INVALID ? MK_UC_OTHER : mk_unicode_class(cp);
}

/* End of the run of characters of class cls starting at i. */
static size_t run_end(const unsigned char *s, size_t n, size_t i, enum mk_uclass cls)
{
    size_t len;
    while (i < n && class_at(s, n, i, &len) == cls)
        i += len;
    return i;
}

/* Length of a contraction 's 't 're 've 'm 'll 'd at s[i] (a quote), or 0. */
static size_t contraction(const unsigned char *s, size_t n, size_t i)
{
    if (i + 1 >= n)
        return 0;
    unsigned char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

int mk_pretok_gpt2(const unsigned char *s, size_t n,
                   int (*piece)(void *ctx, size_t start, size_t len), void *ctx)
{
    size_t i = 0;
    while (i < n) {
        size_t len, end;
        enum mk_uclass cls = class_at(s, n, i, &len);
        if (s[i] == '\'' && (end = contraction(s, n, i)) > 0) {
            end += i;
        } else if (s[i] == ' ' && i + 1 < n) {
            /* " ?X+": a single space joins the run of letters, digits or others after it */
            size_t len1;
            enum mk_uclass next = class_at(s, n, i + 1, &len1);
            end = next == MK_UC_SPACE ? 0 : run_end(s, n, i + 1, next);
        } else {
            end = 0;
        }
        if (!end && cls != MK_UC_SPACE) {
            end = run_end(s, n, i, cls);
        } else if (!end) {
            /* "\s+(?!\S)|\s+": a run of spaces gives up its last character to the word after
             * it (which may take it as " ?"), unless the run is one character or ends the
             * text */
            end = run_end(s, n, i, MK_UC_SPACE);
            if (end < n) {
                size_t last = i, step;
                for (size_t j = i; j < end; j += step) {
                    class_at(s, n, j, &step);
                    last = j;
                }
                if (last > i)
                    end = last;
            }
        }
        int rc = piece(ctx, i, end - i);
        if (rc)
            return rc;
        i = end;
    }
    return 0;
}
