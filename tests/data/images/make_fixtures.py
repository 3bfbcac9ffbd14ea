#!/usr/bin/env python3
"""make_fixtures.py: writes the PNG fixtures of tests/unit/test_image.c and
test_dataset.c with a PNG encoder written here on zlib alone (no libpng), so
the decoder is tested against an independent writer.

Pixel pattern of every fixture (tests recompute it):
    f(x, y, c) = (x * 37 + y * 11 + c * 80) & 255
Run from anywhere: python3 tests/data/images/make_fixtures.py
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def f(x, y, c):
    return (x * 37 + y * 11 + c * 80) & 255


def chunk(kind, data):
    out = struct.pack(">I", len(data)) + kind + data
    return out + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(w, h, depth, ctype, rows, interlace=0, extra=b"", ihdr=None):
    """rows(x0, dx, y) -> packed bytes of one scanline (without filter byte)
    for pixels x0, x0+dx, ... < w of row y."""
    raw = b""
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                  (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        for x0, y0, dx, dy in passes:
            if x0 >= w or y0 >= h:
                continue
            for y in range(y0, h, dy):
                raw += b"\0" + rows(x0, dx, y)
    else:
        for y in range(h):
            raw += b"\0" + rows(0, 1, y)
    hdr = ihdr or struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", hdr) + extra +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def pack_bits(vals, depth):
    out, acc, n = bytearray(), 0, 0
    for v in vals:
        acc = (acc << depth) | v
        n += depth
        if n == 8:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as fp:
        fp.write(data)


def main():
    w, h = 7, 5
    # 8-bit gray and RGB.
    write("gray8.png", png(w, h, 8, 0, lambda x0, dx, y: bytes(
        f(x, y, 0) for x in range(x0, w, dx))))
    write("rgb8.png", png(w, h, 8, 2, lambda x0, dx, y: bytes(
        f(x, y, c) for x in range(x0, w, dx) for c in range(3))))
    # RGBA and gray+alpha: alpha = 255 - x*30 (must be dropped).
    write("rgba8.png", png(w, h, 8, 6, lambda x0, dx, y: bytes(
        v for x in range(x0, w, dx)
        for v in (f(x, y, 0), f(x, y, 1), f(x, y, 2), 255 - x * 30))))
    write("graya8.png", png(w, h, 8, 4, lambda x0, dx, y: bytes(
        v for x in range(x0, w, dx) for v in (f(x, y, 0), 255 - x * 30))))
    # 16-bit RGB and gray: high byte f, low byte noise (expect the high byte).
    write("rgb16.png", png(w, h, 16, 2, lambda x0, dx, y: b"".join(
        struct.pack(">H", f(x, y, c) << 8 | ((x * 13 + y * 7 + c) & 255))
        for x in range(x0, w, dx) for c in range(3))))
    write("gray16.png", png(w, h, 16, 0, lambda x0, dx, y: b"".join(
        struct.pack(">H", f(x, y, 0) << 8 | 0xA5) for x in range(x0, w, dx))))
    # 4-bit palette with tRNS: index (x + 3y) % 16, palette (16i, 255-16i, 7i).
    plte = b"".join(bytes((i * 16, 255 - i * 16, i * 7)) for i in range(16))
    trns = bytes((0, 128, 255))
    write("pal4.png", png(w, h, 4, 3, lambda x0, dx, y: pack_bits(
        [(x + 3 * y) % 16 for x in range(x0, w, dx)], 4),
        extra=chunk(b"PLTE", plte) + chunk(b"tRNS", trns)))
    # 1-bit gray checkerboard: (x + y) & 1 -> 0 / 255.
    write("gray1.png", png(w, h, 1, 0, lambda x0, dx, y: pack_bits(
        [(x + y) & 1 for x in range(x0, w, dx)], 1)))
    # Adam7-interlaced RGB and 16-bit gray+alpha, odd sizes.
    iw, ih = 13, 11
    write("rgb8_interlaced.png", png(iw, ih, 8, 2, lambda x0, dx, y: bytes(
        f(x, y, c) for x in range(x0, iw, dx) for c in range(3)), interlace=1))
    write("graya16_interlaced.png", png(iw, ih, 16, 4, lambda x0, dx, y: b"".join(
        struct.pack(">HH", f(x, y, 0) << 8 | 7, 0xFFFF) for x in range(x0, iw, dx)),
        interlace=1))
    # Bomb: a valid-looking header claiming 60000 x 60000 RGB, a few bytes of data.
    bomb = png(1, 1, 8, 2, lambda x0, dx, y: b"\0\0\0",
               ihdr=struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
    write("bomb_60000.png", bomb)
    # Truncated: rgb8_interlaced cut in the middle of IDAT.
    full = png(iw, ih, 8, 2, lambda x0, dx, y: bytes(
        f(x, y, c) for x in range(x0, iw, dx) for c in range(3)), interlace=1)
    write("truncated.png", full[:len(full) // 2])

    # A folder dataset: two classes, sizes differ (resized to the first).
    for cls, items in (("0_cat", [("a.png", 8, 6, 2), ("b.png", 4, 3, 0)]),
                       ("1_dog", [("c.png", 8, 6, 2), ("notes.txt", 0, 0, -1)])):
        d = os.path.join(HERE, "folder", cls)
        os.makedirs(d, exist_ok=True)
        for name, fw, fh, ctype in items:
            if ctype < 0:
                with open(os.path.join(d, name), "w") as fp:
                    fp.write("not an image; ignored by extension\n")
                continue
            nc = 3 if ctype == 2 else 1
            with open(os.path.join(d, name), "wb") as fp:
                fp.write(png(fw, fh, 8, ctype, lambda x0, dx, y, fw=fw, nc=nc: bytes(
                    f(x, y, c) for x in range(x0, fw, dx) for c in range(nc))))


if __name__ == "__main__":
    main()
