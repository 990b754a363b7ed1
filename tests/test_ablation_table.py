"""scripts/ablation_table.py runs end to end (tokenizer variant, train, export, score) and resumes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from atomlm.evaluation.arithmark_generator import SHIPPED_FILE

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ablation_table.py"


def git(repo: Path, *arguments: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *arguments], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_marker_variant_table_and_resume(tmp_path, import_script):
    lines = SHIPPED_FILE.read_text(encoding="utf-8").splitlines()
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(lines[:6] + lines[1250:1253] + lines[2000:2003]) + "\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    for arguments in (["init", "-q"], ["config", "user.email", "test@example.com"], ["config", "user.name", "test"]):
        git(repo, *arguments)
    command = [sys.executable, str(SCRIPT), "--out", str(tmp_path / "out"), "--preset", "smoke", "--tokens", "4096",
               "--seeds", "0", "--only", "marker-end", "--data-path", str(rows),
               "--rows", str(repo / "rows"), "--commit"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ATOMLM_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    first = subprocess.run(command, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    out = tmp_path / "out"
    results = json.loads((out / "ablation_results.json").read_text())
    (run,) = results["runs"]
    assert run["variant"] == "marker-end" and 0 <= run["acc"] <= 100 and run["exact_match"] is not None
    config = json.loads((out / "models" / "marker-end-seed0" / "config.json").read_text())
    assert config["number_end_token_id"] is not None  # the model was trained on the marker tokenizer
    table = (out / "ablation_table.md").read_text()
    assert "| marker-end" in table
    assert run["machine"].startswith("cpu") and "torch threads 1," in run["machine"]  # where its minutes came from
    assert f"# marker-end-seed0: {run['machine']}\n" in table
    assert (out / "ablation_table.png").stat().st_size > 0

    assert git(repo, "log", "--format=%s") == f"features study: marker-end-seed0, acc {run['acc']:.2f}\n"
    assert git(repo, "status", "--porcelain") == ""  # the finished row is committed, with the table so far
    assert "| marker-end" in (repo / "rows" / "ablation_table.md").read_text()

    second = subprocess.run(command, capture_output=True, text=True, env=env)
    assert second.returncode == 0 and "$ atomlm" not in second.stdout  # every step was already done

    shutil.rmtree(out)  # the machine is replaced: the committed row alone rebuilds the table
    third = subprocess.run(command, capture_output=True, text=True, env=env)
    assert third.returncode == 0 and "$ atomlm" not in third.stdout, third.stdout[-2000:] + third.stderr[-2000:]
    assert "reusing" in third.stdout and "| marker-end" in (out / "ablation_table.md").read_text()
    assert json.loads((out / "ablation_results.json").read_text())["runs"] == [run]

    # A row another session stored for a variant not in --only is in the table too, and is not rerun.
    ablation_table = import_script("ablation_table")
    full = next(v for v in ablation_table.load_study("features").variants if v.name == "full")
    args = SimpleNamespace(preset="smoke", set=[], tokens=4096.0, data_path=rows)
    stored = {**run, "variant": "full", "acc": 12.5, "recipe": ablation_table.recipe(full, 0, args)}
    (repo / "rows" / "full-seed0.json").write_text(json.dumps(stored))
    fourth = subprocess.run(command, capture_output=True, text=True, env=env)
    assert fourth.returncode == 0 and "$ atomlm" not in fourth.stdout, fourth.stdout[-2000:] + fourth.stderr[-2000:]
    assert json.loads((out / "ablation_results.json").read_text())["runs"] == [stored, run]  # study order
    assert "| full" in (out / "ablation_table.md").read_text()


def test_a_stored_row_is_reused_only_for_the_same_recipe(tmp_path, import_script):
    ablation_table = import_script("ablation_table")
    variant = ablation_table.load_study("recipes").variants[1]
    args = SimpleNamespace(preset="cpu", set=[], tokens=20e6, data_path=None)
    wanted = ablation_table.recipe(variant, 0, args)
    path = tmp_path / "row.json"
    assert ablation_table.stored_row(path, wanted) is None  # none yet
    path.write_text(json.dumps({"variant": variant.name, "acc": 50.0, "recipe": wanted}))
    assert ablation_table.stored_row(path, wanted)["acc"] == 50.0
    for changed in (ablation_table.recipe(variant, 1, args),
                    ablation_table.recipe(variant, 0, SimpleNamespace(**{**vars(args), "tokens": 10e6})),
                    ablation_table.recipe(variant, 0, SimpleNamespace(**{**vars(args), "set": ["optim.lr=0.001"]})),
                    ablation_table.recipe(ablation_table.load_study("recipes").variants[2], 0, args)):
        assert ablation_table.stored_row(path, changed) is None

    # The same preset name with other content (a preset edited since the row was made) retrains.
    from atomlm.training.config import config_file

    preset = tmp_path / "my-preset.json"
    preset.write_text(config_file("cpu").read_text())
    mine = SimpleNamespace(**{**vars(args), "preset": str(preset)})
    path.write_text(json.dumps({"variant": variant.name, "acc": 50.0, "recipe": ablation_table.recipe(variant, 0, mine)}))
    assert ablation_table.stored_row(path, ablation_table.recipe(variant, 0, mine))["acc"] == 50.0
    preset.write_text(preset.read_text().replace('"lr": 3e-3', '"lr": 2e-3'))  # the same steps
    assert ablation_table.stored_row(path, ablation_table.recipe(variant, 0, mine)) is None


def test_every_shipped_study_resolves_to_valid_runs(tmp_path, import_script):
    """Each variant of each shipped study gives a config that loads (types checked) and a
    curriculum that exists, so a study never fails hours into its table."""
    ablation_table = import_script("ablation_table")
    from atomlm.data.curriculum import load_curriculum
    from atomlm.training.config import apply_overrides, load_config

    repo = SCRIPT.parents[1]
    for study_file in sorted((SCRIPT.parent / "studies").glob("*.json")):
        study = ablation_table.load_study(study_file.stem)
        assert len({v.name for v in study.variants}) == len(study.variants) > 1
        args = SimpleNamespace(preset="cpu", set=[], tokens=20e6)
        for variant in study.variants:
            assert variant.digit_order in ("lsd", "msd") and variant.number_marker in ("none", "end")
            config = apply_overrides(load_config("cpu"), list(variant.settings))
            curriculum = config.data.curriculum
            load_curriculum(str(repo / curriculum) if curriculum.endswith(".json") else curriculum)
            steps = ablation_table.steps_for(variant, args)
            assert abs(steps * config.optim.global_batch_size * config.data.seq_len - 20e6) < 1e5


def test_a_study_s_settings_start_every_variant_and_its_command(tmp_path, import_script):
    """The recipes study fixes fp32, so its rows compare across machines with and without native
    bf16 (`run.precision` auto would pick either): the setting is in every run's command and recipe."""
    ablation_table = import_script("ablation_table")
    study_file = tmp_path / "mine.json"
    study_file.write_text(json.dumps({"title": "t", "settings": ['run.precision="fp32"'], "variants": [
        {"name": "base", "description": "b"}, {"name": "lr", "description": "l", "settings": ["optim.lr=0.002"]}]}))
    base, lr = ablation_table.load_study(str(study_file)).variants
    assert base.settings == ('run.precision="fp32"',) and lr.settings == ('run.precision="fp32"', "optim.lr=0.002")
    args = SimpleNamespace(preset="cpu", set=[], tokens=20e6, data_path=None)
    command = ablation_table.train_command(lr, 0, tmp_path / "run", "tok", args)
    assert command[command.index('run.precision="fp32"') - 1] == "--set"
    assert ablation_table.recipe(lr, 0, args)["settings"] == ['run.precision="fp32"', "optim.lr=0.002"]
    for variant in ablation_table.load_study("recipes").variants:
        assert variant.settings[0] == 'run.precision="fp32"', variant.name
