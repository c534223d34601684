"""``benchmarks/bench_sub_prompt.py --quick`` runs on the bundled model and prints its ratios."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local.test_real_model import _model_missing

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sub_prompt.py"
RATIO_LINE = re.compile(r"^RATIO (?P<name>\w+) = (?P<value>\d+\.\d+) \(informational\)$", re.M)
EXPECTED = {
    f"{name}_prompt_{share}_share"
    for name in ("small", "core")
    for share in ("correct", "declined", "declined_near")
} | {"small_over_core_correct"}

pytestmark = [
    pytest.mark.skipif(_model_missing() is not None, reason=str(_model_missing())),
    pytest.mark.timeout(660),  # seconds on free cores, minutes on shared ones
]


def test_quick_run_prints_every_ratio() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "RLM_NO_DOWNLOAD": "1"},  # the bundled model, never the Hub
    )
    assert done.returncode == 0, done.stderr
    found = {match["name"]: float(match["value"]) for match in RATIO_LINE.finditer(done.stdout)}
    assert set(found) == EXPECTED, done.stdout
    # Shares of a few probes may be 0 or 1; each is a share all the same.
    shares = {name: value for name, value in found.items() if name.endswith("_share")}
    assert all(0.0 <= value <= 1.0 for value in shares.values()), done.stdout
    assert "core prompt: correct" in done.stdout and "small prompt: correct" in done.stdout
