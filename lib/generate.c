/* generate.c — autoregressive generation of one or several sequences after one prompt: the
 * prompt (all but its last token) goes through one forward pass that only fills the recurrent
 * state of every row (no logits), then each step feeds every row's last token through one
 * mk_model_step of n_seq rows and samples each row's next token with the row's own generator
 * (seed + row) and history. Row 0's tokens are handed to a callback as they are made, so
 * callers can stream them. Everything the token loop needs (logits, histories, the sampler's
 * workspace) is allocated before it: the loop allocates nothing.
 */
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"

mk_status mk_generate_batch(struct mk_model *m, const int32_t *prompt, int n_prompt, int max_new,
                            int n_seq, const struct mk_sampler_opts *opts, int eos_id,
                            mk_token_fn on_token, void *user, int32_t *out, int *n_out)
{
    if (n_prompt <= 0)
        return mk_fail(MK_ERR_INVALID, "generation needs a prompt of at least one token");
    if (max_new < 0 || n_seq < 1)
        return mk_fail(MK_ERR_INVALID, "max_new %d must not be negative and n_seq %d positive",
                       max_new, n_seq);
    const int V = m->cfg.vocab_size;
    const size_t len = (size_t)n_prompt + (size_t)max_new;
    struct mk_state *s = NULL;
    struct mk_sampler *sampler = NULL;
    float *logits = malloc((size_t)n_seq * V * sizeof *logits);
    int32_t *hist = malloc((size_t)n_seq * len * sizeof *hist); /* row b at hist + b * len */
    int32_t *ids = malloc((size_t)n_seq * n_prompt * sizeof *ids);
    int *made = calloc((size_t)n_seq, sizeof *made); /* tokens made by each row */
    unsigned char *done = calloc((size_t)n_seq, 1);  /* the row has made EOS */
    struct mk_rng *rng = malloc((size_t)n_seq * sizeof *rng);
    mk_status st = logits && hist && ids && made && done && rng
                       ? mk_state_create(&s, m, n_seq)
                       : mk_fail(MK_ERR_NOMEM, "out of memory for generating %d sequences", n_seq);
    if (st == MK_OK)
        st = mk_sampler_create(&sampler, V);
    for (int b = 0; st == MK_OK && b < n_seq; b++) {
        memcpy(hist + b * len, prompt, (size_t)n_prompt * sizeof *hist);
        memcpy(ids + (size_t)b * (n_prompt - 1), prompt, (size_t)(n_prompt - 1) * sizeof *ids);
        mk_rng_seed(&rng[b], opts->seed + (uint64_t)b);
    }
    if (st == MK_OK && n_prompt > 1)
        st = mk_model_forward(m, ids, n_seq, n_prompt - 1, NULL, NULL, NULL, s);
    int live = n_seq, stop = 0;
    for (int i = 0; st == MK_OK && i < max_new && live > 0 && !stop; i++) {
        const int n = n_prompt + i; /* tokens in every row's history */
        for (int b = 0; b < n_seq; b++) /* a finished row repeats its EOS, its output unread */
            ids[b] = hist[b * len + n_prompt + made[b] - 1];
        st = mk_model_step(m, s, ids, logits);
        for (int b = 0; st == MK_OK && b < n_seq; b++) {
            if (done[b]) {
                if (b == 0 && on_token)
                    stop |= on_token(-1, user) != 0;
                continue;
            }
            int32_t *h = hist + b * len;
            h[n] = mk_sampler_pick(sampler, logits + (size_t)b * V, opts, &rng[b], h, n);
            made[b]++;
            if (b == 0 && on_token)
                stop |= on_token(h[n], user) != 0;
            if (h[n] == eos_id) {
                done[b] = 1;
                live--;
            }
        }
    }
    for (int b = 0; st == MK_OK && b < n_seq; b++) {
        if (out)
            memcpy(out + (size_t)b * max_new, hist + b * len + n_prompt,
                   (size_t)made[b] * sizeof *out);
        if (n_out)
            n_out[b] = made[b];
    }
    mk_state_free(s);
    mk_sampler_free(sampler);
    free(logits);
    free(hist);
    free(ids);
    free(made);
    free(done);
    free(rng);
    return st;
}

mk_status mk_generate(struct mk_model *m, const int32_t *prompt, int n_prompt, int max_new,
                      const struct mk_sampler_opts *opts, int eos_id,
                      mk_token_fn on_token, void *user, int32_t *out, int *n_out)
{
    return mk_generate_batch(m, prompt, n_prompt, max_new, 1, opts, eos_id, on_token, user, out,
                             n_out);
}
