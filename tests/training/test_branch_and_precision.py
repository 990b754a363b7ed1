"""`atomlm train --branch-from CHECKPOINT --decay-steps N` (a WSD run decayed early, as a new run)
and `run.precision` "auto" (bf16 only where the machine computes it natively)."""

import json

import pytest
import torch

from atomlm.training.metrics import read_metrics

from .conftest import final_weights, train_losses


@pytest.fixture(scope="module")
def trunk(tmp_path_factory, atomlm, make_config):
    """A 12-step WSD run of the tiny model, checkpoints every 4 steps."""
    root = tmp_path_factory.mktemp("trunk")
    config = make_config(root / "wsd.json", optim={"schedule": "wsd", "decay_fraction": 0.25, "min_lr_ratio": 0.1})
    result = atomlm(["train", "--config", str(config), "--out", str(root / "run"), "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run", config


def learning_rates(run_dir) -> list[float]:
    return [r["lr"] for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == "train"]


def test_a_branch_continues_the_trunk_exactly_and_decays_from_its_step(trunk, tmp_path, atomlm):
    run_dir, config = trunk
    checkpoint = run_dir / "checkpoints" / "step_000004"
    branch = tmp_path / "branch"
    result = atomlm(["train", "--config", str(config), "--out", str(branch), "--branch-from", str(checkpoint),
                     "--decay-steps", "3", "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"branched from {checkpoint} (step 4" in result.stderr
    saved = json.loads((branch / "config.json").read_text())["optim"]
    assert saved["max_steps"] == 7 and round(saved["decay_fraction"] * 7) == 3
    # Step 5 computes its loss before any update of the branch: the trunk's, bit for bit.
    assert train_losses(branch)[0] == train_losses(run_dir)[4]
    # The trunk still trains at the full rate after step 4; the branch decays to the floor by step 7.
    assert learning_rates(run_dir)[4] == pytest.approx(3e-3)
    assert learning_rates(branch) == pytest.approx([3e-3 * (1 - 0.9 * k / 3) for k in (1, 2, 3)])
    assert [r["step"] for r in read_metrics(branch / "metrics.jsonl") if r["kind"] == "train"] == [5, 6, 7]
    from atomlm.training.checkpoint import load_model_from_run

    _, record = load_model_from_run(branch)
    assert record["branched_from"] == {"checkpoint": str(checkpoint), "step": 4, "tokens_seen": 4 * 8 * 64}
    assert load_model_from_run(run_dir)[1]["branched_from"] is None


def test_a_branch_resumes_like_any_run(trunk, tmp_path, atomlm, start_atomlm, wait_for_train_step):
    run_dir, config = trunk
    checkpoint = run_dir / "checkpoints" / "step_000004"
    arguments = ["train", "--config", str(config), "--branch-from", str(checkpoint), "--decay-steps", "6", "--no-progress"]
    whole = atomlm([*arguments, "--out", str(tmp_path / "whole")])
    assert whole.returncode == 0, whole.stderr[-3000:]
    cut = tmp_path / "cut"
    first = atomlm([*arguments, "--out", str(cut), "--stop-after-minutes", "0"])
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(train_losses(cut)) == 1
    again = atomlm([*arguments, "--out", str(cut), "--resume"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stderr and "branched" not in again.stderr
    from atomlm.training.checkpoint import load_model_from_run

    assert load_model_from_run(cut)[1]["branched_from"]["step"] == 4  # kept across --resume
    assert train_losses(cut) == train_losses(tmp_path / "whole")
    reference, continued = final_weights(tmp_path / "whole"), final_weights(cut)
    assert all(torch.equal(reference[name], continued[name]) for name in reference)


@pytest.mark.parametrize("arguments, message", [
    (["--decay-steps", "3"], "--decay-steps: needs --branch-from"),
    (["--branch-from", "{trunk}/checkpoints/step_000004", "--decay-steps", "3", "--set", 'optim.schedule="cosine"'],
     "--decay-steps: needs optim.schedule wsd"),
    (["--branch-from", "{trunk}/nowhere", "--decay-steps", "3"], "nowhere/meta.json: missing"),
    (["--branch-from", "{trunk}/checkpoints/step_000004", "--set", "model.overrides.num_hidden_layers=1"],
     "its model or optimizer differs from this config's"),
])
def test_bad_branches_are_refused_in_one_line(trunk, tmp_path, atomlm, arguments, message):
    run_dir, config = trunk
    arguments = [argument.replace("{trunk}", str(run_dir)) for argument in arguments]
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "bad"), *arguments, "--no-progress"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert message in result.stderr and "Traceback" not in result.stderr


def test_auto_precision_is_bf16_only_where_it_is_native(monkeypatch):
    from atomlm.training import loop

    cpu = torch.device("cpu")
    monkeypatch.setattr(loop, "native_bf16", lambda device: False)
    assert loop.resolve_precision("auto", cpu) == "fp32"
    assert loop.resolve_precision("bf16", cpu) == "bf16"  # asked for: kept, with a warning in the log
    assert "WARNING" in loop._precision_note("bf16", cpu) and "12x slower" in loop._precision_note("bf16", cpu)
    assert loop._precision_note("auto", cpu) == "fp32 (auto: no native bf16 on this cpu)"
    monkeypatch.setattr(loop, "native_bf16", lambda device: True)
    assert loop.resolve_precision("auto", cpu) == "bf16"
    assert loop._precision_note("bf16", cpu) == "bf16"
    assert loop.resolve_precision("fp32", cpu) == "fp32"


def test_a_run_resumes_under_another_precision(trunk, tmp_path, atomlm):
    """A run started in bf16 continues on a machine without native bf16 under "auto" (or fp32):
    the precision is how the machine computes, not what is trained."""
    import shutil

    run_dir, config = trunk
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    saved = json.loads((copy / "config.json").read_text())
    saved["run"]["precision"] = "bf16"
    (copy / "config.json").write_text(json.dumps(saved))
    result = atomlm(["train", "--config", str(config), "--out", str(copy), "--resume", "--max-steps", "12",
                     "--set", 'run.precision="fp32"', "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((copy / "config.json").read_text())["run"]["precision"] == "fp32"
    other = atomlm(["train", "--config", str(config), "--out", str(copy), "--resume",
                    "--set", "optim.lr=1e-3", "--no-progress"])
    assert other.returncode == 2 and "optim.lr: saved 0.003, now 0.001" in other.stderr


def test_the_model_card_says_where_a_branch_left_its_trunk():
    from atomlm.model_card import _training_section

    trunk_checkpoint = {"checkpoint": "runs/a/checkpoints/step_000004", "step": 4, "tokens_seen": 2048}
    card = _training_section({"steps": 7, "branched_from": trunk_checkpoint})
    assert "| branched from | step 4 (2,048 tokens) of the run checkpointed in `runs/a/checkpoints/step_000004`" in card
    assert "branched from" not in _training_section({"steps": 7, "branched_from": None})


def test_a_run_resumed_on_other_hardware_records_which_process_trained_which_steps(trunk, tmp_path, atomlm):
    """The record keeps each process's steps, tokens, time and hardware, so a run resumed on another
    machine (here: the other precision) is not summarised as one machine at an average speed."""
    import shutil

    from atomlm.model_card import _training_section
    from atomlm.training.checkpoint import load_model_from_run
    from atomlm.training.run_processes import describe_processes

    run_dir, config = trunk
    (whole,) = load_model_from_run(run_dir)[1]["processes"]
    assert whole["steps"] == [0, 12] and whole["tokens"] == 12 * 8 * 64 and whole["wall_time_s"] > 0
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "checkpoints" / "latest").write_text("step_000008")
    other = "fp32" if whole["hardware"]["precision"] == "bf16" else "bf16"
    result = atomlm(["train", "--config", str(config), "--out", str(copy), "--resume",
                     "--set", f'run.precision="{other}"', "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    record = load_model_from_run(copy)[1]
    first, second = record["processes"]
    assert first["steps"] == [0, 8] and first["tokens"] == 8 * 8 * 64
    assert second["steps"] == [8, 12] and second["tokens"] == 4 * 8 * 64 and second["hardware"]["precision"] == other
    lines = describe_processes(record["processes"])
    assert len(lines) == 2 and lines[0].startswith("steps 0-8: ") and lines[1].startswith("steps 8-12: ")
    assert lines[1].endswith(f"{other}, torch threads {second['hardware']['torch_threads']}")
    assert f"| trained by | {lines[0]}; {lines[1]} |" in _training_section(record)
    # Alike hardware is one stretch, and a one-machine run's card has no such row.
    assert len(describe_processes([first, {**second, "hardware": first["hardware"]}])) == 1
    assert "trained by" not in _training_section(load_model_from_run(run_dir)[1])
