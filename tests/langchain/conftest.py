"""Shared pieces of the rlm-langchain tests: a loopback-only socket guard, scripted
LangChain fake chat models, a keyword retriever and a callback recorder."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, MessagesState, StateGraph

HERE = Path(__file__).parent
LOOPBACK = ["127.0.0.1", "::1", "localhost"]
SUB_PREFIX = "You are a sub-LLM"
CONTEXT = (
    "Chapter 1. The harbour was quiet. " * 30
    + "The vault code is 4711. "
    + "Chapter 2. Gulls circled the pier. " * 30
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here may open sockets to loopback only (pytest-socket's allow_hosts)."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.allow_hosts(LOOPBACK))


def fenced(code: str) -> str:
    return f"```python\n{code}\n```"


def scripted(*replies: str) -> FakeMessagesListChatModel:
    """A LangChain fake chat model that replies with ``replies`` in order (then cycles)."""
    return FakeMessagesListChatModel(responses=[AIMessage(content=reply) for reply in replies])


class AsyncOnlyChatModel(FakeMessagesListChatModel):
    """A scripted fake chat model whose sync path fails: proves a run stayed async."""

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise AssertionError("the sync model path was used")

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        return super()._generate(*args, **kwargs)


def async_scripted(*replies: str) -> AsyncOnlyChatModel:
    return AsyncOnlyChatModel(responses=[AIMessage(content=reply) for reply in replies])


class KeywordRetriever(BaseRetriever):
    """A real BaseRetriever: documents sharing the most words with the query, best first."""

    documents: list[Document]
    k: int = 3

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().split())
        scored = [
            (len(words & set(doc.page_content.lower().split())), i, doc)
            for i, doc in enumerate(self.documents)
        ]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
        return [doc for _, _, doc in ranked[: self.k]]


DOCS = [
    Document(
        id="moon", page_content="The moon landing happened in 1969.", metadata={"topic": "space"}
    ),
    Document(
        page_content="Mars has two moons, Phobos and Deimos.",
        metadata={"doc_id": "mars", "topic": "space"},
    ),
    Document(page_content="Bread needs flour, water, salt and yeast.", metadata={"topic": "food"}),
    Document(page_content="The harbour of the town is quiet at night.", metadata={"topic": "town"}),
]


@dataclass
class RunRecord:
    kind: str
    name: str
    run_id: UUID
    parent_run_id: UUID | None


@dataclass(eq=False)  # hashable by identity, as LangChain merges handler sets
class Recorder(BaseCallbackHandler):
    """Records starts of chain / chat model / retriever runs and custom events."""

    runs: list[RunRecord] = field(default_factory=list)
    custom: list[tuple[str, Any, UUID]] = field(default_factory=list)
    prompts: dict[UUID, list[BaseMessage]] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _add(self, kind: str, serialized: Any, kwargs: dict[str, Any]) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or kind
        with self.lock:
            self.runs.append(RunRecord(kind, name, kwargs["run_id"], kwargs.get("parent_run_id")))

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self._add("chain", serialized, kwargs)

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self._add("chat", serialized, kwargs)
        with self.lock:
            self.prompts[kwargs["run_id"]] = list(messages[0])

    def on_retriever_start(self, serialized: Any, query: str, **kwargs: Any) -> None:
        self._add("retriever", serialized, kwargs)

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self.lock:
            self.custom.append((name, data, run_id))

    def on_chain_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)

    def of(self, kind: str) -> list[RunRecord]:
        return [run for run in self.runs if run.kind == kind]

    def named(self, name: str) -> list[RunRecord]:
        return [run for run in self.runs if run.name == name]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def graph_of(node: Any) -> Any:
    """A compiled one-node LangGraph graph over ``MessagesState``."""
    builder = StateGraph(MessagesState)
    builder.add_node("answer", node)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    return builder.compile()


def streamed_texts(parts: list[tuple[BaseMessage, dict[str, Any]]]) -> list[str]:
    """The non-empty message texts of a ``stream_mode="messages"`` stream."""
    return [message.text for message, _ in parts if message.text]


async def events_of_invoke(chat: Any, read: Any) -> list[Any]:
    """``astream_events`` (v2) of a runnable ``node`` that awaits ``chat.ainvoke("When?")``
    and returns ``read(reply)``: LangChain's hidden streaming path of ``invoke``."""

    async def node(question: str) -> Any:
        return read(await chat.ainvoke(question))

    return [e async for e in RunnableLambda(node).astream_events("When?", version="v2")]


def chat_rlm_chunks(events: list[Any]) -> list[Any]:
    """The message chunks of the ``on_chat_model_stream`` events of the ChatRLM run."""
    return [
        e["data"]["chunk"]
        for e in events
        if e["event"] == "on_chat_model_stream" and e["name"] == "ChatRLM"
    ]
