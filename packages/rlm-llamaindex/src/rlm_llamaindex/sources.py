"""Which documents a run consulted, found from its trace.

The model reads the context through code, so there is no list of "retrieved" documents.
What it looked at is in its trace: hits (``grep``'s ``[@offset]``, a printed ``ctx.find``
``Match``), credited to the document the hit falls in (the text shown around a hit is not
credited, so a window that spills into the next document does not make it a source), and the
context text in its printed output and sub-model prompts. Each such piece is placed in the
context where most of it matches (anywhere in the piece, so a prefix such as ``"Found: "``
does not hide it); text found in several places, such as a header every document shares,
goes to the place next to the neighbouring text of the same output, or is split evenly
between its places. A piece counts once, shared between documents by how many of its
characters fall in each. A document's score is its total relative to the most-read one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate

from llama_index.core.schema import BaseNode, NodeWithScore

from rlm_core import Context, Trace
from rlm_llamaindex.text_locator import Part, TextLocator

# a hit (grep's "[@offset]", a printed ctx.find Match), a repr'd list's item boundary, or an
# escaped line break in printed reprs
_TOKEN = re.compile(r"\[@(\d+)\]|\bMatch\(start=(\d+)|(', '|\", \")|\\[nrt]")
NEAR_CHARS = 2000  # how far from its neighbour's place a repeated piece is looked for
WINDOW_REACH = 1000  # how far from a grep hit the text shown around it can reach
_TRUSTED_OFFSETS = ("repl_exec", "subcall", "recursive_subcall")  # offsets into the top P
_BLOB_KINDS = ("repl_exec", "sub_repl_exec", "subcall", "recursive_subcall", "sub_subcall")


@dataclass(slots=True)
class _Reading:
    """One placed run of a piece (or a grep hit when ``part`` is None)."""

    piece: str
    piece_index: int
    part: Part | None
    window: int | None  # the grep hit whose shown text this run may belong to
    hit: int | None = None


class DocumentIndex:
    """Document ranges of a context: the document at an offset (``Context.document_at``)
    and the documents a range overlaps."""

    def __init__(self, context: Context) -> None:
        self.lengths = context.document_lengths()
        gap = len(context.separator)
        self.starts = [0, *accumulate(length + gap for length in self.lengths[:-1])]
        self.document_at = context.document_at

    def overlaps(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """``(document, characters)`` for each document that ``[start, end)`` overlaps."""
        index = self.document_at(start)
        while index < len(self.starts) and self.starts[index] < end:
            shared = min(end, self.starts[index] + self.lengths[index])
            shared -= max(start, self.starts[index])
            if shared > 0:
                yield index, shared
            index += 1


def consulted_documents(context: Context, trace: Trace) -> dict[int, float]:
    """How much each document index was read during the run (absent = never)."""
    counts: defaultdict[int, float] = defaultdict(float)
    documents = DocumentIndex(context)
    locator = TextLocator(context.text)
    for step in trace.steps:
        blob = step.stdout if step.kind.endswith("repl_exec") else step.prompt
        if step.kind not in _BLOB_KINDS or not blob:
            continue
        trusted = step.kind in _TRUSTED_OFFSETS
        locator.next_output()
        readings = _read(blob, locator, trusted, len(context.text))
        _settle(readings, locator)
        _credit(readings, documents, counts)
    return dict(counts)


def _read(blob: str, locator: TextLocator, trusted: bool, size: int) -> list[_Reading]:
    readings: list[_Reading] = []
    window: int | None = None
    for index, (piece, token) in enumerate(_pieces(blob)):
        piece = piece.strip().strip("[]'\"")
        for part in locator.parts(piece):
            readings.append(_Reading(piece, index, part, window))
        if token is None:
            continue
        hit = token.group(1) or token.group(2)
        if hit is not None:
            offset = int(hit)
            usable = trusted and offset < size
            window = offset if usable else None
            if usable:
                readings.append(_Reading("", -1, None, None, hit=offset))
        elif token.group(3) is not None:
            window = None
    return readings


def _pieces(blob: str) -> Iterator[tuple[str, re.Match[str] | None]]:
    """The blob's text between tokens, each with the token that ends it."""
    position = 0
    for token in _TOKEN.finditer(blob):
        yield blob[position : token.start()], token
        position = token.end()
    yield blob[position:], None


def _settle(readings: list[_Reading], locator: TextLocator) -> None:
    """Place each repeated run next to its nearest placed neighbour in the same output."""
    anchors = [_position(reading) for reading in readings]
    for index, reading in enumerate(readings):
        part = reading.part
        if part is None or part.placed is not None:
            continue
        neighbours = [
            span
            for span in (_nearest(anchors, index, -1), _nearest(anchors, index, 1))
            if span is not None
        ]
        found = [
            placed
            for span in neighbours
            if (placed := locator.place_near(reading.piece, part, span, NEAR_CHARS)) is not None
        ]
        if found:
            _, best = min(found, key=lambda item: (-item[1].length, item[0]))
            part.placements = [best]
            part.crowded = False


def _position(reading: _Reading) -> tuple[int, int] | None:
    if reading.hit is not None:
        return reading.hit, reading.hit + 1
    placed = reading.part.placed if reading.part is not None else None
    return placed.span if placed is not None else None


def _nearest(
    anchors: Sequence[tuple[int, int] | None], index: int, direction: int
) -> tuple[int, int] | None:
    index += direction
    while 0 <= index < len(anchors):
        if anchors[index] is not None:
            return anchors[index]
        index += direction
    return None


def _credit(
    readings: list[_Reading], documents: DocumentIndex, counts: defaultdict[int, float]
) -> None:
    """A grep hit counts 1 for its document; each piece counts 1, shared by characters."""
    by_piece: dict[int, list[Part]] = {}
    for reading in readings:
        if reading.hit is not None:
            counts[documents.document_at(reading.hit)] += 1
        elif reading.part is not None and _counts(reading):
            by_piece.setdefault(reading.piece_index, []).append(reading.part)
    for parts in by_piece.values():
        total = sum(part.length for part in parts)
        for part in parts:
            share = part.length / total / len(part.placements)
            for placement in part.placements:
                start, end = placement.span
                for document, chars in documents.overlaps(start, end):
                    counts[document] += share * chars / (end - start)


def _counts(reading: _Reading) -> bool:
    """Placed somewhere, and not the text shown around a grep hit."""
    part = reading.part
    if part is None or not part.placements:
        return False
    if reading.window is None:
        return True
    placed = part.placed
    if placed is None:
        return False
    start, end = placed.span
    return end < reading.window - WINDOW_REACH or start > reading.window + WINDOW_REACH


def source_nodes(
    nodes: Sequence[BaseNode], context: Context | None, trace: Trace
) -> list[NodeWithScore]:
    """The consulted ``nodes`` (aligned with the context's documents), most-read first."""
    if context is None or not nodes:
        return []
    counts = consulted_documents(context, trace)
    if not counts:
        return []
    top = max(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [
        NodeWithScore(node=nodes[index], score=round(count / top, 4))
        for index, count in ranked
        if 0 <= index < len(nodes) and count > 0
    ]
