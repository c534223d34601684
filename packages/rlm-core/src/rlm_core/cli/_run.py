"""``rlm ask`` and ``rlm trace replay``: build an RLM from flags, run it, save the trace."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlm_core.adapters.base import ModelAdapter
from rlm_core.cli._inputs import UsageError, check_output_path, load_context
from rlm_core.cli._models import build_adapter, choose, profile_for_choice
from rlm_core.cli._progress import progress_listener
from rlm_core.context import Context
from rlm_core.errors import RLMError
from rlm_core.policy import Policy
from rlm_core.report_html import write_html
from rlm_core.rlm import RLM
from rlm_core.trace import Trace


def _make_rlm(
    root: ModelAdapter, sub: ModelAdapter | None, options: dict[str, Any], listener: Any
) -> RLM:
    return RLM(
        root,
        subcall_adapter=sub,
        policy=Policy(max_steps=options["max_steps"]),
        repl_backend=options["backend"],
        max_output_tokens=options.get("max_output_tokens", 1024),
        event_listener=listener,
        profile=options["profile"],
    )


def _save(
    trace: Trace, options: dict[str, Any], trace_out: str | None, html_out: str | None
) -> bool:
    """Write the requested files; ``False`` (after saying why) if one could not be written."""
    trace.metadata["cli"] = options
    saved = True
    if trace_out:
        saved &= _write("--trace-out", trace_out, "trace", lambda path: path.write_text(
            trace.to_json(), encoding="utf-8"))  # fmt: skip
    if html_out:
        saved &= _write("--html-out", html_out, "HTML report", lambda path: write_html(trace, path))
    return saved


def _write(flag: str, path: str, what: str, write: Callable[[Path], object]) -> bool:
    try:
        write(Path(path).expanduser())
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"rlm: error: {flag} {path!r}: cannot write the {what}: {reason}", file=sys.stderr)
        return False
    print(f"{what} written to {path}", file=sys.stderr)
    return True


def _run(rlm: RLM, question: str, context: Context) -> tuple[str | None, Trace | None, str | None]:
    try:
        answer, trace = rlm.run(question, context)
        return answer, trace, None
    except RLMError as error:
        return None, error.trace, f"{type(error).__name__}: {error}"


def ask(args: argparse.Namespace) -> int:
    """Answer a question over files with an RLM; print the answer on stdout.

    The answer is printed even when ``--trace-out``/``--html-out`` cannot be written at the
    end (exit code 1 then); paths that clearly cannot be written are refused before the run.
    """
    if not args.question.strip():
        raise UsageError(
            'the question is empty: give it first, e.g. rlm ask "What changed?" -c notes/'
        )
    for flag, path in (("--trace-out", args.trace_out), ("--html-out", args.html_out)):
        if path:
            check_output_path(flag, path)
    context, sources = load_context(args.context)
    root_choice = choose(args.model, args.base_url)
    sub_choice = (
        choose(args.sub_model, args.base_url or root_choice.base_url) if args.sub_model else None
    )
    options: dict[str, Any] = {
        "context": sources,
        "profile": profile_for_choice(args.profile, root_choice),
        "max_steps": args.max_steps,
        "backend": args.backend,
        "max_output_tokens": args.max_output_tokens,
        "model": root_choice.model or "local",
        "sub_model": args.sub_model,
    }
    root = build_adapter(root_choice, n_ctx=args.n_ctx)
    sub = build_adapter(sub_choice, n_ctx=args.n_ctx) if sub_choice is not None else None
    rlm = _make_rlm(root, sub, options, progress_listener(args.quiet))
    answer, trace, error = _run(rlm, args.question, context)
    saved = _save(trace, options, args.trace_out, args.html_out) if trace is not None else True
    if error is not None:
        print(f"rlm: run failed: {error}", file=sys.stderr)
        return 1
    print(answer)
    return 0 if saved else 1


def _replay_backend(flag: str | None, recorded: object) -> str:
    """The backend a replay runs on: the ``--backend`` flag, else the default sandbox.

    The backend recorded in a trace is ignored: traces are shared as data, and one that named
    the in-process backend would otherwise run its recorded code unconfined on this host.
    """
    if flag:
        return flag
    if recorded not in (None, "auto"):
        print(
            f"rlm: note: the trace ran on repl_backend={recorded!r}; replaying on the default "
            "sandbox (pass --backend to choose)",
            file=sys.stderr,
        )
    return "auto"


def replay(args: argparse.Namespace) -> int:
    """Re-run a recorded trace offline from its recorded model replies."""
    from rlm_core.adapters.replay import replay_adapters
    from rlm_core.cli._trace import load_trace

    trace = load_trace(args.file)
    options = dict(trace.metadata.get("cli") or {})
    if not trace.query:
        raise UsageError(f"{args.file}: the trace has no query to replay")
    specs = args.context or options.get("context")
    if not specs:
        raise UsageError(
            f"{args.file} does not say which files it ran on: pass --context PATH... "
            "(traces written by `rlm ask --trace-out` record it)"
        )
    try:
        context, _ = load_context(list(specs))
    except UsageError as problem:
        if args.context or "-" not in specs:
            raise
        raise UsageError(
            f"{problem}; {args.file} was recorded with --context - (standard input): pipe the "
            "same text in again, or pass --context PATH..."
        ) from None
    options.setdefault("profile", "default")
    options.setdefault("max_steps", max(len(trace.of_kind("root_call")), 1))
    options["backend"] = _replay_backend(args.backend, options.get("backend"))
    root, sub = replay_adapters(trace)
    rlm = _make_rlm(root, sub, options, progress_listener(args.quiet))
    answer, new_trace, error = _run(rlm, trace.query, context)
    if error is not None:
        print(f"rlm: replay failed: {error}", file=sys.stderr)
        return 1
    print(answer)
    if answer != trace.answer:
        print(
            f"rlm: replay diverged: recorded answer was {trace.answer!r}, replay gave {answer!r}",
            file=sys.stderr,
        )
        return 1
    print(f"replay matches the recorded answer ({len(new_trace.steps) if new_trace else 0} steps)",
          file=sys.stderr)  # fmt: skip
    return 0
