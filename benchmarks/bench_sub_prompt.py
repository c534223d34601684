"""Sub-call system prompts on the bundled model: the core prompt against the small profile's.

A sub-call in the small profile's example reads the sentences ``find_facts`` gathered and
answers the question. With the core's sub-call prompt the bundled 0.5B model sometimes
answers ``NOT FOUND`` to a sentence that holds the answer, and the run then has nothing.
This script asks both prompts about generated needle sentences (the answer is there) and
about sentences on another key (the answer is not there; the right reply is ``NOT FOUND``):
another generated key (it may share a word with the question's), and a near miss, the
question's own key with its last word swapped (as distractors share words with the
question). The layout is the one the engine sends (text first, question last). For each
prompt it prints the share answered correctly and the share of the other sentences it
declined.

Run: ``uv run python benchmarks/bench_sub_prompt.py`` (60 + 30 + 30 sentences, about 2.5 minutes
on 2 free cores, model loading included; ``--quick``: 4 + 2 + 2). Every ratio it prints is
informational. ``--seed`` picks another set of sentences.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from _common import Ratio, header, parser, report

from rlm_core.adapters import LlamaCppAdapter
from rlm_core.bench.haystack import is_correct, make_task
from rlm_core.engine.prompts import SUB_SYSTEM_PROMPT
from rlm_core.profiles import SMALL_SUB_SYSTEM

PROMPTS = {"core": SUB_SYSTEM_PROMPT, "small": SMALL_SUB_SYSTEM}


@dataclass(frozen=True, slots=True)
class Probe:
    sentence: str
    question: str
    expected: str | None  # None: the sentence is about another key
    near: bool = False  # the other key differs from the question's in one word


def needle_sentence(size: int, index: int, seed: int) -> tuple[str, str, str]:
    """(the needle sentence, its question, its answer) of a generated haystack task."""
    task = make_task(size, index, seed=seed)
    sentence = task.context[task.needle_offset :].split(".", 1)[0] + "."
    return sentence, task.question, task.answer


def near_miss(index: int, seed: int) -> Probe:
    """The question of task ``index`` over a sentence whose key has another last word."""
    _, question, _ = needle_sentence(8000, index, seed)
    other, _, value = needle_sentence(8000, 5000 + index, seed)
    key = question.removeprefix("What is the access code for the ").removesuffix("?").split()
    swapped = other.removesuffix(f" is {value}.").split()[-1]
    if swapped == key[-1]:
        swapped = "annex" if key[-1] != "annex" else "depot"
    near_key = " ".join([*key[:-1], swapped])
    return Probe(f"The access code for the {near_key} is {value}.", question, None, near=True)


def probes(answerable: int, unanswerable: int, seed: int) -> list[Probe]:
    """Needle sentences with their own question, sentences about an unrelated key, and near
    misses."""
    found = [Probe(*needle_sentence(8000, i, seed)) for i in range(answerable)]
    other = [
        Probe(
            needle_sentence(8000, 1000 + i, seed)[0], needle_sentence(8000, 2000 + i, seed)[1], None
        )
        for i in range(unanswerable)
    ]
    near = [near_miss(3000 + i, seed) for i in range(unanswerable)]
    return found + other + near


def ask(adapter: LlamaCppAdapter, system: str, probe: Probe) -> str:
    user = f"Text:\n{probe.sentence}\n\nQuestion: {probe.question}"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return adapter.complete(messages, max_tokens=40).text


def main() -> int:
    options = parser(__doc__ or "")
    options.add_argument("--seed", type=int, default=77, help="which sentences (default 77)")
    args = options.parse_args()
    header("sub-call system prompts on the bundled model", args)
    answerable, unanswerable = (4, 2) if args.quick else (60, 30)
    adapter = LlamaCppAdapter()
    cases = probes(answerable, unanswerable, args.seed)
    shares: dict[str, tuple[float, float, float]] = {}
    for name, system in PROMPTS.items():
        started = time.perf_counter()
        correct = declined = declined_near = missed_with_not_found = 0
        for probe in cases:
            reply = ask(adapter, system, probe)
            said_not_found = "NOT FOUND" in reply.upper()
            if probe.near:
                declined_near += said_not_found
            elif probe.expected is None:
                declined += said_not_found
            elif is_correct(reply, probe.expected):
                correct += 1
            else:
                missed_with_not_found += said_not_found
        print(
            f"{name} prompt: correct {correct}/{answerable} (NOT FOUND {missed_with_not_found}), "
            f"declined {declined}/{unanswerable} sentences about another key and "
            f"{declined_near}/{unanswerable} near misses; {time.perf_counter() - started:.0f} s"
        )
        shares[name] = (
            correct / answerable,
            declined / unanswerable,
            declined_near / unanswerable,
        )
    return report(
        [
            Ratio("small_prompt_correct_share", shares["small"][0]),
            Ratio("core_prompt_correct_share", shares["core"][0]),
            Ratio("small_over_core_correct", shares["small"][0] / max(shares["core"][0], 1e-9)),
            Ratio("small_prompt_declined_share", shares["small"][1]),
            Ratio("core_prompt_declined_share", shares["core"][1]),
            Ratio("small_prompt_declined_near_share", shares["small"][2]),
            Ratio("core_prompt_declined_near_share", shares["core"][2]),
        ],
        args,
    )


if __name__ == "__main__":
    sys.exit(main())
