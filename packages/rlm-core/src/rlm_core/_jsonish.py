"""Tolerant JSON extraction from model replies (fences, prose around the JSON, trailing text)."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCED = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def parse_json_reply(text: str) -> Any:
    """The first JSON object or array in ``text``; ``ValueError`` when there is none."""
    candidates = [body for body in _FENCED.findall(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        stripped = candidate.strip()
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            pass
        for index, char in enumerate(stripped):
            if char in "[{":
                try:
                    value, _ = decoder.raw_decode(stripped, index)
                except json.JSONDecodeError:
                    continue
                return value
    raise ValueError(f"reply is not JSON: {text[:200]!r}")


def as_records(value: Any) -> list[dict[str, Any]]:
    """Coerce parsed JSON into a list of objects (unwrapping ``{"items": [...]}``)."""
    if isinstance(value, dict):
        lists = [item for item in value.values() if isinstance(item, list)]
        value = lists[0] if len(lists) == 1 else [value]
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON array of objects, got {type(value).__name__}")
    return [item for item in value if isinstance(item, dict)]
