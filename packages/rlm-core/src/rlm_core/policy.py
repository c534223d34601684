"""Resource limits (``Policy``) and their thread-safe per-run accounting (``Budget``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from rlm_core.errors import (
    ConfigError,
    ConsecutiveErrorsExceeded,
    MaxCostExceeded,
    MaxRecursionExceeded,
    MaxStepsExceeded,
    MaxSubcallsExceeded,
    MaxTimeExceeded,
    MaxTokensExceeded,
    PolicyError,
)
from rlm_core.usage import Usage

OnLimit = Literal["finalize", "raise"]
Price = tuple[float, float]
"""USD per 1,000 prompt tokens and per 1,000 completion tokens."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Limits for one run.

    When a limit is hit the run finalizes gracefully (the model is asked for its
    best answer from what it gathered); with ``on_limit="raise"`` the matching
    ``PolicyError`` subclass is raised instead, carrying the trace.
    """

    max_steps: int = 40
    max_subcalls: int = 200
    max_recursion_depth: int = 2
    max_total_tokens: int | None = None
    max_subcall_tokens: int | None = None
    max_seconds: float | None = None
    max_consecutive_errors: int | None = None
    max_cost_usd: float | None = None
    on_limit: OnLimit = "finalize"

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_subcalls"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Policy.{name} must be an int >= 1, got {value!r}")
        depth = self.max_recursion_depth
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise ConfigError(f"Policy.max_recursion_depth must be an int >= 0, got {depth!r}")
        for name in ("max_total_tokens", "max_subcall_tokens"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"Policy.{name} must be None or an int >= 1, got {value!r}")
        for name in ("max_seconds", "max_cost_usd"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
            ):
                raise ConfigError(f"Policy.{name} must be None or a number > 0, got {value!r}")
        errors = self.max_consecutive_errors
        if errors is not None and (
            isinstance(errors, bool) or not isinstance(errors, int) or errors < 1
        ):
            raise ConfigError(
                f"Policy.max_consecutive_errors must be None or an int >= 1, got {errors!r}"
            )
        if self.on_limit not in ("finalize", "raise"):
            raise ConfigError(
                f"Policy.on_limit must be 'finalize' or 'raise', got {self.on_limit!r}"
            )


class Budget:
    """Counts what one run has used against a ``Policy``; safe across threads.

    The first limit hit is remembered in ``exhausted`` so the engine can stop
    the loop even when model code swallowed the exception.
    """

    def __init__(self, policy: Policy, prices: Mapping[str, Price] | None = None) -> None:
        self.policy = policy
        self.prices = dict(prices or {})
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.subcalls = 0
        self.total_tokens = 0
        self.subcall_tokens = 0
        self.cost_usd = 0.0
        self.consecutive_errors = 0
        self.exhausted: PolicyError | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def cost_of(self, usage: Usage, model: str | None) -> float | None:
        """The price of one call in USD (``None`` when ``prices`` has no entry for ``model``)."""
        price = self.prices.get(model) if model is not None else None
        if price is None:
            return None
        per_1k_in, per_1k_out = price
        return (usage.prompt_tokens * per_1k_in + usage.completion_tokens * per_1k_out) / 1000

    def status(self, step: int) -> str:
        """One short line on where the run stands, shown to the model each root step."""
        policy = self.policy
        parts = [f"step {step} of {policy.max_steps}"]
        if policy.max_total_tokens is not None:
            parts.append(f"{max(policy.max_total_tokens - self.total_tokens, 0):,} tokens left")
        else:
            parts.append(f"{self.total_tokens:,} tokens used")
        if policy.max_cost_usd is not None:
            parts.append(f"${max(policy.max_cost_usd - self.cost_usd, 0):.4f} left")
        elif self.prices:
            parts.append(f"${self.cost_usd:.4f} spent")
        if policy.max_seconds is not None:
            parts.append(f"{max(policy.max_seconds - self.elapsed, 0):.0f}s left")
        if policy.max_subcalls is not None and self.subcalls:
            parts.append(f"{policy.max_subcalls - self.subcalls} sub-calls left")
        if policy.max_consecutive_errors is not None and self.consecutive_errors:
            parts.append(
                f"{self.consecutive_errors} failed code steps in a row "
                f"(limit {policy.max_consecutive_errors})"
            )
        return "Status: " + "; ".join(parts) + "."

    def check_time(self) -> None:
        """Raise ``MaxTimeExceeded`` once the run is older than ``Policy.max_seconds``."""
        limit = self.policy.max_seconds
        if limit is not None and self.elapsed > limit:
            raise self._fail(
                MaxTimeExceeded(
                    f"the run took longer than max_seconds={limit:g} (Policy.max_seconds)"
                )
            )

    def record_exec(self, ok: bool) -> None:
        """Count failed code steps in a row; ``ConsecutiveErrorsExceeded`` at the limit."""
        self.consecutive_errors = 0 if ok else self.consecutive_errors + 1
        limit = self.policy.max_consecutive_errors
        if limit is not None and self.consecutive_errors >= limit:
            raise self._fail(
                ConsecutiveErrorsExceeded(
                    f"{self.consecutive_errors} code steps in a row failed "
                    f"(Policy.max_consecutive_errors={limit})"
                )
            )

    def _fail(self, error: PolicyError) -> PolicyError:
        if self.exhausted is None:
            self.exhausted = error
        return error

    def check_step(self, step: int) -> None:
        """Raise ``MaxStepsExceeded`` when ``step`` (1-based) is past the limit (and
        ``MaxTimeExceeded`` when the run is out of time)."""
        self.check_time()
        if step > self.policy.max_steps:
            raise self._fail(
                MaxStepsExceeded(
                    f"the run used all {self.policy.max_steps} steps (Policy.max_steps)"
                )
            )

    def take_subcalls(self, count: int = 1) -> None:
        """Reserve ``count`` sub-calls or raise ``MaxSubcallsExceeded`` (``MaxTimeExceeded``
        once the run is out of time). Once a token or cost budget is used up, no new
        sub-call starts: the error that used it up is raised again."""
        self.check_time()
        spent = self.exhausted
        if isinstance(spent, MaxTokensExceeded | MaxCostExceeded):
            raise type(spent)(f"{spent}; no further sub-calls are made")
        with self._lock:
            if self.subcalls + count > self.policy.max_subcalls:
                raise self._fail(
                    MaxSubcallsExceeded(
                        f"sub-call limit reached: {self.subcalls} used, {count} more requested, "
                        f"Policy.max_subcalls={self.policy.max_subcalls}"
                    )
                )
            self.subcalls += count

    def check_depth(self, depth: int) -> None:
        """Raise ``MaxRecursionExceeded`` when ``depth`` is past the limit."""
        if depth > self.policy.max_recursion_depth:
            raise self._fail(
                MaxRecursionExceeded(
                    f"recursion depth {depth} exceeds "
                    f"max_recursion_depth={self.policy.max_recursion_depth}"
                )
            )

    def add_usage(self, usage: Usage, *, subcall: bool, model: str | None = None) -> float | None:
        """Account a model call's tokens (and cost, with ``prices``); returns the call's
        cost. Raises ``MaxTokensExceeded`` / ``MaxCostExceeded`` past a limit."""
        tokens = usage.total_tokens
        cost = self.cost_of(usage, model)
        with self._lock:
            self.total_tokens += tokens
            if subcall:
                self.subcall_tokens += tokens
            if cost is not None:
                self.cost_usd += cost
            total, sub, spent = self.total_tokens, self.subcall_tokens, self.cost_usd
        cost_limit = self.policy.max_cost_usd
        if cost_limit is not None and spent > cost_limit:
            raise self._fail(
                MaxCostExceeded(f"cost budget used up: ${spent:.4f} > max_cost_usd=${cost_limit:g}")
            )
        limit = self.policy.max_total_tokens
        if limit is not None and total > limit:
            raise self._fail(
                MaxTokensExceeded(f"token budget used up: {total} > max_total_tokens={limit}")
            )
        sub_limit = self.policy.max_subcall_tokens
        if subcall and sub_limit is not None and sub > sub_limit:
            raise self._fail(
                MaxTokensExceeded(
                    f"sub-call token budget used up: {sub} > max_subcall_tokens={sub_limit}"
                )
            )
        return cost
