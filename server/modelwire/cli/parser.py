"""The argument parser: every command, flag and help text in one place."""

from __future__ import annotations

import argparse
from typing import NoReturn

from modelwire.cli.chat import add_chat_parser
from modelwire.cli.context import ENV_CONNECTION, ENV_MODEL
from modelwire.cli.p2p import add_p2p_parser
from modelwire.cli.share import add_share_parser
from modelwire.errors import redact


class _Parser(argparse.ArgumentParser):
    """argparse quotes unrecognised arguments back; a key typed by mistake
    (`set-secret Cloud sk-…`) must not be echoed with them."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            # Keys have no common shape (`gsk_…`, `AIza…`, opaque tokens): never echo
            # the extra arguments at all, only how many there were.
            extra = len(message.split(":", 1)[1].split())
            message = (
                f"{extra} unrecognized argument(s), not shown in case one is a key "
                "(set-secret reads the key from a hidden prompt or stdin)"
            )
        super().error(redact(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelwire",
        description="Run AI agents on files against local and cloud models.",
        epilog="Exit codes: 0 ok, 1 internal, 2 usage, 3 not found, 4 key/consent, "
        "5 unreachable/busy, 6 generation failed, 130 cancelled (docs/cli.md).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument(
        "--raw-output",
        action="store_true",
        help="write server text byte for byte even on a terminal (escape sequences "
        "included: only for text you trust)",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    sub.add_parser("serve", help="start the language-server sidecar on stdio (for editors)")

    run = sub.add_parser("run", help="run an agent on a file; the answer streams to stdout")
    run.add_argument("agent", metavar="AGENT", help="explain, review, document, summarize, …")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--selection", metavar="START:END", help="1-based inclusive line range")
    run.add_argument(
        "--connection", metavar="NAME", help=f"connection name or id ({ENV_CONNECTION})"
    )
    run.add_argument(
        "--model", metavar="M", help=f"model, or 'connection-name/model' ({ENV_MODEL})"
    )

    agents = sub.add_parser("agents", help="list the agents (built in and .modelwire/agents)")
    agents.add_argument("--json", action="store_true")

    conns = sub.add_parser("connections", help="manage named connections")
    actions = conns.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser
    )
    c_list = actions.add_parser("list", help="table of connections (never a key)")
    c_list.add_argument("--json", action="store_true")
    c_add = actions.add_parser("add", help="add a connection")
    c_add.add_argument("--name", required=True)
    c_add.add_argument("--provider", required=True, help="ollama, openai, or a plugin's id")
    c_add.add_argument("--base-url", help="default: the provider's")
    c_add.add_argument("--default-model")
    c_add.add_argument("--json", action="store_true")
    c_edit = actions.add_parser("edit", help="change a connection")
    c_edit.add_argument("connection", metavar="NAME")
    c_edit.add_argument("--name", help="new name")
    c_edit.add_argument("--base-url")
    c_edit.add_argument("--default-model", help="'' clears it")
    c_edit.add_argument("--json", action="store_true")
    c_remove = actions.add_parser("remove", help="delete a connection and its key")
    c_remove.add_argument("connection", metavar="NAME")
    c_show = actions.add_parser(
        "show", help="one connection (never its key); a peer connection's public key"
    )
    c_show.add_argument("connection", metavar="NAME")
    c_show.add_argument("--json", action="store_true")
    c_test = actions.add_parser("test", help="check that connections answer (all by default)")
    c_test.add_argument("connection", metavar="NAME", nargs="?")
    c_test.add_argument("--json", action="store_true")
    c_secret = actions.add_parser(
        "set-secret", help="store a connection's API key (hidden prompt, or stdin)"
    )
    c_secret.add_argument("connection", metavar="NAME")
    c_unsecret = actions.add_parser("delete-secret", help="remove a connection's API key")
    c_unsecret.add_argument("connection", metavar="NAME")

    models = sub.add_parser("models", help="models a connection offers")
    models.add_argument("--connection", metavar="NAME")
    models.add_argument(
        "--refresh", action="store_true", help="ask the server again instead of the cached list"
    )
    models.add_argument("--json", action="store_true")

    pull = sub.add_parser("pull", help="download a model into Ollama")
    pull.add_argument("model", metavar="MODEL")
    pull.add_argument("--connection", metavar="NAME")

    runs = sub.add_parser("runs", help="run history with routing and timings, as a tree")
    runs.add_argument("--last", type=int, default=20, metavar="N")
    runs.add_argument("--json", action="store_true")
    runs_actions = runs.add_subparsers(dest="runs_action", metavar="[show]")
    show = runs_actions.add_parser("show", help="one run: routing, steps, child runs, output")
    show.add_argument("run_id", metavar="ID", help="a run id (or the start of one)")
    show.add_argument(
        "--requests", action="store_true", help="also the exact model requests it made"
    )
    show.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="version, keyring, storage")
    status.add_argument("--json", action="store_true")
    sub.add_parser("doctor", help="check the keyring, storage, embedded model and connections")
    add_share_parser(sub)
    add_chat_parser(sub)
    add_p2p_parser(sub)
    return parser
