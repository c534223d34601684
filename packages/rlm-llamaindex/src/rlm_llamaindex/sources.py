"""Which documents a run consulted, found from its trace.

The model reads the context through code, so there is no list of "retrieved"
documents. A document counts as consulted when the run's printed output or its
sub-model prompts contain its text, or when a ``grep`` hit (``[@offset]``) falls
inside it. Its score is how often that happened, relative to the most-read one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from llama_index.core.schema import BaseNode, NodeWithScore

from rlm_core import Context, Trace

_OFFSET = re.compile(r"\[@(\d+)\]")
_SPLIT = re.compile(r"\n|\\n|', '|\", \"|\[@\d+\]")
MIN_PROBE_CHARS = 32
PROBE_CHARS = 120
MAX_PROBES = 200
_SUBCALL_KINDS = ("subcall", "recursive_subcall", "sub_subcall")
_EXEC_KINDS = ("repl_exec", "sub_repl_exec")


def _blobs(trace: Trace) -> Iterable[str]:
    for step in trace.steps:
        if step.kind in _EXEC_KINDS and step.stdout:
            yield step.stdout
        elif step.kind in _SUBCALL_KINDS and step.prompt:
            yield step.prompt


def _probes(blob: str) -> Iterable[str]:
    for piece in _SPLIT.split(blob):
        piece = piece.strip().strip("[]'\"").strip()
        if len(piece) >= MIN_PROBE_CHARS:
            yield piece[:PROBE_CHARS]


def consulted_documents(context: Context, trace: Trace) -> Counter[int]:
    """How often each document index was read during the run (absent = never)."""
    counts: Counter[int] = Counter()
    text = context.text
    for step in trace.of_kind("repl_exec"):  # grep offsets refer to the top-level P only
        for match in _OFFSET.finditer(step.stdout or ""):
            offset = int(match.group(1))
            if offset < len(text):
                counts[context.document_at(offset)] += 1
    probes = 0
    for blob in _blobs(trace):
        for probe in _probes(blob):
            if probes >= MAX_PROBES:
                return counts
            probes += 1
            position = text.find(probe)
            if position >= 0:
                counts[context.document_at(position)] += 1
    return counts


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
        if 0 <= index < len(nodes)
    ]
