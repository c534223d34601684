"""Batch progress: a rich progress bar with ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from rlm_core.batch.runner import JobOutcome


class BatchProgress(Protocol):
    """Told when the batch starts, after each job, and at the end."""

    def start(self, total: int, skipped: int) -> None: ...

    def job_done(self, outcome: JobOutcome) -> None: ...

    def close(self) -> None: ...


def _clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class NoProgress:
    """Reports nothing."""

    def start(self, total: int, skipped: int) -> None:
        pass

    def job_done(self, outcome: JobOutcome) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """One line per finished job (``[3/10] q3 ok 1.2s  eta 0:08``), safe to pipe or log."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = 0
        self.done = 0
        self.failed = 0
        self._started = time.monotonic()

    def start(self, total: int, skipped: int) -> None:
        self.total = total
        self._started = time.monotonic()
        note = f" ({skipped} already in the results, skipped)" if skipped else ""
        print(f"batch: {total} job(s) to run{note}", file=self.stream, flush=True)

    def job_done(self, outcome: JobOutcome) -> None:
        self.done += 1
        self.failed += 0 if outcome.ok else 1
        elapsed = time.monotonic() - self._started
        left = self.total - self.done
        eta = _clock(elapsed / self.done * left) if left else "done"
        state = "ok" if outcome.ok else f"FAILED {outcome.error_type}"
        print(
            f"[{self.done}/{self.total}] {outcome.id} {state} {outcome.seconds:.1f}s  eta {eta}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        print(
            f"batch: {self.done - self.failed} ok, {self.failed} failed "
            f"in {_clock(time.monotonic() - self._started)}",
            file=self.stream,
            flush=True,
        )


class RichProgress:
    """A live ``rich`` progress bar: done/total, elapsed, ETA and the failure count."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        self._progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(file=stream or sys.stderr),
        )
        self._text = Text
        self._task: Any = None
        self.failed = 0

    def start(self, total: int, skipped: int) -> None:
        if skipped:
            self._progress.console.print(f"{skipped} job(s) already in the results, skipped")
        self._progress.start()
        self._task = self._progress.add_task("batch", total=total, failed=0)

    def job_done(self, outcome: JobOutcome) -> None:
        if not outcome.ok:
            self.failed += 1
            line = self._text.assemble(
                (f"{outcome.id} failed: ", "red"),
                f"{outcome.error_type}: {outcome.error_message}",
            )
            self._progress.console.print(line, highlight=False)
        self._progress.update(self._task, advance=1, failed=self.failed)

    def close(self) -> None:
        self._progress.stop()


def progress_for(show: bool, stream: TextIO | None = None) -> BatchProgress:
    """Rich on a terminal when installed, plain lines otherwise, nothing when not ``show``."""
    if not show:
        return NoProgress()
    stream = stream or sys.stderr
    if stream.isatty():
        try:
            return RichProgress(stream)
        except ImportError:
            pass
    return PlainProgress(stream)
