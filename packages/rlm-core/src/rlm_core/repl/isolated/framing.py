"""Length-prefixed messages over a socket, and the plain-data codec used across the boundary.

Both sides send pickles. The worker trusts the host, so it loads host messages with the
normal unpickler. The host never does that with worker bytes: ``loads_plain`` refuses every
global (so no pickled callable can run) and ``check_plain`` then walks the result to refuse
shared-reference bombs, deep nesting and huge ints before anything calls ``str`` on it.
"""

from __future__ import annotations

import io
import pickle
import socket
import struct
import time
from typing import Any

HEADER = struct.Struct("!Q")
PROTOCOL = pickle.HIGHEST_PROTOCOL
PLAIN_SCALARS = (str, bytes, int, float, bool, complex, type(None))
PLAIN_CONTAINERS = (list, tuple, dict, set, frozenset)
_ALLOWED_GLOBALS = {("builtins", "complex"), ("builtins", "set"), ("builtins", "frozenset")}


class ProtocolError(Exception):
    """The peer sent something that is not a valid message (or closed the channel)."""


class PeerClosed(ProtocolError):
    """The other end closed the channel."""


class Timeout(ProtocolError):
    """No complete message arrived before the deadline."""


class NotPlainData(ValueError):
    """A value is not made only of builtin scalars and containers (or is too big)."""


# -- framing ----------------------------------------------------------------------------------
def encode(message: Any) -> bytes:
    """``message`` pickled, with its length in front."""
    payload = pickle.dumps(message, protocol=PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def send_message(sock: socket.socket, message: Any) -> None:
    """Pickle ``message`` and send it with its length in front."""
    sock.sendall(encode(message))


def recv_bytes(sock: socket.socket, *, max_bytes: int, deadline: float | None) -> bytes:
    """One framed payload; ``Timeout`` after ``deadline`` (a ``time.monotonic`` value)."""
    size = HEADER.unpack(_recv_exact(sock, HEADER.size, deadline))[0]
    if size > max_bytes:
        raise ProtocolError(f"message of {size} bytes exceeds the {max_bytes}-byte limit")
    return _recv_exact(sock, size, deadline)


def _recv_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("no reply before the deadline")
            sock.settimeout(remaining)
        else:
            sock.settimeout(None)
        try:
            count = sock.recv_into(view[got:], size - got)
        except TimeoutError:
            raise Timeout("no reply before the deadline") from None
        except OSError as error:
            raise PeerClosed(f"channel failed: {error}") from None
        if count == 0:
            raise PeerClosed("the other end closed the channel")
        got += count
    return bytes(buffer)


# -- the restricted codec ---------------------------------------------------------------------
class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return getattr(__import__("builtins"), name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only plain data may cross")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id: only plain data may cross")


def loads_plain(data: bytes, *, max_nodes: int = 2_000_000, max_depth: int = 200) -> Any:
    """Unpickle bytes from an untrusted peer: plain data only, bounded in size and depth."""
    try:
        value = _PlainUnpickler(io.BytesIO(data)).load()
    except NotPlainData:
        raise
    except Exception as error:
        raise NotPlainData(f"undecodable message: {type(error).__name__}: {error}") from None
    check_plain(value, max_nodes=max_nodes, max_depth=max_depth)
    return value


def check_plain(value: Any, *, max_nodes: int = 2_000_000, max_depth: int = 200) -> None:
    """Raise ``NotPlainData`` unless ``value`` is a tree of builtin scalars and containers.

    Nodes are counted as a tree (a list shared twice counts twice), so a small pickle that
    expands into an exponential ``repr`` is refused.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise NotPlainData(f"value has more than {max_nodes} items")
        kind = type(item)
        if kind is int:
            if item.bit_length() > 64_000:
                raise NotPlainData("integer too large")
            continue
        if kind in PLAIN_SCALARS:
            continue
        if kind not in PLAIN_CONTAINERS:
            raise NotPlainData(f"{kind.__name__} is not plain data")
        if depth >= max_depth:
            raise NotPlainData(f"value is nested deeper than {max_depth} levels")
        if kind is dict:
            for key, element in item.items():
                stack.append((key, depth + 1))
                stack.append((element, depth + 1))
        else:
            stack.extend((element, depth + 1) for element in item)
