"""``rlm bench niah|multihop|aggregation``: run a benchmark family and write its reports."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rlm_core.adapters.base import ModelAdapter, model_id_of
from rlm_core.bench.haystack import parse_size
from rlm_core.bench.niah import (
    DEFAULT_SIZES,
    METHODS,
    QUICK_SIZES,
    BenchConfig,
    TaskResult,
    run_bench,
)
from rlm_core.bench.report import human_size, summarize, to_markdown, write_csv, write_plot
from rlm_core.cli._inputs import UsageError
from rlm_core.cli._models import build_adapter, choose, profile_for_choice
from rlm_core.engine.tokens import context_window_of

QUICK_TASKS = 2
QUICK_N_CTX = 4096


def _sizes(text: str | None, quick: bool) -> tuple[int, ...]:
    if text is None:
        return QUICK_SIZES if quick else DEFAULT_SIZES
    try:
        return tuple(sorted({parse_size(part) for part in text.split(",") if part.strip()}))
    except ValueError as error:
        raise UsageError(f"--sizes: {error}") from None


def _methods(text: str) -> tuple[str, ...]:
    methods = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise UsageError(f"--methods: unknown {bad or text!r}; choose from {','.join(METHODS)}")
    return methods


def describe(adapter: ModelAdapter) -> str:
    """'model-id (window N)' for titles and logs."""
    window = context_window_of(adapter)
    return f"{model_id_of(adapter)} (window {window or 'unknown'})"


def _print_progress(result: TaskResult) -> None:
    mark = "ok " if result.correct else "MISS"
    extra = f" error={result.error}" if result.error else ""
    if result.method == "rlm":
        extra += " rescued" if result.rescued else ""
    print(
        f"  {mark} {result.method:8} {result.task_id:20} {result.seconds:6.1f}s "
        f"{result.total_tokens:>8} tok  answer={result.answer[:50]!r}{extra}",
        file=sys.stderr,
        flush=True,
    )


def niah(args: argparse.Namespace) -> int:
    """Run the family named by the subcommand (``niah``, ``multihop``, ``aggregation``)."""
    family = getattr(args, "bench_command", None) or "niah"
    sizes = _sizes(args.sizes, args.quick)
    tasks = args.tasks if args.tasks is not None else (QUICK_TASKS if args.quick else 3)
    if tasks < 1:
        raise UsageError("--tasks must be at least 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root_choice = choose(args.model, args.base_url)
    n_ctx = args.n_ctx or (QUICK_N_CTX if args.quick and root_choice.local else None)
    root = build_adapter(root_choice, n_ctx=n_ctx)
    config = BenchConfig(
        sizes=sizes,
        tasks_per_size=tasks,
        methods=_methods(args.methods),
        profile=profile_for_choice(args.profile, root_choice),
        max_steps=args.max_steps,
        seed=args.seed,
        baseline_window=args.baseline_window,
        family=family,
        variant=getattr(args, "variant", None),
    )
    sub = None
    if args.sub_model:
        sub = build_adapter(choose(args.sub_model, args.base_url), n_ctx=n_ctx)
    label = describe(root)
    print(
        f"{family}: {label}, sizes {[human_size(s) for s in sizes]}, {tasks} task(s) each, "
        f"methods {list(config.methods)}, profile {config.profile}",
        file=sys.stderr,
    )
    traces = out / "traces"
    traces.mkdir(exist_ok=True)

    def progress(result: TaskResult) -> None:
        _print_progress(result)
        if result.trace is not None:
            path = traces / f"{result.task_id}-{result.method}.json"
            path.write_text(result.trace.to_json(), encoding="utf-8")

    started = time.perf_counter()
    results = run_bench(config, root, subcall_adapter=sub, progress=progress)
    elapsed = time.perf_counter() - started
    rows = summarize(results)
    title = f"{family.upper()}: {label} ({elapsed:.0f}s total)"
    table = to_markdown(rows, title=title)
    (out / f"{family}.md").write_text(table, encoding="utf-8")
    write_csv(results, out / f"{family}.csv")
    print(table)
    print(
        f"wrote {out / f'{family}.md'}, {out / f'{family}.csv'} and RLM traces in {traces}",
        file=sys.stderr,
    )
    plot = write_plot(rows, out / f"{family}.png", title=title)
    if plot is None:
        print(
            'no PNG plot: matplotlib is not installed (pip install "rlm-core[plot]")',
            file=sys.stderr,
        )
    else:
        print(f"wrote {plot}", file=sys.stderr)
    return 0
