"""The RLM's prompts as LlamaIndex prompt templates (``get_prompts`` / ``update_prompts``).

The system prompt is a template with two variables the engine fills in itself:
``{helpers}`` (the REPL functions the model may call) and ``{max_output_chars}``.
A replacement may keep or drop them; an edited prompt is used from the next query on.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.prompts import BasePromptTemplate, PromptTemplate
from llama_index.core.prompts.mixin import PromptDictType

from rlm_core import ConfigError

SYSTEM_PROMPT = "system_prompt"


def template_text(name: str, prompt: Any) -> str:
    """The text of a prompt given to ``update_prompts`` (a template or a plain string)."""
    if isinstance(prompt, BasePromptTemplate):
        text = prompt.get_template()
    elif isinstance(prompt, str):
        text = prompt
    else:
        raise ConfigError(
            f"prompt {name!r} must be a PromptTemplate or str, got {type(prompt).__name__}"
        )
    if not text.strip():
        raise ConfigError(f"prompt {name!r} is empty")
    return text


def system_prompt_of(runner: Any) -> PromptTemplate:
    """The system prompt a runner's RLM uses (its profile's unless it was replaced)."""
    options = runner.options.resolved()
    text = options.system_prompt
    return PromptTemplate(text if text is not None else options.prompts.system_template())


def update_system_prompt(runner: Any, prompts: PromptDictType) -> None:
    """Apply an edited ``system_prompt`` from ``prompts`` to ``runner`` (others are ignored)."""
    if SYSTEM_PROMPT in prompts:
        text = template_text(SYSTEM_PROMPT, prompts[SYSTEM_PROMPT])
        runner.options = runner.options.merged({SYSTEM_PROMPT: text})
