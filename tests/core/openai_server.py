"""A real OpenAI-compatible HTTP server for adapter tests (stdlib only).

The server listens on 127.0.0.1 on an ephemeral port and answers each request
with the next action of its script (``Reply``, ``Status``, ``Delay``,
``Malformed``, ``RawJSON``, ``Disconnect``); when the script is empty it sends
``default``. It records every request and counts accepted TCP connections.

    with OpenAIServer() as server:
        server.enqueue(Status(429, retry_after=0.2), Reply("hi"))
        adapter = OpenAICompatAdapter("m", base_url=server.base_url)

A chat-completions request with ``"stream": true`` gets its ``Reply`` as a real
server-sent-event stream, one token (a word with its leading space) per
``chat.completion.chunk``, ``Reply.token_delay`` seconds apart, then ``data:
[DONE]`` (with a usage chunk first when ``stream_options.include_usage`` is set).
A streamed reply stops at the request's ``max_tokens`` / ``max_completion_tokens``
(``finish_reason: "length"``) unless ``Reply.ignore_limits`` is set, which plays a
server that ignores them (``runaway()`` builds such a long reply); ``Reply.gate``
pauses a stream part-way until the test opens it. The server checks before every
token whether the client hung up and then stops generating; ``streams`` records
how each stream went (tokens planned and sent, how it ended).
A request that does not ask for a stream gets the whole reply at once, whatever its limit.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import select
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
    token_delay: float = 0.0
    """Seconds the server waits before each token of a streamed reply."""
    ignore_limits: bool = False
    """Stream the whole text even past the request's token limit (a server that ignores
    ``max_tokens`` / ``max_completion_tokens``)."""
    gate: threading.Event | None = None
    """With ``gate_after``: the streamed reply pauses after that many tokens until the
    gate is set (a model still generating), so a test can look at what arrived so far."""
    gate_after: int = 0


TOKEN_DELAY = 0.002
"""Seconds between streamed tokens in end-to-end tests: slow enough to interleave."""
CAP_SLACK = 4
"""Tokens the server may write after a client's cap before it sees the client hang up."""


def runaway(tokens: int = 2000, *, start: str = "", token_delay: float = 0.005) -> Reply:
    """A long reply streamed whole whatever limit the request sets, like a local server
    that ignores ``max_completion_tokens``: ``start`` then ``tokens`` short tokens."""
    return Reply(start + " ok" * tokens, ignore_limits=True, token_delay=token_delay)


def split_tokens(text: str) -> list[str]:
    """``text`` as the server streams it: each word with its leading whitespace."""
    tokens = re.findall(r"\s*\S+", text)
    tail = text[len("".join(tokens)) :]
    return [*tokens, tail] if tail else tokens


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

    @property
    def wants_stream(self) -> bool:
        """True when the body asks for a streamed reply (``"stream": true``)."""
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def token_limit(self) -> int | None:
        """The request's ``max_completion_tokens`` (or ``max_tokens``), if it set one."""
        if not isinstance(self.body, dict):
            return None
        for name in ("max_completion_tokens", "max_tokens"):
            value = self.body.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None


@dataclass
class StreamRecord:
    """How one streamed reply went; updated by the server while it streams."""

    request: RecordedRequest
    planned: int
    """Tokens the server meant to send (the reply, or as much of it as the limit allows)."""
    sent: int = 0
    """Tokens written to the client so far (counted as each write starts)."""
    outcome: str = "streaming"
    """``"streaming"``, then ``"complete"``, ``"client_closed"`` (the client hung up
    and the server stopped generating) or ``"server_stopped"``."""

    @property
    def ended(self) -> bool:
        return self.outcome != "streaming"

    @property
    def client_closed(self) -> bool:
        return self.outcome == "client_closed"


# --------------------------------------------------------------------------- server


class OpenAIServer:
    """A scripted OpenAI-compatible server running in a background thread."""

    def __init__(self, script: Iterable[Action] = (), *, default: Action = Reply()) -> None:
        self.default = default
        self._script: deque[Action] = deque(script)
        self._requests: list[RecordedRequest] = []
        self._streams: list[StreamRecord] = []
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
    def streams(self) -> list[StreamRecord]:
        """The streamed replies so far, in the order they started."""
        with self._lock:
            return list(self._streams)

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

    def _stream_started(self, request: RecordedRequest, planned: int) -> StreamRecord:
        record = StreamRecord(request, planned)
        with self._lock:
            self._streams.append(record)
        return record

    def _next_id(self) -> str:
        return f"chatcmpl-test-{next(self._ids)}"

    def _completion(self, reply: Reply) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self._next_id(),
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
        self._perform(self.server.owner._record(request), request)

    do_GET = do_POST

    def _perform(self, action: Action, request: RecordedRequest) -> None:
        owner = self.server.owner
        while isinstance(action, Delay):
            if owner._stopping.wait(action.seconds):
                self.close_connection = True
                return
            action = action.then
        if isinstance(action, Disconnect):
            self.close_connection = True
        elif isinstance(action, Reply) and request.wants_stream:
            self._stream(action, request)
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

    # ------------------------------------------------------------------ streamed replies

    def _stream(self, reply: Reply, request: RecordedRequest) -> None:
        owner = self.server.owner
        tokens = split_tokens(reply.text or "")
        limit = None if reply.ignore_limits else request.token_limit
        planned = tokens if limit is None else tokens[:limit]
        finish_reason = "stop" if len(planned) == len(tokens) else "length"
        record = owner._stream_started(request, len(planned))
        body = request.body if isinstance(request.body, dict) else {}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunk = _ChunkMaker(owner._next_id(), reply.model, include_usage)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        done_sent = False
        try:
            self._event(chunk.delta({"role": "assistant", "content": ""}))
            for number, token in enumerate(planned):
                paused = reply.gate is not None and number == reply.gate_after
                if (paused and not self._wait_for(reply.gate)) or (
                    reply.token_delay and owner._stopping.wait(reply.token_delay)
                ):
                    record.outcome = "server_stopped"
                    self.close_connection = True
                    return
                if self._client_hung_up():
                    raise ConnectionResetError("the client closed the stream")
                record.sent += 1  # before the write, so what a client has read is counted
                self._event(chunk.delta({"content": token}))
            self._event(chunk.delta({}, finish_reason))
            if include_usage:
                self._event(chunk.usage(reply.prompt_tokens, record.sent))
            # Marked before [DONE]: a client stops reading at [DONE], so a test can look at
            # the record as soon as its stream ends. A failed [DONE] write still says so.
            record.outcome = "complete"
            self._write_chunk(b"data: [DONE]\n\n")
            done_sent = True
            self._write_chunk(b"")  # the chunked body's end
        except (ConnectionError, TimeoutError, OSError):
            if not done_sent:  # a client gone after [DONE] had read the whole reply
                record.outcome = "client_closed"
            self.close_connection = True

    def _wait_for(self, gate: threading.Event | None) -> bool:
        """Wait until ``gate`` is set; False if the server stops first. A client that hangs
        up meanwhile is noticed at the next token."""
        while gate is not None and not gate.wait(0.02):
            if self.server.owner._stopping.is_set():
                return False
        return True

    def _client_hung_up(self) -> bool:
        """True when the client closed its side (it sends nothing while it reads a stream)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _event(self, data: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(data).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class _ChunkMaker:
    """The ``chat.completion.chunk`` objects of one streamed reply."""

    id: str
    model: str
    include_usage: bool

    def _base(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            data["usage"] = None
        return data

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return self._base([{"index": 0, "delta": delta, "finish_reason": finish_reason}])

    def usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        data = self._base([])
        data["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return data
