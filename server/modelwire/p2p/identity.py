"""Topics, Server IDs and key pairs.

A Server ID is base58 of the host's random 32-byte topic. A key pair is kept as its
32-byte Ed25519 seed (HyperDHT derives the same pair from it); the public key is
derived here, in pure Python (RFC 8032), so `connections show` needs no Node.
"""

from __future__ import annotations

import hashlib
import os

from modelwire.p2p import base58

TOPIC_BYTES = 32


def new_topic() -> bytes:
    return os.urandom(TOPIC_BYTES)


def new_seed() -> bytes:
    return os.urandom(32)


def server_id(topic: bytes) -> str:
    return base58.encode(topic)


def parse_server_id(text: str) -> bytes | None:
    """The topic a Server ID names, or None when it is not one (wrong alphabet, size)."""
    text = text.strip()
    if not 32 <= len(text) <= 44:
        return None
    try:
        topic = base58.decode(text)
    except ValueError:
        return None
    return topic if len(topic) == TOPIC_BYTES else None


def short_key(public_key_hex: str) -> str:
    """What a log line shows of a peer: enough to tell peers apart, not to allow-list."""
    return public_key_hex[:8]


def is_public_key_hex(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower())


# --- Ed25519 public key from seed (RFC 8032 §5.1.5), used once per connection -------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_GY = 4 * pow(5, _P - 2, _P) % _P


def _recover_x(y: int, sign: int) -> int:
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    return _P - x if x & 1 != sign else x


_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % _P)


def _add(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    result = (0, 1, 1, 0)
    while s:
        if s & 1:
            result = _add(result, point)
        point = _add(point, point)
        s >>= 1
    return result


def public_key(seed: bytes) -> bytes:
    """The Ed25519 public key of a 32-byte seed (what sodium's seed_keypair gives)."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    x, y, z, _ = _mul(a, _G)
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")
