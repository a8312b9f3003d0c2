"""Runs in the embedded server child: llama-cpp-python's OpenAI-compatible app, served
on a Unix socket in our private folder instead of a TCP port anyone could take.

`python -m llama_cpp.server` only listens on host/port, so this builds its app the
same way and hands uvicorn a socket we bound (0600 inside a 0700 folder; uvicorn's own
`uds=` would chmod it 0666).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="modelwire-embedded-llama")
    parser.add_argument("--model", required=True)
    parser.add_argument("--model_alias", required=True)
    parser.add_argument("--n_ctx", type=int, default=2048)
    parser.add_argument("--n_threads", type=int, default=None)
    parser.add_argument("--uds", required=True)
    args, _unknown = parser.parse_known_args(argv)

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    model = {"model": args.model, "model_alias": args.model_alias, "n_ctx": args.n_ctx}
    if args.n_threads:
        model["n_threads"] = args.n_threads
    app = create_app(
        server_settings=ServerSettings(),
        model_settings=[ModelSettings(verbose=False, **model)],
    )
    # Bound only once the model is loaded: a connect before that is refused, and the
    # parent keeps waiting for readiness instead of hanging on a half-started server.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.uds)
    sock.bind(args.uds)
    os.chmod(args.uds, 0o600)
    sock.listen(64)
    uvicorn.run(app, fd=sock.fileno(), log_level="warning", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
