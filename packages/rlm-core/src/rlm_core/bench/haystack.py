"""Deterministic single-needle haystacks.

The filler is plain, varied prose built from word lists by a seeded RNG; one "needle"
sentence holding a random key and value is inserted at a random depth. The same seed
always gives the same text, question and answer, so results are comparable across
runs, machines and models. Sizes are in approximate tokens (4 characters each).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

CHARS_PER_TOKEN = 4

_SUBJECTS = (
    "The committee",
    "A local farmer",
    "The new library",
    "Our neighbour",
    "The river ferry",
    "A visiting scholar",
    "The night shift",
    "The harbour master",
    "A travelling band",
    "The village school",
    "The old observatory",
    "A small bakery",
    "The city council",
    "The museum guide",
    "A retired sailor",
    "The weather station",
    "The hiking club",
)
_VERBS = (
    "discussed",
    "repaired",
    "painted",
    "measured",
    "recorded",
    "visited",
    "described",
    "photographed",
    "organised",
    "cleaned",
    "inspected",
    "planned",
    "celebrated",
    "reviewed",
)
_OBJECTS = (
    "the eastern bridge",
    "a collection of maps",
    "the spring festival",
    "the garden walls",
    "several wooden boats",
    "the annual report",
    "a row of lanterns",
    "the bell tower",
    "the orchard fences",
    "a stack of letters",
    "the market stalls",
    "the railway timetable",
)
_TIMES = (
    "early in the morning",
    "after a long lunch",
    "during the autumn rains",
    "before sunset",
    "on a quiet weekday",
    "late in the evening",
    "at the end of winter",
    "in the summer heat",
)
_CODAS = (
    "Nobody expected it to take so long.",
    "Everyone agreed it went well.",
    "The results were written down carefully.",
    "It was mentioned again the following week.",
    "A few people stayed behind to help.",
    "The details were shared with the neighbours.",
    "Some of the work had to be repeated.",
    "It became a small local story.",
)
_COLORS = ("amber", "cobalt", "crimson", "emerald", "ivory", "indigo", "scarlet", "silver")
_ANIMALS = ("falcon", "otter", "badger", "heron", "lynx", "walrus", "gecko", "bison")
_THINGS = ("vault", "archive", "locker", "greenhouse", "workshop", "cellar", "lighthouse")


@dataclass(frozen=True, slots=True)
class NiahTask:
    """One needle-in-a-haystack question."""

    size_tokens: int
    index: int
    context: str
    question: str
    answer: str
    depth: float  # where the needle sits, 0.0 = start, 1.0 = end
    needle_offset: int  # character offset of the needle in ``context``

    @property
    def task_id(self) -> str:
        return f"niah-{self.size_tokens}-{self.index}"


def filler(rng: random.Random, chars: int) -> str:
    """About ``chars`` characters of varied, needle-free prose."""
    sentences: list[str] = []
    total = 0
    while total < chars:
        sentence = (
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
            f"{rng.choice(_TIMES)}. {rng.choice(_CODAS)}"
        )
        if rng.random() < 0.12:
            sentence += "\n\n"
        else:
            sentence += " "
        sentences.append(sentence)
        total += len(sentence)
    return "".join(sentences)[:chars]


def make_task(size_tokens: int, index: int, seed: int = 0) -> NiahTask:
    """Task ``index`` of size ``size_tokens``: same arguments, same task, every time."""
    if size_tokens < 200:
        raise ValueError(f"size_tokens must be at least 200, got {size_tokens}")
    rng = random.Random(f"niah:{seed}:{size_tokens}:{index}")
    key = f"{rng.choice(_COLORS)} {rng.choice(_ANIMALS)} {rng.choice(_THINGS)}"
    value = str(rng.randint(1_000_000, 9_999_999))
    needle = f"The access code for the {key} is {value}."
    question = f"What is the access code for the {key}?"
    total_chars = size_tokens * CHARS_PER_TOKEN
    depth = round(rng.uniform(0.1, 0.9), 3)
    text = filler(rng, total_chars - len(needle) - 2)
    cut = text.rfind(". ", 0, int(len(text) * depth))
    offset = cut + 2 if cut >= 0 else 0
    context = f"{text[:offset]}{needle} {text[offset:]}"
    return NiahTask(size_tokens, index, context, question, value, depth, offset)


def make_tasks(sizes: list[int], per_size: int, seed: int = 0) -> list[NiahTask]:
    """``per_size`` tasks for each size, smallest size first."""
    return [make_task(size, i, seed) for size in sorted(sizes) for i in range(per_size)]


_DIGITS = re.compile(r"\d[\d,\s]*\d|\d")


def is_correct(answer: str, expected: str) -> bool:
    """True when ``expected`` appears in ``answer`` (digits compared without separators)."""
    if expected in answer:
        return True
    return any(re.sub(r"[,\s]", "", m) == expected for m in _DIGITS.findall(answer))


def parse_size(text: str) -> int:
    """'8k' -> 8000, '1M' -> 1000000, '32000' -> 32000."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise ValueError(f"size {text!r} is not a number like 8k, 128k or 1M")
    number = float(match.group(1))
    unit = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    size = int(number * unit)
    if size < 200:
        raise ValueError(f"size {text!r} is too small: use at least 200 tokens")
    return size
