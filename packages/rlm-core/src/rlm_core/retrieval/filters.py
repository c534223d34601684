"""Metadata filters, parsed once and applied two ways with the same meaning: as an
Elasticsearch ``bool`` query, and in memory (``matches_filters``) for BM25 and the
framework retriever adapters.

A filter dict maps a metadata field to one of::

    "en"                        term: the field equals the value
    ["en", "fr"]                terms: the field equals any of them
    {"gte": 2020, "lt": 2024}   range: any of gt / gte / lt / lte (numbers, or strings
                                such as ISO dates, compared as strings)
    {"exists": True}            the field is present and not null / empty
    {"exists": False}           the field is missing, null or empty
    {"prefix": "rep"}           a string value starts with "rep"
    {"not": <any of the above>} negation (``must_not``): also true when the field is missing

A list-valued field matches when any of its elements does, as in Elasticsearch.
Every key must hold (AND). Terms compare like an Elasticsearch keyword/numeric
field: ``2021`` and ``"2021"`` are the same term, ``True`` and ``"true"`` too.
In memory, a dotted field (``"author.name"``) reads nested dicts, and a trailing
``.keyword`` (Elasticsearch's exact sub-field) reads the field itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rlm_core.errors import ConfigError

Kind = Literal["term", "terms", "range", "exists", "prefix"]
RANGE_OPERATORS = ("gt", "gte", "lt", "lte")
OPERATORS = (*RANGE_OPERATORS, "exists", "prefix", "not")
_SHAPES = (
    "a value (term), a list (any of), {'gte'/'gt'/'lte'/'lt': bound} (range), "
    "{'exists': True/False}, {'prefix': 'text'} or {'not': <one of these>}"
)
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Condition:
    """One parsed filter: ``field`` must satisfy ``kind``/``value`` (or not, if ``negated``).

    ``value`` is the term (``term``), a tuple of terms (``terms``), a dict of bounds
    (``range``), the prefix string (``prefix``) or ``None`` (``exists``)."""

    field: str
    kind: Kind
    value: Any
    negated: bool = False


def parse_filters(filters: Mapping[str, Any] | Sequence[Condition] | None) -> tuple[Condition, ...]:
    """Validate ``filters`` (a dict, or already-parsed conditions) into conditions.

    Raises ``ConfigError`` naming the filter and the accepted shapes."""
    if filters is None:
        return ()
    if isinstance(filters, tuple | list) and all(isinstance(c, Condition) for c in filters):
        return tuple(filters)
    if not isinstance(filters, Mapping):
        raise ConfigError(
            f"filters must be a dict of metadata field -> filter, got {type(filters).__name__}; "
            f"each filter is {_SHAPES}"
        )
    conditions = []
    for field, value in filters.items():
        if not isinstance(field, str) or not field:
            raise ConfigError(f"filter keys must be non-empty field names, got {field!r}")
        conditions.append(_parse(field, value, negated=False))
    return tuple(conditions)


def _parse(field: str, value: Any, *, negated: bool) -> Condition:
    if isinstance(value, Mapping):
        return _parse_operator(field, value, negated=negated)
    if isinstance(value, list | tuple | set | frozenset):
        values = tuple(value)
        if not values:
            raise ConfigError(
                f"filter {field!r} is an empty list, which matches nothing; give at least one "
                "value or drop the filter"
            )
        for item in values:
            _check_term(field, item)
        return Condition(field, "terms", values, negated)
    _check_term(field, value)
    return Condition(field, "term", value, negated)


def _parse_operator(field: str, spec: Mapping[str, Any], *, negated: bool) -> Condition:
    ops = set(spec)
    unknown = sorted(str(op) for op in ops - set(OPERATORS))
    if unknown or not ops:
        what = (
            f"unknown operator(s) {', '.join(map(repr, unknown))}" if unknown else "an empty dict"
        )
        raise ConfigError(f"filter {field!r} has {what}; a filter is {_SHAPES}")
    if ops <= set(RANGE_OPERATORS):
        for low, high in (("gt", "gte"), ("lt", "lte")):
            if low in ops and high in ops:
                raise ConfigError(f"filter {field!r} sets both {low!r} and {high!r}; keep one")
        bounds = {op: spec[op] for op in RANGE_OPERATORS if op in spec}
        for op, bound in bounds.items():
            if isinstance(bound, bool) or not isinstance(bound, int | float | str):
                raise ConfigError(
                    f"filter {field!r}: range bound {op}={bound!r} must be a number or a string "
                    "(e.g. an ISO date)"
                )
        return Condition(field, "range", bounds, negated)
    if len(ops) > 1:
        raise ConfigError(
            f"filter {field!r} combines {', '.join(sorted(ops))}; use one operator per field "
            "(only the range bounds gt/gte/lt/lte combine)"
        )
    (op,) = ops
    arg = spec[op]
    if op == "exists":
        if not isinstance(arg, bool):
            raise ConfigError(f"filter {field!r}: 'exists' takes True or False, got {arg!r}")
        return Condition(field, "exists", None, negated == arg)
    if op == "prefix":
        if not isinstance(arg, str) or not arg:
            raise ConfigError(f"filter {field!r}: 'prefix' takes a non-empty string, got {arg!r}")
        return Condition(field, "prefix", arg, negated)
    if negated:
        raise ConfigError(f"filter {field!r} nests 'not' inside 'not'; drop both")
    return _parse(field, arg, negated=True)


def _check_term(field: str, value: Any) -> None:
    if value is None:
        raise ConfigError(
            f"filter {field!r} is None; to match documents without the field use "
            "{'exists': False}"
        )
    if not isinstance(value, str | int | float | bool):
        raise ConfigError(
            f"filter {field!r}: {type(value).__name__} value {value!r:.60} is not a term; "
            f"a filter is {_SHAPES}"
        )


# -- in memory ------------------------------------------------------------------------------
def matches_filters(
    metadata: Mapping[str, Any], filters: Mapping[str, Any] | Sequence[Condition] | None
) -> bool:
    """Whether ``metadata`` satisfies every filter (see the module docstring)."""
    return all(holds(condition, metadata) for condition in parse_filters(filters))


def holds(condition: Condition, metadata: Mapping[str, Any]) -> bool:
    """Whether one condition holds for ``metadata``."""
    values = _values(metadata, condition.field)
    kind, wanted = condition.kind, condition.value
    if kind == "exists":
        found = bool(values)
    elif kind == "term":
        found = any(same_term(value, wanted) for value in values)
    elif kind == "terms":
        found = any(same_term(value, term) for value in values for term in wanted)
    elif kind == "prefix":
        found = any(isinstance(value, str) and value.startswith(wanted) for value in values)
    else:
        found = any(_in_range(value, wanted) for value in values)
    return found != condition.negated


def _values(metadata: Mapping[str, Any], field: str) -> list[Any]:
    """The field's values as a list (empty when missing or null), reading dotted paths."""
    value = _lookup(metadata, field)
    if value is _MISSING and field.endswith(".keyword"):
        value = _lookup(metadata, field.removesuffix(".keyword"))
    if value is _MISSING or value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [item for item in value if item is not None]
    return [value]


def _lookup(metadata: Mapping[str, Any], field: str) -> Any:
    if field in metadata:
        return metadata[field]
    current: Any = metadata
    for part in field.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def same_term(have: Any, wanted: Any) -> bool:
    """Term equality as an Elasticsearch keyword/numeric/boolean field sees it."""
    if isinstance(have, bool) or isinstance(wanted, bool):
        return _as_bool(have) is not None and _as_bool(have) == _as_bool(wanted)
    if isinstance(have, str) and isinstance(wanted, str):
        return have == wanted
    left, right = _as_number(have), _as_number(wanted)
    return left is not None and left == right


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _in_range(value: Any, bounds: Mapping[str, Any]) -> bool:
    for op, bound in bounds.items():
        order = _compare(value, bound)
        if order is None:
            return False
        if not {"gt": order > 0, "gte": order >= 0, "lt": order < 0, "lte": order <= 0}[op]:
            return False
    return True


def _compare(value: Any, bound: Any) -> int | None:
    """-1 / 0 / 1 comparing ``value`` with ``bound``; ``None`` when they do not compare."""
    if isinstance(value, str) and isinstance(bound, str):
        left_num, right_num = _as_number(value), _as_number(bound)
        if left_num is None or right_num is None:
            return (value > bound) - (value < bound)
        left, right = left_num, right_num
    else:
        left_opt, right_opt = _as_number(value), _as_number(bound)
        if left_opt is None or right_opt is None:
            return None
        left, right = left_opt, right_opt
    return (left > right) - (left < right)


# -- Elasticsearch ----------------------------------------------------------------------------
def es_bool_clauses(
    conditions: Sequence[Condition], field_name: Callable[[str], str]
) -> dict[str, list[dict[str, Any]]]:
    """``{"filter": [...], "must_not": [...]}`` for a ``bool`` query; ``field_name`` maps
    a filter key to the indexed field (e.g. ``metadata.<key>`` in the nested layout)."""
    clauses: dict[str, list[dict[str, Any]]] = {"filter": [], "must_not": []}
    for condition in conditions:
        slot = "must_not" if condition.negated else "filter"
        clauses[slot].append(_es_clause(condition, field_name(condition.field)))
    return {slot: found for slot, found in clauses.items() if found}


def _es_clause(condition: Condition, field: str) -> dict[str, Any]:
    kind, value = condition.kind, condition.value
    if kind == "terms":
        return {"terms": {field: list(value)}}
    if kind == "range":
        return {"range": {field: dict(value)}}
    if kind == "exists":
        return {"exists": {"field": field}}
    if kind == "prefix":
        return {"prefix": {field: value}}
    return {"term": {field: value}}
