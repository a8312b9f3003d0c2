"""fd 1 carries JSON-RPC only: stray prints and children cannot corrupt the stream.

pytest-lsp's client tolerates junk between messages, so this test reads the raw bytes
and parses them strictly, the way VS Code does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def frame(msg: dict[str, Any]) -> bytes:
    body = json.dumps(msg).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def parse_strictly(data: bytes) -> list[dict[str, Any]]:
    messages = []
    while data:
        header, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"junk instead of a header: {data[:80]!r}"
        lines = header.split(b"\r\n")
        length = None
        for line in lines:
            name, _, value = line.partition(b": ")
            assert name in (b"Content-Length", b"Content-Type"), f"bad header line {line!r}"
            if name == b"Content-Length":
                length = int(value)
        assert length is not None
        messages.append(json.loads(rest[:length]))
        data = rest[length:]
    return messages


def test_prints_and_child_output_never_reach_the_protocol_stream(tmp_path: Path) -> None:
    script = Path(__file__).with_name("noisy_server.py")
    requests = b"".join(
        frame(m)
        for m in [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}},
            {"jsonrpc": "2.0", "method": "initialized", "params": {}},
            {"jsonrpc": "2.0", "id": 2, "method": "test/noise", "params": {}},
            {"jsonrpc": "2.0", "id": 3, "method": "modelwire/listProviders", "params": {}},
            {"jsonrpc": "2.0", "id": 4, "method": "shutdown", "params": None},
            {"jsonrpc": "2.0", "method": "exit", "params": None},
        ]
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        input=requests,
        capture_output=True,
        timeout=60,
        env={
            "MODELWIRE_HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path.cwd()),
        },
        cwd=Path.cwd(),
    )
    messages = parse_strictly(proc.stdout)
    by_id = {m.get("id"): m for m in messages if "id" in m}
    assert by_id[2]["result"] == {"noisy": True}
    assert by_id[3]["result"]["providers"]
    assert 4 in by_id
    stderr = proc.stderr.decode()
    for junk in (
        "print while the server starts",
        "stray print from a handler",
        "raw write to fd 1",
        "child process output",
    ):
        assert junk in stderr  # it went to the log instead
        assert junk.encode() not in proc.stdout
