/* cli_util.h — small helpers shared by the commands: device selection, number parsing and
 * token-id lists.
 */
#ifndef MK_CLI_UTIL_H
#define MK_CLI_UTIL_H

#include <stdint.h>
#include "mambakit.h"

mk_status mk_cli_parse_device(const char *spec, enum mk_device *dev, int *index);
/* Strict parsers: the whole string must be a number within [lo, hi]. */
mk_status mk_cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out);
mk_status mk_cli_parse_float(const char *opt, const char *s, double lo, double hi, float *out);
mk_status mk_cli_parse_u64(const char *opt, const char *s, uint64_t *out);
/* "1,2,3" → malloc'd int32 array. */
mk_status mk_cli_parse_ids(const char *s, int32_t **ids, int *n);

#endif
