"""Batch jobs: the JSONL job format, its validation, and loading a job's context.

One job per line::

    {"id": "q1", "query": "Who signed?", "context": "inline text ..."}
    {"id": "q2", "query": "Launch code?", "context": {"path": "docs/*.txt"}, "max_steps": 4}
    {"id": "q3", "query": "Compare", "context": ["first document", {"path": "b.md"}]}

``context`` is inline text, ``{"path": ...}`` (a file, a folder or a glob, or a list of
those; relative to the jobs file) or a list of documents, each text or ``{"path": ...}``.
Every other key is a per-job option (``JobOptions``) that overrides the batch defaults.
The whole file is checked before any job runs; every problem is reported with its line
number and job id.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rlm_core._text_files import is_text_file, text_files_in
from rlm_core.context import Context
from rlm_core.errors import ConfigError, ContextError
from rlm_core.repl.base import backend_names
from rlm_core.repl.selection import AUTO

MAX_REPORTED_PROBLEMS = 20
JOB_KEYS = ("id", "query", "context")


class BatchInputError(ConfigError):
    """The jobs (or a job's options or files) are invalid; the message names each problem."""


class JobOptions(BaseModel):
    """Per-job run options; a job's own keys override the batch defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    max_steps: int = Field(default=8, ge=1)
    max_subcalls: int = Field(default=200, ge=1)
    max_total_tokens: int | None = Field(default=None, ge=1)
    on_limit: Literal["finalize", "raise"] = "finalize"
    max_output_tokens: int = Field(default=1024, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    profile: Literal["default", "small"] = "default"
    backend: str = AUTO
    system_prompt: str | None = None
    parallel_subcalls: bool = False
    max_concurrent_subcalls: int = Field(default=10, ge=1)
    recursive_subcalls: bool = False
    max_recursion_depth: int = Field(default=2, ge=0)

    @field_validator("temperature", mode="before")
    @classmethod
    def _int_temperature(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        names = [AUTO, *backend_names()]
        if value not in names:
            raise ValueError(f"unknown REPL backend {value!r}; available: {', '.join(names)}")
        return value


class FileRef(BaseModel):
    """Files named in a job: resolved to absolute paths when the jobs are loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | list[str]
    files: tuple[str, ...] = ()


ContextSpec = str | FileRef | list[str | FileRef]


class BatchJob(BaseModel):
    """One question over one context, with its options (``line`` is its place in the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1)
    context: ContextSpec
    options: JobOptions = JobOptions()
    line: int = 0

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is blank")
        return value

    def load_context(self) -> Context:
        """The job's context, read now (on the machine that runs the job)."""
        return _load_context(self.context)


# -- parsing -----------------------------------------------------------------------------------
def parse_job(
    raw: Any, *, defaults: JobOptions, base_dir: Path, line: int = 0, origin: str = "job"
) -> BatchJob:
    """One job from its JSON object; ``BatchInputError`` naming ``origin``, line and id."""
    where = f"{origin} line {line}" if line else origin
    if not isinstance(raw, Mapping):
        raise BatchInputError(f"{where}: a job must be a JSON object, got {type(raw).__name__}")
    job_id = raw.get("id")
    if job_id is not None:
        where += f" (job {str(job_id)!r})"
    missing = [key for key in JOB_KEYS if key not in raw]
    if missing:
        raise BatchInputError(f"{where}: missing {', '.join(repr(k) for k in missing)}")
    overrides = {key: value for key, value in raw.items() if key not in JOB_KEYS}
    try:
        options = JobOptions.model_validate({**defaults.model_dump(), **overrides})
        job = BatchJob.model_validate(
            {
                "id": raw["id"],
                "query": raw["query"],
                "context": raw["context"],
                "options": options,
                "line": line,
            }
        )
    except ValidationError as error:
        raise BatchInputError(f"{where}: {_describe(error)}") from None
    try:
        return job.model_copy(update={"context": _resolve(job.context, base_dir)})
    except BatchInputError as error:
        raise BatchInputError(f"{where}: {error}") from None


def load_jobs(path: str | Path, defaults: JobOptions | None = None) -> list[BatchJob]:
    """Every job of the JSONL file at ``path``, checked up front (ids must be unique)."""
    file = Path(path)
    if not file.is_file():
        what = "is a folder" if file.is_dir() else "does not exist"
        raise BatchInputError(f"jobs file {str(file)!r} {what}: pass a JSONL file")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise BatchInputError(f"jobs file {str(file)!r} is not UTF-8 text") from None
    defaults = defaults or JobOptions()
    jobs: list[BatchJob] = []
    problems: list[str] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            problems.append(f"{file.name} line {number}: not valid JSON ({error.msg})")
            continue
        try:
            jobs.append(
                parse_job(
                    raw, defaults=defaults, base_dir=file.parent, line=number, origin=file.name
                )
            )
        except BatchInputError as error:
            problems.append(str(error))
    problems.extend(_duplicates(jobs, file.name))
    if problems:
        raise BatchInputError(_summary(problems, str(file)))
    if not jobs:
        raise BatchInputError(f"jobs file {str(file)!r} holds no jobs (one JSON object per line)")
    return jobs


def coerce_jobs(
    jobs: Iterable[BatchJob | Mapping[str, Any]],
    defaults: JobOptions | None = None,
    base_dir: Path | None = None,
) -> list[BatchJob]:
    """Jobs given in Python (``BatchJob`` objects or dicts in the JSONL shape), checked."""
    defaults = defaults or JobOptions()
    base = base_dir or Path.cwd()
    checked: list[BatchJob] = []
    problems: list[str] = []
    for index, job in enumerate(jobs):
        if isinstance(job, BatchJob):
            checked.append(job)
            continue
        try:
            checked.append(
                parse_job(job, defaults=defaults, base_dir=base, origin=f"jobs[{index}]")
            )
        except BatchInputError as error:
            problems.append(str(error))
    problems.extend(_duplicates(checked, "jobs"))
    if problems:
        raise BatchInputError(_summary(problems, "the jobs"))
    if not checked:
        raise BatchInputError("no jobs given")
    return checked


def _duplicates(jobs: list[BatchJob], origin: str) -> list[str]:
    seen: dict[str, BatchJob] = {}
    problems = []
    for job in jobs:
        first = seen.setdefault(job.id, job)
        if first is not job:
            problems.append(
                f"{origin} line {job.line}: job id {job.id!r} is already used on line "
                f"{first.line}; ids must be unique (results are matched by id)"
            )
    return problems


def _summary(problems: list[str], origin: str) -> str:
    shown = problems[:MAX_REPORTED_PROBLEMS]
    more = len(problems) - len(shown)
    tail = f"\n  ... and {more} more" if more > 0 else ""
    return f"{len(problems)} problem(s) in {origin}:\n  " + "\n  ".join(shown) + tail


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"] if part != "options"]
        field = ".".join(loc) or "job"
        if item["type"] == "extra_forbidden":
            known = ", ".join((*JOB_KEYS, *JobOptions.model_fields))
            parts.append(f"unknown key {field!r} (known keys: {known})")
        elif field.startswith("context"):
            parts.append(
                'context must be text, {"path": ...} or a list of texts and '
                f'{{"path": ...}} objects (got {_short(item.get("input"))})'
            )
            break
        else:
            parts.append(f"{field}: {item['msg']} (got {_short(item.get('input'))})")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- files -------------------------------------------------------------------------------------
def _resolve(spec: ContextSpec, base_dir: Path) -> ContextSpec:
    if isinstance(spec, str) and not spec.strip():
        raise BatchInputError("the context text is empty")
    if isinstance(spec, list) and not spec:
        raise BatchInputError("the context list is empty")
    if isinstance(spec, FileRef):
        return _resolve_ref(spec, base_dir)
    if isinstance(spec, list):
        return [
            _resolve_ref(item, base_dir) if isinstance(item, FileRef) else item for item in spec
        ]
    return spec


def _resolve_ref(ref: FileRef, base_dir: Path) -> FileRef:
    specs = [ref.path] if isinstance(ref.path, str) else ref.path
    if not specs:
        raise BatchInputError('context {"path": []} names no files')
    files: dict[str, None] = {}
    for spec in specs:
        for file in _expand(spec, base_dir):
            files.setdefault(str(file), None)
    return FileRef(path=ref.path, files=tuple(files))


def _expand(spec: str, base_dir: Path) -> list[Path]:
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if any(char in spec for char in "*?["):
        matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True))
        found = [m.resolve() for m in matches if m.is_file() and is_text_file(m)]
        if not found:
            raise BatchInputError(f"context path {spec!r}: the pattern matches no text files")
        return found
    if not path.exists():
        raise BatchInputError(f"context path {spec!r}: no such file or folder ({path})")
    if path.is_dir():
        inside = [found.resolve() for found in text_files_in(path)]
        if not inside:
            raise BatchInputError(f"context path {spec!r}: the folder holds no text files")
        return inside
    if not is_text_file(path):
        raise BatchInputError(f"context path {spec!r}: looks like a binary file; pass text files")
    return [path.resolve()]


def _read(file: str) -> str:
    try:
        return Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContextError(f"context file {file!r} no longer exists") from None
    except UnicodeDecodeError as error:
        raise ContextError(
            f"context file {file!r} is not UTF-8 text (bad byte at offset {error.start})"
        ) from None
    except OSError as error:
        raise ContextError(f"cannot read context file {file!r}: {error.strerror}") from None


def _documents(ref: FileRef) -> list[str]:
    if len(ref.files) == 1:
        return [_read(ref.files[0])]
    return [f"=== {file} ===\n{_read(file)}" for file in ref.files]


def _load_context(spec: ContextSpec) -> Context:
    if isinstance(spec, str):
        return Context.from_text(spec)
    if isinstance(spec, FileRef):
        documents = _documents(spec)
        if len(documents) == 1:
            return Context.from_text(documents[0])
        return Context.from_documents(documents)
    documents = []
    for item in spec:
        if isinstance(item, str):
            documents.append(item)
        else:
            documents.extend(_documents(item))
    return Context.from_documents(documents)
