/* rdb_text.c — the character vectors of an R lazy-load database (.rdb) as plain UTF-8 text,
 * without R: how data/fetch_debian.sh gets the books of the r-cran-janeaustenr and
 * r-cran-tokenizers packages. Independent of mambakit (C99 + zlib).
 *
 *   rdb_text FILE.rdb            lists the records: index, strings, first string (cut)
 *   rdb_text FILE.rdb INDEX      writes record INDEX's strings to stdout, each + "\n"
 *
 * The format (R's serialize.c, lazyLoadDBinsertValue with compress = TRUE):
 *   .rdb     records back to back; the names of the objects and their (offset, length)
 *            are in the companion .rdx, not read here: a record is picked by its index in
 *            file order (the order of the .rdx: alphabetical for package data).
 *   record   uint32 big-endian n, then a zlib stream that inflates to exactly n bytes.
 *            (compress = 2 or 3, bzip2 or xz, put a type byte 'Z'|'2'|'X' after n: refused.)
 *   inflated R's XDR serialization: "X\n"; int32 version (2 or 3); int32 writer's R version;
 *            int32 oldest reader version; version 3 only: int32 k + k bytes (the native
 *            encoding's name). Then one object. All integers are 32-bit big-endian.
 *   object   int32 flags: type = flags & 0xff, bit 9 = attributes follow the data.
 *            STRSXP (16): int32 count (-1: a long count follows as two int32, high and low
 *            halves), then count CHARSXP (9) records: int32 flags, whose bits 12 and up
 *            are the encoding (4 LATIN1, 8 UTF8, 64 ASCII, 2 BYTES, else native), then
 *            int32 length (-1: NA, written as an empty line) and length bytes.
 *            Attributes (a names pairlist) come after the last string; they are ignored.
 * LATIN1 strings are converted to UTF-8 (byte b >= 0x80 -> 0xC0 | b >> 6, 0x80 | b & 0x3F);
 * the others are copied as they are. Any other layout is an error naming the record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { STRSXP = 16, CHARSXP = 9, LATIN1_MASK = 4 };

static const char *rdb_path;

static void die(long record, size_t offset, const char *what)
{
    if (record < 0)
        fprintf(stderr, "rdb_text: %s: %s\n", rdb_path, what);
    else
        fprintf(stderr, "rdb_text: %s: record %ld (at byte %zu): %s\n", rdb_path, record,
                offset, what);
    exit(1);
}

/* A cursor over one inflated record, failing with the record's name when it runs out. */
struct cursor {
    const unsigned char *p;
    size_t len, pos;
    long record;
    size_t offset;
};

static const unsigned char *take(struct cursor *c, size_t n, const char *what)
{
    if (c->len - c->pos < n) {
        char msg[160];
        snprintf(msg, sizeof msg, "the serialized object ends inside %s (byte %zu of %zu)",
                 what, c->pos, c->len);
        die(c->record, c->offset, msg);
    }
    c->pos += n;
    return c->p + c->pos - n;
}

static int32_t int32_be(struct cursor *c, const char *what)
{
    const unsigned char *b = take(c, 4, what);
    return (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
}

/* Inflates the record at byte *offset of the file; advances *offset past it. */
static unsigned char *inflate_record(const unsigned char *file, size_t size, size_t *offset,
                                     long record, size_t *out_len)
{
    const size_t start = *offset;
    if (size - start < 6)
        die(record, start, "fewer than 6 bytes left: expected a 4-byte length and a zlib stream "
            "(a truncated file?)");
    const unsigned char *h = file + start;
    const uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (h[4] == 'Z' || h[4] == '2' || h[4] == 'X' || h[4] == '0')
        die(record, start, "a type byte follows the length (bzip2/xz/uncompressed record, R "
            "compress = 2 or 3): only zlib records are read");
    /* a zlib header: CMF 0x78 (deflate, 32 KiB window) and (CMF·256 + FLG) % 31 == 0 */
    if (h[4] != 0x78 || ((unsigned)h[4] << 8 | h[5]) % 31 != 0)
        die(record, start, "no zlib stream after the 4-byte length (not an R lazy-load "
            "database?)");
    unsigned char *out = malloc(n ? n : 1);
    if (!out)
        die(record, start, "out of memory");
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        die(record, start, "zlib initialisation failed");
    z.next_in = (unsigned char *)(uintptr_t)(h + 4);
    z.avail_in = (uInt)(size - start - 4 > UINT32_MAX ? UINT32_MAX : size - start - 4);
    z.next_out = out;
    z.avail_out = n;
    const int rc = inflate(&z, Z_FINISH);
    const size_t used = z.total_in, got = z.total_out;
    inflateEnd(&z);
    if (rc == Z_BUF_ERROR && got == n)
        die(record, start, "the zlib stream inflates to more bytes than its header says");
    if (rc != Z_STREAM_END) {
        char msg[200];
        snprintf(msg, sizeof msg, "the zlib stream %s: %zu of the %u bytes its header "
                 "promises (%s)", rc == Z_BUF_ERROR ? "ends early" : "is corrupt", got, n,
                 rc == Z_BUF_ERROR ? "a truncated file?" : "not an R lazy-load database?");
        die(record, start, msg);
    }
    if (got != n)
        die(record, start, "the zlib stream inflates to fewer bytes than its header says");
    *offset = start + 4 + used;
    *out_len = n;
    return out;
}

/* Reads the serialization header and the STRSXP header; returns the number of strings. */
static int64_t open_strings(struct cursor *c)
{
    const unsigned char *magic = take(c, 2, "the format mark");
    if (magic[0] != 'X' || magic[1] != '\n')
        die(c->record, c->offset, "not R's XDR serialization (expected \"X\\n\"; ascii or "
            "native-binary saves are not read)");
    const int32_t version = int32_be(c, "the version");
    if (version != 2 && version != 3)
        die(c->record, c->offset, "serialization version is neither 2 nor 3");
    int32_be(c, "the writer's version");
    int32_be(c, "the reader's version");
    if (version == 3) {
        const int32_t k = int32_be(c, "the encoding name's length");
        if (k < 0 || k > 64)
            die(c->record, c->offset, "bad native-encoding name length");
        take(c, (size_t)k, "the encoding name");
    }
    const int32_t flags = int32_be(c, "the object's flags");
    if ((flags & 0xff) != STRSXP) {
        char msg[120];
        snprintf(msg, sizeof msg, "the object is of R type %d, expected a character vector "
                 "(STRSXP, 16)", flags & 0xff);
        die(c->record, c->offset, msg);
    }
    int64_t count = int32_be(c, "the vector length");
    if (count == -1) {
        const int64_t high = int32_be(c, "a long vector length");
        count = high << 32 | (uint32_t)int32_be(c, "a long vector length");
    }
    if (count < 0)
        die(c->record, c->offset, "negative vector length");
    return count;
}

/* One CHARSXP; writes it (Latin-1 made UTF-8) and a newline to out when out is not NULL,
 * else returns its bytes in *text (not converted) for the listing. */
static void read_string(struct cursor *c, FILE *out, const unsigned char **text, int32_t *len)
{
    const int32_t flags = int32_be(c, "a string's flags");
    if ((flags & 0xff) != CHARSXP)
        die(c->record, c->offset, "a vector element is not a string (CHARSXP, 9)");
    int32_t n = int32_be(c, "a string's length");
    if (n < -1)
        die(c->record, c->offset, "negative string length");
    const unsigned char *s = n > 0 ? take(c, (size_t)n, "a string") : c->p;
    n = n < 0 ? 0 : n;
    if (text) {
        *text = s;
        *len = n;
        return;
    }
    const int latin1 = (flags >> 12) & LATIN1_MASK;
    for (int32_t i = 0; i < n; i++) {
        if (latin1 && s[i] >= 0x80) {
            putc(0xC0 | s[i] >> 6, out);
            putc(0x80 | (s[i] & 0x3F), out);
        } else {
            putc(s[i], out);
        }
    }
    putc('\n', out);
}

static unsigned char *read_file(size_t *size)
{
    FILE *f = fopen(rdb_path, "rb");
    if (!f) {
        perror(rdb_path);
        exit(1);
    }
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            cap *= 2;
            unsigned char *bigger = realloc(buf, cap);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    if (!buf || ferror(f))
        die(-1, 0, buf ? "read error" : "out of memory");
    fclose(f);
    if (n == 0)
        die(-1, 0, "empty file: expected an R lazy-load database (.rdb)");
    *size = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: rdb_text FILE.rdb [INDEX]\n"
                "Lists the character vectors of an R lazy-load database, or writes the one "
                "at INDEX\n(0-based, in file order) as UTF-8 text, one string per line.\n");
        return argc == 2 ? 0 : 2;
    }
    rdb_path = argv[1];
    long want = -1;
    if (argc == 3) {
        char *end;
        want = strtol(argv[2], &end, 10);
        if (*end || want < 0) {
            fprintf(stderr, "rdb_text: INDEX must be a record number >= 0, not '%s'\n", argv[2]);
            return 2;
        }
    }
    size_t size, offset = 0;
    unsigned char *file = read_file(&size);
    long record = 0;
    for (; offset < size; record++) {
        const size_t start = offset;
        size_t len;
        unsigned char *obj = inflate_record(file, size, &offset, record, &len);
        if (want < 0 || record == want) {
            struct cursor c = {obj, len, 0, record, start};
            const int64_t count = open_strings(&c);
            if (want < 0) {
                const unsigned char *first = NULL;
                int32_t first_len = 0;
                if (count > 0)
                    read_string(&c, NULL, &first, &first_len);
                int shown = 0; /* up to 60 bytes of the first line */
                while (shown < first_len && shown < 60 && first[shown] != '\n' &&
                       first[shown] != '\r')
                    shown++;
                printf("%ld\t%lld\t%.*s\n", record, (long long)count, shown,
                       first ? (const char *)first : "");
            } else {
                for (int64_t i = 0; i < count; i++)
                    read_string(&c, stdout, NULL, NULL);
                free(obj);
                free(file);
                return fflush(stdout) == 0 ? 0 : 1;
            }
        }
        free(obj);
    }
    free(file);
    if (want >= 0) {
        fprintf(stderr, "rdb_text: %s: no record %ld (the file has %ld)\n", rdb_path, want,
                record);
        return 1;
    }
    return 0;
}
