"""Reading a streamed reply and stopping at its token cap, whatever the server honours.

Some servers ignore the model's limit parameter (an OpenAI-compatible local server
may ignore ``max_completion_tokens``), so the adapter streams each call and stops
reading once the reply reaches its cap. Closing the stream ends the request, so
the server is not left generating. Models that do not stream return one chunk;
their text is cut at the cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.messages import AIMessageChunk, BaseMessage

CHARS_PER_TOKEN = 3
"""Characters per token of the length estimate (as in ``rlm_core``'s ``estimate_tokens``)."""


def tokens_in(text: str, text_chunks: int) -> int:
    """Output tokens of a reply: one per streamed text chunk, or the length estimate if higher."""
    return max(text_chunks, len(text) // CHARS_PER_TOKEN)


@dataclass(slots=True)
class CappedReply:
    """Accumulates a streamed reply up to ``cap`` tokens; ``add`` says when to stop reading."""

    cap: int
    pieces: list[BaseMessage] = field(default_factory=list)
    text: str = ""
    text_chunks: int = 0
    stopped: bool = False
    """True when the reply was cut at the cap (the model went past it)."""

    def add(self, piece: BaseMessage) -> bool:
        """Take one streamed piece; ``True`` when the reply went past the cap (stop reading)."""
        piece_text = str(piece.text)
        chunks = self.text_chunks + (1 if piece_text.strip() else 0)
        text = self.text + piece_text
        if tokens_in(text, chunks) > self.cap:
            self.stopped = True
            if chunks <= self.cap:  # the length estimate ran over: keep what fits
                self.text = text[: self.cap * CHARS_PER_TOKEN]
            return True
        self.pieces.append(piece)
        self.text, self.text_chunks = text, chunks
        return False

    def message(self) -> BaseMessage:
        """The pieces kept, merged into one message (for usage and response metadata)."""
        if not self.pieces:
            return AIMessageChunk(content="")
        merged = self.pieces[0]
        for piece in self.pieces[1:]:
            if isinstance(merged, AIMessageChunk) and isinstance(piece, AIMessageChunk):
                merged = merged + piece
            else:
                merged = piece
        return merged
