"""Where training keeps its token shards: the user cache directory, never the current directory."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from atomlm.cache_dir import atomlm_cache_dir
from atomlm.training.config import ConfigError, DataSettings
from atomlm.training.shard_cache import prepare_shards, shard_cache_root


@pytest.fixture
def clean_cache_environment(monkeypatch, tmp_path):
    """No cache variables set and a home directory of this test's own."""
    for variable in ("ATOMLM_CACHE_DIR", "XDG_CACHE_HOME", "ATOMLM_SHARD_CACHE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_cache_dir_follows_atomlm_then_xdg_then_home(clean_cache_environment, tmp_path):
    environment = clean_cache_environment
    assert atomlm_cache_dir() == tmp_path / "home" / ".cache" / "atomlm"
    environment.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: the XDG spec says ignore it
    assert atomlm_cache_dir() == tmp_path / "home" / ".cache" / "atomlm"
    environment.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert atomlm_cache_dir() == tmp_path / "xdg" / "atomlm"
    environment.setenv("ATOMLM_CACHE_DIR", str(tmp_path / "mine"))
    assert atomlm_cache_dir() == tmp_path / "mine"


def test_shard_cache_is_in_the_user_cache_unless_the_config_names_one(clean_cache_environment, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    clean_cache_environment.setenv("ATOMLM_CACHE_DIR", str(tmp_path / "cache"))
    assert shard_cache_root(DataSettings()) == tmp_path / "cache" / "shards"
    assert shard_cache_root(DataSettings(shard_cache_dir=str(tmp_path / "here"))) == tmp_path / "here"
    clean_cache_environment.setenv("ATOMLM_SHARD_CACHE", str(tmp_path / "old"))
    with pytest.raises(ConfigError, match="ATOMLM_SHARD_CACHE is no longer read; set ATOMLM_CACHE_DIR"):
        shard_cache_root(DataSettings())
    assert shard_cache_root(DataSettings(shard_cache_dir=str(tmp_path / "here"))) == tmp_path / "here"


def test_training_builds_its_shards_under_atomlm_cache_dir(clean_cache_environment, tmp_path, monkeypatch):
    curriculum = tmp_path / "tiny.json"
    curriculum.write_text(json.dumps({"name": "tiny", "phases": [
        {"name": "only", "tokens": 3000, "sources": {"kjv": 1, "synthetic-arithmetic": {"weight": 1, "stage": 1}}},
    ]}))
    monkeypatch.chdir(tmp_path)
    clean_cache_environment.setenv("ATOMLM_CACHE_DIR", str(tmp_path / "cache"))
    barrier_calls = []
    shard_dir, _ = prepare_shards(DataSettings(curriculum=str(curriculum), seq_len=64), is_main=True,
                                  barrier=lambda: barrier_calls.append(1), log=lambda line: None)
    assert shard_dir.parent == tmp_path / "cache" / "shards"
    assert (shard_dir / "manifest.json").is_file() and barrier_calls == [1]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cache", "tiny.json"]  # nothing in the cwd
    assert not Path(tmp_path / "home").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_train_no_progress_builds_its_shards_without_a_bar(clean_cache_environment, tmp_path, monkeypatch, progress):
    curriculum = tmp_path / "tiny.json"
    curriculum.write_text(json.dumps({"name": "tiny", "phases": [{"name": "only", "tokens": 1000, "sources": {"kjv": 1}}]}))
    clean_cache_environment.setenv("ATOMLM_CACHE_DIR", str(tmp_path / "cache"))
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    prepare_shards(DataSettings(curriculum=str(curriculum), seq_len=64), is_main=True, barrier=lambda: None,
                   log=lambda line: None, progress=progress)
    assert ("building shards" in terminal.getvalue()) is progress


def test_the_cache_key_changes_with_the_data_code_and_only_with_it(tmp_path):
    """A generator or text-source edit must not reuse shards built by the old code; a model edit must
    not throw the shards away."""
    import shutil

    from atomlm.training.shard_cache import DATA_CODE, PACKAGE, data_code_fingerprint

    assert all((PACKAGE / name).exists() for name in DATA_CODE)  # a renamed file would drop out unseen
    package = tmp_path / "atomlm"
    for name in DATA_CODE:
        source, copy = PACKAGE / name, package / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy)
    (package / "modeling" / "modeling_atom.py").write_text("# the model\n")
    original = data_code_fingerprint(package)
    assert original == data_code_fingerprint(PACKAGE)

    (package / "modeling" / "modeling_atom.py").write_text("# the model, changed\n")
    (package / "data" / "__pycache__").mkdir(exist_ok=True)
    (package / "data" / "__pycache__" / "arithmetic.cpython.pyc").write_bytes(b"compiled")
    assert data_code_fingerprint(package) == original
    for edited in ("data/arithmetic.py", "offline_text.py", "modeling/tokenization_atom.py"):
        path = package / edited
        before = path.read_bytes()
        path.write_bytes(before + b"\n# edited\n")
        assert data_code_fingerprint(package) != original, edited
        path.write_bytes(before)
    assert data_code_fingerprint(package) == original


def test_the_shard_directory_is_keyed_by_the_data_code(monkeypatch, tmp_path):
    from atomlm.training import shard_cache

    settings = DataSettings(shard_cache_dir=str(tmp_path))
    directories = set()
    for fingerprint in ("old code", "new code"):
        monkeypatch.setattr(shard_cache, "data_code_fingerprint", lambda fingerprint=fingerprint: fingerprint)
        directories.add(shard_cache.shard_directory(settings, {"phases": []}))
    assert len(directories) == 2
