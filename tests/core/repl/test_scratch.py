"""Scratch directories left by a killed host are removed by the next host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rlm_core.repl.isolated.scratch import PREFIX, new_scratch, sweep_orphans


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_orphans_of_dead_hosts_are_removed_and_others_kept(tmp_path: Path) -> None:
    orphan = tmp_path / f"{PREFIX}{_dead_pid()}-abc123"
    orphan.mkdir()
    (orphan / "notes.txt").write_text("left behind")
    live = tmp_path / f"{PREFIX}{os.getppid()}-def456"
    live.mkdir()
    mine = tmp_path / f"{PREFIX}{os.getpid()}-ghi789"
    mine.mkdir()
    old_style = tmp_path / f"{PREFIX}q1w2e3r4"
    old_style.mkdir()
    assert sweep_orphans(str(tmp_path)) == 1
    assert not orphan.exists()
    assert live.exists() and mine.exists() and old_style.exists()


def test_a_new_scratch_directory_names_its_host() -> None:
    scratch = Path(new_scratch())
    try:
        assert scratch.name.startswith(f"{PREFIX}{os.getpid()}-")
    finally:
        scratch.rmdir()


def test_a_killed_host_leaves_nothing_once_the_next_host_starts(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    start_and_die = (
        "import os, signal\n"
        "from rlm_core.repl.isolated.process import WorkerProcess\n"
        "WorkerProcess()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", start_and_die], env=env, check=False)
    left = list(tmp_path.glob(f"{PREFIX}*"))
    assert left  # the killed host could not clean up
    next_host = "from rlm_core.repl.isolated.scratch import new_scratch; print(new_scratch())"
    out = subprocess.run(
        [sys.executable, "-c", next_host], env=env, check=True, capture_output=True, text=True
    )
    assert not any(path.exists() for path in left)
    Path(out.stdout.strip()).rmdir()
