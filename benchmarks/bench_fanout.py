"""Fan-out: one REPL step calls ``llm_batch`` on 1,000 prompts; each sub-call sleeps 50 ms.

With ``c`` concurrent sub-calls the best possible wall time is ``ceil(n / c) * sleep``
(the ideal); ``n * sleep / c`` is the bound for perfectly packed waves. The figure of
merit is ``ideal / wall`` for the whole ``RLM.run`` (root calls and REPL set-up included):

* sync: ``rlm.run`` with ``max_concurrent_subcalls=64`` (threads), target >= 0.97;
* async: ``await rlm.arun`` with 256-way concurrency and an adapter whose
  ``acomplete`` awaits ``asyncio.sleep``, target >= 0.95.

Run: ``uv run python benchmarks/bench_fanout.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from _common import Ratio, header, parser, quiet_python_backend, repeats, report, spread

from rlm_core import RLM, Policy, Trace
from rlm_core.adapters.base import Message, ModelResponse, Usage

SUB_PREFIX = "You are a sub-LLM"
ANSWER = "ok"


class SleepyAdapter:
    """Scripted root (the code, then ``FINAL_VAR: x``); sub-calls sleep and answer ``ok``."""

    model = "bench-sleepy"

    def __init__(self, code: str, sleep_s: float) -> None:
        self.sleep_s = sleep_s
        self._root = deque([f"```python\n{code}\n```", "FINAL_VAR: x"])
        self._lock = threading.Lock()

    def _root_reply(self) -> ModelResponse:
        with self._lock:
            return ModelResponse(text=self._root.popleft(), usage=Usage(10, 10))

    @staticmethod
    def is_subcall(messages: list[Message]) -> bool:
        return messages[0]["content"].startswith(SUB_PREFIX)

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        if self.is_subcall(messages):
            time.sleep(self.sleep_s)
            return ModelResponse(text=ANSWER, usage=Usage(5, 1))
        return self._root_reply()


class AsyncSleepyAdapter(SleepyAdapter):
    """The same script; ``acomplete`` awaits ``asyncio.sleep`` instead of blocking a thread."""

    async def acomplete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        if self.is_subcall(messages):
            await asyncio.sleep(self.sleep_s)
            return ModelResponse(text=ANSWER, usage=Usage(5, 1))
        return self._root_reply()


@dataclass(frozen=True, slots=True)
class Case:
    label: str
    calls: int
    concurrency: int
    sleep_s: float
    target: float
    asynchronous: bool

    @property
    def ideal(self) -> float:
        return math.ceil(self.calls / self.concurrency) * self.sleep_s

    @property
    def packed(self) -> float:
        return self.calls * self.sleep_s / self.concurrency

    def code(self) -> str:
        return (
            f"prompts = [f'item {{i}}' for i in range({self.calls})]\n"
            f"x = sum(reply == {ANSWER!r} for reply in llm_batch(prompts))\n"
            "print(x)"
        )


def _rlm(case: Case) -> tuple[RLM, SleepyAdapter]:
    kind = AsyncSleepyAdapter if case.asynchronous else SleepyAdapter
    adapter = kind(case.code(), case.sleep_s)
    rlm = RLM(
        adapter,
        policy=Policy(max_subcalls=case.calls, max_steps=5),
        max_concurrent_subcalls=case.concurrency,
        repl_backend="python",
    )
    return rlm, adapter


QUERY = "How many items are ok?"


def check(case: Case, answer: str, trace: Trace) -> float:
    """The REPL step's wall time, after checking that every sub-call ran and answered."""
    if answer != str(case.calls):
        raise SystemExit(f"{case.label}: expected {case.calls} ok replies, got {answer!r}")
    subcalls = trace.of_kind("subcall")
    if len(subcalls) != case.calls:
        raise SystemExit(f"{case.label}: traced {len(subcalls)} sub-calls, expected {case.calls}")
    (step,) = trace.of_kind("repl_exec")
    return step.elapsed_s


def measure(case: Case) -> tuple[float, float]:
    """(wall of ``rlm.run``, wall of its REPL step) for one run of ``case``."""
    rlm, _ = _rlm(case)
    started = time.perf_counter()
    answer, trace = rlm.run(QUERY, "bench context")
    wall = time.perf_counter() - started
    return wall, check(case, answer, trace)


async def ameasure(case: Case) -> tuple[float, float]:
    """(wall of ``await rlm.arun``, wall of its REPL step) for one run of ``case``."""
    rlm, _ = _rlm(case)
    started = time.perf_counter()
    answer, trace = await rlm.arun(QUERY, "bench context")
    wall = time.perf_counter() - started
    return wall, check(case, answer, trace)


def _sleep_then_answer(seconds: float) -> str:
    time.sleep(seconds)
    return ANSWER


def baseline(case: Case) -> float:
    """Wall of the bare primitive the sync path uses: ``calls`` sleeps on a thread pool."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=case.concurrency) as pool:
        replies = list(pool.map(lambda _: _sleep_then_answer(case.sleep_s), range(case.calls)))
    wall = time.perf_counter() - started
    assert replies.count(ANSWER) == case.calls
    return wall


async def abaseline(case: Case) -> float:
    """Wall of the bare primitive the async path uses: workers awaiting ``asyncio.sleep``."""
    replies = [""] * case.calls
    pending = iter(range(case.calls))

    async def worker() -> None:
        for index in pending:
            await asyncio.sleep(case.sleep_s)
            replies[index] = ANSWER

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(case.concurrency)))
    wall = time.perf_counter() - started
    assert replies.count(ANSWER) == case.calls
    return wall


Sample = tuple[float, float, float]  # (engine run wall, its REPL step wall, baseline wall)


async def ameasure_all(case: Case, runs: int) -> list[Sample]:
    """A warm-up, then ``runs`` pairs of (baseline, engine) runs, all on one event loop."""
    await ameasure(replace(case, label="warm-up", calls=case.concurrency, sleep_s=0.001))
    samples = []
    for _ in range(runs):
        bare = await abaseline(case)
        wall, step = await ameasure(case)
        samples.append((wall, step, bare))
    return samples


def measure_all(case: Case, runs: int) -> list[Sample]:
    """A warm-up, then ``runs`` pairs of (baseline, engine) runs."""
    measure(replace(case, label="warm-up", calls=case.concurrency, sleep_s=0.001))
    samples = []
    for _ in range(runs):
        bare = baseline(case)
        wall, step = measure(case)
        samples.append((wall, step, bare))
    return samples


def bench(case: Case, runs: int) -> list[Ratio]:
    """Baseline and engine runs alternate so that a loaded machine slows both alike."""
    if case.asynchronous:
        samples = asyncio.run(ameasure_all(case, runs))
    else:
        samples = measure_all(case, runs)
    walls = [wall for wall, _, _ in samples]
    steps = [step for _, step, _ in samples]
    bares = [bare for _, _, bare in samples]
    best, best_bare = min(walls), min(bares)
    print(
        f"{case.label}: {case.calls} sub-calls x {case.sleep_s * 1000:g} ms at "
        f"{case.concurrency}-way; ideal ceil({case.calls}/{case.concurrency}) x "
        f"{case.sleep_s * 1000:g} ms = {case.ideal * 1000:.1f} ms, packed bound "
        f"{case.calls}x{case.sleep_s * 1000:g}/{case.concurrency} = {case.packed * 1000:.1f} ms"
    )
    print(f"  run wall over {runs} runs: {spread(walls)}; REPL step: {spread(steps)}")
    print(f"  bare {'asyncio' if case.asynchronous else 'thread pool'} baseline: {spread(bares)}")
    print(f"  wall / ideal = {best / case.ideal:.3f}; wall / packed = {best / case.packed:.3f}")
    return [
        Ratio(f"{case.label}_ideal_over_wall", case.ideal / best, ">=", case.target),
        Ratio(f"{case.label}_packed_over_wall", case.packed / best),
        Ratio(f"{case.label}_ideal_over_baseline_wall", case.ideal / best_bare),
        Ratio(f"{case.label}_wall_over_baseline_wall", best / best_bare),
    ]


def main() -> int:
    args = parser(__doc__ or "").parse_args()
    quiet_python_backend()
    header("fan-out through llm_batch", args)
    calls, sleep_s = (256, 0.01) if args.quick else (1000, 0.05)
    runs = repeats(args, full=5)
    cases = [
        Case("sync_64", calls, 64, sleep_s, 0.97, asynchronous=False),
        Case("async_256", calls, 256, sleep_s, 0.95, asynchronous=True),
    ]
    ratios: list[Ratio] = []
    for case in cases:
        ratios.extend(bench(case, runs))
    return report(ratios, args)


if __name__ == "__main__":
    sys.exit(main())
