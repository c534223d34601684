"""Building one ``rlm_core.RLM`` per LangChain run, with its calls bound to that run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, ValidationError, WithJsonSchema

from rlm_core import RLM, ConfigError, Event, RLMOptions, Trace
from rlm_langchain.adapter import ChatModelAdapter
from rlm_langchain.conversation import Preamble
from rlm_langchain.progress import adispatch_event, dispatch_event
from rlm_langchain.retriever_adapter import LangChainRetrieverAdapter, doc_id_of

RESERVED_OPTIONS = {
    "adapter": "llm=...",
    "subcall_adapter": "sub_llm=...",
    "retriever": "retriever=...",
}


def check_rlm_options(options: Mapping[str, Any] | RLMOptions | None) -> dict[str, Any]:
    """The explicit ``RLM`` options in ``options`` (a mapping, which may hold
    ``options=RLMOptions(...)``, or an ``RLMOptions``); ``ConfigError`` naming the fix
    for an unknown name, a bad value or a name this integration sets itself."""
    if isinstance(options, RLMOptions):
        return RLMOptions.from_arguments(options, reserved=RESERVED_OPTIONS).explicit()
    return RLMOptions.from_arguments(None, options, reserved=RESERVED_OPTIONS).explicit()


@contextmanager
def config_errors_unwrapped() -> Iterator[None]:
    """Re-raise a ``ConfigError`` that pydantic wrapped in a ``ValidationError`` as itself,
    so a bad RLM option fails with the same error here as in ``rlm_core.RLM``."""
    try:
        yield
    except ValidationError as error:
        for detail in error.errors():
            cause = (detail.get("ctx") or {}).get("error")
            if isinstance(cause, ConfigError):
                raise cause from None
        raise


def resolve_retriever(value: Any) -> LangChainRetrieverAdapter | Any:
    """A LangChain retriever wrapped for the core, or a core retriever as is."""
    if value is None or isinstance(value, LangChainRetrieverAdapter):
        return value
    if isinstance(value, BaseRetriever):
        return LangChainRetrieverAdapter(value)
    if callable(getattr(value, "search", None)) and callable(getattr(value, "get", None)):
        return value
    raise TypeError(
        f"retriever must be a LangChain BaseRetriever or an rlm-core retriever "
        f"(with search/get), got {type(value).__name__}"
    )


class RLMResult(BaseModel):
    """What an RLM run produced: the answer, its trace, token usage and the documents used."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    answer: str
    trace: Annotated[Trace, WithJsonSchema({"type": "object", "title": "Trace"})]
    usage: dict[str, int]
    documents: list[Document]

    def __str__(self) -> str:
        return self.answer


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """The models, retriever and options of an RLM; ``bind`` makes one run's engine."""

    llm: BaseChatModel
    sub_llm: BaseChatModel | None
    retriever: Any
    options: Mapping[str, Any]

    def bind(
        self,
        config: RunnableConfig | None,
        listener: Callable[[Event], None] | None = None,
        *,
        preamble: Preamble | None = None,
    ) -> BoundEngine:
        """An ``RLM`` whose model and retriever calls all run under ``config``.

        Model calls are tagged ``nostream`` so LangGraph's ``stream_mode="messages"``
        does not show the root's code or sub-call text as the graph's messages;
        ``preamble`` (system text, earlier turns) goes to the root model only.
        """
        options = RLMOptions(**self.options)
        listeners = options.event_listener
        if listener is not None:
            listeners = [*_as_list(listeners), listener]
        retriever = resolve_retriever(self.retriever)
        if isinstance(retriever, LangChainRetrieverAdapter):
            retriever = retriever.with_config(config)
        model_config = inner_model_config(config)
        root = ChatModelAdapter(self.llm, config=model_config, preamble=preamble)
        sub_llm = self.llm if self.sub_llm is None and preamble else self.sub_llm
        rlm = RLM(
            root,
            subcall_adapter=(
                None if sub_llm is None else ChatModelAdapter(sub_llm, config=model_config)
            ),
            options=options,
            retriever=retriever,
            event_listener=listeners,
        )
        return BoundEngine(rlm, retriever, config)

    def validate(self) -> None:
        """Build an engine once so bad options fail now, not on the first run."""
        self.bind(None)


NOSTREAM_TAG = "nostream"
"""LangGraph's tag for model runs whose tokens are not the graph's messages."""


def inner_model_config(config: RunnableConfig | None) -> RunnableConfig:
    """``config`` for the RLM's own model calls: the same callbacks, tagged ``nostream``."""
    inner: RunnableConfig = dict(config) if config is not None else {}  # type: ignore[assignment]
    tags = list(inner.get("tags") or [])
    if NOSTREAM_TAG not in tags:
        tags.append(NOSTREAM_TAG)
    inner["tags"] = tags
    return inner


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if callable(value) or hasattr(value, "on_event"):
        return [value]
    return list(value)


@dataclass(frozen=True, slots=True)
class BoundEngine:
    """One run's ``RLM``, the retriever it searches and the config its calls run under."""

    rlm: RLM
    retriever: Any
    config: RunnableConfig | None

    def consulted(self, given: list[Document]) -> list[Document]:
        """The documents given as context plus those the retriever returned, de-duplicated."""
        found = (
            self.retriever.documents
            if isinstance(self.retriever, LangChainRetrieverAdapter)
            else []
        )
        seen: set[str] = set()
        documents: list[Document] = []
        for document in [*given, *found]:
            key = doc_id_of(document)
            if key not in seen:
                seen.add(key)
                documents.append(document)
        return documents

    def result(self, answer: str, trace: Trace, given: list[Document]) -> RLMResult:
        return RLMResult(
            answer=answer,
            trace=trace,
            usage=trace.usage.to_dict(),
            documents=self.consulted(given),
        )

    def events(self, query: str, context: str | list[str] | None) -> Iterator[Event]:
        """``RLM.stream`` with each event also sent to the run's callbacks."""
        for event in self.rlm.stream(query, context):
            if self.config is not None:
                dispatch_event(event, self.config)
            yield event

    async def aevents(self, query: str, context: str | list[str] | None) -> AsyncIterator[Event]:
        """``RLM.astream`` (the async engine) with each event sent to the run's callbacks;
        a wrapped LangChain retriever is called through its async API on this loop."""
        if isinstance(self.retriever, LangChainRetrieverAdapter):
            self.retriever.loop = asyncio.get_running_loop()
        async for event in self.rlm.astream(query, context):
            if self.config is not None:
                await adispatch_event(event, self.config)
            yield event


def run_end_of(event: Event) -> tuple[str, Trace] | None:
    """``(answer, trace)`` when ``event`` is the run's ``run_end``, else ``None``."""
    if event.type != "run_end" or event.depth != 0:
        return None
    trace = event.data.get("trace")
    if not isinstance(trace, Trace):
        trace = Trace()
    return str(event.data.get("answer", "")), trace
