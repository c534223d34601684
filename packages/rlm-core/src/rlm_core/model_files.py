"""Model files pinned by content: sha256 checks remembered in stamps, and Hub downloads.

A file is hashed once; a stamp (its path, size, mtime and sha256) in the stamp folder
lets later runs trust it without reading ~500 MB again. Any change of size or mtime
means hashing it again. Downloads from the Hugging Face Hub use ``huggingface_hub`` (in
the ``local`` extra) at a pinned revision and are checked the same way before they are
moved into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from rlm_core.errors import ConfigError

logger = logging.getLogger(__name__)

HF_ENDPOINT_ENV = "HF_ENDPOINT"
DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 5.0
CHUNK = 8 * 1024 * 1024


class LocalModelError(ConfigError):
    """No usable local model: the message says how to install or point to one."""


class ModelIntegrityError(LocalModelError):
    """A model file's sha256 is not the pinned one."""


class HubDownloadError(LocalModelError):
    """The Hugging Face Hub could not be reached or did not serve the pinned file."""


@dataclass(frozen=True, slots=True)
class PinnedModel:
    """A GGUF file known by its content, and where its official copy is published."""

    name: str
    filename: str
    sha256: str
    size: int
    repo_id: str
    revision: str
    context_length: int

    @property
    def url(self) -> str:
        """The file's page on the Hub, at the pinned revision."""
        return f"{DEFAULT_ENDPOINT}/{self.repo_id}/blob/{self.revision}/{self.filename}"

    def resolve_url(self, endpoint: str) -> str:
        """Where ``endpoint`` serves the file (what ``hf_hub_download`` asks for)."""
        return f"{endpoint.rstrip('/')}/{self.repo_id}/resolve/{self.revision}/{self.filename}"


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in 8 MB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_hashing(source: IO[bytes], out: IO[bytes], digest: hashlib._Hash) -> None:
    """Copy ``source`` into ``out`` and feed every byte to ``digest`` (one pass over the data)."""
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        out.write(chunk)


def mismatch(path: Path, actual: str, expected: str, fix: str) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"{path} has sha256 {actual}, but the pinned sha256 is {expected}: "
        f"the file is damaged or not the expected model; {fix}"
    )


class Stamps:
    """Remembers which files were verified, in ``folder`` (one small JSON file per path)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _stamp(self, path: Path) -> Path:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
        return self.folder / f"{key}.json"

    def is_verified(self, path: Path, sha256: str) -> bool:
        """True when ``path`` was verified as ``sha256`` and has not changed since."""
        try:
            stamp = json.loads(self._stamp(path).read_text(encoding="utf-8"))
            stat = path.stat()
        except (OSError, ValueError):
            return False
        return bool(
            isinstance(stamp, dict)
            and stamp.get("sha256") == sha256
            and stamp.get("path") == str(path.resolve())
            and stamp.get("size") == stat.st_size
            and stamp.get("mtime_ns") == stat.st_mtime_ns
        )

    def record(self, path: Path, sha256: str) -> None:
        """Remember that ``path`` hashes to ``sha256`` (best effort: a read-only cache is fine)."""
        stat = path.stat()
        record = {
            "path": str(path.resolve()),
            "sha256": sha256,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }
        stamp = self._stamp(path)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = stamp.with_name(f"{stamp.name}.{os.getpid()}.partial")
            partial.write_text(json.dumps(record), encoding="utf-8")
            os.replace(partial, stamp)
        except OSError:
            pass

    def verify(self, path: Path, sha256: str, fix: str) -> None:
        """Check ``path`` against ``sha256``, hashing it only if no valid stamp says so."""
        sha256 = sha256.lower()
        if self.is_verified(path, sha256):
            return
        actual = sha256_of(path)
        if actual != sha256:
            raise mismatch(path, actual, sha256, fix)
        self.record(path, actual)


def download_from_hub(
    model: PinnedModel, target: Path, stamps: Stamps, *, endpoint: str | None = None
) -> Path:
    """Fetch ``model`` from the Hub at its pinned revision into ``target``, verified.

    ``endpoint`` defaults to ``HF_ENDPOINT`` (read now, not at import). The file is
    downloaded into a folder beside ``target`` and moved into place only when its
    sha256 is the pinned one. Raises ``HubDownloadError`` when the Hub cannot serve it.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise HubDownloadError(
            'downloading the model needs huggingface_hub: pip install "rlm-core[local]"'
        ) from None
    endpoint = endpoint or os.environ.get(HF_ENDPOINT_ENV, "").strip() or DEFAULT_ENDPOINT
    endpoint = endpoint.rstrip("/")
    failure = f"could not download {model.repo_id}/{model.filename}@{model.revision[:12]} from "
    _probe(model.resolve_url(endpoint), failure + endpoint)
    logger.warning(
        "downloading %s (%d MB) from %s into %s",
        model.filename,
        model.size // 1_000_000,
        endpoint,
        target.parent,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".download-{os.getpid()}"
    try:
        try:
            fetched = Path(
                hf_hub_download(
                    model.repo_id,
                    model.filename,
                    revision=model.revision,
                    local_dir=staging,
                    endpoint=endpoint,
                )
            )
        except Exception as error:  # network, HTTP and offline-mode errors alike
            raise HubDownloadError(
                f"{failure}{endpoint}: {type(error).__name__}: {_first_line(error)}"
            ) from None
        actual = sha256_of(fetched)
        if actual != model.sha256:
            raise mismatch(
                fetched, actual, model.sha256, f"the download from {model.repo_id} was refused"
            )
        os.replace(fetched, target)
        stamps.record(target, actual)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _probe(url: str, failure: str) -> None:
    """One quick request first, so an offline machine fails at once rather than after
    ``huggingface_hub``'s retries (about 20 s)."""
    try:
        response = httpx.head(url, timeout=PROBE_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as error:
        raise HubDownloadError(
            f"{failure}: {type(error).__name__}: {_first_line(error)} (offline?)"
        ) from None
    if response.status_code >= 500:
        raise HubDownloadError(f"{failure}: the server answered {response.status_code}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"
