"""Reading the passage ids an ``RLMRetriever`` run chose from its free-text answer.

The run is asked for ``FINAL: [3, 1]``, but models also answer in prose
("passages 5 and 1", "the top 3 are 5, 1 and 4"). Ids are taken from the most
explicit form present: a bracketed list, then ids named as passages (``passage 5``,
``#5``), then bare numbers that are not counts ("top 3", "3 passages").
"""

from __future__ import annotations

import re

_ID_LIST = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)?\s*,?\s*\]")
_NAMED = re.compile(
    r"(?:\bpassages?\s*|#\s*)(\d+(?:\s*(?:,|;|\band\b|\bor\b|&)\s*(?:#\s*)?\d+)*)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\d.])\d+(?![\d.]*\d)")
_COUNT_BEFORE = re.compile(r"\b(?:top|first|best|last|all|these|those|only)\s*$", re.IGNORECASE)
_COUNT_AFTER = re.compile(
    r"^\s*(?:passages?|results?|items?|documents?|candidates?|of\b|out\b|are relevant)",
    re.IGNORECASE,
)


def _numbers(text: str) -> list[int]:
    return [int(found) for found in re.findall(r"\d+", text)]


def _prose_ids(answer: str) -> list[int]:
    ids = []
    for match in _NUMBER.finditer(answer):
        before, after = answer[: match.start()], answer[match.end() :]
        if _COUNT_BEFORE.search(before) or _COUNT_AFTER.match(after):
            continue  # "top 3", "3 passages", "2 of them": a count, not an id
        ids.append(int(match.group()))
    return ids


def passage_ids(answer: str) -> list[int]:
    """The 1-based passage ids in ``answer``, in the order given (may repeat or be out of range)."""
    lists = list(_ID_LIST.finditer(answer))
    if lists:
        return _numbers(lists[-1].group(1) or "")
    named = [number for match in _NAMED.finditer(answer) for number in _numbers(match.group(1))]
    if named:
        return named
    return _prose_ids(answer)


def parse_selection(answer: str, count: int) -> list[int]:
    """The chosen passages as 0-based indexes into ``count`` candidates: valid, unique, in order."""
    chosen: list[int] = []
    for number in passage_ids(answer):
        index = number - 1
        if 0 <= index < count and index not in chosen:
            chosen.append(index)
    return chosen
