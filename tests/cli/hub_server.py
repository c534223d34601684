"""A real HTTP server on 127.0.0.1 that serves files the way the Hugging Face Hub does.

``huggingface_hub.hf_hub_download`` (pointed at it with ``HF_ENDPOINT``) sends ``HEAD``
to ``/{repo_id}/resolve/{revision}/{filename}``. As the Hub does for large (LFS) files,
the answer is a redirect to a content-addressed ``/cdn/{sha256}`` URL on another host
(here 127.0.0.2: also loopback), with the commit (``X-Repo-Commit``) and the file's ETag
and size in ``X-Linked-*`` headers; the client then downloads from there. Unknown repos,
revisions or files get 404 with the Hub's error header. Every request is recorded.

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
HUB_HOST = "127.0.0.1"
CDN_HOST = "127.0.0.2"  # another loopback address: the client must see a different host


class HubServer:
    """Serves ``files`` (keyed by repo id, revision and filename) over HTTP on loopback."""

    def __init__(self, files: dict[FileKey, bytes]) -> None:
        self.files = dict(files)
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._servers = [
            ThreadingHTTPServer((host, 0), self._handler()) for host in (HUB_HOST, CDN_HOST)
        ]
        self._threads = []
        for server in self._servers:
            server.daemon_threads = True
            self._threads.append(
                threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
                )
            )

    @property
    def endpoint(self) -> str:
        """The Hub's address, for ``HF_ENDPOINT``."""
        return self._address(self._servers[0])

    @property
    def cdn(self) -> str:
        return self._address(self._servers[1])

    @staticmethod
    def _address(server: ThreadingHTTPServer) -> str:
        host, port = server.server_address[:2]
        return f"http://{host!s}:{port}"

    def resolved(self) -> list[str]:
        """The ``.../resolve/...`` paths asked for so far (any method)."""
        with self._lock:
            return [path for _, path in self.requests if "/resolve/" in path]

    def downloads(self) -> int:
        """How many times file content was sent."""
        with self._lock:
            return sum(
                1 for method, path in self.requests if (method, path[:5]) == ("GET", "/cdn/")
            )

    def _lookup(self, path: str) -> bytes | None:
        parts = unquote(urlsplit(path).path).strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        key = ("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        return self.files.get(key)

    def _blob(self, path: str) -> bytes | None:
        digest = urlsplit(path).path.removeprefix("/cdn/")
        for body in self.files.values():
            if hashlib.sha256(body).hexdigest() == digest:
                return body
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def _serve(self) -> None:
                with hub._lock:
                    hub.requests.append((self.command, self.path))
                if self.path.startswith("/cdn/"):
                    blob = hub._blob(self.path)
                    if blob is None:
                        self._send(404, {}, b"no such blob")
                    else:
                        self._send(200, {"Content-Type": "application/octet-stream"}, blob)
                    return
                body = hub._lookup(self.path)
                if body is None:
                    error = {"X-Error-Code": "EntryNotFound", "Content-Type": "application/json"}
                    self._send(404, error, b'{"error": "Entry not found"}')
                    return
                digest = hashlib.sha256(body).hexdigest()
                revision = unquote(urlsplit(self.path).path).strip("/").split("/")[3]
                redirect = {
                    "Location": f"{hub.cdn}/cdn/{digest}",
                    "X-Repo-Commit": revision,
                    "X-Linked-Etag": f'"{digest}"',
                    "X-Linked-Size": str(len(body)),
                    "ETag": '"not-the-file"',
                }
                self._send(302, redirect)

            do_HEAD = _serve
            do_GET = _serve

        return Handler

    def __enter__(self) -> HubServer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for server, thread in zip(self._servers, self._threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
