"""The results file: one JSON line per finished job, appended atomically, read on resume.

Each record is written with a single ``write`` of the whole line on an ``O_APPEND`` file,
then flushed to disk (``fsync``), so a crash leaves at most one torn last line; resuming
drops that line and skips every job id already recorded. Each job's trace is written
beside the results (``RESULTS.traces/<id>.json``) before its line, by atomic rename.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

from rlm_core.batch.runner import JobOutcome
from rlm_core.errors import ConfigError

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class ResultsFileError(ConfigError):
    """The results file exists but cannot be resumed from (not results JSONL)."""


def traces_dir_for(results: Path) -> Path:
    """``out/results.jsonl`` -> ``out/results.traces``."""
    return results.with_name(results.stem + ".traces")


def trace_file_name(job_id: str) -> str:
    """A safe file name for a job id (unsafe characters replaced, plus a short hash)."""
    safe = SAFE_NAME.sub("_", job_id)[:100]
    if safe != job_id or safe in (".", ".."):
        safe = f"{safe}-{hashlib.sha1(job_id.encode()).hexdigest()[:8]}"
    return f"{safe}.json"


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """The last record of every job id in ``path`` (empty when it does not exist).

    A torn last line (no newline: the writer died mid-write) is ignored; any other
    unreadable line is a ``ResultsFileError`` naming it.
    """
    if not path.exists():
        return {}
    if not path.is_file():
        raise ResultsFileError(f"results path {str(path)!r} is not a file")
    records: dict[str, dict[str, Any]] = {}
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    for number, raw in enumerate(complete.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ResultsFileError(
                f"{path} line {number} is not a JSON result record; is this the results "
                "file of a batch? Pass another --out, or fix or remove that line"
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ResultsFileError(f"{path} line {number}: a result record needs a string 'id'")
        records[record["id"]] = record
    return records


def drop_torn_tail(path: Path) -> bool:
    """Cut a torn last line (bytes after the last newline); True when one was cut."""
    if not path.is_file():
        return False
    size = path.stat().st_size
    if size == 0:
        return False
    with path.open("rb+") as handle:
        end = size
        while end > 0:
            start = max(end - 65536, 0)
            handle.seek(start)
            chunk = handle.read(end - start)
            if end == size and chunk.endswith(b"\n"):
                return False
            cut = chunk.rfind(b"\n")
            if cut != -1:
                handle.truncate(start + cut + 1)
                return True
            end = start
        handle.truncate(0)
        return True


def to_record(outcome: JobOutcome, trace_path: str | None) -> dict[str, Any]:
    """The JSON record of one job, as written to the results file."""
    return {
        "id": outcome.id,
        "status": "ok" if outcome.ok else "error",
        "answer": outcome.answer,
        "error": (
            None if outcome.ok else {"type": outcome.error_type, "message": outcome.error_message}
        ),
        "steps": outcome.steps,
        "usage": outcome.usage,
        "seconds": outcome.seconds,
        "trace": trace_path,
    }


class ResultsWriter:
    """Appends result records to ``path`` and writes traces beside it; thread-safe."""

    def __init__(self, path: Path, *, write_traces: bool = True) -> None:
        self.path = path
        self.traces_dir = traces_dir_for(path)
        self.write_traces = write_traces
        self._lock = threading.Lock()
        if not path.parent.is_dir():
            raise ResultsFileError(f"the folder of the results file {str(path)!r} does not exist")
        drop_torn_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def add(self, outcome: JobOutcome) -> dict[str, Any]:
        """Write ``outcome``'s trace, then append its record line; returns the record."""
        trace_path = None
        if self.write_traces and outcome.trace_json is not None:
            trace_path = self._write_trace(outcome.id, outcome.trace_json)
        record = to_record(outcome, trace_path)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            written = os.write(self._fd, line)
            while written < len(line):  # only for huge lines on odd filesystems
                written += os.write(self._fd, line[written:])
            os.fsync(self._fd)
        return record

    def _write_trace(self, job_id: str, text: str) -> str:
        self.traces_dir.mkdir(exist_ok=True)
        target = self.traces_dir / trace_file_name(job_id)
        partial = target.with_name(f".{target.name}.{threading.get_ident()}.part")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
        return str(target.relative_to(self.path.parent))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
