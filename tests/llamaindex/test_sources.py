"""``response.source_nodes``: which documents a run read, found from what it printed and asked."""

from __future__ import annotations

import pytest

from rlm_core import Context, Trace
from rlm_core.trace import TraceStep
from rlm_llamaindex import RLMQueryEngine
from rlm_llamaindex.sources import consulted_documents

from .helpers import code, scripted_llm

HEADER = "ACME Corp internal memo - confidential, do not distribute outside the company."
MEMOS = [f"{HEADER}\nMemo {i}: the budget for team {i} is {i * 1000} dollars." for i in range(5)]


def filler(tag: str) -> str:
    return " ".join(
        f"{tag} filler sentence number {i} about nothing in particular." for i in range(30)
    )


TAGGED = [
    filler("alpha") + " The launch code for Heron is 7319.",
    filler("beta"),
    filler("gamma") + " Orchard apples.",
]


def sources_of(documents: list[str], program: str) -> list[tuple[int, float | None]]:
    """(document index, score) of each source node of a run of ``program``."""
    llm, _ = scripted_llm([code(program), "FINAL: done"], sub="noted")
    response = RLMQueryEngine.from_documents(documents, llm=llm).query("q")
    return [(documents.index(hit.node.get_content()), hit.score) for hit in response.source_nodes]


def test_a_grep_hit_credits_its_own_document_not_the_window_around_it() -> None:
    # the window around 'team 3' spills into memos 2 and 4, and every memo shares the header
    assert sources_of(MEMOS, "print(grep('team 3'))") == [(3, 1.0)]
    assert sources_of(MEMOS, "for hit in grep('team 3'):\n    print(hit)") == [(3, 1.0)]


def test_shared_text_goes_to_the_document_it_was_printed_with() -> None:
    start = Context.from_documents(MEMOS).text.index(MEMOS[3])
    program = f"print(P[{start}:{start + len(MEMOS[3])}])"
    assert sources_of(MEMOS, program) == [(3, 1.0)]


def test_text_shared_by_every_document_alone_makes_none_of_them_the_top_source() -> None:
    program = f"print({HEADER!r})\nprint(grep('team 2'))"
    found = sources_of(MEMOS, program)
    assert found[0] == (2, 1.0)
    assert all(score is not None and score < 0.5 for _, score in found[1:])


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("i = P.find('gamma')\nprint(llm_query(f'Find the code in: {P[i:i+300]}'))", 2),
        ("i = P.find('gamma')\nprint(llm_query(P[i:i+300] + ' -- what is the code?'))", 2),
        ("i = P.find('beta filler')\nprint('Found: ' + P[i:i+200])", 1),
        ("i = P.find('beta filler')\nprint(f'({i}) {P[i:i+200]!r} <- look')", 1),
    ],
)
def test_text_with_a_label_on_the_same_line_is_credited(program: str, expected: int) -> None:
    assert sources_of(TAGGED, program) == [(expected, 1.0)]


def test_text_printed_across_a_document_boundary_is_shared_by_characters() -> None:
    boundary = len(TAGGED[0])
    # 400 characters of alpha's end, the separator, then 100 of beta's start
    found = dict(sources_of(TAGGED, f"print(P[{boundary - 400}:{boundary + 107}])"))
    assert found[0] == 1.0
    assert found[1] == pytest.approx(0.25, abs=0.01)


def test_each_query_credits_its_own_document_when_documents_share_padding() -> None:
    documents = [
        f"Document {i}. " + "padding words here. " * 20 + f"The secret of item{i} is {i * 111}."
        for i in range(6)
    ]
    for item in (0, 3, 5):
        found = sources_of(documents, f"print(grep('secret of item{item}'))")
        assert found == [(item, 1.0)]


def test_unplaceable_output_leaves_searches_for_later_outputs_of_a_large_context() -> None:
    documents = [
        f"record {i}: shipped {i * 7} crates of item-{i:04d} to depot {i % 17}. "
        + "lorem ipsum dolor sit amet " * 40
        for i in range(2000)
    ]
    context = Context.from_documents(documents)
    remarks = "\n".join(
        f"the model's own remark number {i}, not from the context" for i in range(500)
    )
    start = context.text.index("record 1234:")
    trace = Trace()
    trace.steps.append(TraceStep(step_id=0, kind="repl_exec", stdout=remarks))
    trace.steps.append(
        TraceStep(step_id=1, kind="repl_exec", stdout="Found: " + context.text[start : start + 300])
    )

    counts = consulted_documents(context, trace)

    # the 500 unplaceable lines use only their own output's share of searches, and the
    # record is found although most of the printed text is boilerplate every record has
    assert counts == {1234: 1.0}


def test_a_printed_ctx_find_match_credits_its_document_not_its_snippet() -> None:
    # the snippet around the hit at the end of alpha reaches into beta
    assert sources_of(TAGGED, "print(ctx.find('Heron'))") == [(0, 1.0)]
