#!/usr/bin/env python3
"""make_rdb_fixture.py — makes fixture.rdb, the R lazy-load database that tests/test_books.sh
feeds to data/rdb_text (the layout is explained in data/rdb_text.c), without R: three records,
each a uint32 big-endian length and a zlib stream of R's XDR serialization of a character
vector, laid out as R writes them:

  record 0  version 3 (native encoding "UTF-8"), no attributes: "PRIDE AND PREJUDICE"
            (ASCII flag), "" , NA, "It is a truth universally acknowledged" (ASCII flag)
  record 1  version 2, a names attribute after the strings (as r-cran-tokenizers' mobydick):
            "Call me Ishmael — café" flagged UTF-8 and "naïve café" flagged LATIN1 (stored
            in Latin-1, so data/rdb_text must convert it)
  record 2  version 3, the long-vector length form (-1, then high and low halves): "long"

Run from this directory: python3 make_rdb_fixture.py (only the standard library).
"""
import struct
import zlib

NILVALUE, STRSXP, CHARSXP, LISTSXP, SYMSXP = 254, 16, 9, 2, 1
HAS_ATTR, HAS_TAG = 1 << 9, 1 << 10
ASCII, UTF8, LATIN1 = 64 << 12, 8 << 12, 4 << 12


def i32(v):
    return struct.pack(">i", v)


def charsxp(data, encoding=0):
    if data is None:
        return i32(CHARSXP) + i32(-1)
    return i32(CHARSXP | encoding) + i32(len(data)) + data


def header(version):
    h = b"X\n" + i32(version) + i32(0x040201) + i32(0x030500)
    return h + (i32(5) + b"UTF-8" if version == 3 else b"")


def strsxp(strings, attributes=b"", long_length=False):
    flags = STRSXP | (HAS_ATTR if attributes else 0)
    n = i32(-1) + i32(0) + i32(len(strings)) if long_length else i32(len(strings))
    return i32(flags) + n + b"".join(strings) + attributes


def record(serialized):
    return struct.pack(">I", len(serialized)) + zlib.compress(serialized, 9)


# attributes: a pairlist node tagged with the symbol "names", value a character vector
names = (i32(LISTSXP | HAS_TAG) + i32(SYMSXP) + charsxp(b"names", ASCII)
         + strsxp([charsxp(b"mobydick", ASCII)]) + i32(NILVALUE))
records = [
    header(3) + strsxp([charsxp(b"PRIDE AND PREJUDICE", ASCII), charsxp(b"", ASCII),
                        charsxp(None),
                        charsxp(b"It is a truth universally acknowledged", ASCII)]),
    header(2) + strsxp([charsxp("Call me Ishmael \u2014 caf\u00e9".encode("utf-8"), UTF8),
                        charsxp("na\u00efve caf\u00e9".encode("latin-1"), LATIN1)], names),
    header(3) + strsxp([charsxp(b"long", ASCII)], long_length=True),
]
with open("fixture.rdb", "wb") as f:
    f.write(b"".join(record(r) for r in records))
