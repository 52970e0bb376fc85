/* task_eval.c — task.kind eval: the mean next-token loss of a trained model on a split
 * (task.split, all of it, or task.eval.batches micro-batches of it), with
 *   perplexity = exp(loss),  bits per token = loss / ln 2,
 *   bits per byte = bits per token / (bytes per token),
 * where bytes per token is measured over the split's tokens through the plugin's pieces,
 * markup tokens (EOS, BOS, PAD) counting no bytes: just under 1 for byte-level text; for DNA
 * a token is a base, so this is bits per base. With task.baseline.markov_order k, the
 * order-1..k Markov baselines of markov.h, counted on the train split, are scored on the same
 * targets with the same context. Results go to the log and to OUT/eval.json.
 */
#include "config.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "train_loop.h"

static double bytes_per_token(const struct mk_recipe *r, const struct mk_dataset *ds)
{
    const struct mk_modality *p = &r->codec->plugin->m;
    double bytes = 0;
    for (size_t i = 0; i < ds->n_tokens; i++) {
        int n = mk_task_is_markup(r->codec, ds->tokens[i])
                    ? 0 : p->piece(r->codec->handle, ds->tokens[i], NULL, 0);
        bytes += n > 0 ? n : 0;
    }
    return bytes > 0 ? bytes / (double)ds->n_tokens : 1;
}

/* The order-k baseline counted on the training split (task.baseline.markov_order) */
static mk_status fit_markov(struct trainer *t, const struct mk_recipe *r)
{
    if (r->objective != MK_OBJ_LM)
        return mk_fail(MK_ERR_INVALID, "task.baseline.markov_order: a Markov baseline needs "
                       "task.objective lm");
    mk_status st = mk_data_load(&t->train, r, MK_SPLIT_TRAIN, NULL);
    if (st == MK_OK)
        st = mk_markov_fit(&t->markov, &t->train, r->markov_order, mk_codec_vocab_size(r->codec));
    mk_data_free(&t->train);
    return st;
}

/* ", "markov_bits_per_token": [orders 1..k], "markov_best": {"order", "bits_per_token"}":
 * the best order is picked on this very split, which flatters the baseline */
static int markov_best(const struct mk_eval_scores *sc, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        best = sc->markov_loss[j] < sc->markov_loss[best] ? j : best;
    return best;
}

static void markov_json(char *out, size_t len, const struct mk_eval_scores *sc, int k)
{
    size_t n = (size_t)snprintf(out, len, ", \"markov_bits_per_token\": [");
    const int best = markov_best(sc, k);
    for (int j = 0; j < k && n < len; j++)
        n += (size_t)snprintf(out + n, len - n, "%s%.6g", j ? ", " : "", sc->markov_loss[j] / log(2.0));
    if (n < len)
        snprintf(out + n, len - n, "], \"markov_best\": {\"order\": %d, \"bits_per_token\": %.6g}",
                 best + 1, sc->markov_loss[best] / log(2.0));
}

mk_status mk_task_eval(const struct mk_recipe *r, const struct mk_run_opts *o)
{
    struct trainer t = {.r = r, .o = o};
    mk_status st = mk_mkdirs(r->out);
    if (st == MK_OK)
        st = mk_task_load_model(&t.m, r);
    if (st == MK_OK)
        st = mk_data_load(&t.val, r, r->task_split, NULL);
    if (st == MK_OK)
        st = mk_batch_alloc(&t.batch, r->micro_batch, r->seq_len);
    if (st == MK_OK && r->markov_order > 0)
        st = fit_markov(&t, r);
    double loss = NAN;
    struct mk_eval_scores sc;
    if (st == MK_OK) /* a bar over the batches (mk_trainer_evaluate sets how many) */
        st = mk_progress_open(&t.eval_bar, o->log, r->progress, 0, 0);
    if (st == MK_OK)
        st = mk_trainer_evaluate(&t, &t.val, r->eval_batches, &sc);
    mk_progress_close(t.eval_bar);
    if (st == MK_OK) {
        loss = sc.loss;
        char acc[160] = ""; /* weighted data (synthetic tasks, DNA): see train_eval.c */
        if (!isnan(sc.accuracy) && !isnan(sc.exact_match))
            snprintf(acc, sizeof acc, ", \"accuracy\": %.9g, \"exact_match\": %.9g, "
                     "\"answers\": %lld, \"examples\": %lld", sc.accuracy, sc.exact_match,
                     (long long)sc.scored, (long long)sc.windows);
        else if (!isnan(sc.accuracy))
            snprintf(acc, sizeof acc, ", \"accuracy\": %.9g, \"targets\": %lld", sc.accuracy,
                     (long long)sc.scored);
        const double bpt = loss / log(2.0), bpb = bpt / bytes_per_token(r, &t.val);
        char mk[512] = "";
        if (t.markov)
            markov_json(mk, sizeof mk, &sc, r->markov_order);
        char json[1024];
        snprintf(json, sizeof json, "{\"split\": \"%s\", \"loss\": %.9g, \"perplexity\": %.9g, "
                 "\"bits_per_token\": %.9g, \"bits_per_byte\": %.9g%s%s}\n",
                 mk_recipe_split_name(r->task_split), loss, exp(loss), bpt, bpb, acc, mk);
        if (o->log)
            fputs(json, o->log);
        if (o->log && t.markov) {
            const int best = markov_best(&sc, r->markov_order);
            fprintf(o->log, "%s split: the model %.4f bits per token; the best Markov baseline "
                    "(order %d) %.4f\n", mk_recipe_split_name(r->task_split), bpt, best + 1,
                    sc.markov_loss[best] / log(2.0));
        }
        st = mk_task_write_text(r->out, "eval.json", json);
    }
    mk_batch_free(&t.batch);
    mk_data_free(&t.val);
    mk_model_free(t.m);
    mk_markov_free(t.markov);
    return st;
}
