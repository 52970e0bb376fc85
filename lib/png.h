/* png.h — writes an 8-bit RGB image as a PNG file (signature, IHDR, one zlib-compressed IDAT
 * with filter 0 on every row, IEND; CRC-32 over each chunk's type and data), atomically. */
#ifndef MK_PNG_H
#define MK_PNG_H
#include <stdint.h>
#include "mambakit.h"

/* rgb: h rows of w pixels, 3 bytes each, top row first */
mk_status mk_png_write_rgb(const char *path, const uint8_t *rgb, int w, int h);

#endif
