"""`main()`: parse, dispatch to a command, turn failures into exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any

from pydantic import ValidationError

from modelwire.cli import format as fmt
from modelwire.cli.agents import cmd_agents
from modelwire.cli.chat import cmd_chat
from modelwire.cli.connections import cmd_connections
from modelwire.cli.console import err
from modelwire.cli.exits import (
    EXIT_CANCELLED,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    exit_code_for,
)
from modelwire.cli.models import cmd_models, cmd_pull
from modelwire.cli.p2p import cmd_p2p
from modelwire.cli.parser import build_parser
from modelwire.cli.run import cmd_run
from modelwire.cli.runs import cmd_runs
from modelwire.cli.share import cmd_share
from modelwire.cli.status import cmd_doctor, cmd_status
from modelwire.cli.terminal import guard_terminal
from modelwire.errors import ModelWireError

COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "run": cmd_run,
    "agents": cmd_agents,
    "connections": cmd_connections,
    "models": cmd_models,
    "pull": cmd_pull,
    "runs": cmd_runs,
    "status": cmd_status,
    "doctor": cmd_doctor,
    "share": cmd_share,
    "chat": cmd_chat,
    "p2p": cmd_p2p,
}


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="modelwire: %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.INFO if verbose else logging.WARNING)
    from modelwire.lsp.logs import install_redaction

    install_redaction()


def validation_reason(exc: ValidationError) -> str:
    reasons = []
    for problem in exc.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()))
        reasons.append(
            f"{where.replace('_', '-')}: {problem.get('msg')}" if where else problem["msg"]
        )
    return "; ".join(reasons)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from modelwire.lsp.server import serve

        return serve()
    if not getattr(args, "raw_output", False):
        guard_terminal()
    if getattr(args, "last", 1) < 1:
        parser.error("--last must be at least 1")
    setup_logging(args.verbose)
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        err(f"{parser.prog}: error: {exc}")
        return EXIT_USAGE
    except ModelWireError as exc:
        err(fmt.error_text(exc))
        return exit_code_for(exc.code)
    except ValidationError as exc:
        parser.print_usage(sys.stderr)
        err(f"{parser.prog}: error: {validation_reason(exc)}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err("modelwire: interrupted")
        return EXIT_CANCELLED
    except BrokenPipeError:
        # `modelwire runs | head`: the reader left; not an error worth a traceback.
        with suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        # A bug or data nobody validated: one line, never a traceback (with local paths
        # and values) unless asked for with --verbose.
        logging.getLogger("modelwire").debug("unexpected failure", exc_info=True)
        err(
            f"error: internal error ({type(exc).__name__})\n"
            "hint: this is a bug in ModelWire; run again with --verbose for details  "
            "[INTERNAL]"
        )
        return EXIT_FAILURE
