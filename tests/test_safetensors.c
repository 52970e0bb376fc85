/* test_safetensors.c — the safetensors reader/writer (lib/safetensors.c) and the 16-bit float
 * conversions.
 *
 *  - the golden files written by the Python library read back and re-serialize to the
 *    identical bytes, and mk_st_sort_canonical reproduces their tensor order;
 *  - a header with every dtype, odd names, a scalar, an empty tensor and two metadata keys is
 *    byte-identical to the Python library's output (captured from safetensors 0.8);
 *  - fp16 / bf16 conversion: known bit patterns (ties to even, subnormals, overflow, NaN),
 *    every 16-bit pattern round-trips, random floats round to the nearest value;
 *  - a table of malformed files, each refused with a message naming the file and the problem;
 *  - a deterministic mutation fuzz loop (MK_FUZZ_ITERS, default 3000) that must never crash.
 */
#include "ckpt_util.h"
#include <math.h>
#include <stdint.h>

/* ---- golden round trips ----------------------------------------------------------------- */

static void golden_round_trip(const char *file, const char *dir)
{
    char path[512], out[512];
    struct mk_st_file f;
    unsigned char *raw, *ser, *back;
    size_t raw_len, ser_len, back_len;
    golden(path, sizeof path, file);
    const char *base = strrchr(file, '/') + 1;
    if (mk_read_file(path, &raw, &raw_len) != MK_OK || mk_st_open(&f, path) != MK_OK)
        bail_out("%s", mk_last_error());
    ok(f.n > 0, "%s: opens, %d tensors", file, f.n);

    struct mk_st_entry *e = entries_of(&f);
    mk_status st = mk_st_serialize(e, f.n, f.meta, f.n_meta, &ser, &ser_len);
    ok(st == MK_OK && ser_len == raw_len && memcmp(ser, raw, raw_len) == 0,
       "%s: re-serialized bytes are identical (%zu bytes)", file, raw_len);

    /* reversed, then sorted: the canonical order is the Python library's */
    for (int i = 0; i < f.n / 2; i++) {
        struct mk_st_entry tmp = e[i];
        e[i] = e[f.n - 1 - i];
        e[f.n - 1 - i] = tmp;
    }
    mk_st_sort_canonical(e, f.n);
    int same = 1;
    for (int i = 0; i < f.n; i++)
        same &= strcmp(e[i].name, f.t[i].name) == 0;
    ok(same, "%s: mk_st_sort_canonical reproduces the file's order", file);

    path_in(out, sizeof out, dir, base);
    st = mk_st_write(out, e, f.n, f.meta, f.n_meta);
    ok(st == MK_OK && mk_read_file(out, &back, &back_len) == MK_OK && back_len == raw_len &&
           memcmp(back, raw, raw_len) == 0,
       "%s: mk_st_write writes the identical file", file);
    if (st == MK_OK)
        free(back);
    free(e);
    free(ser);
    free(raw);
    mk_st_close(&f);
}

static void golden_values(void)
{
    char path[512];
    struct mk_st_file f;
    if (mk_st_open(&f, golden(path, sizeof path, "tiny/reference.safetensors")) != MK_OK)
        bail_out("%s", mk_last_error());
    const struct mk_st_tensor *ids = mk_st_find(&f, "input_ids");
    const struct mk_st_tensor *logits = mk_st_find(&f, "logits");
    ok(ids && ids->dtype == MK_I32 && ids->ndim == 2 && ids->shape[0] == 2 &&
           ids->shape[1] == 48 && ids->numel == 96,
       "reference.safetensors: input_ids is I32 [2, 48]");
    ok(logits && logits->dtype == MK_F32 && logits->numel == 2 * 48 * 260 &&
           mk_st_find(&f, "no_such_tensor") == NULL,
       "reference.safetensors: logits is F32 [2, 48, 260]; unknown names are not found");
    int32_t id[96];
    float *lg = malloc(logits->numel * sizeof *lg);
    int in_range = mk_st_read_i32(&f, ids, id) == MK_OK;
    for (int i = 0; i < 96; i++)
        in_range &= id[i] >= 0 && id[i] < 260;
    ok(in_range, "input_ids read as int32, all in [0, 260)");
    ok(mk_st_read_f32(&f, logits, lg) == MK_OK &&
           memcmp(lg, f.data + logits->begin, logits->numel * 4) == 0,
       "logits read as float equal the raw bytes");
    ok(mk_st_read_f32(&f, ids, lg) == MK_ERR_UNSUPPORTED && error_has("input_ids") &&
           error_has("dtype I32"),
       "reading an I32 tensor as float is refused, naming it");
    free(lg);
    mk_st_close(&f);
}

/* ---- exact header bytes ------------------------------------------------------------------ */

/* From Python: safetensors.numpy.save(d, metadata=...) with the tensors below (0.8.0). */
static const char python_header[] =
    "{\"__metadata__\":{\"k\\n\":\"v\\\"\",\"format\":\"pt\"},"
    "\"i64\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
    "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[16,24]},"
    "\"a32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
    "\"f32\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[32,32]},"
    "\"z\\\"\\\\\\u0001\\u001f\\t\xc3\xa9/x\":{\"dtype\":\"F32\",\"shape\":[1],"
    "\"data_offsets\":[32,36]},"
    "\"i32\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[36,40]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[40,46]},"
    "\"i16\":{\"dtype\":\"I16\",\"shape\":[2,1],\"data_offsets\":[46,50]},"
    "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[50,51]},"
    "\"u8\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[51,54]},"
    "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[54,56]}}  ";

static void exact_header(void)
{
    static const unsigned char zeros[16];
    static const int64_t s2[] = {2}, s1[] = {1}, s03[] = {0, 3}, s3[] = {3}, s21[] = {2, 1};
    struct mk_st_entry e[] = {
        {"u8", MK_U8, 1, s3, zeros},      {"b", MK_BOOL, 1, s2, zeros},
        {"i8", MK_I8, 1, s1, zeros},      {"i16", MK_I16, 2, s21, zeros},
        {"h", MK_F16, 1, s3, zeros},      {"i32", MK_I32, 0, NULL, zeros},
        {"f32", MK_F32, 2, s03, NULL},    {"a32", MK_F32, 1, s2, zeros},
        {"f64", MK_F64, 1, s1, zeros},    {"i64", MK_I64, 1, s2, zeros},
        {"z\"\\\x01\x1f\t\xc3\xa9/x", MK_F32, 1, s1, zeros},
    };
    const struct mk_st_meta meta[] = {{"k\n", "v\""}, {"format", "pt"}};
    int n = (int)(sizeof e / sizeof e[0]);
    unsigned char *buf;
    size_t len, hlen = sizeof python_header - 1;
    mk_st_sort_canonical(e, n);
    mk_status st = mk_st_serialize(e, n, meta, 2, &buf, &len);
    ok(st == MK_OK && len == 8 + hlen + 56 && buf[0] == (hlen & 255) && buf[1] == hlen >> 8 &&
           memcmp(buf + 8, python_header, hlen) == 0,
       "every dtype, escaped names, scalar, empty tensor: header identical to Python's");
    struct mk_st_file f;
    st = st == MK_OK ? mk_st_parse(&f, "mem.safetensors", buf, len) : st;
    ok(st == MK_OK && f.n == n && f.n_meta == 2 && strcmp(f.meta[0].key, "k\n") == 0 &&
           strcmp(f.meta[1].value, "pt") == 0 && mk_st_find(&f, e[4].name) &&
           mk_st_find(&f, "i32")->ndim == 0 && mk_st_find(&f, "i32")->numel == 1 &&
           mk_st_find(&f, "f32")->numel == 0,
       "which parses back: names unescaped, metadata in order, scalar and empty shapes");
    if (st == MK_OK)
        mk_st_close(&f);
    free(buf);

    /* no tensors: "{}" padded, as the Rust crate's own test expects */
    st = mk_st_serialize(NULL, 0, NULL, -1, &buf, &len);
    ok(st == MK_OK && len == 16 && memcmp(buf, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0,
       "an empty file is {} padded to 8 bytes");
    free(buf);
}

static void writer_refusals(void)
{
    static const float data[2];
    static const int64_t s2[] = {2}, neg[] = {-2};
    struct {
        struct mk_st_entry e[2];
        int n;
        const char *msg;
    } cases[] = {
        {{{"a", MK_F32, 1, s2, data}, {"a", MK_F32, 1, s2, data}}, 2, "given twice"},
        {{{"__metadata__", MK_F32, 1, s2, data}}, 1, "not allowed"},
        {{{"bad\xff", MK_F32, 1, s2, data}}, 1, "not allowed"},
        {{{"a", MK_F32, 1, neg, data}}, 1, "negative dimension"},
        {{{"a", MK_F32, 1, s2, NULL}}, 1, "no data"},
        {{{"a", (enum mk_dtype)99, 1, s2, data}}, 1, "invalid dtype"},
        {{{"a", MK_F32, 9, s2, data}}, 1, "9 dimensions"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *buf;
        size_t len;
        mk_status st = mk_st_serialize(cases[i].e, cases[i].n, NULL, -1, &buf, &len);
        ok(st == MK_ERR_INVALID && buf == NULL && error_has(cases[i].msg),
           "writer refuses: %s", cases[i].msg);
    }
}

/* ---- 16-bit floats ------------------------------------------------------------------------ */

static const struct {
    uint32_t f;
    uint16_t h;
} f16_cases[] = { /* from numpy's float32 -> float16 cast */
    {0x3f800000u, 0x3c00}, /* 1 */
    {0xc0000000u, 0xc000}, /* -2 */
    {0x3dcccccdu, 0x2e66}, /* 0.1 */
    {0x477fe000u, 0x7bff}, /* 65504, the largest half */
    {0x477fefffu, 0x7bff}, /* just below the halfway point to 65536 */
    {0x477ff000u, 0x7c00}, /* 65520: the tie rounds to even = infinity */
    {0x501502f9u, 0x7c00}, /* 1e10 */
    {0x33800000u, 0x0001}, /* 2^-24, the smallest subnormal */
    {0x33000000u, 0x0000}, /* 2^-25: tie, to even 0 */
    {0x33400000u, 0x0001}, /* 1.5 * 2^-25 */
    {0x33c00000u, 0x0002}, /* 3 * 2^-25: tie between 1 and 2 units, to even 2 */
    {0x38800000u, 0x0400}, /* 2^-14, the smallest normal */
    {0x387fe000u, 0x0400}, /* rounds up from subnormal to normal */
    {0x387fc000u, 0x03ff}, /* the largest subnormal */
    {0x3f801000u, 0x3c00}, /* 1 + 2^-11: tie, to even 1 */
    {0x3f803000u, 0x3c02}, /* 1 + 3 * 2^-11: tie, to even 1 + 2^-9 */
    {0x80000000u, 0x8000}, /* -0 */
    {0x7f800000u, 0x7c00}, /* inf */
    {0xff800000u, 0xfc00}, /* -inf */
    {0x322bcc77u, 0x0000}, /* 1e-8 */
    {0x3380d959u, 0x0001}, /* 6e-8 */
    {0xb7fba882u, 0x81f7}, /* -3e-5 */
    {0x3eaaaaabu, 0x3555}, /* 1/3 */
    {0x7fc00000u, 0x7e00}, /* quiet NaN */
    {0xff800001u, 0xfe00}, /* signalling NaN: made quiet, sign kept */
};

static const struct {
    uint32_t f;
    uint16_t h;
} bf16_cases[] = {
    {0x3f800000u, 0x3f80}, /* 1 */
    {0x3f808000u, 0x3f80}, /* tie, to even */
    {0x3f818000u, 0x3f82}, /* tie, to even (up) */
    {0x3f808001u, 0x3f81}, /* above the tie */
    {0x3fbfffffu, 0x3fc0}, /* carry into the exponent */
    {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to infinity */
    {0xff7f8000u, 0xff80}, /* tie at the top, to even = -infinity */
    {0x7f800000u, 0x7f80}, /* inf */
    {0x00000001u, 0x0000}, /* the smallest float subnormal */
    {0x00008000u, 0x0000}, /* tie, to even 0 */
    {0x00018000u, 0x0002}, /* tie, to even 2 */
    {0x80000000u, 0x8000}, /* -0 */
    {0xffc00001u, 0xffc0}, /* NaN keeps its sign */
    {0x7f800001u, 0x7fc0}, /* signalling NaN with only low payload bits stays NaN */
};

static void known_patterns(void)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof f16_cases / sizeof f16_cases[0]; i++) {
        uint16_t h = mk_f32_to_f16(mk_f32_from_bits(f16_cases[i].f));
        if (h != f16_cases[i].h && ++bad)
            diag("f16(0x%08x) = 0x%04x, expected 0x%04x", f16_cases[i].f, h, f16_cases[i].h);
    }
    ok(!bad, "float -> f16: %zu known patterns", sizeof f16_cases / sizeof f16_cases[0]);
    bad = 0;
    for (size_t i = 0; i < sizeof bf16_cases / sizeof bf16_cases[0]; i++) {
        uint16_t h = mk_f32_to_bf16(mk_f32_from_bits(bf16_cases[i].f));
        if (h != bf16_cases[i].h && ++bad)
            diag("bf16(0x%08x) = 0x%04x, expected 0x%04x", bf16_cases[i].f, h, bf16_cases[i].h);
    }
    ok(!bad, "float -> bf16: %zu known patterns", sizeof bf16_cases / sizeof bf16_cases[0]);
    ok(mk_f16_to_f32(0x0001) == 0x1p-24f && mk_f16_to_f32(0x8001) == -0x1p-24f &&
           mk_f16_to_f32(0x03ff) == 1023 * 0x1p-24f && mk_f16_to_f32(0x7bff) == 65504.0f &&
           mk_f16_to_f32(0x3555) == 0x1.554p-2f && isinf(mk_f16_to_f32(0xfc00)) &&
           mk_f16_to_f32(0xfc00) < 0 && isnan(mk_f16_to_f32(0x7e01)) &&
           mk_f32_bits(mk_f16_to_f32(0x8000)) == 0x80000000u,
       "f16 -> float: subnormals, max, inf, NaN, -0 exact");
    ok(mk_bf16_to_f32(0x3f80) == 1.0f && mk_bf16_to_f32(0x0001) == 0x1p-133f &&
           isnan(mk_bf16_to_f32(0xffc0)),
       "bf16 -> float exact");
}

/* Every 16-bit pattern widens and narrows back to itself (NaNs: to a quiet NaN, same sign). */
static void exhaustive(int bf16)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float x = bf16 ? mk_bf16_to_f32((uint16_t)h) : mk_f16_to_f32((uint16_t)h);
        uint16_t back = bf16 ? mk_f32_to_bf16(x) : mk_f32_to_f16(x);
        uint16_t quiet = bf16 ? 0x0040 : 0x0200;
        int ok_ = isnan(x) ? (back & 0x8000) == (h & 0x8000) && (back & quiet) &&
                                 isnan(bf16 ? mk_bf16_to_f32(back) : mk_f16_to_f32(back))
                           : back == h;
        if (!ok_ && bad++ < 5)
            diag("0x%04x -> %g -> 0x%04x", h, (double)x, back);
    }
    ok(!bad, "%s: all 65536 patterns round-trip through float", bf16 ? "bf16" : "f16");
}

/* Random floats narrow to a nearest 16-bit value, ties to the even pattern. */
static void nearest(int bf16, struct mk_rng *rng)
{
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        /* exponents around the 16-bit range, so subnormals and overflow are hit */
        uint32_t bits = (uint32_t)mk_rng_next(rng);
        if (!bf16)
            bits = (bits & 0x807fffffu) | ((uint32_t)(96 + (int)(bits >> 23 & 63)) << 23);
        float x = mk_f32_from_bits(bits);
        if (isnan(x))
            continue;
        uint16_t h = bf16 ? mk_f32_to_bf16(x) : mk_f32_to_f16(x);
        float (*widen)(uint16_t) = bf16 ? mk_bf16_to_f32 : mk_f16_to_f32;
        double err = fabs((double)x - widen(h));
        int good;
        if (isinf(widen(h))) { /* overflow: x at least halfway past the largest finite value */
            double top = widen((uint16_t)((h & 0x8000) | (bf16 ? 0x7f7f : 0x7bff)));
            double ulp = top - widen((uint16_t)((h & 0x8000) | (bf16 ? 0x7f7e : 0x7bfe)));
            good = fabs((double)x) >= fabs(top) + fabs(ulp) / 2;
        } else {
            good = 1;
            for (int d = -1; d <= 1; d += 2) {
                uint16_t nb = (uint16_t)(h + d);
                if ((nb & 0x7fff) == 0x7fff || (h & 0x7fff) == 0 || isinf(widen(nb)) ||
                    isnan(widen(nb)))
                    continue;
                double e2 = fabs((double)x - widen(nb));
                good &= err < e2 || (err == e2 && !(h & 1));
            }
        }
        if (!good && bad++ < 5)
            diag("%a -> 0x%04x is not the nearest", (double)x, h);
    }
    ok(!bad, "%s: 200000 random floats round to nearest, ties to even", bf16 ? "bf16" : "f16");
}

/* ---- malformed files ---------------------------------------------------------------------- */

/* 8-byte length, the header text, `data` zero bytes (malloc'd to the exact size so that a
 * read past the end is caught by valgrind). */
static unsigned char *file_with(const char *header, size_t data, size_t *len)
{
    size_t n = strlen(header);
    *len = 8 + n + data;
    unsigned char *b = calloc(1, *len);
    if (!b)
        bail_out("out of memory");
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, n);
    return b;
}

#define T(name, dtype, shape, offsets) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

static const struct {
    const char *what, *header;
    size_t data;
    mk_status st;
    const char *msg;
} bad_headers[] = {
    {"cut JSON", "{\"a\":", 0, MK_ERR_FORMAT, "not valid JSON"},
    {"JSON array", "[1,2]", 0, MK_ERR_FORMAT, "not a JSON object"},
    {"invalid UTF-8", "{\"\xff\":{}}", 0, MK_ERR_FORMAT, "not valid JSON"},
    {"NUL in a name", "{\"a\\u0000\":{}}", 0, MK_ERR_FORMAT, "not valid JSON"},
    {"integer beyond int64", "{" T("a", "F32", "[99999999999999999999]", "[0,4]") "}", 4,
     MK_ERR_FORMAT, "not valid JSON"},
    {"duplicate key", "{" T("a", "F32", "[1]", "[0,4]") "," T("a", "F32", "[1]", "[0,4]") "}", 4,
     MK_ERR_FORMAT, "duplicate"},
    {"entry not an object", "{\"a\":5}", 0, MK_ERR_FORMAT, "tensor \"a\": entry is not an object"},
    {"missing field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, MK_ERR_FORMAT,
     "tensor \"a\": missing \"data_offsets\""},
    {"extra field",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
     MK_ERR_FORMAT, "unexpected field \"x\""},
    {"unknown dtype", "{" T("a", "F33", "[1]", "[0,4]") "}", 4, MK_ERR_FORMAT,
     "unknown dtype \"F33\""},
    {"unsupported dtype", "{" T("a", "F8_E4M3", "[4]", "[0,4]") "}", 4, MK_ERR_UNSUPPORTED,
     "dtype \"F8_E4M3\" is not supported"},
    {"dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     MK_ERR_FORMAT, "\"dtype\" is not a string"},
    {"shape not an array", "{" T("a", "F32", "\"x\"", "[0,4]") "}", 4, MK_ERR_FORMAT,
     "\"shape\" is not an array"},
    {"negative dimension", "{" T("a", "F32", "[2,-1]", "[0,4]") "}", 4, MK_ERR_FORMAT,
     "\"shape\"[1] is not a non-negative integer"},
    {"fractional dimension", "{" T("a", "F32", "[2.5]", "[0,4]") "}", 4, MK_ERR_FORMAT,
     "\"shape\"[0] is not a non-negative integer"},
    {"9 dimensions", "{" T("a", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, MK_ERR_FORMAT,
     "at most 8"},
    {"one offset", "{" T("a", "F32", "[1]", "[0]") "}", 4, MK_ERR_FORMAT,
     "has 1 elements, expected 2"},
    {"negative offset", "{" T("a", "F32", "[1]", "[-4,0]") "}", 4, MK_ERR_FORMAT,
     "\"data_offsets\"[0] is not a non-negative integer"},
    {"begin after end", "{" T("a", "F32", "[1]", "[8,4]") "}", 8, MK_ERR_FORMAT,
     "begin is after end"},
    {"offsets past the end", "{" T("a", "F32", "[2]", "[0,8]") "}", 4, MK_ERR_FORMAT,
     "run past the end of the data section (4 bytes)"},
    {"shape x dtype != bytes", "{" T("a", "F32", "[2,3]", "[0,20]") "}", 20, MK_ERR_FORMAT,
     "shape [2, 3] of F32 needs 24"},
    {"size overflow", "{" T("a", "F32", "[4294967296,4294967296,4]", "[0,4]") "}", 4,
     MK_ERR_FORMAT, "overflows"},
    {"overlapping ranges", "{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[4,12]") "}",
     12, MK_ERR_FORMAT, "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\""},
    {"gap", "{" T("a", "F32", "[1]", "[4,8]") "}", 8, MK_ERR_FORMAT,
     "leave bytes [0, 4) of the data section unused"},
    {"bytes after the last tensor", "{" T("a", "F32", "[1]", "[0,4]") "}", 8, MK_ERR_FORMAT,
     "the last 4 bytes of the file belong to no tensor"},
    {"data but no tensors", "{}", 4, MK_ERR_FORMAT, "no tensors"},
    {"metadata not an object", "{\"__metadata__\":[1]}", 0, MK_ERR_FORMAT,
     "\"__metadata__\" is not an object"},
    {"metadata value not a string", "{\"__metadata__\":{\"format\":1}}", 0, MK_ERR_FORMAT,
     "\"__metadata__\" entry \"format\" is not a string"},
};

static void check_refused(const unsigned char *buf, size_t len, mk_status want, const char *msg,
                          const char *what)
{
    struct mk_st_file f;
    mk_status st = mk_st_parse(&f, "mem.safetensors", buf, len);
    ok(st == want && error_has("mem.safetensors") && error_has(msg) && f.t == NULL,
       "refused: %s", what);
    if (st == MK_OK)
        mk_st_close(&f);
}

static void malformed(void)
{
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        size_t len;
        unsigned char *b = file_with(bad_headers[i].header, bad_headers[i].data, &len);
        check_refused(b, len, bad_headers[i].st, bad_headers[i].msg, bad_headers[i].what);
        free(b);
    }
    /* damage to the length prefix and truncations of a valid file */
    size_t len;
    unsigned char *b = file_with("{" T("a", "F32", "[2]", "[0,8]") "}", 8, &len);
    size_t hlen = len - 16;
    check_refused(b, 0, MK_ERR_FORMAT, "0 bytes, too short", "empty file");
    check_refused(b, 7, MK_ERR_FORMAT, "7 bytes, too short", "7-byte file");
    check_refused(b, 8 + hlen - 1, MK_ERR_FORMAT, "runs past the end", "cut inside the header");
    check_refused(b, len - 1, MK_ERR_FORMAT, "run past the end of the data section",
                  "cut inside the data");
    b[0] = (unsigned char)(hlen + 9);
    check_refused(b, len, MK_ERR_FORMAT, "runs past the end", "header length too large");
    b[0] = (unsigned char)(hlen - 3);
    check_refused(b, len, MK_ERR_FORMAT, "not valid JSON", "header length too small");
    b[0] = 0;
    check_refused(b, len, MK_ERR_FORMAT, "header length is 0", "header length 0");
    b[5] = 1; /* 2^40 */
    check_refused(b, len, MK_ERR_FORMAT, "exceeds the limit", "header length 2^40");
    free(b);
}

static void open_errors(const char *dir)
{
    struct mk_st_file f;
    char path[512];
    ok(mk_st_open(&f, path_in(path, sizeof path, dir, "absent.safetensors")) == MK_ERR_IO &&
           error_has("absent.safetensors: cannot open"),
       "a missing file is an I/O error naming it");
    ok(mk_st_open(&f, dir) == MK_ERR_IO && error_has("not a regular file"),
       "a directory is refused");
    FILE *fp = fopen(path_in(path, sizeof path, dir, "empty.safetensors"), "w");
    if (fp)
        fclose(fp);
    ok(mk_st_open(&f, path) == MK_ERR_FORMAT && error_has("empty.safetensors: 0 bytes"),
       "an empty file is refused");
}

/* Integer and float reads that cannot be represented. */
static void read_range(void)
{
    static const int64_t s1[] = {1};
    const int64_t big = (int64_t)1 << 40;
    const double huge = 1e300;
    struct mk_st_entry e[] = {{"big", MK_I64, 1, s1, &big}, {"huge", MK_F64, 1, s1, &huge}};
    unsigned char *buf;
    size_t len;
    struct mk_st_file f;
    int32_t i;
    float x;
    if (mk_st_serialize(e, 2, NULL, -1, &buf, &len) != MK_OK ||
        mk_st_parse(&f, "mem.safetensors", buf, len) != MK_OK)
        bail_out("%s", mk_last_error());
    ok(mk_st_read_i32(&f, mk_st_find(&f, "big"), &i) == MK_ERR_INVALID &&
           error_has("\"big\": element 0 = 1099511627776 does not fit in int32"),
       "an I64 beyond int32 is refused");
    ok(mk_st_read_f32(&f, mk_st_find(&f, "huge"), &x) == MK_ERR_INVALID &&
           error_has("outside the float range"),
       "an F64 beyond float is refused");
    ok(mk_st_read_i32(&f, mk_st_find(&f, "huge"), &i) == MK_ERR_UNSUPPORTED &&
           error_has("expected an integer tensor"),
       "reading an F64 tensor as int32 is refused");
    mk_st_close(&f);
    free(buf);
}

/* ---- fuzzing ------------------------------------------------------------------------------ */

/* Byte flips, truncations and length-prefix damage of a valid file; the parser must refuse
 * cleanly (a message naming the buffer) or parse a file whose tensors all read back. */
static void fuzz(struct mk_rng *rng, long iters)
{
    static const uint16_t h3[3] = {0x3c00, 0x7e00, 0x0001};
    static const float f6[6] = {1, 2, 3, 4, 5, 6};
    static const int32_t i4[4] = {1, -2, 3, 4};
    static const int64_t s23[] = {2, 3}, s4[] = {4}, s3[] = {3};
    struct mk_st_entry e[] = {{"w", MK_F32, 2, s23, f6}, {"ids", MK_I32, 1, s4, i4},
                              {"h", MK_F16, 1, s3, h3}};
    const struct mk_st_meta meta[] = {{"format", "pt"}};
    unsigned char *base;
    size_t base_len;
    mk_st_sort_canonical(e, 3);
    if (mk_st_serialize(e, 3, meta, 1, &base, &base_len) != MK_OK)
        bail_out("%s", mk_last_error());
    long parsed = 0, refused = 0, unclean = 0;
    for (long it = 0; it < iters; it++) {
        size_t len = base_len;
        unsigned char *b = malloc(len);
        memcpy(b, base, len);
        int muts = 1 + (int)(mk_rng_next(rng) % 4);
        for (int m = 0; m < muts; m++) {
            uint64_t r = mk_rng_next(rng);
            size_t at = (size_t)(r >> 8) % len;
            switch (r % 5) {
            case 0: b[at] = (unsigned char)(r >> 40); break;           /* any byte */
            case 1: b[at] ^= (unsigned char)(1u << (r >> 40) % 8); break; /* one bit */
            case 2: b[at] = "0123456789[]{},:\"-"[(r >> 40) % 18]; break; /* JSON-ish */
            case 3: b[(r >> 40) % 8] = (unsigned char)(r >> 48); break;  /* length prefix */
            case 4: len = at; break;                                    /* truncation */
            }
            if (len == 0)
                break;
        }
        unsigned char *exact = malloc(len ? len : 1); /* exact size, for valgrind */
        memcpy(exact, b, len);
        free(b);
        struct mk_st_file f;
        if (mk_st_parse(&f, "fuzz.safetensors", exact, len) == MK_OK) {
            parsed++;
            for (int i = 0; i < f.n; i++) {
                const struct mk_st_tensor *t = &f.t[i];
                void *dst = malloc(t->numel * 4 + 1);
                mk_status st = mk_st_read_f32(&f, t, dst);
                if (st == MK_ERR_UNSUPPORTED)
                    st = mk_st_read_i32(&f, t, dst);
                unclean += t->end > f.data_len ||
                           (st != MK_OK && st != MK_ERR_UNSUPPORTED && st != MK_ERR_INVALID);
                free(dst);
            }
            mk_st_close(&f);
        } else {
            refused++;
            unclean += !strstr(mk_last_error(), "fuzz.safetensors") || f.t != NULL;
        }
        free(exact);
    }
    free(base);
    ok(unclean == 0, "fuzz: %ld mutated files, %ld parsed and read back, %ld refused with a "
       "message, %ld unclean", iters, parsed, refused, unclean);
}

int main(void)
{
    const char *dir = scratch_dir();
    const char *env = getenv("MK_FUZZ_ITERS");
    long iters = env ? atol(env) : 3000;
    struct mk_rng rng;
    mk_rng_seed(&rng, 20240607);
    plan(16 + 5 + 3 + 7 + 8 + (int)(sizeof bad_headers / sizeof bad_headers[0]) + 8 + 3 + 3 + 1);

    golden_round_trip("tiny/model.safetensors", dir);
    golden_round_trip("tiny/reference.safetensors", dir);
    golden_round_trip("tiny/grads.safetensors", dir);
    golden_round_trip("odd/model.safetensors", dir);
    golden_values();
    exact_header();
    writer_refusals();
    known_patterns();
    exhaustive(0);
    exhaustive(1);
    nearest(0, &rng);
    nearest(1, &rng);
    malformed();
    open_errors(dir);
    read_range();
    fuzz(&rng, iters);
    return exit_status();
}
