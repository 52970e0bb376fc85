/* test_task_classify.c — classification fine-tuning and the classify task, through recipes,
 * on a small real task: which strand of the human mitochondrial genome a 256-base window
 * comes from. The L strand (tests/data/dna/MT-human.fa.gz as it is) is rich in C and poor
 * in G (about 31% C, 13% G), its reverse complement (the H strand) the opposite, so the
 * classes are separable from composition and a small model learns them in a few seconds.
 * The genome is cut into 4096-base pieces, written as records MT-L:K to DIR/strand/L/ and
 * their reverse complements MT-H:K to DIR/strand/H/ (labels: dir) through the dna plugin;
 * data.split.by region holds out the last 30% of every record for the test split, so both
 * classes are tested on the same parts of the genome. (Holding out the end of one whole
 * record per strand would test the L strand on the D-loop end and the H strand on the rRNA
 * end, where the skew is weaker: about 90% there.)
 *   train:    objective classify; accuracy on the held-out test windows > 95%;
 *   classify: predictions.tsv (header, one row per window, probabilities summing to 1,
 *             predicted = argmax), classify.json (accuracy, 2x2 confusion matrix adding up
 *             to the rows), and JSON lines when task.predictions ends in .jsonl.
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include "plugin.h"
#include "test_task.h"

static char fasta[4096], dir[64];

enum { PIECE = 4096 };

/* Appends one FASTA record to f through the plugin's writer. */
static mk_status put_record(FILE *f, const struct mk_codec *c, const int32_t *tok, size_t n,
                            const char *id)
{
    unsigned char *data = NULL;
    size_t len = 0;
    mk_status st = mk_codec_encode(c, tok, n, id, &data, &len);
    if (st == MK_OK && fwrite(data, 1, len, f) != len)
        st = mk_fail(MK_ERR_IO, "cannot write the strand files");
    free(data);
    return st;
}

/* Writes the pieces of both strands: L as read, H as each piece's reverse complement. */
static mk_status write_strands(const struct mk_codec *c, int32_t *tok, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "mkdir -p %s/strand/L %s/strand/H", dir, dir);
    if (system(path) != 0)
        return mk_fail(MK_ERR_IO, "cannot make %s", dir);
    FILE *f[2];
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/strand/%s/mt.fasta", dir, s ? "H" : "L");
        f[s] = fopen(path, "w");
    }
    mk_status st = f[0] && f[1] ? MK_OK : mk_fail(MK_ERR_IO, "cannot write in %s", dir);
    for (size_t at = 0; st == MK_OK && at < n; at += PIECE) {
        const size_t len = n - at < PIECE ? n - at : PIECE;
        char id[32];
        snprintf(id, sizeof id, "MT-L:%zu", at / PIECE + 1);
        st = put_record(f[0], c, tok + at, len, id);
        if (st == MK_OK)
            st = mk_codec_reverse_complement(c, tok + at, NULL, len);
        id[3] = 'H';
        if (st == MK_OK)
            st = put_record(f[1], c, tok + at, len, id);
    }
    for (int s = 0; s < 2; s++)
        if (f[s])
            fclose(f[s]);
    return st;
}

/* Reads the fixture and writes both strands. */
static mk_status make_strands(void)
{
    struct mk_codec *c = NULL;
    struct mk_reader *rd = NULL;
    struct mk_record rec;
    int end = 0;
    int32_t *tok = NULL;
    size_t n = 0;
    mk_status st = mk_codec_open(&c, "dna", NULL, 0);
    if (st == MK_OK)
        st = mk_reader_open(&rd, c, fasta, NULL, 1 << 20);
    while (st == MK_OK && (st = mk_reader_next(rd, &rec, &end)) == MK_OK && !end) {
        int32_t *t = realloc(tok, (n + rec.n) * sizeof *t);
        if (!t)
            st = mk_fail(MK_ERR_NOMEM, "out of memory");
        else
            memcpy((tok = t) + n, rec.tokens, rec.n * sizeof *t);
        n += rec.n;
    }
    if (st == MK_OK)
        st = write_strands(c, tok, n);
    if (rd)
        mk_reader_close(rd);
    mk_codec_close(c);
    free(tok);
    return st;
}

static mk_status run(const char *model, const char *task, const char *out)
{
    char text[4096];
    snprintf(text, sizeof text,
             "version: 1\nmodel: %s\n"
             "data: {plugin: dna, train: {paths: [\"%s/strand/*/mt.fasta\"], labels: dir}, "
             "split: {by: region, ratio: [0.6, 0.1, 0.3]}, seq_len: 256, micro_batch: 8}\n"
             "task: %s\nrun: {out: \"%s/%s\", seed: 2, device: cpu, threads: 1, "
             "log: {progress: none}}\n", model, dir, task, dir, out);
    return run_recipe(text, NULL, NULL);
}

/* Checks predictions.tsv: header, n rows of id, label, predicted, p_H, p_L. */
static int check_tsv(const char *path, long n)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int good = f && fgets(line, sizeof line, f) && !strcmp(line, "id\tlabel\tpredicted\tp_H\tp_L\n");
    long rows = 0;
    while (good && fgets(line, sizeof line, f)) {
        char id[64], label[8], pred[8];
        double pH, pL;
        good = sscanf(line, "%63[^\t]\t%7[^\t]\t%7[^\t]\t%lf\t%lf", id, label, pred, &pH, &pL) == 5 &&
               fabs(pH + pL - 1) < 1e-4 && !strcmp(pred, pH > pL ? "H" : "L") &&
               !strncmp(id, "MT-", 3) && label[0] == id[3] && !label[1];
        rows++;
    }
    if (f)
        fclose(f);
    if (rows != n)
        diag("%s: %ld rows, expected %ld", path, rows, n);
    return good && rows == n;
}

static int check_jsonl(const char *path, long n)
{
    FILE *f = fopen(path, "r");
    char line[512];
    long rows = 0;
    int good = f != NULL;
    while (good && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *p = json_object_get(j, "probs");
        good = j && json_is_string(json_object_get(j, "id")) &&
               json_is_string(json_object_get(j, "predicted")) && json_array_size(p) == 2;
        json_decref(j);
        rows++;
    }
    if (f)
        fclose(f);
    return good && rows == n;
}

static void test_classify(void)
{
    char model[256], path[256];
    snprintf(model, sizeof model, "{from: \"%s/cls/last\"}", dir);
    ok(run(model, "{kind: classify, split: test}", "out") == MK_OK, "classify the test split");
    snprintf(path, sizeof path, "%s/out", dir);
    json_t *j = read_json(path, "classify.json");
    const double acc = json_number_value(json_object_get(j, "accuracy"));
    const long n = (long)json_integer_value(json_object_get(j, "n"));
    diag("test accuracy %.4f over %ld windows", acc, n);
    ok(acc > 0.95, "fine-tuning learnt the strands: accuracy > 95%% on held-out windows");
    json_t *conf = json_object_get(j, "confusion");
    long sum = 0, hits = 0;
    for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 2; b++) {
            long v = (long)json_integer_value(json_array_get(json_array_get(conf, a), b));
            sum += v;
            hits += a == b ? v : 0;
        }
    ok(json_array_size(conf) == 2 && sum == n && n > 0 && fabs((double)hits / n - acc) < 1e-6 &&
       !strcmp(json_string_value(json_array_get(json_object_get(j, "labels"), 0)), "H"),
       "classify.json: labels [H, L] and a confusion matrix that adds up to the accuracy");
    json_decref(j);
    snprintf(path, sizeof path, "%s/out/predictions.tsv", dir);
    ok(check_tsv(path, n), "predictions.tsv: header and one consistent row per window");
    char task[512];
    snprintf(task, sizeof task, "{kind: classify, split: test, predictions: \"%s/p.jsonl\"}",
             dir);
    snprintf(path, sizeof path, "%s/p.jsonl", dir);
    ok(run(model, task, "out2") == MK_OK && check_jsonl(path, n),
       "task.predictions ending in .jsonl gives one JSON object per window");
}

int main(void)
{
    const char *src = getenv("MK_SRCDIR") ? getenv("MK_SRCDIR") : ".";
    snprintf(fasta, sizeof fasta, "%s/tests/data/dna/MT-human.fa.gz", src);
    snprintf(dir, sizeof dir, "/tmp/mk-task-cls.%d", (int)getpid());
    plan(7);
    ok(make_strands() == MK_OK, "wrote the L strand and its reverse complement (H)");
    ok(run("{d_model: 32, n_layer: 2}",
           "{objective: classify, max_steps: 200, optimizer: {lr: 5.0e-3}, "
           "schedule: {warmup: 10}}", "cls") == MK_OK, "fine-tune a classifier for 200 steps");
    test_classify();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return exit_status();
}
