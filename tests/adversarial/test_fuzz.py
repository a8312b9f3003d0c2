"""Bad input: fuzzed params for every custom method, malformed framing over a raw pipe,
and the loopback URL policy against every spelling of "somewhere else".

Invariants: every id-bearing request gets a response, the sidecar neither crashes nor
hangs (every wait is bounded), memory stays bounded, and only `localhost`,
`127.0.0.1` and `::1` pass the Ollama policy.
"""

# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testkit.sidecar import RpcError, Sidecar, frame, proc_rss_mb

from modelwire import methods
from modelwire import protocol as p
from modelwire.adapters import netpolicy
from modelwire.errors import ModelWireError
from tests.adversarial.helpers import SAFE_ENV, Workspace, make_workspace, running

# --- the custom methods -------------------------------------------------------------------

REQUEST_METHODS = sorted(
    value
    for name, value in vars(p).items()
    if isinstance(value, str)
    and value.startswith("modelwire/")
    and name.isupper()
    and value not in methods.NOTIFICATIONS  # sidecar → client: nothing to answer
)
PARAM_MODELS = [
    cls
    for cls in vars(p).values()
    if isinstance(cls, type) and issubclass(cls, p.Params) and cls is not p.Params
]
FIELD_NAMES = sorted(
    {field.alias or name for cls in PARAM_MODELS for name, field in cls.model_fields.items()}
)
# Answers a fuzzed request may get: bad params, a server-defined error with a stable
# code, a cancellation. Never -32603 (an internal error is a bug) and never silence.
ALLOWED_RPC = {-32602, -32001, -32800}

# URLs a fuzzed connection may point at: all loopback, none listening (port 9).
SAFE_URLS = [
    "http://127.0.0.1:9",
    "http://localhost:9",
    "http://[::1]:9/v1",
    "http://10.0.0.1:9",
    "https://example.invalid/v1",
    "ftp://127.0.0.1",
    "http://user:pw@localhost:9",
    "",
    "http://127.1:9",
    "http://0x7f000001:9",
    "not a url",
    "http://[::1",
]

json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "",
            "x" * 5000,
            "../../etc/passwd",
            "file:///etc/passwd",
            "\u202e",
            "explain",
            "review",
            "ollama",
            "openai",
            "embedded",
        ]
    )
    | st.sampled_from(SAFE_URLS)
)
json_value = st.recursive(
    json_scalar,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*FIELD_NAMES, "x"]), children, max_size=4)
    ),
    max_leaves=12,
)
params_strategy = st.one_of(
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_value, max_size=6),
    st.lists(json_value, max_size=3),
    json_scalar,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path)


def test_every_custom_method_is_fuzzed() -> None:
    # The fuzzed list is derived from the constants; it must be exactly what the sidecar
    # registers, so a new request method is fuzzed the day it is added.
    from modelwire.lsp.handlers import HANDLERS

    assert set(REQUEST_METHODS) == set(HANDLERS)


def test_fuzzed_params_always_get_an_answer(ws: Workspace) -> None:
    loop = asyncio.new_event_loop()
    try:
        sidecar = loop.run_until_complete(_start(ws))
        seen: dict[str, int] = {}

        @settings(
            max_examples=1000,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(method=st.sampled_from(REQUEST_METHODS), params=params_strategy)
        def answered(method: str, params: Any) -> None:
            outcome = loop.run_until_complete(_ask(sidecar, method, params))
            seen[method] = seen.get(method, 0) + 1
            if isinstance(outcome, RpcError):
                assert outcome.code in ALLOWED_RPC, (method, params, outcome.code, outcome.message)
                assert isinstance(outcome.data, dict) and outcome.data.get("code"), outcome.data

        answered()
        assert set(seen) == set(REQUEST_METHODS)
        loop.run_until_complete(sidecar.call("modelwire/status", {}, timeout=10))
        assert proc_rss_mb(sidecar.pid) < 400
        assert loop.run_until_complete(sidecar.close()) == 0
    finally:
        loop.run_until_complete(_kill_all())
        loop.close()


_started: list[Sidecar] = []


async def _start(ws: Workspace) -> Sidecar:
    s = await Sidecar.start(ws.home, folders=[ws.folder], env=SAFE_ENV, stderr_path=ws.log)
    s.consent_answer = "Deny"
    _started.append(s)
    return s


async def _kill_all() -> None:
    while _started:
        await _started.pop().kill()


async def _ask(s: Sidecar, method: str, params: Any) -> Any:
    msg: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": f"f{id(params)}-{len(s.events)}",
        "method": method,
        "params": params,
    }
    fut = s.expect(msg["id"])
    s.send_raw(frame(msg))
    await s.drain()
    try:
        return await asyncio.wait_for(fut, 15)
    except RpcError as exc:
        return exc
    except TimeoutError:
        raise AssertionError(f"no answer within 15 s to {method} {params!r}") from None


# --- raw framing -----------------------------------------------------------------------------


def _raw(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def _answer(s: Sidecar, msg_id: Any, timeout: float = 10) -> Any:
    fut = s.expect(msg_id)
    try:
        return await asyncio.wait_for(fut, timeout)
    except RpcError as exc:
        return exc


async def _still_answers(s: Sidecar, timeout: float = 10) -> None:
    assert s.proc.returncode is None, "the sidecar died"
    await s.call("modelwire/listProviders", {}, timeout=timeout)


async def _answers_or_kill(s: Sidecar) -> None:
    """For the known-broken cases: a short bound, then kill (no slow shutdown)."""
    try:
        await _still_answers(s, timeout=3)
    finally:
        await s.kill()


def _null_id_errors(s: Sidecar) -> list[int]:
    return [m["error"]["code"] for m in s.unmatched if "error" in m and m.get("id") is None]


async def test_invalid_json_is_a_parse_error_and_the_next_request_is_served(ws: Workspace) -> None:
    async with running(ws) as s:
        s.send_raw(_raw(b'{"jsonrpc":"2.0","id":1,"method":'))
        await _still_answers(s)
        assert -32700 in _null_id_errors(s)


async def test_invalid_utf8_is_a_parse_error(ws: Workspace) -> None:
    async with running(ws) as s:
        s.send_raw(_raw(b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}'))
        await _still_answers(s)
        assert -32700 in _null_id_errors(s)


async def test_batch_arrays_and_non_objects_are_invalid_requests(ws: Workspace) -> None:
    async with running(ws) as s:
        for body in (
            b'[{"jsonrpc":"2.0","id":1,"method":"modelwire/status"}]',
            b'"hi"',
            b"42",
            b"[]",
        ):
            s.send_raw(_raw(body))
        await _still_answers(s)
        assert _null_id_errors(s).count(-32600) >= 3


async def test_non_object_params_are_rejected_for_every_method(ws: Workspace) -> None:
    async with running(ws) as s:
        for i, method in enumerate(REQUEST_METHODS):
            for j, params in enumerate(([1, 2], "text", 7, True)):
                msg_id = f"{i}-{j}"
                fut = _answer(s, msg_id)
                s.send_raw(
                    frame({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
                )
                answer = await fut
                assert isinstance(answer, RpcError) and answer.code == -32602, (method, params)
        await _still_answers(s)


async def test_wrong_jsonrpc_version_is_answered_with_its_id(ws: Workspace) -> None:
    async with running(ws) as s:
        for version in ("1.0", 2, None):
            fut = _answer(s, f"v{version}")
            s.send_raw(
                frame({"jsonrpc": version, "id": f"v{version}", "method": "modelwire/status"})
            )
            answer = await fut
            assert isinstance(answer, RpcError) and answer.code == -32600


async def test_unknown_methods_are_method_not_found(ws: Workspace) -> None:
    async with running(ws) as s:
        for i, method in enumerate(("modelwire/nope", "foo/bar", "$/unknown", "textDocument/x")):
            fut = _answer(s, i)
            s.send_raw(frame({"jsonrpc": "2.0", "id": i, "method": method, "params": {}}))
            answer = await fut
            assert isinstance(answer, RpcError) and answer.code == -32601, (method, answer)


async def test_unknown_method_without_params_is_method_not_found(ws: Workspace) -> None:
    async with running(ws) as s:
        fut = _answer(s, 9)
        s.send_raw(_raw(b'{"jsonrpc":"2.0","id":9,"method":"foo/bar"}'))
        answer = await fut
        assert isinstance(answer, RpcError) and answer.code == -32601, answer


async def test_object_id_is_an_invalid_request_without_a_traceback(ws: Workspace) -> None:
    async with running(ws) as s:
        s.send_raw(_raw(b'{"jsonrpc":"2.0","id":{"a":1},"method":"modelwire/status"}'))
        await _answers_or_kill(s)
        answers = [m for m in s.unmatched if m.get("id") == {"a": 1} or m.get("id") is None]
        assert answers, s.unmatched
        error = answers[0]["error"]
        assert error["code"] == -32600 and "traceback" not in json.dumps(error)


async def test_a_20mb_message_is_answered_and_memory_stays_bounded(ws: Workspace) -> None:
    async with running(ws) as s:
        for i, params in enumerate(({"runId": "a" * 20_000_000}, {"x": ["y" * 1000] * 20_000})):
            fut = _answer(s, f"big{i}", timeout=60)
            s.send_raw(
                frame(
                    {
                        "jsonrpc": "2.0",
                        "id": f"big{i}",
                        "method": "modelwire/getRun",
                        "params": params,
                    }
                )
            )
            await s.drain()
            answer = await fut
            assert isinstance(answer, RpcError) and answer.code == -32602
            assert len(answer.message) < 1000  # the reason, not the payload
        assert proc_rss_mb(s.pid) < 500
        await _still_answers(s)


async def test_extra_headers_are_accepted(ws: Workspace) -> None:
    async with running(ws) as s:
        body = json.dumps({"jsonrpc": "2.0", "id": "h", "method": "modelwire/status"}).encode()
        fut = _answer(s, "h")
        s.send_raw(
            b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; "
            b"charset=utf-8\r\n\r\n%s" % (len(body), body)
        )
        assert not isinstance(await fut, RpcError)


async def test_truncated_body_then_eof_exits_cleanly(ws: Workspace) -> None:
    s = await Sidecar.start(ws.home, folders=[ws.folder], env=SAFE_ENV, stderr_path=ws.log)
    try:
        s.send_raw(b'Content-Length: 500\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"mod')
        await s.drain()
        s.close_stdin()
        assert await asyncio.wait_for(s.proc.wait(), 15) == 0
    finally:
        await s.kill()


async def test_eof_without_shutdown_exits_cleanly(ws: Workspace) -> None:
    s = await Sidecar.start(ws.home, folders=[ws.folder], env=SAFE_ENV, stderr_path=ws.log)
    try:
        await s.call("modelwire/status", {})
        s.close_stdin()
        assert await asyncio.wait_for(s.proc.wait(), 15) == 0
    finally:
        await s.kill()


async def test_an_absurd_content_length_does_not_kill_the_sidecar(ws: Workspace) -> None:
    async with running(ws) as s:
        s.send_raw(b"Content-Length: 100000000000000\r\n\r\n{}")
        await s.drain()
        await _answers_or_kill(s)


@pytest.mark.parametrize(
    "bad_frame",
    [
        b"Content-Length: abc\r\n\r\n{}",
        b"Content-Length: -5\r\n\r\n{}",
        b'Content-Length: 5\r\n\r\n{"jsonrpc":"2.0","id":1,"method":"modelwire/status"}',
    ],
    ids=["not-a-number", "negative", "too-small"],
)
async def test_the_sidecar_recovers_after_a_bad_content_length(
    ws: Workspace, bad_frame: bytes
) -> None:
    async with running(ws) as s:
        s.send_raw(bad_frame)
        await _answers_or_kill(s)


# --- the loopback policy (unit level, netpolicy.py) ---------------------------------------------

ALLOWED = {"localhost", "127.0.0.1", "::1"}

BAD_URLS = [
    # IPv4 shorthand and other numeric spellings of 127.0.0.1
    "http://127.1:11434",
    "http://127.0.1:11434",
    "http://2130706433:11434",
    "http://0x7f000001:11434",
    "http://0x7f.0.0.1:11434",
    "http://0177.0.0.1:11434",
    "http://017700000001:11434",
    "http://127.000.000.001:11434",
    "http://0:11434",
    "http://0.0.0.0:11434",
    "http://127.0.0.2:11434",
    "http://127.255.255.254:11434",
    # IPv6 spellings
    "http://[::ffff:127.0.0.1]:11434",
    "http://[::ffff:7f00:1]:11434",
    "http://[::127.0.0.1]:11434",
    "http://[0:0:0:0:0:0:0:1]:11434",
    "http://[::0:1]:11434",
    "http://[::1%25lo]:11434",
    "http://[::1%lo]:11434",
    "http://[fe80::1%25eth0]:11434",
    "http://[::]:11434",
    "http://::1:11434",
    "http://[::ffff:10.0.0.1]:11434",
    # userinfo tricks
    "http://user@localhost:11434",
    "http://user:pw@127.0.0.1:11434",
    "http://:@localhost:11434",
    "http://localhost@evil.example:11434",
    "http://localhost:11434@evil.example",
    "http://127.0.0.1%40evil.example:11434",
    "http://evil.example#@localhost:11434",
    "http://evil.example?@localhost:11434",
    "http://localhost\\@evil.example:11434",
    # backslashes, trailing dots, case
    "http://evil.example\\.localhost:11434",
    "http:\\\\localhost:11434",
    "http://localhost\\evil.example",
    "http://localhost.:11434",
    "http://127.0.0.1.:11434",
    "http://localhost..:11434",
    # IDN, punycode, lookalikes, percent-encoding
    "http://ｌｏｃａｌｈｏｓｔ:11434",
    "http://localhoﬆ:11434",
    "http://xn--localhost-:11434",
    "http://xn--lcalhost-9za:11434",
    "http://l%6fcalhost:11434",
    "http://%6c%6f%63%61%6c%68%6f%73%74",
    "http://127%2e0%2e0%2e1:11434",
    "http://localhost%00.evil.example",
    "http://local\u200bhost:11434",
    "http://localhost\u3002:11434",
    # DNS names that resolve to loopback (or would) but are not one of the three
    "http://ip6-localhost:11434",
    "http://ip6-loopback:11434",
    "http://localhost.localdomain:11434",
    "http://127.0.0.1.nip.io:11434",
    "http://localtest.me:11434",
    "http://sub.localhost:11434",
    "http://evil.example:11434",
    # schemes and shapes
    "https://evil.example/",
    "file:///etc/passwd",
    "ftp://127.0.0.1",
    "//localhost:11434",
    "localhost:11434",
    "http://:11434",
    "http://localhost:99999",
    "http://localhost:-1",
    "http://localhost:11434/?q=1",
    "http://localhost:11434/#frag",
    "http://localhost :11434",
    "http://localhost\t:11434",
    "http://localhost\n.evil.example",
    " http://localhost:11434",
]
GOOD_URLS = [
    "http://localhost:11434",
    "http://127.0.0.1:11434",
    "http://[::1]:11434",
    "http://localhost",
    "https://127.0.0.1:8443/ollama",
    "http://[::1]/",
    # Host names are case-insensitive: this is the same host, and httpx sends `localhost`.
    "http://LOCALHOST:11434",
    "http://LocalHost:11434",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_loopback_policy_rejects(url: str) -> None:
    with pytest.raises(ModelWireError) as err:
        netpolicy.check_loopback(url)
    assert err.value.code.value in ("NON_LOOPBACK_REJECTED", "INVALID_BASE_URL")
    assert "pw@" not in err.value.message  # a password in a URL is never echoed


@pytest.mark.parametrize("url", GOOD_URLS)
def test_loopback_policy_accepts_the_three_hosts(url: str) -> None:
    addresses = netpolicy.check_loopback(url)
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Make `localhost` resolve to whatever the test says (a hostile hosts file)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port or 0),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield answers


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["127.0.0.1", "192.168.1.10"],
        ["::ffff:10.0.0.1"],
        ["fe80::1"],
        [],
        ["0.0.0.0"],
        ["::"],
    ],
)
def test_localhost_resolving_elsewhere_is_rejected(
    resolver: dict[str, list[str]], addresses: list[str]
) -> None:
    resolver["localhost"] = addresses
    with pytest.raises(ModelWireError) as err:
        netpolicy.check_loopback("http://localhost:11434")
    assert err.value.code.value == "NON_LOOPBACK_REJECTED"


def test_localhost_resolving_to_loopback_only_passes(resolver: dict[str, list[str]]) -> None:
    resolver["localhost"] = ["127.0.0.1", "::1", "::ffff:127.0.0.1"]
    assert netpolicy.check_loopback("http://localhost:11434")


URL_PIECES = st.sampled_from(
    [
        "localhost",
        "127.0.0.1",
        "[::1]",
        "::1",
        "127.1",
        "0x7f000001",
        "2130706433",
        "@",
        ":",
        "\\",
        "/",
        ".",
        "%2e",
        "%40",
        "evil.example",
        "user",
        "pw",
        "11434",
        "[",
        "]",
        "#",
        "?",
        "xn--",
        "ｌ",
        "\u3002",
        "%",
        "0",
        "::ffff:",
        "%25lo",
        "LOCALHOST",
        "\t",
    ]
)


@settings(max_examples=600, deadline=None, database=None)
@given(st.lists(URL_PIECES, min_size=1, max_size=7).map("".join))
def test_any_accepted_url_reaches_only_the_three_hosts(netloc: str) -> None:
    """Differential: whatever check_loopback_url accepts, httpx (which sends the request)
    must see one of the three hosts and no credentials."""
    url = "http://" + netloc
    try:
        netpolicy.check_loopback_url(url)
    except ModelWireError:
        return
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        # Accepted but unparseable by httpx: the bracket quirk (xfail test below) when
        # the authority has a '[' that is not a whole leading [::1]; anything else fails.
        assert "[" in netloc, url
        return
    assert parsed.host in ALLOWED, (url, parsed.host)
    assert not parsed.userinfo, url


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example[::1]:11434",
        "http://[::1]evil.example",
        "http://localhost[::1]",
        "http://127.0.0.1[::1]",
        "http://evil.example:80[::1]",
    ],
)
def test_brackets_after_a_name_are_rejected(url: str) -> None:
    with pytest.raises(ModelWireError):
        netpolicy.check_loopback(url)


async def test_a_bracket_quirk_url_is_refused_when_the_connection_is_saved(
    ws: Workspace,
) -> None:
    async with running(ws) as s:
        with pytest.raises(RpcError) as err:
            await s.call(
                "modelwire/createConnection",
                {"name": "x", "providerId": "ollama", "baseUrl": "http://evil.example[::1]:11434"},
            )
        assert err.value.code == -32602
