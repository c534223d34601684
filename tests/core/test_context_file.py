"""File-backed contexts behave like in-memory ones, with exact character offsets, without
loading the file; bad files and files changed mid-run give errors naming the file."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlm_core import RLM, Context, ContextError
from rlm_core import _mapped_text as mapped
from rlm_core.adapters.fake import FakeAdapter
from rlm_core.context import FileContext
from rlm_core.repl.context_helpers import ContextHelpers
from rlm_core.repl.isolated import IsolatedREPL

ALPHABET = "ab \nxé€𝄞"


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny index blocks and windows, so short texts cross many of their boundaries."""
    monkeypatch.setattr(mapped, "BLOCK_BYTES", 16)
    monkeypatch.setattr(mapped, "WINDOW_BLOCKS", 2)
    monkeypatch.setattr(mapped, "OVERLAP_BLOCKS", 3)


def _text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.usefixtures("small_blocks")
def test_the_text_reads_like_a_str(tmp_path: Path) -> None:
    rng = random.Random(7)
    patterns = [r"a+", r"é\w*", r"^x", r"b$", r"(?m)^a.*$", r"\bab", "x[^\n]*?b", r"a(?=b)"]
    for trial in range(40):
        text = _text(rng, rng.randint(0, 300))
        ctx = Context.from_file(_write(tmp_path / f"t{trial}.txt", text))
        assert isinstance(ctx, FileContext)
        p = ctx.text
        assert len(p) == len(text) == ctx.len_chars()
        for _ in range(15):
            a, b = rng.randint(-320, 320), rng.randint(-320, 320)
            step = rng.choice([1, 1, 3, -1, -2])
            assert p[a:b:step] == text[a:b:step]
            sub = _text(rng, rng.randint(1, 3))
            assert p.find(sub) == text.find(sub)
            assert p.find(sub, a, b) == text.find(sub, a, b)
            assert p.rfind(sub) == text.rfind(sub)
            assert p.count(sub) == text.count(sub)
            assert (sub in p) == (sub in text)
        for pattern in patterns:
            compiled = re.compile(pattern)
            expected = [(m.start(), m.end(), m.group()) for m in compiled.finditer(text)]
            assert list(p.finditer(compiled)) == expected
        if text:
            assert p[0] == text[0] and p[-1] == text[-1]
            assert p.startswith(text[:3]) and p.endswith(text[-2:])
        assert "".join(p) == text


@pytest.mark.usefixtures("small_blocks")
def test_context_api_matches_in_memory_documents(tmp_path: Path) -> None:
    rng = random.Random(3)
    docs = [_text(rng, n) + " needle é " + _text(rng, 40) for n in (50, 0, 120)]
    paths = [_write(tmp_path / f"doc{i}.txt", doc) for i, doc in enumerate(docs)]
    on_disk = Context.from_files(str(tmp_path / "doc*.txt"))
    in_memory = Context.from_documents(docs)
    assert on_disk.text[:] == in_memory.text
    assert on_disk.document_lengths() == in_memory.document_lengths()
    assert [on_disk.get_document(i) for i in range(3)] == docs
    assert on_disk.document_at(len(docs[0]) + 3) == in_memory.document_at(len(docs[0]) + 3)
    for kwargs in (
        {"pattern": "needle"},
        {"pattern": "NEEDLE é", "case_sensitive": False},
        {"pattern": r"n\w+le\s", "regex": True},
        {"pattern": "aa"},  # overlapping hits, like in memory
    ):
        assert on_disk.find(**kwargs) == in_memory.find(**kwargs)  # type: ignore[arg-type]
    assert list(on_disk.chunk(37, overlap=5)) == in_memory.chunk(37, overlap=5)
    assert len(on_disk.chunk(37, overlap=5)) == len(in_memory.chunk(37, overlap=5))
    assert list(on_disk.chunk_documents(2)) == in_memory.chunk_documents(2)
    assert on_disk.page(1, 50) == in_memory.page(1, 50)
    shape = {k: v for k, v in on_disk.metadata().items() if k != "file_backed"}
    assert shape == in_memory.metadata()
    assert Context.from_files(paths).text[:] == in_memory.text


def test_whole_text_operations_are_refused_with_advice(tmp_path: Path) -> None:
    ctx = Context.from_file(_write(tmp_path / "a.txt", "Some text. More text."))
    with pytest.raises(ContextError, match=r"str\(P\) would load the whole file-backed text"):
        str(ctx.text)
    with pytest.raises(ContextError, match=r"P\.upper\(\.\.\.\) would load.*P\[a:b\]\.upper"):
        ctx.text.upper()  # type: ignore[attr-defined]
    assert ctx.text[:4].upper() == "SOME"
    assert repr(ctx.text) == "<file-backed text: 21 chars from a.txt>"


def test_bad_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(ContextError, match=f"context file '{missing}' does not exist"):
        Context.from_file(missing)
    with pytest.raises(ContextError, match="is a folder; pass its files"):
        Context.from_file(tmp_path)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    with pytest.raises(ContextError, match=r"'.*blob\.bin' looks binary \(it holds NUL bytes\)"):
        Context.from_file(binary)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9 au lait")
    with pytest.raises(
        ContextError, match=r"latin1\.txt' is not UTF-8 text \(invalid byte at offset 3\)"
    ):
        Context.from_file(latin1)
    with pytest.raises(ContextError, match="matches no files"):
        Context.from_files(str(tmp_path / "*.nothing"))
    with pytest.raises(ContextError, match="needs at least one path"):
        Context.from_files([])


def test_a_file_changed_during_the_run_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "log.txt", "line one\nline two\n")
    ctx = Context.from_file(path)
    assert ctx.find("two")[0].start == 14
    with path.open("a", encoding="utf-8") as handle:
        handle.write("line three\n")
    with pytest.raises(mapped.FileChangedError, match=f"context file '{path}' changed during"):
        ctx.text[0:4]
    with pytest.raises(mapped.FileChangedError, match=r"log\.txt"):
        ctx.find("three")


# -- in the sandboxed worker ------------------------------------------------------------------
@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    filler = "Routine entry é, nothing to see.\n" * 4000
    return _write(tmp_path / "corpus.txt", filler + "ALERT code 4417 at 12:00\n" + filler)


@pytest.fixture
def isolated(corpus: Path) -> Iterator[IsolatedREPL]:
    repl = IsolatedREPL(ContextHelpers(Context.from_file(corpus)), wall_seconds=20)
    yield repl
    repl.close()


def test_the_worker_maps_the_same_file_and_cannot_open_it(
    isolated: IsolatedREPL, corpus: Path
) -> None:
    text = corpus.read_text(encoding="utf-8")
    result = isolated.exec(
        "m = ctx.find(r'code (\\d+)', regex=True)[0]\n"
        "print(len(P), m.start, m.text, P[m.start:m.end], grep('alert code')[0][:30])"
    )
    assert result.error is None, result.error
    start = text.index("code 4417")
    assert result.stdout.split()[:4] == [str(len(text)), str(start), "code", "4417"]
    maps = Path(f"/proc/{isolated.worker_pid}/maps").read_text()
    assert str(corpus) in maps  # the worker mapped the file itself ...
    assert "rlm-context" not in maps  # ... and received no copy of the text
    opened = isolated.exec(f"open({str(corpus)!r}).read(10)")
    assert opened.error is not None and "PermissionError" in opened.error


def test_the_worker_reports_a_file_changed_mid_run(isolated: IsolatedREPL, corpus: Path) -> None:
    assert isolated.exec("print(P[:7])").stdout == "Routine\n"
    with corpus.open("a", encoding="utf-8") as handle:
        handle.write("appended\n")
    result = isolated.exec("P[:7]")
    assert result.error is not None
    assert "FileChangedError" in result.error and str(corpus) in result.error


def test_a_run_over_a_file_backed_context(corpus: Path) -> None:
    code = "```python\nhit = ctx.find(r'code (\\d+)', regex=True)[0]\nanswer = hit.text[5:]\n```"
    rlm = RLM(FakeAdapter([code, "FINAL_VAR: answer"]))
    answer, trace = rlm.run("What is the alert code?", Context.from_file(corpus))
    assert answer == "4417"
    assert os.fspath(corpus) not in (trace.steps[0].prompt or "")


def test_the_monty_backend_says_it_needs_text_in_memory(corpus: Path) -> None:
    pytest.importorskip("pydantic_monty")
    from rlm_core import ReplError

    rlm = RLM(FakeAdapter(["FINAL: x"]), repl_backend="monty")
    with pytest.raises(ReplError, match='"monty" needs the context text in memory'):
        rlm.run("q", Context.from_file(corpus))
