/* task_classify.c — task.kind classify: labels for the windows of a split (task.split) with
 * a trained classifier (model.from holds classifier.safetensors). Writes task.predictions
 * (default OUT/predictions.tsv; a name ending in .jsonl gives JSON lines): the record id,
 * the true label ("" if unknown), the predicted
 * label and one probability per class. When labels are known, the accuracy and the confusion
 * matrix (rows: true class, columns: predicted) go to the log and to OUT/classify.json.
 * classify.json and the log also give, labels or not, the Inception Score of the windows and
 * the share classified with top probability >= 0.9 (lib/inception.h): the classifier-based
 * score of generated samples (e.g. generated speech clips classified by a digit classifier).
 * Every window of the split is classified, in order (a record longer than data.seq_len
 * gives several rows with its id).
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train_loop.h"
#include "inception.h"

static int argmax(const float *p, int C)
{
    int arg = 0;
    for (int k = 1; k < C; k++)
        arg = p[k] > p[arg] ? k : arg;
    return arg;
}

static void write_row(FILE *f, int jsonl, const struct mk_classifier *c, const char *id,
                      int truth, const float *p)
{
    const int arg = argmax(p, c->C);
    const char *t = truth >= 0 ? c->labels.names[truth] : "";
    const char *full = id;
    if (jsonl)
        fprintf(f, "{\"id\": \"%s\", \"label\": \"%s\", \"predicted\": \"%s\", \"probs\": [",
                full, t, c->labels.names[arg]);
    else
        fprintf(f, "%s\t%s\t%s", full, t, c->labels.names[arg]);
    for (int k = 0; k < c->C; k++)
        fprintf(f, "%s%.6g", jsonl ? (k ? ", " : "") : "\t", p[k]);
    fputs(jsonl ? "]}\n" : "\n", f);
}

static mk_status report(const struct mk_recipe *r, const struct mk_run_opts *o,
                        const struct mk_classifier *c, const int64_t *conf,
                        const struct mk_inception *score)
{
    int64_t total = 0, hits = 0;
    for (int i = 0; i < c->C; i++)
        for (int j = 0; j < c->C; j++) {
            total += conf[i * c->C + j];
            hits += i == j ? conf[i * c->C + j] : 0;
        }
    const double is = mk_inception_score(score), share = mk_inception_confident_share(score);
    if (o->log && score->n)
        fprintf(o->log, "inception score %.4f over %lld windows, %.4f of them with top "
                "probability >= %.2f\n", is, (long long)score->n, share, score->threshold);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return mk_fail(MK_ERR_NOMEM, "out of memory");
    fprintf(f, "{\"windows\": %lld, \"inception_score\": %.6f, \"confident_share\": %.6f, "
            "\"confident_threshold\": %.2f", (long long)score->n, is, share, score->threshold);
    if (total)
        fprintf(f, ", \"accuracy\": %.6f, \"n\": %lld", (double)hits / total, (long long)total);
    fputs(", \"labels\": [", f);
    for (int i = 0; i < c->C; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", c->labels.names[i]);
    fputs("], \"confusion\": [", f);
    for (int i = 0; i < c->C; i++) {
        fputs(i ? ", [" : "[", f);
        for (int j = 0; j < c->C; j++)
            fprintf(f, "%s%lld", j ? ", " : "", (long long)conf[i * c->C + j]);
        fputc(']', f);
    }
    fputs("]}\n", f);
    fclose(f);
    if (o->log && total) {
        fprintf(o->log, "accuracy %.4f (%lld of %lld)\nconfusion (rows true, columns "
                "predicted):\n", (double)hits / total, (long long)hits, (long long)total);
        for (int i = 0; i < c->C; i++) {
            fprintf(o->log, "  %-16s", c->labels.names[i]);
            for (int j = 0; j < c->C; j++)
                fprintf(o->log, " %7lld", (long long)conf[i * c->C + j]);
            fputc('\n', o->log);
        }
    }
    mk_status st = mk_task_write_text(r->out, "classify.json", buf);
    free(buf);
    return st;
}

mk_status mk_task_classify(const struct mk_recipe *r, const struct mk_run_opts *o)
{
    struct trainer t = {.r = r, .o = o};
    char path[4200];
    if (r->predictions)
        snprintf(path, sizeof path, "%s", r->predictions);
    else
        snprintf(path, sizeof path, "%s/predictions.tsv", r->out);
    const int jsonl = strlen(path) > 6 && !strcmp(path + strlen(path) - 6, ".jsonl");
    mk_status st = mk_mkdirs(r->out);
    if (st == MK_OK)
        st = mk_task_load_model(&t.m, r);
    if (st == MK_OK)
        st = mk_classifier_load(&t.head, t.m, r->model_from);
    if (st == MK_OK)
        st = mk_data_load(&t.val, r, r->task_split, &t.head->labels);
    if (st == MK_OK)
        st = mk_batch_alloc(&t.batch, r->micro_batch, r->seq_len);
    const int C = st == MK_OK ? t.head->C : 0;
    float *probs = malloc((size_t)r->micro_batch * (C ? C : 1) * sizeof *probs);
    int64_t *conf = calloc((size_t)C * C + 1, sizeof *conf);
    struct mk_inception score = {0};
    if (st == MK_OK && mk_inception_init(&score, C, MK_CONFIDENT_THRESHOLD))
        st = mk_fail(MK_ERR_NOMEM, "out of memory");
    FILE *f = st == MK_OK ? fopen(path, "w") : NULL;
    if (st == MK_OK && (!probs || !conf || !f))
        st = f ? mk_fail(MK_ERR_NOMEM, "out of memory") : mk_fail(MK_ERR_IO, "%s: cannot "
                                                                   "write", path);
    if (st == MK_OK) {
        struct mk_sampler s;
        mk_sampler_init(&s, MK_SAMPLER_SEQUENTIAL, r->seq_len, 0, 0, 0);
        const uint64_t n = mk_sampler_epoch_size(&s, &t.val);
        if (!jsonl) {
            fputs("id\tlabel\tpredicted", f);
            for (int k = 0; k < C; k++)
                fprintf(f, "\tp_%s", t.head->labels.names[k]);
            fputc('\n', f);
        }
        struct mk_progress *bar = NULL; /* windows classified of n */
        st = mk_progress_open(&bar, o->log, r->progress, (int64_t)n, 0);
        for (uint64_t done = 0; st == MK_OK && done < n; done += (uint64_t)r->micro_batch) {
            st = mk_sampler_next(&s, &t.val, &t.batch, NULL, NULL);
            if (st == MK_OK)
                st = mk_classifier_forward(t.head, t.m, &t.batch, probs, NULL, NULL, NULL);
            const uint64_t now = done + (uint64_t)r->micro_batch < n ? done + r->micro_batch : n;
            mk_progress_count(bar, (int64_t)now, (int64_t)now * r->seq_len);
            for (int b = 0; st == MK_OK && b < r->micro_batch && done + (uint64_t)b < n; b++) {
                const struct mk_doc *d = &t.val.docs[t.batch.doc[b]];
                const float *p = probs + (size_t)b * C;
                write_row(f, jsonl, t.head, d->id, d->label, p);
                mk_inception_add(&score, p);
                if (d->label >= 0)
                    conf[d->label * C + argmax(p, C)]++;
            }
        }
        mk_progress_close(bar);
    }
    if (f)
        fclose(f);
    if (st == MK_OK && o->log)
        fprintf(o->log, "wrote %s\n", path);
    if (st == MK_OK)
        st = report(r, o, t.head, conf, &score);
    free(probs);
    free(conf);
    mk_inception_free(&score);
    mk_batch_free(&t.batch);
    mk_data_free(&t.val);
    mk_classifier_free(t.head, t.m);
    mk_model_free(t.m);
    return st;
}
