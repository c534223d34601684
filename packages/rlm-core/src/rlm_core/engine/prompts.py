"""Every prompt the engine sends, in one place, as named parts.

Short on purpose: small models follow short prompts. ``PromptParts`` bundles the parts a
run uses (a profile can swap some, e.g. the root prompt's example); the remaining texts
here are the fixed feedback the root loop gives. This module imports only ``errors``, so any
layer can use it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from rlm_core.errors import ConfigError

ROOT_PROMPT = """\
You answer questions about a long text that is too big to read at once. It is stored in a \
Python REPL as the string variable P (ctx is the same text with helper methods; ctx.find(s) \
and ctx.chunk(size) return (start, end, text) tuples). You never see it directly: you write \
Python code, it runs, and you see what it prints.

Each reply: either one ```python code block, or the final answer on its own line as
FINAL: <answer>
or, to answer with the value of a REPL variable,
FINAL_VAR: <variable name>

Functions you can call in the REPL:
{helpers}
Variables persist between steps. Only printed output is shown to you, cut to {max_output_chars} \
characters, so print short pieces, not all of P.

How to work: first look at the data (peek, lenP), then search it with short distinctive words \
from the question (grep), read around the hits, use sub-models for reading or judging long \
pieces (ask, ask_chunks, llm_batch), and answer only from what the code showed you."""
"""The root system prompt before its example; ``{helpers}`` and ``{max_output_chars}`` are
filled in when a run starts."""

EXAMPLE = """\
Example:
```python
hits = grep("launch date")
print(len(hits)); print(hits[:3])
```
(output shows the date) then: FINAL: March 3, 2021"""
"""The worked example that ends the root system prompt."""

BASE_SYSTEM_PROMPT = f"{ROOT_PROMPT}\n\n{EXAMPLE}"
"""The built-in root system prompt: ``ROOT_PROMPT`` then ``EXAMPLE``."""

SUB_SYSTEM_PROMPT = (
    "You are a sub-LLM helping a larger program. Answer the request using only the text "
    "you are given. Be concise and specific. If the text does not contain the answer, "
    "reply exactly: NOT FOUND"
)
"""The system prompt of every plain sub-call (``llm_query``, ``ask``, ...)."""

RETRIEVAL_NOTE = (
    "A document index is also available: search it with es_search / es_hybrid_search and read "
    "whole documents with es_get(doc_id)."
)
"""Appended to the built-in root prompt when a retriever is configured."""

COMPACTION_PROMPT = (
    "You summarise the work log of a program that answers a question by running Python code "
    "over a long text. Keep every fact found (names, numbers, offsets, variable names that hold "
    "results) and what was tried and failed. Be brief; use bullet points."
)
"""The system prompt of the call that summarises old turns (``compaction=True``)."""

FINALIZE_PROMPT = (
    "Stop now: {reason}. Give your best final answer from what you have found so far, "
    "as one line: FINAL: <answer>"
)
"""Asks for a best answer when a limit is hit; ``{reason}`` says which."""


FIRST_STEP = "Start by writing code to look at the data."
"""The last line of the first user message."""


@dataclass(frozen=True, slots=True)
class PromptParts:
    """The named prompt parts of a run. Profiles swap parts; ``RLM(prompts=...)`` sets them.

    ``guidance`` (empty by default) is appended to the root system prompt, e.g. the
    strategy of a ``SmartRouter`` execution profile. ``first_step`` ends the first user
    message (what to do first).
    """

    root: str = ROOT_PROMPT
    example: str = EXAMPLE
    sub_system: str = SUB_SYSTEM_PROMPT
    retrieval_note: str = RETRIEVAL_NOTE
    compaction: str = COMPACTION_PROMPT
    finalize: str = FINALIZE_PROMPT
    guidance: str = ""
    first_step: str = FIRST_STEP

    def __post_init__(self) -> None:
        for part in dataclasses.fields(self):
            if not isinstance(getattr(self, part.name), str):
                raise ConfigError(
                    f"PromptParts.{part.name} must be a str, got "
                    f"{type(getattr(self, part.name)).__name__}"
                )

    def system_template(self) -> str:
        """The root system prompt before the helper list is filled in: root, then example."""
        return f"{self.root}\n\n{self.example}"

    def replace(self, **parts: str) -> PromptParts:
        """A copy with ``parts`` swapped in."""
        return dataclasses.replace(self, **parts)

    def changed(self) -> list[str]:
        """The names of the parts that differ from the built-in ones."""
        default = DEFAULT_PROMPTS
        return [
            part.name
            for part in dataclasses.fields(self)
            if getattr(self, part.name) != getattr(default, part.name)
        ]


DEFAULT_PROMPTS = PromptParts()

# Helper groups in the order the prompt lists them, with their headings.
GROUPS = {
    "context": "Inspect the context",
    "subcalls": "Ask sub-models (each call costs tokens; batch independent prompts)",
    "retrieval": "Search the document index",
    "tools": "Tools (run by the host; pass and get back plain data)",
    "finish": "Finish from code (the run ends after the current code step)",
}


class HelperLine(Protocol):
    """What the helper list shows of one REPL helper."""

    @property
    def name(self) -> str: ...
    @property
    def signature(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def group(self) -> str: ...


def describe_helpers(specs: Iterable[HelperLine]) -> str:
    """The helper list for the system prompt, grouped, one line per helper."""
    specs = list(specs)
    lines: list[str] = []
    for group, title in GROUPS.items():
        members = [spec for spec in specs if spec.group == group]
        if not members:
            continue
        lines.append(f"{title}:")
        lines.extend(f"- {spec.name}{spec.signature}: {spec.summary}" for spec in members)
    return "\n".join(lines)


def build_system_prompt(
    template: str | None,
    parts: PromptParts = DEFAULT_PROMPTS,
    *,
    helpers: str,
    with_retriever: bool,
    max_output_chars: int,
) -> str:
    """The root system prompt: ``template`` (or the parts' root prompt and example) with the
    helper list filled in, the retrieval note (built-in prompt only) and any guidance."""
    text = template if template is not None else parts.system_template()
    if "{helpers}" in text or "{max_output_chars}" in text:
        text = text.replace("{helpers}", helpers)
        text = text.replace("{max_output_chars}", str(max_output_chars))
    if with_retriever and template is None:
        text = f"{text}\n\n{parts.retrieval_note}"
    if parts.guidance:
        text = f"{text}\n\n{parts.guidance}"
    return text


def build_first_message(
    query: str,
    metadata: dict[str, Any] | None,
    *,
    note: str | None = None,
    first_step: str = FIRST_STEP,
) -> str:
    """The first user message: the question and the context's shape, never its content;
    ``note`` (a session's earlier turns) comes first, ``first_step`` last."""
    if metadata is None:
        shape = "There is no context text (P is empty); use the document index."
    else:
        shape = "Context: " + json.dumps(metadata)
    earlier = f"{note}\n\n" if note else ""
    return f"{earlier}Question: {query}\n\n{shape}\n\n{first_step}"


SESSION_NOTE = (
    "This is turn {turn} of a conversation. Your REPL variables from earlier turns are still "
    "defined. `history` lists the earlier turns as dicts with 'query' and 'answer'; "
    "`contexts` lists every context text given so far (contexts[0] is P)."
)
"""Opens the first message of a session's later turns; ``{turn}`` is the turn number."""


def session_note(turn: int, earlier: list[tuple[str, str]], *, max_chars: int = 200) -> str:
    """What the model is told of a session's earlier turns: a short line per turn."""

    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= max_chars else text[: max_chars - 3] + "..."

    lines = [SESSION_NOTE.replace("{turn}", str(turn)), "Earlier turns:"]
    lines.extend(
        f"{index}. Q: {cut(query)} -> A: {cut(answer)}"
        for index, (query, answer) in enumerate(earlier, start=1)
    )
    return "\n".join(lines)


def output_message(stdout: str, error: str | None) -> str:
    """The REPL result fed back to the model after a code step."""
    parts = [stdout.rstrip("\n") if stdout.strip() else "(no output)"]
    if error:
        parts.append(f"Error:\n{error}")
    return "REPL output:\n" + "\n".join(parts)


INVALID_REPLY = (
    "Your reply had neither a ```python code block nor a FINAL: line. "
    "Write code to inspect P, or give the answer as FINAL: <answer>."
)
EMPTY_REPLY = "Your reply was empty. Write a ```python code block, or FINAL: <answer>."
NEED_REPL = (
    "Do not answer yet: you have not run any code. Write a ```python block that searches P first."
)
NEED_SUBCALL = (
    "Do not answer yet: use a sub-model (llm_query, ask, ask_chunks or llm_batch) on the "
    "relevant text first."
)
REPEATED_CODE = (
    "That exact code already ran; its output is above. Use it: answer with FINAL: <answer>, "
    "or write different code."
)
REPEATED_FAILING_CODE = (
    "That exact code already ran and raised the error shown above. Write different code."
)
EMPTY_FINAL = (
    "That is not an answer: nothing has been found yet. Write different code that searches P "
    "with other words from the question."
)
CODE_FAILED_FINAL = "Your code raised an error, so the FINAL line was ignored. Fix the code first."


def missing_variable(name: str) -> str:
    return f"FINAL_VAR: the variable {name!r} is not defined in the REPL. Define it, then finish."


def finalize_request(reason: str, parts: PromptParts = DEFAULT_PROMPTS) -> str:
    return parts.finalize.replace("{reason}", reason)


STRUCTURED_REQUEST = (
    "The answer must be JSON matching this schema:\n{schema}\n"
    "Finish with FINAL(value) in code (value a dict or list), FINAL_VAR: <name of a variable "
    "holding it>, or FINAL: <the JSON on one line>."
)
"""Added to the first message when the run has an ``output_type``; ``{schema}`` is filled in."""

REPAIR_REQUEST = (
    "Your answer does not match the required schema: {problems}. Give the corrected answer now, "
    "as FINAL: <JSON on one line>, FINAL_VAR: <variable>, or code that calls FINAL(value)."
)
"""The one repair turn of a structured answer; ``{problems}`` lists what is wrong."""


def structured_request(schema: dict[str, Any]) -> str:
    return STRUCTURED_REQUEST.replace("{schema}", json.dumps(schema, separators=(",", ":")))


def repair_request(problems: str) -> str:
    return REPAIR_REQUEST.replace("{problems}", problems)


SUB_RUN_QUERY = "Do what the text in P asks and answer it."
