"""The public packages: lazy, explicit exports that all resolve."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

LAZY_PACKAGES = ["rlm_core", "rlm_core.repl", "rlm_core.repl.isolated"]


@pytest.mark.parametrize("package_name", LAZY_PACKAGES)
def test_every_export_is_listed_once_and_resolves(package_name: str) -> None:
    package = importlib.import_module(package_name)
    exported = set(package.__all__) - {"__version__"}
    assert exported == set(package._EXPORTS)
    assert len(package.__all__) == len(set(package.__all__))
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    assert set(package.__all__) <= set(dir(package))


def test_unknown_names_raise_attribute_error() -> None:
    import rlm_core

    with pytest.raises(AttributeError, match="'rlm_core' has no attribute 'Nope'"):
        rlm_core.Nope  # noqa: B018
    assert not hasattr(rlm_core, "Nope")


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from rlm_core import *", namespace)
    import rlm_core

    assert {name for name in namespace if not name.startswith("__")} >= set(rlm_core.__all__) - {
        "__version__"
    }
    assert namespace["RLM"] is rlm_core.RLM


def test_importing_the_package_loads_nothing_until_a_name_is_used() -> None:
    probe = (
        "import json, sys\n"
        "import rlm_core\n"
        "first = sorted(m for m in sys.modules if m.startswith(('rlm_core', 'httpx')))\n"
        "rlm_core.RLM\n"
        "print(json.dumps([first, 'rlm_core.rlm' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    first, loaded_later = json.loads(out)
    assert first == ["rlm_core", "rlm_core._lazy"]
    assert loaded_later
