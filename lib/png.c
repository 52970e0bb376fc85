/* png.c — the PNG writer of png.h over zlib (compress2, crc32). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "png.h"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

/* appends the chunk (length, type, data, CRC of type + data) at out, returns its size */
static size_t chunk(uint8_t *out, const char *type, const uint8_t *data, size_t len)
{
    put32(out, (uint32_t)len);
    memcpy(out + 4, type, 4);
    if (len)
        memcpy(out + 8, data, len);
    put32(out + 8 + len, (uint32_t)crc32(0, out + 4, (uInt)(len + 4)));
    return len + 12;
}

mk_status mk_png_write_rgb(const char *path, const uint8_t *rgb, int w, int h)
{
    if (w <= 0 || h <= 0)
        return mk_fail(MK_ERR_INVALID, "%s: a picture of %d x %d pixels", path, w, h);
    const size_t row = 1 + 3 * (size_t)w, raw_len = row * (size_t)h;
    uLongf packed_len = compressBound((uLong)raw_len);
    uint8_t *raw = malloc(raw_len), *packed = malloc(packed_len);
    uint8_t *file = malloc(8 + 25 + 12 + packed_len + 12);
    mk_status st = MK_OK;
    if (!raw || !packed || !file) {
        st = mk_fail(MK_ERR_NOMEM, "%s: out of memory for a %d x %d picture", path, w, h);
        goto done;
    }
    for (int y = 0; y < h; y++) { /* filter type 0 (none) before each row */
        raw[y * row] = 0;
        memcpy(raw + y * row + 1, rgb + (size_t)y * 3 * w, 3 * (size_t)w);
    }
    if (compress2(packed, &packed_len, raw, (uLong)raw_len, 9) != Z_OK) {
        st = mk_fail(MK_ERR_IO, "%s: zlib could not compress the picture", path);
        goto done;
    }
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)w);
    put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bits per channel */
    ihdr[9] = 2;  /* colour type RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filters, no interlace */
    size_t n = 8;
    memcpy(file, signature, 8);
    n += chunk(file + n, "IHDR", ihdr, sizeof ihdr);
    n += chunk(file + n, "IDAT", packed, packed_len);
    n += chunk(file + n, "IEND", NULL, 0);
    st = mk_write_file_atomic(path, file, n);
done:
    free(raw);
    free(packed);
    free(file);
    return st;
}
