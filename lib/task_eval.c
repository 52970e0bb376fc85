/* task_eval.c — task.kind eval: the mean next-token loss of a trained model on a split
 * (task.split, all of it, or task.eval.batches micro-batches of it), with
 *   perplexity = exp(loss),  bits per token = loss / ln 2,
 *   bits per byte = bits per token / (bytes per token),
 * where bytes per token is measured over the split's tokens through the plugin's pieces,
 * markup tokens (EOS, BOS, PAD) counting no bytes: just under 1 for byte-level text; for DNA
 * a token is a base, so this is bits per base. Results go
 * to the log and to OUT/eval.json.
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
    double loss = NAN;
    struct mk_eval_scores sc;
    if (st == MK_OK)
        st = mk_trainer_evaluate(&t, &t.val, r->eval_batches, &sc);
    if (st == MK_OK) {
        loss = sc.loss;
        char acc[160] = ""; /* answer-weighted data (synthetic tasks): see train_eval.c */
        if (!isnan(sc.accuracy))
            snprintf(acc, sizeof acc, ", \"accuracy\": %.9g, \"exact_match\": %.9g, "
                     "\"answers\": %lld, \"examples\": %lld", sc.accuracy, sc.exact_match,
                     (long long)sc.scored, (long long)sc.windows);
        const double bpt = loss / log(2.0), bpb = bpt / bytes_per_token(r, &t.val);
        char json[512];
        snprintf(json, sizeof json, "{\"split\": \"%s\", \"loss\": %.9g, \"perplexity\": %.9g, "
                 "\"bits_per_token\": %.9g, \"bits_per_byte\": %.9g%s}\n",
                 mk_recipe_split_name(r->task_split), loss, exp(loss), bpt, bpb, acc);
        if (o->log)
            fputs(json, o->log);
        st = mk_task_write_text(r->out, "eval.json", json);
    }
    mk_batch_free(&t.batch);
    mk_data_free(&t.val);
    mk_model_free(t.m);
    return st;
}
