"""The root model's prompts. Short on purpose: small models follow short prompts."""

from __future__ import annotations

import json
from typing import Any

from rlm_core.engine.toolkit import Toolkit

BASE_SYSTEM_PROMPT = """\
You answer questions about a long text that is too big to read at once. It is stored in a \
Python REPL as the string variable P (ctx is the same text with helper methods). You never see \
it directly: you write Python code, it runs, and you see what it prints.

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
pieces (ask, ask_chunks, llm_batch), and answer only from what the code showed you.

Example:
```python
hits = grep("launch date")
print(len(hits)); print(hits[:3])
```
(output shows the date) then: FINAL: March 3, 2021"""

# Helper groups in the order the prompt lists them, with their headings.
GROUPS = {
    "context": "Inspect the context",
    "subcalls": "Ask sub-models (each call costs tokens; batch independent prompts)",
    "retrieval": "Search the document index",
}


def describe_helpers(*, with_retriever: bool) -> str:
    """The helper list for the system prompt, grouped, one line per helper."""
    lines: list[str] = []
    specs = Toolkit.specs(with_retriever=with_retriever)
    for group, title in GROUPS.items():
        members = [spec for spec in specs if spec.group == group]
        if not members:
            continue
        lines.append(f"{title}:")
        lines.extend(f"- {spec.name}{spec.signature}: {spec.summary}" for spec in members)
    return "\n".join(lines)


RETRIEVAL_NOTE = (
    "A document index is also available: search it with es_search / es_hybrid_search and read "
    "whole documents with es_get(doc_id)."
)


def build_system_prompt(
    template: str | None, *, with_retriever: bool, max_output_chars: int
) -> str:
    """The system prompt: ``template`` (or the built-in one) with the helper list filled in."""
    text = template if template is not None else BASE_SYSTEM_PROMPT
    if "{helpers}" in text or "{max_output_chars}" in text:
        text = text.replace("{helpers}", describe_helpers(with_retriever=with_retriever))
        text = text.replace("{max_output_chars}", str(max_output_chars))
    if with_retriever and template is None:
        text = f"{text}\n\n{RETRIEVAL_NOTE}"
    return text


def build_first_message(query: str, metadata: dict[str, Any] | None) -> str:
    """The first user message: the question and the context's shape, never its content."""
    if metadata is None:
        shape = "There is no context text (P is empty); use the document index."
    else:
        shape = "Context: " + json.dumps(metadata)
    return f"Question: {query}\n\n{shape}\n\nStart by writing code to look at the data."


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
CODE_FAILED_FINAL = "Your code raised an error, so the FINAL line was ignored. Fix the code first."


def missing_variable(name: str) -> str:
    return f"FINAL_VAR: the variable {name!r} is not defined in the REPL. Define it, then finish."


def finalize_request(reason: str) -> str:
    return (
        f"Stop now: {reason}. Give your best final answer from what you have found so far, "
        "as one line: FINAL: <answer>"
    )


SUB_RUN_QUERY = "Do what the text in P asks and answer it."
