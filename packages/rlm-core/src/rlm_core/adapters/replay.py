"""Re-run a recorded trace offline: the recorded model replies drive the run again.

``replay_adapters(trace)`` returns a root adapter and a sub-call adapter. The root one
returns the ``response`` of each recorded root call (``root_call``, including
finalize/compaction calls) in order. The sub-call one answers each sub-call with the
recorded reply to the same prompt (so parallel batches replay correctly whatever order
their calls arrive in), falling back to recorded order for prompts it has not seen.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.errors import AdapterError

if TYPE_CHECKING:  # trace imports adapters.base: keep this module import-cycle free
    from rlm_core.trace import Trace, TraceStep

ROOT_KINDS = ("root_call",)
SUB_KINDS = ("subcall", "sub_root_call", "sub_subcall")


class ReplayAdapter:
    """Answers from recorded ``TraceStep``s; runs out loudly instead of inventing replies."""

    def __init__(self, steps: Iterable[TraceStep], *, model: str = "replay", keyed: bool = False):
        self.model = model
        self.keyed = keyed
        self._steps: deque[TraceStep] = deque(steps)
        self._by_prompt: dict[str, deque[TraceStep]] = defaultdict(deque)
        for step in self._steps:
            self._by_prompt[step.prompt or ""].append(step)
        self._lock = threading.Lock()
        self.calls = 0

    @property
    def remaining(self) -> int:
        """Recorded replies not used yet."""
        return len(self._steps)

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        with self._lock:
            step = self._next(messages)
            self.calls += 1
        if step.response is None:
            raise AdapterError(
                f"recorded step {step.step_id} ({step.kind}) failed: {step.error or 'no response'}"
            )
        return ModelResponse(text=step.response, usage=step.usage or Usage(), model=step.model)

    async def acomplete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        return self.complete(messages, max_tokens=max_tokens, temperature=temperature)

    def _next(self, messages: list[Message]) -> TraceStep:
        if self.keyed and messages:
            queue = self._by_prompt.get(messages[-1].get("content", ""))
            if queue:
                step = queue.popleft()
                self._steps.remove(step)
                return step
        if not self._steps:
            raise AdapterError(
                f"the recorded trace has no more {self.model} replies after {self.calls} calls: "
                "the replayed run diverged from the recording (different context, options or "
                "code version)"
            )
        step = self._steps.popleft()
        self._by_prompt[step.prompt or ""].remove(step)
        return step


def replay_adapters(trace: Trace) -> tuple[ReplayAdapter, ReplayAdapter]:
    """``(root_adapter, subcall_adapter)`` that reproduce ``trace``'s model replies."""
    roots = [step for step in trace.steps if step.kind in ROOT_KINDS]
    if not roots:
        raise AdapterError("the trace has no root_call steps to replay")
    subs = [step for step in trace.steps if step.kind in SUB_KINDS]
    return (
        ReplayAdapter(roots, model=_model_of(roots, "replay-root")),
        ReplayAdapter(subs, model=_model_of(subs, "replay-sub"), keyed=True),
    )


def _model_of(steps: list[TraceStep], default: str) -> str:
    for step in steps:
        if step.model:
            return step.model
    return default
