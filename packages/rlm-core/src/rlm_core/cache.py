"""A file cache of sub-call replies: identical sub-calls are not paid for twice."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_FORMAT = 1
JOURNALS = "journal"
RESCAN_SECONDS = 1.0


_SLOT = "\x00rlm user text\x00"  # stands for the user text while the frame is encoded


@functools.lru_cache(maxsize=64)
def _chat_frame(
    model_id: str, system: str, max_tokens: int, temperature: float
) -> tuple[Any, bytes] | None:
    """The hash state after the JSON that precedes the user text, and the JSON after it."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": _SLOT}]
    payload = {
        "v": _FORMAT,
        "model": model_id,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "extra": {},
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    slot = json.dumps(_SLOT, ensure_ascii=False).encode()
    if encoded.count(slot) != 1:
        return None
    head, tail = encoded.split(slot)
    return hashlib.sha256(head), tail


class FileCache:
    """Sub-call replies on disk under ``root``, in two forms read alike.

    ``set`` writes one JSON file per reply, atomically (temp file + rename). ``set_many``
    (what a run's background cache writer uses) appends replies as JSON lines to this
    process's own journal file under ``root/journal/``: one write for many replies instead
    of creating a file for each, which costs the kernel far more. ``get`` looks in the
    journals (indexed in memory) and then in the per-reply files; what other processes
    wrote is looked for again at most once a second (until then it is a miss). A corrupt
    or half-written entry, in either form, reads as a miss.

    The key covers the model that serves the call and every request parameter that
    changes the answer (messages, max_tokens, temperature).
    """

    def __init__(self, root: str | os.PathLike[str] = ".rlm_cache") -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._made: set[str] = set()  # shard directories known to exist
        self._made_names: set[str] = set()  # and their names
        self._temp_names = itertools.count()
        self._index: dict[str, str] = {}  # journal entries read or written so far
        self._read_upto: dict[str, int] = {}  # journal file name -> bytes indexed
        self._scanned_at: float | None = None
        self._shards: set[str] = set()  # per-reply shard directories seen at the last scan
        self._journal: tuple[int, int, str] | None = None  # (pid, fd, name) of ours

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

    @classmethod
    def key_for_chat(
        cls, model_id: str, system: str, user: str, max_tokens: int, temperature: float
    ) -> str:
        """``key_for`` of the messages ``[system, user]``, the same digest made faster.

        A batch sends one system message, model and limit with many user messages, so the
        JSON before and after the user text is the same for all of them: it is encoded and
        hashed once (``_chat_frame``), and each call only encodes and hashes its own text.
        """
        frame = _chat_frame(model_id, system, max_tokens, temperature)
        if frame is None:  # cannot be split around the user text: the plain way
            messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
            return cls.key_for(model_id, messages, max_tokens, temperature)
        head, tail = frame
        digest = head.copy()
        digest.update(json.dumps(user, ensure_ascii=False).encode())
        digest.update(tail)
        return str(digest.hexdigest())

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    # -- reading ------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        """The cached reply, or ``None`` on a miss or an unreadable entry."""
        value = self._from_journals(key)
        if value is None:
            value = self._from_file(key)
        with self._lock:
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
        return value

    def count_hit(self) -> None:
        """Count a hit served before ``get`` (a reply still waiting to be written)."""
        with self._lock:
            self.hits += 1

    def _from_file(self, key: str) -> str | None:
        if key[:2] not in self._shards and key[:2] not in self._made_names:
            return None  # no such shard at the last scan: skip the failing open()
        try:
            with open(os.path.join(self.root, key[:2], f"{key}.json"), encoding="utf-8") as f:
                data = json.loads(f.read())
            value = data["value"] if data.get("key") == key else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def _from_journals(self, key: str) -> str | None:
        value = self._index.get(key)  # one dict read: no lock needed, so lookups never queue
        if value is not None or not self._stale():
            return value
        self.refresh()
        return self._index.get(key)

    def _stale(self) -> bool:
        scanned = self._scanned_at
        return scanned is None or time.monotonic() - scanned >= RESCAN_SECONDS

    def refresh(self, *, if_stale: bool = False) -> None:
        """Look for what other processes stored since the last look (``get`` does this at
        most once a second; a batch of sub-calls does it before its lookups start, so none
        of them waits on the disk). With ``if_stale``, only when that second has passed."""
        with self._lock:
            if if_stale and not self._stale():
                return
            self._scanned_at = time.monotonic()
            self._scan_shards()
            self._scan_journals()

    def _scan_shards(self) -> None:
        try:
            self._shards = {entry for entry in os.listdir(self.root) if len(entry) == 2}
        except OSError:
            self._shards = set()

    def _scan_journals(self) -> None:
        """Index what other processes appended since the last scan (holding the lock)."""
        folder = os.path.join(self.root, JOURNALS)
        try:
            names = os.listdir(folder)
        except OSError:
            return
        own = self._journal[2] if self._journal is not None else None
        for name in names:
            if name == own or not name.endswith(".jsonl"):
                continue
            start = self._read_upto.get(name, 0)
            try:
                with open(os.path.join(folder, name), "rb") as journal:
                    journal.seek(start)
                    data = journal.read()
            except OSError:
                continue
            complete = data.rfind(b"\n") + 1  # a line still being written waits
            for line in data[:complete].splitlines():
                self._index_line(line)
            self._read_upto[name] = start + complete

    def _index_line(self, line: bytes) -> None:
        try:
            entry = json.loads(line)
            key, value = entry["key"], entry["value"]
        except (ValueError, KeyError, TypeError):
            return  # a corrupt line is a miss
        if isinstance(key, str) and isinstance(value, str):
            self._index[key] = value

    # -- writing ------------------------------------------------------------------------------
    def set(self, key: str, value: str) -> None:
        """Store ``value`` in its own file, atomically (a temporary file renamed over it)."""
        folder = os.path.join(self.root, key[:2])
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
            self._made_names.add(key[:2])
        data = json.dumps({"key": key, "value": value}, ensure_ascii=False).encode()
        unique = f"{os.getpid()}-{threading.get_ident()}-{next(self._temp_names)}"
        temp = os.path.join(folder, f".tmp-{unique}.json")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:  # the directory was removed meanwhile
            self._made.discard(folder)
            os.makedirs(folder, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, os.path.join(folder, f"{key}.json"))
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        with self._lock:
            self._index.pop(key, None)  # the newest value is the file's

    def set_many(self, items: Iterable[tuple[str, str]]) -> None:
        """Store many replies with one append to this process's journal.

        Each reply is one JSON line; the lines go out in one ``write`` (continued if the
        kernel takes part of it), so a crash can leave at most a torn last line, which
        reads as a miss.
        """
        entries = [(key, value) for key, value in items]
        if not entries:
            return
        data = b"".join(
            json.dumps({"key": key, "value": value}, ensure_ascii=False).encode() + b"\n"
            for key, value in entries
        )
        with self._lock:
            fd = self._journal_fd()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            self._index.update(entries)

    def _journal_fd(self) -> int:
        """This process's journal, opened on first use (holding the lock)."""
        pid = os.getpid()
        if self._journal is None or self._journal[0] != pid:  # a forked child opens its own
            folder = os.path.join(self.root, JOURNALS)
            os.makedirs(folder, exist_ok=True)
            name = f"{pid}-{uuid.uuid4().hex[:12]}.jsonl"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            self._journal = (pid, os.open(os.path.join(folder, name), flags, 0o644), name)
        return self._journal[1]

    def clear(self) -> None:
        """Delete every entry."""
        with self._lock:
            self._close_journal()
            self._index.clear()
            self._read_upto.clear()
            self._scanned_at = None
            self._shards = set()
        for entry in self.root.glob("*/*.json"):
            entry.unlink(missing_ok=True)
        shutil.rmtree(self.root / JOURNALS, ignore_errors=True)

    def _close_journal(self) -> None:
        if self._journal is not None and self._journal[0] == os.getpid():
            os.close(self._journal[1])
        self._journal = None

    def __del__(self) -> None:
        journal = getattr(self, "_journal", None)
        if journal is not None and journal[0] == os.getpid():
            os.close(journal[1])

    def __repr__(self) -> str:
        return f"FileCache(root={str(self.root)!r})"
