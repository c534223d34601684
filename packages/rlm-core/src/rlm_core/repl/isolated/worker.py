"""The worker process: confines itself, then runs model code for the host.

Started by the host as a fresh interpreter (``python -I -S``) with a scrubbed environment, so
none of the host's memory, environment or open files exist here. It loads the context from a
sealed memfd into a real ``Context``, confines itself (``sandbox.py``) and serves requests:

host -> worker: ("exec", code) | ("get", name) | ("set", name, value) | ("close",)
worker -> host: ("done", stdout, error, truncated) | ("value", v) | ("missing",) | ("ok",)
                | ("call", helper, args, kwargs)   while code runs; answered by
host -> worker: ("return", value) | ("raise", type_name, builtin_base, message)
"""

from __future__ import annotations

import builtins
import mmap
import os
import pickle
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from rlm_core._mapped_text import MAX_CONTEXT_FILES, files_from_wire
from rlm_core.context import Context, FileContext
from rlm_core.repl.base import REPL_FILENAME, OutputBuffer, format_error, split_last_expression
from rlm_core.repl.context_helpers import ContextHelpers
from rlm_core.repl.isolated import sandbox
from rlm_core.repl.isolated.framing import (
    NotPlainData,
    PeerClosed,
    check_plain,
    recv_bytes,
    send_message,
)

MAX_HOST_MESSAGE = 1 << 40  # the host is trusted; its messages are not size-checked
_PLAIN = (str, bytes, int, float, bool, complex, type(None))


class Channel:
    """The worker's end of the socket; helper calls from any thread are serialised."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.errors: dict[tuple[str, str], type[BaseException]] = {}

    def receive(self) -> Any:
        return pickle.loads(recv_bytes(self.sock, max_bytes=MAX_HOST_MESSAGE, deadline=None))

    def send(self, message: Any) -> None:
        send_message(self.sock, message)

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self.lock:
            self.send(("call", name, to_plain(args), to_plain(kwargs)))
            reply = self.receive()
        if reply[0] == "return":
            return reply[1]
        _, type_name, base_name, message = reply
        raise self._error_class(type_name, base_name)(message)

    def _error_class(self, name: str, base_name: str) -> type[BaseException]:
        """An exception class named like the host's, under its nearest builtin base."""
        key = (name, base_name)
        if key not in self.errors:
            base = getattr(builtins, base_name, Exception)
            if not (isinstance(base, type) and issubclass(base, Exception)):
                base = Exception
            self.errors[key] = base if base.__name__ == name else type(name, (base,), {})
        return self.errors[key]


def to_plain(value: Any, depth: int = 0) -> Any:
    """Helper arguments as plain data: iterators become lists, other objects their ``str``
    (which is what the helpers would make of them in process)."""
    kind = type(value)
    if kind in _PLAIN or depth > 100:
        return value
    if kind in (list, tuple, set, frozenset):
        return kind(to_plain(item, depth + 1) for item in value)
    if kind is dict:
        return {to_plain(k, depth + 1): to_plain(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "__next__"):
        return [to_plain(item, depth + 1) for item in value]
    return str(value)


class Worker:
    """One persistent namespace, served over the channel."""

    def __init__(self, channel: Channel, context: Context, init: dict[str, Any]) -> None:
        self.channel = channel
        self.max_output_chars: int = init["max_output_chars"]
        self.namespace: dict[str, Any] = {"__name__": "__repl__", "__builtins__": builtins}
        local = ContextHelpers(context)
        local.variables = self.namespace
        for name in init["local_helpers"]:
            self.namespace[name] = getattr(local, name)
        plain_only = frozenset(init.get("plain_only", ()))
        for name, description in init["remote_helpers"].items():
            self.namespace[name] = self._remote(name, description, strict=name in plain_only)
        self.namespace["P"] = context.text
        self.namespace["ctx"] = context
        self.namespace.update(init["variables"])

    def _remote(self, name: str, description: str, *, strict: bool) -> Callable[..., Any]:
        """A stand-in for a host helper: the call goes to the host, which runs the real one.

        ``strict`` stand-ins (the user's tools) refuse arguments that are not plain data
        instead of sending their ``str``.
        """
        channel = self.channel

        def helper(*args: Any, **kwargs: Any) -> Any:
            if strict:
                for value in (*args, *kwargs.values()):
                    try:
                        check_plain(value)
                    except NotPlainData as error:
                        raise TypeError(
                            f"{name}() takes plain data (str, int, float, bool, None, lists and "
                            f"str-keyed dicts): {error}"
                        ) from None
            return channel.call(name, args, kwargs)

        helper.__name__ = helper.__qualname__ = name
        helper.__doc__ = description
        return helper

    def serve(self) -> None:
        while True:
            try:
                request = self.channel.receive()
            except PeerClosed:
                return
            kind = request[0]
            if kind == "exec":
                self.channel.send(self.exec(request[1]))
            elif kind == "get":
                self.channel.send(self.get(request[1]))
            elif kind == "set":
                self.namespace[request[1]] = request[2]
                self.channel.send(("ok",))
            elif kind == "close":
                return

    def exec(self, code: str) -> tuple[str, str, str | None, bool]:
        buffer = OutputBuffer(self.max_output_chars)
        error: str | None = None
        sys.stdout = sys.stderr = buffer
        try:
            body, last = split_last_expression(code)
            exec(compile(body, REPL_FILENAME, "exec"), self.namespace)
            if last is not None:
                value = eval(compile(last, REPL_FILENAME, "eval"), self.namespace)
                if value is not None:
                    buffer.write(repr(value) + "\n")
        except BaseException as exc:
            error = _describe(exc)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        return ("done", buffer.getvalue(), error, buffer.dropped > 0)

    def get(self, name: str) -> tuple[Any, ...]:
        if name not in self.namespace:
            return ("missing",)
        value = self.namespace[name]
        try:
            check_plain(value)
        except NotPlainData:
            try:
                value = str(value)
            except BaseException as exc:
                value = f"<{type(value).__name__} object: str() failed: {_describe(exc)}>"
        return ("value", value)


def _describe(exc: BaseException) -> str:
    try:
        return format_error(exc)
    except BaseException:
        return f"{type(exc).__name__} (unprintable)"


def _load_text(fd: int, size: int) -> str:
    try:
        if size == 0:
            return ""
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as view:
            return str(view, "utf-8", "surrogatepass")
    finally:
        os.close(fd)


def _context(fds: list[int], init: dict[str, Any]) -> Context:
    """The context: mapped from the read-only files the host passed (file-backed), or
    decoded from the sealed memfd."""
    if "mapped" in init:
        return FileContext(
            files_from_wire(fds, init["mapped"]), init["separator"], init["context_type"]
        )
    return Context(
        _load_text(fds[0], init["text_bytes"]),
        init["starts"],
        init["lengths"],
        init["separator"],
        init["context_type"],
    )


def main(sock_fd: int) -> None:
    """Entry point (see ``process.BOOTSTRAP``): wait for the context memfd and the start-up
    message, confine, then serve."""
    channel = Channel(socket.socket(fileno=sock_fd))
    try:
        _, fds, _, _ = socket.recv_fds(channel.sock, 1, MAX_CONTEXT_FILES)
        if not fds:
            raise PeerClosed("the host closed the channel before sending the context")
        init = channel.receive()
        context = _context(fds, init)
        worker = Worker(channel, context, init)
        os.chdir(init["scratch"])
        sandbox.set_limits(
            memory_bytes=sandbox.address_space_bytes() + init["memory_bytes"],
            file_bytes=init["file_bytes"],
            open_files=init["open_files"],
        )
        if init["landlock"]:
            sandbox.apply_landlock(init["readable"], [init["scratch"]])
        sandbox.load_seccomp(init["seccomp"])
    except PeerClosed:
        raise SystemExit(0) from None  # an unused spare worker: the host went away
    except BaseException as error:
        channel.send(("fatal", f"{type(error).__name__}: {error}"))
        raise SystemExit(1) from None
    channel.send(("ready", os.getpid()))
    worker.serve()
