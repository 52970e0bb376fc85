/* markov_classify.c — the Markov baseline of a classification recipe: one order-k Markov
 * model per class (markov.h), counted on that class's records of the train split, labels
 * each window of the validation and test splits with the class under whose model the window
 * is most likely:
 *   class(w) = argmax_c sum_t ln p_c,k(w_t | w_0 .. w_{t-1})
 * (the context is the window's own tokens, as the neural classifier sees them; the first
 * token is scored by the unigram; tokens of plugin weight 0, such as ignored N, are not
 * scored). The windows are the ones task.kind classify cuts: data.seq_len tokens, stride
 * data.seq_len, a record shorter than that one window; --stride S steps by S instead
 * (overlapping windows: more of them, not independent). Prints the validation and test
 * accuracy of every order 1..K, then the test confusion matrix of the order with the best
 * validation accuracy (the lowest such order), so that no choice is made on the test split:
 *
 *   bench/markov_classify RECIPE [--orders K] [--stride S] [--set KEY=VALUE]...
 *
 * K defaults to 8 (at most MK_MARKOV_MAX_ORDER). The last line, for scripts:
 *   chosen order K on val: test accuracy A (H of N windows)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data.h"
#include "markov.h"
#include "plugin.h"

struct split_windows {
    const struct mk_dataset *ds;
    size_t n;         /* windows */
    int64_t *conf;    /* [K][C][C] confusion of each order: rows true, columns predicted */
};

/* Fits one model per class on the train records of that class. */
static mk_status fit_classes(struct mk_markov **m, const struct mk_dataset *train, int C, int K,
                             int V)
{
    mk_status st = MK_OK;
    for (int c = 0; st == MK_OK && c < C; c++) {
        struct mk_dataset one = {0};
        for (size_t d = 0; st == MK_OK && d < train->n_docs; d++)
            if (train->docs[d].label == c)
                st = mk_data_add(&one, train->tokens + train->docs[d].start,
                                 train->weights ? train->weights + train->docs[d].start : NULL,
                                 train->docs[d].len, train->docs[d].id, c);
        if (st == MK_OK && one.n_docs == 0)
            st = mk_fail(MK_ERR_INVALID, "class %d has no training record", c);
        if (st == MK_OK)
            st = mk_markov_fit(&m[c], &one, K, V);
        mk_data_free(&one);
    }
    return st;
}

/* logp[j - 1] = sum over the scored tokens t of ln p_j(ids[t] | ids[0..t)), j = 1..K */
static void window_logp(const struct mk_markov *m, const int32_t *ids, const float *w, size_t n,
                        int K, double *logp)
{
    for (int j = 0; j < K; j++)
        logp[j] = 0;
    for (size_t t = 0; t < n; t++)
        if (!w || w[t] > 0)
            for (int j = 1; j <= K; j++)
                logp[j - 1] += mk_markov_logp(m, j, ids, t, ids[t]);
}

/* Classifies every window of s->ds (length L, every `stride` tokens) at every order. */
static mk_status classify_split(struct split_windows *s, struct mk_markov *const *m, int C,
                                int K, int L, int stride)
{
    const struct mk_dataset *ds = s->ds;
    double *logp = malloc((size_t)C * K * sizeof *logp);
    s->conf = calloc((size_t)K * C * C, sizeof *s->conf);
    if (!logp || !s->conf) {
        free(logp);
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    }
    for (size_t d = 0; d < ds->n_docs; d++) {
        const size_t len = ds->docs[d].len, Lw = (size_t)L;
        const size_t windows = len >= Lw ? (len - Lw) / (size_t)stride + 1 : 1;
        const int truth = ds->docs[d].label;
        if (truth < 0 || truth >= C)
            continue;
        for (size_t i = 0; i < windows; i++) {
            const size_t at = ds->docs[d].start + i * (size_t)stride;
            const size_t n = len - i * (size_t)stride < Lw ? len - i * (size_t)stride : Lw;
            for (int c = 0; c < C; c++)
                window_logp(m[c], ds->tokens + at, ds->weights ? ds->weights + at : NULL, n, K,
                            logp + (size_t)c * K);
            for (int j = 0; j < K; j++) {
                int arg = 0;
                for (int c = 1; c < C; c++)
                    arg = logp[(size_t)c * K + j] > logp[(size_t)arg * K + j] ? c : arg;
                s->conf[((size_t)j * C + truth) * C + arg]++;
            }
            s->n++;
        }
    }
    free(logp);
    return MK_OK;
}

static double accuracy(const int64_t *conf, int C, int64_t *hits_out)
{
    int64_t hits = 0, total = 0;
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            total += conf[i * C + j];
            hits += i == j ? conf[i * C + j] : 0;
        }
    if (hits_out)
        *hits_out = hits;
    return total ? (double)hits / (double)total : 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: markov_classify RECIPE [--orders K] [--stride S] "
            "[--set KEY=VALUE]...\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL, **sets = calloc((size_t)argc, sizeof *sets);
    int n_sets = 0, K = 8, stride = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc)
            sets[n_sets++] = argv[++i];
        else if (!strcmp(argv[i], "--orders") && i + 1 < argc)
            K = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stride") && i + 1 < argc)
            stride = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return usage();
    }
    if (!path)
        return usage();
    if (K < 1 || K > MK_MARKOV_MAX_ORDER || stride < 0) {
        fprintf(stderr, "markov_classify: --orders is 1 to %d and --stride positive\n",
                MK_MARKOV_MAX_ORDER);
        return 2;
    }
    struct mk_recipe *r = NULL;
    struct mk_labels labels = {0};
    struct mk_dataset train = {0}, val = {0}, test = {0};
    struct split_windows sw[2] = {{&val, 0, NULL}, {&test, 0, NULL}};
    struct mk_markov **m = NULL;
    mk_status st = mk_recipe_load(&r, path, sets, n_sets);
    if (st == MK_OK && r->objective != MK_OBJ_CLASSIFY)
        st = mk_fail(MK_ERR_INVALID, "%s: task.objective is not classify", path);
    if (st == MK_OK)
        st = mk_data_load(&train, r, MK_SPLIT_TRAIN, &labels);
    if (st == MK_OK)
        st = mk_data_load(&val, r, MK_SPLIT_VAL, &labels);
    if (st == MK_OK)
        st = mk_data_load(&test, r, MK_SPLIT_TEST, &labels);
    const int C = labels.n;
    if (st == MK_OK && !(m = calloc((size_t)C, sizeof *m)))
        st = mk_fail(MK_ERR_NOMEM, "out of memory");
    if (st == MK_OK)
        st = fit_classes(m, &train, C, K, mk_codec_vocab_size(r->codec));
    for (int s = 0; st == MK_OK && s < 2; s++)
        st = classify_split(&sw[s], m, C, K, r->seq_len, stride ? stride : r->seq_len);
    if (st == MK_OK) {
        printf("%d classes; %zu validation and %zu test windows of %d tokens, stride %d\n", C,
               sw[0].n, sw[1].n, r->seq_len, stride ? stride : r->seq_len);
        printf("order  val_accuracy  test_accuracy\n");
        int best = 0;
        for (int j = 0; j < K; j++) {
            const double va = accuracy(sw[0].conf + (size_t)j * C * C, C, NULL);
            printf("%5d  %12.4f  %13.4f\n", j + 1, va,
                   accuracy(sw[1].conf + (size_t)j * C * C, C, NULL));
            best = va > accuracy(sw[0].conf + (size_t)best * C * C, C, NULL) ? j : best;
        }
        const int64_t *conf = sw[1].conf + (size_t)best * C * C;
        printf("test confusion of order %d (rows true, columns predicted):\n", best + 1);
        for (int i = 0; i < C; i++) {
            printf("  %-20s", labels.names[i]);
            for (int j = 0; j < C; j++)
                printf(" %6lld", (long long)conf[i * C + j]);
            printf("\n");
        }
        int64_t hits;
        const double acc = accuracy(conf, C, &hits);
        printf("chosen order %d on val: test accuracy %.4f (%lld of %zu windows)\n", best + 1,
               acc, (long long)hits, sw[1].n);
    }
    if (st != MK_OK)
        fprintf(stderr, "markov_classify: %s\n", mk_last_error());
    for (int c = 0; m && c < C; c++)
        mk_markov_free(m[c]);
    free(m);
    for (int s = 0; s < 2; s++)
        free(sw[s].conf);
    mk_data_free(&train);
    mk_data_free(&val);
    mk_data_free(&test);
    mk_labels_free(&labels);
    mk_recipe_free(r);
    free(sets);
    return st == MK_OK ? 0 : 1;
}
