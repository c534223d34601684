"""The HTML trace report: content, escaping, and a real render in headless Chromium."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from rlm_core import RLM, Trace, TraceStep
from rlm_core.adapters import FakeAdapter
from rlm_core.cli import main
from rlm_core.report_html import render_html
from rlm_core.rich_trace import clip

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')

EVIL = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


def _trace() -> Trace:
    root = FakeAdapter(
        [
            "```python\nprint(grep('vault'))\n"
            "r = llm_query('Which code? ' + P[:80])\nprint(r)\n```",
            "FINAL: 7731 & <b>done</b>",
        ],
        model="root-m",
    )
    root.add_rule("sub-LLM", "code 7731")
    text = f"The vault code is 7731. {EVIL}"
    return RLM(root).run("What is the vault code?", text)[1]


def test_report_has_steps_tree_tokens_and_escapes_everything() -> None:
    page = render_html(_trace())
    assert "<script>" not in page and "onerror=alert" not in page.replace(
        "onerror=alert(1)&gt;", ""
    )
    assert "&lt;script&gt;document.title=" in page
    assert "7731 &amp; &lt;b&gt;done&lt;/b&gt;" in page
    assert page.count('class="step kind-') == 4
    # the sub-call is nested inside the REPL step that made it (parent_id)
    repl_start = page.index('id="step-2"')
    sub_start = page.index('id="step-3"')
    root_again = page.index('id="step-4"')
    assert repl_start < sub_start < root_again
    assert '<div class="children"><details class="step kind-subcall" id="step-3"' in page
    assert "total tokens" in page and "parent #2" in page


def test_cli_trace_show_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "t.json"
    file.write_text(_trace().to_json())
    assert main(["trace", "show", str(file)]) == 0
    out = capsys.readouterr().out
    assert "answer: 7731 & <b>done</b>" in out
    assert "#3 subcall <- #2" in out and "code 7731" in out
    assert main(["trace", "html", str(file), "-o", str(tmp_path / "nope" / "r.html")]) == 2
    assert main(["trace", "html", str(file), "-o", str(tmp_path / "r.html")]) == 0
    assert "7731" in (tmp_path / "r.html").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"no": "steps"}')
    assert main(["trace", "show", str(bad)]) == 2
    assert "not an rlm trace" in capsys.readouterr().err


def test_cli_trace_show_max_chars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = Trace([TraceStep(step_id=1, kind="root_call", response="FINAL_VAR: first")])
    file = tmp_path / "t.json"
    file.write_text(trace.to_json(), encoding="utf-8")
    assert main(["trace", "show", str(file), "--max-chars", "4"]) == 0
    assert "  reply: FINA… [12 more chars]" in capsys.readouterr().out.splitlines()
    for bad in ("0", "-1"):
        with pytest.raises(SystemExit) as exit_info:
            main(["trace", "show", str(file), "--max-chars", bad])
        assert exit_info.value.code == 2
        assert "--max-chars must be at least 1" in capsys.readouterr().err
    assert clip("FINAL_VAR: first", -1) == "… [16 more chars]"  # the whole text was cut


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"step_id": 1, "kind": "root_call", "usage": "lots"}, "steps[0].usage must be an object"),
        ({}, "steps[0] has no 'step_id' or 'kind'"),
    ],
)
def test_cli_reports_a_damaged_trace_with_exit_2(
    step: dict[str, object], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"query": "q", "steps": [step]}), encoding="utf-8")
    assert main(["trace", "show", str(bad)]) == 2
    assert main(["trace", "html", str(bad), "-o", str(tmp_path / "r.html")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith(f"rlm: error: {str(bad)!r} is not an rlm trace: {message}")
    assert not (tmp_path / "r.html").exists()


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed: apt-get install chromium (CI installs it)")


def _run_chromium(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    base = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    return subprocess.run([*base, *flags], capture_output=True, text=True, timeout=120)


def _png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct bytes in the first rows (a blank page has ~1)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += length + 12
    pixels = zlib.decompress(b"".join(chunks))
    return width, height, len(set(pixels[: width * 4 * 200]))


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(render_html(_trace(), title="vault run"), encoding="utf-8")
    dom = _run_chromium(tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>vault run</title>" in dom.stdout  # the injected script never ran
    assert 'id="step-3"' in dom.stdout and "code 7731" in dom.stdout
    assert "&lt;script&gt;" in dom.stdout
    shot = tmp_path / "shot.png"
    done = _run_chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1000,800", report.as_uri()
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    width, height, colours = _png_size_and_colours(shot.read_bytes())
    assert (width, height) == (1000, 800)
    assert colours > 20, "the screenshot looks blank"
