"""Live progress for the CLI: rich on a terminal, one plain line per step otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from rlm_core.events import Event, Listener


class PlainProgress:
    """One line per finished step on ``stream`` (stderr), safe to pipe or log."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def __call__(self, event: Event) -> None:
        step = event.step
        if event.type == "step_end" and step is not None:
            tokens = f" {step.usage.total_tokens} tok" if step.usage else ""
            detail = ""
            if step.kind == "repl_exec" and step.error:
                detail = f" error: {step.error.strip().splitlines()[-1][:100]}"
            elif step.kind == "root_call" and step.response:
                detail = " " + step.response.strip().replace("\n", " ")[:80]
            pad = "  " * step.depth
            print(
                f"{pad}[{step.step_id}] {step.kind} {step.elapsed_s:.1f}s{tokens}{detail}",
                file=self.stream,
                flush=True,
            )
        elif event.type in ("guard", "finalize"):
            print(f"  {event.type}: {event.data.get('reason', '')}", file=self.stream, flush=True)


def progress_listener(quiet: bool, stream: TextIO | None = None) -> Listener | None:
    """The listener to use: none when quiet, rich on a terminal (if installed), else plain."""
    if quiet:
        return None
    stream = stream or sys.stderr
    if stream.isatty():
        try:
            from rich.console import Console

            from rlm_core.rich_trace import RichTraceListener
        except ImportError:
            return PlainProgress(stream)
        return RichTraceListener(Console(file=stream))
    return PlainProgress(stream)
