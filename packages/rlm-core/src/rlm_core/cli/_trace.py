"""``rlm trace show`` and ``rlm trace html``: read a saved trace and present it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlm_core.cli._inputs import UsageError, check_output_path
from rlm_core.report_html import write_html
from rlm_core.rich_trace import clip
from rlm_core.trace import Trace, TraceFormatError


def load_trace(path: str) -> Trace:
    """The trace saved at ``path``; ``UsageError`` naming the problem otherwise."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"trace file {path!r} does not exist")
    try:
        return Trace.from_json(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise UsageError(f"{path!r} is not an rlm trace: not UTF-8 text ({error})") from None
    except TraceFormatError as error:
        problem = str(error).removeprefix("not a trace: ")
        raise UsageError(f"{path!r} is not an rlm trace: {problem}") from None


def format_trace(trace: Trace, max_chars: int = 600) -> str:
    """A plain-text view: query, answer, totals, then each step indented by depth."""
    usage = trace.usage
    lines = [
        f"query:  {trace.query}",
        f"answer: {trace.answer}" if trace.error is None else f"error:  {trace.error}",
        f"steps:  {len(trace.steps)}   tokens: {usage.total_tokens} "
        f"({usage.prompt_tokens} prompt + {usage.completion_tokens} completion)",
        "",
    ]
    for step in trace.steps:
        pad = "  " * step.depth
        parent = f" <- #{step.parent_id}" if step.parent_id is not None else ""
        tokens = f" {step.usage.total_tokens} tok" if step.usage else ""
        lines.append(f"{pad}#{step.step_id} {step.kind}{parent} {step.elapsed_s:.2f}s{tokens}")
        for label, value in (
            ("code", step.code),
            ("output", step.stdout),
            ("reply", step.response),
            ("error", step.error),
        ):
            if value and value.strip():
                body = clip(value.strip(), max_chars).replace("\n", f"\n{pad}    ")
                lines.append(f"{pad}  {label}: {body}")
    return "\n".join(lines)


def show(args: argparse.Namespace) -> int:
    print(format_trace(load_trace(args.file), max_chars=args.max_chars))
    return 0


def html(args: argparse.Namespace) -> int:
    trace = load_trace(args.file)
    check_output_path("-o", args.output)
    out = Path(args.output).expanduser()
    write_html(trace, out, title=f"RLM trace: {Path(args.file).name}")
    print(f"wrote {out}", file=sys.stderr)
    return 0
