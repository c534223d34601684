"""The default backend: the isolated worker where it can run, Monty otherwise, never "python".

Isolation is made unavailable in-process (the probes and the worker start are patched), so
these tests exercise the real fallback path on a machine where the isolated worker works.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlm_core import RLM, ConfigError, ReplError
from rlm_core.adapters import FakeAdapter
from rlm_core.cli import DEFAULT_BACKEND, main
from rlm_core.repl import selection
from rlm_core.repl.isolated import host, policy, sandbox
from rlm_core.repl.selection import BackendFallbackWarning, isolated_unavailable_reason

ISOLATED_HERE = isolated_unavailable_reason() is None
needs_isolated = pytest.mark.skipif(not ISOLATED_HERE, reason="isolated backend unavailable here")

SCRIPT = ["```python\nn = len(P)\nprint(n)\n```", "FINAL_VAR: n"]


@pytest.fixture(autouse=True)
def _fresh_probes() -> Iterator[None]:
    selection.forget_probes()
    yield
    selection.forget_probes()


def _run(**options: object) -> tuple[str, dict[str, str]]:
    answer, trace = RLM(FakeAdapter(list(SCRIPT)), **options).run("How long?", "abcdef")
    return answer, trace.metadata["repl_backend"]


@needs_isolated
def test_default_runs_isolated_and_says_so_in_the_trace() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", BackendFallbackWarning)
        answer, chosen = _run()
    assert answer == "6"
    assert chosen["name"] == "isolated" and chosen["requested"] == "auto"


def test_no_landlock_falls_back_to_monty_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    with pytest.warns(BackendFallbackWarning, match="Landlock") as caught:
        answer, chosen = _run()
        again, _ = _run()
    assert (answer, again) == ("6", "6")
    assert len(caught) == 1  # once per process, not once per run
    assert chosen["name"] == "monty" and "Landlock" in chosen["reason"]


def test_no_libseccomp_falls_back_to_monty(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> bytes:
        raise policy.PolicyUnavailable("cannot load libseccomp (test)")

    monkeypatch.setattr(policy, "seccomp_program", unavailable)
    with pytest.warns(BackendFallbackWarning, match="libseccomp"):
        answer, chosen = _run()
    assert answer == "6" and chosen["name"] == "monty"


def test_not_linux_falls_back_to_monty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection.sys, "platform", "darwin")
    with pytest.warns(BackendFallbackWarning, match="needs Linux"):
        answer, chosen = _run()
    assert answer == "6" and chosen["name"] == "monty"


@needs_isolated
def test_worker_that_cannot_start_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> object:
        raise OSError("seccomp() refused by the container")

    monkeypatch.setattr(host, "take_worker", refuse)
    with pytest.warns(BackendFallbackWarning, match="refused by the container"):
        answer, chosen = _run()
    assert answer == "6" and chosen["name"] == "monty"


def test_explicit_isolated_still_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    with pytest.raises(ReplError, match="Landlock"):
        _run(repl_backend="isolated")


def test_no_sandbox_at_all_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    monkeypatch.setattr(selection, "monty_unavailable_reason", lambda: "no wheel (test)")
    with pytest.raises(ConfigError) as raised:
        RLM(FakeAdapter(list(SCRIPT)))
    message = str(raised.value)
    assert "Landlock" in message and "no wheel (test)" in message
    assert 'repl_backend="isolated"' in message and '"monty"' in message


def test_explicit_choice_is_recorded() -> None:
    answer, chosen = _run(repl_backend="monty")
    assert answer == "6"
    assert chosen == {"name": "monty", "requested": "monty", "reason": "chosen explicitly"}


def test_default_never_picks_the_in_process_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_BACKEND == "auto"
    assert RLM(FakeAdapter([])).options.repl_backend == "auto"
    selection.forget_probes()
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    with pytest.warns(BackendFallbackWarning):
        assert selection.choose_backend().name == "monty"


ESCAPE = """```python
for cls in ().__class__.__base__.__subclasses__():
    if cls.__name__ == '_wrap_close':
        cls.__init__.__globals__['system']('touch ' + {marker!r})
print('done')
```"""


@pytest.mark.parametrize("recorded_backend", [None, "python"])
def test_replaying_a_shared_trace_never_runs_its_code_unconfined(
    tmp_path: Path, recorded_backend: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trace is data people share: replay runs its code in the default sandbox, whatever
    backend the file names (the recorded escape would ``touch`` a host file otherwise)."""
    marker = tmp_path / "pwned"
    script = [ESCAPE.format(marker=str(marker)), "FINAL: done"]
    _, trace = RLM(FakeAdapter(script), repl_backend="monty").run("q?", "some text")
    assert not marker.exists()
    if recorded_backend is not None:
        trace.metadata["cli"] = {"backend": recorded_backend}
    trace_file, doc = tmp_path / "shared.json", tmp_path / "ctx.txt"
    trace_file.write_text(trace.to_json())
    doc.write_text("some text")
    main(["trace", "replay", str(trace_file), "--context", str(doc), "-q"])
    assert not marker.exists()
    if recorded_backend == "python":
        assert "replaying on the default sandbox" in capsys.readouterr().err
