"""File-backed context: a generated 1 GiB log file, searched without loading it.

Measures, in one run:

* a scripted ``RLM.run`` on the default (isolated) backend over ``Context.from_file``: the
  model's code counts every match of a regex in the whole file (``ctx.find``) and reads a
  few slices; peak resident memory of this (host) process and of the sandboxed worker
  (``VmHWM``, polled from /proc), targets <= 0.3 GiB each;
* the same full-file regex count on the host, against ``grep -cE`` on the same file (page
  cache warm for both), target <= 3x; both counts are printed and must agree.

Run: ``uv run python benchmarks/bench_file_context.py`` (``--quick``: 32 MiB, seconds;
``--size-mib N`` for another size). The corpus is written to a temporary folder and
removed afterwards.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _common import Ratio, header, parser, report

from rlm_core import RLM, Context
from rlm_core.adapters import FakeAdapter

MIB = 1024 * 1024
GIB = 1024 * MIB
PATTERN = r"ALERT code [0-9]+"
WORDS = ["alpha", "beta", "gamma", "delta", "request", "served", "timeout", "user", "cache"]
SCRIPT = [
    "```python\n"
    f"hits = ctx.find({PATTERN!r}, regex=True, max_matches=10**7)\n"
    "middle = len(P) // 2\n"
    "pieces = [P[:200], P[middle : middle + 200], P[-200:]]\n"
    "print(len(hits), hits[0].text, hits[-1].text, [len(p) for p in pieces])\n"
    "answer = str(len(hits))\n"
    "```",
    "FINAL_VAR: answer",
]


def write_corpus(path: Path, size: int, *, seed: int = 11) -> None:
    """Log lines (some with accents) up to ``size`` bytes; every 5,000th holds an alert."""
    rng = random.Random(seed)
    pool = [" ".join(rng.choices(WORDS, k=rng.randint(8, 16))) for _ in range(4093)]
    written = number = 0
    with path.open("w", encoding="utf-8") as out:
        while written < size:
            lines = []
            for _ in range(5000):
                number += 1
                line = f"2026-11-30T{number // 3600 % 24:02}:{number // 60 % 60:02} INFO "
                line += pool[number % 4093]
                if number % 5000 == 0:
                    line += f" ALERT code {number}"
                if number % 97 == 0:
                    line += " café crème"
                lines.append(line)
            block = "\n".join(lines) + "\n"
            out.write(block)
            written += len(block.encode("utf-8"))


def peak_rss(pid: int | str = "self") -> int:
    """``VmHWM`` (peak resident set) of a process, in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class WorkerWatch:
    """Polls the peak RSS of this process's children (the REPL workers) while a run lasts."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _children(self) -> list[int]:
        me = str(os.getpid())
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        if stat.read().rsplit(")", 1)[1].split()[1] == me:
                            found.append(int(entry))
                except OSError:
                    continue
        return found

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid in self._children():
                self.peaks[pid] = max(self.peaks.get(pid, 0), peak_rss(pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max(self.peaks.values(), default=0)


def grep_count(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    done = subprocess.run(
        ["grep", "-cE", PATTERN, str(path)], capture_output=True, text=True, check=True
    )
    return int(done.stdout), time.perf_counter() - started


def main() -> int:
    options = parser(__doc__.splitlines()[0])
    options.add_argument("--size-mib", type=int, help="corpus size (default 1024, quick 32)")
    args = options.parse_args()
    size = (args.size_mib or (32 if args.quick else 1024)) * MIB
    header(f"file-backed context, {size / MIB:.0f} MiB corpus", args)
    if shutil.which("grep") is None:
        raise SystemExit("grep is needed for the comparison")
    folder = Path(tempfile.mkdtemp(prefix="rlm-bench-file-"))
    try:
        corpus = folder / "corpus.log"
        started = time.perf_counter()
        write_corpus(corpus, size)
        print(f"corpus: {corpus.stat().st_size / MIB:.0f} MiB written in "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        grep_count(corpus)  # warm the page cache for both sides
        expected, grep_seconds = grep_count(corpus)

        started = time.perf_counter()
        context = Context.from_file(corpus)
        print(f"index: {time.perf_counter() - started:.2f}s for {len(context.text):,} chars")
        started = time.perf_counter()
        found = sum(1 for _ in context.text.finditer(re.compile(PATTERN)))  # type: ignore[attr-defined]
        ours_seconds = time.perf_counter() - started
        print(f"regex count: rlm {found} matches in {ours_seconds:.2f}s, "
              f"grep -cE {expected} lines in {grep_seconds:.2f}s")  # fmt: skip
        if found != expected:
            raise SystemExit(f"counts differ: rlm {found}, grep {expected}")

        with WorkerWatch() as watch:
            answer, trace = RLM(FakeAdapter(SCRIPT)).run("How many alerts?", context)
        output = [step.stdout for step in trace.steps if step.kind == "repl_exec"]
        print(f"scripted run: answer {answer}, REPL printed {output[0].strip()[:120]!r}")
        if answer != str(expected):
            raise SystemExit(f"the run answered {answer!r}, expected {expected}")
        host, worker = peak_rss(), watch.peak
        print(f"peak RSS: host {host / MIB:.0f} MiB, worker {worker / MIB:.0f} MiB, "
              f"file {size / MIB:.0f} MiB")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report(
        [
            Ratio("host_peak_rss_gib", host / GIB, "<=", 0.3),
            Ratio("worker_peak_rss_gib", worker / GIB, "<=", 0.3),
            Ratio("regex_over_grep", ours_seconds / grep_seconds, "<=", 3.0),
        ],
        args,
    )


if __name__ == "__main__":
    raise SystemExit(main())
