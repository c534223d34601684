"""A file cache of sub-call replies: identical sub-calls are not paid for twice."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

_FORMAT = 1


class FileCache:
    """One JSON file per reply under ``root``.

    The key covers the model that serves the call and every request parameter
    that changes the answer (messages, max_tokens, temperature). Writes are
    atomic (temp file + rename), so parallel sub-calls can share a cache; a
    corrupt or half-written entry reads as a miss.
    """

    def __init__(self, root: str | os.PathLike[str] = ".rlm_cache") -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key_for(
        model_id: str,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        **extra: Any,
    ) -> str:
        """A stable digest of everything that determines the reply."""
        payload = {
            "v": _FORMAT,
            "model": model_id,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "extra": extra,
        }
        encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(encoded).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached reply, or ``None`` on a miss or an unreadable entry."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            value = data["value"] if data.get("key") == key else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            value = None
        if isinstance(value, str):
            self.hits += 1
            return value
        self.misses += 1
        return None

    def set(self, key: str, value: str) -> None:
        """Store ``value`` atomically."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"key": key, "value": value}, handle, ensure_ascii=False)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def clear(self) -> None:
        """Delete every entry."""
        for entry in self.root.glob("*/*.json"):
            entry.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"FileCache(root={str(self.root)!r})"
