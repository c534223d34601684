"""Search terms of a question, and the sentences of a text that bear on it.

``search_terms`` picks the words worth searching for (quoted phrases, then distinctive
content words). ``related_sentences`` finds the whole sentences holding the rarest of them,
then follows the names those sentences mention (capitalised words, words with digits) to
the sentences that mention those names, for a few rounds: facts that only connect through
each other (A is in B; B is run by C) come back together, as short plain sentences that a
small model reads far better than raw windows of text. Standard library and
``rlm_core.context`` only (the sandboxed REPL worker imports it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlm_core.context import Context

STOP_WORDS = frozenset({
    "the", "and", "for", "with", "what", "which", "who", "whom", "whose", "when", "where",
    "why", "how", "is", "are", "was", "were", "does", "did", "do", "of", "in", "on", "at",
    "to", "a", "an", "by", "from", "that", "this", "these", "those", "it", "its", "be",
    "text", "about", "there", "their", "they", "them", "has", "have", "had", "our", "we",
    "you", "your", "he", "she", "his", "her", "some", "any", "all", "one", "if", "then",
    "after", "before", "during", "nobody", "everyone", "every", "each", "many", "much",
})  # fmt: skip

_QUOTED = re.compile(
    r"\"([^\"]{3,80})\"|\u201c([^\u201d]{3,80})\u201d|(?<![A-Za-z])'([^']{3,80})'(?![A-Za-z])"
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,}")
_NAME = re.compile(r"(?<![\w-])(?:[A-Z][\w-]*[A-Za-z0-9]|[\w-]*\d[\w-]*)(?![\w-])")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_MAX_SENTENCE = 400


def search_terms(question: str, limit: int = 4) -> list[str]:
    """Words worth searching for in ``question``: its quoted phrases first, then its content
    words, the distinctive-looking ones (with digits or capitals) before the rest, longer
    first. Lower case; which is rarest depends on the text, so callers count hits."""
    phrases = [next(p for p in match.groups() if p) for match in _QUOTED.finditer(question)]
    seen: dict[str, tuple[int, int, int]] = {}
    for position, word in enumerate(_WORD.findall(question)):
        if word.lower() in STOP_WORDS or word.lower() in seen:
            continue
        distinctive = any(c.isdigit() for c in word) or (position > 0 and word[0].isupper())
        seen[word.lower()] = (0 if distinctive else 1, -len(word), position)
    words = sorted(seen, key=seen.__getitem__)
    terms = list(dict.fromkeys(phrase.strip().lower() for phrase in phrases if phrase.strip()))
    return (terms + [word for word in words if word not in terms])[:limit]


@dataclass(frozen=True, slots=True)
class _Sentence:
    start: int
    text: str


def _sentence_at(text: str, position: int) -> _Sentence:
    """The sentence around ``position`` (at most ``_MAX_SENTENCE`` characters each side)."""
    low = max(position - _MAX_SENTENCE, 0)
    before = text[low:position]
    ends = [m.end() for m in _SENTENCE_END.finditer(before)]
    start = low + ends[-1] if ends else low
    after = text[position : position + _MAX_SENTENCE]
    end_match = _SENTENCE_END.search(after)
    end = position + (end_match.end() if end_match else len(after))
    raw = text[start:end]
    return _Sentence(start + len(raw) - len(raw.lstrip()), " ".join(raw.split()))


def _sentences(context: Context, term: str, *, names: bool, limit: int) -> list[_Sentence]:
    """Distinct sentences holding ``term`` (a whole word, case-sensitive for names)."""
    pattern = rf"(?<![\w-]){re.escape(term)}(?![\w-])"
    text = context.text
    found: dict[int, _Sentence] = {}
    for match in context.find(pattern, regex=True, max_matches=limit * 4,
                              case_sensitive=names):  # fmt: skip
        sentence = _sentence_at(text, match.start)
        found.setdefault(sentence.start, sentence)
        if len(found) > limit:
            break
    return list(found.values())


def _stems(text: str) -> set[str]:
    """The content words of ``text`` cut to 5 letters ('maintains' ~ 'maintained')."""
    return {w.lower()[:5] for w in _WORD.findall(text) if w.lower() not in STOP_WORDS}


def related_sentences(
    context: Context,
    question: str,
    *,
    hops: int = 2,
    max_sentences: int = 10,
    max_hits: int = 8,
) -> list[str]:
    """Sentences of ``context`` about ``question``, each followed by the ones it led to.

    First the sentences holding the question's rarest search term (fewest sentences,
    at least one), those sharing most of the question's words first. Then, ``hops`` times,
    the names in the sentences found so far that are not in the question are searched
    (a name in more than ``max_hits`` sentences is too common to follow), the best-ranked
    sentences' names first, until ``max_sentences``. The result reads as chains: each
    sentence is followed by the sentences its names led to.
    """
    asked = {word.lower() for word in _WORD.findall(question)}
    wanted = _stems(question)
    seed: list[_Sentence] = []
    for term in search_terms(question, limit=6):
        hits = _sentences(context, term, names=False, limit=max_hits)
        if hits and (not seed or len(hits) < len(seed)) and len(hits) <= max_hits:
            seed = hits
    seed.sort(key=lambda s: -len(wanted & _stems(s.text)))
    chosen: dict[int, _Sentence] = {}
    rank: dict[int, tuple[int, ...]] = {}
    for sentence in seed[:max_sentences]:
        chosen[sentence.start] = sentence
        rank[sentence.start] = (len(rank),)
    frontier = list(chosen.values())
    followed: set[str] = set()
    for _ in range(hops):
        reached: list[_Sentence] = []
        for parent in frontier:
            children = 0
            for name in _NAME.findall(parent.text):
                key = name.lower()
                if key in asked or key in STOP_WORDS or key in followed:
                    continue
                followed.add(key)
                hits = _sentences(context, name, names=True, limit=max_hits)
                if len(hits) > max_hits:
                    continue
                for sentence in hits:
                    if sentence.start not in chosen and len(chosen) < max_sentences:
                        chosen[sentence.start] = sentence
                        rank[sentence.start] = (*rank[parent.start], children)
                        children += 1
                        reached.append(sentence)
        if not reached:
            break
        frontier = reached
    return [chosen[start].text for start in sorted(chosen, key=rank.__getitem__)]
