"""Event-loop stalls: how long ``await rlm.arun(...)`` keeps the loop from running other tasks.

A ticker task sleeps 5 ms in a loop on the same event loop as the run and records the
largest gap between two ticks beyond its 5 ms sleep (the worst stall). Each run uses the
default REPL backend (the isolated worker where the machine can confine it) and a scripted
model: one step that calls ``llm_batch`` on a few prompts, then the answer. Cases:

* ``arun``: a fresh ``RLM`` per run, the sub-call cache off;
* ``arun_cache``: the same with a ``FileCache`` (a fresh directory, so misses and writes);
* ``arun_recursive``: ``recursive_subcalls=True``, so every sub-call is a sub-run with its
  own REPL worker.

The figure printed is the worst stall in milliseconds over all runs, and its ratio to a
50 ms bound (the bound the test suite asserts; <= 1 meets it).

Run: ``uv run python benchmarks/bench_loop_stall.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

from _common import Ratio, header, parser, repeats, report

from rlm_core import RLM, FileCache
from rlm_core.adapters import FakeAdapter

TICK_S = 0.005
BOUND_S = 0.05
SUB = "You are a sub-LLM"
ROOT = "```python\nreplies = llm_batch(['a', 'b', 'c', 'd'])\nprint(len(replies))\n```"


def _adapter() -> FakeAdapter:
    adapter = FakeAdapter(script=[ROOT], default="FINAL: done")
    adapter.add_rule(SUB, "sub-answer")
    return adapter


async def worst_stall(work: Callable[[], Awaitable[object]]) -> float:
    """The longest time the loop was held beyond the ticker's sleep while ``work`` ran."""
    worst = 0.0
    running = True

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while running:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            worst = max(worst, now - last - TICK_S)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        await work()
    finally:
        running = False
        await task
    return worst


async def measure(label: str, runs: int, **options: object) -> float:
    stalls = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache_dir:
            rlm = RLM(
                _adapter(),
                parallel_subcalls=True,
                cache=FileCache(cache_dir) if options.get("cache") else None,
                **{k: v for k, v in options.items() if k != "cache"},
            )
            stalls.append(await worst_stall(lambda rlm=rlm: rlm.arun("How many?", "ctx text")))
    backend = RLM(_adapter()).settings.repl_factory
    name = getattr(getattr(backend, "choice", None), "name", "?")
    print(
        f"{label} ({name} backend): worst stall over {runs} runs "
        f"{max(stalls) * 1000:.1f} ms (median {sorted(stalls)[len(stalls) // 2] * 1000:.1f} ms)"
    )
    return max(stalls)


async def main_async(runs: int) -> list[Ratio]:
    await measure("warm-up", 1)
    cases: dict[str, dict[str, object]] = {
        "arun": {},
        "arun_cache": {"cache": True},
        "arun_recursive": {"recursive_subcalls": True},
    }
    ratios = []
    for label, options in cases.items():
        worst = await measure(label, runs, **options)
        ratios.append(Ratio(f"{label}_worst_stall_over_50ms", worst / BOUND_S, "<=", 1.0))
    return ratios


def main() -> int:
    args = parser(__doc__ or "").parse_args()
    header("event-loop stalls during arun", args)
    runs = repeats(args, full=10, quick=2)
    return report(asyncio.run(main_async(runs)), args)


if __name__ == "__main__":
    sys.exit(main())
