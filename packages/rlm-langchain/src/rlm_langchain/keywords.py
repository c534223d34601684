"""Constructor keywords of the LangChain classes, checked the same way everywhere.

The root model may be given positionally (``ChatRLM(llm, context=...)``). Other keywords
are the class's own fields; a keyword that is not a field is an ``rlm_core.RLM`` option
(for the classes that run an RLM), and any other name raises ``ConfigError`` naming it and
the field or option it most likely meant.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic.fields import FieldInfo

from rlm_core import ConfigError, Policy, RLMOptions
from rlm_langchain.engine import RESERVED_OPTIONS, check_rlm_options

OPTION_NAMES = frozenset(RLMOptions.model_fields) - RESERVED_OPTIONS.keys()
"""The RLM options a constructor takes as keywords (not those it sets itself)."""
POLICY_NAMES = frozenset(field.name for field in dataclasses.fields(Policy))


def with_positional_llm(
    owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``kwargs`` with the one positional argument, the root model, as ``llm``."""
    if not args:
        return kwargs
    if len(args) > 1:
        raise TypeError(
            f"{owner} takes one positional argument, the root model (llm), got {len(args)}; "
            "pass the others as keywords (name=value)"
        )
    if "llm" in kwargs:
        raise TypeError(f"{owner} got the root model twice: positionally and as llm=")
    return {"llm": args[0], **kwargs}


def field_names(fields: Mapping[str, FieldInfo]) -> set[str]:
    """The keywords a pydantic class takes: its field names and their aliases."""
    names = set(fields)
    names.update(info.alias for info in fields.values() if info.alias)
    return names


def unknown_keyword(owner: str, name: str, fields: Iterable[str]) -> ConfigError:
    """The error for ``name``, which is neither a field of ``owner`` nor an RLM option."""
    known = sorted(fields)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(
        f"{owner} got an unknown keyword {name!r}{hint}; it takes {', '.join(known)}"
    )


def collect_rlm_options(owner: str, values: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """``values`` with the keywords that are not ``fields`` (and ``options=``) moved into a
    checked ``rlm_options`` dict; ``ConfigError`` for a name that is neither.

    A misspelt name is matched against the fields, the RLM options and the ``Policy``
    limits at once: nearest a field, the error names the field; otherwise rlm-core's own
    check names the option (or ``policy=Policy(...)`` for a step or token limit).
    """
    own = {key: value for key, value in values.items() if key in fields}
    extra = {key: value for key, value in values.items() if key not in fields}
    candidates = [*fields, *OPTION_NAMES, *POLICY_NAMES]
    for name in extra:
        if name == "options" or name in OPTION_NAMES or name in POLICY_NAMES:
            continue
        close = difflib.get_close_matches(name, candidates, n=1)
        if close and close[0] in fields:
            raise unknown_keyword(owner, name, fields)
    options = {**check_rlm_options(own.get("rlm_options")), **extra}
    own["rlm_options"] = check_rlm_options(options)
    return own


def check_keywords(owner: str, values: dict[str, Any], fields: set[str]) -> None:
    """``ConfigError`` for the first keyword that is not one of ``fields``."""
    for name in values:
        if name not in fields:
            raise unknown_keyword(owner, name, fields)
