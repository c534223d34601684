"""Scratch directories left by a killed host are removed by the next host."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from rlm_core.repl.isolated.scratch import HOST_LOCK, PREFIX, new_scratch, sweep_orphans


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
    path, lock = new_scratch()
    scratch = Path(path)
    try:
        assert scratch.name.startswith(f"{PREFIX}{os.getpid()}-")
    finally:
        (scratch / HOST_LOCK).unlink()
        scratch.rmdir()
        os.close(lock)


def test_a_directory_whose_lock_is_held_survives_a_dead_looking_pid(tmp_path: Path) -> None:
    """A host in another PID namespace: its pid looks dead here, but it holds the lock."""
    held = tmp_path / f"{PREFIX}{_dead_pid()}-xyz"
    held.mkdir()
    fd = os.open(held / HOST_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert sweep_orphans(str(tmp_path)) == 0 and held.exists()
    finally:
        os.close(fd)
    assert sweep_orphans(str(tmp_path)) == 1 and not held.exists()


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
    next_host = "from rlm_core.repl.isolated.scratch import new_scratch; print(new_scratch()[0])"
    out = subprocess.run(
        [sys.executable, "-c", next_host], env=env, check=True, capture_output=True, text=True
    )
    assert not any(path.exists() for path in left)
    fresh = Path(out.stdout.strip())
    (fresh / HOST_LOCK).unlink()
    fresh.rmdir()
