"""``ModelSpec``: how to build a model adapter, as plain picklable data.

A batch never ships adapter objects (HTTP clients, loaded models) between threads or
machines: every job builds its own adapter from a spec. That is what lets a Ray task on
another machine run the same job with its own RLM instance. API keys are not part of a
spec; adapters read them from the environment of the process that runs the job.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from rlm_core.adapters.base import ModelAdapter
from rlm_core.adapters.fake import FakeAdapter
from rlm_core.adapters.openai_compat import OpenAICompatAdapter
from rlm_core.errors import ConfigError

ModelKind = Literal["openai", "local", "fake"]
KINDS: tuple[str, ...] = ("openai", "local", "fake")

_local_models: dict[tuple[str | None, int | None], ModelAdapter] = {}
_local_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model adapter described by value; ``build()`` makes a fresh adapter from it.

    - ``ModelSpec.openai(model, base_url=...)``: an OpenAI-compatible endpoint.
    - ``ModelSpec.local(path=None)``: the embedded llama.cpp model (loaded once per
      process and shared; its calls are serialised).
    - ``ModelSpec.fake(script, rules=..., default=...)``: a scripted ``FakeAdapter``;
      every job gets its own copy of the script, so runs are reproducible.
    """

    kind: ModelKind
    model: str | None = None
    base_url: str | None = None
    n_ctx: int | None = None
    timeout: float = 600.0
    script: tuple[str, ...] = ()
    rules: tuple[tuple[str, str], ...] = field(default=())
    default: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(
                f"ModelSpec.kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        if self.kind == "openai" and not self.model:
            raise ConfigError("ModelSpec.openai needs a model name")
        if self.n_ctx is not None and (isinstance(self.n_ctx, bool) or self.n_ctx < 1):
            raise ConfigError(f"ModelSpec.n_ctx must be an int >= 1, got {self.n_ctx!r}")
        if not self.timeout > 0:
            raise ConfigError(f"ModelSpec.timeout must be positive, got {self.timeout!r}")

    @classmethod
    def openai(
        cls,
        model: str,
        base_url: str | None = None,
        *,
        n_ctx: int | None = None,
        timeout: float = 600.0,
    ) -> ModelSpec:
        """An OpenAI-compatible endpoint (``base_url`` None: ``LLM_BASE_URL`` or OpenAI)."""
        return cls("openai", model=model, base_url=base_url, n_ctx=n_ctx, timeout=timeout)

    @classmethod
    def local(cls, path: str | None = None, *, n_ctx: int | None = None) -> ModelSpec:
        """The embedded local model (``path`` None: ``RLM_MODEL_PATH`` or the bundled one)."""
        return cls("local", model=path, n_ctx=n_ctx)

    @classmethod
    def fake(
        cls,
        script: Iterable[str] = (),
        *,
        rules: Iterable[tuple[str, str]] = (),
        default: str | None = None,
        model: str = "fake",
    ) -> ModelSpec:
        """A scripted model: the same replies (and prompt rules) for every job."""
        return cls(
            "fake",
            model=model,
            script=tuple(script),
            rules=tuple((str(p), str(r)) for p, r in rules),
            default=default,
        )

    @property
    def label(self) -> str:
        """A short name for logs: the model name, or the kind."""
        return self.model or self.kind

    def build(self) -> ModelAdapter:
        """The adapter this spec describes (a new one, except the shared local model)."""
        if self.kind == "fake":
            adapter = FakeAdapter(self.script, default=self.default, model=self.model or "fake")
            for pattern, response in self.rules:
                adapter.add_rule(pattern, response)
            return adapter
        if self.kind == "local":
            return _shared_local_model(self.model, self.n_ctx)
        assert self.model is not None
        http = OpenAICompatAdapter(self.model, base_url=self.base_url, timeout=self.timeout)
        if self.n_ctx is not None:
            http.context_window = self.n_ctx  # type: ignore[attr-defined]
        return http


def _shared_local_model(path: str | None, n_ctx: int | None) -> ModelAdapter:
    """One loaded llama.cpp model per process and (path, n_ctx): loading takes seconds and
    hundreds of MB, and its adapter already serialises calls with a lock."""
    key = (path, n_ctx)
    with _local_lock:
        adapter = _local_models.get(key)
        if adapter is None:
            from rlm_core.adapters.llama_cpp import LlamaCppAdapter

            adapter = LlamaCppAdapter(path, n_ctx=n_ctx)
            _local_models[key] = adapter
        return adapter
