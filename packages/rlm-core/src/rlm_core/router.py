"""``SmartRouter``: answer small contexts with one direct call, large ones with an RLM.

The execution profile shapes the RLM run: guidance appended to the system
prompt (the ``guidance`` prompt part) plus the engine options that make the
strategy happen (parallel sub-calls, guards, recursion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from rlm_core.adapters.base import ModelAdapter, acomplete, check_response
from rlm_core.context import Context
from rlm_core.engine.prompts import DEFAULT_PROMPTS
from rlm_core.errors import ConfigError, ContextError
from rlm_core.options import RLMOptions
from rlm_core.rlm import RLM
from rlm_core.trace import Trace

BASELINE_SYSTEM_PROMPT = (
    "Answer the question using only the context given. Be concise; if the context does not "
    "contain the answer, say so."
)


class ExecutionProfile(StrEnum):
    """How an RLM run should work the context."""

    DETERMINISTIC_FIRST = "deterministic_first"
    """Code first (grep, extract_after, regex, slicing); sub-models only if code fails."""
    SEMANTIC_BATCHES = "semantic_batches"
    """Chunk the context and ask sub-models about every chunk, in parallel."""
    HYBRID = "hybrid"
    """Deterministic search first, fall back to semantic sub-calls on the relevant parts."""
    VERIFY = "verify"
    """Find a candidate answer, then check it with (recursive) sub-calls before answering."""


_GUIDANCE = {
    ExecutionProfile.DETERMINISTIC_FIRST: (
        "Strategy: solve this with code. Use grep, extract_after, regular expressions and "
        "slicing of P to find the answer; call a sub-model only if code cannot find it."
    ),
    ExecutionProfile.SEMANTIC_BATCHES: (
        "Strategy: split P into chunks and ask a sub-model about every chunk with ask_chunks "
        "or llm_batch (they run in parallel); combine the replies in code, then answer."
    ),
    ExecutionProfile.HYBRID: (
        "Strategy: first search P with code (grep, extract_after). If that finds nothing "
        "conclusive, ask sub-models about the relevant chunks (ask_chunks), then answer."
    ),
    ExecutionProfile.VERIFY: (
        "Strategy: find a candidate answer, then verify it: ask a sub-model to check it "
        "against the supporting text (ask or llm_query) before you give FINAL."
    ),
}

_ENGINE_OPTIONS: dict[ExecutionProfile, dict[str, Any]] = {
    ExecutionProfile.DETERMINISTIC_FIRST: {"require_repl_before_final": True},
    ExecutionProfile.SEMANTIC_BATCHES: {"parallel_subcalls": True},
    ExecutionProfile.HYBRID: {"require_repl_before_final": True, "parallel_subcalls": True},
    ExecutionProfile.VERIFY: {
        "require_repl_before_final": True,
        "require_subcall_before_final": True,
        "recursive_subcalls": True,
        "max_recursion_depth": 1,  # one level of checking; nested sub-calls are plain
    },
}


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """``baseline_threshold``: contexts shorter than this many characters get one direct
    call; the rest go to an RLM."""

    baseline_threshold: int = 8000
    baseline_max_tokens: int = 1024
    baseline_system_prompt: str = BASELINE_SYSTEM_PROMPT
    default_profile: ExecutionProfile = ExecutionProfile.HYBRID

    def __post_init__(self) -> None:
        for name in ("baseline_threshold", "baseline_max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"RouterConfig.{name} must be an int >= 1, got {value!r}")
        if not isinstance(self.default_profile, ExecutionProfile):
            raise ConfigError("RouterConfig.default_profile must be an ExecutionProfile")


@dataclass(slots=True)
class RouterResult:
    """What ``SmartRouter.run`` returns."""

    method: Literal["baseline", "rlm"]
    output: str
    tokens_used: int
    profile: ExecutionProfile
    context_chars: int
    trace: Trace | None = None
    options: dict[str, Any] = field(default_factory=dict)


class SmartRouter:
    """Pick a direct call or an RLM run by context size.

    ``SmartRouter(adapter, config=None, *, options=None, **rlm_options)``: the RLM
    options (an ``RLMOptions`` and/or keywords, validated now, so a bad option fails
    here) are passed to every ``RLM``; your explicit options win over the profile's
    engine options.
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        config: RouterConfig | None = None,
        *,
        options: RLMOptions | None = None,
        **rlm_options: Any,
    ) -> None:
        if config is not None and not isinstance(config, RouterConfig):
            raise ConfigError(f"config must be a RouterConfig, got {type(config).__name__}")
        self.config = config or RouterConfig()
        self.adapter = adapter
        self.options = RLMOptions.from_arguments(options, rlm_options)
        RLM(adapter, options=self.options)  # fail now on options that depend on the model

    @property
    def rlm_options(self) -> dict[str, Any]:
        """The RLM options you set, by name."""
        return self.options.explicit()

    def rlm_for(self, profile: ExecutionProfile) -> RLM:
        """The RLM configured for ``profile`` (profile options under yours)."""
        return RLM(self.adapter, options=self._options(_profile(profile)))

    def run(
        self,
        query: str,
        context: Context | str | list[str] | None = None,
        profile: ExecutionProfile | None = None,
    ) -> RouterResult:
        """Answer ``query``; ``result.method`` says which path was taken."""
        chosen = _profile(profile or self.config.default_profile)
        ctx, size = self._size(query, context)
        if ctx is not None and size < self.config.baseline_threshold:
            messages, max_tokens, temperature = self._baseline_request(query, ctx)
            response = check_response(
                self.adapter.complete(messages, max_tokens=max_tokens, temperature=temperature),
                self.adapter,
            )
            return RouterResult(
                "baseline", response.text, response.usage.total_tokens, chosen, size
            )
        answer, trace = self.rlm_for(chosen).run(query, ctx)
        return self._rlm_result(answer, trace, chosen, size)

    async def arun(
        self,
        query: str,
        context: Context | str | list[str] | None = None,
        profile: ExecutionProfile | None = None,
    ) -> RouterResult:
        """``run`` without blocking the event loop."""
        chosen = _profile(profile or self.config.default_profile)
        ctx, size = self._size(query, context)
        if ctx is not None and size < self.config.baseline_threshold:
            messages, max_tokens, temperature = self._baseline_request(query, ctx)
            response = check_response(
                await acomplete(
                    self.adapter, messages, max_tokens=max_tokens, temperature=temperature
                ),
                self.adapter,
            )
            return RouterResult(
                "baseline", response.text, response.usage.total_tokens, chosen, size
            )
        answer, trace = await self.rlm_for(chosen).arun(query, ctx)
        return self._rlm_result(answer, trace, chosen, size)

    # -- internals ------------------------------------------------------------------------
    def _size(self, query: Any, context: Any) -> tuple[Context | None, int]:
        if not isinstance(query, str) or not query.strip():
            raise ContextError(f"query must be a non-empty str, got {query!r:.80}")
        if context is None:
            return None, 0  # only an RLM with a retriever can answer without context
        ctx = Context.coerce(context)
        return ctx, ctx.len_chars()

    def _baseline_request(
        self, query: str, ctx: Context
    ) -> tuple[list[dict[str, str]], int, float]:
        messages = [
            {"role": "system", "content": self.config.baseline_system_prompt},
            {"role": "user", "content": f"Context:\n{ctx.text}\n\nQuestion: {query}"},
        ]
        temperature = self.options.temperature
        return messages, self.config.baseline_max_tokens, temperature

    def _options(self, profile: ExecutionProfile) -> RLMOptions:
        defaults = dict(_ENGINE_OPTIONS[profile])
        mine = self.options.explicit()
        if "policy" in mine:  # the user's Policy decides the recursion depth
            defaults.pop("max_recursion_depth", None)
        prompts = self.options.resolved().prompts or DEFAULT_PROMPTS
        guided = prompts.replace(guidance=_GUIDANCE[profile])
        return RLMOptions(**{**defaults, **mine, "prompts": guided})

    def _rlm_result(
        self, answer: str, trace: Trace, profile: ExecutionProfile, size: int
    ) -> RouterResult:
        options = self._options(profile).explicit()
        for key in ("retriever", "system_prompt", "prompts", "policy", "cache", "event_listener"):
            options.pop(key, None)
        return RouterResult("rlm", answer, trace.usage.total_tokens, profile, size, trace, options)


def _profile(value: Any) -> ExecutionProfile:
    try:
        return ExecutionProfile(value)
    except ValueError:
        names = ", ".join(p.name for p in ExecutionProfile)
        raise ConfigError(f"profile must be an ExecutionProfile ({names}), got {value!r}") from None
