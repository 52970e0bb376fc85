/* test_eval_accuracy.c — the answer accuracy of language-model evaluation
 * (mk_eval_count_hits, lib/train_eval.c) against hand-counted batches: targets -1 skipped,
 * argmax ties going to the lower id, rows without targets counted nowhere, exact match only
 * for rows whose every target is right.
 */
#include <string.h>
#include "tap.h"
#include "train_loop.h"

enum { B = 3, L = 3, V = 4 };

/* Logits whose argmax at (row, t) is best[row][t] (-1: all equal, so the argmax is 0). */
static void make_logits(float *logits, const int best[B][L])
{
    for (int r = 0; r < B; r++)
        for (int t = 0; t < L; t++)
            for (int v = 0; v < V; v++)
                logits[((size_t)r * L + t) * V + v] = best[r][t] == v ? 2.0f : 0.5f;
}

int main(void)
{
    plan_lazy();
    int32_t targets[B * L] = {1, -1, 2,    /* row 0: two targets, both right */
                              3, 0, -1,    /* row 1: 3 right, 0 by a tie (argmax 0) right */
                              -1, -1, -1}; /* row 2: no target */
    const int best[B][L] = {{1, 3, 2}, {3, -1, 1}, {0, 1, 2}};
    float logits[B * L * V];
    make_logits(logits, best);
    struct mk_batch b = {.B = B, .L = L, .targets = targets};
    int64_t hits = 0, scored = 0, exact = 0, rows = 0;
    mk_eval_count_hits(&b, logits, V, &hits, &scored, &exact, &rows);
    ok(hits == 4 && scored == 4 && exact == 2 && rows == 2,
       "all right: 4 of 4 answers, 2 of 2 rows exact (%lld %lld %lld %lld)", (long long)hits,
       (long long)scored, (long long)exact, (long long)rows);

    targets[2] = 3;                 /* row 0: one of two wrong → not exact */
    targets[4] = 1;                 /* row 1: the tie now answers 0 for target 1 → wrong */
    hits = scored = exact = rows = 0;
    mk_eval_count_hits(&b, logits, V, &hits, &scored, &exact, &rows);
    ok(hits == 2 && scored == 4 && exact == 0 && rows == 2,
       "two wrong in two rows: 2 of 4, no exact row (%lld %lld %lld %lld)", (long long)hits,
       (long long)scored, (long long)exact, (long long)rows);

    targets[8] = 2;                 /* row 2 gets one right target */
    mk_eval_count_hits(&b, logits, V, &hits, &scored, &exact, &rows);
    ok(hits == 5 && scored == 9 && exact == 1 && rows == 5,
       "counts accumulate over batches: 5 of 9, 1 of 5 rows (%lld %lld %lld %lld)",
       (long long)hits, (long long)scored, (long long)exact, (long long)rows);
    return exit_status();
}
