"""``RLMQueryEngine.aquery`` on the default backend never holds the event loop."""

from __future__ import annotations

from rlm_llamaindex import RLMQueryEngine

from .helpers import DOCS, code, scripted_llm
from tests.loop_stall import STALL_BOUND_S, least_stall

ASK = code("print(llm_batch(['one', 'two', 'three']))")


def _engine() -> RLMQueryEngine:
    llm, _ = scripted_llm([ASK, "FINAL: 7319"], sub="7319")
    return RLMQueryEngine(llm=llm, documents=DOCS)


async def test_aquery_does_not_stall_the_loop() -> None:
    assert str(await _engine().aquery("What is the code?")) == "7319"  # unmeasured warm-up
    response, worst = await least_stall(lambda: _engine().aquery("What is the code?"))
    assert str(response) == "7319"
    assert worst < STALL_BOUND_S, f"the loop was held for {worst * 1000:.0f} ms"
