/* test_synthetic.c — the synthetic modality through its plugin descriptor (built in, no
 * dlopen): every example of both tasks checked against the format of synthetic.h by a scan
 * that does not share the generator's code (token ranges, where the noise, marker, trigger and
 * answers are, weights 1 exactly on the answers), determinism by seed, distinct seeds and
 * examples differing, chunked reading equal to whole records, and bad specs and options
 * failing with messages that name the file, line or option.
 */
#include "tap.h"
#include "test_modhelp.h"

const struct mk_modality *mk_modality_builtin_synthetic(void);
static const struct mk_modality *M; /* the synthetic modality's descriptor */
static char err[512];

static void *make(int n, const struct mk_kv *kv)
{
    void *h = NULL;
    if (M->create(kv, (size_t)n, &h, err, sizeof err))
        bail_out("create: %s", err);
    return h;
}

/* Selective copying, V tokens, L inputs, n_copy answers: the record x[0..L]. Returns 1 if it is
 * well formed (see synthetic.h). */
static int copying_ok(const int32_t *x, const float *w, int V, int L, int n_copy)
{
    int32_t seen[64];
    int k = 0;
    for (int t = 0; t < L - n_copy; t++) {
        if (x[t] < 0 || x[t] > V - 2 || w[t] != 0)
            return 0;
        if (x[t] != 0) {
            if (k == n_copy)
                return 0;
            seen[k++] = x[t];
        }
    }
    if (k != n_copy || x[L - n_copy] != V - 1 || w[L - n_copy] != 0)
        return 0;
    for (int i = 0; i < n_copy; i++)
        if (x[L - n_copy + 1 + i] != seen[i] || w[L - n_copy + 1 + i] != 1)
            return 0;
    return 1;
}

/* Induction heads: one trigger (V-1) inside [0, L-1) with a content successor, the trigger
 * at L-1, the answer x[L] equal to that successor; weight 1 only on x[L]. */
static int induction_ok(const int32_t *x, const float *w, int V, int L)
{
    int triggers = 0, p = -1;
    for (int t = 0; t < L - 1; t++) {
        if (x[t] < 0 || x[t] > V - 1 || w[t] != 0)
            return 0;
        if (x[t] == V - 1)
            triggers++, p = t;
    }
    return triggers == 1 && p < L - 2 && x[L - 1] == V - 1 && w[L - 1] == 0 &&
           x[L] == x[p + 1] && x[L] < V - 1 && w[L] == 1;
}

static const char *spec(const char *name, const char *text)
{
    return write_scratch(name, text, strlen(text));
}

static void test_copying(void)
{
    struct mk_kv kv[] = {{"task", "selective-copying"}, {"length", "64"}, {"copy_tokens", "8"}};
    void *h = make(3, kv);
    ok(M->vocab_size(h) == 16 && M->special(h, MK_TOKEN_PAD) == -1, "vocab 16 by default, no PAD");
    struct drained d;
    drain(M, h, spec("c.synth", "# a comment\nexamples: 300\nseed: 7\n"), NULL, 0, &d);
    int good = d.status == MK_MODALITY_END && d.records == 300 && d.n == 300 * 65;
    int used[16] = {0};
    for (size_t e = 0; good && e < 300; e++) {
        good = copying_ok(d.tok + e * 65, d.w + e * 65, 16, 64, 8);
        for (int t = 0; t < 64; t++)
            used[d.tok[e * 65 + t]] = 1;
    }
    ok(good, "selective copying: 300 well-formed records of 65 tokens %s", d.err);
    int all = 1;
    for (int v = 0; v < 16; v++)
        all &= used[v];
    ok(all, "every token 0..15 occurs (noise, 14 data tokens, marker)");
    char ids[1300];
    snprintf(ids, sizeof ids, "%s:1|;%s:2|;", spath("c.synth"), spath("c.synth"));
    ok(strncmp(d.ids, ids, strlen(ids)) == 0, "record ids are SPEC:1, SPEC:2, ...: %.60s", d.ids);

    struct drained same, other, chunked;
    drain(M, h, spec("c2.synth", "seed: 7\nexamples: 300\n"), NULL, 0, &same);
    drain(M, h, spec("c3.synth", "examples: 300\nseed: 8\n"), NULL, 0, &other);
    drain(M, h, spec("c.synth", "examples: 300\nseed: 7\n"), NULL, 10, &chunked);
    ok(same.n == d.n && !memcmp(same.tok, d.tok, d.n * sizeof *d.tok) &&
       !memcmp(same.w, d.w, d.n * sizeof *d.w), "the same seed gives the same examples");
    size_t differ = 0;
    for (size_t e = 0; e < 300; e++)
        differ += memcmp(other.tok + e * 65, d.tok + e * 65, 65 * sizeof *d.tok) != 0;
    ok(differ == 300, "another seed changes every example (%zu of 300)", differ);
    ok(memcmp(d.tok, d.tok + 65, 65 * sizeof *d.tok) != 0, "examples of one seed differ");
    ok(chunked.n == d.n && chunked.records == 300 && chunked.chunks == 300 * 7 &&
       !memcmp(chunked.tok, d.tok, d.n * sizeof *d.tok),
       "max_chunk 10: 7 chunks per record, the same tokens (%zu chunks)", chunked.chunks);
    char text[80] = {0};
    unsigned char *out;
    size_t len;
    const int32_t ex[] = {0, 3, 0, 15, 3, 1};
    ok(write_tokens(M, h, ex, 6, "x", &out, &len, err, sizeof err) == 0 && len == 7 &&
       (memcpy(text, out, len), !strcmp(text, ".c.|ca\n")), "write: pieces . c | a, a newline");
    free(out);
    const int32_t bad[] = {16};
    ok(write_tokens(M, h, bad, 1, "x", &out, &len, err, sizeof err) == MK_MODALITY_ERR_INVALID &&
       strstr(err, "token 16"), "write refuses a token outside the vocabulary: %s", err);
    free(out);
    drained_free(&d);
    drained_free(&same);
    drained_free(&other);
    drained_free(&chunked);
    M->destroy(h);
}

static void test_induction(void)
{
    struct mk_kv kv[] = {{"task", "induction-heads"}, {"vocab", "8"}, {"length", "32"}};
    void *h = make(3, kv);
    struct drained d;
    drain(M, h, spec("i.synth", "examples: 500\n"), NULL, 0, &d);
    int good = d.status == MK_MODALITY_END && d.records == 500 && d.n == 500 * 33;
    int answers[8] = {0}, first = 0, last = 0;
    for (size_t e = 0; good && e < 500; e++) {
        const int32_t *x = d.tok + e * 33;
        good = induction_ok(x, d.w + e * 33, 8, 32);
        answers[x[32]]++;
        first += x[0] == 7;
        last += x[29] == 7;
    }
    ok(good, "induction heads: 500 well-formed records of 33 tokens %s", d.err);
    int spread = 1;
    for (int v = 0; v < 7; v++)
        spread &= answers[v] > 30;
    ok(spread && answers[7] == 0, "answers spread over the 7 content tokens");
    ok(first > 0 && last > 0, "the trigger lands at the first and the last allowed position");
    drained_free(&d);
    M->destroy(h);
}

static void test_errors(void)
{
    struct mk_kv none[] = {{"vocab", "16"}};
    void *h = NULL;
    ok(M->create(none, 1, &h, err, sizeof err) == MK_MODALITY_ERR_INVALID &&
       strstr(err, "task is required"), "no task: %s", err);
    struct mk_kv small[] = {{"task", "selective-copying"}, {"length", "20"}};
    ok(M->create(small, 2, &h, err, sizeof err) == MK_MODALITY_ERR_INVALID &&
       strstr(err, "length 20"), "length < 2 * copy_tokens: %s", err);
    struct mk_kv big[] = {{"task", "induction-heads"}, {"vocab", "65"}};
    ok(M->create(big, 2, &h, err, sizeof err) == MK_MODALITY_ERR_INVALID && strstr(err, "vocab"),
       "vocab above 64: %s", err);
    struct mk_kv typo[] = {{"task", "induction-head"}};
    ok(M->create(typo, 1, &h, err, sizeof err) == MK_MODALITY_ERR_INVALID &&
       strstr(err, "induction-heads"), "unknown task: %s", err);

    struct mk_kv kv[] = {{"task", "induction-heads"}};
    h = make(1, kv);
    struct drained d;
    drain(M, h, spec("bad1.synth", "examples: 3\nsed: 4\n"), NULL, 0, &d);
    ok(d.status == MK_MODALITY_ERR_FORMAT && strstr(d.err, "bad1.synth: line 2"),
       "a misspelt key names the file and line: %s", d.err);
    drain(M, h, spec("bad2.synth", "seed: 4\n"), NULL, 0, &d);
    ok(d.status == MK_MODALITY_ERR_FORMAT && strstr(d.err, "needs `examples: N`"),
       "a spec without examples: %s", d.err);
    drain(M, h, spec("bad3.synth", "examples: ten\n"), NULL, 0, &d);
    ok(d.status == MK_MODALITY_ERR_FORMAT && strstr(d.err, "line 1"), "a non-number: %s", d.err);
    drain(M, h, spec("ok.synth", "examples: 1\n"), "dir", 0, &d);
    ok(d.status == MK_MODALITY_ERR_UNSUPPORTED && strstr(d.err, "labels"),
       "labels are refused: %s", d.err);
    drain(M, h, spath("missing.synth"), NULL, 0, &d);
    ok(d.status == MK_MODALITY_ERR_IO && strstr(d.err, "missing.synth"), "a missing spec: %s",
       d.err);
    M->destroy(h);
}

int main(void)
{
    M = mk_modality_builtin_synthetic();
    plan_lazy();
    test_copying();
    test_induction();
    test_errors();
    return exit_status();
}
