"""The record of a run: every root call, REPL execution and sub-call, in order."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from rlm_core.usage import Usage

StepKind = Literal[
    "root_call",
    "repl_exec",
    "subcall",
    "recursive_subcall",
    "sub_root_call",
    "sub_repl_exec",
    "sub_subcall",
]
STEP_KINDS: tuple[str, ...] = StepKind.__args__  # type: ignore[attr-defined]


@dataclass(slots=True)
class TraceStep:
    """One unit of work. ``parent_id`` links a sub-call to the REPL step that made it."""

    step_id: int
    kind: str
    depth: int = 0
    parent_id: int | None = None
    code: str | None = None
    stdout: str | None = None
    error: str | None = None
    prompt: str | None = None
    response: str | None = None
    model: str | None = None
    usage: Usage | None = None
    cache_hit: bool = False
    started_at: float = 0.0
    elapsed_s: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["usage"] = self.usage.to_dict() if self.usage is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceStep:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        usage = values.get("usage")
        if isinstance(usage, dict):
            values["usage"] = Usage(
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            )
        return cls(**values)


class Trace:
    """Ordered, thread-safe list of ``TraceStep`` with JSON round-tripping."""

    def __init__(self, steps: list[TraceStep] | None = None) -> None:
        self.steps: list[TraceStep] = list(steps or [])
        self.query: str | None = None
        self.answer: str | None = None
        self.error: str | None = None
        self.metadata: dict[str, Any] = {}
        self._lock = threading.Lock()

    def add(self, step: TraceStep) -> None:
        with self._lock:
            self.steps.append(step)

    def of_kind(self, *kinds: str) -> list[TraceStep]:
        """Steps whose kind is one of ``kinds``."""
        return [step for step in self.steps if step.kind in kinds]

    @property
    def usage(self) -> Usage:
        """Tokens used by every model call in the run."""
        total = Usage()
        for step in self.steps:
            if step.usage is not None:
                total = total + step.usage
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "query": self.query,
            "answer": self.answer,
            "error": self.error,
            "metadata": self.metadata,
            "usage": self.usage.to_dict(),
            "steps": [step.to_dict() for step in self.steps],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, data: str) -> Trace:
        try:
            raw = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a trace: invalid JSON ({exc})") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
            raise ValueError("not a trace: expected a JSON object with a 'steps' list")
        trace = cls([TraceStep.from_dict(step) for step in raw["steps"]])
        trace.query = raw.get("query")
        trace.answer = raw.get("answer")
        trace.error = raw.get("error")
        trace.metadata = dict(raw.get("metadata") or {})
        return trace

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"Trace(steps={len(self.steps)}, answer={self.answer!r:.60})"
