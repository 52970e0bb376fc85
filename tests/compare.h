/* compare.h — the scale-free error metric of the model tests: max |a - ref| / max |ref|
 * (the absolute difference when ref is all zeros). Header-only.
 */
#ifndef MK_TESTS_COMPARE_H
#define MK_TESTS_COMPARE_H

#include <math.h>
#include <stddef.h>

static inline float max_rel_diff(const float *a, const float *ref, size_t n)
{
    float mx = 0, md = 0;
    for (size_t i = 0; i < n; i++) {
        mx = fmaxf(mx, fabsf(ref[i]));
        md = fmaxf(md, fabsf(a[i] - ref[i]));
    }
    return mx > 0 ? md / mx : md;
}

#endif
