"""The benchmark scripts run (``--quick``) and print their ratio lines; timings are not checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RATIO_LINE = re.compile(
    r"^RATIO (?P<name>\w+) = (?P<value>-?\d+\.\d+) "
    r"\((?:target (?:<=|>=) [\d.]+\) (?:ok|MISSED)|informational\))$",
    re.MULTILINE,
)
EXPECTED = {
    "bench_fanout.py": {
        f"{case}_{ratio}"
        for case in ("sync_64", "async_256")
        for ratio in (
            "ideal_over_wall",
            "ideal_over_median_wall",
            "packed_over_wall",
            "ideal_over_baseline_wall",
            "wall_over_baseline_wall",
        )
    }
    | {
        f"{case}_{ratio}"
        for case in ("default_cache_64", "python_cache_64", "default_cache_async_256")
        for ratio in (
            "packed_over_wall",
            "packed_over_median_wall",
            "packed_over_baseline_wall",
            "ideal_over_wall",
            "wall_over_baseline_wall",
        )
    },
    "bench_loop_stall.py": {
        f"{case}_worst_stall_over_50ms" for case in ("arun", "arun_cache", "arun_recursive")
    },
    "bench_big_context.py": {
        "from_documents_held_over_raw",
        "from_documents_peak_over_raw",
        "from_documents_rss_over_raw",
        "find_over_bare_scan",
        "run_over_find",
        "run_peak_memory_over_raw",
    },
    "bench_file_context.py": {"host_peak_rss_gib", "worker_peak_rss_gib", "regex_over_grep"},
    "bench_steps.py": {
        "engine_cpu_ms_per_step",
        "engine_wall_ms_per_step",
        "engine_late_over_early_cpu",
        "engine_late_over_early_wall",
        "fake_cpu_ms_per_step",
        "fake_wall_ms_per_step",
        "fake_late_over_early_cpu",
        "fake_late_over_early_wall",
    },
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_quick_run_prints_every_ratio(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = {match["name"]: float(match["value"]) for match in RATIO_LINE.finditer(done.stdout)}
    assert set(found) == EXPECTED[script], done.stdout
    assert all(value > 0 for value in found.values()), done.stdout
    assert "Traceback" not in done.stderr


def test_a_bad_repeat_count_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_steps.py"), "--quick", "--repeat", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--repeat must be >= 1" in done.stderr
