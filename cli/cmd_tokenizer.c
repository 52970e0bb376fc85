/* cmd_tokenizer.c — `mambakit tokenizer`: byte-level BPE tokenizers in Hugging Face's
 * tokenizer.json format (modalities/text/bpe.h).
 *
 *   mambakit tokenizer train --vocab-size N [--min-frequency K] --out tokenizer.json FILE...
 *   mambakit tokenizer encode --tokenizer tokenizer.json [--text STRING | FILE | -]
 *   mambakit tokenizer decode --tokenizer tokenizer.json [IDS... | -]
 *
 * train reads the files (paths or quoted globs; also given with --input) whole. encode prints
 * the ids comma-separated on one line (the form --ids of the other commands takes); decode
 * takes ids separated by commas or white space and writes the bytes they stand for.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_util.h"
#include "commands.h"
#include "common/modutil.h"
#include "text/bpe.h"

static const char usage_text[] =
    "Usage: mambakit tokenizer train --vocab-size N [--min-frequency K] --out FILE INPUT...\n"
    "       mambakit tokenizer encode --tokenizer FILE [--text STRING | INPUT | -]\n"
    "       mambakit tokenizer decode --tokenizer FILE [IDS... | -]\n"
    "Byte-level BPE tokenizers, saved and loaded as Hugging Face tokenizer.json (GPT-2 /\n"
    "GPT-NeoX style; the tokenizer.json of the released Mamba checkpoints loads).\n\n"
    "  -i, --input FILE        a training file or quoted glob (or give them after the options)\n"
    "  -v, --vocab-size N      tokens in the trained vocabulary (at least 258)\n"
    "  -m, --min-frequency K   stop when the best pair occurs fewer times (default 2)\n"
    "  -o, --out FILE          where train writes tokenizer.json (atomically)\n"
    "  -t, --tokenizer FILE    the tokenizer.json for encode and decode\n"
    "  -s, --text STRING       encode this string instead of a file\n"
    "  -h, --help              show this help\n";

struct args {
    const char *out, *tokenizer, *text;
    long vocab_size, min_frequency;
    const char **inputs;
    int n_inputs;
};

/* Status of a modality function: its message becomes the command's error. */
static int mod_error(const char *cmd, int st, const char *err)
{
    return mk_cli_error(cmd, mk_fail((mk_status)st, "%s", err));
}

static int do_train(const struct args *a)
{
    if (!a->out || a->vocab_size <= 0 || a->n_inputs == 0)
        return mk_cli_usage_error("tokenizer", "train needs --vocab-size, --out and input files");
    char err[1024];
    struct mk_bpe *b;
    int st = mk_bpe_train(&b, a->inputs, (size_t)a->n_inputs, (int32_t)a->vocab_size,
                          a->min_frequency, err, sizeof err);
    if (st)
        return mod_error("tokenizer", st, err);
    char *json;
    st = mk_bpe_to_json(b, &json, err, sizeof err);
    int32_t V = mk_bpe_vocab_size(b);
    mk_bpe_free(b);
    if (st)
        return mod_error("tokenizer", st, err);
    mk_status ms = mk_write_file_atomic(a->out, json, strlen(json));
    free(json);
    if (ms)
        return mk_cli_error("tokenizer", ms);
    fprintf(stderr, "mambakit tokenizer: %d tokens written to %s\n", (int)V, a->out);
    return 0;
}

/* The bytes to encode or the ids to decode: --text, a file, or standard input ("-"). */
static int read_input(const struct args *a, struct mk_bytes *in)
{
    char err[1024];
    if (a->text)
        return mk_bytes_append(in, a->text, strlen(a->text))
                   ? mod_error("tokenizer", MK_ERR_NOMEM, "out of memory")
                   : 0;
    if (a->n_inputs > 1)
        return mk_cli_usage_error("tokenizer", "one input at a time");
    const char *path = a->n_inputs ? a->inputs[0] : "-";
    if (strcmp(path, "-") != 0) {
        int st = mk_read_whole(path, in, err, sizeof err);
        return st ? mod_error("tokenizer", st, err) : 0;
    }
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, stdin)) > 0)
        if (mk_bytes_append(in, buf, k))
            return mod_error("tokenizer", MK_ERR_NOMEM, "out of memory");
    return 0;
}

static int do_encode(struct mk_bpe *b, const struct args *a)
{
    struct mk_bytes in = {0};
    int rc = read_input(a, &in);
    struct mk_ids ids = {0};
    if (!rc && mk_bpe_encode(b, in.p ? in.p : (const unsigned char *)"", in.n, &ids))
        rc = mod_error("tokenizer", MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < ids.n; i++)
        printf("%s%d", i ? "," : "", (int)ids.v[i]);
    if (!rc)
        printf("\n");
    free(in.p);
    free(ids.v);
    return rc;
}

static int do_decode(struct mk_bpe *b, const struct args *a)
{
    struct mk_bytes in = {0};
    int rc = 0;
    if (a->n_inputs == 0 || (a->n_inputs == 1 && strcmp(a->inputs[0], "-") == 0))
        rc = read_input(a, &in);
    for (int i = 0; !rc && (a->n_inputs > 1 || strcmp(a->inputs[0], "-") != 0) &&
                    i < a->n_inputs; i++)
        if (mk_bytes_append(&in, a->inputs[i], strlen(a->inputs[i])) ||
            mk_bytes_append(&in, " ", 1))
            rc = mod_error("tokenizer", MK_ERR_NOMEM, "out of memory");
    if (!rc && mk_bytes_append(&in, "", 1))
        rc = mod_error("tokenizer", MK_ERR_NOMEM, "out of memory");
    struct mk_ids ids = {0};
    for (char *tok = rc ? NULL : strtok((char *)in.p, ", \t\r\n"); tok && !rc;
         tok = strtok(NULL, ", \t\r\n")) {
        long v;
        if (mk_cli_parse_long("ids", tok, 0, INT32_MAX, &v))
            rc = mk_cli_error("tokenizer", MK_ERR_INVALID);
        else if (mk_grow((void **)&ids.v, &ids.cap, ids.n + 1, sizeof(int32_t)))
            rc = mod_error("tokenizer", MK_ERR_NOMEM, "out of memory");
        else
            ids.v[ids.n++] = (int32_t)v;
    }
    struct mk_bytes out = {0};
    int d = rc ? 0 : mk_bpe_decode(b, ids.v, ids.n, 0, &out);
    if (d)
        rc = mk_cli_error("tokenizer", mk_fail(d > 0 ? MK_ERR_INVALID : MK_ERR_NOMEM,
                                               d > 0 ? "an id is outside the vocabulary [0, %d)"
                                                     : "out of memory",
                                               (int)mk_bpe_vocab_size(b)));
    if (!rc && out.n && fwrite(out.p, 1, out.n, stdout) != out.n)
        rc = mk_cli_error("tokenizer", mk_fail(MK_ERR_IO, "standard output: write failed"));
    free(in.p);
    free(ids.v);
    free(out.p);
    return rc;
}

int mk_cmd_tokenizer(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},     {"vocab-size", required_argument, NULL, 'v'},
        {"min-frequency", required_argument, NULL, 'm'}, {"out", required_argument, NULL, 'o'},
        {"tokenizer", required_argument, NULL, 't'}, {"text", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    struct args a = {.min_frequency = 2};
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs)
        return mk_cli_error("tokenizer", MK_ERR_NOMEM);
    a.inputs = inputs;
    int c, rc = -1;
    optind = 1;
    while (rc < 0 && (c = getopt_long(argc, argv, "i:v:m:o:t:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': inputs[a.n_inputs++] = optarg; break;
        case 'v':
            if (mk_cli_parse_long("--vocab-size", optarg, 1, INT32_MAX, &a.vocab_size))
                rc = mk_cli_error("tokenizer", MK_ERR_INVALID);
            break;
        case 'm':
            if (mk_cli_parse_long("--min-frequency", optarg, 0, INT32_MAX, &a.min_frequency))
                rc = mk_cli_error("tokenizer", MK_ERR_INVALID);
            break;
        case 'o': a.out = optarg; break;
        case 't': a.tokenizer = optarg; break;
        case 's': a.text = optarg; break;
        case 'h': fputs(usage_text, stdout); rc = 0; break;
        default: rc = mk_cli_usage_error("tokenizer", "unknown option");
        }
    }
    const char *action = rc < 0 && optind < argc ? argv[optind++] : NULL;
    while (rc < 0 && optind < argc)
        inputs[a.n_inputs++] = argv[optind++];
    if (rc < 0 && !action)
        rc = mk_cli_usage_error("tokenizer", "say train, encode or decode");
    else if (rc < 0 && strcmp(action, "train") == 0)
        rc = do_train(&a);
    else if (rc < 0 && strcmp(action, "encode") != 0 && strcmp(action, "decode") != 0)
        rc = mk_cli_usage_error("tokenizer", "unknown action '%s' (train, encode, decode)", action);
    else if (rc < 0 && !a.tokenizer)
        rc = mk_cli_usage_error("tokenizer", "%s needs --tokenizer FILE", action);
    if (rc < 0) {
        char err[1024];
        struct mk_bpe *b;
        int st = mk_bpe_load(&b, a.tokenizer, err, sizeof err);
        rc = st                               ? mod_error("tokenizer", st, err)
             : strcmp(action, "encode") == 0 ? do_encode(b, &a)
                                              : do_decode(b, &a);
        if (!st)
            mk_bpe_free(b);
    }
    free(inputs);
    return rc;
}
