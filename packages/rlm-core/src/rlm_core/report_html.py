"""A self-contained HTML report of a trace: one file, no scripts, no external assets.

Shows the query, the answer, totals (steps, model calls, tokens, seconds), then every
step in order with its code, output, prompt and reply; sub-calls are nested under the
step that made them (``parent_id``). Every piece of recorded text is HTML-escaped, so
a document or a model reply containing markup cannot inject anything into the page.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path

from rlm_core.trace import Trace, TraceStep

MODEL_KINDS = ("root_call", "sub_root_call", "subcall", "sub_subcall", "recursive_subcall")

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;
background:#fafbfc;padding:0 16px}
h1{font-size:20px;margin:0 0 12px}
.box{background:#fff;border:1px solid #d9dee7;border-radius:6px;padding:10px 14px;margin:8px 0}
.answer{border-left:4px solid #2f9e44}.error{border-left:4px solid #e03131;color:#a61e1e}
.totals span{display:inline-block;margin-right:18px}
.step{border:1px solid #d9dee7;border-radius:6px;margin:6px 0;background:#fff}
.step>summary{cursor:pointer;padding:6px 10px;font-weight:600}
.kind-root_call>summary,.kind-sub_root_call>summary{background:#e7f0ff}
.kind-repl_exec>summary,.kind-sub_repl_exec>summary{background:#eef8ee}
.kind-subcall>summary,.kind-sub_subcall>summary,.kind-recursive_subcall>summary{background:#fff4e6}
.meta{font-weight:400;color:#5c6470;margin-left:8px}
.body{padding:4px 12px 10px}
.children{margin-left:22px;border-left:2px dashed #c5ccd8;padding-left:10px}
pre{background:#f3f5f8;border-radius:4px;padding:8px;overflow:auto;white-space:pre-wrap;
word-break:break-word;margin:4px 0;max-height:420px}
.label{font-size:12px;text-transform:uppercase;color:#5c6470;margin-top:6px}
.err{color:#a61e1e}
"""


def render_html(trace: Trace, *, title: str | None = None) -> str:
    """The report as one HTML string."""
    children: dict[int | None, list[TraceStep]] = defaultdict(list)
    ids = {step.step_id for step in trace.steps}
    for step in trace.steps:
        parent = step.parent_id if step.parent_id in ids else None
        children[parent].append(step)
    heading = title or "RLM trace"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(heading)}</h1>",
        _summary(trace),
        '<section id="steps">',
        *(_step(step, children) for step in children[None]),
        "</section></body></html>",
    ]
    return "\n".join(parts)


def write_html(trace: Trace, path: str | Path, *, title: str | None = None) -> Path:
    """Write the report to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(render_html(trace, title=title), encoding="utf-8")
    return target


def _summary(trace: Trace) -> str:
    usage = trace.usage
    model_calls = sum(1 for step in trace.steps if step.kind in MODEL_KINDS and not step.cache_hit)
    seconds = sum(step.elapsed_s for step in trace.steps if step.parent_id is None)
    rows = [f'<div class="box"><div class="label">Query</div>{_pre(trace.query or "")}</div>']
    if trace.answer is not None:
        rows.append(
            f'<div class="box answer" id="answer"><div class="label">Answer</div>'
            f"{_pre(trace.answer)}</div>"
        )
    if trace.error:
        rows.append(
            f'<div class="box error" id="error"><div class="label">Error</div>'
            f"{_pre(trace.error)}</div>"
        )
    rows.append(
        '<div class="box totals" id="totals">'
        f"<span>steps: <b>{len(trace.steps)}</b></span>"
        f"<span>model calls: <b>{model_calls}</b></span>"
        f"<span>prompt tokens: <b>{usage.prompt_tokens}</b></span>"
        f"<span>completion tokens: <b>{usage.completion_tokens}</b></span>"
        f"<span>total tokens: <b>{usage.total_tokens}</b></span>"
        f"<span>seconds: <b>{seconds:.2f}</b></span></div>"
    )
    return "\n".join(rows)


def _step(step: TraceStep, children: dict[int | None, list[TraceStep]]) -> str:
    kind = escape(step.kind)
    meta = [f"{step.elapsed_s:.2f}s"]
    if step.usage is not None:
        meta.append(f"{step.usage.prompt_tokens}+{step.usage.completion_tokens} tok")
    if step.model:
        meta.append(step.model)
    if step.cache_hit:
        meta.append("cache hit")
    purpose = step.metadata.get("purpose")
    if purpose and purpose != "step":
        meta.append(str(purpose))
    if step.parent_id is not None:
        meta.append(f"parent #{step.parent_id}")
    body: list[str] = []
    for label, value in (
        ("Prompt", step.prompt),
        ("Code", step.code),
        ("Output", step.stdout),
        ("Reply", step.response),
    ):
        if value:
            body.append(f'<div class="label">{label}</div>{_pre(value)}')
    if step.error:
        body.append(f'<div class="label err">Error</div>{_pre(step.error)}')
    nested = children.get(step.step_id, [])
    if nested:
        inner = "".join(_step(child, children) for child in nested)
        body.append(f'<div class="children">{inner}</div>')
    opened = " open" if step.depth == 0 else ""
    return (
        f'<details class="step kind-{kind}" id="step-{step.step_id}" data-kind="{kind}"{opened}>'
        f'<summary>#{step.step_id} {kind}<span class="meta">{escape(" · ".join(meta))}</span>'
        f'</summary><div class="body">{"".join(body)}</div></details>'
    )


def _pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"
