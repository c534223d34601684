"""Per-step cost: 300 scripted REPL steps over a 1 MB context, history on (the default).

Each step is one root call (a scripted reply holding a small code block) plus one REPL
execution on the in-process backend; the last reply is ``FINAL_VAR: x``. A listener
stamps the start of every root call (thread CPU time and wall time), so step ``k`` costs
the time between the ``k``-th and ``(k+1)``-th root calls. Two scripted roots are run:

* ``engine``: a constant-cost adapter (pops the next reply), so only the engine is timed;
* ``fake``: ``rlm_core.adapters.FakeAdapter``, which also sums the size of every message
  it is sent (its token usage), a cost that grows with the history like any real
  adapter's request encoding.

Reported for each: CPU ms per step over all steps (target <= 0.3 ms for the engine), and
flatness = ms/step over the last window (steps 251-300) / the first (steps 1-50), target
<= 1.2 for the engine. CPU time is the figure of merit because the machine is shared; the
wall figures are printed beside it.

Run: ``uv run python benchmarks/bench_steps.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from _common import (
    Ratio,
    header,
    make_documents,
    parser,
    quiet_python_backend,
    repeats,
    report,
    spread,
)

from rlm_core import RLM, Context, Event, Policy
from rlm_core.adapters import FakeAdapter
from rlm_core.adapters.base import Message, ModelAdapter, ModelResponse, Usage


class ScriptedRoot:
    """Replies from a script at constant cost: what the engine alone costs per step."""

    model = "bench-scripted"

    def __init__(self, replies: list[str]) -> None:
        self._replies = deque(replies)

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        return ModelResponse(text=self._replies.popleft(), usage=Usage(100, 10))


ADAPTERS: dict[str, Callable[[list[str]], ModelAdapter]] = {
    "engine": ScriptedRoot,
    "fake": FakeAdapter,
}


def script(steps: int) -> list[str]:
    """``steps`` root replies that each slice P and print a little, then the final answer."""
    replies = [
        f"```python\nx = P[{i * 100}:{i * 100 + 80}]\nprint({i}, len(x))\n```" for i in range(steps)
    ]
    replies.append("FINAL_VAR: x")
    return replies


@dataclass(slots=True)
class Windows:
    """Seconds per step of each run: over all steps, the first window and the last."""

    all: list[float]
    early: list[float]
    late: list[float]

    def add(self, stamps: list[float], steps: int, window: int) -> None:
        self.all.append((stamps[steps] - stamps[0]) / steps)
        self.early.append((stamps[window] - stamps[0]) / window)
        self.late.append((stamps[steps] - stamps[steps - window]) / window)

    def best(self) -> tuple[float, float, float]:
        return min(self.all), min(self.early), min(self.late)


def measure(adapter: str, context: Context, steps: int) -> tuple[list[float], list[float]]:
    """CPU and wall stamps of every root call's start, for one run."""
    cpu: list[float] = []
    wall: list[float] = []

    def stamp(event: Event) -> None:
        if event.type == "step_start" and event.kind == "root_call":
            cpu.append(time.thread_time())
            wall.append(time.perf_counter())

    rlm = RLM(
        ADAPTERS[adapter](script(steps)),
        policy=Policy(max_steps=steps + 1),
        repl_backend="python",
        event_listener=stamp,
    )
    answer, trace = rlm.run("Slice the text, step by step.", context)
    last = steps - 1
    if answer != context.text[last * 100 : last * 100 + 80]:
        raise SystemExit(f"unexpected answer {answer[:40]!r}: the scripted run went wrong")
    if len(trace.of_kind("repl_exec")) != steps or len(cpu) != steps + 1:
        raise SystemExit(f"expected {steps} REPL steps, traced {len(trace.of_kind('repl_exec'))}")
    return cpu, wall


def bench(adapter: str, context: Context, steps: int, window: int, runs: int) -> list[Ratio]:
    cpu, wall = Windows([], [], []), Windows([], [], [])
    for _ in range(runs):
        cpu_stamps, wall_stamps = measure(adapter, context, steps)
        cpu.add(cpu_stamps, steps, window)
        wall.add(wall_stamps, steps, window)
    (cpu_all, cpu_early, cpu_late), (wall_all, wall_early, wall_late) = cpu.best(), wall.best()
    late = f"steps {steps - window + 1}-{steps}"
    print(f"{adapter}: best of {runs} runs, ms per step (CPU / wall)")
    print(f"  all {steps} steps: {cpu_all * 1000:.3f} / {wall_all * 1000:.3f}")
    print(f"  steps 1-{window}: {cpu_early * 1000:.3f} / {wall_early * 1000:.3f}")
    print(f"  {late}: {cpu_late * 1000:.3f} / {wall_late * 1000:.3f}")
    print(f"  run walls: {spread([value * steps for value in wall.all])}")
    targeted = adapter == "engine"
    return [
        Ratio(f"{adapter}_cpu_ms_per_step", cpu_all * 1000, *(("<=", 0.3) if targeted else ())),
        Ratio(f"{adapter}_wall_ms_per_step", wall_all * 1000),
        Ratio(
            f"{adapter}_late_over_early_cpu",
            cpu_late / cpu_early,
            *(("<=", 1.2) if targeted else ()),
        ),
        Ratio(f"{adapter}_late_over_early_wall", wall_late / wall_early),
    ]


def main() -> int:
    args = parser(__doc__ or "").parse_args()
    quiet_python_backend()
    header("per-step cost", args)
    steps, size = (60, 100_000) if args.quick else (300, 1_000_000)
    window = steps // 6  # 50 of 300: steps 1-50 against steps 251-300
    runs = repeats(args, full=7, quick=2)
    text = "\n".join(make_documents(size // 900, 1000))[:size]
    context = Context.from_text(text)
    print(f"{steps} steps over a {len(text) / 1e6:.2f} MB context, history on")
    ratios: list[Ratio] = []
    for adapter in ADAPTERS:
        measure(adapter, context, window)  # warm-up: first-use imports and caches
        ratios.extend(bench(adapter, context, steps, window, runs))
    return report(ratios, args)


if __name__ == "__main__":
    sys.exit(main())
