"""The real sidecar plus one extra method that misbehaves the way real code does:
a stray print(), a C-level write to fd 1, and a child process inheriting stdout."""

from __future__ import annotations

import os
import subprocess
import sys

from modelwire.lsp import server as lsp_server


def _noisy_build(core_factory=None):  # type: ignore[no-untyped-def]
    print("print while the server starts")  # like a chatty plugin import
    server = _original(core_factory)

    @server.feature("test/noise")
    async def noise(ls, params):  # type: ignore[no-untyped-def]
        print("stray print from a handler")
        os.write(1, b"raw write to fd 1\n")
        # Blocking on purpose: the test pipes every request at once and shuts down right
        # after, so the answer must be written before the loop reads `shutdown`.
        subprocess.run([sys.executable, "-c", "print('child process output')"], check=True)
        return {"noisy": True}

    return server


_original = lsp_server.build_server
lsp_server.build_server = _noisy_build

if __name__ == "__main__":
    sys.exit(lsp_server.serve())
