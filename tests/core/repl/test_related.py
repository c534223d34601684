"""related_sentences: whole sentences for a question's rarest word, then for the names they
mention, so facts that only connect through each other come back together."""

from __future__ import annotations

from rlm_core.context import Context
from rlm_core.repl.related import related_sentences, search_terms

FILLER = "The committee painted the bell tower before sunset. Everyone agreed it went well. "


def _text(*facts: str, gap: int = 40) -> str:
    return "".join(f"{FILLER * gap}{fact} " for fact in facts) + FILLER * gap


def test_search_terms_put_quoted_phrases_and_distinctive_words_first() -> None:
    terms = search_terms('Where did "blue heron" fly in March-12 with Otto?')
    assert terms[:3] == ["blue heron", "march-12", "otto"]
    assert "the" not in search_terms("What is the text about?")


def test_a_chain_of_facts_is_followed_through_the_names_it_shares() -> None:
    chain = [
        "Project Quartz-12 is run by the Kestrel group.",
        "The Kestrel group answers to Dana Whitfield.",
        "Dana Whitfield sits in office R42.",
    ]
    decoys = ["The Heron group answers to Ola Brent.", "Ola Brent sits in office T77."]
    context = Context.from_text(_text(chain[2], decoys[0], chain[0], decoys[1], chain[1]))
    found = related_sentences(context, "Which office does the head of Quartz-12's group use?")
    assert found == chain  # in the order reached: the question's word, then each name
    one_hop = related_sentences(context, "Who runs Quartz-12?", hops=1)
    assert one_hop == chain[:2]


def test_common_words_are_not_followed_and_the_result_is_capped() -> None:
    facts = [f"Item K{n} belongs to the Vale group." for n in range(30)]
    context = Context.from_text(_text("Ticket Z-9 went to the Vale group.", *facts, gap=2))
    found = related_sentences(context, "Where did ticket Z-9 go?", max_sentences=5)
    assert found == ["Ticket Z-9 went to the Vale group."]  # "Vale" is in 31 sentences
    assert len(related_sentences(context, "Where did ticket Z-9 go?", max_hits=40)) <= 10
    assert related_sentences(Context.from_text(FILLER * 5), "Where is Zebedee?") == []


def test_the_sentence_sharing_most_of_the_question_leads_and_each_chain_reads_in_order() -> None:
    common = "The group runs a project every spring. " * 3  # 'group', 'runs', 'project' are common
    context = Context.from_text(
        common
        + _text(
            "The Heron group once audited Quartz-12.",
            "The Heron group answers to Ola Brent.",
            "Project Quartz-12 runs in the Kestrel group.",
            "The Kestrel group answers to Dana Whitfield.",
        )
    )
    found = related_sentences(context, "Who heads the group that runs project Quartz-12?")
    assert found == [
        "Project Quartz-12 runs in the Kestrel group.",  # 'Quartz-12' and most question words
        "The Kestrel group answers to Dana Whitfield.",  # ...then where its name leads
        "The Heron group once audited Quartz-12.",
        "The Heron group answers to Ola Brent.",
    ]
