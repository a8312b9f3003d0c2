"""Imports flow one way: front doors (lsp/, cli/) → core/ → adapters/ (docs/architecture.md).

Checked on the source, every import statement including the lazy ones inside functions,
so a shortcut across layers fails here instead of surfacing as an import cycle later.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import modelwire

PACKAGE = Path(modelwire.__file__).parent

# What each layer must never import (prefix match on the dotted module name).
FORBIDDEN = {
    "core": ("modelwire.lsp", "modelwire.cli", "pygls", "lsprotocol"),
    "adapters": ("modelwire.core", "modelwire.lsp", "modelwire.cli", "pygls", "lsprotocol"),
}
# Leaves: both layers import them, so they import no layer at all.
LEAVES = (
    "errors.py",
    "redaction.py",
    "invisible.py",
    "methods.py",
    "protocol.py",
    "run_events.py",
    "clock.py",
)
LAYERS = ("modelwire.core", "modelwire.adapters", "modelwire.lsp", "modelwire.cli")


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def violations(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [
        name
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(layer: str) -> None:
    found = {
        str(path.relative_to(PACKAGE)): bad
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        if (bad := violations(path, FORBIDDEN[layer]))
    }
    assert found == {}, f"{layer}/ imports upwards: {found}"


def test_leaf_modules_import_no_layer() -> None:
    found = {leaf: bad for leaf in LEAVES if (bad := violations(PACKAGE / leaf, LAYERS))}
    assert found == {}, f"leaf modules import a layer: {found}"
