"""The ``rlm`` command line.

    rlm ask QUESTION --context PATH...      answer a question over files, folders or globs
    rlm batch JOBS.jsonl --out RESULTS.jsonl  many questions: a local pool or Ray (--ray)
    rlm trace show|html|replay FILE         look at, render or re-run a saved trace
    rlm bench niah [--quick]                needle-in-a-haystack: RLM versus the bare model
    rlm bench multihop|aggregation [--quick]  multi-hop questions; counts, sums, modes over records
    rlm model pull|info                     fetch (verified) or describe the embedded local model

Exit codes: 0 success, 1 the run failed (model, endpoint or engine error), 2 usage error
(bad flags, missing files, no model installed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rlm_core.cli._inputs import UsageError
from rlm_core.cli._models import EndpointError
from rlm_core.errors import ConfigError, ContextError, RLMError
from rlm_core.profiles import PROFILES
from rlm_core.repl.base import backend_names

Handler = Callable[[argparse.Namespace], int]
# "auto": the isolated worker where Linux can confine it, otherwise Monty; never the in-process
# "python" backend, which runs model code unconfined and is only used when named.
DEFAULT_BACKEND = "auto"
BACKEND_CHOICES = ["auto", *backend_names()]


def _model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model", help="model name at --base-url/OpenAI, or a .gguf path "
        "(default: the embedded local model)",
    )  # fmt: skip
    group.add_argument(
        "--base-url", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1"
    )
    group.add_argument("--sub-model", help="model for sub-calls (default: the root model)")
    group.add_argument("--n-ctx", type=int, help="context window of the local model, in tokens")
    group.add_argument(
        "--profile", choices=("auto", *PROFILES), default="auto",
        help="root prompt/guards: 'small' suits small models "
        "(auto: small for the local model or a model whose name says <= 4B)",
    )  # fmt: skip
    group.add_argument("--max-steps", type=int, default=8, help="root steps before finalizing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlm", description="Recursive Language Models: long contexts live in a REPL."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = commands.add_parser("ask", help="answer a question over files")
    ask.add_argument("question")
    ask.add_argument(
        "--context", "-c", nargs="+", action="extend", required=True, metavar="PATH",
        help="files, folders, globs (quote them) or - for stdin",
    )  # fmt: skip
    _model_flags(ask)
    ask.add_argument(
        "--backend", default=DEFAULT_BACKEND, choices=BACKEND_CHOICES,
        help="REPL backend (default auto: the strongest sandbox this machine runs; "
        "python = unconfined, trusted code only)",
    )  # fmt: skip
    ask.add_argument("--max-output-tokens", type=int, default=1024)
    ask.add_argument("--trace-out", metavar="FILE", help="save the trace as JSON")
    ask.add_argument("--html-out", metavar="FILE", help="save an HTML report of the run")
    ask.add_argument("--quiet", "-q", action="store_true", help="no live progress")
    ask.set_defaults(handler=_lazy("rlm_core.cli._run", "ask"))

    batch = commands.add_parser("batch", help="run many jobs from a JSONL file")
    batch.add_argument("jobs", metavar="JOBS.jsonl", help='one {"id", "query", "context"} a line')
    batch.add_argument(
        "--out", "-o", required=True, metavar="RESULTS.jsonl",
        help="results, one line per job (resumes: done ids are skipped)",
    )  # fmt: skip
    batch.add_argument(
        "--ray", nargs="?", const="", metavar="ADDRESS",
        help="run jobs as Ray tasks: on a local Ray, or the cluster at ADDRESS ('auto', ...)",
    )  # fmt: skip
    batch.add_argument(
        "--concurrency", "-j", type=int,
        help="jobs at once (default 4 locally; with --ray, the cluster's CPUs)",
    )  # fmt: skip
    batch.add_argument("--retry-failed", action="store_true", help="run failed jobs again")
    batch.add_argument("--no-traces", action="store_true", help="do not save per-job traces")
    _model_flags(batch)
    batch.add_argument(
        "--backend", default=DEFAULT_BACKEND, choices=BACKEND_CHOICES,
        help="REPL backend of every job (default auto, as for ask)",
    )  # fmt: skip
    batch.add_argument("--max-output-tokens", type=int, default=1024)
    batch.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    batch.set_defaults(handler=_lazy("rlm_core.cli._batch", "batch"))

    trace = commands.add_parser("trace", help="show, render or replay a saved trace")
    trace_commands = trace.add_subparsers(dest="trace_command", required=True, metavar="ACTION")
    show = trace_commands.add_parser("show", help="print a trace as text")
    show.add_argument("file")
    show.add_argument(
        "--max-chars", type=int, default=600, help="cut each text to this many characters"
    )
    show.set_defaults(handler=_lazy("rlm_core.cli._trace", "show"))
    html = trace_commands.add_parser("html", help="write a self-contained HTML report")
    html.add_argument("file")
    html.add_argument("-o", "--output", required=True, metavar="REPORT.html")
    html.set_defaults(handler=_lazy("rlm_core.cli._trace", "html"))
    replay = trace_commands.add_parser("replay", help="re-run a trace from its recorded replies")
    replay.add_argument("file")
    replay.add_argument(
        "--context", "-c", nargs="+", action="extend", metavar="PATH",
        help="the files it ran on (default: those recorded in the trace)",
    )  # fmt: skip
    replay.add_argument(
        "--backend", choices=BACKEND_CHOICES,
        help="REPL backend (default auto, whatever the trace recorded: a trace is data and "
        "never chooses a weaker sandbox)",
    )  # fmt: skip
    replay.add_argument("--quiet", "-q", action="store_true")
    replay.set_defaults(handler=_lazy("rlm_core.cli._run", "replay"))

    bench = commands.add_parser("bench", help="benchmarks")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="NAME")
    for name, summary in (
        ("niah", "needle in a haystack: RLM vs direct call"),
        ("multihop", "two or three facts far apart joined through names: RLM vs direct call"),
        ("aggregation", "counts, sums, most frequent value over every record: RLM vs direct"),
    ):
        family = bench_commands.add_parser(name, help=summary)
        family.add_argument("--quick", action="store_true", help="2 sizes x 2 tasks, small window")
        family.add_argument("--sizes", help="comma-separated token sizes, e.g. 8k,32k,128k,1M")
        family.add_argument("--tasks", type=int, help="tasks per size (default 3, quick 2)")
        family.add_argument("--methods", default="rlm,baseline", help="rlm,baseline (default both)")
        family.add_argument("--baseline-window", type=int, help="tokens the baseline may send")
        family.add_argument("--seed", type=int, default=0)
        family.add_argument("--out", default="bench-results", help=f"folder for {name}.md/.csv")
        if name == "multihop":
            family.add_argument(
                "--hops", dest="variant", choices=("2", "3"), help="only 2- or 3-hop questions"
            )
        elif name == "aggregation":
            family.add_argument(
                "--question", dest="variant", choices=("count", "sum", "mode"),
                help="only counts, sums or most-frequent-value questions",
            )  # fmt: skip
        _model_flags(family)
        family.set_defaults(handler=_lazy("rlm_core.cli._bench", "niah"), max_steps=6)

    model = commands.add_parser("model", help="the embedded local model: pull or describe it")
    model_commands = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    pull = model_commands.add_parser(
        "pull", help="download the pinned Qwen GGUF from the Hugging Face Hub, verified"
    )
    pull.add_argument("--force", action="store_true", help="download even if already verified")
    pull.add_argument("--endpoint", help="a Hub mirror (default: $HF_ENDPOINT or huggingface.co)")
    pull.set_defaults(handler=_lazy("rlm_core.cli._local", "pull"))
    model_info = model_commands.add_parser("info", help="which model file runs, and its checks")
    model_info.set_defaults(handler=_lazy("rlm_core.cli._local", "info"))
    return parser


def _lazy(module: str, name: str) -> Handler:
    """Import a command's module only when it runs (keeps ``rlm --help`` fast)."""

    def handler(args: argparse.Namespace) -> int:
        import importlib

        function: Handler = getattr(importlib.import_module(module), name)
        return function(args)

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (``rlm`` calls ``sys.exit`` with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in (
        "max_steps", "n_ctx", "tasks", "baseline_window", "max_output_tokens", "concurrency",
        "max_chars",
    ):  # fmt: skip
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    try:
        code: int = args.handler(args)
        return code
    except (UsageError, ConfigError, ContextError) as error:
        print(f"rlm: error: {error}", file=sys.stderr)
        return 2
    except EndpointError as error:
        print(f"rlm: error: {error}", file=sys.stderr)
        return 1
    except RLMError as error:
        print(f"rlm: run failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rlm: interrupted", file=sys.stderr)
        return 130
