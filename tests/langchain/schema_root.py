"""A scripted root model for LangChain's standard suites: it fills a requested schema.

Without an output schema it answers like a one-step RLM run (code, then ``FINAL:``).
When the run asks for a JSON answer (tools bound), it calls the required tool (or
the first one), filling each argument from its type: the first number in the
question for numbers, the first quoted text (else a short word) for strings. The RLM
machinery (prompting, validation, tool-call messages) is real; only the model's judgement
is scripted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

SCHEMA_HEADER = "The answer must be JSON matching this schema:\n"
ONE_STEP = "```python\nprint(grep('vault code', window=10))\n```\nFINAL: The vault code is 4711."
FORCED = re.compile(r"You must call the tool '([^']+)'")


QUOTED = re.compile(r"'([^']+)'")


def _value(spec: dict[str, Any], number: float | None, quoted: str | None) -> Any:
    kind = spec.get("type")
    if kind is None and spec.get("anyOf"):
        kind = next((s.get("type") for s in spec["anyOf"] if s.get("type") != "null"), None)
    if kind == "integer":
        return int(number) if number is not None else 3
    if kind == "number":
        return number if number is not None else 3.0
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return quoted or "cat"


def _tool_call_answer(question: str, schema: dict[str, Any]) -> str:
    description = schema.get("description", "")
    tools = json.loads(description.split("Tools: ", 1)[1])
    forced = FORCED.search(description)
    tool = next((t for t in tools if forced and t["name"] == forced.group(1)), tools[0])
    numbers = re.findall(r"-?\d+(?:\.\d+)?", question)
    number = float(numbers[0]) if numbers else None
    properties = (tool.get("parameters") or {}).get("properties") or {}
    quoted = QUOTED.search(question)
    text = quoted.group(1) if quoted else None
    args = {name: _value(spec, number, text) for name, spec in properties.items()}
    return json.dumps({"tool_calls": [{"name": tool["name"], "args": args}]})


class SchemaFillingRoot(BaseChatModel):
    """Stateless, so concurrent runs (``batch``) cannot interleave."""

    @property
    def _llm_type(self) -> str:
        return "schema-filling-root"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        first = next((str(m.text) for m in messages if str(m.text).startswith("Question: ")), "")
        if SCHEMA_HEADER not in first:
            reply = ONE_STEP
        elif not str(messages[-1].text).startswith("REPL output:"):
            reply = "```python\nprint(QUERY)\n```"
        else:
            question = first.split("\n", 1)[0]
            schema = json.loads(first.split(SCHEMA_HEADER, 1)[1].split("\n", 1)[0])
            reply = "FINAL: " + _tool_call_answer(question, schema)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])
