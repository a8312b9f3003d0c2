"""`python -m modelwire`: the CLI; `python -m modelwire serve` starts the sidecar.

`serve` is dispatched before the CLI module is imported: editors spawn the sidecar
this way, and its start-up time is spawn → `initialize` result (see bench/).
"""

import sys

if sys.argv[1:] == ["serve"]:
    from modelwire.lsp.server import serve

    raise SystemExit(serve())

from modelwire.cli import main

raise SystemExit(main())
