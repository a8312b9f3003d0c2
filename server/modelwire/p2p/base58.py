"""Base58 (Bitcoin alphabet): how a Server ID spells a 32-byte topic."""

from __future__ import annotations

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
# 32 bytes need at most 44 characters; anything longer is not a Server ID.
MAX_DECODE_CHARS = 64


def encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def decode(text: str) -> bytes:
    """Raises ValueError on a character outside the alphabet or an over-long input."""
    if len(text) > MAX_DECODE_CHARS:
        raise ValueError("too long for base58 here")
    number = 0
    for char in text:
        digit = _INDEX.get(char)
        if digit is None:
            raise ValueError(f"{char!r} is not a base58 character")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
