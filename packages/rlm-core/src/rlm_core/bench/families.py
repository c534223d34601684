"""Generated multi-hop and aggregation tasks (``rlm bench multihop`` / ``aggregation``).

Like the needle haystacks, every task is built offline from a seeded RNG, so the same
arguments always give the same text, question and answer. Scores are exact (``correct``)
with partial credit reported separately (``score`` from 0 to 1):

- **multihop**: "Who leads the team that maintains project P?" The answer needs two facts
  far apart (project -> team, team -> lead) that only connect through the team's name,
  among distractor projects, teams and leads sharing the same surface words. Naming the
  right team but not its lead earns 0.5.
- **aggregation**: "How many shipments of C were logged?" or "How many units of C were
  shipped in total?" over every shipment record in the text. Partial credit is
  ``1 - |given - expected| / expected`` for the first number in the answer (at least 0).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from rlm_core.bench.haystack import CHARS_PER_TOKEN, filler, is_correct

FAMILIES = ("multihop", "aggregation")

_CODENAMES = (
    "Orion", "Juniper", "Basalt", "Meridian", "Tamarack", "Quartz", "Saffron", "Halcyon",
    "Larkspur", "Cobalt", "Nimbus", "Verdant", "Obsidian", "Piccolo", "Zephyr", "Marigold",
)  # fmt: skip
_TEAMS = (
    "Atlas", "Beacon", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris",
    "Jasper", "Kestrel", "Lumen", "Mosaic", "Nova", "Onyx", "Pioneer",
)  # fmt: skip
_FIRST = ("Mira", "Tomas", "Ines", "Ravi", "Keiko", "Otto", "Lena", "Jonas", "Priya", "Malik")
_LAST = ("Holt", "Varga", "Okafor", "Lind", "Sato", "Brandt", "Moreau", "Quist", "Adeyemi")
_CATEGORIES = ("lanterns", "rope", "tiles", "lenses", "valves", "blankets", "bolts", "maps")
_DEPOTS = ("north", "south", "east", "west", "river", "harbour")


@dataclass(frozen=True, slots=True)
class FamilyTask:
    """One generated task; ``partial`` holds what earns partial credit (multihop: the
    bridging team's name)."""

    family: str
    size_tokens: int
    index: int
    context: str
    question: str
    answer: str
    partial: str = ""

    @property
    def task_id(self) -> str:
        return f"{self.family}-{self.size_tokens}-{self.index}"

    def grade(self, answer: str) -> tuple[bool, float]:
        """(exactly right, partial credit from 0 to 1)."""
        if self.family == "aggregation":
            return is_correct(answer, self.answer), _numeric_credit(answer, int(self.answer))
        if self.answer.lower() in answer.lower():
            return True, 1.0
        return False, 0.5 if self.partial and self.partial.lower() in answer.lower() else 0.0


def _numeric_credit(answer: str, expected: int) -> float:
    match = re.search(r"-?\d[\d,]*", answer)
    if match is None:
        return 0.0
    given = int(match.group(0).replace(",", ""))
    return max(0.0, 1.0 - abs(given - expected) / max(expected, 1))


def _spread(rng: random.Random, pieces: list[str], chars: int) -> str:
    """``pieces`` placed in order at random depths of about ``chars`` of filler prose."""
    room = max(chars - sum(len(p) + 2 for p in pieces), 0)
    text = filler(rng, room)
    cuts = sorted(rng.randint(0, len(text)) for _ in pieces)
    out, last = [], 0
    for cut, piece in zip(cuts, pieces, strict=True):
        stop = text.rfind(". ", last, cut)
        stop = stop + 2 if stop >= last else last
        out += [text[last:stop], piece, " "]
        last = stop
    out.append(text[last:])
    return "".join(out)


def make_multihop(size_tokens: int, index: int, seed: int = 0) -> FamilyTask:
    """Project -> team -> lead, with distractor projects, teams and leads."""
    rng = random.Random(f"multihop:{seed}:{size_tokens}:{index}")
    teams = rng.sample(_TEAMS, 6)
    leads = [f"{first} {last}" for first, last in zip(
        rng.sample(_FIRST, 6), rng.sample(_LAST, 6), strict=True)]  # fmt: skip
    projects = [f"{name}-{rng.randint(100, 999)}" for name in rng.sample(_CODENAMES, 6)]
    pairs = zip(projects, teams, strict=True)
    facts = [f"Project {p} is maintained by the {t} team." for p, t in pairs]
    facts += [f"The {t} team is led by {lead}." for t, lead in zip(teams, leads, strict=True)]
    facts += [f"The {rng.choice(teams)} team reviewed a draft of project "
              f"{rng.choice(projects)} once." for _ in range(4)]  # fmt: skip
    rng.shuffle(facts)
    context = _spread(rng, facts, size_tokens * CHARS_PER_TOKEN)
    return FamilyTask(
        "multihop", size_tokens, index, context,
        f"Who leads the team that maintains project {projects[0]}?", leads[0], teams[0],
    )  # fmt: skip


def make_aggregation(size_tokens: int, index: int, seed: int = 0) -> FamilyTask:
    """Shipment records over the whole text; count or sum for one category."""
    rng = random.Random(f"aggregation:{seed}:{size_tokens}:{index}")
    chars = size_tokens * CHARS_PER_TOKEN
    records: list[str] = []
    used = 0
    while used < chars * 0.6:
        line = (f"Shipment log: the {rng.choice(_DEPOTS)} depot shipped "
                f"{rng.randint(1, 60)} units of {rng.choice(_CATEGORIES)}.")  # fmt: skip
        records.append(line)
        used += len(line) + 2
    category = rng.choice(_CATEGORIES)
    mine = [r for r in records if r.endswith(f" {category}.")]
    if index % 2 == 0:
        question = f"How many shipments of {category} were logged in the text?"
        answer = len(mine)
    else:
        question = f"How many units of {category} were shipped in total, over all shipments?"
        answer = sum(int(r.split(" shipped ")[1].split()[0]) for r in mine)
    context = _spread(rng, records, chars)
    return FamilyTask("aggregation", size_tokens, index, context, question, str(answer))


def make_family_tasks(
    family: str, sizes: list[int], per_size: int, seed: int = 0
) -> list[FamilyTask]:
    """``per_size`` tasks of ``family`` for each size, smallest size first."""
    makers = {"multihop": make_multihop, "aggregation": make_aggregation}
    if family not in makers:
        raise ValueError(f"unknown task family {family!r}: choose from {list(FAMILIES)}")
    return [makers[family](size, i, seed) for size in sorted(sizes) for i in range(per_size)]
