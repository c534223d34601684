"""Bench results as a summary table (markdown), per-task CSV, and a PNG plot."""

from __future__ import annotations

import csv
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rlm_core.bench.niah import TaskResult

CSV_FIELDS = (
    "task_id", "size_tokens", "method", "correct", "score", "expected", "answer", "prompt_tokens",
    "completion_tokens", "total_tokens", "seconds", "root_calls", "code_steps", "guards",
    "rescued", "model_code_found", "context_kept", "error",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One method at one size, averaged over its tasks."""

    size_tokens: int
    method: str
    tasks: int
    accuracy: float
    tokens_per_task: float
    seconds_per_task: float
    model_code_found: int  # RLM: tasks where the model's own code printed the needle
    rescued: int  # RLM: tasks where the fallback code ran
    errors: int
    partial_credit: float = 0.0  # mean score (multihop, aggregation: partial answers count)


def summarize(results: Sequence[TaskResult]) -> list[SummaryRow]:
    """Rows ordered by size, then method."""
    groups: dict[tuple[int, str], list[TaskResult]] = {}
    for result in results:
        groups.setdefault((result.size_tokens, result.method), []).append(result)
    rows = []
    for (size, method), items in sorted(groups.items()):
        count = len(items)
        rows.append(
            SummaryRow(
                size, method, count,
                sum(r.correct for r in items) / count,
                sum(r.total_tokens for r in items) / count,
                sum(r.seconds for r in items) / count,
                sum(r.model_code_found for r in items),
                sum(r.rescued for r in items),
                sum(r.error is not None for r in items),
                sum(r.score for r in items) / count,
            )
        )  # fmt: skip
    return rows


def human_size(tokens: int) -> str:
    if tokens >= 1_000_000 and tokens % 1_000_000 == 0:
        return f"{tokens // 1_000_000}M"
    if tokens >= 1_000 and tokens % 1_000 == 0:
        return f"{tokens // 1_000}k"
    return str(tokens)


def to_markdown(rows: Sequence[SummaryRow], *, title: str | None = None) -> str:
    """The summary as a markdown table."""
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| size | method | tasks | accuracy | partial credit | tokens/task | s/task "
        "| own code found | rescued | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        own = f"{row.model_code_found}/{row.tasks}" if row.method == "rlm" else "–"
        rescued = f"{row.rescued}/{row.tasks}" if row.method == "rlm" else "–"
        lines.append(
            f"| {human_size(row.size_tokens)} | {row.method} | {row.tasks} | "
            f"{row.accuracy:.0%} | {row.partial_credit:.0%} | {row.tokens_per_task:,.0f} | "
            f"{row.seconds_per_task:.1f} | "
            f"{own} | {rescued} | {row.errors} |"
        )
    return "\n".join(lines) + "\n"


def write_csv(results: Sequence[TaskResult], path: str | Path) -> Path:
    """One row per (task, method)."""
    target = Path(path)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            row = result.to_row()
            writer.writerow({name: row[name] for name in CSV_FIELDS})
    return target


PlotPanel = tuple[str, dict[str, list[tuple[int, float]]]]


def plot_panels(rows: Sequence[SummaryRow]) -> list[PlotPanel]:
    """What the plot shows: (y label, {method: [(size, value), ...]}) per panel. Exact
    accuracy and partial credit are separate panels, so a near miss never reads as a hit."""
    measures: tuple[tuple[str, Callable[[SummaryRow], float]], ...] = (
        ("exact accuracy (%)", lambda row: row.accuracy * 100),
        ("partial credit (%)", lambda row: row.partial_credit * 100),
        ("seconds per task", lambda row: row.seconds_per_task),
    )
    methods = sorted({row.method for row in rows})
    return [
        (
            label,
            {
                method: [(row.size_tokens, measure(row)) for row in rows if row.method == method]
                for method in methods
            },
        )
        for label, measure in measures
    ]


def write_plot(rows: Sequence[SummaryRow], path: str | Path, *, title: str = "") -> Path | None:
    """The panels of ``plot_panels`` against haystack size; ``None`` without matplotlib."""
    try:
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return None
    panels = plot_panels(rows)
    figure, axes = plt.subplots(1, len(panels), figsize=(14, 4))
    for axis, (label, series) in zip(axes, panels, strict=True):
        for method, points in series.items():
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=method)
        axis.set_xscale("log")
        axis.set_xlabel("haystack size (tokens)")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        axis.legend()
        if label.endswith("(%)"):
            axis.set_ylim(-5, 105)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target
