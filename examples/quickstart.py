"""A complete RLM run with the scripted FakeAdapter: no API key, no network.

The root "model" writes code that searches the context and asks a sub-model
about what it found, exactly as a real model would.
"""

from __future__ import annotations

from rlm_core import RLM, Context
from rlm_core.adapters import FakeAdapter

DOCUMENTS = [
    "Falcon 9 flight 41 launched on Jan 6 and carried a weather satellite.",
    "Flight 42 launched on Feb 2; the customer paid $50M for the ride.",
    "Flight 43 was scrubbed twice for weather before it finally flew.",
]


def main() -> None:
    root = FakeAdapter(
        script=[
            "```python\nhits = grep('paid')\nprint(hits)\n```",
            "```python\nanswer = ask('Which flight had revenue, and how much?', hits[0])\n"
            "print(answer)\n```",
            "FINAL_VAR: answer",
        ]
    )
    root.add_rule("You are a sub-LLM", "Flight 42 brought in $50M.")
    rlm = RLM(adapter=root)  # model code runs in the isolated worker (the default)
    answer, trace = rlm.run("Which launch had revenue?", Context.from_documents(DOCUMENTS))
    for step in trace.steps:
        detail = (step.code or step.response or "").splitlines()[0][:70]
        print(f"step {step.step_id:>2} {step.kind:<12} {detail}")
    print(f"\nanswer: {answer}")


if __name__ == "__main__":
    main()
