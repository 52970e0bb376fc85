/* parse.c — strict number and id-list parsing for command-line options: the whole argument
 * must be consumed and in range, and the error names the option.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include "cli_util.h"

mk_status mk_cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return mk_fail(MK_ERR_INVALID, "%s '%s': expected an integer in [%ld, %ld]", opt, s, lo, hi);
    *out = v;
    return MK_OK;
}

mk_status mk_cli_parse_float(const char *opt, const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return mk_fail(MK_ERR_INVALID, "%s '%s': expected a number in [%g, %g]", opt, s, lo, hi);
    *out = (float)v;
    return MK_OK;
}

mk_status mk_cli_parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return mk_fail(MK_ERR_INVALID, "%s '%s': expected a non-negative integer", opt, s);
    *out = (uint64_t)v;
    return MK_OK;
}

mk_status mk_cli_parse_ids(const char *s, int32_t **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    int cap = 16, count = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    const char *p = s;
    while (v && *p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < 0 || x > INT32_MAX || (*end && *end != ',')) {
            free(v);
            return mk_fail(MK_ERR_INVALID, "token ids '%s': expected comma-separated non-negative "
                           "integers, bad entry %d", s, count + 1);
        }
        if (count == cap) {
            int32_t *w = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!w) {
                free(v);
                v = NULL;
                break;
            }
            v = w;
        }
        v[count++] = (int32_t)x;
        p = *end ? end + 1 : end;
    }
    if (!v)
        return mk_fail(MK_ERR_NOMEM, "out of memory parsing token ids");
    *ids = v;
    *n = count;
    return MK_OK;
}
