"""``RLMOptions``: every option of ``RLM`` in one validated object.

``RLM(adapter, **options)``, ``RLM(adapter, options=RLMOptions(...))``, ``SmartRouter`` and
the LangChain and LlamaIndex integrations all build and pass on this one model, so an
option is named, checked and documented in one place. A bad name or value raises
``ConfigError`` naming the option and what it accepts, when the object is built.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from rlm_core.adapters.base import ModelAdapter
from rlm_core.cache import FileCache
from rlm_core.engine.prompts import PromptParts
from rlm_core.engine.toolkit import Toolkit
from rlm_core.engine.tools import check_tools
from rlm_core.errors import ConfigError
from rlm_core.events import Listener
from rlm_core.policy import Policy
from rlm_core.profiles import Profile, profile_named
from rlm_core.repl.base import DEFAULT_MAX_OUTPUT_CHARS, REPL, backend_names
from rlm_core.retrieval.base import RetrieverProtocol

_POLICY_FIELDS = frozenset(field.name for field in dataclasses.fields(Policy))


# -- value checks (each raises ConfigError naming the option and what it accepts) ----------
def _int_at_least(floor: int, *, optional: bool = False) -> PlainValidator:
    def check(value: Any, info: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < floor:
            none = "None or " if optional else ""
            raise ConfigError(f"{info.field_name} must be {none}an int >= {floor}, got {value!r}")
        return value

    return PlainValidator(check)


def _flag(value: Any, info: Any) -> bool:
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ConfigError(f"{info.field_name} must be True or False, got {value!r}")


def _text(value: Any, info: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{info.field_name} must be None or a str, got {type(value).__name__}")


def _adapter(value: Any, info: Any) -> ModelAdapter | None:
    if value is None:
        return None
    if not callable(getattr(value, "complete", None)):
        raise ConfigError(
            f"{info.field_name} must be a model adapter with a complete(messages, *, "
            f"max_tokens, temperature) method, got {type(value).__name__}"
        )
    return value  # type: ignore[no-any-return]


def _policy(value: Any, info: Any) -> Policy | None:
    if value is None or isinstance(value, Policy):
        return value
    raise ConfigError(f"policy must be a rlm_core.Policy, got {type(value).__name__}")


def _cache(value: Any, info: Any) -> FileCache | None:
    if value is None or all(hasattr(value, name) for name in ("get", "set", "key_for")):
        return value  # type: ignore[no-any-return]
    raise ConfigError("cache must be a FileCache (or have key_for/get/set)")


def _retriever(value: Any, info: Any) -> RetrieverProtocol | None:
    if value is None:
        return None
    methods = ("search", "vector_search", "hybrid_search", "get")
    missing = [name for name in methods if not callable(getattr(value, name, None))]
    if missing:
        raise ConfigError(
            "retriever must implement rlm_core.retrieval.RetrieverProtocol; "
            f"{type(value).__name__} lacks {', '.join(missing)}"
        )
    if inspect.iscoroutinefunction(value.search):
        raise ConfigError(
            f"{type(value).__name__} is async, but REPL helpers call the retriever "
            "synchronously: use the sync class (e.g. ElasticsearchRetriever)"
        )
    return value  # type: ignore[no-any-return]


def _repl_backend(value: Any, info: Any) -> str | Callable[..., REPL]:
    if isinstance(value, str):
        if value != "auto" and value not in backend_names():
            raise ConfigError(
                f"unknown repl_backend {value!r}; choose one of {['auto', *backend_names()]} "
                "or pass a factory"
            )
        return value
    if callable(value):
        return value  # type: ignore[no-any-return]
    raise ConfigError(f"repl_backend must be a backend name or a factory, got {value!r}")


def _temperature(value: Any, info: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise ConfigError(f"temperature must be between 0 and 2, got {value!r}")
    return float(value)


def _fraction(value: Any, info: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ConfigError(f"{info.field_name} must be in [0, 1), got {value!r}")
    return float(value)


def _code(value: Any, info: Any) -> str | Callable[[str], str] | None:
    if value is None or (callable(value) and not isinstance(value, str)):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            "fallback_code must be a non-empty string of Python code, or a function of the "
            "question that returns one"
        )
    try:
        compile(value, "<fallback_code>", "exec")
    except SyntaxError as error:
        raise ConfigError(
            f"fallback_code is not valid Python: {error.msg} (line {error.lineno})"
        ) from None
    return value


def _identifier(value: Any, info: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.isidentifier()):
        return value
    raise ConfigError(f"{info.field_name} must be a variable name, got {value!r}")


def _profile(value: Any, info: Any) -> str | Profile:
    profile_named(value)
    return value  # type: ignore[no-any-return]


def _prompts(value: Any, info: Any) -> PromptParts | None:
    if value is None or isinstance(value, PromptParts):
        return value
    raise ConfigError(
        f"prompts must be a rlm_core.PromptParts (e.g. PromptParts(sub_system=...)), "
        f"got {type(value).__name__}"
    )


def _listeners(value: Any, info: Any) -> Listener | list[Listener] | None:
    if value is None or callable(value) or hasattr(value, "on_event"):
        return value  # type: ignore[no-any-return]
    try:
        listeners = list(value)
    except TypeError:
        raise ConfigError(
            "event_listener must be callable, have on_event(event), or be a list of those"
        ) from None
    for listener in listeners:
        if not (callable(listener) or hasattr(listener, "on_event")):
            raise ConfigError(f"event listener {listener!r} is neither callable nor has on_event")
    return listeners


def _prices(value: Any, info: Any) -> dict[str, tuple[float, float]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(
            "prices must be a dict of model id -> (usd_per_1k_prompt_tokens, "
            f"usd_per_1k_completion_tokens), got {type(value).__name__}"
        )
    prices: dict[str, tuple[float, float]] = {}
    for model, price in value.items():
        if (
            not isinstance(model, str)
            or not isinstance(price, tuple | list)
            or len(price) != 2
            or not all(
                isinstance(p, int | float) and not isinstance(p, bool) and p >= 0 for p in price
            )
        ):
            raise ConfigError(
                f"prices[{model!r}] must be (usd_per_1k_prompt_tokens, "
                f"usd_per_1k_completion_tokens), two numbers >= 0; got {price!r}"
            )
        prices[model] = (float(price[0]), float(price[1]))
    return prices


def _tools(value: Any, info: Any) -> dict[str, Callable[..., Any]] | None:
    if value is None:
        return None
    return check_tools(value, {spec.name for spec in Toolkit.specs(with_retriever=True)})


PositiveInt = Annotated[int, _int_at_least(1)]
NonNegativeInt = Annotated[int, _int_at_least(0)]
OptionalPositiveInt = Annotated[int | None, _int_at_least(1, optional=True)]
OptionalNonNegativeInt = Annotated[int | None, _int_at_least(0, optional=True)]
Flag = Annotated[bool, PlainValidator(_flag)]
OptionalText = Annotated[str | None, PlainValidator(_text)]


class RLMOptions(BaseModel):
    """Every keyword option of ``RLM``, validated when built.

    ``RLM(adapter, **options)`` and ``RLM(adapter, options=RLMOptions(**options))`` are the
    same; keywords given next to ``options=`` override it. Only the options you set are
    remembered as yours (``explicit()``), so defaults supplied elsewhere never override them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    policy: Annotated[Policy | None, PlainValidator(_policy)] = Field(
        None, description="Run limits (`Policy`: steps, sub-calls, tokens, `on_limit`)."
    )
    cache: Annotated[FileCache | None, PlainValidator(_cache)] = Field(
        None, description="A `FileCache` that stores sub-call replies; none by default."
    )
    max_output_tokens: PositiveInt = Field(
        4096, description="Token budget of each root-model reply."
    )
    system_prompt: OptionalText = Field(
        None,
        description="Replaces the built-in root prompt; `{helpers}` and `{max_output_chars}` "
        "are filled in.",
    )
    repl_backend: Annotated[str | Callable[..., REPL], PlainValidator(_repl_backend)] = Field(
        "auto",
        description='Where model code runs: "auto" (the isolated worker where Linux confines it, '
        'else Monty, with a warning), "isolated", "monty", "python" (trusted code only), or a '
        "REPL factory.",
    )
    conversation_history: Flag = Field(
        True,
        description="Keep earlier turns in each root call (False: only the system message "
        "and one current user message holding the question, the last reply and its output).",
    )
    compaction: Flag = Field(
        False, description="Summarise old turns when the history nears the model's window."
    )
    compaction_threshold_pct: Annotated[float, PlainValidator(_fraction)] = Field(
        0.0, description="Share of the window that triggers compaction (0: the default 0.85)."
    )
    compaction_threshold_tokens: OptionalPositiveInt = Field(
        None, description="Compact at this many history tokens instead of a share of the window."
    )
    compaction_model_name: OptionalText = Field(
        None, description="Look the window up under this model name instead of the adapter's."
    )
    compaction_model_context_limit: OptionalPositiveInt = Field(
        None, description="The root model's context window in tokens, when it is not known."
    )
    max_history_tokens: NonNegativeInt = Field(
        0, description="Deprecated: drops old turns outright; use `compaction=True`."
    )
    retriever: Annotated[RetrieverProtocol | None, PlainValidator(_retriever)] = Field(
        None,
        description="A document index the model searches with `es_search` / `es_get` "
        "(sync `RetrieverProtocol`).",
    )
    subcall_adapter: Annotated[ModelAdapter | None, PlainValidator(_adapter)] = Field(
        None, description="The model of sub-calls (`llm_query` and friends); defaults to `adapter`."
    )
    subcall_max_output_tokens: PositiveInt = Field(
        1024, description="Token budget of each sub-call reply."
    )
    subcall_context_window: OptionalPositiveInt = Field(
        None, description="The sub-model's window; prompts that do not fit are refused."
    )
    recursive_subcalls: Flag = Field(
        False, description="Sub-calls run as RLMs with their own REPL (up to the depth limit)."
    )
    max_recursion_depth: OptionalNonNegativeInt = Field(
        None, description="Overrides `Policy.max_recursion_depth` for recursive sub-calls."
    )
    parallel_subcalls: Flag = Field(
        False, description="Batch helpers (`ask_chunks`, ...) run their sub-calls in parallel."
    )
    max_concurrent_subcalls: PositiveInt = Field(
        10, description="At most this many sub-calls run at once."
    )
    require_repl_before_final: Flag = Field(
        False, description="Guard: refuse a `FINAL` before any code has run."
    )
    require_subcall_before_final: Flag = Field(
        False, description="Guard: refuse a root `FINAL` before any sub-call was made."
    )
    invalid_response_limit: OptionalPositiveInt = Field(
        None,
        description="After this many consecutive replies without usable code (a code step "
        "resets the count), run `fallback_code` (if any), then finalize.",
    )
    fallback_code: Annotated[str | Callable[[str], str] | None, PlainValidator(_code)] = Field(
        None,
        description="Python run in the REPL when `invalid_response_limit` is reached, or a "
        "function that builds it from the run's question.",
    )
    auto_finalize_var: Annotated[str | None, PlainValidator(_identifier)] = Field(
        None, description="End the run as soon as this REPL variable holds an answer."
    )
    event_listener: Annotated[Listener | list[Listener] | None, PlainValidator(_listeners)] = Field(
        None, description="A callable, an object with `on_event(event)`, or a list of those."
    )
    max_output_chars: PositiveInt = Field(
        DEFAULT_MAX_OUTPUT_CHARS, description="REPL output shown to the model is cut to this."
    )
    temperature: Annotated[float, PlainValidator(_temperature)] = Field(
        0.0, description="Sampling temperature of root and sub-calls (0 to 2)."
    )
    profile: Annotated[str | Profile, PlainValidator(_profile)] = Field(
        "default",
        description='A named bundle of option defaults and prompt parts: "default" or "small" '
        "(small local models), or a `Profile`; options you set win over it.",
    )
    prompts: Annotated[PromptParts | None, PlainValidator(_prompts)] = Field(
        None,
        description="Named prompt parts (`PromptParts`: root, example, sub_system, "
        "retrieval_note, compaction, finalize, guidance); None: the profile's.",
    )
    prices: Annotated[dict[str, tuple[float, float]] | None, PlainValidator(_prices)] = Field(
        None,
        description="USD per 1k prompt and completion tokens by model id, e.g. "
        '`{"gpt-4o-mini": (0.00015, 0.0006)}`: costs in the trace and `Policy.max_cost_usd`.',
    )
    tools: Annotated[dict[str, Callable[..., Any]] | None, PlainValidator(_tools)] = Field(
        None,
        description="Your functions, callable by name from model code and run on the host: "
        "a list (named by `__name__`) or a name -> function dict.",
    )

    def __init__(self, **options: Any) -> None:
        check_names(options)
        try:
            super().__init__(**options)
        except ValidationError as error:
            raise config_error(error) from None

    def explicit(self) -> dict[str, Any]:
        """The options that were set (given), by name."""
        given = self.model_fields_set
        return {name: getattr(self, name) for name in type(self).model_fields if name in given}

    @classmethod
    def from_arguments(
        cls,
        options: RLMOptions | None = None,
        keywords: Mapping[str, Any] | None = None,
        *,
        reserved: Mapping[str, str] | None = None,
    ) -> RLMOptions:
        """One ``RLMOptions`` from an optional object plus keyword options on top.

        ``keywords`` may itself hold ``options=RLMOptions(...)`` (how wrappers that take
        ``**kwargs`` receive it). Names in ``reserved`` (set by the caller itself, mapped to
        what to pass instead) are refused.
        """
        keywords = dict(keywords or {})
        nested = keywords.pop("options", None)
        for given in (options, nested):
            if given is not None and not isinstance(given, RLMOptions):
                raise ConfigError(f"options must be an RLMOptions, got {type(given).__name__}")
        if options is not None and nested is not None:
            raise ConfigError("options= was given twice")
        base = options or nested or cls()
        check_names(keywords, reserved=reserved)
        if reserved:
            check_names(base.model_fields_set, reserved=reserved)
        return base.merged(keywords)

    def chosen_profile(self) -> Profile:
        """The ``Profile`` these options start from."""
        return profile_named(self.profile)

    def resolved(self) -> RLMOptions:
        """These options with the profile's defaults and prompt parts filled in where you
        set none (what a run uses)."""
        profile = self.chosen_profile()
        values = {**profile.options, **self.explicit()}
        values["prompts"] = self.prompts or profile.prompts
        return RLMOptions(**values)

    def summary(self) -> dict[str, Any]:
        """What a run records about its settings (JSON-safe): the profile, the options it
        supplied and the options you set."""
        profile = self.chosen_profile()
        explicit = self.explicit()
        from_profile = {
            name: _shown(value) for name, value in profile.options.items() if name not in explicit
        }
        if self.prompts is None and profile.prompts.changed():
            from_profile["prompts"] = _shown(profile.prompts)
        explicit.pop("profile", None)
        return {
            "profile": profile.name,
            "from_profile": from_profile,
            "explicit": {name: _shown(value) for name, value in explicit.items()},
        }

    def merged(self, overrides: Mapping[str, Any]) -> RLMOptions:
        """A copy with ``overrides`` set on top of this object's explicit options."""
        if not overrides:
            return self
        return RLMOptions(**{**self.explicit(), **overrides})


OPTION_NAMES = tuple(RLMOptions.model_fields)


def check_names(names: Iterable[str], *, reserved: Mapping[str, str] | None = None) -> None:
    """``ConfigError`` for the first name that is not an option (or is ``reserved``).

    ``reserved`` maps names a caller sets itself to what to pass instead.
    """
    for name in names:
        if reserved and name in reserved:
            raise ConfigError(
                f"do not pass {name}= as an RLM option here: pass {reserved[name]} instead"
            )
        if name in RLMOptions.model_fields:
            continue
        if name in _POLICY_FIELDS:
            raise ConfigError(
                f"{name!r} is a Policy limit, not an RLM option: pass "
                f"policy=Policy({name}=...) (from rlm_core import Policy)"
            )
        allowed = [option for option in OPTION_NAMES if not (reserved and option in reserved)]
        close = difflib.get_close_matches(str(name), [*allowed, *sorted(_POLICY_FIELDS)], n=1)
        hint = ""
        if close and close[0] in allowed:
            hint = f" (did you mean {close[0]!r}?)"
        elif close:
            hint = f" (did you mean policy=Policy({close[0]}=...)?)"
        raise ConfigError(f"unknown RLM option {name!r}{hint}; valid options: {', '.join(allowed)}")


def config_error(error: ValidationError) -> ConfigError:
    """The ``ConfigError`` a validator raised, or one made from pydantic's first error."""
    first = error.errors()[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigError):
        return cause
    name = ".".join(str(part) for part in first["loc"]) or "options"
    return ConfigError(f"{name}: {first['msg']} (got {first.get('input')!r:.80})")


def _shown(value: Any) -> Any:
    """``value`` as the trace shows it: plain JSON values as they are, the rest by name."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= 200 else f"<text, {len(value)} chars>"
    if isinstance(value, Policy):
        return dataclasses.asdict(value)
    if isinstance(value, PromptParts):
        return {"changed_parts": value.changed()}
    if isinstance(value, list):
        return [_shown(item) for item in value]
    if inspect.isfunction(value) or inspect.ismethod(value):
        return f"<function {value.__qualname__}>"
    return f"<{type(value).__name__}>"
