"""Sub-model calls: single, batched (bounded parallelism), cached, budgeted, recursive.

Each call is prepared and finished by shared code; only the model call in the
middle differs between the sync path (threads) and the async path (the run's
event loop), so both behave the same. On the async path, calls are prepared and
looked up in the cache in the calling thread (the REPL's), and only the misses go
to the event loop; replies are written to the cache by a background thread
(``CacheWrites``), so the loop never waits on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rlm_core.adapters.base import (
    ModelAdapter,
    ModelResponse,
    acomplete,
    check_response,
    model_id_of,
)
from rlm_core.cache import FileCache
from rlm_core.engine.cache_writes import writes_for
from rlm_core.engine.loop_fanout import LoopFanOut
from rlm_core.engine.settings import RunState
from rlm_core.engine.thread_fanout import run_on_lanes
from rlm_core.engine.tokens import context_window_of, estimate_tokens
from rlm_core.errors import PolicyError, SubcallTooLargeError
from rlm_core.events import current_step, in_step
from rlm_core.trace import TraceStep

# (instruction, text, depth, parent_id) -> answer; set by the engine when recursion is on.
SubRun = Callable[[str | None, str, int, int], str]
AsyncSubRun = Callable[[str | None, str, int, int], Awaitable[str]]


@dataclass(slots=True)
class _Call:
    """One prepared sub-call."""

    step: TraceStep
    adapter: ModelAdapter
    model_id: str
    messages: list[dict[str, str]]
    max_tokens: int
    cache_key: str | None
    recursive: bool
    instruction: str | None
    text: str


def error_marker(error: BaseException) -> str:
    """What a failed item of a batch holds, so the other items are not lost."""
    return f"[error: {type(error).__name__}: {error}]"


class SubcallRunner:
    """Serves ``llm_query`` / ``llm_batch`` and friends for one run."""

    def __init__(
        self,
        state: RunState,
        *,
        sub_run: SubRun | None = None,
        async_sub_run: AsyncSubRun | None = None,
    ) -> None:
        self.state = state
        self.settings = state.settings
        self.sub_run = sub_run
        self.async_sub_run = async_sub_run
        self._window_cache: dict[int, int | None] = {}
        cache = state.settings.cache
        self.cache_writes = writes_for(cache) if cache is not None else None

    # -- public API (called from REPL code, possibly in worker threads) ----------------------
    def query(
        self,
        text: str,
        *,
        instruction: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        parent_id: int | None = None,
        depth: int = 0,
        recursive: bool | None = None,
    ) -> str:
        """One sub-call; ``recursive=True`` runs a sub-RLM whatever ``recursive_subcalls``
        says (``rlm_query``), within ``max_recursion_depth``."""
        call = self._prepare(text, instruction, model, max_tokens, parent_id, depth, recursive)
        if self.state.loop is not None:
            hit = self._start(call)
            if hit is not None:
                return hit
            future = asyncio.run_coroutine_threadsafe(self._arun_started(call), self.state.loop)
            return future.result()
        return self._run_call(call)

    def batch(
        self,
        texts: list[str],
        *,
        instruction: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        parallel: bool = True,
        parent_id: int | None = None,
        depth: int = 0,
    ) -> list[str]:
        """Answers in input order; a failed item holds an error marker instead of raising."""
        if not texts:
            return []

        def one(text: str) -> str:
            try:
                return self.query(
                    text,
                    instruction=instruction,
                    model=model,
                    max_tokens=max_tokens,
                    parent_id=parent_id,
                    depth=depth,
                )
            except Exception as error:  # PolicyError included: other items keep their answers
                return error_marker(error)

        if not parallel or len(texts) == 1:
            return [one(text) for text in texts]
        if self.state.loop is not None:
            return self._batch_on_loop(
                self.state.loop, texts, instruction, model, max_tokens, parent_id, depth
            )
        return self._batch_on_threads(texts, instruction, model, max_tokens, parent_id, depth)

    # -- shared preparation and completion ---------------------------------------------------
    def _prepare(
        self,
        text: str,
        instruction: str | None,
        model: str | None,
        max_tokens: int | None,
        parent_id: int | None,
        depth: int,
        force_recursive: bool | None = None,
    ) -> _Call:
        settings = self.settings
        state = self.state
        adapter = self._resolve(model)
        model_id = model_id_of(adapter)
        limit = max_tokens if max_tokens is not None else settings.subcall_max_output_tokens
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
        # Text first, question last: small models answer far better in that order.
        prompt = text if instruction is None else f"Text:\n{text}\n\nQuestion: {instruction}"
        messages = [
            {"role": "system", "content": settings.prompts.sub_system},
            {"role": "user", "content": prompt},
        ]
        sub_depth = depth + 1
        within_depth = sub_depth <= settings.policy.max_recursion_depth
        if force_recursive and not within_depth and settings.policy.on_limit == "raise":
            state.budget.check_depth(sub_depth)  # raises MaxRecursionExceeded, ends the run
        recursive = (
            bool(settings.recursive_subcalls or force_recursive)
            and within_depth
            and (self.sub_run is not None or self.async_sub_run is not None)
        )
        if not recursive:
            self._check_window(adapter, prompt, limit)
        state.budget.take_subcalls(1)
        kind = "recursive_subcall" if recursive else ("subcall" if depth == 0 else "sub_subcall")
        step = state.new_step(
            kind,
            depth=sub_depth,
            parent_id=parent_id,
            announce=False,
            prompt=prompt,
            model=model_id,
        )
        cache = settings.cache
        key = None
        if cache is not None and not recursive:
            if type(cache).key_for is FileCache.key_for:  # the same key, made faster
                key = FileCache.key_for_chat(
                    model_id, messages[0]["content"], prompt, limit, settings.temperature
                )
            else:
                key = cache.key_for(model_id, messages, limit, settings.temperature)
        return _Call(step, adapter, model_id, messages, limit, key, recursive, instruction, text)

    def _start(self, call: _Call) -> str | None:
        """Start the call's step; the cached reply (the step then ends), or ``None``."""
        self.state.start_step(call.step)
        hit = self._cached(call)
        if hit is not None:
            self._serve_hit(call, hit)
        return hit

    def _cached(self, call: _Call) -> str | None:
        """The cached reply for ``call``, or ``None`` (blocking I/O: never on the loop)."""
        writes = self.cache_writes
        if writes is None or call.cache_key is None:
            return None
        return writes.get(call.cache_key)

    def _serve_hit(self, call: _Call, hit: str) -> str:
        call.step.cache_hit = True
        return self._finish(call, hit, None)

    def _finish(self, call: _Call, text: str, response: ModelResponse | None) -> str:
        step = call.step
        step.response = text
        if response is not None:
            step.usage = response.usage
            if self.cache_writes is not None and call.cache_key is not None:
                self.cache_writes.put(call.cache_key, text)
        self.state.end_step(step)
        if response is not None:
            try:
                cost = self.state.budget.add_usage(
                    response.usage, subcall=True, model=call.model_id
                )
                if cost is not None:
                    step.metadata["cost_usd"] = cost
            except PolicyError:
                pass  # remembered in budget.exhausted; the answer itself is kept
        return text

    def _fail(self, call: _Call, error: BaseException) -> None:
        call.step.error = f"{type(error).__name__}: {error}"
        self.state.end_step(call.step)

    # -- sync path --------------------------------------------------------------------------
    def _run_call(self, call: _Call) -> str:
        hit = self._start(call)
        if hit is not None:
            return hit
        with in_step(call.step):
            return self._run_uncached(call)

    def _run_uncached(self, call: _Call) -> str:
        try:
            if call.recursive:
                assert self.sub_run is not None
                answer = self.sub_run(
                    call.instruction, call.text, call.step.depth, call.step.step_id
                )
                return self._finish(call, answer, None)
            response = check_response(
                call.adapter.complete(
                    call.messages, max_tokens=call.max_tokens, temperature=self.settings.temperature
                ),
                call.adapter,
            )
        except BaseException as error:
            self._fail(call, error)
            raise
        return self._finish(call, response.text, response)

    def _batch_on_threads(
        self,
        texts: list[str],
        instruction: str | None,
        model: str | None,
        max_tokens: int | None,
        parent_id: int | None,
        depth: int,
    ) -> list[str]:
        """Run a batch on ``max_concurrent_subcalls`` lanes (``run_on_lanes``): each lane
        prepares its next item, reads the cache and calls the model.

        Preparing every item up front here measured worse: the lanes queued for the
        interpreter lock behind the thread that prepared them.
        """
        results = [""] * len(texts)

        def one(index: int) -> None:
            try:
                call = self._prepare(texts[index], instruction, model, max_tokens, parent_id, depth)
                hit = self._cached(call)
                if hit is not None:
                    self.state.start_step(call.step)
                    results[index] = self._serve_hit(call, hit)
                else:
                    results[index] = self._run_missed(call)
            except Exception as error:  # PolicyError included: other items keep their answers
                results[index] = error_marker(error)

        if self.cache_writes is not None:
            self.cache_writes.refresh()  # here, not in the first lane while the others queue
        run_on_lanes(len(texts), self.settings.max_concurrent_subcalls, one)
        return results

    def _run_missed(self, call: _Call) -> str:
        """Run a prepared call that missed the cache (in a pool thread)."""
        self.state.start_step(call.step)  # now: the time queued is not the call's
        with in_step(call.step):
            return self._run_uncached(call)

    # -- async path -------------------------------------------------------------------------
    async def _arun_started(self, call: _Call) -> str:
        """Run a started call that missed the cache, on the loop."""
        token = current_step.set(call.step)  # in_step(), minus a generator on a hot path
        try:
            return await self._arun_uncached(call)
        finally:
            current_step.reset(token)

    async def _arun_uncached(self, call: _Call) -> str:
        try:
            if call.recursive:
                runner = self.async_sub_run
                assert runner is not None
                answer = await runner(
                    call.instruction, call.text, call.step.depth, call.step.step_id
                )
                return self._finish(call, answer, None)
            native = getattr(call.adapter, "acomplete", None)
            temperature = self.settings.temperature
            reply = (  # the adapter's own coroutine when it has one: no wrapper on a hot path
                native(call.messages, max_tokens=call.max_tokens, temperature=temperature)
                if native is not None
                else acomplete(
                    call.adapter, call.messages, max_tokens=call.max_tokens, temperature=temperature
                )
            )
            response = check_response(await reply, call.adapter)
        except BaseException as error:
            self._fail(call, error)
            raise
        return self._finish(call, response.text, response)

    def _batch_on_loop(
        self,
        loop: asyncio.AbstractEventLoop,
        texts: list[str],
        instruction: str | None,
        model: str | None,
        max_tokens: int | None,
        parent_id: int | None,
        depth: int,
    ) -> list[str]:
        """Run a batch with at most ``max_concurrent_subcalls`` calls in flight on ``loop``.

        This (calling) thread prepares the items in input order (validated, budgeted, given
        a step) and reads the cache; it hands the misses to the loop (``LoopFanOut``) in
        growing chunks, so the first calls start at once and the loop never touches the
        disk. After each chunk it waits until the loop has started those calls: preparing
        the next chunk meanwhile would hold the interpreter lock the loop needs to start
        them (a waiting thread gets it only after the 5 ms switch interval).
        """
        count = len(texts)
        results = [""] * count
        state = self.state

        async def run(item: tuple[int, _Call]) -> None:
            index, call = item
            state.start_step(call.step)  # now: the time queued is not the call's
            token = current_step.set(call.step)  # in_step(), minus a generator
            try:
                results[index] = await self._arun_uncached(call)
            except Exception as error:
                results[index] = error_marker(error)
            finally:
                current_step.reset(token)

        fan_out = LoopFanOut(loop, min(self.settings.max_concurrent_subcalls, count), run)
        chunk: list[tuple[int, _Call]] = []
        size = 8
        try:
            for index in range(count):
                try:
                    call = self._prepare(
                        texts[index], instruction, model, max_tokens, parent_id, depth
                    )
                    hit = self._cached(call)
                except Exception as error:
                    results[index] = error_marker(error)
                    continue
                if hit is not None:
                    state.start_step(call.step)
                    self._serve_hit(call, hit)
                    results[index] = hit
                    continue
                chunk.append((index, call))
                if len(chunk) >= size:
                    fan_out.wait_started(fan_out.hand_over(chunk))
                    chunk, size = [], min(size * 2, 64)
        finally:  # the rest, and the end of the batch: it ends when these have run
            fan_out.hand_over(chunk, last=True)
        fan_out.wait()
        return results

    # -- helpers ----------------------------------------------------------------------------
    def _resolve(self, model: str | None) -> ModelAdapter:
        settings = self.settings
        if model is None:
            return settings.subcall_adapter
        for adapter in (settings.subcall_adapter, settings.adapter):
            if model == model_id_of(adapter):
                return adapter
        if model == "root":
            return settings.adapter
        known = sorted({model_id_of(settings.subcall_adapter), model_id_of(settings.adapter)})
        raise ValueError(f"unknown model {model!r}: use None (the sub-model) or one of {known}")

    def _check_window(self, adapter: ModelAdapter, prompt: str, max_tokens: int) -> None:
        key = id(adapter)
        if key not in self._window_cache:
            self._window_cache[key] = context_window_of(
                adapter, self.settings.subcall_context_window
            )
        window = self._window_cache[key]
        if window is None:
            return
        system = self.settings.prompts.sub_system
        needed = estimate_tokens(prompt) + estimate_tokens(system) + max_tokens
        if needed > window:
            raise SubcallTooLargeError(
                f"sub-call prompt is about {needed - max_tokens} tokens, too large for "
                f"{model_id_of(adapter)} (window {window} tokens incl. {max_tokens} for the "
                "reply); split the text, e.g. ask_chunks(question, ctx.chunk(20000))"
            )
