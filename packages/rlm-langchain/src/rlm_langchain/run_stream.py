"""``stream`` / ``astream`` of a chat model whose ``_stream`` needs its run manager.

``BaseChatModel.stream`` opens the chat-model run but calls ``_stream`` without
its run manager, so the RLM's inner model and retriever calls would start new
root runs and its custom events would go nowhere. These functions open the run
the same way (callbacks, tags, metadata, invocation params) and pass the run
manager on; each chunk is reported as a token of that run.
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


def _tag(chunk: ChatGenerationChunk, run_id: UUID) -> AIMessageChunk:
    if chunk.message.id is None:
        chunk.message.id = message_id(run_id)
    return cast("AIMessageChunk", chunk.message)


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
    chunks: list[ChatGenerationChunk] = []
    try:
        for chunk in model._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
            message = _tag(chunk, run_manager.run_id)
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
    chunks: list[ChatGenerationChunk] = []
    try:
        async for chunk in model._astream(messages, stop=stop, run_manager=run_manager, **kwargs):
            message = _tag(chunk, run_manager.run_id)
            await run_manager.on_llm_new_token(message.text, chunk=chunk)
            chunks.append(chunk)
            yield message
    except BaseException as error:
        await run_manager.on_llm_error(error, response=_finish(chunks))
        raise
    await run_manager.on_llm_end(_finish(chunks))
