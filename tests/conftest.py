"""Fixtures every test folder uses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.core.openai_server import OpenAIServer


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A started, scripted OpenAI-compatible server on 127.0.0.1 (see core/openai_server.py)."""
    with OpenAIServer() as server:
        yield server
