"""A real HTTP server on 127.0.0.1 that serves files the way the Hugging Face Hub does.

``huggingface_hub.hf_hub_download`` (pointed at it with ``HF_ENDPOINT``) sends
``HEAD`` and then ``GET`` to ``/{repo_id}/resolve/{revision}/{filename}``; the ``HEAD``
answer must carry ``X-Repo-Commit``, an ``ETag`` and the size. Unknown repos, revisions
or files get 404 with the Hub's error header. Every request line is recorded.

    with HubServer({("Qwen/x-GGUF", "abc123", "m.gguf"): b"GGUF..."}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote, urlsplit

FileKey = tuple[str, str, str]  # repo_id, revision, filename


class HubServer:
    """Serves ``files`` (keyed by repo id, revision and filename) over HTTP on loopback."""

    def __init__(self, files: dict[FileKey, bytes]) -> None:
        self.files = dict(files)
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def gets(self) -> list[str]:
        """The paths of the file downloads (``GET .../resolve/...``) so far."""
        with self._lock:
            return [p for method, p in self.requests if method == "GET" and "/resolve/" in p]

    def _lookup(self, path: str) -> bytes | None:
        parts = unquote(urlsplit(path).path).strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        key = ("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        return self.files.get(key)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _headers(self, body: bytes) -> None:
                revision = unquote(urlsplit(self.path).path).strip("/").split("/")[3]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("X-Repo-Commit", revision)
                self.end_headers()

            def _missing(self) -> None:
                body = b'{"error": "Entry not found"}'
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def _serve(self) -> None:
                with hub._lock:
                    hub.requests.append((self.command, self.path))
                body = hub._lookup(self.path)
                if body is None:
                    self._missing()
                    return
                self._headers(body)
                if self.command == "GET":
                    self.wfile.write(body)

            do_HEAD = _serve
            do_GET = _serve

        return Handler

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
