"""Where a piece of printed or prompted text came from in a (possibly large) context text.

A piece is placed by its anchors: short spans taken across it (not only at its start, so a
prefix such as ``"Found: "`` does not hide it). Each place an anchor occurs is grown
left and right while the piece and the context agree, and the longest agreement wins, so
text shared by several documents is placed where more of the piece matches. Whole-text
searches are capped (``MAX_SCANS``, and ``MAX_STEP_SCANS`` between two ``next_output``
calls, so one long output cannot use them all); searches near a known position are cheap
and uncapped.
"""

from __future__ import annotations

from dataclasses import dataclass

ANCHOR_CHARS = 32
MAX_ANCHORS = 4
MAX_OCCURRENCES = 64
MAX_SCANS = 200  # whole-text searches per locator
MAX_STEP_SCANS = 40  # of which one output may use


@dataclass(frozen=True, slots=True)
class Placement:
    """``piece[start:end]`` equals ``text[at : at + end - start]``."""

    start: int
    end: int
    at: int

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def span(self) -> tuple[int, int]:
        """The placed characters' range in the context text."""
        return self.at, self.at + self.length


@dataclass(slots=True)
class Part:
    """A run of a piece and the equally good places for it (``crowded``: its anchor occurs
    too often in the context to list them all; ``placements`` is then empty)."""

    lo: int
    hi: int
    anchor_at: int
    placements: list[Placement]
    crowded: bool = False

    @property
    def placed(self) -> Placement | None:
        return self.placements[0] if len(self.placements) == 1 else None

    @property
    def start(self) -> int:
        return self.placements[0].start if self.placements else self.lo

    @property
    def length(self) -> int:
        return self.placements[0].length if self.placements else self.hi - self.lo


class TextLocator:
    """Places pieces of text in ``text``."""

    def __init__(self, text: str, max_scans: int = MAX_SCANS) -> None:
        self.text = text
        self.scans_left = max_scans
        self.output_scans_left = MAX_STEP_SCANS
        self._seen: dict[str, list[int] | None] = {}

    def next_output(self) -> None:
        """Pieces from here on come from another output, with its own share of searches."""
        self.output_scans_left = MAX_STEP_SCANS

    def parts(self, piece: str) -> list[Part]:
        """The runs of ``piece`` found in the text (at least ``ANCHOR_CHARS`` long each), in
        piece order; text around a run that matches nothing is searched again on its own."""
        found: list[Part] = []
        pending = [(0, len(piece))]
        while pending:
            lo, hi = pending.pop()
            part = self._part(piece, lo, hi)
            if part is None:
                pending += _lines(piece, lo, hi)
                continue
            found.append(part)
            if part.placements:
                first = part.placements[0]
                pending += [(lo, first.start), (first.end, hi)]
        return sorted(found, key=lambda part: part.start)

    def place_near(
        self, piece: str, part: Part, near: tuple[int, int], reach: int
    ) -> tuple[int, Placement] | None:
        """The longest placement of ``part`` within ``reach`` characters of the text span
        ``near``, the closest of equally long ones, with its distance from ``near``."""
        start, end = near
        anchor = piece[part.anchor_at : part.anchor_at + ANCHOR_CHARS]
        lo = max(start - reach - (part.hi - part.lo), 0)
        positions = self._occurrences(anchor, lo, min(end + reach + ANCHOR_CHARS, len(self.text)))
        longest = self._longest(piece, part.lo, part.hi, part.anchor_at, positions or [])
        scored = [(_distance(placement.span, near), placement) for placement in longest]
        return min(scored, key=lambda item: item[0], default=None)

    def _part(self, piece: str, lo: int, hi: int) -> Part | None:
        crowded_at: int | None = None
        tried: set[int] = set()
        # a few anchors first; where those are common text, every anchor of the segment
        for offsets in (_anchor_offsets(lo, hi), range(lo, hi - ANCHOR_CHARS + 1, ANCHOR_CHARS)):
            for anchor_at in offsets:
                anchor = piece[anchor_at : anchor_at + ANCHOR_CHARS]
                if anchor_at in tried or not _worth_searching(anchor):
                    continue
                tried.add(anchor_at)
                positions = self._search(anchor)
                if positions is None:
                    crowded_at = anchor_at if crowded_at is None else crowded_at
                elif positions:
                    placements = self._longest(piece, lo, hi, anchor_at, positions)
                    return Part(lo, hi, anchor_at, placements)
            if crowded_at is None:
                break
        return None if crowded_at is None else Part(lo, hi, crowded_at, [], crowded=True)

    def _longest(
        self, piece: str, lo: int, hi: int, anchor_at: int, positions: list[int]
    ) -> list[Placement]:
        text = self.text
        best: list[Placement] = []
        for position in positions:
            left = _common_before(piece, anchor_at, text, position, anchor_at - lo)
            right = _common_after(piece, anchor_at, text, position, hi - anchor_at)
            placement = Placement(anchor_at - left, anchor_at + right, position - left)
            if not best or placement.length > best[0].length:
                best = [placement]
            elif placement.length == best[0].length and placement.at != best[0].at:
                best.append(placement)
        return best

    def _search(self, anchor: str) -> list[int] | None:
        """Every position of ``anchor`` in the text (None: too many); [] once out of scans."""
        if anchor in self._seen:
            return self._seen[anchor]
        if self.scans_left <= 0 or self.output_scans_left <= 0:
            return []
        self.scans_left -= 1
        self.output_scans_left -= 1
        positions = self._occurrences(anchor, 0, len(self.text))
        self._seen[anchor] = positions
        return positions

    def _occurrences(self, anchor: str, lo: int, hi: int) -> list[int] | None:
        text = self.text
        positions: list[int] = []
        position = text.find(anchor, lo, hi)
        while position >= 0:
            if len(positions) == MAX_OCCURRENCES:
                return None
            positions.append(position)
            position = text.find(anchor, position + 1, hi)
        return positions


def _anchor_offsets(lo: int, hi: int) -> list[int]:
    """Up to ``MAX_ANCHORS`` anchor starts spread over ``[lo, hi)``, the middle one first
    (a printed label before the text, or a remark after it, spoils only the ends)."""
    room = hi - lo - ANCHOR_CHARS
    if room < 0:
        return []
    count = max(1, min(MAX_ANCHORS, (hi - lo) // ANCHOR_CHARS))
    spread = {lo + room * step // max(count - 1, 1) for step in range(count)}
    middle = lo + room // 2
    return [middle, *sorted(spread - {middle})]


def _lines(piece: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """The lines of ``piece[lo:hi]`` when it has several, to be searched one by one."""
    if piece.find("\n", lo, hi) < 0:
        return []
    lines = []
    start = lo
    while start < hi:
        end = piece.find("\n", start, hi)
        end = hi if end < 0 else end
        if end - start >= ANCHOR_CHARS:
            lines.append((start, end))
        start = end + 1
    return lines


def _distance(span: tuple[int, int], other: tuple[int, int]) -> int:
    return max(other[0] - span[1], span[0] - other[1], 0)


def _worth_searching(anchor: str) -> bool:
    """Anchors made mostly of spaces or punctuation occur everywhere; skip them."""
    return sum(char.isalnum() for char in anchor) * 2 >= len(anchor)


def _common_after(a: str, i: int, b: str, j: int, limit: int) -> int:
    """The largest ``n <= limit`` with ``a[i:i+n] == b[j:j+n]`` (galloping slice compares)."""
    low, high = 0, min(limit, len(a) - i, len(b) - j)
    step = ANCHOR_CHARS
    while low < high:
        probe = min(low + step, high)
        if a[i + low : i + probe] == b[j + low : j + probe]:
            low = probe
            step *= 2
        else:
            high = probe - 1
            step = max(1, (high - low) // 2)
    return low


def _common_before(a: str, i: int, b: str, j: int, limit: int) -> int:
    """The largest ``n <= limit`` with ``a[i-n:i] == b[j-n:j]``."""
    low, high = 0, min(limit, i, j)
    step = ANCHOR_CHARS
    while low < high:
        probe = min(low + step, high)
        if a[i - probe : i - low] == b[j - probe : j - low]:
            low = probe
            step *= 2
        else:
            high = probe - 1
            step = max(1, (high - low) // 2)
    return low
