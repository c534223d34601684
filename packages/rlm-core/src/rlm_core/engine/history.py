"""The root conversation: what is sent each step, kept within bounds."""

from __future__ import annotations

from rlm_core.adapters.base import Message
from rlm_core.engine.settings import CompactionSettings
from rlm_core.engine.tokens import count_tokens


class History:
    """Messages for the next root call.

    Token counts are kept incrementally so a step costs the same at step 300 as
    at step 1. ``full`` always holds every message, for the ``history`` REPL
    variable after compaction.
    """

    def __init__(
        self,
        system: str,
        first_user: str,
        *,
        keep_turns: bool = True,
        max_history_tokens: int = 0,
        compaction: CompactionSettings | None = None,
    ) -> None:
        self.keep_turns = keep_turns
        self.max_history_tokens = max_history_tokens
        self.compaction = compaction
        self.first_user = first_user
        self.messages: list[Message] = [
            {"role": "system", "content": system},
            {"role": "user", "content": first_user},
        ]
        self._sizes = [count_tokens(system), count_tokens(first_user)]
        self.tokens = sum(self._sizes)
        self.full: list[Message] = list(self.messages)
        self.compactions = 0

    def add_turn(self, assistant: str, user: str) -> None:
        """Record the model's reply and the feedback it gets."""
        turn = [{"role": "assistant", "content": assistant}, {"role": "user", "content": user}]
        self.full.extend(turn)
        if not self.keep_turns:
            self._replace_current_user(assistant, user)
            return
        sizes = [count_tokens(assistant), count_tokens(user)]
        self.messages.extend(turn)
        self._sizes.extend(sizes)
        self.tokens += sum(sizes)
        if self.max_history_tokens:
            self._trim(self.max_history_tokens)

    def _replace_current_user(self, assistant: str, user: str) -> None:
        """Stateless mode: only the system message and one current user message (the
        question, the model's last reply and what it produced) are sent."""
        current = f"{self.first_user}\n\nYour previous reply:\n{assistant}\n\n{user}"
        self.messages[1:] = [{"role": "user", "content": current}]
        self._sizes[1:] = [count_tokens(current)]
        self.tokens = sum(self._sizes)

    def add_user(self, text: str) -> None:
        """Append a user message without an assistant reply (the finalize request)."""
        message = {"role": "user", "content": text}
        self.full.append(message)
        if self.messages[-1]["role"] == "user":
            merged = self.messages[-1]["content"] + "\n\n" + text
            self.tokens += count_tokens(text)
            self._sizes[-1] += count_tokens(text)
            self.messages[-1] = {"role": "user", "content": merged}
            return
        self.messages.append(message)
        self._sizes.append(count_tokens(text))
        self.tokens += self._sizes[-1]

    def _trim(self, limit: int) -> None:
        while self.tokens > limit and len(self.messages) > 4:
            self.tokens -= self._sizes[2] + self._sizes[3]
            del self.messages[2:4]
            del self._sizes[2:4]

    # -- compaction ---------------------------------------------------------------------------
    def needs_compaction(self) -> bool:
        settings = self.compaction
        return (
            settings is not None
            and self.tokens > settings.threshold_tokens
            and len(self.messages) > 2 + 2 * settings.keep_last_turns
        )

    def compaction_request(self) -> list[Message]:
        """Messages asking a model to summarise the turns that will be folded away."""
        assert self.compaction is not None
        end = len(self.messages) - 2 * self.compaction.keep_last_turns
        log = "\n\n".join(
            f"[{message['role']}]\n{message['content']}" for message in self.messages[1:end]
        )
        return [
            {"role": "system", "content": self.compaction.prompt},
            {"role": "user", "content": f"Work log to summarise:\n\n{log}"},
        ]

    def apply_summary(self, summary: str) -> None:
        """Replace the old turns by ``summary`` (kept inside the first user message)."""
        assert self.compaction is not None
        end = len(self.messages) - 2 * self.compaction.keep_last_turns
        first = (
            f"{self.first_user}\n\nProgress so far (summary of earlier steps; the full log is in "
            f"the REPL variable `history`):\n{summary.strip()}"
        )
        self.messages[1:end] = [{"role": "user", "content": first}]
        self._sizes[1:end] = [count_tokens(first)]
        self.tokens = sum(self._sizes)
        self.compactions += 1
