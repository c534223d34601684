"""When a failed HTTP attempt is retried, and how long to wait first."""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now)
    return None if math.isnan(seconds) else max(0.0, seconds)


def _seconds_until(http_date: str, now: datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Decides whether a failed attempt is retried, and how long to wait before it.

    Attempts are numbered from 0; ``max_retries=3`` allows four attempts in all.
    The wait is ``backoff_base * 2**attempt`` plus up to 10 % jitter, or the
    server's ``Retry-After`` when given, and never more than ``backoff_max``.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    retry_timeouts: bool = True
    """Whether a request that timed out after it was sent is tried again (a connect
    timeout always is: the server never saw that request)."""

    def allows_retry(self, attempt: int) -> bool:
        """Whether another attempt may follow failed attempt number ``attempt``."""
        return attempt < self.max_retries

    def retries_status(self, status: int) -> bool:
        return status in self.retry_statuses

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt``."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(self.backoff_max, hinted)
        base = self.backoff_base * 2.0 ** min(attempt, 32)
        return min(self.backoff_max, base + random.uniform(0.0, base * 0.1))
