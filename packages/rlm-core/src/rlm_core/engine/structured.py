"""Structured answers: ``run(..., output_type=Model)`` returns a validated value.

``output_type`` is a pydantic model class (the answer is an instance of it) or a JSON schema
dict (the answer is the validated JSON value; needs the ``jsonschema`` package). The root
model is told the schema; its final answer (a dict from ``FINAL(...)`` / ``FINAL_VAR``, or JSON
text) is validated, and one repair turn is allowed before ``OutputValidationError``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from rlm_core._jsonish import parse_json_reply
from rlm_core.errors import ConfigError

MAX_ERRORS_SHOWN = 8


class OutputInvalid(ValueError):
    """The answer does not match the schema; the message lists what is wrong."""


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """How a run's answer is checked: the schema the model is shown and the validator."""

    name: str
    schema: dict[str, Any]
    check: Callable[[Any], Any]

    @classmethod
    def of(cls, output_type: Any) -> OutputSpec:
        """The spec of a pydantic model class or a JSON schema dict; ``ConfigError`` else."""
        if isinstance(output_type, type) and issubclass(output_type, BaseModel):
            adapter: TypeAdapter[Any] = TypeAdapter(output_type)
            return cls(output_type.__name__, output_type.model_json_schema(), _pydantic(adapter))
        if isinstance(output_type, dict):
            return cls(
                str(output_type.get("title", "the schema")), output_type, _jsonschema(output_type)
            )
        raise ConfigError(
            "output_type must be a pydantic model class (a BaseModel subclass) or a JSON schema "
            f"dict, got {output_type!r:.80}"
        )

    def validate(self, value: Any) -> Any:
        """The validated answer, or ``OutputInvalid`` saying what is wrong.

        Text holding no JSON is checked as the text itself, so a type that takes a str
        (a ``mode="before"`` validator, ``{"type": "string"}``) accepts a plain answer.
        """
        if isinstance(value, str):
            try:
                value = parse_json_reply(value)
            except ValueError:
                try:
                    return self.check(value)
                except OutputInvalid:
                    raise OutputInvalid(f"the answer is not JSON: {value[:200]!r}") from None
        return self.check(value)

    def as_text(self, value: Any) -> str:
        """The validated answer as JSON text (for the trace and the session history)."""
        if isinstance(value, BaseModel):
            return value.model_dump_json()
        return json.dumps(value, ensure_ascii=False, default=str)


def _pydantic(adapter: TypeAdapter[Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as error:
            problems = [
                f"{'.'.join(str(part) for part in item['loc']) or '(root)'}: {item['msg']}"
                for item in error.errors()[:MAX_ERRORS_SHOWN]
            ]
            raise OutputInvalid("; ".join(problems)) from None

    return check


def _jsonschema(schema: dict[str, Any]) -> Callable[[Any], Any]:
    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError:
        raise ConfigError(
            'a JSON schema output_type needs the jsonschema package: pip install "jsonschema>=4" '
            "(or pass a pydantic model class)"
        ) from None
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise ConfigError(f"output_type is not a valid JSON schema: {error.message}") from None
    validator = validator_class(schema)

    def check(value: Any) -> Any:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            problems = [
                f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in errors[:MAX_ERRORS_SHOWN]
            ]
            raise OutputInvalid("; ".join(problems))
        return value

    return check
