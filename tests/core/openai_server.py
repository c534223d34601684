"""A real OpenAI-compatible HTTP server for adapter tests (stdlib only).

The server listens on 127.0.0.1 on an ephemeral port and answers each request
with the next action of its script (``Reply``, ``Status``, ``Delay``,
``Malformed``, ``RawJSON``, ``Disconnect``); when the script is empty it sends
``default``. It records every request and counts accepted TCP connections.

    with OpenAIServer() as server:
        server.enqueue(Status(429, retry_after=0.2), Reply("hi"))
        adapter = OpenAICompatAdapter("m", base_url=server.base_url)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

# --------------------------------------------------------------------------- script actions


@dataclass(frozen=True)
class Reply:
    """A successful chat completion. ``text=None`` sends ``"content": null``."""

    text: str | None = "Hello from the test server."
    prompt_tokens: int = 11
    completion_tokens: int = 7
    usage: bool = True
    model: str = "test-model"


@dataclass(frozen=True)
class Status:
    """An error status. ``body=None`` sends an OpenAI-style error object."""

    code: int
    body: Any = None
    retry_after: str | float | None = None


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` (a slow server), then perform ``then``."""

    seconds: float
    then: Action = Reply()


@dataclass(frozen=True)
class Malformed:
    """A body that is not valid JSON."""

    body: str = '{"choices": [ this is not json'
    code: int = 200


@dataclass(frozen=True)
class RawJSON:
    """Valid JSON of any shape (for custom parsers or unexpected replies)."""

    data: Any
    code: int = 200


@dataclass(frozen=True)
class Disconnect:
    """Close the connection after reading the request, without replying."""


Action = Reply | Status | Delay | Malformed | RawJSON | Disconnect


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    received_at: float

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path


# --------------------------------------------------------------------------- server


class OpenAIServer:
    """A scripted OpenAI-compatible server running in a background thread."""

    def __init__(self, script: Iterable[Action] = (), *, default: Action = Reply()) -> None:
        self.default = default
        self._script: deque[Action] = deque(script)
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections = 0
        self._open: set[socket.socket] = set()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> OpenAIServer:
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-server"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ scripting & inspection

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no path)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``<url>/v1``, as an OpenAI-compatible ``base_url``."""
        return f"{self.url}/v1"

    def enqueue(self, *actions: Action) -> None:
        """Append actions to the script."""
        with self._lock:
            self._script.extend(actions)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def open_connections(self) -> int:
        """TCP connections currently open."""
        with self._lock:
            return len(self._open)

    def wait_until(self, predicate: Callable[[OpenAIServer], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate(self)`` until it is true or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.01)
        return predicate(self)

    # ------------------------------------------------------------------ called by the handler

    def _connected(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections += 1
            self._open.add(sock)

    def _disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def _record(self, request: RecordedRequest) -> Action:
        with self._lock:
            self._requests.append(request)
            return self._script.popleft() if self._script else self.default

    def _completion(self, reply: Reply) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"chatcmpl-test-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": "stop",
                }
            ],
        }
        if reply.usage:
            body["usage"] = {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            }
        return body


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: OpenAIServer

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stalls per reply
        self.owner._connected(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        self.owner._disconnected(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up is expected; anything else is a bug here.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
    timeout = 30  # idle keep-alive connections are dropped after this
    server: _HTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            raw=raw,
            received_at=time.monotonic(),
        )
        self._perform(self.server.owner._record(request))

    do_GET = do_POST

    def _perform(self, action: Action) -> None:
        owner = self.server.owner
        while isinstance(action, Delay):
            if owner._stopping.wait(action.seconds):
                self.close_connection = True
                return
            action = action.then
        if isinstance(action, Disconnect):
            self.close_connection = True
        elif isinstance(action, Reply):
            self._send_json(200, owner._completion(action))
        elif isinstance(action, Status):
            self._send_status(action)
        elif isinstance(action, Malformed):
            self._send(action.code, action.body.encode())
        else:
            self._send_json(action.code, action.data)

    def _send_status(self, action: Status) -> None:
        headers = {} if action.retry_after is None else {"Retry-After": str(action.retry_after)}
        body = action.body
        if body is None:
            body = {"error": {"message": f"test server status {action.code}", "type": "test"}}
        if isinstance(body, str):
            self._send(action.code, body.encode(), headers, content_type="text/plain")
        else:
            self._send(action.code, json.dumps(body).encode(), headers)

    def _send_json(self, code: int, data: Any) -> None:
        self._send(code, json.dumps(data).encode())

    def _send(
        self,
        code: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
