"""`--model` problems are one-line user errors, found before transformers reads the directory."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from atomlm.model_loading import looks_like_local_path
from atomlm.modeling.configuration_atom import AtomConfig


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A one-layer random Atom exported as a complete model directory."""
    from atomlm.export import export_random_init

    return export_random_init(tmp_path_factory.mktemp("tiny") / "model", num_hidden_layers=1, hidden_size=32,
                              intermediate_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=8)


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    """A copy of the tiny model directory that a test may break."""
    return shutil.copytree(tiny_model_dir, tmp_path / "model")


def truncate_by(path, count):
    os.truncate(path, os.path.getsize(path) - count)


def edit_config(directory, **fields):
    path = directory / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


BREAKAGES = {
    "no config.json": (lambda d: (d / "config.json").unlink(), "{d}: no config.json, so not an exported model"),
    "config.json not JSON": (lambda d: (d / "config.json").write_text('{"vocab_size": 4096,'),
                             "{d}/config.json: not valid JSON"),
    "config.json a list": (lambda d: (d / "config.json").write_text("[]"),
                           "{d}/config.json: expected a JSON object, got list"),
    "no weights": (lambda d: (d / "model.safetensors").unlink(), "{d}: no model.safetensors"),
    "empty weights": (lambda d: (d / "model.safetensors").write_bytes(b""),
                      "{d}/model.safetensors: empty file (0 bytes)"),
    "truncated weights": (lambda d: truncate_by(d / "model.safetensors", 100),
                          "{d}/model.safetensors: truncated: tensor "),
    "truncated header": (lambda d: os.truncate(d / "model.safetensors", 40),
                         "{d}/model.safetensors: truncated: the header is "),
    "weights not safetensors": (lambda d: (d / "model.safetensors").write_bytes(b"\x04" + bytes(7) + b"nope"),
                                "{d}/model.safetensors: not a safetensors file"),
    "no modeling code": (lambda d: (d / "modeling_atom.py").unlink(),
                         "{d}: no modeling_atom.py, which config.json names in auto_map"),
    "no tokenizer code": (lambda d: (d / "tokenization_atom.py").unlink(),
                          "{d}: no tokenization_atom.py, which tokenizer_config.json names in auto_map"),
    "no tokenizer": (lambda d: (d / "tokenizer.json").unlink(), "{d}: no tokenizer.json"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_broken_model_directory(atomlm, model_copy, breakage):
    break_directory, expected = BREAKAGES[breakage]
    break_directory(model_copy)
    message = atomlm.error("generate", "1 + 1 =", "--model", model_copy)
    assert message.startswith(expected.format(d=model_copy))


@pytest.mark.parametrize("model", ["missing-model/", "./missing-model", "runs/a/missing-model", "~/missing-model-42"])
def test_missing_local_directory(atomlm, tmp_path, model):
    message = atomlm.error("generate", "1 + 1 =", "--model", model, cwd=tmp_path)
    assert message == f"{os.path.expanduser(model)}: no such model directory"


@pytest.mark.parametrize("field, value, expected", [
    ("num_hidden_layers", "five", "num_hidden_layers: expected an integer, got 'five'"),
    ("digit_token_ids", 5, "'int' object is not iterable"),  # AtomConfig.__init__'s list() fails before _validate
])
def test_config_field_of_wrong_type_names_the_file(atomlm, model_copy, field, value, expected):
    edit_config(model_copy, **{field: value})
    message = atomlm.error("generate", "1 + 1 =", "--model", model_copy)
    assert message == f"{model_copy}/config.json: {expected}"


@pytest.mark.parametrize("field, value, expected", [
    ("num_hidden_layers", "five", "num_hidden_layers: expected an integer, got 'five'"),
    ("hidden_size", True, "hidden_size: expected an integer, got True"),
    ("head_dim", 8.0, "head_dim: expected an integer, got 8.0"),
    ("rope_theta", "5000", "rope_theta: expected a number, got '5000'"),
    ("use_xsa", 1, "use_xsa: expected true or false, got 1"),
    ("digit_token_ids", [str(i) for i in range(10)], "digit_token_ids: expected integer token ids"),
    ("operator_token_ids", dict.fromkeys("+-*/=()", "1"), "operator_token_ids: expected integer token ids"),
])
def test_config_rejects_wrong_types(field, value, expected):
    with pytest.raises(ValueError, match=f"^AtomConfig: {expected}"):
        AtomConfig(**{field: value})


def test_config_accepts_an_integer_where_a_float_belongs():
    assert AtomConfig(rope_theta=5000).rope_theta == 5000


def test_hub_id_not_cached_while_offline(atomlm):
    message = atomlm.error("generate", "1 + 1 =", "--model", "atomlm-tests/no-such-model")
    assert message == ("atomlm-tests/no-such-model: no such local directory, and not in the Hugging Face cache "
                       "(HF_HUB_OFFLINE is set)")


def test_hub_id_with_the_hub_unreachable_fails_fast(atomlm):
    # Port 9 (discard) refuses at once; without the probe transformers retries for ~48 s.
    started = time.perf_counter()
    message = atomlm.error("generate", "1 + 1 =", "--model", "atomlm-tests/no-such-model",
                           env={"HF_HUB_OFFLINE": None, "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert message.endswith("not in the Hugging Face cache (the hub is unreachable)")
    assert time.perf_counter() - started < 20


def test_unknown_device(atomlm, tiny_model_dir):
    message = atomlm.error("generate", "1 + 1 =", "--model", tiny_model_dir, "--device", "banana")
    assert message == "--device banana: not a device (expected cpu, cuda or cuda:N)"


def test_cached_hub_model_loads_with_the_hub_unreachable(atomlm, tiny_model_dir, tmp_path):
    # The Hugging Face cache layout: refs/main names the snapshot that holds the files.
    repo = tmp_path / "hub" / "models--atomlm-tests--tiny"
    revision = "0" * 40
    shutil.copytree(tiny_model_dir, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    result = atomlm.run("generate", "1 + 1 =", "--model", "atomlm-tests/tiny", "--max-new-tokens", "2",
                        env={"HF_HUB_OFFLINE": None, "HF_ENDPOINT": "http://127.0.0.1:9",
                             "HF_HUB_CACHE": str(tmp_path / "hub")})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("text, local", [
    ("owner/name", False), ("gpt2", False), ("./name", True), ("~/name", True), ("/abs/name", True),
    ("a/b/c", True), (".", True),
])
def test_what_counts_as_a_local_path(text, local):
    assert looks_like_local_path(text) is local
