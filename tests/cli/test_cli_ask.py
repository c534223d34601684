"""``rlm ask`` end to end against a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rlm_core.cli import main

from tests.core.openai_server import OpenAIServer, RawJSON, Reply

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')

MODELS = RawJSON({"object": "list", "data": [{"id": "m"}]})  # answers the CLI's GET /models probe

CODE = "```python\nprint(grep('launch code'))\n```"


def _ask(server: OpenAIServer, corpus: Path, *extra: str) -> list[str]:
    return [
        "ask", "What is the launch code?", "--context", str(corpus),
        "--model", "m", "--base-url", server.base_url, "--quiet", "--backend", "python", *extra,
    ]  # fmt: skip


def test_ask_prints_the_answer_and_saves_trace_and_html(
    openai_server: OpenAIServer, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.enqueue(MODELS, Reply(CODE), Reply("FINAL: 4417"))
    trace_file, html_file = tmp_path / "t.json", tmp_path / "r.html"
    argv = _ask(openai_server, corpus, "--trace-out", str(trace_file), "--html-out", str(html_file))
    argv.remove("--backend")
    argv.remove("python")  # the default backend (isolated) runs the model's code
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.strip() == "4417"
    saved = json.loads(trace_file.read_text())
    assert saved["answer"] == "4417"
    assert [s["kind"] for s in saved["steps"]] == ["root_call", "repl_exec", "root_call"]
    assert "The launch code is 4417" in saved["steps"][1]["stdout"]
    cli = saved["metadata"]["cli"]
    assert cli["profile"] == "default" and len(cli["context"]) == 3  # hidden + binary skipped
    assert "4417" in html_file.read_text()
    # the root model saw the three documents' shape, never their content
    assert openai_server.requests[0].method == "GET"
    first_prompt = openai_server.requests[1].body["messages"][1]["content"]
    assert "Alpha notes" not in first_prompt


def test_plain_progress_when_piped(
    openai_server: OpenAIServer, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.enqueue(MODELS, Reply(CODE), Reply("FINAL: 4417"))
    args = [a for a in _ask(openai_server, corpus) if a != "--quiet"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "[1] root_call" in err and "[2] repl_exec" in err


def test_unreachable_endpoint_is_exit_1_with_a_clear_message(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(["ask", "q?", "-c", str(corpus), "--model", "m",
                 "--base-url", f"http://127.0.0.1:{port}/v1"])  # fmt: skip
    assert code == 1
    assert "cannot reach the model endpoint" in capsys.readouterr().err


def test_model_error_mid_run_is_exit_1_and_keeps_the_trace(
    openai_server: OpenAIServer, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.core.openai_server import Status

    openai_server.enqueue(MODELS, Reply(CODE), Status(400))
    trace_file = tmp_path / "t.json"
    assert main(_ask(openai_server, corpus, "--trace-out", str(trace_file))) == 1
    assert "run failed" in capsys.readouterr().err
    saved = json.loads(trace_file.read_text())
    assert saved["error"] and saved["steps"][1]["kind"] == "repl_exec"


@pytest.mark.parametrize(
    ("flag", "where", "message"),
    [
        ("--trace-out", "missing/t.json", "the folder '{tmp}/missing' does not exist"),
        ("--html-out", "missing/r.html", "the folder '{tmp}/missing' does not exist"),
        ("--trace-out", ".", "is a folder: give a file name"),
    ],
)
def test_unwritable_output_paths_are_refused_before_any_model_call(
    flag: str,
    where: str,
    message: str,
    openai_server: OpenAIServer,
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(tmp_path / where)
    assert main(_ask(openai_server, corpus, flag, path)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rlm: error: {flag} {path!r}")
    assert message.format(tmp=tmp_path) in err
    assert openai_server.requests == []  # no model call was spent


def test_the_answer_is_printed_when_the_trace_cannot_be_saved(
    openai_server: OpenAIServer, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.enqueue(MODELS, Reply("FINAL: 4417"))
    dangling = tmp_path / "t.json"  # passes the up-front check, fails when written
    dangling.symlink_to(tmp_path / "gone" / "t.json")
    html_file = tmp_path / "r.html"
    argv = _ask(openai_server, corpus, "--trace-out", str(dangling), "--html-out", str(html_file))
    assert main(argv) == 1
    out = capsys.readouterr()
    assert out.out.strip() == "4417"
    assert f"rlm: error: --trace-out {str(dangling)!r}: cannot write the trace" in out.err
    assert "HTML report written to" in out.err and "4417" in html_file.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "q?", "-c", "/no/such/file.txt", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"],
         "no such file or folder"),
        (["ask", "q?", "-c", "/no/such/*.txt", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"],
         "matches no files"),
        (["ask", "q?", "-c", "{corpus}", "--model", "gpt-x"], "needs an endpoint"),
        (["ask", "q?", "-c", "{corpus}", "--base-url", "http://127.0.0.1:9/v1"], "needs --model"),
        (["ask", "q?", "-c", "{corpus}/blob.bin", "--model", "m", "--base-url", "http://x/v1"],
         "binary"),
        (["ask", "q?", "-c", "{corpus}", "--model", "{corpus}/missing.gguf"], "does not exist"),
        (["trace", "show", "/no/trace.json"], "does not exist"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(
    argv: list[str], message: str, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([a.replace("{corpus}", str(corpus)) for a in argv])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("rlm: error:") and message in err


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_a_usage_error(
    question: str, openai_server: OpenAIServer, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _ask(openai_server, corpus)
    argv[1] = question
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlm: error: the question is empty") and "ContextError" not in err
    assert openai_server.requests == []


def test_unknown_option_and_bad_numbers_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["ask", "q", "-c", "x", "--frobnicate"],
        ["bench", "niah", "--max-steps", "0"],
        [],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


def test_console_script_runs_as_a_process(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("rlm")
    assert script.exists(), "the rlm console script is not installed: run uv sync"
    done = subprocess.run([str(script), "trace", "show", str(tmp_path / "none.json")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "does not exist" in done.stderr


def test_ask_small_profile_is_the_core_option_and_never_loads_bench(
    openai_server: OpenAIServer, corpus: Path, tmp_path: Path
) -> None:
    openai_server.enqueue(MODELS, Reply("```python\nanswer = 'from code'\n```"))
    trace_file = tmp_path / "t.json"
    argv = _ask(openai_server, corpus, "--profile", "small", "--trace-out", str(trace_file))
    script = (
        "import sys; from rlm_core.cli import main; code = main(sys.argv[1:]); "
        "print(sorted(m for m in sys.modules if m.startswith('rlm_core.bench'))); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["from code", "[]"]  # ended on answer=; no bench/
    settings = json.loads(trace_file.read_text())["metadata"]["settings"]
    assert settings["profile"] == "small"
    assert settings["from_profile"]["auto_finalize_var"] == "answer"
