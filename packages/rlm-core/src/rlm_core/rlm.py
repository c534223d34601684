"""``RLM``: the facade users construct; validates options once, then runs."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import inspect
import queue
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from rlm_core.adapters.base import ModelAdapter, model_id_of
from rlm_core.cache import FileCache
from rlm_core.context import Context
from rlm_core.engine.session import Session
from rlm_core.engine.settings import CompactionSettings, EngineSettings, GuardSettings
from rlm_core.engine.tokens import context_window_for, context_window_of
from rlm_core.errors import ConfigError, ContextError
from rlm_core.events import Event, EventBus, Listener
from rlm_core.policy import Policy
from rlm_core.repl.base import DEFAULT_MAX_OUTPUT_CHARS, REPL, backend_factory
from rlm_core.retrieval.base import RetrieverProtocol
from rlm_core.trace import Trace

DEFAULT_COMPACTION_PCT = 0.85


def _positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    floor = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < floor:
        raise ConfigError(f"{name} must be an int >= {floor}, got {value!r}")
    return value


def _check_adapter(name: str, adapter: Any) -> ModelAdapter:
    if not callable(getattr(adapter, "complete", None)):
        raise ConfigError(
            f"{name} must be a model adapter with a complete(messages, *, max_tokens, "
            f"temperature) method, got {type(adapter).__name__}"
        )
    return adapter  # type: ignore[no-any-return]


class RLM:
    """A Recursive Language Model: the context lives in a REPL, the model writes code.

    ``run(query, context)`` returns ``(answer, trace)``. Options are validated
    here, so a bad value fails at construction rather than mid-run.
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        policy: Policy | None = None,
        cache: FileCache | None = None,
        max_output_tokens: int = 4096,
        system_prompt: str | None = None,
        repl_backend: str | Callable[..., REPL] = "isolated",
        conversation_history: bool = True,
        compaction: bool = False,
        compaction_threshold_pct: float = 0.0,
        compaction_threshold_tokens: int | None = None,
        compaction_model_name: str | None = None,
        compaction_model_context_limit: int | None = None,
        max_history_tokens: int = 0,
        retriever: RetrieverProtocol | None = None,
        subcall_adapter: ModelAdapter | None = None,
        subcall_max_output_tokens: int = 1024,
        subcall_context_window: int | None = None,
        recursive_subcalls: bool = False,
        max_recursion_depth: int | None = None,
        parallel_subcalls: bool = False,
        max_concurrent_subcalls: int = 10,
        require_repl_before_final: bool = False,
        require_subcall_before_final: bool = False,
        invalid_response_limit: int | None = None,
        fallback_code: str | None = None,
        auto_finalize_var: str | None = None,
        event_listener: Listener | Iterable[Listener] | None = None,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        temperature: float = 0.0,
    ) -> None:
        _check_adapter("adapter", adapter)
        if subcall_adapter is not None:
            _check_adapter("subcall_adapter", subcall_adapter)
        if policy is not None and not isinstance(policy, Policy):
            raise ConfigError(f"policy must be a rlm_core.Policy, got {type(policy).__name__}")
        policy = policy or Policy()
        if max_recursion_depth is not None:
            _positive_int("max_recursion_depth", max_recursion_depth, allow_zero=True)
            policy = dataclasses.replace(policy, max_recursion_depth=max_recursion_depth)
        if cache is not None and not all(hasattr(cache, m) for m in ("get", "set", "key_for")):
            raise ConfigError("cache must be a FileCache (or have key_for/get/set)")
        if invalid_response_limit is not None:
            _positive_int("invalid_response_limit", invalid_response_limit)
        if fallback_code is not None:
            _check_code(fallback_code)
        if auto_finalize_var is not None and not str(auto_finalize_var).isidentifier():
            raise ConfigError(
                f"auto_finalize_var must be a variable name, got {auto_finalize_var!r}"
            )
        if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
            raise ConfigError(f"temperature must be between 0 and 2, got {temperature!r}")
        if retriever is not None:
            _check_retriever(retriever)
        if max_history_tokens:
            warnings.warn(
                "max_history_tokens is deprecated: it drops old turns outright; use "
                "compaction=True, which summarises them instead",
                DeprecationWarning,
                stacklevel=2,
            )
        self._listeners = _listeners(event_listener)
        self.adapter = adapter
        self.subcall_adapter = subcall_adapter or adapter
        self.settings = EngineSettings(
            adapter=adapter,
            subcall_adapter=self.subcall_adapter,
            policy=policy,
            repl_factory=_repl_factory(repl_backend),
            system_prompt=system_prompt,
            max_output_tokens=_positive_int("max_output_tokens", max_output_tokens),
            subcall_max_output_tokens=_positive_int(
                "subcall_max_output_tokens", subcall_max_output_tokens
            ),
            temperature=float(temperature),
            parallel_subcalls=bool(parallel_subcalls),
            max_concurrent_subcalls=_positive_int(
                "max_concurrent_subcalls", max_concurrent_subcalls
            ),
            recursive_subcalls=bool(recursive_subcalls),
            subcall_context_window=(
                None
                if subcall_context_window is None
                else _positive_int("subcall_context_window", subcall_context_window)
            ),
            cache=cache,
            retriever=retriever,
            conversation_history=bool(conversation_history),
            compaction=_compaction(
                adapter,
                compaction,
                compaction_threshold_pct,
                compaction_threshold_tokens,
                compaction_model_name,
                compaction_model_context_limit,
            ),
            max_history_tokens=_positive_int(
                "max_history_tokens", max_history_tokens, allow_zero=True
            ),
            guards=GuardSettings(
                require_repl_before_final=bool(require_repl_before_final),
                require_subcall_before_final=bool(require_subcall_before_final),
                invalid_response_limit=invalid_response_limit,
                fallback_code=fallback_code,
            ),
            auto_finalize_var=auto_finalize_var,
            max_output_chars=_positive_int("max_output_chars", max_output_chars),
        )

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    # -- running -----------------------------------------------------------------------------
    def run(
        self, query: str, context: Context | str | list[str] | None = None
    ) -> tuple[str, Trace]:
        """Answer ``query`` over ``context``; returns ``(answer, trace)``."""
        ctx, metadata = self._inputs(query, context)
        session = Session(self.settings, EventBus(self._listeners))
        answer = session.run(query, ctx, metadata)
        return answer, session.trace

    async def arun(
        self, query: str, context: Context | str | list[str] | None = None
    ) -> tuple[str, Trace]:
        """``run`` without blocking the event loop (REPL code runs in a worker thread)."""
        ctx, metadata = self._inputs(query, context)
        session = Session(self.settings, EventBus(self._listeners), loop=asyncio.get_running_loop())
        answer = await session.arun(query, ctx, metadata)
        return answer, session.trace

    def stream(
        self, query: str, context: Context | str | list[str] | None = None
    ) -> Iterator[Event]:
        """Yield the run's events as they happen, ending with ``run_end``.

        If the run fails, the ``run_error`` event is yielded and the error raised.
        """
        ctx, metadata = self._inputs(query, context)
        events: queue.Queue[Event | None] = queue.Queue()
        session = Session(self.settings, EventBus([*self._listeners, events.put]))
        failure: list[BaseException] = []

        def work() -> None:
            try:
                session.run(query, ctx, metadata)
            except BaseException as error:
                failure.append(error)
            finally:
                events.put(None)

        caller_context = contextvars.copy_context()
        worker = threading.Thread(
            target=caller_context.run, args=(work,), name="rlm-stream", daemon=True
        )
        worker.start()
        while (event := events.get()) is not None:
            yield event
        worker.join()
        if failure:
            raise failure[0]

    async def astream(
        self, query: str, context: Context | str | list[str] | None = None
    ) -> AsyncIterator[Event]:
        """Async ``stream``: events are delivered on the caller's event loop."""
        ctx, metadata = self._inputs(query, context)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def forward(event: Event) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        session = Session(self.settings, EventBus([*self._listeners, forward]), loop=loop)
        task = asyncio.ensure_future(session.arun(query, ctx, metadata))
        try:
            while True:
                getter = asyncio.ensure_future(events.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                await asyncio.sleep(0)  # let forwarded events already scheduled land
                while not events.empty():
                    yield events.get_nowait()
                task.result()
                return
        finally:
            if not task.done():
                task.cancel()

    # -- input checks ------------------------------------------------------------------------
    def _inputs(self, query: Any, context: Any) -> tuple[Context, dict[str, Any] | None]:
        if not isinstance(query, str) or not query.strip():
            raise ContextError(f"query must be a non-empty str, got {query!r:.80}")
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


def _check_retriever(retriever: Any) -> None:
    methods = ("search", "vector_search", "hybrid_search", "get")
    missing = [name for name in methods if not callable(getattr(retriever, name, None))]
    if missing:
        raise ConfigError(
            "retriever must implement rlm_core.retrieval.RetrieverProtocol; "
            f"{type(retriever).__name__} lacks {', '.join(missing)}"
        )
    if inspect.iscoroutinefunction(retriever.search):
        raise ConfigError(
            f"{type(retriever).__name__} is async, but REPL helpers call the retriever "
            "synchronously: use the sync class (e.g. ElasticsearchRetriever)"
        )


def _check_code(code: str) -> None:
    if not isinstance(code, str) or not code.strip():
        raise ConfigError("fallback_code must be a non-empty string of Python code")
    try:
        compile(code, "<fallback_code>", "exec")
    except SyntaxError as error:
        raise ConfigError(
            f"fallback_code is not valid Python: {error.msg} (line {error.lineno})"
        ) from None


def _listeners(value: Listener | Iterable[Listener] | None) -> list[Listener]:
    if value is None:
        return []
    if callable(value) or hasattr(value, "on_event"):
        return [value]  # type: ignore[list-item]
    try:
        listeners = list(value)
    except TypeError:
        raise ConfigError(
            "event_listener must be callable, have on_event(event), or be a list of those"
        ) from None
    for listener in listeners:
        if not (callable(listener) or hasattr(listener, "on_event")):
            raise ConfigError(f"event listener {listener!r} is neither callable nor has on_event")
    return listeners


def _repl_factory(backend: str | Callable[..., REPL]) -> Callable[..., REPL]:
    if isinstance(backend, str):
        return backend_factory(backend)
    if callable(backend):
        return backend
    raise ConfigError(f"repl_backend must be a backend name or a factory, got {backend!r}")


def _compaction(
    adapter: ModelAdapter,
    enabled: bool,
    pct: float,
    tokens: int | None,
    model_name: str | None,
    window: int | None,
) -> CompactionSettings | None:
    if not isinstance(pct, int | float) or not 0 <= pct < 1:
        raise ConfigError(f"compaction_threshold_pct must be in [0, 1), got {pct!r}")
    if tokens is not None:
        _positive_int("compaction_threshold_tokens", tokens)
    if window is not None:
        _positive_int("compaction_model_context_limit", window)
    if not enabled:
        return None
    if tokens is not None:
        return CompactionSettings(threshold_tokens=tokens)
    resolved = window or (
        context_window_for(model_name) if model_name else context_window_of(adapter)
    )
    if resolved is None:
        raise ConfigError(
            f"compaction needs the model's context window, which is unknown for "
            f"{model_name or model_id_of(adapter)!r}: set compaction_model_context_limit=... "
            "or compaction_threshold_tokens=..."
        )
    return CompactionSettings(threshold_tokens=int(resolved * (pct or DEFAULT_COMPACTION_PCT)))
