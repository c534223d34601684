"""Fixtures: a real Elasticsearch-API server (noida-db) on 127.0.0.1, and small
loopback HTTP servers for the embeddings endpoint and an auth-rejecting cluster."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from .toy import toy_embed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def noida_binary() -> Path:
    path = Path(str(files("noida_db").joinpath("noida-db")))
    if not path.is_file():
        pytest.fail(f"noida-db binary not found at {path}; run uv sync (dev group)")
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start noida-db (Elasticsearch API only) for the session; stop it by its PID."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("noida")
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [
            str(noida_binary()),
            "start",
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(port),
            "--host",
            "127.0.0.1",
            "--data-dir",
            str(data_dir / "data"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"noida-db exited early: {(data_dir / 'server.log').read_text()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("noida-db did not answer HTTP 200 within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 running ``handler`` in a thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: object,
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class EmbeddingsHandler(BaseHTTPRequestHandler):
    """OpenAI-compatible POST /v1/embeddings answering with toy_embed vectors."""

    requests: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        EmbeddingsHandler.requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        if self.path != "/v1/embeddings":
            _reply(self, 404, {"error": "not found"})
            return
        vectors = toy_embed(body["input"])
        data = [{"index": i, "embedding": v, "object": "embedding"} for i, v in enumerate(vectors)]
        _reply(self, 200, {"data": list(reversed(data)), "model": body["model"]})

    def log_message(self, *_: object) -> None:
        pass


class RejectingClusterHandler(BaseHTTPRequestHandler):
    """Answers every request like a secured cluster given bad credentials (HTTP 401)."""

    def _deny(self) -> None:
        error = {
            "error": {"type": "security_exception", "reason": "unable to authenticate"},
            "status": 401,
        }
        _reply(self, 401, error, {"X-Elastic-Product": "Elasticsearch"})

    do_GET = do_POST = do_PUT = do_HEAD = _deny

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def embeddings_server() -> Iterator[str]:
    EmbeddingsHandler.requests = []
    with _Server(EmbeddingsHandler) as server:
        yield server.url + "/v1"


@pytest.fixture
def rejecting_cluster() -> Iterator[str]:
    with _Server(RejectingClusterHandler) as server:
        yield server.url


@pytest.fixture
def index_name(request: pytest.FixtureRequest) -> str:
    """A unique index name per test."""
    return "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:60]


EmbedFn = Callable[[list[str]], list[list[float]]]
