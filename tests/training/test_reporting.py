"""`--report-to tensorboard|wandb`: the metrics of metrics.jsonl, read back with each tool's own reader."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from atomlm.training.metrics import TensorBoardReporter, read_metrics


def _tensorboard_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _as_float32(value: float) -> float:
    return float(np.float32(value))  # TensorBoard stores scalars as float32


def test_smoke_run_reports_the_metrics_jsonl_values_to_tensorboard(tmp_path, atomlm, shard_cache):
    pytest.importorskip("tensorboard")
    run_dir = tmp_path / "run"
    result = atomlm([
        "train", "--config", "smoke", "--out", str(run_dir), "--max-steps", "3", "--report-to", "tensorboard",
        "--no-progress", "--set", f"data.shard_cache_dir={shard_cache}", "--set", "run.eval_every_steps=2",
        "--set", "run.arithmark_rows=0", "--set", "run.threads=1",
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"metrics also go to TensorBoard ({run_dir / 'tensorboard'})" in result.stderr
    assert json.loads((run_dir / "config.json").read_text())["run"]["report_to"] == "tensorboard"
    records = read_metrics(run_dir / "metrics.jsonl")
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in train] == [1, 2, 3] and [r["step"] for r in evals] == [2, 3]

    scalars = _tensorboard_scalars(run_dir / "tensorboard")
    assert scalars["train/loss"] == [(r["step"], _as_float32(r["loss"])) for r in train]
    assert scalars["train/lr"] == [(r["step"], _as_float32(r["lr"])) for r in train]
    assert scalars["eval/val_loss"] == [(r["step"], _as_float32(r["val_loss"])) for r in evals]


def test_tensorboard_hides_what_an_attempt_logged_after_the_checkpoint_the_next_resumes(tmp_path):
    pytest.importorskip("tensorboard")
    killed = TensorBoardReporter(tmp_path, first_step=0)
    for step in range(1, 7):  # steps 5 and 6 ran after the step-4 checkpoint, then the process died
        killed.report(step, {"train/loss": float(step)})
    killed.close()
    resumed = TensorBoardReporter(tmp_path, first_step=4)
    for step in (5, 6, 7):
        resumed.report(step, {"train/loss": 10.0 * step})
    resumed.close()
    assert _tensorboard_scalars(tmp_path / "tensorboard")["train/loss"] == [
        (1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 50.0), (6, 60.0), (7, 70.0)
    ]


def test_wandb_offline_run_lives_in_the_run_directory_and_resume_continues_it(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from atomlm.training.metrics import WandbReporter

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    first = WandbReporter(tmp_path, {"optim": {"lr": 0.003}}, wandb_run_id=None)
    assert str(first).startswith(f"W&B run {first.wandb_run_id} (offline, {tmp_path / 'wandb'}")
    first.report(1, {"train/loss": 3.25})
    first.close()
    again = WandbReporter(tmp_path, {"optim": {"lr": 0.003}}, wandb_run_id=first.wandb_run_id)
    again.report(2, {"train/loss": 2.5})
    again.close()
    assert again.wandb_run_id == first.wandb_run_id
    logs = sorted(tmp_path.glob(f"wandb/offline-run-*-{first.wandb_run_id}/run-{first.wandb_run_id}.wandb"))
    # One directory per attempt (the same one when both start within a second), named by the id.
    # wandb's service process may still be writing a log after `finish()` returns on a busy
    # machine, so each log gets a few seconds to show the metric.
    assert logs and all(_eventually_contains(log, b"train/loss") for log in logs)


def _eventually_contains(path, needle: bytes, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while needle not in path.read_bytes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


# `atomlm train` in a Python where the reporting libraries are not installed: a None entry in
# sys.modules makes `import` fail and `importlib.util.find_spec` (how transformers probes) say so.
WITHOUT_REPORT_LIBRARIES = """
import sys
sys.modules.update(wandb=None, tensorboard=None)
from atomlm.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_missing_report_library_stops_before_the_run_starts_naming_the_extra(tmp_path):
    target = "wandb"
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_REPORT_LIBRARIES, "train", "--out", str(tmp_path / "run"), "--report-to", target],
        capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2 and result.stderr == (
        f"atomlm train: error: run.report_to={target} (--report-to {target}) needs the {target} package, "
        f"which is not installed: pip install 'atomlm[report]' (or pip install {target})\n"
    )
    assert not (tmp_path / "run").exists()


def test_resume_may_change_where_metrics_are_reported_but_nothing_else(tmp_path):
    from atomlm.training.config import ConfigError, TrainConfig, apply_overrides
    from atomlm.training.run_directory import check_run_dir, write_run_config

    write_run_config(tmp_path, TrainConfig())
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest").write_text("step_000004\n")
    check_run_dir(tmp_path, apply_overrides(TrainConfig(), ["run.report_to=wandb"]), resume=True)
    with pytest.raises(ConfigError, match="run.seed: saved 1337, now 1"):
        check_run_dir(tmp_path, apply_overrides(TrainConfig(), ["run.report_to=wandb", "run.seed=1"]), resume=True)
    with pytest.raises(ConfigError, match=r"run.report_to must be none\|tensorboard\|wandb, got 'mlflow'"):
        apply_overrides(TrainConfig(), ["run.report_to=mlflow"])
