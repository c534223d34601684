"""Reading what an ``RLMRunnable`` is given: the query and the context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import ChatPromptValue, PromptValue

from rlm_langchain.conversation import Preamble, split_conversation

ContextInput = str | list[str] | list[Document]
NOTHING_FOUND = (
    "Nothing was found to answer this question: the search returned no documents and "
    "the context is empty."
)
"""The answer when there is no text to search (e.g. a retriever that found nothing)."""
INPUT_HELP = (
    'pass a query str (with context=... given to RLMRunnable), or a dict {"query": str, '
    '"context": str | list[str] | list[Document]}'
)


@dataclass(slots=True)
class RLMRequest:
    """A normalised request: the query, the context for the REPL and its source documents."""

    query: str
    context: str | list[str] | None
    documents: list[Document] = field(default_factory=list)
    preamble: Preamble = field(default_factory=Preamble)


def coerce_context(value: Any, *, where: str = "context") -> tuple[str | list[str], list[Document]]:
    """A context as the core takes it (str or list of str), plus the Documents it came from."""
    if isinstance(value, str):
        return value, []
    if isinstance(value, Document):
        return [value.page_content], [value]
    if isinstance(value, list | tuple):
        texts: list[str] = []
        documents: list[Document] = []
        for index, item in enumerate(value):
            if isinstance(item, Document):
                texts.append(item.page_content)
                documents.append(item)
            elif isinstance(item, str):
                texts.append(item)
            else:
                raise TypeError(
                    f"{where}[{index}] is {type(item).__name__}; a context list must hold "
                    "str or langchain_core.documents.Document items"
                )
        return texts, documents
    raise TypeError(
        f"{where} must be a str, a list of str or a list of Document, got "
        f"{type(value).__name__}; convert it to text first"
    )


def is_empty(context: str | list[str] | None) -> bool:
    """True when a context has no text at all (an empty str, or only empty items)."""
    if context is None:
        return False
    if isinstance(context, str):
        return not context.strip()
    return not any(item.strip() for item in context)


def query_text(value: Any) -> tuple[str, Preamble]:
    """The query text of a str, a PromptValue, a message or a message list, and its preamble.

    From a chat prompt (or message list) the query is the last human message; system
    text and earlier turns become the preamble instead of a ``Human:`` transcript.
    """
    preamble = Preamble()
    if isinstance(value, str):
        text = str(value)  # a plain str: message.text is a str subclass the REPL cannot load
    elif isinstance(value, ChatPromptValue):
        text, preamble = split_conversation(value.to_messages(), who="RLMRunnable")
    elif isinstance(value, PromptValue):
        text = value.to_string()
    elif isinstance(value, BaseMessage):
        text = str(value.text)
    elif isinstance(value, list) and all(isinstance(m, BaseMessage) for m in value):
        text, preamble = split_conversation(value, who="RLMRunnable")
    else:
        raise TypeError(f"the query must be a str, got {type(value).__name__}; {INPUT_HELP}")
    if not text.strip():
        raise ValueError(f"the query is empty; {INPUT_HELP}")
    return text, preamble


def parse_input(value: Any, default_context: Any) -> RLMRequest:
    """Turn a Runnable input into an ``RLMRequest`` (see ``INPUT_HELP``)."""
    context = default_context
    if isinstance(value, Mapping):
        if "query" not in value:
            raise ValueError(
                f"the input dict has no 'query' key (keys: {sorted(map(str, value))}); {INPUT_HELP}"
            )
        query, preamble = query_text(value["query"])
        if value.get("context") is not None:
            context = value["context"]
    elif isinstance(value, str | PromptValue | BaseMessage | list):
        query, preamble = query_text(value)
    else:
        raise TypeError(f"RLMRunnable cannot take a {type(value).__name__} input; {INPUT_HELP}")
    if context is None:
        return RLMRequest(query, None, preamble=preamble)
    text, documents = coerce_context(context)
    return RLMRequest(query, text, documents, preamble)
