"""Validated engine options, built by the ``RLM`` facade and shared by every loop of a run."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rlm_core.adapters.base import ModelAdapter
from rlm_core.engine.prompts import COMPACTION_PROMPT, DEFAULT_PROMPTS, PromptParts
from rlm_core.events import Event, EventBus, EventType
from rlm_core.policy import Budget, Policy, Price
from rlm_core.trace import Trace, TraceStep

if TYPE_CHECKING:
    from rlm_core.cache import FileCache
    from rlm_core.repl.base import REPLFactory


@dataclass(frozen=True, slots=True)
class CompactionSettings:
    """When and how old turns are summarised (``threshold_tokens`` is resolved)."""

    threshold_tokens: int
    keep_last_turns: int = 2
    summary_max_tokens: int = 1024
    prompt: str = COMPACTION_PROMPT


@dataclass(frozen=True, slots=True)
class GuardSettings:
    require_repl_before_final: bool = False
    require_subcall_before_final: bool = False
    invalid_response_limit: int | None = None
    fallback_code: str | Callable[[str], str] | None = None
    """Code to run, or a function that builds it from the run's question."""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    adapter: ModelAdapter
    subcall_adapter: ModelAdapter
    policy: Policy
    repl_factory: REPLFactory
    system_prompt: str | None = None
    max_output_tokens: int = 4096
    subcall_max_output_tokens: int = 1024
    temperature: float = 0.0
    parallel_subcalls: bool = False
    max_concurrent_subcalls: int = 10
    recursive_subcalls: bool = False
    subcall_context_window: int | None = None
    cache: FileCache | None = None
    retriever: Any = None
    conversation_history: bool = True
    compaction: CompactionSettings | None = None
    max_history_tokens: int = 0
    guards: GuardSettings = field(default_factory=GuardSettings)
    auto_finalize_var: str | None = None
    max_output_chars: int = 4000
    prompts: PromptParts = DEFAULT_PROMPTS
    tools: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    prices: Mapping[str, Price] = field(default_factory=dict)
    """USD per 1k prompt and completion tokens by model id (``RLM(prices=...)``)."""
    """The user's tools by name (``RLM(tools=...)``), callable from model code."""
    chosen: dict[str, Any] = field(default_factory=dict)
    """The profile and options this run uses, as recorded in the trace (JSON-safe)."""


class RunState:
    """What every loop, REPL and sub-call of one top-level run shares."""

    def __init__(
        self,
        settings: EngineSettings,
        bus: EventBus,
        trace: Trace,
        *,
        run_id: str,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.trace = trace
        self.run_id = run_id
        self.loop = loop
        self.budget = Budget(settings.policy, settings.prices)
        self._ids = itertools.count(1)

    def new_step(
        self,
        kind: str,
        *,
        depth: int,
        parent_id: int | None,
        announce: bool = True,
        **values: Any,
    ) -> TraceStep:
        """A step with a fresh id, started now unless ``announce`` is False (then the
        caller starts it with ``start_step`` when the work really begins)."""
        step = TraceStep(
            step_id=next(self._ids), kind=kind, depth=depth, parent_id=parent_id, **values
        )
        if announce:
            self.start_step(step)
        return step

    def start_step(self, step: TraceStep) -> None:
        """Stamp the start time and announce ``step_start``."""
        step.started_at = time.time()
        self._announce("step_start", step)

    def end_step(self, step: TraceStep) -> None:
        """Stamp the elapsed time and announce ``step_end`` (the trace records it)."""
        step.elapsed_s = time.time() - step.started_at
        self._announce("step_end", step)

    def _announce(self, type: EventType, step: TraceStep) -> None:
        """``emit(type, depth=step.depth, step=step)`` without the keyword packing: every
        sub-call passes here twice, on the event loop for async runs."""
        self.bus.emit(
            Event(type, self.run_id, step.depth, step.kind, step.step_id, step.parent_id, step)
        )

    def emit(
        self, type: EventType, *, depth: int = 0, step: TraceStep | None = None, **data: Any
    ) -> None:
        self.bus.emit(
            Event(
                type=type,
                run_id=self.run_id,
                depth=depth,
                kind=step.kind if step else None,
                step_id=step.step_id if step else None,
                parent_id=step.parent_id if step else None,
                step=step,
                data=data,
            )
        )


SubRunLauncher = Callable[..., Any]
