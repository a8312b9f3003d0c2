"""Ollama's network policy: loopback only, fail closed (docs/security.md).

A base URL passes only when its host is literally `localhost`, `127.0.0.1` or `::1`,
it carries no credentials, and every address the host resolves to is loopback. The
check runs when a connection is saved and again before each request, on the addresses
actually resolved then, so a changed hosts file or DNS answer cannot redirect traffic.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import SplitResult, urlsplit

from modelwire.errors import ErrorCode, ModelWireError

ALLOWED_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# The whole authority, literally: urlsplit reads `evil.example[::1]:11434` as host ::1.
_LOOPBACK_AUTHORITY = re.compile(r"(?i:localhost)|127\.0\.0\.1|\[::1\]")
# A plausible authority for any provider: a bracketed IPv6 literal or a plain name,
# then an optional port; nothing else may sit around the host.
_AUTHORITY = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]@/\\\s:]+)(:\d{1,5})?")

_HINT = (
    "Ollama connections must use http://localhost:11434, http://127.0.0.1:11434 or "
    "http://[::1]:11434. To reach an Ollama on another machine, forward it over SSH "
    "(ssh -N -L 11434:localhost:11434 host) and connect to localhost."
)


def _reject(url: str, reason: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.NON_LOOPBACK_REJECTED,
        f"Refused {_safe(url)!r} for a local-only provider: {reason}.",
        _HINT,
    )


def _safe(url: str) -> str:
    """The URL without any userinfo, so a password typed into a URL is never echoed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return SplitResult(parts.scheme, netloc, parts.path, "", "").geturl()


def parse_base_url(url: str) -> SplitResult:
    """Parse and sanity-check any provider base URL (http/https, a host, a valid port)."""
    if not isinstance(url, str) or not url.strip():
        raise ModelWireError(
            ErrorCode.INVALID_BASE_URL,
            "The base URL is empty.",
            "Give a URL such as http://localhost:11434.",
        )
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise ModelWireError(
            ErrorCode.INVALID_BASE_URL,
            "The base URL contains whitespace or control characters.",
            "Remove spaces and line breaks from the URL.",
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ModelWireError(
            ErrorCode.INVALID_BASE_URL,
            f"The base URL is not valid: {exc}.",
            "Give a URL such as http://localhost:11434.",
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ModelWireError(
            ErrorCode.INVALID_BASE_URL,
            "The base URL must start with http:// or https:// "
            f"(got {parts.scheme or 'no scheme'}).",
            "Give a URL such as http://localhost:11434.",
        )
    if not parts.hostname:
        raise ModelWireError(
            ErrorCode.INVALID_BASE_URL,
            "The base URL has no host.",
            "Give a URL such as http://localhost:11434.",
        )
    if "@" not in parts.netloc and not _AUTHORITY.fullmatch(parts.netloc):
        raise ModelWireError(
            ErrorCode.INVALID_BASE_URL,
            f"The base URL's host part {parts.netloc!r} is not a host name or address.",
            "Give a URL such as http://localhost:11434 or https://api.example.com/v1.",
        )
    if parts.query or parts.fragment:
        raise ModelWireError(
            ErrorCode.INVALID_BASE_URL,
            "The base URL must not have a query or a fragment.",
            "Remove everything after '?' or '#'.",
        )
    del port
    return parts


def check_loopback_url(url: str) -> SplitResult:
    """Static part of the policy: the literal host and the absence of credentials."""
    parts = parse_base_url(url)
    # userinfo first: `http://localhost@evil.example` parses with host evil.example, and
    # `http://user:pw@localhost` would leak a credential into logs and requests.
    if "@" in parts.netloc:
        raise _reject(url, "credentials in the URL are not allowed")
    host = parts.hostname or ""
    authority = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
    if host not in ALLOWED_HOSTS or not _LOOPBACK_AUTHORITY.fullmatch(authority):
        raise _reject(url, f"host {host!r} is not localhost, 127.0.0.1 or ::1")
    return parts


def _all_loopback(addresses: list[str]) -> bool:
    if not addresses:
        return False
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not ip.is_loopback:
            return False
    return True


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


def check_loopback(url: str) -> list[str]:
    """The full policy, blocking: static checks plus resolution. Returns the addresses."""
    parts = check_loopback_url(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not _all_loopback(addresses):
        raise _reject(
            url,
            f"{host} resolves to {', '.join(addresses) or 'nothing'}, not only loopback addresses",
        )
    return addresses


async def check_loopback_async(url: str) -> list[str]:
    """`check_loopback` without blocking the event loop (resolution may hit the resolver)."""
    parts = check_loopback_url(url)
    if parts.hostname in ("127.0.0.1", "::1"):
        return [parts.hostname]  # literal loopback IPs need no resolution
    return await asyncio.to_thread(check_loopback, url)
