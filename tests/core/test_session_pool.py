"""``SessionPool``: sessions by key, closed when idle or beyond ``max_sessions``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from rlm_core import RLM, ConfigError, Session, SessionPool
from rlm_core.adapters import FakeAdapter


@dataclass
class Entry:
    session: Session
    used_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _session() -> Session:
    return RLM(FakeAdapter(default="FINAL: ok"), repl_backend="python").session()


def test_idle_sessions_close_and_busy_ones_stay() -> None:
    now = [0.0]
    pool: SessionPool[Entry] = SessionPool(idle_timeout=60, clock=lambda: now[0])
    quiet, busy = Entry(_session()), Entry(_session())
    pool.add("quiet", quiet)
    pool.add("busy", busy)
    busy.lock.acquire()  # in the middle of a turn
    now[0] = 61.0
    assert pool.close_idle() == 1
    assert quiet.session.closed and not busy.session.closed
    assert "busy" in pool and "quiet" not in pool and len(pool) == 1
    busy.lock.release()
    pool.close_all()
    assert busy.session.closed and len(pool) == 0


def test_beyond_max_sessions_one_turn_then_least_recently_used_go_first() -> None:
    now = [0.0]
    pool: SessionPool[Entry] = SessionPool(max_sessions=2, clock=lambda: now[0])
    talked = Entry(_session(), used_at=0.0)
    talked.session.run("one?")
    talked.session.run("two?")
    once = Entry(_session(), used_at=5.0)
    pool.add("talked", talked)
    pool.add("once", once)
    newest = Entry(_session(), used_at=9.0)
    pool.add("newest", newest)
    assert once.session.closed  # the one-turn conversation goes, though used more recently
    with pool.entries() as entries:
        assert set(entries) == {"talked", "newest"}
    pool.close_all()


def test_add_keeps_the_entry_already_there() -> None:
    # A clock at 0: the entries (used at 0) are not idle, so the idle timer cannot close one
    # between the asserts (with the real clock they look hours idle).
    pool: SessionPool[Entry] = SessionPool(clock=lambda: 0.0)
    first, second = Entry(_session()), Entry(_session())
    assert pool.add("k", first) is first
    assert pool.add("k", second) is first
    assert pool.session("k") is first.session and pool.get("missing") is None
    assert pool.close("k") and not pool.close("k")
    second.session.close()


def test_adding_something_that_is_not_an_entry_names_what_an_entry_needs() -> None:
    pool: SessionPool[Entry] = SessionPool()
    session = _session()
    for wrong in (session, Entry(session, used_at="now"), Entry("a session")):  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"entry must be an object with \.session"):
            pool.add("k", wrong)  # type: ignore[arg-type]
    assert len(pool) == 0
    pool.close_all()  # nothing half-added to trip over
    assert not session.closed
    session.close()


def test_the_timer_closes_idle_sessions_without_further_calls() -> None:
    pool: SessionPool[Entry] = SessionPool(idle_timeout=0.05)
    entry = Entry(_session(), used_at=time.monotonic())
    pool.add("k", entry)
    deadline = time.monotonic() + 5
    while not entry.session.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert entry.session.closed and len(pool) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_sessions": 0}, "max_sessions must be None or an int >= 1"),
        ({"idle_timeout": -1}, "idle_timeout must be a positive number"),
        ({"idle_timeout": True}, "idle_timeout must be a positive number"),
    ],
)
def test_bad_limits_name_the_fix(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SessionPool(**options)  # type: ignore[arg-type]


def test_an_entry_just_added_or_still_running_is_never_evicted() -> None:
    pool: SessionPool[Entry] = SessionPool(max_sessions=1)
    busy = Entry(_session())
    pool.add("busy", busy)
    busy.lock.acquire()
    newest = Entry(_session())
    assert pool.add("newest", newest) is newest
    assert not newest.session.closed and not busy.session.closed  # over the limit for now
    busy.lock.release()
    pool.turn_ended(busy)
    assert len(pool) == 1
    pool.close_all()


def test_a_session_still_running_a_turn_is_not_closed_when_idle() -> None:
    now = [0.0]
    pool: SessionPool[Entry] = SessionPool(idle_timeout=1, clock=lambda: now[0])
    entry = Entry(_session())
    pool.add("k", entry)
    entry.session._lock.acquire()  # a turn whose reader went away is still finishing
    now[0] = 5.0
    assert entry.session.busy and pool.close_idle() == 0
    entry.session._lock.release()
    assert pool.close_idle() == 1
