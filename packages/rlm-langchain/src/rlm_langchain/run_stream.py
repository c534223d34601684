"""``stream`` / ``astream`` of a chat model whose ``_stream`` needs its run manager.

``BaseChatModel.stream`` opens the chat-model run but calls ``_stream`` without
its run manager, so the RLM's inner model and retriever calls would start new
root runs and its custom events would go nowhere. These functions open the run
the same way (callbacks, tags, metadata, invocation params) and pass the run
manager on; each chunk is reported as a token of that run. Like
``BaseChatModel.stream`` they take the model's ``rate_limiter`` once per call
and give chunks content blocks under ``output_version="v1"``; whether a call
streams at all (``disable_streaming``) is LangChain's own decision
(``streaming_allowed``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, cast
from uuid import UUID

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, LLMResult
from langchain_core.outputs.chat_generation import merge_chat_generation_chunks
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.utils.function_calling import convert_to_json_schema
from langchain_core.utils.utils import LC_ID_PREFIX


def streaming_allowed(model: BaseChatModel, *, async_api: bool, **kwargs: Any) -> bool:
    """Whether LangChain streams this call of ``model`` (no to ``disable_streaming=True``,
    to ``"tool_calling"`` with tools bound, to ``stream=False``), asked of
    ``BaseChatModel._should_stream`` itself: ``ChatRLM`` overrides that method only to keep
    ``_generate_with_cache`` off the streaming branch that has no run manager."""
    return BaseChatModel._should_stream(model, async_api=async_api, **kwargs)


class ChunkShaper:
    """Gives a run's chunks the shape ``BaseChatModel.stream`` gives them: the run's message
    id, and under ``output_version="v1"`` content blocks, indexed as LangChain indexes them."""

    def __init__(self, model: BaseChatModel, run_id: UUID) -> None:
        self._id = message_id(run_id)
        self._blocks = model.output_version == "v1"
        self._index = -1
        self._block_type = ""

    def __call__(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
        """``chunk`` as the run streams it (a new chunk; ``chunk`` is left as it is)."""
        message = chunk.message
        update: dict[str, Any] = {}
        if message.id is None:
            update["id"] = self._id
        if self._blocks:
            blocks: list[dict[str, Any]] = [dict(block) for block in message.content_blocks]
            for block in blocks:
                if block["type"] != self._block_type:
                    self._block_type = block["type"]
                    self._index += 1
                block.setdefault("index", self._index)
            update["content"] = blocks
            update["response_metadata"] = {**message.response_metadata, "output_version": "v1"}
        if not update:
            return chunk
        return ChatGenerationChunk(
            message=message.model_copy(update=update), generation_info=chunk.generation_info
        )


def child_config(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun,
) -> RunnableConfig:
    """A config whose runs are children of the chat-model run (LLM run managers have no
    ``get_child``): its inheritable handlers, tags and metadata, with it as parent."""
    manager_class = (
        AsyncCallbackManager
        if isinstance(run_manager, AsyncCallbackManagerForLLMRun)
        else CallbackManager
    )
    manager = manager_class(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return {"callbacks": manager}


def message_id(run_id: UUID) -> str:
    """The id LangChain gives the message of run ``run_id`` (so stream consumers can dedupe)."""
    return f"{LC_ID_PREFIX}-{run_id}"


def answer_token(run_id: UUID | None, text: str) -> ChatGenerationChunk:
    """``text`` as a streamed chunk of run ``run_id``'s answer (more chunks follow)."""
    return ChatGenerationChunk(
        message=AIMessageChunk(content=text, id=None if run_id is None else message_id(run_id))
    )


def _structured_format(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop ``with_structured_output``'s format marker as the options entry tracers read."""
    marker = kwargs.pop("ls_structured_output_format", None) or kwargs.pop(
        "structured_output_format", None
    )
    if not marker:
        return {}
    try:
        schema = convert_to_json_schema(marker["schema"])
    except Exception:  # an unusual schema: report the call without it
        return {}
    return {"ls_structured_output_format": {"kwargs": marker.get("kwargs", {}), "schema": schema}}


def _run_arguments(
    model: BaseChatModel,
    input: LanguageModelInput,
    config: RunnableConfig,
    stop: list[str] | None,
    kwargs: dict[str, Any],
) -> tuple[list[BaseMessage], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The messages, the ``configure`` and ``on_chat_model_start`` arguments, and the
    keyword arguments left for ``_stream``."""
    kwargs = dict(kwargs)
    structured = _structured_format(kwargs)
    messages = model._convert_input(input).to_messages()
    params = model._get_invocation_params(stop=stop, **kwargs)
    configure = {
        "inheritable_callbacks": config.get("callbacks"),
        "local_callbacks": model.callbacks,
        "verbose": model.verbose,
        "inheritable_tags": config.get("tags"),
        "local_tags": model.tags,
        "inheritable_metadata": {
            **(config.get("metadata") or {}),
            **model._get_ls_params(stop=stop, **kwargs),
        },
        "local_metadata": model.metadata,
    }
    start = {
        "invocation_params": params,
        "options": {"stop": stop, **kwargs, **structured},
        "name": config.get("run_name"),
        "run_id": config.pop("run_id", None),
        "batch_size": 1,
    }
    return messages, configure, start, kwargs


def _finish(chunks: list[ChatGenerationChunk]) -> LLMResult:
    merged = merge_chat_generation_chunks(chunks)
    return LLMResult(generations=[[merged]] if merged is not None else [])


def stream_run(
    model: BaseChatModel,
    input: LanguageModelInput,
    config: RunnableConfig | None,
    stop: list[str] | None,
    kwargs: dict[str, Any],
) -> Iterator[AIMessageChunk]:
    """``model.stream`` with the run manager passed to ``model._stream``."""
    config = ensure_config(config)
    messages, configure, start, kwargs = _run_arguments(model, input, config, stop, kwargs)
    manager = CallbackManager.configure(**configure)
    (run_manager,) = manager.on_chat_model_start(model._serialized, [messages], **start)
    if model.rate_limiter is not None:
        model.rate_limiter.acquire(blocking=True)
    shape = ChunkShaper(model, run_manager.run_id)
    chunks: list[ChatGenerationChunk] = []
    try:
        for piece in model._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
            chunk = shape(piece)
            message = cast("AIMessageChunk", chunk.message)
            run_manager.on_llm_new_token(message.text, chunk=chunk)
            chunks.append(chunk)
            yield message
    except BaseException as error:
        run_manager.on_llm_error(error, response=_finish(chunks))
        raise
    run_manager.on_llm_end(_finish(chunks))


async def astream_run(
    model: BaseChatModel,
    input: LanguageModelInput,
    config: RunnableConfig | None,
    stop: list[str] | None,
    kwargs: dict[str, Any],
) -> AsyncIterator[AIMessageChunk]:
    """``model.astream`` with the run manager passed to ``model._astream``."""
    config = ensure_config(config)
    messages, configure, start, kwargs = _run_arguments(model, input, config, stop, kwargs)
    manager = AsyncCallbackManager.configure(**configure)
    (run_manager,) = await manager.on_chat_model_start(model._serialized, [messages], **start)
    if model.rate_limiter is not None:
        await model.rate_limiter.aacquire(blocking=True)
    shape = ChunkShaper(model, run_manager.run_id)
    chunks: list[ChatGenerationChunk] = []
    try:
        async for piece in model._astream(messages, stop=stop, run_manager=run_manager, **kwargs):
            chunk = shape(piece)
            message = cast("AIMessageChunk", chunk.message)
            await run_manager.on_llm_new_token(message.text, chunk=chunk)
            chunks.append(chunk)
            yield message
    except BaseException as error:
        await run_manager.on_llm_error(error, response=_finish(chunks))
        raise
    await run_manager.on_llm_end(_finish(chunks))
