"""A configurable chat adapter over HTTP + JSON, with retries and connection reuse.

``GenericChatAdapter`` speaks the OpenAI chat-completions format by default;
``payload_builder`` and ``response_parser`` adapt it to any other JSON API
(see ``_hooks`` for how they are called and what they may return).
Sync and async calls share one decision path: every attempt ends in either a
parsed ``ModelResponse``, a number of seconds to wait before retrying, or an
``AdapterError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Self, TypedDict
from urllib.parse import urlsplit

import httpx

from rlm_core.adapters import _http_checks
from rlm_core.adapters._clients import ClientPool
from rlm_core.adapters._hooks import (
    as_model_response,
    bind_payload_builder,
    check_response_parser,
)
from rlm_core.adapters._openai_format import (
    build_openai_payload,
    error_message,
    parse_openai_response,
)
from rlm_core.adapters._retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from rlm_core.adapters.base import Message, ModelResponse
from rlm_core.errors import AdapterError, ConfigError

__all__ = [
    "RETRY_STATUSES",
    "ChatOptions",
    "GenericChatAdapter",
    "PayloadBuilder",
    "ResponseParser",
    "RetryPolicy",
    "build_openai_payload",
    "parse_openai_response",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)

PayloadBuilder = Callable[..., dict[str, Any]]
"""Called by keyword with any of ``messages``, ``model``, ``max_tokens``, ``temperature``
(the names its parameters have); returns the JSON request body."""

ResponseParser = Callable[[Any], ModelResponse | str | tuple[str, Any]]
"""``(decoded JSON reply) -> ModelResponse``, the reply text, or ``(text, usage)``."""

_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_SECRET_HEADER_WORDS = ("authorization", "api-key", "apikey", "token", "secret", "cookie")
_EXCERPT_CHARS = 200


class ChatOptions(TypedDict, total=False):
    """Options shared by every HTTP chat adapter (see ``GenericChatAdapter``)."""

    headers: Mapping[str, str] | None
    payload_builder: PayloadBuilder | None
    response_parser: ResponseParser | None
    timeout: float | None
    max_retries: int
    retry_timeouts: bool | None
    backoff_base: float
    backoff_max: float
    extra_body: Mapping[str, Any] | None


# --------------------------------------------------------------------------- the adapter


class GenericChatAdapter:
    """Chat adapter for any JSON-over-HTTP API, OpenAI format by default.

    One ``httpx.Client`` (created on first use) serves every ``complete`` call,
    and one ``httpx.AsyncClient`` per event loop serves ``acomplete``, so
    connections are reused. Status 429/500/502/503/504, timeouts and dropped
    connections are retried with exponential backoff, honouring ``Retry-After``.

    A server on this machine (``localhost``, a loopback address; llama.cpp, say) gets
    other defaults, recorded in ``defaults_chosen`` and in each run's trace: ``timeout``
    600 s instead of 60 s (a CPU server can need minutes to read a long prompt), and a
    call that timed out is not sent again (the server would still be working on the
    abandoned one, and the retry would queue behind it). Pass ``timeout`` or
    ``retry_timeouts`` to choose yourself.
    Close with ``close()``/``aclose()`` or use ``with``/``async with``.
    """

    auth_hint: ClassVar[str] = "check the API key"

    def __init__(
        self,
        base_url: str,
        path: str = "/chat/completions",
        *,
        model: str,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        payload_builder: PayloadBuilder | None = None,
        response_parser: ResponseParser | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        extra_body: Mapping[str, Any] | None = None,
        retry_timeouts: bool | None = None,
    ) -> None:
        _http_checks.check_url(base_url)
        _http_checks.check_optional_flag("retry_timeouts", retry_timeouts, "choose by server")
        timeout, retry_timeouts, self.defaults_chosen = _http_checks.server_defaults(
            base_url, timeout, retry_timeouts
        )
        """Options left unset and chosen because the server is on this machine (``why``)."""
        if not isinstance(path, str):
            raise ConfigError(f"path must be a string such as '/chat/completions', got {path!r}")
        _http_checks.check_text("model", model)
        _http_checks.check_number("timeout", timeout, positive=True)
        _http_checks.check_retries(max_retries)
        _http_checks.check_number("backoff_base", backoff_base)
        _http_checks.check_number("backoff_max", backoff_max)
        _http_checks.check_callable("payload_builder", payload_builder)
        _http_checks.check_callable("response_parser", response_parser)
        if response_parser is not None:
            check_response_parser(response_parser)
        _http_checks.check_headers(headers)
        self.base_url = base_url.strip().rstrip("/")
        self.path = path
        self.model = model
        self.timeout = float(timeout)
        self.retry_policy = RetryPolicy(
            max_retries,
            float(backoff_base),
            float(backoff_max),
            retry_timeouts=retry_timeouts,
        )
        self.payload_builder: PayloadBuilder = payload_builder or build_openai_payload
        self.response_parser: ResponseParser = response_parser or parse_openai_response
        self._build_payload = bind_payload_builder(self.payload_builder)
        self.extra_body: dict[str, Any] = dict(extra_body or {})
        self._api_key = api_key or None
        self._url = _http_checks.join_url(self.base_url, path)
        self._headers = self._build_headers(headers or {})
        self._secrets = self._collect_secrets()
        self._clients = ClientPool(self._headers, self.timeout)

    @property
    def url(self) -> str:
        """The request URL, with credentials and secret query values masked."""
        return _http_checks.redact_url(self._url)

    @property
    def max_retries(self) -> int:
        return self.retry_policy.max_retries

    def __repr__(self) -> str:
        key = f"'{_http_checks.REDACTED}'" if self._api_key else "None"
        return f"{type(self).__name__}(url={self.url!r}, model={self.model!r}, api_key={key})"

    # ------------------------------------------------------------------ calls

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        body = self._encode(messages, max_tokens, temperature)
        client = self._clients.sync_client()
        attempt = 0
        while True:
            outcome: ModelResponse | float
            try:
                response = client.post(self._url, content=body)
            except httpx.TransportError as exc:
                outcome = self._after_transport_error(exc, attempt)
            else:
                outcome = self._after_response(response, attempt, messages)
            if isinstance(outcome, ModelResponse):
                return outcome
            time.sleep(outcome)
            attempt += 1

    async def acomplete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        body = self._encode(messages, max_tokens, temperature)
        client = self._clients.async_client()
        attempt = 0
        while True:
            outcome: ModelResponse | float
            try:
                response = await client.post(self._url, content=body)
            except httpx.TransportError as exc:
                outcome = self._after_transport_error(exc, attempt)
            else:
                outcome = self._after_response(response, attempt, messages)
            if isinstance(outcome, ModelResponse):
                return outcome
            await asyncio.sleep(outcome)
            attempt += 1

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the sync client. Async clients are closed by ``aclose()``."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the async client of the running event loop, and the sync client."""
        await self._clients.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ one attempt

    def _after_response(
        self, response: httpx.Response, attempt: int, messages: list[Message]
    ) -> ModelResponse | float:
        """Parse a 2xx reply, return the wait before a retry, or raise ``AdapterError``."""
        status = response.status_code
        if 200 <= status < 300:
            return self._parse(response, messages)
        policy = self.retry_policy
        if policy.retries_status(status) and policy.allows_retry(attempt):
            delay = policy.delay(attempt, response.headers.get("retry-after"))
            self._log_retry(f"HTTP {status}", attempt, delay)
            return delay
        raise self._status_error(response, attempts=attempt + 1)

    def _after_transport_error(self, exc: httpx.TransportError, attempt: int) -> float:
        """Return the wait before a retry, or raise ``AdapterError``."""
        if self._retries(exc) and self.retry_policy.allows_retry(attempt):
            delay = self.retry_policy.delay(attempt)
            self._log_retry(type(exc).__name__, attempt, delay)
            return delay
        raise self._transport_error(exc, attempts=attempt + 1) from exc

    def _retries(self, exc: httpx.TransportError) -> bool:
        """Whether a request that failed with ``exc`` may be sent again."""
        if not isinstance(exc, _RETRYABLE_ERRORS):
            return False
        sent = isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout)
        return self.retry_policy.retry_timeouts or not sent

    def _log_retry(self, reason: str, attempt: int, delay: float) -> None:
        logger.info(
            "POST %s failed (%s); retry %d/%d in %.2fs",
            self.url,
            reason,
            attempt + 1,
            self.retry_policy.max_retries,
            delay,
        )

    def _encode(self, messages: list[Message], max_tokens: int, temperature: float) -> bytes:
        payload = self._build_payload(messages, self.model, max_tokens, temperature)
        if not isinstance(payload, dict):
            raise ConfigError(
                f"payload_builder returned {type(payload).__name__}; it must return a dict "
                "(the JSON request body)"
            )
        if self.extra_body:
            payload = {**payload, **self.extra_body}
        try:
            return json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"the request body is not JSON-serializable ({exc}); check payload_builder "
                "and extra_body"
            ) from exc

    def _parse(self, response: httpx.Response, messages: list[Message]) -> ModelResponse:
        status = response.status_code
        try:
            data = response.json()
        except ValueError as exc:
            raise AdapterError(
                f"POST {self.url} returned HTTP {status} with a body that is not valid JSON; "
                f"expected a JSON object. Body: {self._excerpt(response.text)!r}",
                status_code=status,
            ) from exc
        try:
            result = self.response_parser(data)
        except (AdapterError, KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            detail = str(exc) if isinstance(exc, AdapterError) else f"{type(exc).__name__}: {exc}"
            raise AdapterError(
                f"unexpected reply from POST {self.url}: {self._redact(detail)}",
                status_code=status,
            ) from exc
        return as_model_response(result, model=self.model, messages=messages, status=status)

    # ------------------------------------------------------------------ errors

    def _status_error(self, response: httpx.Response, *, attempts: int) -> AdapterError:
        status = response.status_code
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        hint = self._status_hint(status)
        body = self._excerpt(_body_text(response))
        message = f"POST {self.url} returned HTTP {status}{reason}{tries}"
        message += f" ({hint})" if hint else ""
        message += f"; response: {body!r}" if body else ""
        return AdapterError(message, status_code=status)

    def _status_hint(self, status: int) -> str:
        if status in (401, 403):
            return self.auth_hint
        if status == 404:
            return "check base_url, path and the model name"
        if status == 429:
            return "still rate limited; lower the concurrency or raise max_retries"
        if status >= 500:
            return "the server is failing; try again later or raise max_retries"
        return ""

    def _transport_error(self, exc: httpx.TransportError, *, attempts: int) -> AdapterError:
        tries = f"{attempts} attempt" + ("s" if attempts > 1 else "")
        if isinstance(exc, httpx.TimeoutException):
            kept = "" if self.retry_policy.retry_timeouts else ", not retried: retry_timeouts=False"
            message = (
                f"POST {self.url} timed out (timeout={self.timeout:g}s, {tries}{kept}); "
                "raise timeout=... or check that the server is responsive"
            )
        elif isinstance(exc, httpx.ConnectError):
            message = (
                f"could not connect to {self.url} ({tries}): {exc}; "
                "check base_url and that the server is running"
            )
        else:
            message = f"POST {self.url} failed ({tries}): {type(exc).__name__}: {exc}"
        return AdapterError(self._redact(message))

    # ------------------------------------------------------------------ secrets

    def _auth_headers(self) -> dict[str, str]:
        """Headers that carry the API key; subclasses change the scheme."""
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _build_headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self._auth_headers())
        headers.update(extra)
        return headers

    def _collect_secrets(self) -> tuple[str, ...]:
        secrets = {self._api_key} if self._api_key else set()
        password = urlsplit(self._url).password
        if password:
            secrets.add(password)
        for name, value in self._headers.items():
            if value and any(word in name.lower() for word in _SECRET_HEADER_WORDS):
                secrets.update({value, value.split()[-1]})
        return tuple(sorted(secrets, key=len, reverse=True))

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _http_checks.REDACTED)
        return text

    def _excerpt(self, text: str) -> str:
        """A short one-line, secret-free excerpt of a response body."""
        flat = self._redact(" ".join(text.split()))
        return flat if len(flat) <= _EXCERPT_CHARS else flat[:_EXCERPT_CHARS] + "…"


# --------------------------------------------------------------------------- helpers


def _body_text(response: httpx.Response) -> str:
    """The error message of an OpenAI-style error body, else the raw body."""
    try:
        message = error_message(response.json())
    except ValueError:
        message = None
    return message or response.text
