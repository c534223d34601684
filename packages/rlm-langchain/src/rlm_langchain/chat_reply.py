"""The messages and chunks ``ChatRLM`` replies with: answer text, tool calls, run metadata."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel

from rlm_core import AnswerText, Event, Trace
from rlm_langchain.run_stream import answer_token, message_id
from rlm_langchain.tool_calls import tool_calls_of

ANSWER_KEY = "rlm_answer"
"""``generation_info`` key of the last chunk: the run's whole answer."""


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    """``text`` up to the first stop sequence found in it."""
    for marker in stop or []:
        if marker and marker in text:
            text = text[: text.index(marker)]
    return text


def reply_message(
    answer: Any, trace: Trace, model_name: str, stop: list[str] | None, run_id: UUID | None
) -> AIMessage:
    """The run's answer (text, or tool calls from a typed answer) with its metadata: the
    run's total usage goes in ``response_metadata["rlm_usage"]``, not ``usage_metadata``
    (the inner calls report their own)."""
    usage = trace.usage
    text, calls = tool_calls_of(answer) if isinstance(answer, BaseModel) else (answer, [])
    return AIMessage(
        content=cut_at_stop(str(text), stop),
        tool_calls=calls,
        id=None if run_id is None else message_id(run_id),
        response_metadata={
            "model_name": model_name,
            "finish_reason": "tool_calls" if calls else "stop",
            "rlm_steps": len(trace),
            "rlm_usage": {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        },
    )


def last_chunk(message: AIMessage, streamed: AnswerText | None) -> ChatGenerationChunk:
    """``message`` as a run's last chunk; with ``streamed``, only the text not streamed yet."""
    content = message.content
    if streamed is not None and isinstance(content, str):
        content = streamed.rest(content)
    return ChatGenerationChunk(
        generation_info={ANSWER_KEY: message.content},
        message=AIMessageChunk(
            content=content,
            id=message.id,
            response_metadata=message.response_metadata,
            tool_call_chunks=[
                tool_call_chunk(
                    name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=i
                )
                for i, call in enumerate(message.tool_calls)
            ],
            chunk_position="last",
        ),
    )


def answer_piece(
    event: Event, streamed: AnswerText | None, run_id: UUID | None
) -> ChatGenerationChunk | None:
    """A chunk of answer text when ``event`` streams some (an ``answer_delta`` of the run)."""
    if streamed is None or event.type != "answer_delta":
        return None
    text = streamed.feed(event)
    return answer_token(run_id, text) if text else None


def chat_result(chunk: ChatGenerationChunk | None) -> ChatResult:
    """A run's chunks, merged, as a ``ChatResult`` whose text is the run's answer (what was
    streamed, unless the answer turned out different from the streamed start)."""
    if chunk is None:  # pragma: no cover - the engine raises when a run fails
        raise RuntimeError("the RLM run ended without an answer")
    info = chunk.generation_info or {}
    message = AIMessage(
        content=info.get(ANSWER_KEY, chunk.message.content),
        id=chunk.message.id,
        response_metadata=chunk.message.response_metadata,
        tool_calls=getattr(chunk.message, "tool_calls", []),
    )
    return ChatResult(generations=[ChatGeneration(message=message)])
