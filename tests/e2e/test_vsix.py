"""The packaged extension, editor-extension/modelwire-<version>.vsix (what a user installs and
what the code-server e2e installs), holds the esbuild bundle and what VS Code shows about the
extension (manifest, README, CHANGELOG, LICENSE, media/) and nothing else: no node_modules,
sources, tests, compiled tsc output or source maps. Before the bundle it held 1,938 files
(2.9 MB); this fails if it grows back. scripts/setup-editor builds it (`npm run package`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from tests.conftest import require_peer

pytestmark = pytest.mark.real_peer("vscode")

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editor-extension"
MAX_FILES = 30  # 17 today: 2 of the .vsix format, 5 files of the extension, 10 under media/
MAX_BYTES = 1_000_000  # ~230 KB today
# Inputs of the .vsix; one of them newer than it means scripts/setup-editor was not re-run.
INPUTS = ["src", "media", "package.json", "package-lock.json", "tsconfig.json", "esbuild.mjs"]
INPUTS += [".vscodeignore", "README.md", "CHANGELOG.md", "LICENSE"]


def manifest() -> dict:
    return json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))


def packaged() -> Path:
    vsix = EXTENSION / f"modelwire-{manifest()['version']}.vsix"
    require_peer(
        vsix.exists(),
        f"the packaged extension ({vsix.relative_to(REPO)})",
        "run scripts/setup-editor (scripts/setup --all installs everything)",
    )
    return vsix


def newest_input(after: float) -> Path | None:
    for name in INPUTS:
        root = EXTENSION / name
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            if path.is_file() and path.stat().st_mtime > after:
                return path
    return None


def test_the_vsix_is_built_from_this_checkout() -> None:
    vsix = packaged()
    stale = newest_input(vsix.stat().st_mtime)
    assert stale is None, (
        f"{vsix.name} is older than {stale.relative_to(REPO) if stale else ''}: "
        "run scripts/setup-editor (the e2e installs this file)"
    )
    with zipfile.ZipFile(vsix) as z:
        shipped = json.loads(z.read("extension/package.json"))
    assert shipped == manifest()


def test_the_vsix_holds_the_bundle_and_nothing_else() -> None:
    vsix = packaged()
    with zipfile.ZipFile(vsix) as z:
        entries = set(z.namelist())
    media = {
        f"extension/{p.relative_to(EXTENSION).as_posix()}"
        for p in (EXTENSION / "media").rglob("*")
        if p.is_file()
    }
    expected = {
        "[Content_Types].xml",
        "extension.vsixmanifest",
        "extension/package.json",
        "extension/readme.md",
        "extension/changelog.md",
        "extension/LICENSE.txt",
        "extension/dist/extension.js",
        *media,
    }
    for part in ("node_modules/", "src/", "test/", "out/"):
        assert not [e for e in entries if part in e], f"{part} inside {vsix.name}"
    assert not [e for e in entries if e.endswith((".map", ".ts"))], f"maps or sources: {entries}"
    assert entries - expected == set(), (
        "files the .vsix should not carry (or add them to this list on purpose)"
    )
    assert expected - entries == set(), "files the .vsix must carry"
    assert len(entries) <= MAX_FILES
    assert vsix.stat().st_size <= MAX_BYTES, f"{vsix.name}: {vsix.stat().st_size} bytes"


def test_every_file_the_manifest_names_is_in_the_vsix() -> None:
    vsix = packaged()
    with zipfile.ZipFile(vsix) as z:
        entries = set(z.namelist())
        shipped = json.loads(z.read("extension/package.json"))
    contributes = shipped["contributes"]
    named = [shipped["main"], shipped["icon"]]
    named += [c["icon"] for c in contributes["viewsContainers"]["activitybar"]]
    named += [v["icon"] for views in contributes["views"].values() for v in views if "icon" in v]
    for walkthrough in contributes["walkthroughs"]:
        for step in walkthrough["steps"]:
            named += [v for k, v in step["media"].items() if k in ("markdown", "image", "svg")]
    assert shipped["main"] == "./dist/extension.js"
    missing = [n for n in named if f"extension/{n.removeprefix('./')}" not in entries]
    assert missing == [], f"named in package.json, missing from {vsix.name}"


def test_the_bundle_is_minified_and_needs_only_vscode_and_node() -> None:
    vsix = packaged()
    node = shutil.which("node")
    require_peer(node is not None, "Node.js 20 (node)", "run scripts/setup --all")
    assert node is not None
    with zipfile.ZipFile(vsix) as z:
        bundle = z.read("extension/dist/extension.js").decode("utf-8")
    # The production build (`vscode:prepublish`): minified, no source map comment.
    assert "sourceMappingURL" not in bundle
    assert bundle.count("\n") < 200, "not minified: `vscode:prepublish` builds with --production"
    builtins = subprocess.run(
        [node, "-p", "require('node:module').builtinModules.join('\\n')"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    allowed = {"vscode", *builtins, *(f"node:{m}" for m in builtins)}
    required = set(re.findall(r"""\brequire\(\s*["']([^"']+)["']\s*\)""", bundle))
    assert "vscode" in required
    assert required - allowed == set(), "modules the bundle needs but does not contain"
