"""Keep fd 1 for JSON-RPC only.

At start-up the protocol gets a private duplicate of fd 1, and fd 1 itself is pointed
at stderr. A stray `print`, a C library writing to stdout, or a child process that
inherits fd 1 then lands in the log instead of corrupting the editor's stream (VS Code
dies on "Header must provide a Content-Length property").
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO


def claim_stdout() -> BinaryIO:
    """Return a binary stream for the protocol; fd 1 now goes to stderr."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    os.set_inheritable(protocol_fd, False)  # children must not get the protocol channel
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb", buffering=0)
