"""`modelwire agents`: the built-in and workspace agents."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from modelwire.cli import format as fmt
from modelwire.cli.console import err, print_json
from modelwire.cli.context import with_core
from modelwire.cli.exits import EXIT_OK

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire


async def cmd_agents(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        agents = app.agents.list(Path.cwd())
        if args.json:
            print_json(
                [
                    {
                        "id": a.id,
                        "title": a.title,
                        "description": a.description,
                        "input": a.input,
                        "output": a.output,
                        "origin": a.origin,
                    }
                    for a in agents
                ]
            )
        else:
            rows = [[a.id, a.origin, a.output, a.description] for a in agents]
            print(fmt.table(["AGENT", "ORIGIN", "OUTPUT", "DESCRIPTION"], rows))
        for warning in app.agents.warnings(Path.cwd()):
            err(f"warning: {warning}")
        return EXIT_OK

    return await with_core(body)
