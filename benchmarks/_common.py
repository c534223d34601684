"""Shared bits of the benchmark scripts: options, quieting, and the ratio report lines.

Every script prints one ``RATIO <name> = <value> (target <op> <bound>) <verdict>`` line per
measured ratio, so a reader (or the smoke test) can find the figures without parsing prose.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import warnings
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ratio:
    """One measured ratio and the bound it should meet (``None``: informational only)."""

    name: str
    value: float
    op: str | None = None  # ">=" or "<="
    bound: float | None = None

    @property
    def met(self) -> bool:
        if self.op is None or self.bound is None:
            return True
        return self.value >= self.bound if self.op == ">=" else self.value <= self.bound

    def line(self) -> str:
        if self.op is None or self.bound is None:
            return f"RATIO {self.name} = {self.value:.4f} (informational)"
        verdict = "ok" if self.met else "MISSED"
        return f"RATIO {self.name} = {self.value:.4f} (target {self.op} {self.bound:g}) {verdict}"


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark shares."""
    options = argparse.ArgumentParser(description=description)
    options.add_argument(
        "--quick", action="store_true", help="a small smoke version that runs in seconds"
    )
    options.add_argument(
        "--repeat", type=int, default=None, help="measured runs; the best one is reported"
    )
    options.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    return options


def repeats(args: argparse.Namespace, full: int, quick: int = 1) -> int:
    """How many times to measure: ``--repeat``, else ``quick`` or ``full``."""
    value = args.repeat if args.repeat is not None else (quick if args.quick else full)
    if value < 1:
        raise SystemExit(f"--repeat must be >= 1, got {value}")
    return int(value)


def quiet_python_backend() -> None:
    """The in-process REPL warns that it is not a sandbox; the benchmarks run trusted code."""
    warnings.filterwarnings("ignore", category=RuntimeWarning, message='repl_backend="python"')


def make_documents(count: int, mean_chars: int, *, seed: int = 2024) -> list[str]:
    """``count`` deterministic ASCII documents of about ``mean_chars`` characters each."""
    rng = random.Random(seed)
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    vocab = [
        "".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(5000)
    ]  # mean word length 6, so about mean_chars / 7 words a document
    words = max(1, mean_chars // 7)
    low, high = words * 3 // 4, words * 5 // 4
    return [
        f"Doc {index}: " + " ".join(rng.choices(vocab, k=rng.randint(low, high)))
        for index in range(count)
    ]


def machine() -> str:
    """A one-line description of where the figures were measured."""
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores{load}"
    )


def header(title: str, args: argparse.Namespace) -> None:
    mode = "quick" if args.quick else "full"
    print(f"# {title} ({mode}) - {machine()}")


def spread(values: list[float]) -> str:
    """``best / median / worst`` of a few timings in milliseconds."""
    ms = sorted(value * 1000 for value in values)
    return f"best {ms[0]:.1f} ms, median {statistics.median(ms):.1f} ms, worst {ms[-1]:.1f} ms"


def report(ratios: list[Ratio], args: argparse.Namespace) -> int:
    """Print the ratio lines; the exit status (1 only with ``--check`` and a missed target)."""
    for ratio in ratios:
        print(ratio.line())
    missed = [ratio.name for ratio in ratios if not ratio.met]
    if missed:
        print(f"missed targets: {', '.join(missed)}", file=sys.stderr)
    return 1 if missed and args.check else 0
