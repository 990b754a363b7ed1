"""`atomlm train` as real processes: learning, exact resume after SIGKILL (sent from outside), torchrun parity,
rank-0-only writes, NaN stop, corrupt checkpoints, export through the Auto classes."""

import json
import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from atomlm.training.metrics import read_metrics

from .conftest import final_weights, train_losses


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, atomlm, make_config):
    """An uninterrupted 12-step run of a tiny model (precision auto, checkpoints every 4 steps)."""
    root = tmp_path_factory.mktemp("baseline")
    config = make_config(root / "tiny.json", run={"eval_every_steps": 6, "arithmark_rows": 16})
    result = atomlm(["train", "--config", str(config), "--out", str(root / "run"), "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run", config


def test_run_lowers_loss_and_writes_its_directory(baseline):
    run_dir, _ = baseline
    losses = train_losses(run_dir)
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5, losses
    for name in ("config.json", "metrics.jsonl", "train_log.txt", "plot.png", "checkpoints/latest"):
        assert (run_dir / name).exists(), name
    log = (run_dir / "train_log.txt").read_text()
    assert "parameters" in log and "world size 1" in log and "total steps 12" in log
    evals = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [6, 12]
    assert all("val_loss" in r and 0.0 <= r["arithmark_acc"] <= 100.0 for r in evals)
    assert all(r["val_loss_answers"] != r["val_loss"] for r in evals)  # the smoke mix has equations
    assert json.loads((run_dir / "config.json").read_text())["optim"]["max_steps"] == 12


def test_killed_run_resumes_to_the_same_losses_and_weights(baseline, tmp_path, atomlm, start_atomlm,
                                                         wait_for_train_step):
    run_dir, config = baseline
    resumed = tmp_path / "run"
    process = start_atomlm(["train", "--config", str(config), "--out", str(resumed), "--no-progress"],
                           tmp_path / "stderr.txt")
    wait_for_train_step(resumed, 5, process)  # past the step-4 checkpoint
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert (resumed / "checkpoints" / "latest").read_text().strip() == "step_000004"
    assert 5 <= len(train_losses(resumed)) < 8  # steps after the checkpoint ran and are lost
    again = atomlm(["train", "--config", str(config), "--out", str(resumed), "--resume", "--no-progress"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stderr and "step 4" in again.stderr
    assert train_losses(resumed) == train_losses(run_dir)  # exact, not approximate
    reference, continued = final_weights(run_dir), final_weights(resumed)
    assert all(torch.equal(reference[name], continued[name]) for name in reference)


def test_resume_refuses_a_corrupt_checkpoint(baseline, tmp_path, atomlm):
    run_dir, config = baseline
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    latest = copy / "checkpoints" / (copy / "checkpoints" / "latest").read_text().strip()
    with open(latest / "model.pt", "r+b") as handle:
        handle.seek(100)
        handle.write(b"garbage")
    result = atomlm(["train", "--config", str(config), "--out", str(copy), "--resume", "--no-progress"])
    assert result.returncode == 2
    assert "model.pt: corrupt" in result.stderr and str(latest) in result.stderr


def test_exported_run_loads_through_auto_classes(baseline, tmp_path, atomlm):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from atomlm.training.checkpoint import load_model_from_run

    run_dir, _ = baseline
    result = atomlm(["export", "--checkpoint", str(run_dir), "--out", str(tmp_path / "hf")])
    assert result.returncode == 0, result.stderr[-3000:]
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", trust_remote_code=True, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf", trust_remote_code=True)
    inputs = tokenizer("12 + 34 = 46", return_tensors="pt", add_special_tokens=False)
    trained, record = load_model_from_run(run_dir)
    assert record["steps"] == 12 and record["tokens_seen"] == 12 * 8 * 64
    assert set(record["versions"]) >= {"torch", "transformers", "tokenizers", "datasets"}
    assert record["versions"]["transformers"] and "git_commit" in record
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, trained(**inputs).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_process_with_accumulation(tmp_path, atomlm, make_config):
    config = make_config(
        tmp_path / "fp32.json",
        optim={"max_steps": 4},
        run={"precision": "fp32", "checkpoint_every_steps": 0},
    )
    single = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "one"), "--no-progress"])
    assert single.returncode == 0, single.stderr[-3000:]
    double = atomlm(
        ["train", "--config", str(config), "--out", str(tmp_path / "two"), "--no-progress"], torchrun_nproc=2
    )
    assert double.returncode == 0, double.stderr[-3000:]
    log = (tmp_path / "two" / "train_log.txt").read_text()
    assert "accumulation 1" in log and "world size 2" in log and log.count("parameters") == 1  # rank 0 only
    assert [r["step"] for r in read_metrics(tmp_path / "two" / "metrics.jsonl")] == [1, 2, 3, 4]
    torch.testing.assert_close(train_losses(tmp_path / "two"), train_losses(tmp_path / "one"), rtol=1e-5, atol=1e-6)
    one, two = final_weights(tmp_path / "one"), final_weights(tmp_path / "two")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6, msg=name)


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, atomlm, make_config):
    config = make_config(
        tmp_path / "explode.json",
        optim={"lr": 1e30, "warmup_steps": 0, "grad_clip": 0.0},
        run={"precision": "fp32", "checkpoint_every_steps": 1},
    )
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert "loss is nan" in result.stderr.lower() or "loss is inf" in result.stderr.lower()
    assert "last good checkpoint" in result.stderr
    from atomlm.training.checkpoint import latest_checkpoint, load_checkpoint

    _, _, meta = load_checkpoint(latest_checkpoint(tmp_path / "run"))
    import re

    failed_at = int(re.search(r"at step (\d+)", result.stderr).group(1))
    assert meta["step"] == failed_at - 1  # the step before the bad one, not overwritten
    assert not (tmp_path / "run" / "plot.png").exists()


def test_a_nonfinite_loss_between_checks_is_found_before_the_next_checkpoint(tmp_path, atomlm, make_config):
    """The steps do not wait for the device, so losses are read at logged steps (every 6 here) and
    before each checkpoint (every 4): the NaN of an early step is found at step 4, unsaved."""
    config = make_config(
        tmp_path / "explode.json",
        optim={"lr": 1e30, "warmup_steps": 0, "grad_clip": 0.0},
        run={"precision": "fp32", "log_every": 6, "checkpoint_every_steps": 4},
    )
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.returncode == 2, result.stderr[-3000:]
    import re

    from atomlm.training.checkpoint import latest_checkpoint

    found = re.search(r"loss is (nan|inf) at step (\d+) \(found at step 4: losses are read every run.log_every=6", result.stderr)
    assert found and 1 < int(found.group(2)) <= 4, result.stderr[-3000:]
    assert "last good checkpoint is none" in result.stderr
    assert latest_checkpoint(tmp_path / "run") is None


def test_smoke_preset_trains_full_model(tmp_path, atomlm, shard_cache):
    result = atomlm([
        "train", "--config", "smoke", "--out", str(tmp_path / "run"), "--max-steps", "16", "--no-progress",
        "--set", f"data.shard_cache_dir={shard_cache}", "--set", "run.eval_every_steps=0", "--set", "run.threads=1",
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "parameters 2,738,880" in result.stderr and "total steps 16" in result.stderr
    losses = train_losses(tmp_path / "run")
    assert len(losses) == 16 and sum(losses[-3:]) < sum(losses[:3]) - 3 * 1.0, losses


def test_bad_config_and_mismatched_resume_fail_clearly(baseline, tmp_path, atomlm):
    run_dir, config = baseline
    result = atomlm(["train", "--config", str(config), "--out", str(run_dir), "--no-progress"])
    assert result.returncode == 2 and "already holds a run; pass --resume" in result.stderr
    result = atomlm(["train", "--config", str(config), "--out", str(run_dir), "--resume", "--set", "optim.lr=0.5"])
    assert result.returncode == 2 and "optim.lr: saved 0.003, now 0.5" in result.stderr


def test_init_from_continues_from_another_runs_weights(baseline, tmp_path, atomlm, make_config):
    from atomlm.model_card import _training_section
    from atomlm.training.checkpoint import latest_checkpoint, load_model_from_run, point_latest_at

    run_dir, _ = baseline
    checkpoint = latest_checkpoint(run_dir)  # one checkpoint folder; the run directory itself is used below
    config = make_config(tmp_path / "continue.json", model={"init_from": str(checkpoint)}, optim={"max_steps": 4},
                         run={"checkpoint_every_steps": 2})
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"initialised from {checkpoint} (step 12," in (tmp_path / "run" / "train_log.txt").read_text()
    first_loss = train_losses(tmp_path / "run")[0]
    assert first_loss < train_losses(run_dir)[0] - 0.5  # starts where the other run ended, not from scratch

    # The record keeps the lineage, summed over stages, and the model card counts it.
    first_tokens = load_model_from_run(run_dir)[1]["tokens_seen"]
    lineage = {"checkpoint": str(checkpoint), "step": 12, "tokens_in_all": first_tokens}
    assert load_model_from_run(tmp_path / "run")[1]["initialised_from"] == lineage
    # Cut off after its step-2 checkpoint and resumed: the lineage comes back from that checkpoint.
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step_000004")
    point_latest_at(tmp_path / "run" / "checkpoints" / "step_000002")
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--resume", "--no-progress"])
    assert result.returncode == 0 and "resumed from" in result.stderr, result.stderr[-3000:]
    second = load_model_from_run(tmp_path / "run")[1]
    assert second["steps"] == 4 and second["initialised_from"] == lineage
    third = make_config(tmp_path / "third.json", model={"init_from": str(tmp_path / "run")}, optim={"max_steps": 1})
    result = atomlm(["train", "--config", str(third), "--out", str(tmp_path / "third"), "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    record = load_model_from_run(tmp_path / "third")[1]
    before = first_tokens + second["tokens_seen"]
    assert record["initialised_from"]["tokens_in_all"] == before
    assert f"| tokens seen in all | {before + record['tokens_seen']:,} (" in _training_section(record)

    wider = make_config(tmp_path / "wider.json", model={"init_from": str(run_dir), "overrides": {"hidden_size": 32}})
    result = atomlm(["train", "--config", str(wider), "--out", str(tmp_path / "bad"), "--no-progress"])
    assert result.returncode != 0 and "architecture does not match" in result.stderr


def test_init_from_an_exported_model_directory(baseline, tmp_path, atomlm, make_config):
    """`model.init_from` also takes what `atomlm export` writes (as `pretrained/atom2.7m`), its
    lineage read from training_record.json, and refuses a model of another tokenizer."""
    from atomlm.training.checkpoint import load_model_from_run

    run_dir, _ = baseline
    exported = tmp_path / "hf"
    result = atomlm(["export", "--checkpoint", str(run_dir), "--out", str(exported)])
    assert result.returncode == 0, result.stderr[-3000:]
    config = make_config(tmp_path / "continue.json", model={"init_from": str(exported)}, optim={"max_steps": 2},
                         run={"checkpoint_every_steps": 0})
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    tokens = 12 * 8 * 64
    assert f"initialised from {exported} (step 12, {tokens:,} tokens)" in result.stderr
    assert train_losses(tmp_path / "run")[0] < train_losses(run_dir)[0] - 0.5  # the exported weights, not a fresh model
    assert load_model_from_run(tmp_path / "run")[1]["initialised_from"] == {
        "checkpoint": str(exported), "step": 12, "tokens_in_all": tokens}

    other = tmp_path / "other-tokenizer"
    shutil.copytree(exported, other)
    model_config = json.loads((other / "config.json").read_text())
    model_config["space_token_id"] += 1
    (other / "config.json").write_text(json.dumps(model_config))
    config = make_config(tmp_path / "other.json", model={"init_from": str(other)})
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "refused"), "--no-progress"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"model.init_from={other}: it was trained with another tokenizer (space_token_id" in result.stderr


def test_a_missing_init_from_stops_before_the_run_directory_exists(tmp_path, atomlm, make_config):
    missing = tmp_path / "gone" / "checkpoint"
    config = make_config(tmp_path / "continue.json", model={"init_from": str(missing)})
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"atomlm train: error: model.init_from={missing}: no such file or directory" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_wrongly_typed_config_stops_before_the_run_directory_exists(tmp_path, atomlm, make_config):
    config = make_config(tmp_path / "cpu.json", optim={"lr": "fast"})
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.returncode == 2
    assert result.stderr == f'atomlm train: error: {config}: optim.lr: expected a number, got "fast"\n'
    result = atomlm(["train", "--config", "smoke", "--out", str(tmp_path / "run"), "--set", "model.use_xsa=no"])
    assert result.returncode == 2
    assert result.stderr == 'atomlm train: error: --set: model.use_xsa: expected true or false, got "no"\n'
    assert not (tmp_path / "run").exists()


def test_compile_on_a_cpu_without_a_compiler_stops_before_anything_runs(tmp_path, atomlm, make_config):
    config = make_config(tmp_path / "tiny.json", run={"compile": True, "device": "cpu"})
    no_tools = tmp_path / "bin"
    no_tools.mkdir()  # PATH holds no g++, c++ or clang++
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"],
                    env={"PATH": str(no_tools), "CXX": ""})
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.startswith("atomlm train: error: run.compile on the CPU needs a C++ compiler")
    assert result.stderr.count("\n") == 1 and not (tmp_path / "run").exists()


def test_out_that_is_not_a_run_directory_is_refused_untouched(tmp_path, atomlm, make_config):
    from atomlm.errors import UserError
    from atomlm.training.config import load_config
    from atomlm.training.loop import train

    config = make_config(tmp_path / "tiny.json", optim={"max_steps": 2})
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    with pytest.raises(UserError, match=f"--out {a_file}: is a file"):
        train(load_config(str(config)), a_file, progress=False)
    assert a_file.read_text() == "mine\n"

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "metrics.jsonl").write_text('{"step": 1, "loss": 9.0}\n')
    (theirs / "notes.txt").write_text("mine\n")
    result = atomlm(["train", "--config", str(config), "--out", str(theirs), "--no-progress"])
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr[-3000:]
    assert "not an atomlm run directory" in result.stderr and "holds metrics.jsonl, notes.txt" in result.stderr
    assert sorted(p.name for p in theirs.iterdir()) == ["metrics.jsonl", "notes.txt"]
    assert (theirs / "metrics.jsonl").read_text() == '{"step": 1, "loss": 9.0}\n'


def test_earlier_run_without_a_checkpoint_starts_again(tmp_path, atomlm, make_config):
    config = make_config(tmp_path / "tiny.json", optim={"max_steps": 2})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(config.read_text())
    (run_dir / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 9.0}\n')  # died before step 4
    result = atomlm(["train", "--config", str(config), "--out", str(run_dir), "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(train_losses(run_dir)) == 2 and train_losses(run_dir)[0] != 9.0


def test_sigterm_saves_a_checkpoint_and_resume_continues_exactly(baseline, tmp_path, atomlm, start_atomlm,
                                                                  wait_for_train_step):
    run_dir, config = baseline
    stopped = tmp_path / "run"
    process = start_atomlm(["train", "--config", str(config), "--out", str(stopped), "--no-progress"],
                           tmp_path / "stderr.txt")
    wait_for_train_step(stopped, 5, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    steps = len(train_losses(stopped))
    checkpoint = stopped / "checkpoints" / f"step_{steps:06d}"
    assert steps in (5, 6, 7)  # the checkpoint is the signal's, not the every-4-steps one
    assert (stopped / "checkpoints" / "latest").read_text().strip() == checkpoint.name
    stderr = (tmp_path / "stderr.txt").read_text()
    assert stderr.splitlines()[-1] == (
        f"atomlm train: interrupted by SIGTERM after step {steps}; checkpoint {checkpoint}; continue with --resume"
    )
    again = atomlm(["train", "--config", str(config), "--out", str(stopped), "--resume", "--no-progress"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert train_losses(stopped) == train_losses(run_dir)
    reference, continued = final_weights(run_dir), final_weights(stopped)
    assert all(torch.equal(reference[name], continued[name]) for name in reference)


def _descendant_pids(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children + [grandchild for child in children for grandchild in _descendant_pids(child)]


def _torchrun_worker_pid(torchrun_pid: int, rank: int) -> int:
    for pid in _descendant_pids(torchrun_pid):
        environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environment:
            return pid
    raise AssertionError(f"no torchrun worker with RANK={rank} under process {torchrun_pid}")


@pytest.mark.slow
def test_a_signal_to_one_torchrun_rank_stops_every_rank_after_the_same_step(tmp_path, make_config, start_atomlm,
                                                                            wait_for_train_step):
    # Logged every 4 steps: the ranks agree on stopping there only, in the collective of that step.
    config = make_config(tmp_path / "ddp.json", optim={"max_steps": 80},
                         run={"checkpoint_every_steps": 0, "log_every": 4})
    run_dir = tmp_path / "run"
    process = start_atomlm(["train", "--config", str(config), "--out", str(run_dir), "--no-progress"],
                           tmp_path / "stderr.txt", torchrun_nproc=2)
    wait_for_train_step(run_dir, 4, process)
    os.kill(_torchrun_worker_pid(process.pid, rank=1), signal.SIGINT)  # rank 0 never sees a signal
    process.wait(timeout=120)
    stderr = (tmp_path / "stderr.txt").read_text()
    steps = [r["step"] for r in read_metrics(run_dir / "metrics.jsonl") if r["kind"] == "train"][-1]
    checkpoint = run_dir / "checkpoints" / f"step_{steps:06d}"
    assert 4 <= steps < 80 and steps % 4 == 0, stderr[-3000:]
    assert f"atomlm train: interrupted by SIGINT after step {steps}; checkpoint {checkpoint}; continue" in stderr
    assert "exitcode  : 130" in stderr  # torchrun's report of the workers
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == checkpoint.name
    assert f"SIGINT received: stopping after step {steps}" in (run_dir / "train_log.txt").read_text()


def test_resume_refuses_shards_that_changed_since_the_run_started(baseline, tmp_path, atomlm, shard_cache):
    import numpy as np

    from atomlm.data.shards import file_sha256

    from atomlm.data.curriculum import load_curriculum
    from atomlm.training.config import load_config
    from atomlm.training.shard_cache import describe_curriculum, shard_directory

    run_dir, config_path = baseline
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = json.loads(config_path.read_text())
    config["data"]["shard_cache_dir"] = str(tmp_path / "cache")
    (tmp_path / "moved.json").write_text(json.dumps(config))
    saved = json.loads((copy / "config.json").read_text())
    saved["data"]["shard_cache_dir"] = config["data"]["shard_cache_dir"]  # as if the cache had moved with the run
    (copy / "config.json").write_text(json.dumps(saved))
    settings = load_config(str(tmp_path / "moved.json")).data
    shard_dir = shard_directory(settings, describe_curriculum(load_curriculum(settings.curriculum)))
    shutil.copytree(shard_cache / shard_dir.name, shard_dir)
    # a rebuild under the same key that came out different: one shard's rows in another order
    record_path = sorted(shard_dir.glob("train/*.json"))[0]
    record = json.loads(record_path.read_text())
    rows = np.fromfile(shard_dir / record["file"], dtype=np.uint16).reshape(record["rows"], -1)
    rows[::-1].tofile(shard_dir / record["file"])
    record["sha256"] = file_sha256(shard_dir / record["file"])
    record_path.write_text(json.dumps(record))  # the run's shard build rewrites manifest.json from these

    result = atomlm(["train", "--config", str(tmp_path / "moved.json"), "--out", str(copy), "--resume",
                     "--no-progress"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"atomlm train: error: --resume: the shards in {shard_dir} are not those this run trained on" in result.stderr


def test_stop_after_minutes_ends_each_segment_with_a_checkpoint_and_resume_is_exact(baseline, tmp_path, atomlm):
    run_dir, config = baseline
    segmented = tmp_path / "run"
    # 0 minutes: every process stops after its first step, with a checkpoint, exit status 0.
    for step in (1, 2):
        resume = ["--resume"] if step > 1 else []
        part = atomlm(["train", "--config", str(config), "--out", str(segmented), "--no-progress",
                       "--stop-after-minutes", "0", *resume])
        assert part.returncode == 0, part.stderr[-3000:]
        assert f"stopped after step {step} of 12" in part.stderr and "continue with --resume" in part.stderr
        assert (segmented / "checkpoints" / "latest").read_text().strip() == f"step_{step:06d}"
    rest = atomlm(["train", "--config", str(config), "--out", str(segmented), "--resume", "--no-progress"])
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert "stopped after" not in rest.stderr
    assert train_losses(segmented) == train_losses(run_dir)  # the schedule is the full run's
    reference, continued = final_weights(run_dir), final_weights(segmented)
    assert all(torch.equal(reference[name], continued[name]) for name in reference)


def test_negative_stop_after_minutes_is_refused(baseline, tmp_path, atomlm):
    _, config = baseline
    result = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--stop-after-minutes", "-1"])
    assert result.returncode == 2 and "--stop-after-minutes" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_loss_on_answers_changes_what_the_loss_is_on(baseline, tmp_path, atomlm):
    """Same model, same first batch: the first loss differs once the equations' questions are unsupervised."""
    run_dir, config = baseline
    answers = tmp_path / "answers"
    result = atomlm(["train", "--config", str(config), "--out", str(answers), "--no-progress",
                     "--stop-after-minutes", "0", "--set", 'data.loss_on="answers"'])
    assert result.returncode == 0, result.stderr[-3000:]
    (first,) = train_losses(answers)
    assert math.isfinite(first) and first != train_losses(run_dir)[0]
    bad = atomlm(["train", "--config", str(config), "--out", str(tmp_path / "bad"), "--set", 'data.loss_on="questions"'])
    assert bad.returncode == 2 and "data.loss_on must be all|answers" in bad.stderr


def test_the_card_shows_counts_and_seconds_as_whole_numbers():
    from atomlm.model_card import _training_section

    record = {"curriculum_name": "cpu-6h", "tokens_seen": 131031040, "steps": 15995, "wall_time_s": 23502.379,
              "final_loss": 0.8353891968727112}
    section = _training_section(record)
    assert "| tokens seen | 131,031,040 |" in section and "| optimizer steps | 15,995 |" in section
    assert "| wall time (s) | 23,502 |" in section and "| final training loss | 0.8354 |" in section
