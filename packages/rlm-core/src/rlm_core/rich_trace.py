"""Live terminal view of a run, fed by the event stream (needs ``rich``: ``rlm-core[rich]``).

    listener = RichTraceListener()
    answer, trace = RLM(adapter, event_listener=listener).run(query, context)

Each finished step is printed as it ends: the root model's reply (code highlighted),
the REPL output, sub-calls indented under the REPL step that made them, guards and
the final answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlm_core.errors import ConfigError
from rlm_core.events import Event
from rlm_core.trace import TraceStep

if TYPE_CHECKING:
    from rich.console import Console


def _rich() -> Any:
    try:
        import rich
    except ImportError as error:
        raise ConfigError('RichTraceListener needs rich: pip install "rlm-core[rich]"') from error
    return rich


def clip(text: str | None, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a note of how much was cut."""
    text = text or ""
    limit = max(limit, 0)  # a negative limit would slice from the end and miscount
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more chars]"


class RichTraceListener:
    """Prints each step of a run as it finishes, with rich formatting."""

    def __init__(
        self, console: Console | None = None, *, max_chars: int = 1500, show_prompts: bool = False
    ) -> None:
        _rich()
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.max_chars = max_chars
        self.show_prompts = show_prompts
        self.steps = 0

    def on_event(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event)

    def __call__(self, event: Event) -> None:
        self.on_event(event)

    # -- handlers ----------------------------------------------------------------------------
    def _on_run_start(self, event: Event) -> None:
        from rich.rule import Rule

        query = str(event.data.get("query", ""))
        self.console.print(Rule(f"[bold]RLM[/] {_escape(clip(query, 120))}"))

    def _on_step_end(self, event: Event) -> None:
        step = event.step
        if step is None:
            return
        self.steps += 1
        if step.kind in ("root_call", "sub_root_call"):
            self._model_reply(step)
        elif step.kind in ("repl_exec", "sub_repl_exec"):
            self._repl(step)
        else:
            self._subcall(step)

    def _on_guard(self, event: Event) -> None:
        reason = _escape(str(event.data.get("reason", "")))
        self.console.print(f"{_indent(event.depth)}[yellow]guard:[/] {reason}")

    def _on_finalize(self, event: Event) -> None:
        reason = _escape(str(event.data.get("reason", "")))
        self.console.print(f"{_indent(event.depth)}[yellow]finalize:[/] {reason}")

    def _on_compaction(self, event: Event) -> None:
        before, after = event.data.get("tokens_before"), event.data.get("tokens_after")
        self.console.print(f"[magenta]compaction:[/] history {before} → {after} tokens")

    def _on_run_end(self, event: Event) -> None:
        from rich.panel import Panel

        answer = str(event.data.get("answer", ""))
        self.console.print(
            Panel(_escape(clip(answer, self.max_chars)), title="answer", style="green")
        )

    def _on_run_error(self, event: Event) -> None:
        error = _escape(str(event.data.get("error", "")))
        self.console.print(f"[bold red]run failed:[/] {error}")

    # -- rendering ---------------------------------------------------------------------------
    def _header(self, step: TraceStep, label: str) -> str:
        tokens = f" {step.usage.total_tokens} tok" if step.usage else ""
        cached = " cached" if step.cache_hit else ""
        return (
            f"{_indent(step.depth)}[bold cyan]#{step.step_id} {label}[/]"
            f" [dim]{step.elapsed_s:.1f}s{tokens}{cached}[/]"
        )

    def _model_reply(self, step: TraceStep) -> None:
        purpose = step.metadata.get("purpose", "step")
        self.console.print(self._header(step, f"model ({purpose})"))
        if self.show_prompts and step.prompt:
            self.console.print(_escape(clip(step.prompt, self.max_chars)), style="dim")
        if step.error:
            self.console.print(f"[red]{_escape(step.error)}[/]")
        elif step.response is not None:
            self.console.print(_escape(clip(step.response.strip(), self.max_chars)))

    def _repl(self, step: TraceStep) -> None:
        from rich.syntax import Syntax

        self.console.print(self._header(step, "repl"))
        if step.code:
            self.console.print(Syntax(clip(step.code, self.max_chars), "python", theme="ansi_dark"))
        output = (step.stdout or "").rstrip()
        if output:
            self.console.print(_escape(clip(output, self.max_chars)), style="dim")
        if step.error:
            self.console.print(f"[red]{_escape(clip(step.error, self.max_chars))}[/]")

    def _subcall(self, step: TraceStep) -> None:
        self.console.print(self._header(step, f"{step.kind} ← #{step.parent_id}"))
        prompt = clip((step.prompt or "").replace("\n", " "), 160)
        reply = clip((step.response or step.error or "").replace("\n", " "), 300)
        self.console.print(f"{_indent(step.depth)}  [dim]? {_escape(prompt)}[/]")
        self.console.print(f"{_indent(step.depth)}  → {_escape(reply)}")


def _indent(depth: int) -> str:
    return "  " * max(depth, 0)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
