"""The CLI front door (`modelwire …`): argument parsing and printing over the same core.

No business logic lives here: every command builds a `ModelWire` core, calls it, and
prints. Answers go to stdout; progress, the routing line and errors go to stderr, so
`modelwire run explain f.py > out.md` captures only the model's text. Exit codes follow
the error codes (docs/cli.md).

Layout: `parser` (flags), `entry` (`main`), one module per command group (`run`,
`agents`, `connections`, `models`, `status`), `run_view` (the run renderer), `format`
(pure text), `console` (stdout/stderr), `context` (environment, requester, core),
`exits` (exit codes).
"""

from modelwire.cli.entry import main

__all__ = ["main"]
