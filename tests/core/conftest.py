"""Shared fixtures for rlm-core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

try:  # tests/core is a package when it has an __init__.py, a rootdir-relative dir otherwise
    from .openai_server import OpenAIServer
except ImportError:
    from openai_server import OpenAIServer


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A started, scripted OpenAI-compatible server on 127.0.0.1 (see openai_server.py)."""
    with OpenAIServer() as server:
        yield server
