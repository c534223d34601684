"""The plain-data codec the host uses on worker bytes, limits validation, and monty's
missing-dependency error."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest

from rlm_core.context import Context
from rlm_core.engine.toolkit import Toolkit
from rlm_core.errors import ConfigError
from rlm_core.repl.isolated import IsolationLimits
from rlm_core.repl.isolated.framing import NotPlainData, check_plain, loads_plain
from rlm_core.repl.monty_repl import create_monty_repl


class Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


def test_plain_values_round_trip() -> None:
    value = {"a": [1, 2.5, None, True], ("t", 1): {b"x", frozenset({3})}, "c": 1 + 2j}
    assert loads_plain(pickle.dumps(value)) == value


def test_globals_are_refused_so_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(NotPlainData, match="refused global"):
        loads_plain(pickle.dumps([Evil(str(marker))]))
    assert not marker.exists()
    with pytest.raises(NotPlainData):
        loads_plain(pickle.dumps(Context.from_text("x")))


def test_shared_reference_bomb_and_depth_are_refused() -> None:
    bomb: list[object] = []
    for _ in range(40):
        bomb = [bomb, bomb]  # 2**40 leaves as a tree, tiny as a pickle
    with pytest.raises(NotPlainData, match="more than"):
        loads_plain(pickle.dumps(bomb))
    deep: list[object] = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(NotPlainData, match="deeper"):
        check_plain(deep)
    with pytest.raises(NotPlainData, match="too large"):
        check_plain(1 << 100_000)


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(NotPlainData, match="undecodable"):
        loads_plain(b"\x80\x05not a pickle")


@pytest.mark.parametrize(
    "options",
    [
        {"memory_mb": 0},
        {"cpu_seconds": -1},
        {"wall_seconds": 0},
        {"open_files": 4},
        {"memory_mb": True},
    ],
)
def test_bad_limits_fail_early(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="isolated backend"):
        IsolationLimits(**options)  # type: ignore[arg-type]


def test_monty_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydantic_monty", None)
    toolkit = Toolkit(Context.from_text("x"), None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r'pip install "rlm-core\[monty\]"'):
        create_monty_repl(toolkit, max_output_chars=100)


def test_monty_bad_limit_fails_early() -> None:
    toolkit = Toolkit(Context.from_text("x"), None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="duration_seconds"):
        create_monty_repl(toolkit, max_output_chars=100, duration_seconds=0)
