"""Run a GGUF model on the CPU with llama.cpp: in-process, or as a loopback server.

``LlamaCppAdapter`` loads the model into this process with ``llama_cpp.Llama``.
``LlamaServer`` starts ``python -m llama_cpp.server`` on 127.0.0.1 and hands out an
``OpenAICompatAdapter`` pointed at it (useful to share one loaded model between
processes, or to use every OpenAI-compatible code path against a local model).
Both need ``llama-cpp-python``: ``pip install "rlm-core[local]"``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any

import httpx

from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.adapters.openai_compat import OpenAICompatAdapter
from rlm_core.errors import AdapterError, ConfigError
from rlm_core.local_model import resolve_model

DEFAULT_N_CTX = 8192
MISSING_LLAMA_CPP = (
    "llama-cpp-python is not installed: run scripts/install-local-model in a checkout "
    '(it builds the wheel once and caches it), or pip install "rlm-core[local]"'
)


def _import_llama() -> Any:
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as error:
        raise ConfigError(MISSING_LLAMA_CPP) from error


def _check_threads(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    return value


class LlamaCppAdapter:
    """A local GGUF model loaded in-process (``llama_cpp.Llama``).

    ``model_path`` defaults to ``RLM_MODEL_PATH`` or the bundled model (see
    ``rlm_core.local_model``). ``n_ctx`` is the context window in tokens and is
    exposed as ``context_window``. Calls are serialised with a lock because a
    ``Llama`` object is not thread-safe; ``acomplete`` runs in a worker thread.
    Consecutive calls that share a prompt prefix reuse llama.cpp's KV cache.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int = 2,
        n_threads_batch: int = 2,
        n_batch: int = 512,
        chat_format: str | None = None,
        seed: int = 0,
        model: str | None = None,
        verbose: bool = False,
        **llama_options: Any,
    ) -> None:
        resolved = resolve_model(model_path)
        if n_ctx is None:
            n_ctx = min(DEFAULT_N_CTX, resolved.context_length or DEFAULT_N_CTX)
        _check_threads("n_ctx", n_ctx)
        _check_threads("n_threads", n_threads)
        _check_threads("n_threads_batch", n_threads_batch)
        _check_threads("n_batch", n_batch)
        llama_cpp = _import_llama()
        self.model_path = resolved.path
        self.model = model or resolved.name
        self.context_window = n_ctx
        self._lock = threading.Lock()
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(resolved.path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads_batch,
                n_batch=min(n_batch, n_ctx),
                chat_format=chat_format,
                seed=seed,
                verbose=verbose,
                **llama_options,
            )
        except (ValueError, RuntimeError) as error:
            raise ConfigError(
                f"llama.cpp could not load {str(resolved.path)!r}: {error}; check that it is a "
                "complete GGUF file and that n_ctx fits in memory"
            ) from error

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        with self._lock:
            try:
                raw = self._llama.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=temperature
                )
            except ValueError as error:  # e.g. "Requested tokens (N) exceed context window"
                raise AdapterError(
                    f"llama.cpp rejected the prompt: {error}; shorten the prompt or raise "
                    f"n_ctx (now {self.context_window})"
                ) from error
        return _parse_completion(raw, self.model)

    async def acomplete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        return await asyncio.to_thread(
            self.complete, messages, max_tokens=max_tokens, temperature=temperature
        )

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` with this model's own tokenizer."""
        with self._lock:
            return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        """Free the model's memory now rather than at garbage collection."""
        with self._lock:
            closer = getattr(self._llama, "close", None)
            if closer is not None:
                closer()

    def __repr__(self) -> str:
        return f"LlamaCppAdapter(model={self.model!r}, n_ctx={self.context_window})"


def _parse_completion(raw: Any, model: str) -> ModelResponse:
    try:
        text = raw["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as error:
        raise AdapterError(f"llama.cpp returned an unexpected completion: {raw!r:.200}") from error
    usage = raw.get("usage") or {}
    return ModelResponse(
        text=str(text),
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        ),
        model=model,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1, started and stopped by this object.

    Use as a context manager; ``adapter()`` returns an ``OpenAICompatAdapter``
    for it. The server needs ``llama-cpp-python[server]``.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int = 2,
        port: int | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        self.model = resolve_model(model_path)
        self.n_ctx = _check_threads("n_ctx", n_ctx)
        self.n_threads = _check_threads("n_threads", n_threads)
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model.path), "--model_alias", self.model.name,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads),
            "--logits_all", "false",
        ]  # fmt: skip

    def start(self) -> LlamaServer:
        """Start the server and wait until it answers ``/v1/models``."""
        _import_llama()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())
        self._process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.log_tail()
                self.stop()
                hint = ""
                if "No module named" in log:
                    hint = ' (install the server extra: pip install "llama-cpp-python[server]")'
                raise AdapterError(f"llama_cpp.server exited at startup{hint}:\n{log}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise AdapterError(
            f"llama_cpp.server did not answer on {self.base_url} within {self.startup_timeout:.0f}s"
        )

    def adapter(self, **options: Any) -> OpenAICompatAdapter:
        """An ``OpenAICompatAdapter`` for this server (with ``context_window`` set)."""
        adapter = OpenAICompatAdapter(self.model.name, base_url=self.base_url, **options)
        adapter.context_window = self.n_ctx  # type: ignore[attr-defined]
        return adapter

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's combined stdout/stderr."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-chars:]

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["LlamaCppAdapter", "LlamaServer", "free_port"]
