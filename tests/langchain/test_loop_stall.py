"""``RLMRunnable.ainvoke`` / ``abatch`` on the default backend never hold the event loop."""

from __future__ import annotations

from rlm_langchain import RLMRunnable

from .conftest import CONTEXT, async_scripted, fenced
from tests.loop_stall import STALL_BOUND_S, least_stall

BATCH = fenced("print(len(llm_batch(['one', 'two', 'three'])))")


def _runnable() -> RLMRunnable:
    return RLMRunnable(
        llm=async_scripted(BATCH, "FINAL: done"),
        sub_llm=async_scripted("sub", "sub", "sub"),
        context=CONTEXT,
        parallel_subcalls=True,
    )


async def test_ainvoke_does_not_stall_the_loop() -> None:
    assert await _runnable().ainvoke("q") == "done"  # unmeasured: first-run imports
    answer, worst = await least_stall(lambda: _runnable().ainvoke("q"))
    assert answer == "done"
    assert worst < STALL_BOUND_S, f"the loop was held for {worst * 1000:.0f} ms"


async def test_abatch_does_not_stall_the_loop() -> None:
    assert await _runnable().ainvoke("q") == "done"

    def runnable() -> RLMRunnable:
        return RLMRunnable(
            llm=async_scripted(BATCH, "FINAL: done", BATCH, "FINAL: done"),
            sub_llm=async_scripted(*["sub"] * 6),
            context=CONTEXT,
            parallel_subcalls=True,
        )

    answers, worst = await least_stall(lambda: runnable().abatch(["q1", "q2"]))
    assert answers == ["done", "done"]
    assert worst < STALL_BOUND_S, f"the loop was held for {worst * 1000:.0f} ms"
