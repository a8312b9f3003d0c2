"""`python -m modelwire` is the CLI; `python -m modelwire serve` starts the sidecar."""

from modelwire.cli import main

raise SystemExit(main())
