#!/usr/bin/env python3
"""Draws Mailpull's icon (a white envelope with a downward arrow on a blue rounded square)
and writes assets/mailpull.ico with PNG images of 16, 24, 32, 48, 64, 128 and 256 pixels.

Standard library only (zlib + struct), so it runs anywhere Python 3 does. The .ico is
committed; rerun this only to change the design:  python3 assets/make-icon.py
"""

import os
import struct
import zlib

SIZES = [16, 24, 32, 48, 64, 128, 256]
BLUE = (0x1F, 0x5F, 0xBF)
DARK = (0x0E, 0x3A, 0x80)
WHITE = (0xFF, 0xFF, 0xFF)
GREEN = (0x2E, 0xB8, 0x5C)


def coverage(inside, x, y, samples=4):
    """Fraction of the pixel (x, y) covered by the shape `inside(u, v)` (u, v in 0..1)."""
    hit = 0
    for i in range(samples):
        for j in range(samples):
            if inside((x + (i + 0.5) / samples), (y + (j + 0.5) / samples)):
                hit += 1
    return hit / (samples * samples)


def rounded_square(u, v):
    r, m = 0.18, 0.03
    if not (m <= u <= 1 - m and m <= v <= 1 - m):
        return False
    cx = min(max(u, m + r), 1 - m - r)
    cy = min(max(v, m + r), 1 - m - r)
    return (u - cx) ** 2 + (v - cy) ** 2 <= r * r


def envelope(u, v):
    return 0.16 <= u <= 0.84 and 0.40 <= v <= 0.82


def flap(u, v):
    # The two lines of the envelope's flap: a V from the top corners to the middle.
    if not envelope(u, v):
        return False
    mid_v = 0.40 + (0.5 - abs(u - 0.5)) * 0.62
    return abs(v - mid_v) <= 0.035


def arrow(u, v):
    # A downward arrow above the envelope: shaft and head.
    if 0.44 <= u <= 0.56 and 0.10 <= v <= 0.30:
        return True
    return 0.28 <= v <= 0.44 and abs(u - 0.5) <= (0.44 - v) * 1.1


def blend(dst, src, a):
    return tuple(round(d * (1 - a) + s * a) for d, s in zip(dst, src))


def render(size):
    rows = []
    for y in range(size):
        row = bytearray([0])  # PNG filter type 0
        for x in range(size):
            def at(shape):
                return coverage(lambda u, v: shape(u / size, v / size), x, y)

            bg = at(rounded_square)
            rgb = BLUE
            rgb = blend(rgb, WHITE, at(envelope))
            rgb = blend(rgb, DARK, at(flap))
            rgb = blend(rgb, GREEN, at(arrow))
            row += bytes(rgb) + bytes([round(255 * bg)])
        rows.append(bytes(row))
    return b"".join(rows)


def png(size):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(render(size), 9))
        + chunk(b"IEND", b"")
    )


def ico(images):
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    data = b""
    for size, image in images:
        dim = 0 if size >= 256 else size
        out += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(image), offset + len(data))
        data += image
    return out + data


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    images = [(size, png(size)) for size in SIZES]
    with open(os.path.join(here, "mailpull.ico"), "wb") as f:
        f.write(ico(images))
    with open(os.path.join(here, "mailpull-256.png"), "wb") as f:
        f.write(images[-1][1])


if __name__ == "__main__":
    main()
