"""Big context: 100,000 generated documents (about 94 MiB of text).

Measures, in one process:

* memory that ``Context.from_documents`` adds, relative to the raw text size (the sum of
  the documents' characters, all ASCII so one byte each): retained after construction and
  peak during it, by ``tracemalloc``, and the RSS delta; target retained <= 1.1x;
* ``ctx.find`` of a needle planted in one document, against the bare ``str.find`` scans
  that it cannot avoid (first hit, then on to the end);
* a full scripted ``RLM.run`` (root writes the find, then ``FINAL_VAR``) over the context:
  its wall time against the bare ``ctx.find``, and the memory it allocates relative to the
  raw text (the run must not copy the context; target <= 0.05x).

Run: ``uv run python benchmarks/bench_big_context.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

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

from rlm_core import RLM, Context
from rlm_core.adapters import FakeAdapter

T = TypeVar("T")
KEY = "NEEDLE-7f3a"
NEEDLE = f"{KEY} the launch code is 7421"
MIB = 1024 * 1024


def _rss_bytes() -> int:
    """Resident set size from /proc (0 where that is unavailable)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return 0
    import resource

    return pages * resource.getpagesize()


def traced(action: Callable[[], T]) -> tuple[T, int, int]:
    """(result, bytes still held afterwards, peak bytes during) of ``action``."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        result = action()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, after - before, peak - before


def interleaved(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Wall times of each action, taken in turn ``runs`` times so that load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - started)
    return times


def plant(documents: list[str]) -> int:
    """Put the needle in one document two thirds of the way in; its index."""
    index = len(documents) * 2 // 3
    documents[index] = documents[index] + " " + NEEDLE
    return index


def main() -> int:
    args = parser(__doc__ or "").parse_args()
    quiet_python_backend()
    header("big context", args)
    count = 2_000 if args.quick else 100_000
    runs = repeats(args, full=9, quick=2)

    started = time.perf_counter()
    documents = make_documents(count, 994)
    target_index = plant(documents)
    raw = sum(len(doc) for doc in documents)
    print(
        f"{count} documents, {raw / MIB:.1f} MiB of text, generated in "
        f"{time.perf_counter() - started:.1f} s; needle in document {target_index}"
    )

    # -- memory of Context.from_documents ----------------------------------------------------
    rss_before = _rss_bytes()
    started = time.perf_counter()
    ctx, held, peak = traced(lambda: Context.from_documents(documents))
    built = time.perf_counter() - started  # tracemalloc slows allocation; a rough figure
    rss_added = _rss_bytes() - rss_before
    print(
        f"Context.from_documents: held {held / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB, "
        f"RSS +{rss_added / MIB:.1f} MiB (raw {raw / MIB:.1f} MiB; built in {built:.2f} s "
        "under tracemalloc)"
    )
    if ctx.num_documents() != count:
        raise SystemExit(f"expected {count} documents, the context has {ctx.num_documents()}")

    # -- ctx.find against the bare scans it needs ---------------------------------------------
    text = ctx.text

    def bare_scan() -> int:
        position = text.find(KEY)
        return text.find(KEY, position + 1)

    hits = ctx.find(KEY)
    if len(hits) != 1 or hits[0].doc_index != target_index:
        raise SystemExit(f"ctx.find returned {hits!r}, expected one hit in {target_index}")

    # -- a full scripted run over the context ------------------------------------------------
    code = (
        "```python\n"
        f"hits = ctx.find({KEY!r})\n"
        "x = ctx.get_document(hits[0].doc_index)\n"
        "print(len(hits), hits[0].doc_index)\n"
        "```"
    )

    def one_run() -> str:
        rlm = RLM(FakeAdapter([code, "FINAL_VAR: x"]), repl_backend="python")
        answer, _ = rlm.run("Which document holds the launch code?", ctx)
        return answer

    one_run()  # warm-up: first-use imports and caches
    answer, run_held, run_peak = traced(one_run)
    if answer != documents[target_index]:
        raise SystemExit("the scripted run did not return the planted document")
    times = interleaved({"bare": bare_scan, "find": lambda: ctx.find(KEY), "run": one_run}, runs)
    bare, find, run = (min(times[name]) for name in ("bare", "find", "run"))
    print(f"ctx.find: {spread(times['find'])}; bare str.find scans: {spread(times['bare'])}")
    print(
        f"RLM.run (find + FINAL_VAR): {spread(times['run'])}; engine overhead over the find "
        f"{(run - find) * 1000:.1f} ms; allocated during the run: peak {run_peak / MIB:.2f} MiB, "
        f"held {run_held / MIB:.2f} MiB"
    )
    return report(
        [
            Ratio("from_documents_held_over_raw", held / raw, "<=", 1.1),
            Ratio("from_documents_peak_over_raw", peak / raw),
            Ratio("from_documents_rss_over_raw", rss_added / raw),
            Ratio("find_over_bare_scan", find / bare),
            Ratio("run_over_find", run / find),
            Ratio("run_peak_memory_over_raw", run_peak / raw, "<=", 0.05),
        ],
        args,
    )


if __name__ == "__main__":
    sys.exit(main())
