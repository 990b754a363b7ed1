"""Exported directories load through the Auto classes without atomlm and give identical logits."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from atomlm.errors import UserError
from atomlm.modeling.modeling_atom import AtomForCausalLM

from .conftest import tiny_config

pytestmark = pytest.mark.huggingface  # also run against other transformers releases

OUTSIDE_USER = Path(__file__).parent / "scripts" / "outside_user.py"
EXPECTED_FILES = {
    "config.json", "model.safetensors", "generation_config.json", "configuration_atom.py", "modeling_atom.py",
    "arithmetic_features.py", "tokenization_atom.py", "tokenizer.json", "tokenizer_config.json", "README.md",
}


# site-packages directories holding a transformers 4.x release (`make test-transformers4` installs
# them and sets this); the test that loads an export there is skipped without them.
TRANSFORMERS_4_DIRS = [path for path in os.environ.get("ATOMLM_TRANSFORMERS4_PATHS", "").split(os.pathsep) if path]


def run_outside(model_dir, ids, tmp_path, pythonpath=""):
    ids_path, output_path = tmp_path / "ids.json", tmp_path / "out.json"
    ids_path.write_text(json.dumps(ids))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": pythonpath}
    result = subprocess.run([sys.executable, str(OUTSIDE_USER), str(model_dir), str(ids_path), str(output_path)],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(output_path.read_text())


def test_export_holds_every_file(exported_dir):
    names = {p.name for p in exported_dir.iterdir()}
    assert EXPECTED_FILES <= names
    config = json.loads((exported_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_atom.AtomForCausalLM"
    tokenizer_config = json.loads((exported_dir / "tokenizer_config.json").read_text())
    assert tokenizer_config["auto_map"]["AutoTokenizer"][0] == "tokenization_atom.AtomTokenizer"
    # the spelling transformers 4.x reads too (5.x writes a list under extra_special_tokens)
    assert "<|endoftext|>" in tokenizer_config["additional_special_tokens"]
    assert "extra_special_tokens" not in tokenizer_config
    assert config["auto_map"]["AutoModel"] == "modeling_atom.AtomModel"
    assert config["auto_map"]["AutoConfig"] == "configuration_atom.AtomConfig"
    for code_file in ["configuration_atom.py", "modeling_atom.py", "arithmetic_features.py", "tokenization_atom.py"]:
        source = (exported_dir / code_file).read_text()
        assert not re.search(r"^\s*(from|import)\s+atomlm", source, re.MULTILINE), code_file


def test_outside_user_gets_identical_logits(exported_dir, tokenizer, tmp_path):
    ids = [tokenizer.encode("(12 + -7) * 3 = 15, said the 2 scribes", add_special_tokens=False)]
    reference = AtomForCausalLM.from_pretrained(exported_dir).eval()
    with torch.no_grad():
        expected = reference(torch.tensor(ids)).logits
    outside = run_outside(exported_dir, ids, tmp_path)
    assert not outside["atomlm_loaded"]
    assert torch.equal(torch.tensor(outside["logits"]), expected)
    assert outside["parameters"] == 2_738_880
    assert outside["model_class"] == "AtomForCausalLM"
    assert outside["tokenizer_classes"] == ["AtomTokenizer", "AtomTokenizer"]
    assert outside["same_ids"] and outside["round_trip"] and outside["window_finite"]
    assert outside["digits_1234"] == ["4", "3", "2", "1", "<|number_end|>"]
    assert outside["pipeline_text"].startswith("12 + 34 =")


def test_inconsistent_config_error(exported_dir, tmp_path):
    broken = tmp_path / "bad-config"
    broken.mkdir()
    for path in exported_dir.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    config = json.loads((broken / "config.json").read_text())
    config["num_key_value_heads"] = 3
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="num_key_value_heads"):
        AtomForCausalLM.from_pretrained(broken)


def test_generate_cli_prints_a_continuation(exported_dir):
    result = subprocess.run([sys.executable, "-m", "atomlm", "generate", "--model", str(exported_dir),
                             "--max-new-tokens", "3", "12 + 34 ="], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()


def test_export_refuses_a_mismatched_tokenizer(tmp_path):
    from atomlm.export import export_random_init

    with pytest.raises(UserError, match="digit_token_ids"):
        export_random_init(tmp_path / "out", digit_token_ids=list(range(100, 110)))
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def trained_export(tmp_path_factory):
    """The shipped (trained) model exported with today's code, so its answers are worth comparing."""
    from atomlm.export import export_hf_directory

    shipped = Path(__file__).resolve().parents[2] / "pretrained" / "atom2.7m"
    model = AtomForCausalLM.from_pretrained(shipped).eval()
    return export_hf_directory(model, shipped, tmp_path_factory.mktemp("trained") / "atom")


@pytest.mark.skipif(not TRANSFORMERS_4_DIRS, reason="needs transformers 4.x: run `make test-transformers4`")
@pytest.mark.parametrize("site_packages", TRANSFORMERS_4_DIRS or ["unset"])
def test_an_export_loads_with_transformers_4(trained_export, tokenizer, site_packages, tmp_path):
    # Users load exports with whatever transformers they have: 4.x spells the config class
    # PretrainedConfig and reads `extra_special_tokens` as a dict; both are handled in the files.
    ids = [tokenizer.encode("(12 + -7) * 3 = 15, said the 2 scribes", add_special_tokens=False)]
    (tmp_path / "today").mkdir()
    (tmp_path / "legacy").mkdir()
    today = run_outside(trained_export, ids, tmp_path / "today")
    legacy = run_outside(trained_export, ids, tmp_path / "legacy", pythonpath=site_packages)
    assert legacy["transformers_version"].startswith("4.") and not legacy["atomlm_loaded"]
    assert torch.allclose(torch.tensor(legacy["logits"]), torch.tensor(today["logits"]), atol=1e-5)
    assert legacy["pipeline_text"] == today["pipeline_text"] == "12 + 34 = 46"
    for key in ("parameters", "tokenizer_classes", "same_ids", "round_trip", "digits_1234", "window_finite",
                "special_tokens", "encoded_with_specials"):
        assert legacy[key] == today[key], key
    assert "<|number_end|>" in legacy["special_tokens"]


def test_shipped_checkpoint_code_matches_the_source():
    # pretrained/atom2.7m is an export: its copies of the model code, tokenizer and runner must be
    # today's. After changing any of them, re-export (or copy the changed file into the directory).
    from atomlm.export import verbatim_files
    from atomlm.tokenizer import default_tokenizer_dir

    import hashlib

    from atomlm.tokenizer import ATOM_2_7M_TOKENIZER_SHA256

    shipped = Path(__file__).resolve().parents[2] / "pretrained" / "atom2.7m"
    copies = verbatim_files(default_tokenizer_dir())
    if json.loads((shipped / "config.json").read_text()).get("number_end_token_id") is None:
        # A model trained with Atom2.7m's original tokenizer (no marker) ships exactly that one.
        copies = [(source, name) for source, name in copies if name != "tokenizer.json"]
        assert hashlib.sha256((shipped / "tokenizer.json").read_bytes()).hexdigest() == ATOM_2_7M_TOKENIZER_SHA256
    stale = [name for source, name in copies if source.read_bytes() != (shipped / name).read_bytes()]
    assert not stale, f"{shipped} holds stale copies of {stale}"


def test_export_load_save_load_round_trip(exported_dir, tmp_path):
    """A loaded export saves itself (model, tokenizer, Trainer) into directories that load again."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    model = AutoModelForCausalLM.from_pretrained(str(exported_dir), trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(exported_dir), trust_remote_code=True)
    ids = tokenizer("(12 + -7) * 3 = 15", return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        expected = model(ids).logits

    resaved = tmp_path / "resaved"
    model.save_pretrained(resaved)
    tokenizer.save_pretrained(resaved)
    trainer_dir = tmp_path / "trainer"
    arguments = TrainingArguments(output_dir=str(tmp_path / "trainer-run"), report_to=[], use_cpu=True)
    Trainer(model=model, args=arguments, processing_class=tokenizer).save_model(str(trainer_dir))

    for directory in (resaved, trainer_dir):
        config = json.loads((directory / "config.json").read_text())
        assert set(config["auto_map"]) >= {"AutoConfig", "AutoModelForCausalLM"}, directory
        reloaded = AutoModelForCausalLM.from_pretrained(str(directory), trust_remote_code=True).eval()
        reloaded_tokenizer = AutoTokenizer.from_pretrained(str(directory), trust_remote_code=True)
        assert reloaded_tokenizer.encode("1234", add_special_tokens=False) == tokenizer.encode("1234", add_special_tokens=False)
        with torch.no_grad():
            assert torch.equal(reloaded(ids).logits, expected), directory
    base = AutoModel.from_pretrained(str(exported_dir), trust_remote_code=True)
    assert type(base).__name__ == "AtomModel"


def test_export_refuses_an_existing_directory_and_keeps_other_files(tmp_path):
    from atomlm.export import export_random_init

    out = tmp_path / "model"
    out.mkdir()
    (out / "training_record_stage1.json").write_text("{}")
    with pytest.raises(UserError, match="--overwrite"):
        export_random_init(out, num_hidden_layers=1)
    assert [p.name for p in out.iterdir()] == ["training_record_stage1.json"]
    export_random_init(out, num_hidden_layers=1, overwrite=True)
    names = {p.name for p in out.iterdir()}
    assert "training_record_stage1.json" in names and EXPECTED_FILES <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_model_card_records_measured_results(tmp_path):
    from huggingface_hub import ModelCard

    from atomlm.export import export_random_init
    from atomlm.model_card import read_eval_results

    repo = Path(__file__).resolve().parents[2]
    results = read_eval_results([repo / "results" / "arithmark_compat.json", repo / "results" / "exact_match.json"])
    out = export_random_init(tmp_path / "model", num_hidden_layers=1, eval_results=results)
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "apache-2.0" and card.data.pipeline_tag == "text-generation"
    values = {result.metric_type: result.metric_value for result in card.data.eval_results}
    committed = json.loads((repo / "results" / "arithmark_compat.json").read_text())["results"]["arithmark_2.0"]["acc"]
    assert values["accuracy"] == pytest.approx(committed, abs=0.01)
    assert "does not apply these rules" in card.text


@pytest.mark.parametrize("digit_order, number_marker, says", [
    ("lsd", "end", "A `<|number_end|>` token follows every digit run"),
    ("lsd", "none", "this is Atom2.7m's original tokenizer"),
    ("msd", "none", "tokenized as written"),
])
def test_model_card_says_which_tokenizer_the_model_uses(tmp_path, digit_order, number_marker, says):
    from huggingface_hub import ModelCard

    from atomlm.export import export_random_init

    tokenizer_dir = tmp_path / "tokenizer"
    subprocess.run([sys.executable, "-m", "atomlm", "tokenizer", "train", "--out", str(tokenizer_dir), "--force",
                    "--digit-order", digit_order, "--number-marker", number_marker], check=True, capture_output=True)
    out = export_random_init(tmp_path / "model", tokenizer_dir=tokenizer_dir, num_hidden_layers=1)
    assert says in ModelCard.load(out / "README.md").text


def test_export_again_keeps_the_weights_and_records(tmp_path):
    """`atomlm export --model DIR` rewrites an export with today's code and card: the same weights,
    training record and curriculum; a directory that is not an export is refused with the file named."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    from atomlm.export import export_hf_directory
    from atomlm.tokenizer import default_tokenizer_dir
    from atomlm.tokenizer.training import arithmetic_vocabulary

    vocabulary = arithmetic_vocabulary(Tokenizer.from_file(str(default_tokenizer_dir() / "tokenizer.json")))
    torch.manual_seed(0)
    first = export_hf_directory(AtomForCausalLM(tiny_config(**vocabulary)), None, tmp_path / "first",
                                curriculum={"stages": [{"name": "only", "mixture": {"text": 1.0}}]},
                                training_record={"steps": 7, "tokens_seen": 1234})
    command = [sys.executable, "-m", "atomlm", "export", "--model", str(first), "--out", str(tmp_path / "again")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    again = tmp_path / "again"
    for name in ("training_record.json", "pretraining_curriculum.json"):
        assert json.loads((again / name).read_text()) == json.loads((first / name).read_text())
    before, after = load_file(first / "model.safetensors"), load_file(again / "model.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[key], after[key]) for key in before)

    (first / "model.safetensors").write_bytes(b"\x00" * 4)
    command[command.index(str(tmp_path / "again"))] = str(tmp_path / "third")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{first / 'model.safetensors'}" in result.stderr and not (tmp_path / "third").exists()
