"""The CLI front door (`modelwire …`): argument parsing and printing over the same core."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="modelwire", description="Run AI agents on files against local and cloud models."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="start the language-server sidecar on stdio (for editors)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        from modelwire.lsp.server import serve

        return serve()
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
