"""The python examples in the docs pages listed here run as they are."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["sessions-and-tools.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        found += [(f"{page}#{index}", block) for index, block in enumerate(_BLOCK.findall(text))]
    return found


@pytest.mark.parametrize(("where", "source"), examples(), ids=[where for where, _ in examples()])
def test_docs_example_runs(
    where: str, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        exec(compile(source, where, "exec"), {"__name__": "__docs__"})
