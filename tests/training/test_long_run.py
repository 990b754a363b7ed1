"""scripts/long_run.py: segments, an export scored and saved after each, git commits of the state,
and a lost run directory continued exactly from the committed state."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from atomlm.evaluation.arithmark_generator import SHIPPED_FILE

from .conftest import final_weights, process_env, train_losses

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "long_run.py"


def git(repo: Path, *arguments: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *arguments], capture_output=True, text=True, check=True).stdout


def test_long_run_commits_each_export_and_continues_from_the_state_alone(tmp_path, atomlm, make_config):
    config = make_config(tmp_path / "tiny.json", optim={"max_steps": 4}, run={"checkpoint_every_steps": 0})
    reference = tmp_path / "reference"
    uninterrupted = atomlm(["train", "--config", str(config), "--out", str(reference), "--no-progress"])
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    lines = SHIPPED_FILE.read_text(encoding="utf-8").splitlines()
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(lines[:4] + lines[1250:1252] + lines[2000:2002]) + "\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    state, run = repo / "long_run", tmp_path / "run"

    def long_run(*extra: str) -> subprocess.CompletedProcess:
        command = [sys.executable, str(SCRIPT), "--config", str(config), "--run", str(run), "--state", str(state),
                   "--export-every-minutes", "0", "--data-path", str(rows), "--commit", *extra]
        return subprocess.run(command, capture_output=True, text=True, env=process_env(), timeout=600)

    first = long_run("--segments", "2", "--slim-best")  # 0 minutes: one step per segment
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    exports = [json.loads(line) for line in (state / "exports.jsonl").read_text().splitlines()]
    assert [e["step"] for e in exports] == [1, 2]
    assert all(0 <= e["acc"] <= 100 and e["tokens"] > 0 for e in exports)
    assert json.loads((state / "checkpoint" / "meta.json").read_text())["step"] == 2
    assert (state / "curve.png").stat().st_size > 0
    # --slim-best: each new best export is committed whole, then best/ keeps its record in the tree
    best_exports = sum(e["best"] for e in exports)
    assert best_exports >= 1  # the first export is always the best so far
    assert len(git(repo, "log", "--oneline").splitlines()) == 2 + best_exports
    assert not (state / "best" / "model.safetensors").exists()
    assert (state / "best" / "training_record.json").is_file() and (state / "best" / "README.md").is_file()
    full_export = re.search(r"git checkout ([0-9a-f]{40}) -- long_run/best",
                            (state / "best" / "RESTORE.md").read_text()).group(1)
    git(repo, "cat-file", "-e", f"{full_export}:long_run/best/model.safetensors")
    assert git(repo, "status", "--porcelain") == ""  # everything resuming needs is committed

    shutil.rmtree(run)  # the machine is replaced: only the committed state survives
    rest = long_run()
    assert rest.returncode == 0, rest.stdout[-2000:] + rest.stderr[-2000:]
    assert "restored step 2" in rest.stdout
    exports = [json.loads(line) for line in (state / "exports.jsonl").read_text().splitlines()]
    assert [e["step"] for e in exports] == [1, 2, 3, 4]
    assert sum(e["best"] for e in exports) >= 1
    assert len(git(repo, "log", "--oneline").splitlines()) == 4 + best_exports  # without --slim-best: one each
    if any(e["best"] for e in exports[2:]):
        assert (state / "best" / "model.safetensors").is_file()
    assert train_losses(state) == train_losses(reference)  # exactly the uninterrupted run
    expected, continued = final_weights(reference), final_weights(run)
    assert all(torch.equal(expected[name], continued[name]) for name in expected)


def test_the_curve_plots_the_periodic_slice_in_percent_as_recorded(tmp_path, import_script):
    """metrics.jsonl already holds arithmark_acc in %; the curve must not scale it again."""
    long_run = import_script("long_run")
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(entry) for entry in [
        {"kind": "train", "step": 400, "tokens": 3_276_800, "loss": 1.9},
        {"kind": "eval", "step": 400, "tokens": 3_276_800, "val_loss": 1.86, "arithmark_acc": 58.67},
        {"kind": "eval", "step": 800, "tokens": 6_553_600, "val_loss": 1.64},
    ]) + "\n")
    assert long_run.slice_points(metrics) == ([3.2768], [58.67])
    long_run.plot_curve(metrics, [{"tokens": 6_553_600, "acc": 61.0, "best": True}], tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_slim_best_without_commit_is_refused_before_any_training(tmp_path):
    command = [sys.executable, str(SCRIPT), "--config", "cpu-2h", "--run", str(tmp_path / "run"),
               "--state", str(tmp_path / "state"), "--slim-best"]
    result = subprocess.run(command, capture_output=True, text=True, env=process_env(), timeout=120)
    assert result.returncode == 2
    assert "--slim-best needs --commit" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()
