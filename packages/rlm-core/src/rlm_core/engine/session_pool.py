"""``SessionPool``: the open sessions of many conversations, bounded and closed when idle.

Framework integrations keep one ``Session`` per conversation (a chat thread, a user).
The pool holds them by key, closes those unused for ``idle_timeout`` seconds (a timer
does it; ``close_idle`` does it on demand) and, beyond ``max_sessions``, the least
recently used idle ones (one-turn conversations first). An entry in the middle of a turn
(its ``lock`` held, or its session still running one) is never closed, nor one just added.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from rlm_core.engine.session import Session
from rlm_core.errors import ConfigError


class PoolEntry(Protocol):
    """What the pool needs of an entry: its session, its turn lock, when it was last used."""

    session: Session
    lock: threading.Lock
    used_at: float


E = TypeVar("E", bound=PoolEntry)


def check_pool_limits(max_sessions: int | None, idle_timeout: float | None) -> None:
    """``ConfigError`` naming the fix for a bad ``max_sessions`` or ``idle_timeout``."""
    if max_sessions is not None and (
        isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1
    ):
        raise ConfigError(f"max_sessions must be None or an int >= 1, got {max_sessions!r}")
    if idle_timeout is not None and (
        isinstance(idle_timeout, bool)
        or not isinstance(idle_timeout, int | float)
        or idle_timeout <= 0
    ):
        raise ConfigError(
            f"idle_timeout must be a positive number of seconds or None, got {idle_timeout!r}"
        )


def check_entry(entry: object) -> None:
    """``ConfigError`` unless ``entry`` has what ``PoolEntry`` describes."""
    session = getattr(entry, "session", None)
    lock = getattr(entry, "lock", None)
    used_at = getattr(entry, "used_at", None)
    if (
        not isinstance(session, Session)
        or not callable(getattr(lock, "locked", None))
        or isinstance(used_at, bool)
        or not isinstance(used_at, int | float)
    ):
        raise ConfigError(
            "a SessionPool entry must be an object with .session (a Session), .lock (a "
            "threading.Lock held during a turn) and .used_at (the pool clock's time it was last "
            f"used), got {type(entry).__name__}; e.g. a dataclass with those three fields"
        )


class SessionPool(Generic[E]):
    """Open sessions by key (see the module docstring); ``clock`` is the time source."""

    def __init__(
        self,
        *,
        max_sessions: int | None = None,
        idle_timeout: float | None = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_pool_limits(max_sessions, idle_timeout)
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.clock = clock
        self._entries: dict[str, E] = {}
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    @contextlib.contextmanager
    def entries(self) -> Iterator[dict[str, E]]:
        """The entries by key, under the pool's lock (to find and claim one atomically)."""
        with self._lock:
            yield self._entries

    def get(self, key: str) -> E | None:
        with self._lock:
            return self._entries.get(key)

    def session(self, key: str) -> Session | None:
        """The open session of ``key``, if any."""
        found = self.get(key)
        return None if found is None else found.session

    def add(self, key: str, entry: E) -> E:
        """Keep ``entry`` under ``key`` unless one is there already; the entry kept."""
        check_entry(entry)
        with self._lock:
            kept = self._entries.setdefault(key, entry)
            closed = self._evict(keep=key)
            self._arm()
        self._close(closed)
        return kept

    def turn_ended(self, entry: E) -> None:
        """``entry``'s turn is over (its lock released): mark it used, evict, rearm."""
        entry.used_at = self.clock()
        with self._lock:
            closed = self._evict()
            self._arm()
        self._close(closed)

    def close(self, key: str) -> bool:
        """Close one session; ``False`` if ``key`` had none."""
        with self._lock:
            found = self._entries.pop(key, None)
        if found is None:
            return False
        found.session.close()
        return True

    def close_all(self) -> None:
        """Close every open session (and stop the idle timer)."""
        with self._lock:
            found = list(self._entries.values())
            self._entries.clear()
            self._disarm()
        self._close(found)

    def close_idle(self) -> int:
        """Close the sessions unused for ``idle_timeout`` seconds; how many were closed."""
        if self.idle_timeout is None:
            return 0
        now = self.clock()
        with self._lock:
            stale = [
                key
                for key, entry in self._entries.items()
                if now - entry.used_at >= self.idle_timeout and not _in_turn(entry)
            ]
            closed = [self._entries.pop(key) for key in stale]
        self._close(closed)
        return len(closed)

    # -- internals ---------------------------------------------------------------------------
    @staticmethod
    def _close(entries: list[E]) -> None:
        for entry in entries:
            entry.session.close()

    def _evict(self, keep: str | None = None) -> list[E]:
        """Take idle entries (not ``keep``) out beyond ``max_sessions``: one-turn ones first,
        then the least recently used. Called with the lock held; the caller closes them."""
        if self.max_sessions is None:
            return []
        excess = len(self._entries) - self.max_sessions
        if excess <= 0:
            return []
        idle = [(k, e) for k, e in self._entries.items() if k != keep and not _in_turn(e)]
        idle.sort(key=lambda pair: (len(pair[1].session.turns) > 1, pair[1].used_at))
        out = idle[:excess]
        for key, _ in out:
            del self._entries[key]
        return [entry for _, entry in out]

    def _arm(self) -> None:
        """Start the idle timer if needed and not running (called with the lock held); an
        entry in the middle of a turn counts as used now."""
        if self.idle_timeout is None or not self._entries or self._timer is not None:
            return
        now = self.clock()
        soonest = min(now if _in_turn(e) else e.used_at for e in self._entries.values())
        delay = max(soonest + self.idle_timeout - now, 0.0)
        # The timer holds the pool weakly: an unused pool (and its sessions) can be collected.
        self._timer = threading.Timer(delay + 0.001, _fire, args=(weakref.ref(self),))
        self._timer.daemon = True
        self._timer.start()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        self.close_idle()
        with self._lock:
            self._arm()


def _in_turn(entry: PoolEntry) -> bool:
    return entry.lock.locked() or entry.session.busy


def _fire(pool: weakref.ref[SessionPool[PoolEntry]]) -> None:
    found = pool()
    if found is not None:
        found._on_timer()
