"""``RLM``: the facade users construct; validates options once, then runs."""

from __future__ import annotations

import asyncio
import dataclasses
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from rlm_core.adapters.base import ModelAdapter, model_id_of
from rlm_core.context import Context
from rlm_core.engine.event_stream import astream_events, stream_events
from rlm_core.engine.prompts import DEFAULT_PROMPTS
from rlm_core.engine.run import RunSession
from rlm_core.engine.session import Session
from rlm_core.engine.settings import CompactionSettings, EngineSettings, GuardSettings
from rlm_core.engine.structured import OutputSpec
from rlm_core.engine.tokens import context_window_for, context_window_of
from rlm_core.errors import ConfigError, ContextError
from rlm_core.events import Event, EventBus, Listener
from rlm_core.options import RLMOptions
from rlm_core.policy import Policy
from rlm_core.profiles import profile_for_model
from rlm_core.repl.selection import repl_factory_for
from rlm_core.trace import Trace

DEFAULT_COMPACTION_PCT = 0.85
M = TypeVar("M", bound=BaseModel)
ContextInput = Context | str | list[str] | None


def _fit_to_model(adapter: Any, options: RLMOptions) -> tuple[RLMOptions, str | None]:
    """``options`` with the profile that fits the adapter's model when none was given
    (``profile_for_model``), and why; an explicit ``profile=`` is kept as it is."""
    if "profile" in options.model_fields_set:
        return options, None
    fit = profile_for_model(adapter)
    if fit is None:
        return options, None
    profile, why = fit
    return options.merged({"profile": profile}), why


def _summary(
    options: RLMOptions, why: str | None, adapter: Any, subcall_adapter: Any
) -> dict[str, Any]:
    """The settings record of the trace, saying when the profile was chosen automatically
    and which adapter options were chosen for where the model runs (``defaults_chosen``)."""
    summary = options.summary()
    if why is not None:
        summary["profile_chosen"] = {"automatically": True, "why": why}
    roles = (
        {"root": adapter}
        if subcall_adapter is adapter
        else {"root": adapter, "sub": subcall_adapter}
    )
    chosen = {
        role: dict(defaults)
        for role, model in roles.items()
        if isinstance(defaults := getattr(model, "defaults_chosen", None), dict) and defaults
    }
    if chosen:
        summary["adapter_defaults"] = chosen
    return summary


def _check_adapter(adapter: Any) -> None:
    if not callable(getattr(adapter, "complete", None)):
        raise ConfigError(
            f"adapter must be a model adapter with a complete(messages, *, max_tokens, "
            f"temperature) method, got {type(adapter).__name__}"
        )


class RLM:
    """A Recursive Language Model: the context lives in a REPL, the model writes code.

    ``RLM(adapter, **options)`` or ``RLM(adapter, options=RLMOptions(...))`` (keywords
    given next to ``options=`` override it); every option is described on
    ``RLMOptions``. ``run(query, context)`` returns ``(answer, trace)``. Options are
    validated here, so a bad value fails at construction rather than mid-run.
    """

    def __init__(
        self, adapter: ModelAdapter, *, options: RLMOptions | None = None, **overrides: Any
    ) -> None:
        _check_adapter(adapter)
        self.options = RLMOptions.from_arguments(options, overrides)
        fitted, why = _fit_to_model(adapter, self.options)
        chosen = fitted.resolved()
        prompts = chosen.prompts or DEFAULT_PROMPTS
        if chosen.max_history_tokens:
            warnings.warn(
                "max_history_tokens is deprecated: it drops old turns outright; use "
                "compaction=True, which summarises them instead",
                DeprecationWarning,
                stacklevel=2,
            )
        policy = chosen.policy or Policy()
        if chosen.max_recursion_depth is not None:
            policy = dataclasses.replace(policy, max_recursion_depth=chosen.max_recursion_depth)
        self._listeners = _listeners(chosen.event_listener)
        self.adapter = adapter
        self.subcall_adapter = chosen.subcall_adapter or adapter
        self.settings = EngineSettings(
            adapter=adapter,
            subcall_adapter=self.subcall_adapter,
            policy=policy,
            repl_factory=repl_factory_for(chosen.repl_backend),
            system_prompt=chosen.system_prompt,
            max_output_tokens=chosen.max_output_tokens,
            subcall_max_output_tokens=chosen.subcall_max_output_tokens,
            temperature=chosen.temperature,
            parallel_subcalls=chosen.parallel_subcalls,
            max_concurrent_subcalls=chosen.max_concurrent_subcalls,
            recursive_subcalls=chosen.recursive_subcalls,
            subcall_context_window=chosen.subcall_context_window,
            cache=chosen.cache,
            retriever=chosen.retriever,
            conversation_history=chosen.conversation_history,
            compaction=_compaction(adapter, chosen, prompts.compaction),
            max_history_tokens=chosen.max_history_tokens,
            guards=GuardSettings(
                require_repl_before_final=chosen.require_repl_before_final,
                require_subcall_before_final=chosen.require_subcall_before_final,
                invalid_response_limit=chosen.invalid_response_limit,
                fallback_code=chosen.fallback_code,
            ),
            auto_finalize_var=chosen.auto_finalize_var,
            max_output_chars=chosen.max_output_chars,
            prompts=prompts,
            tools=chosen.tools or {},
            prices=_prices(policy, chosen.prices or {}, adapter, self.subcall_adapter),
            chosen=_summary(fitted, why, adapter, self.subcall_adapter),
        )

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    # -- running -----------------------------------------------------------------------------
    @overload
    def run(
        self, query: str, context: ContextInput = None, *, output_type: None = None
    ) -> tuple[str, Trace]: ...
    @overload
    def run(
        self, query: str, context: ContextInput = None, *, output_type: type[M]
    ) -> tuple[M, Trace]: ...
    @overload
    def run(
        self, query: str, context: ContextInput = None, *, output_type: dict[str, Any]
    ) -> tuple[Any, Trace]: ...
    def run(
        self, query: str, context: ContextInput = None, *, output_type: Any = None
    ) -> tuple[Any, Trace]:
        """Answer ``query`` over ``context``; returns ``(answer, trace)``.

        With ``output_type`` (a pydantic model class or a JSON schema dict) the answer is
        the validated value; ``OutputValidationError`` if it still does not match after one
        repair turn.
        """
        output = None if output_type is None else OutputSpec.of(output_type)
        ctx, metadata = self._inputs(query, context)
        session = RunSession(self.settings, EventBus(self._listeners))
        answer = session.run(query, ctx, metadata, output=output)
        return answer, session.trace

    @overload
    async def arun(
        self, query: str, context: ContextInput = None, *, output_type: None = None
    ) -> tuple[str, Trace]: ...
    @overload
    async def arun(
        self, query: str, context: ContextInput = None, *, output_type: type[M]
    ) -> tuple[M, Trace]: ...
    @overload
    async def arun(
        self, query: str, context: ContextInput = None, *, output_type: dict[str, Any]
    ) -> tuple[Any, Trace]: ...
    async def arun(
        self, query: str, context: ContextInput = None, *, output_type: Any = None
    ) -> tuple[Any, Trace]:
        """``run`` without blocking the event loop (REPL code runs in a worker thread)."""
        output = None if output_type is None else OutputSpec.of(output_type)
        ctx, metadata = self._inputs(query, context)
        session = RunSession(
            self.settings, EventBus(self._listeners), loop=asyncio.get_running_loop()
        )
        answer = await session.arun(query, ctx, metadata, output=output)
        return answer, session.trace

    def stream(
        self, query: str, context: Context | str | list[str] | None = None
    ) -> Iterator[Event]:
        """Yield the run's events as they happen, ending with ``run_end``.

        If the run fails, the ``run_error`` event is yielded and the error raised.
        """
        ctx, metadata = self._inputs(query, context)

        def start(listener: Callable[[Event], None]) -> Any:
            bus = EventBus([*self._listeners, listener])
            return RunSession(self.settings, bus).run(query, ctx, metadata)

        return stream_events(start)

    def astream(
        self, query: str, context: Context | str | list[str] | None = None
    ) -> AsyncIterator[Event]:
        """Async ``stream``: events are delivered on the caller's event loop."""
        ctx, metadata = self._inputs(query, context)

        async def start(listener: Callable[[Event], None]) -> Any:
            bus = EventBus([*self._listeners, listener])
            session = RunSession(self.settings, bus, loop=asyncio.get_running_loop())
            return await session.arun(query, ctx, metadata)

        return astream_events(start)

    # -- sessions ----------------------------------------------------------------------------
    def session(
        self, *, restore: str | Path | None = None, max_total_tokens: int | None = None
    ) -> Session:
        """A multi-turn session: ``with rlm.session() as s: s.run(query, context)``.

        Variables, contexts and a short history carry over between turns; limits apply per
        turn, and ``max_total_tokens`` caps the whole session. ``restore`` reopens a session
        written by ``Session.save(path)``.
        """
        return Session(
            self.settings,
            self._listeners,
            check_query=_check_query,
            max_total_tokens=max_total_tokens,
            restore=restore,
        )

    # -- input checks ------------------------------------------------------------------------
    def _inputs(self, query: Any, context: Any) -> tuple[Context, dict[str, Any] | None]:
        _check_query(query)
        has_retriever = self.settings.retriever is not None
        if context is None:
            if not has_retriever:
                raise ContextError(
                    "no context given: pass context=... (str, list of str or Context), "
                    "or configure RLM(retriever=...) to search an index instead"
                )
            return Context.from_text(""), None
        ctx = Context.coerce(context)
        if ctx.len_chars() == 0 and not has_retriever:
            raise ContextError("the context is empty: pass some text or documents to search")
        metadata = ctx.metadata()
        if has_retriever:
            metadata["document_index"] = "available (es_search, es_get)"
        return ctx, metadata

    def __repr__(self) -> str:
        return (
            f"RLM(adapter={model_id_of(self.adapter)!r}, "
            f"subcall_adapter={model_id_of(self.subcall_adapter)!r})"
        )


def _prices(
    policy: Policy,
    prices: dict[str, tuple[float, float]],
    adapter: ModelAdapter,
    subcall_adapter: ModelAdapter,
) -> dict[str, tuple[float, float]]:
    """``prices``, checked to cover the models when ``Policy.max_cost_usd`` is set."""
    if policy.max_cost_usd is None:
        return prices
    missing = sorted({model_id_of(a) for a in (adapter, subcall_adapter)} - set(prices))
    if missing:
        raise ConfigError(
            f"Policy.max_cost_usd needs a price for every model: add prices={{{missing[0]!r}: "
            "(usd_per_1k_prompt_tokens, usd_per_1k_completion_tokens)}"
            + (f" (also for {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
        )
    return prices


def _check_query(query: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise ContextError(f"query must be a non-empty str, got {query!r:.80}")
    return query


def _listeners(value: Listener | list[Listener] | None) -> list[Listener]:
    """The listeners as a list (``RLMOptions`` has checked each of them)."""
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]


def _compaction(
    adapter: ModelAdapter, options: RLMOptions, prompt: str
) -> CompactionSettings | None:
    """When to compact, resolved against the root model's window (``None``: never)."""
    if not options.compaction:
        return None
    if options.compaction_threshold_tokens is not None:
        return CompactionSettings(
            threshold_tokens=options.compaction_threshold_tokens, prompt=prompt
        )
    model_name = options.compaction_model_name
    resolved = options.compaction_model_context_limit or (
        context_window_for(model_name) if model_name else context_window_of(adapter)
    )
    if resolved is None:
        raise ConfigError(
            f"compaction needs the model's context window, which is unknown for "
            f"{model_name or model_id_of(adapter)!r}: set compaction_model_context_limit=... "
            "or compaction_threshold_tokens=..."
        )
    pct = options.compaction_threshold_pct or DEFAULT_COMPACTION_PCT
    return CompactionSettings(threshold_tokens=int(resolved * pct), prompt=prompt)
