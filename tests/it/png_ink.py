#!/usr/bin/env python3
"""Counts the ink on a PNG page: how many pixels are not white, and how many
of them are red (the masthead of a 专报).  Reads the PNG with the standard
library alone (zlib for the image data, the five scanline filters undone by
hand), so a test can tell a rendered page from a blank one without an image
library.  Prints "width=W height=H ink=N red=M" and exits 0, or says why the
file is not a PNG this reader handles (8-bit RGB or RGBA, not interlaced)
and exits 2.

usage: png_ink.py FILE.png
"""
import struct
import sys
import zlib

# A pixel is ink when any channel is below this, red when it is clearly
# more red than green and blue.
INK_BELOW = 240
RED_MIN, RED_OTHER_MAX = 150, 90


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if ihdr is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, color, _, _, interlace = ihdr
    if depth != 8 or color not in (2, 6) or interlace != 0:
        raise ValueError("unsupported PNG: depth %d, colour type %d, interlace %d"
                         % (depth, color, interlace))
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif f == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 0xFF
            elif f != 0:
                raise ValueError("bad filter type %d in row %d" % (f, y))
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        width, height, bpp, rows = read_png(sys.argv[1])
    except (OSError, ValueError, zlib.error, struct.error) as e:
        print("png_ink: %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 2
    ink = red = 0
    for line in rows:
        for x in range(0, width * bpp, bpp):
            r, g, b = line[x], line[x + 1], line[x + 2]
            if r < INK_BELOW or g < INK_BELOW or b < INK_BELOW:
                ink += 1
                if r >= RED_MIN and g <= RED_OTHER_MAX and b <= RED_OTHER_MAX:
                    red += 1
    print("width=%d height=%d ink=%d red=%d" % (width, height, ink, red))
    return 0


if __name__ == "__main__":
    sys.exit(main())
