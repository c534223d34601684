"""The sandboxed worker imports its code plainly, and only what it needs.

The worker runs ``python -I -S`` and imports ``rlm_core.repl.isolated.worker`` before it
confines itself; after that it cannot read the rlm_core sources. A module it imports that pulls
in something new (httpx, the engine, a third-party package) would fail only at run time, inside
the sandbox, so these tests pin the list here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from rlm_core import RLM
from rlm_core.adapters.fake import FakeAdapter
from rlm_core.context import Context
from rlm_core.engine.run import RunSession
from rlm_core.engine.toolkit import Toolkit
from rlm_core.events import EventBus
from rlm_core.repl.helper_registry import helper
from rlm_core.repl.isolated import IsolatedREPL
from rlm_core.repl.isolated.process import IMPORT_ROOT

# Every rlm_core module the worker may load. Adding one here means it becomes part of the
# sandbox's trusted code: keep it to the standard library and these modules.
WORKER_MODULES = {
    "rlm_core",
    "rlm_core._lazy",
    "rlm_core._mapped_text",  # file-backed contexts: the worker maps the files itself
    "rlm_core.context",
    "rlm_core.errors",
    "rlm_core.repl",
    "rlm_core.repl.base",
    "rlm_core.repl.context_helpers",
    "rlm_core.repl.helper_registry",
    "rlm_core.repl.related",
    "rlm_core.repl.isolated",
    "rlm_core.repl.isolated.framing",
    "rlm_core.repl.isolated.sandbox",
    "rlm_core.repl.isolated.worker",
}

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def modules_loaded_by(module: str) -> list[str]:
    """The modules a fresh ``python -I -S`` loads to import ``module`` (as the worker starts)."""
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE.format(module=module), IMPORT_ROOT],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


def test_worker_imports_only_the_standard_library_and_its_own_modules() -> None:
    loaded = modules_loaded_by("rlm_core.repl.isolated.worker")
    ours = {name for name in loaded if name.split(".")[0] == "rlm_core"}
    assert ours == WORKER_MODULES
    foreign = [
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names and name not in ours
    ]
    assert foreign == []


def test_repl_backends_never_load_the_engine() -> None:
    for module in (
        "rlm_core.repl.python_repl",
        "rlm_core.repl.monty_repl",
        "rlm_core.repl.isolated.host",
    ):
        loaded = modules_loaded_by(module)
        assert not [name for name in loaded if name.startswith("rlm_core.engine")], module
        assert "httpx" not in loaded, module


class ToolkitWithExtra(Toolkit):
    @helper("subcalls")
    def shout(self, text: str) -> str:
        """The text in capitals, computed on the host."""
        return text.upper()


@pytest.fixture(scope="module")
def repl() -> Iterator[IsolatedREPL]:
    rlm = RLM(adapter=FakeAdapter(default="ok"))
    session = RunSession(rlm.settings, EventBus([]))
    toolkit = ToolkitWithExtra(Context.from_text("public document text"), session.subcalls)
    instance = IsolatedREPL(toolkit, memory_mb=256, cpu_seconds=2, wall_seconds=10.0)
    yield instance
    instance.close()


def run(repl: IsolatedREPL, code: str) -> Any:
    result = repl.exec(code)
    assert result.error is None, result.error
    return result.stdout.strip()


def test_the_worker_runs_the_real_package_and_keeps_no_import_root(repl: IsolatedREPL) -> None:
    out = run(
        repl,
        "import sys\n"
        "package = sys.modules['rlm_core']\n"
        "print(type(package).__name__, package.__file__.endswith('/rlm_core/__init__.py'))\n"
        f"print({IMPORT_ROOT!r} in sys.path)",
    )
    assert out.splitlines() == ["module True", "False"]


def test_a_new_host_helper_reaches_the_worker_from_its_one_definition(
    repl: IsolatedREPL,
) -> None:
    spec = {s.name: s for s in ToolkitWithExtra.specs(with_retriever=False)}["shout"]
    assert run(repl, "print(shout('abc'))") == "ABC"
    assert run(repl, "print(shout.__doc__)") == spec.describe()
    assert run(repl, "print(llm_query.__doc__)").startswith("llm_query(text, model=None")
    assert run(repl, "print(peek(6), lenP())") == "public 20"
