/* test_text.c — the text modality and its byte-level BPE, through the plugin descriptor
 * (built in, no dlopen): bytes ↔ ids round trips for every byte value, documents per file and
 * per line with globbing, the GPT-2 pre-tokenizer on tricky text, Hugging Face compatibility
 * (a GPT-NeoX-style tokenizer.json made by the `tokenizers` library must give the ids it
 * gives: tests/data/text/make_hf_fixture.py), training, tokenizer.json save/load round trips
 * in both merges formats, and malformed inputs and options.
 */
#include <jansson.h>
#include "tap.h"
#include "test_modhelp.h"
#include "text/bpe.h"
#include "text/pretok.h"

const struct mk_modality *mk_modality_builtin_text(void);
static const struct mk_modality *M;
static char err[512];
static char datadir[1024];

static void *make(int n, const struct mk_kv *kv)
{
    void *h = NULL;
    if (M->create(kv, (size_t)n, &h, err, sizeof err))
        bail_out("create: %s", err);
    return h;
}

/* Every byte value, several invalid UTF-8 sequences, and valid multi-byte characters. */
static size_t nasty_bytes(unsigned char *buf)
{
    size_t n = 0;
    for (int i = 0; i < 256; i++)
        buf[n++] = (unsigned char)(255 - i);
    static const char tail[] = "\xc3\x28 \xe2\x82 \xf0\x9f\x99\x82 \xed\xa0\x80 caf\xc3\xa9 "
                               "\xc0\xaf \xff\xfe z";
    memcpy(buf + n, tail, sizeof tail - 1);
    return n + sizeof tail - 1;
}

static void test_bytes(void)
{
    unsigned char data[400];
    size_t len = nasty_bytes(data);
    const char *p = write_scratch("all.bin", data, len);
    void *h = make(0, NULL);
    struct drained d;
    drain(M, h, p, NULL, 0, &d);
    ok(d.status == MK_MODALITY_END && d.n == len + 1 && d.tok[len] == 258 &&
           M->vocab_size(h) == 260,
       "bytes: one document, every byte an id, EOS at the end (%zu ids) %s", d.n, d.err);
    unsigned char *out;
    size_t out_len;
    int st = write_tokens(M, h, d.tok, d.n, "x", &out, &out_len, err, sizeof err);
    ok(st == 0 && out_len == len && memcmp(out, data, len) == 0,
       "bytes: file -> ids -> file is exact for all 256 bytes and invalid UTF-8");
    free(out);
    drained_free(&d);
    M->destroy(h);

    const char a[] = "first line\r\n\nsecond line\nthird", b[] = "other file\n";
    char dir[700];
    snprintf(dir, sizeof dir, "%s/docs", scratch());
    mkdir(dir, 0755);
    write_scratch("docs/a.txt", a, sizeof a - 1);
    write_scratch("docs/b.txt", b, sizeof b - 1);
    struct mk_kv kv[] = {{"doc", "line"}, {"add_eos", "false"}, {"add_bos", "true"}};
    h = make(3, kv);
    drain(M, h, spath("docs/*.txt"), "dir", 0, &d);
    char want[2200];
    snprintf(want, sizeof want, "%s/docs/a.txt:1|docs;%s/docs/a.txt:3|docs;%s/docs/a.txt:4|docs;"
             "%s/docs/b.txt:1|docs;", scratch(), scratch(), scratch(), scratch());
    ok(d.records == 4 && strcmp(d.ids, want) == 0 && d.tok[0] == 257 && d.n == 4 + 10 + 11 + 5 + 10,
       "doc: line over a glob: ids PATH:LINE, CRLF and empty lines handled, labels from dirs");
    drained_free(&d);
    M->destroy(h);
}

struct split_case {
    const char *text;
    const char *pieces; /* joined with '|' */
};

static int collect_piece(void *ctx, size_t start, size_t len)
{
    struct mk_bytes *b = ((struct mk_bytes **)ctx)[0];
    const char *text = ((const char **)ctx)[1];
    return (b->n && mk_bytes_append(b, "|", 1)) || mk_bytes_append(b, text + start, len);
}

static void test_pretokenizer(void)
{
    static const struct split_case cases[] = {
        {"Hello world's  test\n\n 123abc!!", "Hello| world|'s| | test|\n\n| 123|abc|!!"},
        {"naïve café 東京 ١٢٣", "naïve| café| 東京| ١٢٣"},
        {"x\xff\xfey", "x|\xff\xfe|y"},
        {"a  \tb   ", "a|  |\t|b|   "},
        {"don't WE'LL 'tis", "don|'t| WE|'|LL| '|tis"},
        {" \n x", " \n| x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mk_bytes b = {0};
        void *ctx[2] = {&b, (void *)cases[i].text};
        mk_pretok_gpt2((const unsigned char *)cases[i].text, strlen(cases[i].text),
                       collect_piece, ctx);
        mk_bytes_append(&b, "", 1);
        char shown[256];
        size_t k = 0;
        for (size_t j = 0; j < b.n - 1 && k + 5 < sizeof shown; j++) {
            char c = (char)b.p[j];
            if ((unsigned char)c >= 0xF5) /* never valid UTF-8: keep the TAP line text */
                k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", (unsigned char)c);
            else if (c == '\n' || c == '\t' || c == '\r')
                k += (size_t)snprintf(shown + k, sizeof shown - k, "\\%c",
                                      c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
            else
                shown[k++] = c;
        }
        shown[k] = 0;
        ok(strcmp((char *)b.p, cases[i].pieces) == 0, "GPT-2 pre-tokens of case %zu: %s", i,
           shown);
        free(b.p);
    }
}

static int encode_equals(struct mk_bpe *b, const char *text, json_t *ids)
{
    struct mk_ids got = {0};
    int same = mk_bpe_encode(b, (const unsigned char *)text, strlen(text), &got) == 0 &&
               got.n == json_array_size(ids);
    for (size_t i = 0; same && i < got.n; i++)
        same = got.v[i] == json_integer_value(json_array_get(ids, i));
    struct mk_bytes back = {0};
    same = same && mk_bpe_decode(b, got.v, got.n, 0, &back) == 0 && back.n == strlen(text) &&
           memcmp(back.p, text, back.n) == 0;
    free(got.v);
    free(back.p);
    return same;
}

static void test_hf_compat(void)
{
    char path[1200], exp[1200];
    snprintf(path, sizeof path, "%s/hf_tokenizer.json", datadir);
    snprintf(exp, sizeof exp, "%s/hf_expected.json", datadir);
    struct mk_bpe *b;
    int st = mk_bpe_load(&b, path, err, sizeof err);
    ok(st == 0 && mk_bpe_vocab_size(b) == 585, "the Hugging Face tokenizer.json loads: %s",
       st ? err : "V = 585");
    if (st)
        return;
    json_error_t jerr;
    json_t *cases = json_load_file(exp, 0, &jerr);
    size_t i, good = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        int same = encode_equals(b, text, json_object_get(c, "ids"));
        good += same;
        if (!same)
            diag("differs from Hugging Face: %s", text);
    }
    ok(good == json_array_size(cases) && good == 10,
       "ids equal those of Hugging Face tokenizers for %zu/%zu strings (contractions, runs of "
       "spaces as added tokens, digits, CJK, Cyrillic, emoji, <|endoftext|>), and decode back",
       good, json_array_size(cases));

    /* save → load keeps every id; the saved file writes merges as "a b" strings */
    char *js;
    struct mk_bpe *b2 = NULL;
    st = mk_bpe_to_json(b, &js, err, sizeof err);
    st = st ? st : mk_bpe_from_json(&b2, js, strlen(js), "saved", err, sizeof err);
    size_t same = 0;
    json_array_foreach(cases, i, c)
        same += encode_equals(b2, json_string_value(json_object_get(c, "text")),
                              json_object_get(c, "ids"));
    ok(st == 0 && same == 10 && strstr(js, "\"\\u0120 \\u0120\","),
       "tokenizer.json save -> load gives the same ids (merges saved as strings) %s",
       st ? err : "");
    free(js);
    mk_bpe_free(b2);
    json_decref(cases);

    /* random byte strings, mostly text-like: every one decodes back to itself */
    uint64_t x = 42;
    int back_ok = 0;
    static const char pool[] = "the lazy dog  \n\t'sre\xc3\xa9\xe6\x9d\xb1\xff\x80<|endoftext|>12";
    for (int k = 0; k < 300; k++) {
        unsigned char buf[200];
        size_t n = 0;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = (size_t)(x >> 33) % sizeof buf;
        while (n < len) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            buf[n++] = (x >> 60) < 2 ? (unsigned char)(x >> 40)
                                     : (unsigned char)pool[(x >> 33) % (sizeof pool - 1)];
        }
        struct mk_ids got = {0};
        struct mk_bytes dec = {0};
        back_ok += mk_bpe_encode(b, buf, n, &got) == 0 &&
                   mk_bpe_decode(b, got.v, got.n, 0, &dec) == 0 && dec.n == n &&
                   (n == 0 || memcmp(dec.p, buf, n) == 0);
        free(got.v);
        free(dec.p);
    }
    ok(back_ok == 300, "300 random byte strings (invalid UTF-8 included) decode back exactly");

    struct mk_kv kv[] = {{"tokenizer", "bpe"}, {"vocab_file", path}};
    void *h = make(2, kv);
    ok(M->vocab_size(h) == 585 && M->special(h, MK_TOKEN_EOS) == 0 &&
           M->special(h, MK_TOKEN_BOS) == 0 && M->special(h, MK_TOKEN_PAD) == 1 &&
           M->special(h, MK_TOKEN_UNK) == -1,
       "specials of a GPT-NeoX-style vocabulary: EOS = BOS = 0, PAD = 1");
    const char doc[] = "The lazy dog didn't jump.\n";
    struct drained d;
    drain(M, h, write_scratch("doc.txt", doc, sizeof doc - 1), NULL, 3, &d);
    unsigned char *out;
    size_t len;
    st = write_tokens(M, h, d.tok, d.n, "x", &out, &len, err, sizeof err);
    ok(d.status == MK_MODALITY_END && d.tok[d.n - 1] == 0 && d.chunks > 2 && st == 0 &&
           len == sizeof doc - 1 && memcmp(out, doc, len) == 0,
       "bpe plugin: file -> ids (chunks of 3, EOS) -> file round trip");
    char piece[32];
    int k = M->piece(h, 0, piece, sizeof piece);
    ok(k == 13 && memcmp(piece, "<|endoftext|>", 13) == 0, "piece of a special token");
    free(out);
    drained_free(&d);
    M->destroy(h);
    mk_bpe_free(b);
}

static void test_train(void)
{
    /* a corpus with repeated words and random bytes; train twice: deterministic */
    struct mk_bytes corpus = {0};
    uint64_t x = 12345;
    for (int i = 0; i < 3000; i++) {
        static const char *const words[] = {"the ", "state ", "space ", "model ", "selective ",
                                            "scan ", "mamba ", "token ", "\n", "über ", "数据 "};
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const char *w = words[(x >> 33) % 11];
        mk_bytes_append(&corpus, w, strlen(w));
        if ((x >> 20) % 13 == 0) {
            char junk = (char)(x >> 40);
            mk_bytes_append(&corpus, &junk, 1);
        }
    }
    const char *p = write_scratch("corpus.txt", corpus.p, corpus.n);
    struct mk_bpe *b, *b2;
    int st = mk_bpe_train(&b, &p, 1, 300, 2, err, sizeof err);
    ok(st == 0 && mk_bpe_vocab_size(b) == 300, "trained a BPE of 300 tokens: %s", st ? err : "");
    if (st)
        return;
    st = mk_bpe_train(&b2, &p, 1, 300, 2, err, sizeof err);
    char *j1, *j2;
    mk_bpe_to_json(b, &j1, err, sizeof err);
    mk_bpe_to_json(b2, &j2, err, sizeof err);
    ok(st == 0 && strcmp(j1, j2) == 0, "training is deterministic");
    mk_bpe_free(b2);
    struct mk_ids ids = {0};
    mk_bpe_encode(b, corpus.p, corpus.n, &ids);
    struct mk_bytes back = {0};
    ok(ids.n < corpus.n / 3 && mk_bpe_decode(b, ids.v, ids.n, 0, &back) == 0 &&
           back.n == corpus.n && memcmp(back.p, corpus.p, corpus.n) == 0,
       "encode/decode round trip of the corpus with junk bytes; %zu bytes -> %zu ids", corpus.n,
       ids.n);
    size_t len, longest = 0;
    for (size_t i = 0; i < ids.n; i++)
        if (mk_bpe_piece(b, ids.v[i], &len) && len > longest)
            longest = len;
    ok(longest >= 5, "frequent words became tokens (the longest has %zu bytes)", longest);

    /* saved and reloaded from a file, and a 10,000-character word encodes fast and exactly */
    mk_bytes_append(&back, "", 0);
    const char *jp = write_scratch("trained.json", j1, strlen(j1));
    st = mk_bpe_load(&b2, jp, err, sizeof err);
    struct mk_ids ids2 = {0};
    if (!st)
        mk_bpe_encode(b2, corpus.p, corpus.n, &ids2);
    ok(st == 0 && ids2.n == ids.n && memcmp(ids.v, ids2.v, ids.n * sizeof(int32_t)) == 0,
       "tokenizer.json written and read back encodes identically");
    char *longw = malloc(10001);
    memset(longw, 'e', 10000);
    longw[10000] = 0;
    ids2.n = 0;
    back.n = 0;
    mk_bpe_encode(b2, (unsigned char *)longw, 10000, &ids2);
    mk_bpe_decode(b2, ids2.v, ids2.n, 0, &back);
    ok(back.n == 10000 && memcmp(back.p, longw, 10000) == 0, "a 10,000-byte word: %zu ids",
       ids2.n);
    free(longw);
    free(ids.v);
    free(ids2.v);
    free(back.p);
    free(j1);
    free(j2);
    free(corpus.p);
    mk_bpe_free(b);
    mk_bpe_free(b2);
}

static void test_malformed(void)
{
    static const struct {
        const char *json, *expect;
    } bad[] = {
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "model type 'WordPiece' is not supported"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", "needs a vocab object and a merges array"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"byte_fallback\": true}}",
         "byte_fallback is not supported"},
        {"{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "pre_tokenizer type 'Metaspace' is not supported"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"\\u2581the\": 0}, \"merges\": []}}",
         "not a byte-level BPE: model.vocab token"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "not a byte-level BPE: byte 0x00 has no token"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
         "model.merges[0] 'a b': a token or the merged token is not in the vocab"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}",
         "model.merges[0] is not \"a b\""},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
         "duplicate id or token"},
        {"{\"model\": ", "line 1, column 10"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct mk_bpe *b = NULL;
        int st = mk_bpe_from_json(&b, bad[i].json, strlen(bad[i].json), "t.json", err, sizeof err);
        ok(st > 0 && !b && strstr(err, bad[i].expect), "bad tokenizer.json %zu: %s", i, err);
    }
    static const struct mk_kv opts[][2] = {
        {{"tokenizer", "bpe"}, {"doc", "file"}}, {{"vocab_file", "x.json"}, {"doc", "file"}},
        {{"tokenizer", "bpe"}, {"vocab_file", "/nonexistent/tok.json"}},
        {{"doc", "paragraph"}, {"add_eos", "true"}}, {{"lowercase", "true"}, {"doc", "file"}}};
    static const char *const expect[] = {
        "tokenizer: bpe needs vocab_file", "vocab_file is for tokenizer: bpe",
        "/nonexistent/tok.json: cannot open", "'paragraph' is not one of file|line",
        "unknown option 'lowercase'"};
    for (size_t i = 0; i < 5; i++) {
        void *h = NULL;
        int st = M->create(opts[i], 2, &h, err, sizeof err);
        ok(st > 0 && strstr(err, expect[i]), "bad text option: %s", err);
    }
    void *h = make(0, NULL);
    struct drained d;
    drain(M, h, spath("none/*.txt"), NULL, 0, &d);
    ok(d.status == MK_MODALITY_ERR_IO && strstr(d.err, "no file matches"), "no match: %s", d.err);
    int32_t big = 300;
    unsigned char *out;
    size_t len;
    int st = write_tokens(M, h, &big, 1, "x", &out, &len, err, sizeof err);
    ok(st == MK_MODALITY_ERR_INVALID && strstr(err, "outside the vocabulary"), "writer: %s", err);
    free(out);
    M->destroy(h);
}

int main(void)
{
    M = mk_modality_builtin_text();
    snprintf(datadir, sizeof datadir, "%s/tests/data/text",
             getenv("MK_SRCDIR") ? getenv("MK_SRCDIR") : ".");
    plan_lazy();
    test_bytes();
    test_pretokenizer();
    test_hf_compat();
    test_train();
    test_malformed();
    return exit_status();
}
