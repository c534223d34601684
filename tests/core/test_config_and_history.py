"""Validation at construction, history handling, compaction and the prompt's helper list."""

from __future__ import annotations

import json
import threading
import warnings

import pytest

from rlm_core import RLM, ConfigError, Context, ContextError, FileCache, Policy
from rlm_core.adapters import FakeAdapter
from rlm_core.engine.prompts import describe_helpers
from rlm_core.engine.toolkit import Toolkit

from tests.core.helpers import code, make_rlm

CTX = Context.from_text("some text to look at")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"repl_backend": "docker"}, "unknown repl_backend 'docker'"),
        ({"max_output_tokens": 0}, "max_output_tokens must be an int >= 1"),
        ({"max_concurrent_subcalls": -3}, "max_concurrent_subcalls"),
        ({"max_recursion_depth": -1}, "max_recursion_depth"),
        ({"invalid_response_limit": 0}, "invalid_response_limit"),
        ({"fallback_code": "answer = ("}, "fallback_code is not valid Python"),
        ({"auto_finalize_var": "not a name"}, "auto_finalize_var"),
        ({"temperature": 5}, "temperature"),
        ({"compaction_threshold_pct": 1.5}, "compaction_threshold_pct"),
        ({"compaction": True}, "compaction_model_context_limit"),
        ({"retriever": object()}, "RetrieverProtocol"),
        ({"policy": {"max_steps": 3}}, "rlm_core.Policy"),
        ({"event_listener": 42}, "event_listener"),
        ({"subcall_adapter": "gpt-4o"}, "subcall_adapter must be a model adapter"),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, object], message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ConfigError, match=message):
            RLM(adapter=FakeAdapter(), **options)  # type: ignore[arg-type]


def test_adapter_must_have_complete() -> None:
    with pytest.raises(ConfigError, match="complete"):
        RLM(adapter="gpt-4o")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_subcalls": -1}, "max_subcalls"),
        ({"max_total_tokens": 0}, "max_total_tokens"),
        ({"max_subcall_tokens": True}, "max_subcall_tokens"),
        ({"on_limit": "explode"}, "on_limit"),
    ],
)
def test_bad_policy_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_bad_run_inputs_are_specific() -> None:
    rlm, adapter = make_rlm(["FINAL: x"] * 5)
    with pytest.raises(ContextError, match="no context given"):
        rlm.run("q")
    with pytest.raises(ContextError, match="context is empty"):
        rlm.run("q", "")
    with pytest.raises(ContextError, match="got int"):
        rlm.run("q", 12345)  # type: ignore[arg-type]
    with pytest.raises(ContextError, match="query must be a non-empty str"):
        rlm.run("   ", CTX)
    assert adapter.calls == []  # nothing was sent for bad input
    assert rlm.run("q", ["doc one", "doc two"])[0] == "x"


def test_python_backend_warns_once_per_process() -> None:
    import rlm_core.repl.python_repl as python_repl

    python_repl._warned = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rlm = RLM(adapter=FakeAdapter(["FINAL: a", "FINAL: b"]), repl_backend="python")
        rlm.run("q", CTX)
        rlm.run("q", CTX)
    assert sum("trusted" in str(w.message) for w in caught) == 1


def test_max_history_tokens_is_deprecated_but_trims() -> None:
    with pytest.warns(DeprecationWarning, match="compaction"):
        rlm = RLM(
            adapter=FakeAdapter([code(f"print('{i}' * 400)") for i in range(6)] + ["FINAL: ok"]),
            repl_backend="python",
            max_history_tokens=900,
        )
    adapter = rlm.adapter
    assert isinstance(adapter, FakeAdapter)
    rlm.run("q", CTX)
    assert len(adapter.calls[-1]) < len(adapter.calls[-2]) + 2
    assert max(len(call) for call in adapter.calls) < 2 + 2 * 6


def test_conversation_history_off_sends_only_system_and_current_user() -> None:
    rlm, adapter = make_rlm(
        [code("a = 1"), code("b = 2"), code("c = 3"), "FINAL: ok"], conversation_history=False
    )
    rlm.run("q", CTX)
    assert [len(call) for call in adapter.calls] == [2, 2, 2, 2]
    assert "c = 3" in adapter.calls[3][1]["content"]
    assert "b = 2" not in adapter.calls[3][1]["content"]


def test_compaction_summarises_and_keeps_full_history_in_repl() -> None:
    script = [code(f"step{i} = {i}\nprint('x' * 600)") for i in range(6)]
    script += [code("print(len(history), history[2]['role'])"), "FINAL: compacted"]
    adapter = FakeAdapter(script)
    adapter.add_rule("You summarise the work log", "- defined step0..stepN")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rlm = RLM(
            adapter=adapter,
            repl_backend="python",
            compaction=True,
            compaction_threshold_tokens=1200,
        )
    answer, trace = rlm.run("q", CTX)
    assert answer == "compacted"
    compactions = [s for s in trace.steps if s.metadata.get("purpose") == "compaction"]
    assert compactions
    later = adapter.calls[-1]
    assert "Progress so far" in later[1]["content"]
    assert "- defined step0..stepN" in later[1]["content"]
    history_output = trace.of_kind("repl_exec")[-1].stdout or ""
    assert "assistant" in history_output


def test_compaction_threshold_from_model_window() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rlm = RLM(
            adapter=FakeAdapter(model="gpt-4o-mini"), compaction=True, compaction_threshold_pct=0.5
        )
    assert rlm.settings.compaction is not None
    assert rlm.settings.compaction.threshold_tokens == 64_000
    explicit = RLM(adapter=FakeAdapter(), compaction=True, compaction_model_context_limit=1000)
    assert explicit.settings.compaction is not None
    assert explicit.settings.compaction.threshold_tokens == 850


def test_system_prompt_lists_exactly_the_repl_helpers() -> None:
    rlm, adapter = make_rlm(["FINAL: x"])
    rlm.run("q", CTX)
    system = adapter.calls[0][0]["content"]
    names = [spec.name for spec in Toolkit.specs(with_retriever=False)]
    for name in names:
        assert f"- {name}(" in system
    assert "es_search" not in system
    assert "es_search(" in describe_helpers(Toolkit.specs(with_retriever=True))
    required = {
        "peek",
        "tail",
        "lenP",
        "SHOW_VARS",
        "extract_after",
        "llm_query",
        "llm_batch",
        "llm_query_batch",
        "ask",
        "ask_chunks",
        "ask_chunks_first",
        "pick_first_answer",
        "llm_query_json",
        "llm_batch_json",
        "llm_query_records",
        "llm_batch_records",
    }
    assert required <= set(names)


def test_custom_system_prompt_gets_helpers_filled_in() -> None:
    rlm, adapter = make_rlm(["FINAL: x"], system_prompt="Tools:\n{helpers}\nGo.")
    rlm.run("q", CTX)
    system = adapter.calls[0][0]["content"]
    assert system.startswith("Tools:\nInspect the context:")
    assert "- llm_query(" in system


def test_file_cache_atomic_corrupt_and_parallel(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = FileCache(tmp_path)
    key = cache.key_for("m", [{"role": "user", "content": "hi"}], 10, 0.0)
    assert key != cache.key_for("m", [{"role": "user", "content": "hi"}], 11, 0.0)
    assert key != cache.key_for("m", [{"role": "user", "content": "hi"}], 10, 0.5)
    assert key != cache.key_for("m2", [{"role": "user", "content": "hi"}], 10, 0.0)
    assert cache.get(key) is None
    cache.set(key, "value")
    assert cache.get(key) == "value"
    path = tmp_path / key[:2] / f"{key}.json"
    path.write_text('{"key": "' + key + '", "val')  # half-written
    assert cache.get(key) is None
    path.write_text(json.dumps({"key": "other", "value": "x"}))
    assert cache.get(key) is None

    def writer(i: int) -> None:
        for _ in range(20):
            cache.set(key, f"value-{i}")
            assert cache.get(key) is not None

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get(
        key,
    ).startswith("value-")  # type: ignore[union-attr]
    assert not list(tmp_path.glob("*/.tmp-*"))


def test_api_reference_documents_every_helper() -> None:
    from pathlib import Path

    api = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    for spec in Toolkit.specs(with_retriever=True):
        assert spec.name in api, f"docs/api.md does not mention the REPL helper {spec.name}"


def test_file_cache_journal_appends_and_reads_like_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    writer = FileCache(tmp_path)
    keys = [writer.key_for("m", [{"role": "user", "content": str(i)}], 10, 0.0) for i in range(3)]
    writer.set_many([(keys[0], "zero"), (keys[1], "one")])
    assert writer.get(keys[0]) == "zero" and writer.get(keys[2]) is None
    (journal,) = (tmp_path / "journal").iterdir()
    with journal.open("ab") as handle:  # a corrupt line and a torn last line: misses
        handle.write(b'{"key": 7, "value": "x"}\nnot json\n{"key": "' + keys[2].encode())
    reader = FileCache(tmp_path)  # another process's view
    assert [reader.get(key) for key in keys] == ["zero", "one", None]
    writer.set(keys[1], "newer")  # a per-reply file written later wins in the writer
    assert writer.get(keys[1]) == "newer"
    writer.clear()
    assert FileCache(tmp_path).get(keys[0]) is None


def test_cache_writes_warn_instead_of_failing_a_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rlm_core.engine.cache_writes import CacheWrites

    class FullDisk:
        def get(self, key: str) -> None:
            return None

        def set(self, key: str, value: str) -> None:
            raise OSError(28, "No space left on device")

    writes = CacheWrites(FullDisk())
    writes.put("k", "v")
    with pytest.warns(RuntimeWarning, match="No space left"):
        writes.flush()
    assert writes.get("k") is None  # nothing pending once the write was given up


def test_file_cache_counts_hits_served_before_the_reply_is_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rlm_core.engine.cache_writes import CacheWrites

    released = threading.Event()

    class SlowDisk(FileCache):
        def set_many(self, items):  # type: ignore[no-untyped-def]
            released.wait(10)  # the reply stays pending until the test lets it go
            super().set_many(items)

    cache = SlowDisk(tmp_path)
    writes = CacheWrites(cache)
    writes.put("k", "v")
    assert writes.get("k") == "v"  # from memory: the writer is still held up
    assert cache.hits == 1 and cache.misses == 0
    released.set()
    writes.flush()
    assert writes.get("k") == "v" and cache.hits == 2

    cache = FileCache(tmp_path / "run")
    script = [code("a = llm_query('one')\nb = llm_query('one')"), "FINAL: x"]
    rlm, adapter = make_rlm(script, cache=cache)
    adapter.add_rule("You are a sub-LLM", "sub")
    _, trace = rlm.run("q", CTX)
    assert [step.cache_hit for step in trace.of_kind("subcall")] == [False, True]
    assert (cache.hits, cache.misses) == (1, 1)


def test_file_cache_refresh_finds_other_processes_entries_now(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reader, writer = FileCache(tmp_path), FileCache(tmp_path)
    key = reader.key_for("m", [{"role": "user", "content": "hi"}], 10, 0.0)
    assert reader.get(key) is None  # looked at the disk just now
    writer.set_many([(key, "stored elsewhere")])
    reader.refresh(if_stale=True)  # looked less than a second ago: not yet
    assert reader.get(key) is None
    reader.refresh()
    assert reader.get(key) == "stored elsewhere"


@pytest.mark.parametrize(
    "user",
    [
        "item 1",
        "",
        'quote " backslash \\ newline \n tab \t ünï 😀 \x00 \u2028',
        "\x00rlm user text\x00",
    ],
)
def test_file_cache_key_for_chat_is_key_for_of_the_two_messages(user: str) -> None:
    system = "You are a sub-LLM. Answer briefly."
    for model, max_tokens, temperature in (("m", 10, 0.0), ("other/model", 256, 0.7)):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        assert FileCache.key_for_chat(
            model, system, user, max_tokens, temperature
        ) == FileCache.key_for(model, messages, max_tokens, temperature)
    assert FileCache.key_for_chat("m", system, user, 10, 0.0) != FileCache.key_for_chat(
        "m", system, user + " ", 10, 0.0
    )
