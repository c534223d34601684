"""Run inside a fresh venv holding one installed wheel (see scripts/wheel-smoke).

    python -I scripts/_wheel_smoke.py rlm-core|rlm-langchain|rlm-llamaindex

1. Imports every module the distribution ships. A module may fail only for a missing
   package that one of the distribution's extras declares (``rlm_core.rich_trace`` without
   ``rich``); any other missing import is an undeclared dependency and fails the smoke.
2. Runs a scripted-model RLM through the package's entry point on the default REPL
   backend: root code that greps the context and asks a sub-model, then ``FINAL_VAR``.

Only the standard library and the installed distributions are used.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONTEXT = (
    "Chapter 1. The harbour was quiet. " * 30
    + "The vault code is 4711. "
    + "Chapter 2. Gulls circled the pier. " * 30
)
QUESTION = "What is the vault code?"
ROOT_CODE = (
    "```python\n"
    "hits = grep('vault code', window=30)\n"
    "print(hits)\n"
    "answer = llm_query('Reply with the code only. ' + hits[0])\n"
    "```"
)
SUB_REPLY = "4711"
ROOT_FINAL = "FINAL_VAR: answer"
SUB_PREFIX = "You are a sub-LLM"
SANDBOXES = ("isolated", "monty")  # the default never picks the in-process backend


class SmokeFailure(Exception):
    """What the smoke found wrong, in one sentence."""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _optional_requirements(distribution: str) -> set[str]:
    """Normalised names of the packages that only the distribution's extras pull in."""
    names = set()
    for requirement in metadata.requires(distribution) or []:
        _, _, marker = requirement.partition(";")
        if re.search(r"\bextra\s*==", marker):
            names.add(_normalise(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0]))
    return names


def _belongs_to_extra(module: str, optional: set[str]) -> bool:
    top = _normalise(module.split(".")[0])
    return any(name == top or name.startswith(top + "_") for name in optional)


def import_every_module(distribution: str) -> int:
    """Import each ``.py`` file of ``distribution``; returns how many imported."""
    files = metadata.files(distribution) or []
    modules = sorted(
        ".".join(file.with_suffix("").parts).removesuffix(".__init__")
        for file in (Path(str(f)) for f in files)
        if file.suffix == ".py" and file.name != "__main__.py" and ".." not in file.parts
    )
    if not modules:
        raise SmokeFailure(f"{distribution} ships no Python modules")
    optional = _optional_requirements(distribution)
    # The modules behind console scripts must work without any extra.
    entry_modules = {entry.module for entry in metadata.distribution(distribution).entry_points}
    required = entry_modules | {modules[0]}
    imported = 0
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            missing = error.name or "?"
            if module in required or not _belongs_to_extra(missing, optional):
                raise SmokeFailure(
                    f"{module} imports {missing!r}, which {distribution} does not declare "
                    "as a dependency"
                ) from error
            print(f"   {module}: needs an extra ({missing} not installed)")
        else:
            imported += 1
    return imported


def _check_installed_copy(package: str) -> None:
    """The import must come from the venv, never from a checkout's source tree."""
    location = Path(importlib.import_module(package).__file__ or "")
    if Path(sys.prefix) not in location.parents:
        raise SmokeFailure(f"{package} was imported from {location}, not from {sys.prefix}")


def _expect(answer: object, trace: Any, entry_point: str) -> str:
    """Check the run; returns the REPL backend the default chose (recorded in the trace)."""
    if answer != SUB_REPLY:
        raise SmokeFailure(f"{entry_point} answered {answer!r}, expected {SUB_REPLY!r}")
    executed = trace.of_kind("repl_exec")
    if not executed or "vault code is 4711" not in (executed[0].stdout or ""):
        raise SmokeFailure(f"{entry_point}: the root code did not run in the REPL ({executed!r})")
    if len(trace.of_kind("subcall")) != 1:
        raise SmokeFailure(f"{entry_point}: expected one sub-call in the trace")
    backend = trace.metadata.get("repl_backend") or {}
    if backend.get("name") not in SANDBOXES:
        raise SmokeFailure(f"{entry_point}: the default REPL backend was {backend!r}")
    name = str(backend["name"])
    return name if name == "isolated" else f"{name}, because {backend.get('reason')}"


def smoke_core() -> str:
    from rlm_core import RLM
    from rlm_core.adapters import FakeAdapter

    adapter = FakeAdapter([ROOT_CODE, ROOT_FINAL])
    adapter.add_rule(SUB_PREFIX, SUB_REPLY)
    answer, trace = RLM(adapter).run(QUESTION, CONTEXT)  # the default REPL backend
    backend = _expect(answer, trace, "RLM.run")
    return f"RLM.run answered {answer!r} (REPL backend: {backend})"


def smoke_langchain() -> str:
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from rlm_langchain import RLMResult, RLMRunnable

    def scripted() -> FakeMessagesListChatModel:
        # Root step 1, its sub-call, root step 2: the fake model answers in this order.
        replies = [ROOT_CODE, SUB_REPLY, ROOT_FINAL]
        return FakeMessagesListChatModel(responses=[AIMessage(content=text) for text in replies])

    prompt = ChatPromptTemplate.from_template("{question}")
    chain = prompt | RLMRunnable(llm=scripted(), context=CONTEXT, return_trace=True)
    result = chain.invoke({"question": QUESTION})
    if not isinstance(result, RLMResult):
        raise SmokeFailure(f"RLMRunnable returned {type(result).__name__}, not RLMResult")
    backend = _expect(result.answer, result.trace, "RLMRunnable")
    text = RLMRunnable(llm=scripted(), context=CONTEXT).pipe(StrOutputParser()).invoke(QUESTION)
    if text != SUB_REPLY:
        raise SmokeFailure(f"RLMRunnable.pipe(StrOutputParser) answered {text!r}")
    return f"RLMRunnable answered {result.answer!r} in LCEL chains (REPL backend: {backend})"


def smoke_llamaindex() -> str:
    from llama_index.core import Document
    from llama_index.core.base.llms.types import ChatMessage, MessageRole
    from llama_index.core.base.response.schema import Response
    from llama_index.core.llms.mock import MockFunctionCallingLLM

    from rlm_core import Trace
    from rlm_llamaindex import RLMQueryEngine

    root = [ROOT_CODE, ROOT_FINAL]

    def reply(messages: list[ChatMessage], **_: Any) -> ChatMessage:
        is_sub = str(messages[0].content or "").startswith(SUB_PREFIX)
        text = SUB_REPLY if is_sub else root.pop(0)
        return ChatMessage(role=MessageRole.ASSISTANT, content=text)

    llm = MockFunctionCallingLLM(response_generator=reply, is_chat_model=True)
    engine = RLMQueryEngine(llm=llm, documents=[Document(text=CONTEXT)])
    response = engine.query(QUESTION)
    if not isinstance(response, Response) or response.metadata is None:
        raise SmokeFailure(f"RLMQueryEngine.query returned {response!r}")
    trace = response.metadata["trace"]  # plain JSON-ready data in Response.metadata
    backend = _expect(response.response, Trace.from_json(json.dumps(trace)), "RLMQueryEngine")
    return f"RLMQueryEngine answered {response.response!r} (REPL backend: {backend})"


SMOKES: dict[str, tuple[str, Callable[[], str]]] = {
    "rlm-core": ("rlm_core", smoke_core),
    "rlm-langchain": ("rlm_langchain", smoke_langchain),
    "rlm-llamaindex": ("rlm_llamaindex", smoke_llamaindex),
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SMOKES:
        print(f"usage: _wheel_smoke.py {'|'.join(SMOKES)}", file=sys.stderr)
        return 2
    distribution = argv[0]
    package, smoke = SMOKES[distribution]
    try:
        count = import_every_module(distribution)
        _check_installed_copy(package)
        print(f"   {distribution} {metadata.version(distribution)}: imported {count} modules")
        print(f"   {smoke()}")
    except SmokeFailure as failure:
        print(f"wheel-smoke: {distribution}: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
