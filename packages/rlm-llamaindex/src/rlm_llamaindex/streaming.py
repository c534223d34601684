"""A streamed query: the run starts at once and the answer flows while it is produced.

``query()`` returns a ``StreamingResponse`` as soon as the run has started in a
worker thread (``aquery()``: an asyncio task). Answer text comes from the root
call that produces it when that is safe (``answer_delta`` events, see
``rlm_core.pieces``), otherwise when the run ends. The query's spans, its
``QueryEndEvent`` and its callback ``QUERY`` event stay open until the run ends;
``source_nodes`` and ``metadata`` are filled in before the stream's last piece.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import queue
import threading
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.instrumentation.events.query import QueryEndEvent, QueryStartEvent
from llama_index.core.instrumentation.span import active_span_id
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index_instrumentation import get_dispatcher
from llama_index_instrumentation.dispatcher import active_instrument_tags

from rlm_core import AnswerText, Event
from rlm_llamaindex.runner import RunResult

logger = logging.getLogger("rlm_llamaindex")
base_dispatcher = get_dispatcher("llama_index.core.base.base_query_engine")
dispatcher = get_dispatcher("rlm_llamaindex.query_engine")

Run = Callable[[QueryBundle, list[Any]], RunResult]
AsyncRun = Callable[[QueryBundle, list[Any]], Awaitable[RunResult]]
_DONE = object()
_RUNNING: set[asyncio.Task[None]] = set()


def words(text: str) -> list[str]:
    """``text`` cut after each space, so the pieces join back to exactly ``text``."""
    pieces = text.split(" ")
    return [piece + " " for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


class QueryScope:
    """The spans and instrumentation events of one streamed query, open until the run ends.

    Named like the spans ``BaseQueryEngine`` makes (``<Class>.query`` with
    ``<Class>._query`` inside), so handlers see a streamed query as any other.
    """

    def __init__(self, engine: Any, query: QueryBundle, method: str) -> None:
        self.engine = engine
        self.query = query
        name = type(engine).__name__
        self.outer = f"{name}.{method}-{uuid.uuid4()}"
        self.inner = f"{name}._{method}-{uuid.uuid4()}"
        self.outer_args = inspect.signature(getattr(engine, method)).bind(query)
        self.inner_args = inspect.signature(getattr(engine, f"_{method}")).bind(query)
        tags = active_instrument_tags.get()
        base_dispatcher.span_enter(
            id_=self.outer,
            bound_args=self.outer_args,
            instance=engine,
            parent_id=active_span_id.get(),
            tags=tags,
        )
        base_dispatcher.event(QueryStartEvent(query=query, span_id=self.outer))
        dispatcher.span_enter(
            id_=self.inner,
            bound_args=self.inner_args,
            instance=engine,
            parent_id=self.outer,
            tags=tags,
        )

    def context(self) -> contextvars.Context:
        """A copy of the caller's context in which the inner span is the active one."""
        context = contextvars.copy_context()
        context.run(active_span_id.set, self.inner)
        return context

    def close(self, response: Any, error: BaseException | None) -> None:
        if error is not None:
            dispatcher.span_drop(
                id_=self.inner, bound_args=self.inner_args, instance=self.engine, err=error
            )
            base_dispatcher.span_drop(
                id_=self.outer, bound_args=self.outer_args, instance=self.engine, err=error
            )
            return
        dispatcher.span_exit(
            id_=self.inner, bound_args=self.inner_args, instance=self.engine, result=response
        )
        base_dispatcher.event(
            QueryEndEvent(query=self.query, response=response, span_id=self.outer)
        )
        base_dispatcher.span_exit(
            id_=self.outer, bound_args=self.outer_args, instance=self.engine, result=response
        )


class _Outcome:
    """What the consumer needs once the run is over."""

    def __init__(self) -> None:
        self.sources: list[NodeWithScore] = []
        self.metadata: dict[str, Any] = {}

    def fill(self, result: RunResult) -> None:
        self.sources.extend(result.source_nodes)
        self.metadata.update(result.metadata)


class AnswerPieces:
    """A run listener that passes the answer text the run streams (``answer_delta``
    events) to ``emit``; ``rest`` gives the pieces left once the run has its answer."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self.text = AnswerText()

    def on_event(self, event: Event) -> None:
        if event.type == "answer_delta":
            piece = self.text.feed(event)
            if piece:
                self.emit(piece)

    def rest(self, answer: str) -> list[str]:
        rest = self.text.rest(answer)
        if self.text.diverged:
            logger.warning(
                "the streamed start of the answer was not the run's final answer; "
                "the final answer follows on a new line"
            )
        return words(rest)


Finish = Callable[[RunResult | None, BaseException | None], None]


def pieces_from_thread(
    run: Callable[[list[Any]], RunResult],
    *,
    context: contextvars.Context,
    finish: Finish,
) -> tuple[Generator[str, None, None], threading.Thread]:
    """A worker thread (not started) that runs ``run`` (given extra listeners) in
    ``context``, and the answer's pieces as they come. ``finish`` is called when the
    run is over, before the last piece is handed out; the run's error is raised by
    the generator."""
    pieces: queue.Queue[Any] = queue.Queue()
    tap = AnswerPieces(pieces.put)

    def work() -> None:
        result: RunResult | None = None
        error: BaseException | None = None
        try:
            result = run([tap])
            for piece in tap.rest(result.answer):
                pieces.put(piece)
        except BaseException as failure:
            error = failure
        try:
            finish(result, error)
        finally:
            pieces.put(error if error is not None else _DONE)

    worker = threading.Thread(target=context.run, args=(work,), name="rlm-stream", daemon=True)
    return _drain(pieces), worker


def pieces_from_task(
    run: Callable[[list[Any]], Awaitable[RunResult]],
    *,
    context: contextvars.Context,
    finish: Finish,
    sync_run: Callable[[list[Any]], RunResult] | None = None,
) -> tuple[AsyncGenerator[str, None], Callable[[], str | None]]:
    """``pieces_from_thread`` for ``arun``: the run is an asyncio task on the running loop.

    Also returns ``take_over()``: called from the loop's own thread while the task has
    not started (a synchronous ``str(response)`` inside the loop, as a tool's ``acall``
    does, blocks the loop the task needs), it runs ``sync_run`` there instead and
    returns the answer; otherwise it returns ``None``."""
    loop = asyncio.get_running_loop()
    started = threading.Event()
    pieces: asyncio.Queue[Any] = asyncio.Queue()

    def emit(piece: str) -> None:
        # Pieces arrive on the loop (achat) or from sub-call threads.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            pieces.put_nowait(piece)
        else:
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

    tap = AnswerPieces(emit)

    async def work() -> None:
        started.set()
        result: RunResult | None = None
        error: BaseException | None = None
        try:
            result = await run([tap])
            for piece in tap.rest(result.answer):
                pieces.put_nowait(piece)
        except BaseException as failure:
            error = failure
        await asyncio.sleep(0)  # let pieces forwarded from threads land first
        try:
            finish(result, error)
        finally:
            pieces.put_nowait(error if error is not None else _DONE)

    task = loop.create_task(work(), context=context)
    _RUNNING.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_RUNNING.discard)

    def take_over() -> str | None:
        if sync_run is None or started.is_set() or not _blocks(loop):
            return None
        started.set()
        task.cancel()  # never started, so none of its code runs
        try:
            result = context.run(sync_run, [])
        except BaseException as error:
            finish(None, error)
            pieces.put_nowait(error)
            raise
        finish(result, None)
        for piece in words(result.answer):
            pieces.put_nowait(piece)
        pieces.put_nowait(_DONE)
        return result.answer

    return _adrain(pieces), take_over


def _blocks(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this thread is the one running ``loop`` (so waiting here would block it)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class RLMAsyncStreamingResponse(AsyncStreamingResponse):
    """An ``AsyncStreamingResponse`` that ``str()`` can also finish from inside its loop."""

    take_over: Callable[[], str | None] | None = None

    def __str__(self) -> str:
        if self.response_txt is None and self.take_over is not None:
            answer = self.take_over()
            if answer is not None:
                self.response_txt = answer
                return answer
        return super().__str__()


def stream_sync(engine: Any, query: QueryBundle, run: Run) -> StreamingResponse:
    """Start ``run`` in a worker thread; a ``StreamingResponse`` over its answer."""
    scope = QueryScope(engine, query, "query")
    outcome = _Outcome()
    holder: list[StreamingResponse] = []

    def finish(result: RunResult | None, error: BaseException | None) -> None:
        if result is not None:
            outcome.fill(result)
        scope.close(holder[0], error)

    pieces, worker = pieces_from_thread(
        lambda listeners: run(query, listeners),
        context=scope.context(),
        finish=finish,
    )
    holder.append(
        StreamingResponse(
            response_gen=pieces, source_nodes=outcome.sources, metadata=outcome.metadata
        )
    )
    worker.start()
    return holder[0]


async def stream_async(
    engine: Any, query: QueryBundle, run: AsyncRun, sync_run: Run
) -> AsyncStreamingResponse:
    """Start ``run`` as an asyncio task; an ``AsyncStreamingResponse`` over its answer."""
    scope = QueryScope(engine, query, "aquery")
    outcome = _Outcome()
    holder: list[AsyncStreamingResponse] = []

    def finish(result: RunResult | None, error: BaseException | None) -> None:
        if result is not None:
            outcome.fill(result)
        scope.close(holder[0], error)

    pieces, take_over = pieces_from_task(
        lambda listeners: run(query, listeners),
        context=scope.context(),
        finish=finish,
        sync_run=lambda listeners: sync_run(query, listeners),
    )
    response = RLMAsyncStreamingResponse(
        response_gen=pieces, source_nodes=outcome.sources, metadata=outcome.metadata
    )
    response.take_over = take_over
    holder.append(response)
    return response


def _drain(pieces: queue.Queue[Any]) -> Generator[str, None, None]:
    while True:
        item = pieces.get()
        if item is _DONE:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


async def _adrain(pieces: asyncio.Queue[Any]) -> AsyncGenerator[str, None]:
    while True:
        item = await pieces.get()
        if item is _DONE:
            return
        if isinstance(item, BaseException):
            raise item
        yield item
