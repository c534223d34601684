"""``RLMOptions``: one validated options model for RLM, SmartRouter and the integrations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rlm_core import RLM, ConfigError, Policy, RLMOptions, SmartRouter
from rlm_core.adapters import FakeAdapter

from tests.core.helpers import code

DOCS_API = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.mark.parametrize("name", ["max_steps", "max_subcalls", "max_total_tokens", "on_limit"])
def test_a_policy_limit_points_to_policy(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"pass policy=Policy\({name}=\.\.\.\)"):
        RLM(FakeAdapter(), **{name: 3})


def test_unknown_option_names_a_close_match_and_the_valid_options() -> None:
    with pytest.raises(ConfigError) as caught:
        RLM(FakeAdapter(), temprature=0.5)
    message = str(caught.value)
    assert "unknown RLM option 'temprature' (did you mean 'temperature'?)" in message
    assert "valid options: policy, cache, max_output_tokens" in message
    with pytest.raises(ConfigError, match=r"did you mean policy=Policy\(max_steps=\.\.\.\)"):
        RLM(FakeAdapter(), max_stepz=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_output_tokens": "3"}, "max_output_tokens must be an int >= 1, got '3'"),
        ({"max_output_tokens": True}, "max_output_tokens must be an int >= 1, got True"),
        ({"subcall_context_window": 0}, "subcall_context_window must be None or an int >= 1"),
        ({"parallel_subcalls": "yes"}, "parallel_subcalls must be True or False, got 'yes'"),
        ({"repl_backend": "docker"}, r"choose one of \['auto', 'isolated', 'monty', 'python'\]"),
        ({"system_prompt": 42}, "system_prompt must be None or a str, got int"),
        ({"compaction_model_name": ["a"]}, "compaction_model_name must be None or a str"),
    ],
)
def test_bad_values_name_the_option_and_what_it_accepts(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        RLMOptions(**options)
    with pytest.raises(ConfigError, match=message):
        RLM(FakeAdapter(), **options)


def test_options_object_and_keywords_are_the_same_and_keywords_win() -> None:
    options = RLMOptions(max_output_tokens=64, repl_backend="python", temperature=0.3)
    assert options.explicit() == {
        "max_output_tokens": 64,
        "repl_backend": "python",
        "temperature": 0.3,
    }
    rlm = RLM(FakeAdapter(), options=options, temperature=0.7)
    assert rlm.settings.max_output_tokens == 64
    assert rlm.settings.temperature == 0.7
    assert options.temperature == 0.3  # the object given is not changed
    with pytest.raises(ConfigError, match="options must be an RLMOptions, got dict"):
        RLM(FakeAdapter(), options={"temperature": 0.2})  # type: ignore[arg-type]


def test_options_are_frozen_and_defaults_match_the_spec() -> None:
    options = RLMOptions()
    assert options.explicit() == {}
    assert (options.max_output_tokens, options.repl_backend, options.temperature) == (
        4096,
        "auto",
        0.0,
    )
    assert options.conversation_history is True and options.compaction is False
    with pytest.raises(Exception, match="frozen"):
        options.temperature = 1.0  # type: ignore[misc]


def test_options_object_runs_the_same_as_keywords() -> None:
    script = [code("print(P[:4])"), "FINAL: done"]
    adapter = FakeAdapter(script=script)
    policy = Policy(max_steps=3)
    rlm = RLM(adapter, options=RLMOptions(repl_backend="python", policy=policy))
    answer, trace = rlm.run("q", "text here")
    assert answer == "done"
    assert rlm.policy is policy
    assert trace.of_kind("repl_exec")[0].stdout.strip() == "text"


def test_router_accepts_and_passes_on_the_options_object() -> None:
    options = RLMOptions(repl_backend="python", max_output_tokens=99)
    router = SmartRouter(FakeAdapter(default="FINAL: x"), options=options, temperature=0.4)
    rlm = router.rlm_for("verify")  # type: ignore[arg-type]
    assert rlm.settings.max_output_tokens == 99
    assert rlm.settings.temperature == 0.4
    assert rlm.settings.guards.require_subcall_before_final  # the profile's engine option
    with pytest.raises(ConfigError, match=r"Policy\(max_steps=\.\.\.\)"):
        SmartRouter(FakeAdapter(), max_steps=3)
    with pytest.raises(ConfigError, match="max_concurrent_subcalls must be an int >= 1"):
        SmartRouter(FakeAdapter(), options=RLMOptions(), max_concurrent_subcalls=0)


def test_every_option_has_a_description() -> None:
    for name, field in RLMOptions.model_fields.items():
        assert field.description and field.description.strip(), name


def options_table() -> str:
    """The options table of docs/api.md, as generated from ``RLMOptions``."""
    rows = ["| option | default | what it does |", "|---|---|---|"]
    for name, field in RLMOptions.model_fields.items():
        default = field.default
        shown = repr(default) if not isinstance(default, str) else f'"{default}"'
        rows.append(f"| `{name}` | `{shown}` | {field.description} |")
    return "\n".join(rows)


def test_docs_options_table_matches_the_model() -> None:
    text = DOCS_API.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- options-table:start -->\n(.*?)\n<!-- options-table:end -->", text, re.DOTALL
    )
    assert found, "docs/api.md lacks the <!-- options-table:start/end --> markers"
    expected = options_table()
    assert found.group(1) == expected, (
        "docs/api.md's options table is out of date with RLMOptions; replace it with:\n" + expected
    )
