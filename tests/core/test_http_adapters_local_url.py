"""``is_local_url``: which base URLs name a server on this machine."""

from __future__ import annotations

import pytest

from rlm_core.adapters import is_local_url


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/v1",
        "http://api.localhost/v1",
        "http://127.0.0.1:8080/v1",
        "http://127.5.0.1/v1",
        "http://0.0.0.0:11434",
        "http://[::1]:8000/v1",
        "http://[::]:8000/v1",
        "http://[::ffff:127.0.0.1]:8000/v1",
    ],
)
def test_servers_on_this_machine(url: str) -> None:
    assert is_local_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1",
        "http://192.168.1.20:8080/v1",
        "http://10.0.0.5/v1",
        "http://localhost.example.com/v1",
        "not a url",
        "",
    ],
)
def test_servers_elsewhere(url: str) -> None:
    assert not is_local_url(url)
