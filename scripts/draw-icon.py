"""Draw the extension's icon (editor-extension/media/icon.png, 128x128) with the standard
library only: a wire between two plugs with a model node in the middle. Rerun it to
change the icon; the PNG is committed."""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

SIZE = 128
SS = 3  # supersampling per axis
BG = (31, 58, 95)
GOLD = (242, 177, 52)
WHITE = (255, 255, 255)
SKY = (143, 211, 255)


def bezier(p0, p1, p2, p3, n=48):
    out = []
    for i in range(n + 1):
        t = i / n
        a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t**3
        out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


WIRE = bezier((20, 75), (40, 75), (40, 45), (64, 45)) + bezier((64, 45), (88, 45), (88, 75), (108, 75))


def seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy or 1)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def in_round_rect(x, y, x0, y0, x1, y1, r):
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return x0 <= x <= x1 and y0 <= y <= y1 and math.hypot(x - cx, y - cy) <= r


def sample(x, y):
    """Colour and alpha at one point, topmost shape first."""
    if math.hypot(x - 64, y - 45) <= 11:
        return WHITE
    if math.hypot(x - 20, y - 75) <= 9 or math.hypot(x - 108, y - 75) <= 9:
        return GOLD
    if in_round_rect(x, y, 46, 89, 82, 98, 4.5):
        return SKY
    if x > 8 and x < 120 and min(seg_dist(x, y, *WIRE[i], *WIRE[i + 1]) for i in range(len(WIRE) - 1)) <= 3.5:
        return GOLD
    if in_round_rect(x, y, 4, 4, 124, 124, 22):
        return BG
    return None


def main(out: Path) -> None:
    rows = []
    for j in range(SIZE):
        row = bytearray([0])
        for i in range(SIZE):
            acc = [0, 0, 0]
            hits = 0
            for sj in range(SS):
                for si in range(SS):
                    c = sample(i + (si + 0.5) / SS, j + (sj + 0.5) / SS)
                    if c:
                        hits += 1
                        for k in range(3):
                            acc[k] += c[k]
            if hits:
                row += bytes([acc[0] // hits, acc[1] // hits, acc[2] // hits, 255 * hits // (SS * SS)])
            else:
                row += bytes(4)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
    out.write_bytes(png)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "editor-extension" / "media" / "icon.png")
