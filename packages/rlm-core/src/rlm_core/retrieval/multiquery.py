"""Multi-query retrieval: reformulate a query N ways, search each, merge the pools."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rlm_core._jsonish import parse_json_reply
from rlm_core.errors import ConfigError
from rlm_core.retrieval._llm import CachedCaller

DEFAULT_REWRITE_PROMPT = """\
You reformulate search queries. Given a query, write {n} different reformulations that look \
for the same thing with different vocabulary (synonyms, technical terms, related concepts). \
Reply with JSON only: {"rewrites": ["...", "..."]}"""

_LIST_MARKER = re.compile(r"^\s*(?:\d+[.):]|[-*•])\s*")


class QueryRewriter:
    """Asks a model (one call) for ``n`` vocabulary-diverse reformulations of a query.

    ``system_prompt`` is yours (``{n}`` in it is filled in); replies are parsed
    tolerantly: ``{"rewrites": [...]}``, a bare JSON list, fenced JSON, or numbered
    / bulleted lines. Telemetry: ``llm_calls``, ``cache_hits``.
    """

    def __init__(
        self,
        adapter: Any,
        n: int = 5,
        system_prompt: str = DEFAULT_REWRITE_PROMPT,
        max_tokens: int = 400,
        cache: Any = None,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be an int >= 1, got {n!r}")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
        if not isinstance(system_prompt, str) or not system_prompt.strip():
            raise ConfigError("system_prompt must be a non-empty str")
        self.n = n
        self.system_prompt = system_prompt.replace("{n}", str(n))
        self.max_tokens = max_tokens
        self._call = CachedCaller(adapter, cache, "query_rewrite")
        self.last_reply: str | None = None

    @property
    def llm_calls(self) -> int:
        return self._call.llm_calls

    @property
    def cache_hits(self) -> int:
        return self._call.cache_hits

    def rewrite(self, query: str) -> list[str]:
        """Up to ``n`` distinct reformulations (the original query is not included)."""
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"query must be a non-empty str, got {query!r:.80}")
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": f"Query: {query}"},
        ]
        self.last_reply = self._call(messages, self.max_tokens)
        rewrites = parse_rewrites(self.last_reply)
        seen = {query.strip().lower()}
        out: list[str] = []
        for text in rewrites:
            if text.lower() not in seen:
                seen.add(text.lower())
                out.append(text)
        return out[: self.n]


def parse_rewrites(reply: str) -> list[str]:
    """The reformulations in a model reply (JSON object/list, fenced, or lines)."""
    try:
        value = parse_json_reply(reply)
    except ValueError:
        value = None
    if isinstance(value, Mapping):
        value = value.get(
            "rewrites", next((v for v in value.values() if isinstance(v, list)), None)
        )
    if isinstance(value, list):
        items = [_item_text(item) for item in value]
        return [item for item in items if item]
    lines = (_LIST_MARKER.sub("", line).strip().strip("\"'").strip() for line in reply.splitlines())
    return [line for line in lines if line and not line.startswith(("```", "{", "}", "[", "]"))]


def _item_text(item: Any) -> str:
    if isinstance(item, Mapping):
        item = item.get("query") or item.get("rewrite") or item.get("text") or ""
    return str(item).strip() if isinstance(item, str | int | float) else ""


def union_pool(pools: Iterable[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Merge result lists: the first occurrence of each doc_id wins, order kept."""
    seen: set[str] = set()
    merged: list[dict[str, Any]] = []
    for number, pool in enumerate(pools):
        for hit in pool:
            if not isinstance(hit, Mapping) or "doc_id" not in hit:
                raise ConfigError(f"pool {number} holds an item without a 'doc_id': {hit!r:.80}")
            doc_id = str(hit["doc_id"])
            if doc_id not in seen:
                seen.add(doc_id)
                merged.append(dict(hit))
    return merged
