/* dist_compare.c — `dist_compare TOL A.safetensors B.safetensors`: exit 0 when B has every
 * tensor of A with the same shape and each element agrees, |a - b| <= TOL * max(|a|, |b|,
 * 1e-3) (relative, with an absolute floor for values near 0); tensors of other than float
 * types (a train state's step, sampler) must be equal byte for byte. Prints the largest
 * relative difference. Used by tests/test_dist.sh to compare checkpoints of 1-rank and 2-rank
 * runs.
 */
#include "config.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../lib/safetensors.h"

static double largest_difference(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = fmax(fmax(fabs(a[i]), fabs(b[i])), 1e-3);
        worst = fmax(worst, fabs((double)a[i] - b[i]) / scale);
    }
    return worst;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: dist_compare TOL A.safetensors B.safetensors\n");
        return 2;
    }
    const double tol = atof(argv[1]);
    struct mk_st_file fa, fb;
    if (mk_st_open(&fa, argv[2]) != MK_OK || mk_st_open(&fb, argv[3]) != MK_OK) {
        fprintf(stderr, "dist_compare: %s\n", mk_last_error());
        return 1;
    }
    double worst = 0;
    int bad = 0;
    for (int i = 0; i < fa.n && !bad; i++) {
        const struct mk_st_tensor *ta = &fa.t[i], *tb = mk_st_find(&fb, ta->name);
        if (!tb || tb->numel != ta->numel) {
            fprintf(stderr, "dist_compare: %s: tensor %s missing or of another size\n",
                    argv[3], ta->name);
            bad = 1;
            break;
        }
        if (ta->dtype == MK_I64 || ta->dtype == MK_I32 || ta->dtype == MK_F64) {
            const size_t bytes = ta->end - ta->begin;
            bad = tb->dtype != ta->dtype || tb->end - tb->begin != bytes ||
                  memcmp(fa.data + ta->begin, fb.data + tb->begin, bytes) != 0;
            if (bad)
                fprintf(stderr, "dist_compare: %s: tensor %s differs\n", argv[3], ta->name);
            continue;
        }
        float *a = malloc(ta->numel * sizeof *a), *b = malloc(ta->numel * sizeof *b);
        if (!a || !b || mk_st_read_f32(&fa, ta, a) != MK_OK || mk_st_read_f32(&fb, tb, b) != MK_OK)
            bad = 1;
        else
            worst = fmax(worst, largest_difference(a, b, ta->numel));
        free(a);
        free(b);
    }
    printf("%d tensors, largest relative difference %.3g\n", fa.n, worst);
    mk_st_close(&fa);
    mk_st_close(&fb);
    return bad || !(worst <= tol);
}
