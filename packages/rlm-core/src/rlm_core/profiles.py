"""Settings profiles: named bundles of option defaults and prompt parts (``RLM(profile=...)``).

``default`` is the core behaviour. ``small`` suits small local models: it keeps the core
root prompt but swaps its example for one whose code finishes the job as written
(``find_facts(QUERY)``, then ``llm_query`` with the sentences first and the question last,
stored in ``answer``), ends the run when ``answer`` is set (``auto_finalize_var``), refuses
a FINAL before code has run or a FINAL of nothing found, asks sub-models to copy the
answer from the text (its own sub-call system prompt), and after two replies without
usable code runs a generic rescue built from the run's own question (its sentences, else a
grep of its rarest search term, then a sub-model asked about them). Options you pass
explicitly always win over a profile's. Measured in docs/local-model.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rlm_core.adapters.base import model_id_of
from rlm_core.engine.prompts import DEFAULT_PROMPTS, ROOT_PROMPT, PromptParts
from rlm_core.errors import ConfigError
from rlm_core.repl.related import search_terms


@dataclass(frozen=True, slots=True)
class Profile:
    """A named bundle: ``options`` are ``RLM`` option defaults, ``prompts`` the prompt parts."""

    name: str
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)
    prompts: PromptParts = DEFAULT_PROMPTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


SMALL_EXAMPLE = """\
Example (QUERY holds the question):
```python
facts = find_facts(QUERY)
print(facts)
if facts:
    answer = llm_query("Text:\\n" + "\\n".join(facts) + "\\n\\nQuestion: " + QUERY)
```
The run ends as soon as the variable answer is set. If facts is empty, search with grep and \
other words from the question."""
"""The small profile's example: copied as it stands, it already works for any question
(``find_facts`` follows the names it finds), so a small model that copies it is right to."""


SMALL_HOW_TO_WORK = """\
How to work: first run the example's code as it stands (find_facts(QUERY) gathers the \
sentences about the question, llm_query reads them). If it finds nothing, search with short \
distinctive words from the question (grep) and read around the hits. To count, add up or \
compare things over the whole text, compute it with Python over P (for example re.findall), \
not with a sub-model."""
"""The small profile's "How to work" paragraph, in place of the core prompt's."""

SMALL_ROOT = ROOT_PROMPT.split("How to work:", 1)[0] + SMALL_HOW_TO_WORK
SMALL_FIRST_STEP = "Start with the example's code."

SMALL_SUB_SYSTEM = (
    "You are a sub-LLM helping a larger program. Answer the question from the text you are "
    "given. Reply with the answer only, copied exactly from the text. Only if the text does "
    "not mention it, reply: NOT FOUND"
)
"""The small profile's sub-call system prompt. On one-sentence needles the 0.5B model
answered ``NOT FOUND`` to 7 of 60 with the core's prompt and to none with this one; both
declined 30 of 30 sentences about an unrelated key, but this one declined only 21 of 30 near
misses (the key with one word changed), the core's 30 (``benchmarks/bench_sub_prompt.py``,
docs/local-model.md)."""


RESCUE_TERMS = 8
"""How many of the question's search terms the rescue counts hits for. Terms come
distinctive-looking first, then longest first, so a short rare word is easily fifth or later
("rope" in "How many units of rope were shipped in total, over all shipments?")."""


def keywords(question: str, limit: int = RESCUE_TERMS) -> list[str]:
    """Search terms for ``question`` (``rlm_core.repl.related.search_terms``): its quoted
    phrases first, then its content words, the distinctive-looking ones first.

    Which of them is rarest depends on the text, so ``rescue_code`` counts their hits at
    run time and searches with the rarest one found.
    """
    return search_terms(question, limit)


def rescue_code(question: str) -> str:
    """Generic fallback code for ``question``: the sentences about it, then ask about them.

    Used as a ``fallback_code`` function, so it is built from each run's own question.
    ``find_facts`` takes the sentences holding the question's rarest search term and follows
    the names they mention; when it finds nothing, every term from ``keywords`` is grepped
    and the one with the fewest (but some) hits wins, so a common word never crowds out a
    distinctive one. The passages come first and the question last: small models answer
    that layout far more often than question-first (measured in docs/local-model.md).
    """
    terms = keywords(question)
    return (
        f"_hits = find_facts({question!r})\n"
        f"if not _hits:\n"
        f"    for _w in {terms!r}:\n"
        f"        _found = grep(_w, window=120, max_results=50)\n"
        f"        if _found and (not _hits or len(_found) < len(_hits)):\n"
        f"            _hits = _found\n"
        f"    _hits = _hits[:3]\n"
        f"print(_hits)\n"
        f"answer = llm_query('Text:\\n' + '\\n'.join(_hits) + '\\n\\nQuestion: ' + {question!r})"
        f" if _hits else None\n"
    )


DEFAULT = Profile("default", "The core defaults: the full prompt and no guards.")
SMALL = Profile(
    "small",
    "For small local models: an example that works as copied (`find_facts(QUERY)`, then "
    "`answer = llm_query(...)`), runs end when `answer` is set, no FINAL before code or of "
    "nothing found, a rescue from the question after 2 bad replies.",
    options={
        "require_repl_before_final": True,
        "invalid_response_limit": 2,
        "fallback_code": rescue_code,
        "auto_finalize_var": "answer",
        "max_output_chars": 2000,
    },
    prompts=DEFAULT_PROMPTS.replace(
        root=SMALL_ROOT,
        example=SMALL_EXAMPLE,
        first_step=SMALL_FIRST_STEP,
        sub_system=SMALL_SUB_SYSTEM,
    ),
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (DEFAULT, SMALL)})
"""The built-in profiles by name."""


def profile_named(value: str | Profile) -> Profile:
    """The profile called ``value`` (or ``value`` itself); ``ConfigError`` listing the names."""
    if isinstance(value, Profile):
        return value
    try:
        return PROFILES[value]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown profile {value!r}; choose one of {', '.join(map(repr, PROFILES))} "
            "or pass a rlm_core.Profile"
        ) from None


SMALL_MODEL_WINDOW = 32_768
"""An adapter that declares a ``context_window`` of at most this many tokens gets ``small``."""

SMALL_MODEL_BILLIONS = 4.0
"""A model whose name gives its size (``qwen2.5-coder-0.5b``, ``llama3.2:1b``) at or below
this many billion parameters gets ``small``."""

_SIZE_IN_NAME = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[bB](?![A-Za-z0-9])")


def parameters_in_name(model_id: str) -> float | None:
    """The model size in billions that a model name states (``...-0.5b-...`` -> 0.5).

    Mixture-of-experts names (``8x7b``) and names without a size give ``None``.
    """
    for found in _SIZE_IN_NAME.finditer(model_id):
        start = found.start()
        if start > 0 and model_id[start - 1] in "xX":
            return None
        return float(found.group(1))
    return None


def profile_for_model(adapter: object) -> tuple[Profile, str] | None:
    """The profile that fits ``adapter``'s model, with why; ``None`` when nothing says.

    An adapter may declare ``rlm_profile`` (a profile name or ``Profile``); otherwise a
    declared ``context_window`` of at most ``SMALL_MODEL_WINDOW`` tokens (the bundled
    model, most local GGUF models), or a model name that states a size of at most
    ``SMALL_MODEL_BILLIONS`` billion parameters (a small model behind a local
    OpenAI-compatible server, which declares no window), picks ``small``, which measured
    far better than the core defaults on such models (docs/local-model.md). Only used
    when no profile was given: an explicit ``profile=`` always wins.
    """
    declared = getattr(adapter, "rlm_profile", None)
    if declared is not None:
        profile = profile_named(declared)
        return profile, f"the adapter declares rlm_profile={profile.name!r}"
    window = getattr(adapter, "context_window", None)
    if isinstance(window, int) and not isinstance(window, bool) and window > 0:
        if window <= SMALL_MODEL_WINDOW:
            return SMALL, (
                f"the adapter's context window is {window} tokens "
                f"(at most {SMALL_MODEL_WINDOW}: a small model)"
            )
        return None
    return profile_for_name(model_id_of(adapter))


def profile_for_name(model_id: str) -> tuple[Profile, str] | None:
    """``small``, with why, when ``model_id`` states a size of at most
    ``SMALL_MODEL_BILLIONS`` billion parameters; else ``None``."""
    size = parameters_in_name(model_id)
    if size is not None and size <= SMALL_MODEL_BILLIONS:
        return SMALL, (
            f"the model name {model_id!r} says {size:g}B parameters "
            f"(at most {SMALL_MODEL_BILLIONS:g}B: a small model)"
        )
    return None
