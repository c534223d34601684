"""Fixtures: offline ``Settings`` for every test, span and event recorders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core import Settings
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import root_dispatcher
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.core.llms import MockLLM

from .helpers import EventRecorder


@pytest.fixture(autouse=True)
def offline_settings() -> Iterator[None]:
    """Mock LLM and embeddings in ``Settings`` so nothing reaches the network."""
    saved_llm, saved_embed = Settings._llm, Settings._embed_model
    Settings.llm = MockLLM()
    Settings.embed_model = MockEmbedding(embed_dim=8)
    yield
    Settings._llm, Settings._embed_model = saved_llm, saved_embed


@pytest.fixture
def spans() -> Iterator[SimpleSpanHandler]:
    handler = SimpleSpanHandler()
    root_dispatcher.add_span_handler(handler)
    yield handler
    root_dispatcher.span_handlers.remove(handler)


@pytest.fixture
def events() -> Iterator[EventRecorder]:
    handler = EventRecorder(events=[])
    root_dispatcher.add_event_handler(handler)
    yield handler
    root_dispatcher.event_handlers.remove(handler)
