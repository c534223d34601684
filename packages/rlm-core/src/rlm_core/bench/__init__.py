"""Benchmarks that ship with rlm-core (``rlm bench ...``)."""

from rlm_core.bench.haystack import NiahTask, is_correct, make_task, make_tasks
from rlm_core.bench.niah import BenchConfig, TaskResult, run_bench
from rlm_core.bench.report import SummaryRow, summarize, to_markdown, write_csv, write_plot

__all__ = [
    "BenchConfig",
    "NiahTask",
    "SummaryRow",
    "TaskResult",
    "is_correct",
    "make_task",
    "make_tasks",
    "run_bench",
    "summarize",
    "to_markdown",
    "write_csv",
    "write_plot",
]
