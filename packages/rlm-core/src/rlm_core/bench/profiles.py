"""Root-model settings profiles: the core defaults, and one tuned for small local models.

A profile is a set of ``RLM(...)`` keyword options. ``small`` keeps the core system prompt
but swaps its example for one whose code finishes the job (grep, then ``llm_query`` with
the passages first and the question last, stored in ``answer``) and ends the run when
``answer`` is set (``auto_finalize_var``). Guards: no FINAL before code has run, and after
two replies without usable code a generic rescue built from the question alone (grep its
longest content words, ask a sub-model about the hits). Measured in docs/local-model.md.
"""

from __future__ import annotations

import re
from typing import Any

from rlm_core.engine.prompts import BASE_SYSTEM_PROMPT

SMALL_EXAMPLE = """\
Example:
```python
hits = grep("launch date")
print(hits[:3])
answer = llm_query("Text:\\n" + "\\n".join(hits[:3]) + "\\n\\nQuestion: When was the launch?") if hits else None
```
The run ends as soon as the variable answer is set. If grep finds nothing, try other words."""  # noqa: E501  (the measured example, verbatim)

SMALL_SYSTEM_PROMPT = BASE_SYSTEM_PROMPT.split("Example:")[0] + SMALL_EXAMPLE

_STOP = {
    "the", "and", "for", "with", "what", "which", "who", "whom", "whose", "when", "where",
    "why", "how", "is", "are", "was", "were", "does", "did", "do", "of", "in", "on", "at",
    "to", "a", "an", "by", "from", "that", "this", "these", "those", "it", "its", "be",
    "text", "about", "there", "their", "they", "them", "has", "have", "had",
}  # fmt: skip


def keywords(question: str, limit: int = 4) -> list[str]:
    """The question's content words, longest (rarest-looking) first."""
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9_-]{2,}", question)
    seen: dict[str, None] = {}
    for word in words:
        if word.lower() not in _STOP:
            seen.setdefault(word.lower(), None)
    return sorted(seen, key=len, reverse=True)[:limit]


def rescue_code(question: str) -> str:
    """Generic fallback code for ``question``: grep its content words, ask about the hits.

    The passages come first and the question last: small models answer that layout far
    more often than question-first (measured in docs/local-model.md).
    """
    terms = keywords(question)
    return (
        f"_hits = []\n"
        f"for _w in {terms!r}:\n"
        f"    _hits = grep(_w, window=120, max_results=3)\n"
        f"    if _hits:\n"
        f"        break\n"
        f"print(_hits)\n"
        f"answer = llm_query('Text:\\n' + '\\n'.join(_hits) + '\\n\\nQuestion: ' + {question!r})"
        f" if _hits else None\n"
    )


def profile_options(name: str, question: str) -> dict[str, Any]:
    """``RLM(...)`` options for profile ``name`` ('default' or 'small') and ``question``."""
    if name == "default":
        return {}
    if name == "small":
        return {
            "system_prompt": SMALL_SYSTEM_PROMPT,
            "require_repl_before_final": True,
            "invalid_response_limit": 2,
            "fallback_code": rescue_code(question),
            "auto_finalize_var": "answer",
            "max_output_chars": 2000,
        }
    raise ValueError(f"unknown profile {name!r}: choose 'default' or 'small'")


PROFILES = ("default", "small")
