"""Resource limits (``Policy``) and their thread-safe per-run accounting (``Budget``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from rlm_core.errors import (
    ConfigError,
    MaxRecursionExceeded,
    MaxStepsExceeded,
    MaxSubcallsExceeded,
    MaxTokensExceeded,
    PolicyError,
)
from rlm_core.usage import Usage

OnLimit = Literal["finalize", "raise"]


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
        if self.on_limit not in ("finalize", "raise"):
            raise ConfigError(
                f"Policy.on_limit must be 'finalize' or 'raise', got {self.on_limit!r}"
            )


class Budget:
    """Counts what one run has used against a ``Policy``; safe across threads.

    The first limit hit is remembered in ``exhausted`` so the engine can stop
    the loop even when model code swallowed the exception.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self.subcalls = 0
        self.total_tokens = 0
        self.subcall_tokens = 0
        self.exhausted: PolicyError | None = None

    def _fail(self, error: PolicyError) -> PolicyError:
        if self.exhausted is None:
            self.exhausted = error
        return error

    def check_step(self, step: int) -> None:
        """Raise ``MaxStepsExceeded`` when ``step`` (1-based) is past the limit."""
        if step > self.policy.max_steps:
            raise self._fail(
                MaxStepsExceeded(
                    f"the run used all {self.policy.max_steps} steps (Policy.max_steps)"
                )
            )

    def take_subcalls(self, count: int = 1) -> None:
        """Reserve ``count`` sub-calls or raise ``MaxSubcallsExceeded``."""
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

    def add_usage(self, usage: Usage, *, subcall: bool) -> None:
        """Account a model call's tokens; raise ``MaxTokensExceeded`` past a token limit."""
        tokens = usage.total_tokens
        with self._lock:
            self.total_tokens += tokens
            if subcall:
                self.subcall_tokens += tokens
            total, sub = self.total_tokens, self.subcall_tokens
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
