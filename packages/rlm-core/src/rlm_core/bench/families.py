"""Generated multi-hop and aggregation tasks (``rlm bench multihop`` / ``aggregation``).

Like the needle haystacks, every task is built offline from a seeded RNG, so the same
arguments always give the same text, question and answer. Scores are exact (``correct``)
with partial credit reported separately (``score`` from 0 to 1):

- **multihop**: "Who leads the team that maintains project P?" (two hops: project ->
  team -> lead) or "In which room does the lead of the team that maintains project P
  work?" (three hops: ... -> lead -> room). The facts sit far apart and only connect
  through the names they share, among distractor projects, teams, leads and rooms using
  the same surface words. Each intermediate name found earns its share of partial credit
  (the team 1/2 of a two-hop task; the team 1/3 or the lead 2/3 of a three-hop one).
- **aggregation**: "How many shipments of C were logged?", "How many units of C were
  shipped in total?" or "Which depot shipped C most often?" over every shipment record in
  the text. Partial credit for a number is ``1 - |given - expected| / expected`` (at least
  0); for the most frequent depot it is the named depot's count over the winner's.
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
_DEPOT_WEIGHTS = (9, 7, 6, 5, 4, 3)  # shuffled per task, so one depot usually leads
HOPS = (2, 3)
AGGREGATES = ("count", "sum", "mode")


@dataclass(frozen=True, slots=True)
class FamilyTask:
    """One generated task. Multihop: ``bridges`` are the intermediate names in hop order
    (the team; the team, then the lead). Aggregation "mode" tasks: ``counts`` are how
    many matching records each depot has."""

    family: str
    size_tokens: int
    index: int
    context: str
    question: str
    answer: str
    bridges: tuple[str, ...] = ()
    kind: str = ""
    """``2-hop`` / ``3-hop`` (multihop); ``count`` / ``sum`` / ``mode`` (aggregation)."""
    counts: tuple[tuple[str, int], ...] = ()

    @property
    def task_id(self) -> str:
        return f"{self.family}-{self.size_tokens}-{self.index}"

    @property
    def partial(self) -> str:
        """The first bridging name (the team), or ``""``."""
        return self.bridges[0] if self.bridges else ""

    def grade(self, answer: str) -> tuple[bool, float]:
        """(exactly right, partial credit from 0 to 1)."""
        if self.kind == "mode":
            return _mode_grade(answer, dict(self.counts), self.answer)
        if self.family == "aggregation":
            return is_correct(answer, self.answer), _numeric_credit(answer, int(self.answer))
        text = answer.lower()
        if self.answer.lower() in text:
            return True, 1.0
        hops = len(self.bridges) + 1
        reached = max(
            (depth for depth, name in enumerate(self.bridges, 1) if name.lower() in text),
            default=0,
        )
        return False, reached / hops


def _mode_grade(answer: str, counts: dict[str, int], expected: str) -> tuple[bool, float]:
    """Right when the first depot named is the most frequent; credit = its count / the top."""
    found = re.search(r"\b(" + "|".join(map(re.escape, counts)) + r")\b", answer.lower())
    if found is None:
        return False, 0.0
    given = found.group(1)
    return given == expected, counts[given] / max(counts.values())


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


def make_multihop(
    size_tokens: int, index: int, seed: int = 0, hops: int | None = None
) -> FamilyTask:
    """Project -> team -> lead (-> room), with distractor projects, teams, leads and rooms.

    ``hops`` is 2 or 3; ``None`` mixes them (even tasks two hops, odd tasks three).
    """
    hops = hops if hops is not None else HOPS[index % len(HOPS)]
    if hops not in HOPS:
        raise ValueError(f"hops must be one of {list(HOPS)}, got {hops!r}")
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
    question = f"Who leads the team that maintains project {projects[0]}?"
    bridges: tuple[str, ...] = (teams[0],)
    answer = leads[0]
    if hops == 3:
        rooms = [f"{letter}{number}" for letter, number in zip(
            rng.sample("BCDFGHKMPRT", 6), rng.sample(range(100, 999), 6), strict=True)]  # fmt: skip
        facts += [f"{lead} works in room {room}." for lead, room in zip(leads, rooms, strict=True)]
        facts += [f"{rng.choice(leads)} once booked room {rng.choice(rooms)} for a "
                  "meeting." for _ in range(3)]  # fmt: skip
        question = (
            f"In which room does the lead of the team that maintains project {projects[0]} work?"
        )
        answer, bridges = rooms[0], (teams[0], leads[0])
    rng.shuffle(facts)
    context = _spread(rng, facts, size_tokens * CHARS_PER_TOKEN)
    return FamilyTask(
        "multihop", size_tokens, index, context, question, answer, bridges, f"{hops}-hop"
    )


def make_aggregation(
    size_tokens: int, index: int, seed: int = 0, kind: str | None = None
) -> FamilyTask:
    """Shipment records over the whole text; a count, a sum or the most frequent depot
    for one category. ``kind`` is ``count``, ``sum`` or ``mode``; ``None`` cycles them."""
    kind = kind if kind is not None else AGGREGATES[index % len(AGGREGATES)]
    if kind not in AGGREGATES:
        raise ValueError(f"kind must be one of {list(AGGREGATES)}, got {kind!r}")
    rng = random.Random(f"aggregation:{seed}:{size_tokens}:{index}")
    chars = size_tokens * CHARS_PER_TOKEN
    weights = list(_DEPOT_WEIGHTS)
    rng.shuffle(weights)
    records: list[tuple[str, int, str]] = []
    used = 0
    while used < chars * 0.6:
        record = (rng.choices(_DEPOTS, weights)[0], rng.randint(1, 60), rng.choice(_CATEGORIES))
        records.append(record)
        used += len(_record_line(*record)) + 2
    categories = list(_CATEGORIES)
    rng.shuffle(categories)
    counts: dict[str, int] = {}
    for category in categories:  # the first category whose most frequent depot is unique
        counts = {depot: 0 for depot in _DEPOTS}
        for depot, _, name in records:
            counts[depot] += name == category
        top = sorted(counts.values(), reverse=True)
        if top[0] > 0 and (kind != "mode" or top[0] > top[1]):
            break
    mine = [(depot, units) for depot, units, name in records if name == category]
    if kind == "count":
        question, answer = f"How many shipments of {category} were logged in the text?", len(mine)
    elif kind == "sum":
        question = f"How many units of {category} were shipped in total, over all shipments?"
        answer = sum(units for _, units in mine)
    else:
        question = f"Which depot shipped {category} most often (in the most shipment records)?"
    context = _spread(rng, [_record_line(*record) for record in records], chars)
    if kind == "mode":
        winner = max(counts, key=counts.__getitem__)
        return FamilyTask(
            "aggregation", size_tokens, index, context, question, winner,
            kind="mode", counts=tuple(counts.items()),
        )  # fmt: skip
    return FamilyTask("aggregation", size_tokens, index, context, question, str(answer), kind=kind)


def _record_line(depot: str, units: int, category: str) -> str:
    return f"Shipment log: the {depot} depot shipped {units} units of {category}."


def make_family_tasks(
    family: str, sizes: list[int], per_size: int, seed: int = 0, *, variant: str | None = None
) -> list[FamilyTask]:
    """``per_size`` tasks of ``family`` for each size, smallest size first.

    ``variant`` fixes the question type: ``2``/``3`` hops for multihop, ``count``/``sum``/
    ``mode`` for aggregation; ``None`` mixes them.
    """
    if family == "multihop":
        hops = None
        if variant is not None:
            if variant not in {str(h) for h in HOPS}:
                raise ValueError(
                    f"multihop variant must be one of {list(HOPS)} hops, got {variant!r}"
                )
            hops = int(variant)
        return [
            make_multihop(size, i, seed, hops) for size in sorted(sizes) for i in range(per_size)
        ]
    if family == "aggregation":
        return [
            make_aggregation(size, i, seed, variant)
            for size in sorted(sizes)
            for i in range(per_size)
        ]
    raise ValueError(f"unknown task family {family!r}: choose from {list(FAMILIES)}")
