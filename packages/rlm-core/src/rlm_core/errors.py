"""Public exception classes. Every message says what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlm_core.trace import Trace


class RLMError(Exception):
    """Base class of every error raised by rlm-core.

    ``trace`` holds the steps recorded before the failure, so a run that fails
    part-way never loses its work.
    """

    trace: Trace | None = None


class ConfigError(RLMError, ValueError):
    """An option given to ``RLM``, ``Policy`` or an adapter has an invalid value."""


class ContextError(RLMError, ValueError):
    """The context passed to a run is missing, empty or of the wrong type."""


class AdapterError(RLMError):
    """A model adapter failed (transport error, bad status, malformed reply)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class SubcallTooLargeError(RLMError, ValueError):
    """A sub-model prompt does not fit the sub-model's context window."""


class PolicyError(RLMError):
    """A resource limit set in ``Policy`` was exceeded."""


class MaxStepsExceeded(PolicyError):
    """The root loop used ``Policy.max_steps`` steps without finalizing."""


class MaxSubcallsExceeded(PolicyError):
    """More sub-model calls were requested than ``Policy.max_subcalls`` allows."""


class MaxRecursionExceeded(PolicyError):
    """A recursive sub-call went deeper than ``max_recursion_depth``."""


class MaxTokensExceeded(PolicyError):
    """``Policy.max_total_tokens`` or ``Policy.max_subcall_tokens`` was used up."""


class MaxTimeExceeded(PolicyError):
    """The run took longer than ``Policy.max_seconds``."""


class MaxCostExceeded(PolicyError):
    """The run's model calls cost more than ``Policy.max_cost_usd`` (priced by ``prices=``)."""


class ConsecutiveErrorsExceeded(PolicyError):
    """``Policy.max_consecutive_errors`` code steps in a row failed."""


class SessionError(RLMError):
    """A session is closed, busy, or its state cannot be saved or restored."""


class OutputValidationError(RLMError, ValueError):
    """The final answer did not match ``output_type``, even after one repair turn."""


class ReplError(RLMError):
    """The REPL backend could not be created or failed outside model code."""
