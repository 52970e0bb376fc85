/* test_plugins.c — the modality plugin loader (lib/plugin.c): built-ins, modules found
 * through $MAMBAKIT_PLUGIN_PATH (the build's plugins/.libs), the broken modules of
 * tests/plugins/ refused with messages naming the file and both versions, the listing, the
 * mk_codec / mk_reader layer, and the out-of-tree example plugin built by its own Makefile
 * through pkg-config against the plugin header alone.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "plugin.h"
#include "tap.h"
#include "test_modhelp.h"

static char builddir[2048], srcdir[2048];

static const char *bpath(const char *rel)
{
    static char b[4][4200];
    static int k;
    char *p = b[k++ & 3];
    snprintf(p, sizeof b[0], "%s/%s", builddir, rel);
    return p;
}

static void test_builtin_and_module(void)
{
    unsetenv("MAMBAKIT_PLUGIN_PATH");
    struct mk_plugin *p;
    mk_status st = mk_plugin_load(&p, "dna");
    ok(st == MK_OK && p->origin == MK_PLUGIN_BUILTIN && strcmp(p->m.name, "dna") == 0,
       "dna is built in");
    mk_plugin_unload(p);

    setenv("MAMBAKIT_PLUGIN_PATH", bpath("plugins/.libs"), 1);
    st = mk_plugin_load(&p, "dna");
    ok(st == MK_OK && p->origin == MK_PLUGIN_ENV && strstr(p->path, "plugins/.libs/dna.so"),
       "$MAMBAKIT_PLUGIN_PATH comes first: dna from %s %s", st ? mk_last_error() : p->path,
       "");
    if (!st) {
        ok(dlsym(p->dl, MK_MODALITY_ENTRY_SYMBOL) && !dlsym(p->dl, "mk_dna_create") &&
               !dlsym(p->dl, "mk_chunker_next"),
           "the module exports its entry point and hides everything else");
        mk_plugin_unload(p);
    } else {
        ok(0, "module loaded");
    }

    /* a FASTA read through the module and through the built-in give the same tokens */
    const char fa[] = ">x\nACGTNacgt\n";
    const char *src = write_scratch("x.fa", fa, sizeof fa - 1);
    int32_t got[2][16];
    size_t n[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        if (k == 1)
            unsetenv("MAMBAKIT_PLUGIN_PATH");
        struct mk_codec *c;
        struct mk_reader *r;
        struct mk_record rec;
        int end = 0;
        if (mk_codec_open(&c, "dna", NULL, 0) || mk_reader_open(&r, c, src, NULL, 0))
            bail_out("%s", mk_last_error());
        while (mk_reader_next(r, &rec, &end) == MK_OK && !end)
            for (size_t i = 0; i < rec.n && n[k] < 16; i++)
                got[k][n[k]++] = rec.tokens[i];
        mk_reader_close(r);
        mk_codec_close(c);
    }
    ok(n[0] == 9 && n[1] == 9 && memcmp(got[0], got[1], sizeof(int32_t) * 9) == 0,
       "module and built-in read the same tokens");
}

static void test_refusals(void)
{
    struct refusal {
        const char *file;
        mk_status st;
        const char *expect[3];
    } cases[] = {
        {"tests/plugins/.libs/badabi.so", MK_ERR_UNSUPPORTED,
         {"badabi.so: wrong ABI version (plugin ABI 2.0; this mambakit", "loads ABI 1.x (1.0)",
          "rebuild"}},
        {"tests/plugins/.libs/badsize.so", MK_ERR_FORMAT,
         {"badsize.so: bad descriptor: struct_size 16 is smaller than",
          "(plugin ABI 1.0; this mambakit", "loads ABI 1.x (1.0)"}},
        {"tests/plugins/.libs/noentry.so", MK_ERR_FORMAT,
         {"noentry.so: not a mambakit plugin: it exports no mk_modality_entry()",
          "loads ABI 1.x (1.0)", NULL}},
        {"tests/plugins/.libs/nowrite.so", MK_ERR_FORMAT,
         {"nowrite.so: bad descriptor: it has no write() (plugin ABI 1.0; this mambakit",
          "loads ABI 1.x (1.0)", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mk_plugin *p = NULL;
        mk_status st = mk_plugin_load(&p, bpath(cases[i].file));
        const char *e = mk_last_error();
        int good = st == cases[i].st && !p;
        for (int k = 0; k < 3 && cases[i].expect[k]; k++)
            good = good && strstr(e, cases[i].expect[k]);
        ok(good, "refused: %s", e);
    }
    struct mk_plugin *q = NULL;
    mk_status fs = mk_plugin_load(&q, bpath("tests/plugins/.libs/future.so"));
    ok(fs == MK_OK && strcmp(q->m.name, "future") == 0 && q->m.augment,
       "a plugin of a newer minor ABI (1.9, longer descriptor) loads: %s",
       fs ? mk_last_error() : "ok");
    mk_plugin_unload(q);
    fs = mk_plugin_load(&q, bpath("tests/plugins/.libs/old.so"));
    ok(fs == MK_OK && q->m.write && !q->m.augment && !q->m.reverse_complement,
       "a descriptor ending before the optional hooks loads with them NULL: %s",
       fs ? mk_last_error() : "ok");
    mk_plugin_unload(q);
    const char junk[] = "not an ELF file\n";
    struct mk_plugin *p = NULL;
    mk_status st = mk_plugin_load(&p, write_scratch("junk.so", junk, sizeof junk - 1));
    ok(st == MK_ERR_IO && strstr(mk_last_error(), "junk.so: cannot load the plugin"),
       "refused: %s", mk_last_error());

    setenv("MAMBAKIT_PLUGIN_PATH", bpath("tests/plugins/.libs"), 1);
    st = mk_plugin_load(&p, "misnamed");
    ok(st == MK_ERR_FORMAT &&
           strstr(mk_last_error(), "misnamed.so: the file is named misnamed but its modality is "
                                   "'other'"),
       "refused: %s", mk_last_error());
    st = mk_plugin_load(&p, "nosuch");
    ok(st == MK_ERR_INVALID && strstr(mk_last_error(), "no modality plugin 'nosuch'"),
       "unknown name: %s", mk_last_error());
    st = mk_plugin_load(&p, "Bad Name");
    ok(st == MK_ERR_INVALID && strstr(mk_last_error(), "not a plugin name"), "bad name: %s",
       mk_last_error());

    struct mk_plugin_info *list;
    size_t n;
    st = mk_plugin_list(&list, &n);
    int refused = 0, builtin_dna = 0;
    for (size_t i = 0; !st && i < n; i++) {
        refused += list[i].error[0] != 0;
        builtin_dna += list[i].origin == MK_PLUGIN_BUILTIN && !strcmp(list[i].name, "dna") &&
                       !list[i].shadowed;
    }
    ok(st == MK_OK && refused == 5 && builtin_dna == 1,
       "the listing shows the built-ins and the 5 refused files (%d)", refused);
    free(list);
    unsetenv("MAMBAKIT_PLUGIN_PATH");
}

static void test_codec(void)
{
    struct mk_codec *c;
    struct mk_kv bad[] = {{"n_policy", "drop"}};
    mk_status st = mk_codec_open(&c, "dna", bad, 1);
    ok(st == MK_ERR_INVALID && strstr(mk_last_error(), "n_policy: 'drop' is not one of"),
       "a bad option is refused with the plugin's message: %s", mk_last_error());
    struct mk_kv good[] = {{"line_width", "3"}};
    if (mk_codec_open(&c, "dna", good, 1))
        bail_out("%s", mk_last_error());
    int32_t toks[] = {3, 4, 5, 6, 7};
    const char *out = spath("gen.fasta");
    st = mk_codec_write_file(c, out, toks, 5, "g1");
    unsigned char *data;
    size_t len;
    slurp(out, &data, &len);
    ok(st == MK_OK && len == 11 && memcmp(data, ">g1\nACG\nTN\n", 11) == 0,
       "mk_codec_write_file writes the FASTA atomically");
    free(data);
    ok(mk_codec_vocab_size(c) == 8 && mk_codec_special(c, MK_TOKEN_EOS) == 2,
       "vocabulary through the codec");
    int32_t strand[] = {3, 3, 4}; /* A A C -> G T T */
    st = mk_codec_reverse_complement(c, strand, NULL, 3);
    mk_codec_augment(c, strand, NULL, 3, 0); /* rc_aug 0: never */
    struct mk_codec *text;
    mk_status ts = mk_codec_open(&text, "text", NULL, 0);
    ts = ts ? ts : mk_codec_reverse_complement(text, strand, NULL, 3);
    ok(st == MK_OK && strand[0] == 5 && strand[1] == 6 && strand[2] == 6 &&
           ts == MK_ERR_UNSUPPORTED && strstr(mk_last_error(), "text modality has no reverse"),
       "strand hooks through the codec: DNA flips, text has none");
    mk_codec_close(text);
    struct mk_reader *r;
    const char notfa[] = "hello\n";
    st = mk_reader_open(&r, c, write_scratch("hello.fa", notfa, sizeof notfa - 1), NULL, 0);
    struct mk_record rec;
    int end = 0;
    st = st ? st : mk_reader_next(r, &rec, &end);
    ok(st == MK_ERR_FORMAT && strstr(mk_last_error(), "hello.fa: line 1: not a FASTA file"),
       "reader errors become mk_status + mk_last_error: %s", mk_last_error());
    mk_reader_close(r);
    mk_codec_close(c);
}

/* Builds plugins/example with its own Makefile against a mambakit.pc that points at the
 * source tree's plugin header, as an installed mambakit's would at the installed one. */
static void test_example(void)
{
    char cmd[8192];
    const char *pc = spath("pc");
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && printf 'prefix=/usr\\nincludedir=%s/plugins\\nplugindir=/nowhere\\n"
             "Name: mambakit\\nDescription: x\\nVersion: 0\\nCflags: -I${includedir}\\n' > "
             "'%s/mambakit.pc' && cp -r '%s/plugins/example' '%s/' && "
             "PKG_CONFIG_PATH='%s' make -s -C '%s/example' >'%s/make.log' 2>&1",
             pc, srcdir, pc, srcdir, scratch(), pc, scratch(), scratch());
    if (system("command -v make >/dev/null && command -v pkg-config >/dev/null && "
               "command -v cc >/dev/null") != 0) {
        ok(1, "# SKIP make, pkg-config or cc missing: example plugin not built");
        return;
    }
    int rc = system(cmd);
    ok(rc == 0, "plugins/example builds with its Makefile and pkg-config mambakit");
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "sed 's/^/# /' '%s/make.log'", scratch());
        rc = system(cmd);
        return;
    }
    setenv("MAMBAKIT_PLUGIN_PATH", spath("example"), 1);
    struct mk_codec *c;
    struct mk_kv kv[] = {{"add_eos", "true"}};
    mk_status st = mk_codec_open(&c, "protein", kv, 1);
    ok(st == MK_OK && c->plugin->origin == MK_PLUGIN_ENV, "the example loads by name: %s",
       st ? mk_last_error() : "protein");
    if (st)
        return;
    const char seqs[] = "MKTAYIAK\n\nGAVLX\n";
    struct mk_reader *r;
    struct mk_record rec;
    int end = 0;
    size_t total = 0, recs = 0;
    st = mk_reader_open(&r, c, write_scratch("p.txt", seqs, sizeof seqs - 1), NULL, 4);
    while (!st && !(st = mk_reader_next(r, &rec, &end)) && !end) {
        total += rec.n;
        recs += rec.last;
    }
    mk_reader_close(r);
    unsigned char *data;
    size_t len;
    int32_t back[] = {1, 14, 23, 2};
    mk_status ws = mk_codec_encode(c, back, 4, "x", &data, &len);
    ok(st == MK_OK && recs == 2 && total == 8 + 1 + 5 + 1 && ws == MK_OK && len == 3 &&
           memcmp(data, "MY\n", 3) == 0,
       "the example reads records in chunks and writes sequences");
    free(data);
    mk_codec_close(c);
    unsetenv("MAMBAKIT_PLUGIN_PATH");
}

int main(void)
{
    snprintf(builddir, sizeof builddir, "%s", getenv("MK_BUILDDIR") ? getenv("MK_BUILDDIR") : ".");
    snprintf(srcdir, sizeof srcdir, "%s", getenv("MK_SRCDIR") ? getenv("MK_SRCDIR") : ".");
    plan_lazy();
    test_builtin_and_module();
    test_refusals();
    test_codec();
    test_example();
    return exit_status();
}
