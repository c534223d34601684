"""Validation of GenericChatAdapter options, and URL helpers (secrets kept out of text, servers
on this machine told apart)."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rlm_core.errors import ConfigError

REDACTED = "***"
_SECRET_QUERY_WORDS = ("key", "token", "secret", "sig", "password", "auth")


LOCAL_SERVER_TIMEOUT_S = 600.0
"""Seconds a model call to a server on this machine may take when its client kept its
default timeout: a CPU server can need minutes to read a long prompt."""


def is_local_url(url: str) -> bool:
    """Whether ``url`` names a server on this machine (``localhost``, ``0.0.0.0``, ``::`` or
    a loopback address, IPv4-mapped ones included). Such a server (llama.cpp, for one) often
    works through one request at a time, so a client that retries a slow call queues the
    retry behind the abandoned one."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


REMOTE_SERVER_TIMEOUT_S = 60.0
"""Seconds a model call to another machine may take unless told otherwise."""


def server_defaults(
    base_url: str, timeout: float | None, retry_timeouts: bool | None
) -> tuple[float, bool, dict[str, Any]]:
    """``timeout`` and ``retry_timeouts`` with those left unset (``None``) chosen for where
    the server runs, and what was chosen because it runs on this machine (with ``why``)."""
    local = is_local_url(base_url)
    chosen: dict[str, Any] = {}
    if timeout is None:
        timeout = chosen["timeout"] = LOCAL_SERVER_TIMEOUT_S if local else REMOTE_SERVER_TIMEOUT_S
    if retry_timeouts is None:
        retry_timeouts = chosen["retry_timeouts"] = not local
    if local and chosen:
        chosen["why"] = (
            "the server is on this machine: it may need minutes for a long prompt, and a "
            "retried call would queue behind the abandoned one"
        )
    return timeout, retry_timeouts, chosen if local else {}


def join_url(base_url: str, path: str) -> str:
    if not path:
        return base_url
    return f"{base_url}/{path.lstrip('/')}"


def redact_url(url: str) -> str:
    """``url`` without user info, and with secret-looking query values masked."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = [
        (name, REDACTED if any(word in name.lower() for word in _SECRET_QUERY_WORDS) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, host, parts.path, urlencode(query, safe="*"), ""))


def check_url(base_url: object) -> None:
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigError(
            "base_url is empty; pass the server address, e.g. 'https://api.openai.com/v1'"
        )
    if urlsplit(base_url.strip()).scheme not in ("http", "https"):
        raise ConfigError(
            f"base_url must start with http:// or https://, got {redact_url(base_url)!r}"
        )


def check_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")


def check_number(name: str, value: object, *, positive: bool = False) -> None:
    valid = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not valid:
        wanted = "a positive number" if positive else "a number >= 0"
        raise ConfigError(f"{name} must be {wanted} of seconds, got {value!r}")


def check_retries(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"max_retries must be an integer >= 0, got {value!r}")


def check_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise ConfigError(f"{name} must be callable, got {type(value).__name__}")


def check_headers(headers: object) -> None:
    if headers is None:
        return
    if not isinstance(headers, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in headers.items()
    ):
        raise ConfigError("headers must be a mapping of str to str")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        wanted = " or ".join(repr(choice) for choice in choices)
        raise ConfigError(f"{name} must be {wanted} (or None to choose by model), got {value!r}")


def check_optional_flag(name: str, value: object, none_means: str = "choose by model") -> None:
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{name} must be True, False or None ({none_means}), got {value!r}")
