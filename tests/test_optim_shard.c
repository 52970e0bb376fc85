/* test_optim_shard.c — AdamW over shards of the parameter block (ZeRO-1, run.dist.zero;
 * lib/optim.h): a small model's block cut into 3 shards, each updated by its own optimizer
 * from the same gradients, must give the parameters and moments of one optimizer over the
 * whole block, bit for bit, over several steps with weight-decay and no-decay groups that cross
 * the shard edges; each shard leaves the rest of the block untouched; and a shard restores its
 * run of whole saved moments (what a checkpoint of any number of ranks holds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "optim.h"
#include "safetensors.h"
#include "tap.h"

enum { SHARDS = 3, STEPS = 4 };

int main(void)
{
    plan(4);
    struct mk_config cfg;
    mk_config_default(&cfg, 24, 2, 37);
    struct mk_model *m = NULL;
    if (mk_model_create(&m, &cfg, MK_DEVICE_CPU, 0) != MK_OK || mk_model_init(m, 7) != MK_OK)
        bail_out("%s", mk_last_error());
    const size_t n = m->lay.total;
    const struct mk_optim_hp hp = {0.9f, 0.95f, 1e-8f, 0.1f};
    struct mk_optim *whole = NULL, *part[SHARDS] = {0};
    if (mk_optim_create_for_model(&whole, m, &hp, 0, 1) != MK_OK)
        bail_out("%s", mk_last_error());
    for (int s = 0; s < SHARDS; s++)
        if (mk_optim_create_for_model(&part[s], m, &hp, s, SHARDS) != MK_OK)
            bail_out("%s", mk_last_error());
    float *p0 = malloc(n * sizeof *p0), *pw = malloc(n * sizeof *pw), *g = malloc(n * sizeof *g);
    float *ps[SHARDS], *pz = malloc(n * sizeof *pz);
    mk_model_get_params(m, p0);
    memcpy(pw, p0, n * sizeof *pw);
    for (int s = 0; s < SHARDS; s++)
        ps[s] = malloc(n * sizeof *ps[s]), memcpy(ps[s], p0, n * sizeof *p0);
    struct mk_rng r;
    mk_rng_seed(&r, 3);
    int untouched = 1;
    for (int k = 0; k < STEPS; k++) {
        for (size_t i = 0; i < n; i++)
            g[i] = (float)((double)(mk_rng_next(&r) >> 11) / 9007199254740992.0 - 0.5);
        mk_optim_step(whole, pw, g, 1e-2f, 0.5f);
        for (int s = 0; s < SHARDS; s++) {
            memcpy(pz, ps[s], n * sizeof *pz);
            mk_optim_step(part[s], ps[s], g, 1e-2f, 0.5f);
            for (size_t i = 0; i < n; i++) /* outside its run: as before */
                untouched &= (i >= part[s]->lo && i < part[s]->hi) || ps[s][i] == pz[i];
        }
        for (int s = 0; s < SHARDS; s++) /* gathered: every shard's run into all of them */
            for (int q = 0; q < SHARDS; q++)
                if (q != s)
                    memcpy(ps[q] + part[s]->lo, ps[s] + part[s]->lo,
                           (part[s]->hi - part[s]->lo) * sizeof *pz);
    }
    ok(untouched, "each shard changes only its run of the block");
    int same = part[0]->lo == 0 && part[SHARDS - 1]->hi == n;
    for (int s = 0; s < SHARDS; s++) {
        same &= !memcmp(ps[s], pw, n * sizeof *pw);
        same &= s == 0 || part[s]->lo == part[s - 1]->hi;
    }
    ok(same, "%d shards of %zu parameters cover the block and give the whole optimizer's "
       "parameters bit for bit after %d steps", SHARDS, n, STEPS);
    float *wm, *wv;
    if (mk_optim_download(whole, &wm, &wv) != MK_OK)
        bail_out("%s", mk_last_error());
    int moments = 1;
    for (int s = 0; s < SHARDS; s++) {
        float *sm, *sv;
        if (mk_optim_download(part[s], &sm, &sv) != MK_OK)
            bail_out("%s", mk_last_error());
        const size_t len = part[s]->hi - part[s]->lo;
        moments &= !memcmp(sm, wm + part[s]->lo, len * 4) && !memcmp(sv, wv + part[s]->lo, len * 4);
        free(sm), free(sv);
    }
    ok(moments, "the shards' moments are the runs of the whole optimizer's");
    /* whole moments saved, restored into a fresh shard */
    const char *path = "test_optim_shard.safetensors";
    const int64_t shape = (int64_t)n, one = 1, step = whole->step;
    const struct mk_st_entry e[3] = {{"o.m", MK_F32, 1, &shape, wm},
                                     {"o.v", MK_F32, 1, &shape, wv},
                                     {"o.step", MK_I64, 1, &one, &step}};
    struct mk_optim *fresh = NULL;
    struct mk_st_file f;
    float *fm, *fv;
    if (mk_st_write(path, e, 3, NULL, 0) != MK_OK || mk_st_open(&f, path) != MK_OK ||
        mk_optim_create_for_model(&fresh, m, &hp, 1, SHARDS) != MK_OK ||
        mk_optim_restore(fresh, &f, "o") != MK_OK || mk_optim_download(fresh, &fm, &fv) != MK_OK)
        bail_out("%s", mk_last_error());
    const size_t len = fresh->hi - fresh->lo;
    ok(fresh->step == STEPS && !memcmp(fm, wm + fresh->lo, len * 4) &&
           !memcmp(fv, wv + fresh->lo, len * 4),
       "a shard restores its run of whole saved moments and the step count");
    mk_st_close(&f);
    remove(path);
    free(fm), free(fv), free(wm), free(wv), free(p0), free(pw), free(g), free(pz);
    for (int s = 0; s < SHARDS; s++)
        free(ps[s]), mk_optim_free(part[s]);
    mk_optim_free(whole), mk_optim_free(fresh);
    mk_model_free(m);
    return exit_status();
}
