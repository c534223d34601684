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


class TraceFormatError(ValueError):
    """A saved trace is not JSON, or one of its fields has the wrong type (the message names it)."""


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
    def from_dict(cls, data: Any, *, where: str = "step") -> TraceStep:
        """A step from its ``to_dict`` form; ``TraceFormatError`` naming the first bad field.

        Unknown keys are ignored (traces from newer versions still load).
        """
        if not isinstance(data, dict):
            raise TraceFormatError(f"{where} must be a JSON object, got {_shown(data)}")
        missing = [name for name in ("step_id", "kind") if name not in data]
        if missing:
            raise TraceFormatError(f"{where} has no {' or '.join(map(repr, missing))}")
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name in data:
                values[item.name] = _checked(where, item.name, data[item.name])
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
        """The trace saved by ``to_json``; ``TraceFormatError`` (a ``ValueError``) naming what
        is wrong when ``data`` is not one."""
        try:
            raw = json.loads(data)
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"not a trace: invalid JSON ({exc})") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
            raise TraceFormatError("not a trace: expected a JSON object with a 'steps' list")
        steps = [
            TraceStep.from_dict(step, where=f"steps[{index}]")
            for index, step in enumerate(raw["steps"])
        ]
        trace = cls(steps)
        for name in ("query", "answer", "error"):
            value = raw.get(name)
            if value is not None and not isinstance(value, str):
                raise TraceFormatError(f"{name!r} must be text or null, got {_shown(value)}")
            setattr(trace, name, value)
        metadata = raw.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise TraceFormatError(f"'metadata' must be an object or null, got {_shown(metadata)}")
        trace.metadata = dict(metadata or {})
        return trace

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"Trace(steps={len(self.steps)}, answer={self.answer!r:.60})"


# -- reading a saved step: each field checked, so a damaged file fails on load, by name ---------
_TEXT_FIELDS = frozenset({"code", "stdout", "error", "prompt", "response", "model"})
_NUMBER_FIELDS = frozenset({"started_at", "elapsed_s"})


def _checked(where: str, name: str, value: Any) -> Any:
    """``value`` of the step field ``name``, as the dataclass holds it."""
    if name == "usage":
        return None if value is None else _usage(f"{where}.usage", value)
    if name in _TEXT_FIELDS:
        return _expect(where, name, value, str, "text or null", nullable=True)
    if name in _NUMBER_FIELDS:
        return float(_expect(where, name, value, (int, float), "a number"))
    if name == "cache_hit":
        return _expect(where, name, value, bool, "true or false")
    if name == "metadata":
        return _expect(where, name, value, dict, "an object")
    nullable = name == "parent_id"
    if name in ("step_id", "depth", "parent_id"):
        what = "an integer or null" if nullable else "an integer"
        return _expect(where, name, value, int, what, nullable=nullable)
    return _expect(where, name, value, str, "text")  # kind


def _expect(
    where: str,
    name: str,
    value: Any,
    kinds: type | tuple[type, ...],
    what: str,
    *,
    nullable: bool = False,
) -> Any:
    if value is None and nullable:
        return None
    boolean_ok = kinds is bool
    if not isinstance(value, kinds) or (isinstance(value, bool) and not boolean_ok):
        raise TraceFormatError(f"{where}.{name} must be {what}, got {_shown(value)}")
    return value


def _usage(where: str, value: Any) -> Usage:
    if not isinstance(value, dict):
        raise TraceFormatError(
            f"{where} must be an object with prompt_tokens and completion_tokens, "
            f"got {_shown(value)}"
        )
    counts = {}
    for name in ("prompt_tokens", "completion_tokens"):
        count = value.get(name, 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TraceFormatError(
                f"{where}.{name} must be a whole number >= 0, got {_shown(count)}"
            )
        counts[name] = count
    return Usage(**counts)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
