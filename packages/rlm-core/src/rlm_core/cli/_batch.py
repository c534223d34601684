"""``rlm batch JOBS.jsonl --out RESULTS.jsonl``: many questions, locally or on Ray.

The model flags mean what they mean for ``rlm ask`` (same choice of endpoint or embedded
model); they are turned into a picklable ``ModelSpec`` so every job, in a thread or a
Ray task, builds its own adapter.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from rlm_core.batch import JobOptions, ModelSpec, run_batch
from rlm_core.batch.jobs import load_jobs
from rlm_core.batch.results import traces_dir_for
from rlm_core.cli._models import ModelChoice, check_endpoint, choose, profile_for_choice
from rlm_core.errors import ConfigError


def model_spec(choice: ModelChoice, n_ctx: int | None) -> ModelSpec:
    """The spec of what ``choose`` picked (the endpoint is checked once, here)."""
    if choice.local:
        from rlm_core.adapters.llama_cpp import MISSING_LLAMA_CPP
        from rlm_core.local_model import resolve_model

        if importlib.util.find_spec("llama_cpp") is None:  # fail now, not once per job
            raise ConfigError(MISSING_LLAMA_CPP)
        resolve_model(choice.model)
        return ModelSpec.local(choice.model, n_ctx=n_ctx)
    assert choice.model is not None
    spec = ModelSpec.openai(choice.model, choice.base_url, n_ctx=n_ctx)
    if choice.base_url:
        check_endpoint(choice.base_url)
    return spec


def batch(args: argparse.Namespace) -> int:
    """Run every job of the JSONL file; exit 1 when any job failed."""
    root_choice = choose(args.model, args.base_url)
    defaults = JobOptions.model_validate(
        {
            "max_steps": args.max_steps,
            "max_output_tokens": args.max_output_tokens,
            "profile": profile_for_choice(args.profile, root_choice),
            "backend": args.backend,
        }
    )
    jobs = load_jobs(args.jobs, defaults)  # a bad jobs file is reported before the endpoint
    sub = None
    if args.sub_model:
        sub = model_spec(choose(args.sub_model, args.base_url or root_choice.base_url), args.n_ctx)
    summary = run_batch(
        jobs,
        args.out,
        model=model_spec(root_choice, args.n_ctx),
        sub_model=sub,
        executor="ray" if args.ray is not None else "local",
        ray_address=args.ray or None,
        concurrency=args.concurrency,
        defaults=defaults,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        write_traces=not args.no_traces,
    )
    traces = "" if args.no_traces else f", traces in {traces_dir_for(summary.results)}"
    print(
        f"batch: {summary.total} job(s): {summary.succeeded} ok, {summary.failed} failed, "
        f"{summary.skipped} skipped (already done); results in {summary.results}{traces}",
        file=sys.stderr,
    )
    return 1 if summary.failed else 0
