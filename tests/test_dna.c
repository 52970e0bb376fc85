/* test_dna.c — the DNA modality through its plugin descriptor (built in, no dlopen):
 * FASTA(.gz) → tokens → FASTA round trips on the vendored mtDNA file and on generated files,
 * streaming chunks, windows, case and N policies, labels, reverse complement, and a table of
 * malformed inputs with the error each must give.
 */
#include <zlib.h>
#include "tap.h"
#include "test_modhelp.h"

const struct mk_modality *mk_modality_builtin_dna(void);
static const struct mk_modality *M;
static char err[512];

/* A dna handle from "key=value" pairs. */
static void *make(int n, const struct mk_kv *kv)
{
    void *h = NULL;
    if (M->create(kv, (size_t)n, &h, err, sizeof err))
        bail_out("create: %s", err);
    return h;
}

/* The tokens as letters (specials as <s> etc.), NUL-terminated, malloc'd. */
static char *letters(void *h, const int32_t *tok, size_t n)
{
    char *s = malloc(n * 4 + 1), *p = s;
    for (size_t i = 0; i < n; i++)
        p += M->piece(h, tok[i], p, 4);
    *p = 0;
    return s;
}

static unsigned char *gunzip_file(const char *path, size_t *len)
{
    gzFile g = gzopen(path, "rb");
    struct mk_bytes b = {0};
    char buf[4096];
    int k;
    while (g && (k = gzread(g, buf, sizeof buf)) > 0)
        mk_bytes_append(&b, buf, (size_t)k);
    if (g)
        gzclose(g);
    *len = b.n;
    return b.p;
}

static void test_mtdna_roundtrip(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/dna/MT-human.fa.gz",
             getenv("MK_SRCDIR") ? getenv("MK_SRCDIR") : ".");
    struct mk_kv keep[] = {{"case", "keep"}};
    void *h = make(1, keep);
    struct drained d;
    drain(M, h, path, NULL, 0, &d);
    ok(d.status == MK_MODALITY_END && d.records == 1 && d.n == 16569,
       "mtDNA.fa.gz: one record of 16569 bases (%zu records, %zu bases) %s", d.records, d.n,
       d.err);
    ok(strcmp(d.ids, "MT_human|;") == 0, "mtDNA id from the header: %s", d.ids);
    unsigned char *fa, *orig;
    size_t fa_len, orig_len;
    int st = write_tokens(M, h, d.tok, d.n, "MT_human", &fa, &fa_len, err, sizeof err);
    orig = gunzip_file(path, &orig_len);
    ok(st == 0 && fa_len == orig_len && memcmp(fa, orig, fa_len) == 0,
       "mtDNA: FASTA.gz -> tokens -> FASTA (60 per line) is byte-identical to the original");
    free(fa);
    free(orig);

    struct drained c;
    drain(M, h, path, NULL, 1000, &c);
    ok(c.chunks == 17 && c.records == 1 && c.n == d.n &&
           memcmp(c.tok, d.tok, d.n * sizeof(int32_t)) == 0,
       "streaming with max_chunk 1000: 17 chunks, the same tokens (%zu chunks)", c.chunks);
    drained_free(&c);
    drained_free(&d);
    M->destroy(h);
}

static void test_multi_record(void)
{
    /* CRLF, ragged line lengths, blank lines, lower case, IUPAC codes, U, spaces */
    const char fa[] = "\r\n>chr1 first record\r\nACGTa\r\ncg\r\n\r\nTTRYn\r\n"
                      ">chr2\nAC GU\nNNNNNNNNNNACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT\n";
    const char *p = write_scratch("multi.fa", fa, sizeof fa - 1);
    void *fold = make(0, NULL);
    struct drained d;
    drain(M, fold, p, NULL, 0, &d);
    char *s = letters(fold, d.tok, d.n);
    ok(d.status == MK_MODALITY_END && d.records == 2 &&
           strncmp(s, "ACGTACGTTNNNACGTNNNNNNNNNNACGT", 30) == 0 &&
           strcmp(d.ids, "chr1|;chr2|;") == 0,
       "multi-record CRLF FASTA, case folded, IUPAC -> N, U -> T: %.30s %s %s", s, d.ids,
       d.err);
    free(s);
    drained_free(&d);

    struct mk_kv kv[] = {{"case", "keep"}, {"softmask_loss_weight", "0.25"},
                         {"n_policy", "ignore"}, {"add_bos", "true"}, {"add_eos", "yes"}};
    void *h = make(5, kv);
    drain(M, h, p, NULL, 0, &d);
    s = letters(h, d.tok, d.n);
    ok(strncmp(s, "<s>ACGTacgTTNNn</s><s>ACGTNNNN", 30) == 0 && M->vocab_size(h) == 13,
       "case keep + BOS/EOS: %.30s", s);
    ok(d.w[0] == 1 && d.w[5] == 0.25f && d.w[9] == 1 && d.w[10] == 0 && d.w[12] == 0 &&
           d.w[13] == 1,
       "weights: 0.25 on soft-masked bases, 0 on N (n_policy ignore)");
    free(s);
    drained_free(&d);
    M->destroy(h);

    struct mk_kv skip[] = {{"n_policy", "skip"}};
    h = make(1, skip);
    drain(M, h, p, NULL, 0, &d);
    s = letters(h, d.tok, d.n);
    ok(strncmp(s, "ACGTACGTTACGTACGT", 17) == 0 && d.n == 9 + 4 + 60,
       "n_policy skip drops N and other ambiguity codes: %.17s (%zu)", s, d.n);
    free(s);
    drained_free(&d);
    M->destroy(h);

    struct mk_kv split[] = {{"n_policy", "split"}};
    h = make(1, split);
    drain(M, h, p, NULL, 0, &d);
    ok(d.records == 3 && strcmp(d.ids, "chr1:1|;chr2:1|;chr2:15|;") == 0,
       "n_policy split: records at N runs with 1-based starts: %s", d.ids);
    drained_free(&d);
    M->destroy(h);
    M->destroy(fold);
}

static void test_windows_and_gz(void)
{
    /* 25 bases in a gzip file, windows of 10 with stride 4 */
    const char *p = spath("w.fa.gz");
    gzFile g = gzopen(p, "wb");
    gzputs(g, ">w\nAAAAACCCCCGGGGGTTTTTACGTA\n");
    gzclose(g);
    struct mk_kv kv[] = {{"window", "10"}, {"stride", "4"}};
    void *h = make(2, kv);
    struct drained d;
    drain(M, h, p, NULL, 0, &d);
    ok(d.status == MK_MODALITY_END && d.records == 5 &&
           strcmp(d.ids, "w:1-10|;w:5-14|;w:9-18|;w:13-22|;w:16-25|;") == 0,
       "windows 10/4 over 25 bases, tail window ends at the end: %s", d.ids);
    char *s = letters(h, d.tok + 40, 10);
    ok(strcmp(s, "GGTTTTTACGTA" + 2) == 0, "last window holds the last 10 bases: %s", s);
    free(s);
    drained_free(&d);
    M->destroy(h);

    /* a record shorter than the window is one short window */
    struct mk_kv big[] = {{"window", "100"}};
    h = make(1, big);
    drain(M, h, p, NULL, 0, &d);
    ok(d.records == 1 && d.n == 25 && strcmp(d.ids, "w:1-25|;") == 0,
       "a record shorter than the window gives one short window: %s", d.ids);
    drained_free(&d);
    M->destroy(h);
}

static void test_labels(void)
{
    const char fa[] = ">hs_1 Homo sapiens\nACGT\n>pt_2 Pan troglodytes\nGGCC\n";
    char dirpath[700];
    snprintf(dirpath, sizeof dirpath, "%s/apes", scratch());
    mkdir(dirpath, 0755);
    const char *p = write_scratch("apes/two.fa", fa, sizeof fa - 1);
    void *h = make(0, NULL);
    struct drained d;
    drain(M, h, p, "header:^[a-z]+_[0-9] ([A-Z][a-z]+)", 0, &d);
    ok(strcmp(d.ids, "hs_1|Homo;pt_2|Pan;") == 0, "labels from a header regex group: %s",
       d.ids);
    drained_free(&d);
    drain(M, h, p, "dir", 0, &d);
    ok(strcmp(d.ids, "hs_1|apes;pt_2|apes;") == 0, "labels from the directory name: %s",
       d.ids);
    drained_free(&d);
    drain(M, h, p, "dir:2", 0, &d);
    ok(strncmp(d.ids, "hs_1|mktest.", 12) == 0, "labels from the directory 2 levels up: %s",
       d.ids);
    drained_free(&d);
    drain(M, h, p, "dir:0", 0, &d);
    ok(d.status == MK_MODALITY_ERR_INVALID && strstr(d.err, "dir:N is an integer"), "dir:0: %s",
       d.err);
    drained_free(&d);
    const char tsv[] = "# id\tlabel\nhs_1\thuman\npt_2\tchimp\n";
    char rule[700];
    snprintf(rule, sizeof rule, "tsv:%s", write_scratch("labels.tsv", tsv, sizeof tsv - 1));
    drain(M, h, p, rule, 0, &d);
    ok(strcmp(d.ids, "hs_1|human;pt_2|chimp;") == 0, "labels from a TSV by record id: %s",
       d.ids);
    drained_free(&d);
    const char tsv2[] = "two.fa\tape\n";
    snprintf(rule, sizeof rule, "tsv:%s", write_scratch("files.tsv", tsv2, sizeof tsv2 - 1));
    drain(M, h, spath("apes/*.fa"), rule, 0, &d);
    ok(strcmp(d.ids, "hs_1|ape;pt_2|ape;") == 0, "labels from a file -> label TSV, glob: %s",
       d.ids);
    drained_free(&d);
    M->destroy(h);
}

static void test_strands_and_writer(void)
{
    struct mk_kv kv[] = {{"case", "keep"}, {"line_width", "4"}, {"rc_aug", "0.5"}};
    void *h = make(3, kv);
    int32_t t[] = {1, 3, 4, 9, 7, 6, 11, 2}; /* <s> A C c N T t </s> */
    float w[] = {1, 2, 3, 4, 5, 6, 7, 8};
    M->reverse_complement(h, t, w, 8);
    char *s = letters(h, t, 8);
    ok(strcmp(s, "</s>aANgGT<s>") == 0 && w[0] == 8 && w[7] == 1,
       "reverse complement: %s", s);
    free(s);
    M->augment(h, t, w, 8, 0); /* u = 0 < 0.5: flips back */
    M->augment(h, t, w, 8, UINT64_MAX); /* u ~ 1: leaves it */
    ok(t[1] == 3 && t[3] == 9, "augment flips with probability rc_aug");
    unsigned char *out;
    size_t len;
    int st = write_tokens(M, h, t, 8, "gen1", &out, &len, err, sizeof err);
    ok(st == 0 && len == 14 && memcmp(out, ">gen1\nACcN\nTt\n", 14) == 0,
       "FASTA writer wraps lines and drops specials (%zu bytes)", len);
    free(out);
    int32_t bad = 13;
    st = write_tokens(M, h, &bad, 1, "x", &out, &len, err, sizeof err);
    ok(st == MK_MODALITY_ERR_INVALID && strstr(err, "outside the vocabulary"),
       "writer refuses a token outside the vocabulary: %s", err);
    free(out);
    ok(M->special(h, MK_TOKEN_N) == 7 && M->special(h, MK_TOKEN_MASK) == -1 &&
           M->special(h, MK_TOKEN_EOS) == 2,
       "special tokens: N 7, EOS 2, no MASK");
    M->destroy(h);
}

struct bad_case {
    const char *name, *content; /* NULL content: the file is made by the test */
    const char *expect;
};

static void test_malformed(void)
{
    /* a gzip stream cut in the middle */
    const char *gzp = spath("cut.fa.gz");
    gzFile g = gzopen(gzp, "wb");
    for (int i = 0; i < 200; i++)
        gzprintf(g, ">r%d\nACGTTGCAAGGCTTAACCGGTTAAGGCCTT%.*s\n", i, i % 7, "ACGTACG");
    gzclose(g);
    unsigned char *gz;
    size_t gz_len;
    slurp(gzp, &gz, &gz_len);
    write_scratch("cut.fa.gz", gz, gz_len / 2);
    free(gz);

    static const struct bad_case cases[] = {
        {"fastq.fa", "@read1\nACGT\n+\nIIII\n", "line 1: not a FASTA file (a record starts with '>', found '@')"},
        {"binary.fa", "\x89PNG\r\n", "found byte 0x89"},
        {"empty.fa", "", "not a FASTA file: no '>' record"},
        {"blank.fa", "\n\n  \n", "not a FASTA file: no '>' record"},
        {"emptyrec.fa", ">a\n>b\nACGT\n", "record 'a' (1), line 2: empty record"},
        {"emptylast.fa", ">a\nAC\n>b\n", "record 'b' (2), line 4: empty record"},
        {"badchar.fa", ">a\nACGT\n>b x\nACGT\nAC#T\n", "record 'b' (2), line 5: bad character '#'"},
        {"gap.fa", ">a\nAC-GT\n", "line 2: bad character '-'"},
        {"midgt.fa", ">a\nAC>GT\n", "bad character '>'"},
        {"noname.fa", "> \nACGT\n", "record 1, line 1: header without a name"},
        {"cut.fa.gz", NULL, "truncated gzip stream"},
        {"missing.fa", NULL, "missing.fa: cannot open: No such file"},
        {"nomatch*.fa", NULL, "no file matches"},
    };
    void *h = make(0, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *c = cases[i].content;
        const char *p = c ? write_scratch(cases[i].name, c, strlen(c)) : spath(cases[i].name);
        struct drained d;
        drain(M, h, p, NULL, 0, &d);
        ok(d.status > 0 && strstr(d.err, cases[i].expect) != NULL, "malformed %s: %s",
           cases[i].name, d.err);
        drained_free(&d);
    }
    struct drained d;
    const char good[] = ">a\nACGT\n";
    drain(M, h, write_scratch("good.fa", good, sizeof good - 1), "header:([", 0, &d);
    ok(d.status == MK_MODALITY_ERR_INVALID && strstr(d.err, "bad regex"), "bad label regex: %s",
       d.err);
    drain(M, h, spath("good.fa"), "header:^zz", 0, &d);
    ok(d.status == MK_MODALITY_ERR_FORMAT && strstr(d.err, "does not match"),
       "a header the label regex does not match: %s", d.err);
    drained_free(&d);
    drain(M, h, spath("good.fa"), "species", 0, &d);
    ok(d.status == MK_MODALITY_ERR_INVALID && strstr(d.err, "unknown rule 'species'"),
       "unknown label rule: %s", d.err);
    M->destroy(h);

    static const struct mk_kv bad_opts[][1] = {
        {{"kase", "fold"}}, {{"case", "upper"}}, {{"rc_aug", "2"}}, {{"window", "-1"}},
        {{"stride", "5"}}, {{"add_eos", "maybe"}}};
    static const char *const expect[] = {
        "unknown option 'kase' (known: case, softmask_loss_weight", "'upper' is not one of fold|keep",
        "rc_aug: '2' is not a number in [0, 1]", "window: '-1' is not an integer",
        "stride needs a window", "add_eos: 'maybe' is not true or false"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        void *x = NULL;
        int st = M->create(bad_opts[i], 1, &x, err, sizeof err);
        ok(st == MK_MODALITY_ERR_INVALID && strstr(err, expect[i]), "bad option: %s", err);
    }
}

/* Random FASTA files (bases of both cases, IUPAC codes, CR, blanks, more records, now and
 * then a bad character): for every N policy, streamed chunks of 1..7 tokens must give the
 * same records and tokens as whole records, and the same error where there is one. */
static void test_random_files(void)
{
    static const char alpha[] = "ACGTacgtNnRy>\n\n\r \tX-";
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int same = 0, valid = 0;
    enum { FILES = 400 };
    for (int it = 0; it < FILES; it++) {
        char buf[400] = ">r\nG";
        int n = 4;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int len = (int)((x >> 33) % 300);
        for (int i = 0; i < len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            int k = (int)((x >> 33) % 18);
            if (k == 12 && ((x >> 40) % 8 || buf[n - 1] != '\n'))
                k = 0; /* a new record now and then, at a line start */
            if (it % 10 == 0 && i == len / 2)
                k = 18 + (it / 10) % 2; /* a bad character in one file of ten */
            buf[n++] = alpha[k];
        }
        const char *p = write_scratch("random.fa", buf, (size_t)n);
        static const char *const policy[] = {"token", "ignore", "skip", "split"};
        struct mk_kv kv[] = {{"n_policy", policy[it % 4]}, {"case", it % 3 ? "fold" : "keep"},
                             {"add_eos", it % 5 ? "false" : "true"}};
        void *h = make(3, kv);
        struct drained whole, chunked;
        drain(M, h, p, NULL, 0, &whole);
        drain(M, h, p, NULL, 1 + (size_t)(x >> 60) % 7, &chunked);
        valid += whole.status == MK_MODALITY_END;
        same += whole.status == chunked.status &&
                (whole.status != MK_MODALITY_END ||
                 (whole.n == chunked.n && strcmp(whole.ids, chunked.ids) == 0 &&
                  memcmp(whole.tok, chunked.tok, whole.n * sizeof(int32_t)) == 0 &&
                  memcmp(whole.w, chunked.w, whole.n * sizeof(float)) == 0));
        drained_free(&whole);
        drained_free(&chunked);
        M->destroy(h);
    }
    ok(same == FILES && valid > FILES / 2,
       "%d random FASTA files (%d valid): streamed chunks equal whole records", FILES, valid);
}

int main(void)
{
    M = mk_modality_builtin_dna();
    plan_lazy();
    test_mtdna_roundtrip();
    test_multi_record();
    test_windows_and_gz();
    test_labels();
    test_strands_and_writer();
    test_malformed();
    test_random_files();
    return exit_status();
}
