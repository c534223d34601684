"""Per-step overhead of the sandboxed REPL backends against the in-process "python" backend.

For a small (1 MB) and a large (100 MB; 10 MB with ``--quick``) context, each backend runs
three kinds of step many times: plain code (``x = x + 1``), context helpers
(``ctx.find`` + ``peek``) and a sub-call helper (``llm_query`` on a scripted adapter). The
table shows the median time per step, the ratio to "python" and the added milliseconds.

Also measured: the isolated worker's start-up, cold (a fresh interpreter boots) and warm (the
booted spare worker is taken), and evidence that the context is not copied per step: the
bytes the host sends per step, the per-step time at the large context over the small one,
and the worker's resident memory before and after all the steps.

Run: ``uv run python benchmarks/bench_repl_backends.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from _common import Ratio, header, parser, quiet_python_backend, report

from rlm_core import RLM
from rlm_core.adapters.fake import FakeAdapter
from rlm_core.context import Context
from rlm_core.engine.run import RunSession
from rlm_core.engine.toolkit import Toolkit
from rlm_core.events import EventBus
from rlm_core.repl import IsolatedREPL, backend_factory
from rlm_core.repl.base import REPL
from rlm_core.repl.isolated import process
from rlm_core.repl.isolated.framing import encode

BACKENDS = ["python", "isolated", "monty"]
STEPS = {
    "x = x + 1": "plain code",
    "m = ctx.find('zebra-needle', max_matches=1); s = peek(100)": "context helpers",
    "r = llm_query('hi')": "sub-call helper",
}
PLAIN = "x = x + 1"


def make_context(megabytes: int) -> Context:
    line = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n"
    text = line * (megabytes * 1_000_000 // len(line))
    middle = len(text) // 2
    return Context.from_text(text[:middle] + "zebra-needle " + text[middle:])


def make_toolkit(context: Context) -> Toolkit:
    rlm = RLM(adapter=FakeAdapter(default="ok"))
    return Toolkit(context, RunSession(rlm.settings, EventBus([])).subcalls)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(backend: str, context: Context, steps: int) -> dict[str, Any]:
    toolkit = make_toolkit(context)
    started = time.perf_counter()
    repl: REPL = backend_factory(backend)(toolkit, max_output_chars=4000)
    row: dict[str, Any] = {"startup": time.perf_counter() - started}
    try:
        repl.exec("x = 0")
        pid = repl.worker_pid if isinstance(repl, IsolatedREPL) else None
        row["rss_before"] = rss_mb(pid) if pid else 0.0
        for code in STEPS:
            repl.exec(code)  # warm-up
            times = []
            for _ in range(steps):
                t0 = time.perf_counter()
                result = repl.exec(code)
                times.append(time.perf_counter() - t0)
                if result.error is not None:
                    raise SystemExit(f"{backend}: {code!r} failed: {result.error}")
            row[code] = statistics.median(times)
        row["rss_after"] = rss_mb(pid) if pid else 0.0
    finally:
        repl.close()
    return row


def startup(warm: bool) -> float:
    """Seconds to create an isolated REPL over a small context (cold: no spare worker)."""
    toolkit = make_toolkit(make_context(1))
    process._drop_spare()
    if warm:
        IsolatedREPL(toolkit).close()  # leaves a spare booting
        time.sleep(1.0)  # let it finish booting
    started = time.perf_counter()
    repl = IsolatedREPL(toolkit)
    elapsed = time.perf_counter() - started
    repl.close()
    return elapsed


def table(sizes: dict[int, dict[str, dict[str, Any]]], steps: int) -> None:
    for megabytes, rows in sizes.items():
        print(f"\n== context {megabytes} MB, median of {steps} steps ==")
        print(f"{'backend':<10}{'create':>10}" + "".join(f"{t:>30}" for t in STEPS.values()))
        base = rows["python"]
        for backend, row in rows.items():
            line = f"{backend:<10}{row['startup'] * 1000:>8.1f}ms"
            for code in STEPS:
                ms, extra = row[code] * 1000, (row[code] - base[code]) * 1000
                line += f"{ms:>10.3f}ms x{row[code] / base[code]:>6.1f} {extra:>+8.3f}ms"
            print(line)
        iso = rows["isolated"]
        print(
            f"isolated worker RSS {iso['rss_before']:.1f} MB before the steps, "
            f"{iso['rss_after']:.1f} MB after {len(STEPS) * (steps + 1)} more"
        )


def main() -> int:
    args = parser(__doc__ or "").parse_args()
    quiet_python_backend()
    header("REPL backends", args)
    steps, big = (10, 10) if args.quick else (50, 100)
    print(f"bytes the host sends per plain step: {len(encode(('exec', PLAIN)))}")
    cold = min(startup(warm=False) for _ in range(1 if args.quick else 3))
    warm = min(startup(warm=True) for _ in range(1 if args.quick else 3))
    print(f"isolated worker start-up: cold {cold * 1000:.1f} ms, warm {warm * 1000:.1f} ms")
    sizes = {mb: {b: measure(b, make_context(mb), steps) for b in BACKENDS} for mb in (1, big)}
    table(sizes, steps)
    small, large = sizes[1], sizes[big]
    iso_extra = max(small["isolated"][PLAIN] - small["python"][PLAIN], 1e-6) * 1000
    monty_extra = max(small["monty"][PLAIN] - small["python"][PLAIN], 1e-6) * 1000
    plain = {name: (small[name][PLAIN], large[name][PLAIN]) for name in BACKENDS}
    iso = large["isolated"]
    ratios = [
        Ratio("isolated_cold_startup_ms", cold * 1000, "<=", 200),
        Ratio("isolated_warm_startup_ms", warm * 1000),
        Ratio("isolated_step_overhead_ms", iso_extra, "<=", 5),
        Ratio("monty_step_overhead_ms", monty_extra),
        Ratio("isolated_over_python_plain_step", plain["isolated"][0] / plain["python"][0]),
        Ratio("monty_over_python_plain_step", plain["monty"][0] / plain["python"][0]),
        Ratio(
            "isolated_big_over_small_plain_step",
            plain["isolated"][1] / plain["isolated"][0],
            "<=",
            2,
        ),
        Ratio("isolated_rss_after_over_before", iso["rss_after"] / iso["rss_before"], "<=", 1.1),
    ]
    return report(ratios, args)


if __name__ == "__main__":
    sys.exit(main())
