"""What the query engine and the retriever share: validated options and one RLM run.

A fresh ``RLM`` is built for every run (cheap: options were validated once at
construction), so each run has its own listeners and its own retriever records,
and concurrent queries never mix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import BaseNode, Document, MetadataMode, NodeWithScore

from rlm_core import RLM, ConfigError, Context, ContextError, RLMOptions, Session, Trace
from rlm_llamaindex.callbacks import CallbackBridge
from rlm_llamaindex.instrumentation import InstrumentationBridge
from rlm_llamaindex.llm import LlamaIndexLLMAdapter, resolve_llm
from rlm_llamaindex.retriever_adapter import LlamaIndexRetrieverAdapter
from rlm_llamaindex.sources import source_nodes

_RESERVED = {
    "adapter": "llm=...",
    "subcall_adapter": "sub_llm=...",
    "retriever": "retriever=... (a LlamaIndex BaseRetriever)",
}


def coerce_documents(documents: Any, *, name: str = "documents") -> list[BaseNode]:
    """A list of LlamaIndex nodes from nodes, ``Document`` objects or plain strings."""
    if isinstance(documents, str | BaseNode):
        raise ContextError(
            f"{name} must be a list, got one {type(documents).__name__}; wrap it: {name}=[...]"
        )
    if isinstance(documents, NodeWithScore):
        raise ContextError(f"{name} must be a list, got one NodeWithScore; wrap it: {name}=[...]")
    if isinstance(documents, Mapping):
        raise ContextError(
            f"{name} must be a list of Documents, nodes or strings, got a "
            f"{type(documents).__name__} (only its keys would be read); pass the texts, "
            f"e.g. [Document(text=text, metadata={{'file_name': name}}) for name, text in "
            f"{name}.items()]"
        )
    if not isinstance(documents, Iterable):
        raise ContextError(
            f"{name} must be a list of Documents, nodes or strings, got {type(documents).__name__}"
        )
    nodes: list[BaseNode] = []
    for index, item in enumerate(documents):
        if isinstance(item, NodeWithScore):
            item = item.node
        if isinstance(item, str):
            item = Document(text=item)
        if not isinstance(item, BaseNode):
            raise ContextError(
                f"{name}[{index}] is {type(item).__name__}; expected a LlamaIndex Document, "
                "node or str (load files with SimpleDirectoryReader(...).load_data())"
            )
        nodes.append(item)
    if not nodes:
        raise ContextError(
            f"{name} is empty: pass at least one Document (or str) to search, or a retriever=..."
        )
    return nodes


def context_of(nodes: Sequence[BaseNode]) -> Context:
    """The nodes' text as one context, one document per node, in order."""
    return Context.from_documents([n.get_content(metadata_mode=MetadataMode.NONE) for n in nodes])


def check_options(options: dict[str, Any]) -> RLMOptions:
    """The options (keywords, possibly with ``options=RLMOptions(...)``) as one validated
    ``RLMOptions``; ``ConfigError`` for a name ``RLM`` does not know, a bad value, or an
    option the integration sets itself."""
    return RLMOptions.from_arguments(None, options, reserved=_RESERVED)


def as_retriever_adapter(retriever: Any) -> LlamaIndexRetrieverAdapter | None:
    if retriever is None or isinstance(retriever, LlamaIndexRetrieverAdapter):
        return retriever
    if isinstance(retriever, BaseRetriever):
        return LlamaIndexRetrieverAdapter(retriever)
    raise ConfigError(
        f"retriever must be a LlamaIndex BaseRetriever (e.g. index.as_retriever()), "
        f"got {type(retriever).__name__}"
    )


@dataclass
class RunResult:
    """The answer of one run with what a LlamaIndex ``Response`` needs."""

    answer: str
    trace: Trace
    source_nodes: list[NodeWithScore] = field(default_factory=list)
    output: Any = None
    """The validated value of a structured run (``output_type``); ``answer`` is its JSON."""

    @property
    def metadata(self) -> dict[str, Any]:
        """Plain, JSON-ready data; ``Trace.from_json(json.dumps(metadata["trace"]))``
        rebuilds the trace."""
        trace = self.trace
        return {
            "trace": json.loads(trace.to_json(indent=None)),
            "usage": trace.usage.to_dict(),
            "steps": len(trace.steps),
            "root_steps": len(trace.of_kind("root_call")),
            "subcalls": trace.metadata.get("subcalls", 0),
            "run_id": trace.metadata.get("run_id"),
        }


class RLMRunner:
    """Validated adapters and options; runs one query over nodes and/or a retriever."""

    def __init__(
        self,
        llm: Any = None,
        sub_llm: Any = None,
        *,
        documents: Any = None,
        retriever: Any = None,
        require_source: bool = True,
        forward_limits: bool = True,
        stream_calls: bool = True,
        **rlm_options: Any,
    ) -> None:
        def adapter_of(model: Any, name: str) -> LlamaIndexLLMAdapter:
            if isinstance(model, LlamaIndexLLMAdapter):
                return model
            return LlamaIndexLLMAdapter(
                resolve_llm(model, name=name),
                forward_limits=forward_limits,
                stream_calls=stream_calls,
            )

        self.adapter = adapter_of(llm, "llm")
        self.sub_adapter = self.adapter if sub_llm is None else adapter_of(sub_llm, "sub_llm")
        self.retriever = as_retriever_adapter(retriever)
        self.nodes = coerce_documents(documents) if documents is not None else []
        if require_source and not self.nodes and self.retriever is None:
            raise ContextError(
                "nothing to search: pass documents=[...] or retriever=..., or build the engine "
                "with RLMQueryEngine.from_documents(docs) / RLMQueryEngine.from_index(index)"
            )
        self.context = context_of(self.nodes) if self.nodes else None
        if self.context is not None and self.context.len_chars() == 0 and self.retriever is None:
            raise ContextError("every document is empty: pass documents with some text")
        options = check_options(rlm_options)
        self.listeners = self._user_listeners(options.event_listener)
        self.options = options
        self._build([], self.retriever)  # validate every option now, not mid-query

    @staticmethod
    def _user_listeners(value: Any) -> list[Any]:
        if value is None:
            return []
        if callable(value) or hasattr(value, "on_event"):
            return [value]
        if isinstance(value, Iterable):
            return list(value)
        raise ConfigError("event_listener must be callable, have on_event(event), or be a list")

    def _build(self, listeners: list[Any], retriever: LlamaIndexRetrieverAdapter | None) -> RLM:
        return RLM(
            self.adapter,
            options=self.options,
            subcall_adapter=self.sub_adapter,
            retriever=retriever,
            event_listener=[*listeners, *self.listeners],
        )

    def bridges(
        self,
        *,
        instance: Any,
        callback_manager: CallbackManager | None,
        parent_event: str | None,
        listeners: Sequence[Any] = (),
    ) -> list[Any]:
        """The listeners of one run that report to instrumentation (and the callback
        manager), followed by ``listeners``; the user's own listeners are not included.
        The wrapped LLMs get ``callback_manager`` (see ``share_callback_manager``)."""
        self.share_callback_manager(callback_manager)
        found = [InstrumentationBridge(instance), *listeners]
        if callback_manager is not None and callback_manager.handlers:
            found.append(CallbackBridge(callback_manager, parent_event))
        return found

    def share_callback_manager(self, callback_manager: CallbackManager | None) -> None:
        """Hand ``callback_manager`` to the root and sub LLMs, as LlamaIndex's response
        synthesizer does with its LLM, so their ``LLM`` events (token counts) reach the
        handlers of the component that runs them, whatever manager the LLMs were built
        with. A manager without handlers leaves the LLMs' own managers in place."""
        if callback_manager is None or not callback_manager.handlers:
            return
        for adapter in (self.adapter, self.sub_adapter):
            if adapter.llm.callback_manager is not callback_manager:
                adapter.llm.callback_manager = callback_manager

    def prepare(
        self,
        *,
        instance: Any,
        callback_manager: CallbackManager | None,
        parent_event: str | None,
        listeners: Sequence[Any] = (),
    ) -> tuple[RLM, LlamaIndexRetrieverAdapter | None]:
        """An RLM for one run, reporting to instrumentation (and the callback manager)
        and to ``listeners``."""
        bridges = self.bridges(
            instance=instance,
            callback_manager=callback_manager,
            parent_event=parent_event,
            listeners=listeners,
        )
        retriever = self.retriever.fresh() if self.retriever is not None else None
        return self._build(bridges, retriever), retriever

    def open_session(self) -> tuple[Session, LlamaIndexRetrieverAdapter | None]:
        """A core session (for a conversation) with its own retriever records. Its
        ``listeners`` are set per turn: ``[*bridges(...), *self.listeners]``."""
        retriever = self.retriever.fresh() if self.retriever is not None else None
        return self._build([], retriever).session(), retriever

    def result(
        self,
        answer: str,
        trace: Trace,
        retriever: LlamaIndexRetrieverAdapter | None,
        nodes: Sequence[BaseNode] | None = None,
        context: Context | None = None,
        output: Any = None,
    ) -> RunResult:
        found = source_nodes(
            nodes if nodes is not None else self.nodes,
            context if context is not None else self.context,
            trace,
        )
        if retriever is not None:
            seen = {hit.node.node_id for hit in found}
            found += [hit for hit in retriever.consulted() if hit.node.node_id not in seen]
        return RunResult(answer, trace, found, output)
