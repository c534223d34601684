"""Fixtures for CLI tests: a corpus (the scripted server is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder with two text files, a nested one, a hidden one and a binary one."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("Alpha notes. The launch code is 4417.\n", encoding="utf-8")
    (root / "b.md").write_text("Beta notes about gardens.\n", encoding="utf-8")
    (root / "sub" / "c.txt").write_text("Gamma: nested file.\n", encoding="utf-8")
    (root / ".hidden.txt").write_text("should be skipped\n", encoding="utf-8")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    return root


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their model explicitly: no keys or URLs from the environment."""
    for name in ("LLM_API_KEY", "OPENAI_API_KEY", "LLM_BASE_URL", "RLM_MODEL_PATH"):
        monkeypatch.delenv(name, raising=False)
