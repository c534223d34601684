"""Short, stable fingerprints of what changes an RLM's answer, for LLM-cache keys.

LangChain's LLM cache keys a chat model's replies by its ``_identifying_params``;
an RLM's answer also depends on the context it searches, its retriever, its
options and both models. These hashes stand for them without putting a whole
context into every trace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

from rlm_langchain.inputs import coerce_context

_DIGEST_CHARS = 16
_NOT_ANSWER_CHANGING = frozenset({"event_listener"})


def digest(text: str) -> str:
    """A short sha256 hex digest of ``text``."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]


def _stable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def context_fingerprint(context: Any) -> str | None:
    """The hash of a context's texts (and of the documents' metadata); ``None`` for no context."""
    if context is None:
        return None
    texts, documents = coerce_context(context)
    if isinstance(texts, str):
        return digest(_stable(["str", texts]))
    metadata = [document.metadata for document in documents]
    return digest(_stable(["list", texts, metadata]))


def retriever_fingerprint(retriever: Any) -> str | None:
    """The retriever's class and a hash of its state (its fields, or its repr)."""
    if retriever is None:
        return None
    inner = getattr(retriever, "retriever", retriever)  # a LangChainRetrieverAdapter's retriever
    kind = f"{type(inner).__module__}.{type(inner).__qualname__}"
    return f"{kind}:{digest(repr(inner))}"


def model_fingerprint(llm: BaseChatModel | None) -> str | None:
    """A chat model's class and a hash of its identifying parameters (its repr if it has none)."""
    if llm is None:
        return None
    kind = f"{type(llm).__module__}.{type(llm).__qualname__}"
    params = dict(llm._identifying_params)
    return f"{kind}:{digest(_stable(params) if params else repr(llm))}"


def options_fingerprint(options: Mapping[str, Any]) -> str:
    """A hash of the RLM options that change an answer (listeners do not)."""
    kept = {key: value for key, value in options.items() if key not in _NOT_ANSWER_CHANGING}
    return digest(_stable(kept))
