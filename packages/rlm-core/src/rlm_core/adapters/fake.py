"""A scripted adapter for tests and demos: no network, fully deterministic."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat

from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.errors import AdapterError


def _prompt_chars(messages: list[Message]) -> int:
    """Characters of every message's content; summed in C for plain dicts (the history
    grows each step, so this runs over hundreds of messages per call)."""
    try:
        return sum(map(len, map(dict.get, messages, repeat("content"), repeat(""))))
    except TypeError:  # messages that are mappings but not dicts
        return sum(len(message.get("content", "")) for message in messages)


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: str
    response: str
    regex: re.Pattern[str] | None

    def matches(self, text: str) -> bool:
        if self.regex is not None:
            return self.regex.search(text) is not None
        return self.pattern in text


class FakeAdapter:
    """Replies from a script, or from rules matched against the prompt.

    Rules are checked first, against the system message and the last message
    (so rule matching costs the same at step 300 as at step 1). When no rule
    matches, the next script entry is returned; when the script is used up,
    ``default`` is returned, or an ``AdapterError`` is raised if it is ``None``.
    """

    def __init__(
        self,
        script: Iterable[str] = (),
        *,
        default: str | None = None,
        model: str = "fake",
    ) -> None:
        self.model = model
        self.default = default
        self._script: deque[str] = deque(script)
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self.calls: list[list[Message]] = []

    def add_rule(self, pattern: str, response: str, regex: bool = False) -> None:
        """Answer ``response`` whenever ``pattern`` occurs in the prompt."""
        compiled = re.compile(pattern, re.DOTALL) if regex else None
        self._rules.append(_Rule(pattern, response, compiled))

    def extend(self, replies: Iterable[str]) -> None:
        """Append replies to the end of the script."""
        with self._lock:
            self._script.extend(replies)

    @property
    def remaining(self) -> int:
        """How many scripted replies are left."""
        return len(self._script)

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        text = self._reply(messages)
        prompt_chars = _prompt_chars(messages)
        usage = Usage(prompt_tokens=prompt_chars // 4 + 1, completion_tokens=len(text) // 4 + 1)
        return ModelResponse(text=text, usage=usage, model=self.model)

    async def acomplete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        return self.complete(messages, max_tokens=max_tokens, temperature=temperature)

    def _reply(self, messages: list[Message]) -> str:
        if self._rules and messages:
            probes = [messages[0].get("content", "")]
            if len(messages) > 1:
                probes.append(messages[-1].get("content", ""))
            for rule in self._rules:
                if any(rule.matches(probe) for probe in probes):
                    with self._lock:
                        self.calls.append(list(messages))
                    return rule.response
        with self._lock:
            self.calls.append(list(messages))
            if self._script:
                return self._script.popleft()
        if self.default is not None:
            return self.default
        raise AdapterError(
            f"FakeAdapter script is used up after {len(self.calls) - 1} replies and no rule "
            "matched; add replies to the script, a rule, or pass default=..."
        )
