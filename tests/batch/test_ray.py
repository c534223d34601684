"""The same jobs as Ray tasks on a real local Ray (one session for the module)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from rlm_core.batch import JobOptions, ModelSpec, read_results, run_batch
from rlm_core.batch.ray_executor import import_ray
from rlm_core.cli import main

from .conftest import FIRST_SENTENCE, read_lines
from tests.core.openai_server import OpenAIServer

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """A real single-node Ray that stays on 127.0.0.1 (one session for the module).

    - ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: Ray's single-machine mode, which binds every
      process to the loopback address instead of looking up a routable one;
    - a ``ray_bootstrap_config.yaml`` in a private HOME: Ray then knows there is no cloud
      provider and does not probe cloud metadata services (HOME also keeps Ray's auth
      token out of the real home);
    - no usage reporting, no dashboard; long start-up timeouts for a busy 2-core box.
    """
    home = tmp_path_factory.mktemp("ray-home")
    (home / "ray_bootstrap_config.yaml").write_text("{}\n", encoding="utf-8")
    env = {
        "HOME": str(home),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_agent_register_timeout_ms": "180000",
        "RAY_raylet_start_wait_time_s": "90",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    ray = import_ray()
    try:
        _start(ray)
        yield ray
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _start(ray: ModuleType, attempts: int = 2) -> None:
    """``ray.init`` for the tests; a second try when a start fails (on a shared, overloaded
    machine another Ray starting at the same moment can take a port this one picked)."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=80 * 1024 * 1024,
            )
            return
        except Exception:
            ray.shutdown()
            if attempt == attempts:
                raise


def _comparable(record: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in record.items() if key != "seconds"}


def test_ray_gives_the_same_results_as_local(
    local_ray: ModuleType, jobs_file: Path, tmp_path: Path
) -> None:
    model = ModelSpec.fake(FIRST_SENTENCE)
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    # the default (isolated) REPL backend: each Ray task starts its own sandboxed worker
    run_batch(jobs_file, local_out, model=model)
    summary = run_batch(jobs_file, ray_out, model=model, executor="ray")
    assert (summary.ran, summary.failed) == (4, 0)
    local, remote = read_results(local_out), read_results(ray_out)
    assert local.keys() == remote.keys() == {"q1", "q2", "q3", "q4"}
    for job_id, record in local.items():
        expected = _comparable(record)
        expected["trace"] = f"ray.traces/{job_id}.json"
        assert _comparable(remote[job_id]) == expected
        assert (tmp_path / remote[job_id]["trace"]).is_file()


def test_a_failed_task_is_recorded(local_ray: ModuleType, tmp_path: Path) -> None:
    jobs = [
        {"id": "ok", "query": "q", "context": "Fine. x"},
        {"id": "limit", "query": "q", "context": "Text. x", "max_steps": 1, "on_limit": "raise"},
        {"id": "gone", "query": "q", "context": {"path": str(tmp_path / "later.txt")}},
    ]
    (tmp_path / "later.txt").write_text("Here at check time. x", encoding="utf-8")
    from rlm_core.batch.jobs import coerce_jobs

    checked = coerce_jobs(jobs, JobOptions(backend="python"))
    (tmp_path / "later.txt").unlink()  # removed after the check, before the task reads it
    out = tmp_path / "r.jsonl"
    summary = run_batch(
        checked, out, model=ModelSpec.fake(FIRST_SENTENCE), executor="ray", concurrency=1
    )
    assert (summary.ran, summary.failed) == (3, 2)
    records = read_results(out)
    assert records["ok"]["answer"] == "Fine"
    assert records["limit"]["error"]["type"] == "MaxStepsExceeded"
    assert records["gone"]["error"] == {
        "type": "ContextError",
        "message": f"context file {str(tmp_path / 'later.txt')!r} no longer exists",
    }


def test_cli_ray_flag(
    local_ray: ModuleType, jobs_file: Path, tmp_path: Path, final_server: OpenAIServer
) -> None:
    out = tmp_path / "out.jsonl"
    flags = ["--base-url", final_server.base_url, "--model", "m", "--backend", "python", "-q"]
    assert main(["batch", str(jobs_file), "--out", str(out), "--ray", *flags]) == 0
    records = read_lines(out)
    assert sorted(r["id"] for r in records) == ["q1", "q2", "q3", "q4"]
    assert {r["answer"] for r in records} == {"42"}
    assert local_ray.is_initialized()  # the batch used this session and left it running
