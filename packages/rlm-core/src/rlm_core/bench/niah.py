"""``rlm bench niah``: single-needle haystacks, RLM versus the same model called directly.

For every task the RLM gets the whole haystack in its REPL; the baseline sends the
haystack in the prompt, cut (from the end) to fit the model's context window. Both
answers are scored by whether they contain the needle's value. Per task we record
accuracy, tokens, seconds, and for RLM runs whether the model's own code found the
needle or a guard's fallback code had to rescue the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from rlm_core.adapters.base import ModelAdapter, Usage
from rlm_core.bench.families import FamilyTask, make_family_tasks
from rlm_core.bench.haystack import NiahTask, is_correct, make_tasks
from rlm_core.engine.tokens import context_window_of
from rlm_core.errors import RLMError
from rlm_core.events import Event
from rlm_core.policy import Policy
from rlm_core.rlm import RLM
from rlm_core.trace import Trace

DEFAULT_SIZES = (8_000, 32_000, 128_000, 1_000_000)
QUICK_SIZES = (8_000, 32_000)
BASELINE_SYSTEM = "Answer the question using only the text. Reply with the answer only."
BASELINE_OVERHEAD_TOKENS = 96
BASELINE_MAX_TOKENS = 48
METHODS = ("rlm", "baseline")


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run. ``baseline_window`` overrides the model's context window."""

    sizes: tuple[int, ...] = DEFAULT_SIZES
    tasks_per_size: int = 3
    methods: tuple[str, ...] = METHODS
    profile: str = "small"
    max_steps: int = 6
    seed: int = 0
    baseline_window: int | None = None
    max_output_tokens: int = 384
    subcall_max_output_tokens: int = 96
    family: str = "niah"
    """``niah``, ``multihop`` or ``aggregation`` (``rlm_core.bench.families``)."""
    variant: str | None = None
    """One question type only: ``2``/``3`` hops (multihop), ``count``/``sum``/``mode``
    (aggregation); ``None`` mixes them."""


@dataclass(slots=True)
class TaskResult:
    """One method on one task."""

    task_id: str
    size_tokens: int
    method: str
    correct: bool
    expected: str
    answer: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    root_calls: int = 0
    code_steps: int = 0
    guards: int = 0
    rescued: bool = False
    model_code_found: bool = False
    context_kept: float = 1.0  # baseline: the share of the haystack that fit the window
    error: str | None = None
    score: float = 0.0  # partial credit from 0 to 1 (niah: 1 when correct)
    trace: Trace | None = field(default=None, repr=False)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_row(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "trace"}
        row["total_tokens"] = self.total_tokens
        return row


Progress = Callable[[TaskResult], None]
Task = NiahTask | FamilyTask


def grade(task: Task, answer: str) -> tuple[bool, float]:
    """(exactly right, partial credit) of ``answer`` to ``task``."""
    if isinstance(task, FamilyTask):
        return task.grade(answer)
    correct = is_correct(answer, task.answer)
    return correct, 1.0 if correct else 0.0


class _Counter:
    def __init__(self) -> None:
        self.guards = 0

    def __call__(self, event: Event) -> None:
        if event.type == "guard" and event.depth == 0:
            self.guards += 1


def run_rlm(
    task: Task,
    adapter: ModelAdapter,
    config: BenchConfig,
    subcall_adapter: ModelAdapter | None = None,
) -> TaskResult:
    """Answer ``task`` with an RLM over the whole haystack."""
    counter = _Counter()
    rlm = RLM(
        adapter,
        subcall_adapter=subcall_adapter,
        policy=Policy(max_steps=config.max_steps),
        max_output_tokens=config.max_output_tokens,
        subcall_max_output_tokens=config.subcall_max_output_tokens,
        event_listener=counter,
        profile=config.profile,
    )
    started = time.perf_counter()
    trace: Trace | None
    try:
        answer, trace = rlm.run(task.question, task.context)
        error = None
    except RLMError as failure:
        answer, trace, error = "", failure.trace, f"{type(failure).__name__}: {failure}"
    seconds = time.perf_counter() - started
    steps = trace.steps if trace is not None else []
    usage = trace.usage if trace is not None else Usage()
    own_code = [
        s for s in steps if s.kind == "repl_exec" and s.metadata.get("purpose") != "fallback"
    ]
    correct, score = grade(task, answer)
    return TaskResult(
        task.task_id, task.size_tokens, "rlm", correct, task.answer,
        answer.strip(), usage.prompt_tokens, usage.completion_tokens, seconds,
        root_calls=sum(1 for s in steps if s.kind == "root_call"),
        code_steps=len(own_code),
        guards=counter.guards,
        rescued=any(s.metadata.get("purpose") == "fallback" for s in steps),
        model_code_found=any(task.answer in (s.stdout or "") for s in own_code),
        error=error,
        score=score,
        trace=trace,
    )  # fmt: skip


def _chars_per_token(adapter: ModelAdapter, text: str) -> float:
    counter = getattr(adapter, "count_tokens", None)
    sample = text[:20_000]
    if callable(counter) and sample:
        return len(sample) / max(int(counter(sample)), 1)
    return 3.5  # conservative for English prose when no tokenizer is available


def truncate_to_window(adapter: ModelAdapter, text: str, window: int) -> str:
    """The head of ``text`` that fits ``window`` tokens with room for the question and answer."""
    budget = window - BASELINE_OVERHEAD_TOKENS - BASELINE_MAX_TOKENS
    if budget <= 0:
        raise ValueError(f"a context window of {window} tokens is too small for the baseline")
    keep = int(budget * _chars_per_token(adapter, text) * 0.95)
    return text[:keep]


def run_baseline(task: Task, adapter: ModelAdapter, config: BenchConfig) -> TaskResult:
    """Answer ``task`` by calling the model directly with the (truncated) haystack."""
    window = config.baseline_window or context_window_of(adapter)
    if window is None:
        raise ValueError(
            "the model's context window is unknown: pass --baseline-window TOKENS (or --n-ctx)"
        )
    text = truncate_to_window(adapter, task.context, window)
    messages = [
        {"role": "system", "content": BASELINE_SYSTEM},
        {"role": "user", "content": f"Text:\n{text}\n\nQuestion: {task.question}"},
    ]
    started = time.perf_counter()
    try:
        response = adapter.complete(messages, max_tokens=BASELINE_MAX_TOKENS, temperature=0.0)
        answer, usage, error = response.text, response.usage, None
    except Exception as failure:
        answer, usage, error = "", Usage(), f"{type(failure).__name__}: {failure}"
    seconds = time.perf_counter() - started
    correct, score = grade(task, answer)
    return TaskResult(
        task.task_id, task.size_tokens, "baseline", correct, task.answer,
        answer.strip(), usage.prompt_tokens, usage.completion_tokens, seconds, root_calls=1,
        context_kept=round(len(text) / len(task.context), 4), error=error, score=score,
    )  # fmt: skip


def run_bench(
    config: BenchConfig,
    adapter: ModelAdapter,
    *,
    subcall_adapter: ModelAdapter | None = None,
    progress: Progress | None = None,
) -> list[TaskResult]:
    """Every method on every task; baseline calls run back to back (prefix-cache friendly)."""
    unknown = set(config.methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}: choose from {list(METHODS)}")
    tasks: list[Task]
    if config.family == "niah":
        tasks = list(make_tasks(list(config.sizes), config.tasks_per_size, config.seed))
    else:
        tasks = list(
            make_family_tasks(
                config.family,
                list(config.sizes),
                config.tasks_per_size,
                config.seed,
                variant=config.variant,
            )
        )
    results: list[TaskResult] = []
    for method in config.methods:
        for task in tasks:
            if method == "rlm":
                result = run_rlm(task, adapter, config, subcall_adapter)
            else:
                result = run_baseline(task, adapter, config)
            results.append(result)
            if progress is not None:
                progress(result)
    return results
