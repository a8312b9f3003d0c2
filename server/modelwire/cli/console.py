"""Where the CLI writes: answers to stdout, everything else to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def err(text: str = "") -> None:
    """A line on stderr: progress, routing, warnings and errors, never the answer."""
    print(text, file=sys.stderr, flush=True)


def print_json(value: Any) -> None:
    """A `--json` answer on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False))
