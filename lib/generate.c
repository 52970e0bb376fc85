/* generate.c — autoregressive generation for one sequence: the prompt (all but its last
 * token) goes through one forward pass that only fills the recurrent state (no logits), then
 * each step feeds one token through mk_model_step and samples the next. Tokens are handed to
 * a callback as they are made, so callers can stream them. Everything the token loop needs
 * (logits, history, the sampler's workspace) is allocated before it: the loop allocates nothing.
 */
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"

mk_status mk_generate(struct mk_model *m, const int32_t *prompt, int n_prompt, int max_new,
                      const struct mk_sampler_opts *opts, int eos_id,
                      mk_token_fn on_token, void *user, int32_t *out, int *n_out)
{
    if (n_prompt <= 0)
        return mk_fail(MK_ERR_INVALID, "generation needs a prompt of at least one token");
    if (max_new < 0)
        return mk_fail(MK_ERR_INVALID, "max_new %d must not be negative", max_new);
    const int V = m->cfg.vocab_size;
    struct mk_state *s = NULL;
    struct mk_sampler *sampler = NULL;
    float *logits = malloc((size_t)V * sizeof *logits);
    int32_t *hist = malloc(((size_t)n_prompt + (size_t)max_new) * sizeof *hist);
    mk_status st = (logits && hist) ? mk_state_create(&s, m, 1)
                                    : mk_fail(MK_ERR_NOMEM, "out of memory for generation");
    if (st == MK_OK)
        st = mk_sampler_create(&sampler, V);
    int n = n_prompt;
    if (st == MK_OK) {
        memcpy(hist, prompt, (size_t)n_prompt * sizeof *hist);
        if (n_prompt > 1)
            st = mk_model_forward(m, prompt, 1, n_prompt - 1, NULL, NULL, NULL, s);
    }
    struct mk_rng rng;
    mk_rng_seed(&rng, opts->seed);
    for (int i = 0; st == MK_OK && i < max_new; i++) {
        st = mk_model_step(m, s, &hist[n - 1], logits);
        if (st != MK_OK)
            break;
        int32_t next = mk_sampler_pick(sampler, logits, opts, &rng, hist, n);
        hist[n++] = next;
        if (on_token && on_token(next, user) != 0)
            break;
        if (next == eos_id)
            break;
    }
    if (st == MK_OK && out)
        memcpy(out, hist + n_prompt, (size_t)(n - n_prompt) * sizeof *out);
    if (n_out)
        *n_out = n - n_prompt;
    mk_state_free(s);
    mk_sampler_free(sampler);
    free(logits);
    free(hist);
    return st;
}
