"""`atomlm train --set data.stream=true`: the smoke preset on streamed Synthetic-Arithmetic rows,
with no shard build, validation on held-out streamed rows, and an exact resume (also with another
worker count)."""

import json
import shutil
import signal

import pytest
import torch

from atomlm.training.metrics import read_metrics

from .conftest import final_weights, train_losses

ARITHMETIC_ONLY = {
    "name": "arithmetic-only",
    "phases": [
        {"name": "easy", "tokens": 6000, "sources": {"synthetic-arithmetic": {"weight": 1, "stage": 1}}},
        {"name": "harder", "tokens": 20000, "sources": {"synthetic-arithmetic": {"weight": 1, "stage": [3, 4]}}},
    ],
}


def _train_args(root, out, workers: int) -> list[str]:
    """The smoke preset, 10 steps, streamed at seq_len 64, checkpoints and evaluations every 5 steps."""
    settings = {
        "data.stream": "true", "data.curriculum": str(root / "arithmetic.json"), "data.seq_len": 64,
        "data.stream_workers": workers, "data.shard_cache_dir": str(root / "shards"),
        "run.checkpoint_every_steps": 5, "run.eval_every_steps": 5, "run.arithmark_rows": 0, "run.threads": 1,
    }
    overrides = [argument for key, value in settings.items() for argument in ("--set", f"{key}={value}")]
    return ["train", "--config", "smoke", "--out", str(out), "--max-steps", "10", "--no-progress", *overrides]


@pytest.fixture(scope="module")
def streamed_run(tmp_path_factory, atomlm):
    """An uninterrupted streamed run with one worker process."""
    root = tmp_path_factory.mktemp("streamed")
    (root / "arithmetic.json").write_text(json.dumps(ARITHMETIC_ONLY))
    result = atomlm(_train_args(root, root / "run", workers=1))
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_streamed_run_trains_and_validates_without_building_shards(streamed_run):
    run_dir = streamed_run / "run"
    log = (run_dir / "train_log.txt").read_text()
    assert "streamed, its rows generated while training runs by 1 worker process on each rank" in log
    assert "no shards are built" in log and not (streamed_run / "shards").exists()
    assert "parameters 2,738,880" in log  # the smoke preset's model
    losses = train_losses(run_dir)
    assert len(losses) == 10 and sum(losses[-3:]) < sum(losses[:3]) - 3 * 1.0, losses
    evals = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [5, 10] and all(r["val_loss"] > 0 for r in evals)


def test_interrupted_streamed_run_resumes_exactly_with_another_worker_count(streamed_run, tmp_path, atomlm,
                                                                             start_atomlm, wait_for_train_step):
    stopped = tmp_path / "run"
    process = start_atomlm(_train_args(streamed_run, stopped, workers=2), tmp_path / "stderr.txt")
    wait_for_train_step(stopped, 2, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143, (tmp_path / "stderr.txt").read_text()[-3000:]
    assert 2 <= len(train_losses(stopped)) < 10
    again = atomlm(_train_args(streamed_run, stopped, workers=0) + ["--resume"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stderr
    assert train_losses(stopped) == train_losses(streamed_run / "run")  # exact, not approximate
    reference, continued = final_weights(streamed_run / "run"), final_weights(stopped)
    assert all(torch.equal(reference[name], continued[name]) for name in reference)


def test_resume_refuses_a_stream_that_no_longer_makes_the_same_rows(streamed_run, tmp_path, atomlm):
    copy = tmp_path / "run"
    shutil.copytree(streamed_run / "run", copy)
    meta_path = copy / "checkpoints" / (copy / "checkpoints" / "latest").read_text().strip() / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["record"]["shard_fingerprint"] = "0" * 64  # as if the generator had made other rows then
    meta_path.write_text(json.dumps(meta))
    result = atomlm(_train_args(streamed_run, copy, workers=1) + ["--resume"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert "atomlm train: error: --resume: the streamed rows are not those this run trained on" in result.stderr
    assert "the generator or the tokenizer changed" in result.stderr


def test_streaming_refuses_bad_settings_before_training(streamed_run, tmp_path, atomlm):
    result = atomlm(_train_args(streamed_run, tmp_path / "run", workers=-1))
    assert result.returncode == 2 and not (tmp_path / "run").exists()
    assert result.stderr == ("atomlm train: error: --set: data.stream_workers must be >= 0 (0 generates "
                             "streamed rows in the training process), got -1\n")
    hub = _train_args(streamed_run, tmp_path / "hub", workers=1) + ["--set", "data.curriculum=atom2.7m"]
    result = atomlm(hub)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.splitlines()[-1].startswith(
        "atomlm train: error: data.stream: phase 1 ('general-web') of curriculum 'atom2.7m' reads ultra-fineweb "
        "from hub dataset"
    )
