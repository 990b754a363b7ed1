"""Fixtures for the training tests: a tiny model config and a helper running real `atomlm` processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY_MODEL = {
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}


def tiny_config(shard_cache: Path, **sections) -> dict:
    """A config dict for a model small enough to train in seconds; `sections` update fields."""
    config = {
        "model": {"overrides": dict(TINY_MODEL)},
        "data": {"curriculum": "smoke", "seq_len": 64, "shard_cache_dir": str(shard_cache)},
        "optim": {"max_steps": 12, "global_batch_size": 8, "micro_batch_size": 4, "lr": 3e-3, "warmup_steps": 2},
        "run": {
            "checkpoint_every_steps": 4, "eval_every_steps": 0, "arithmark_rows": 0, "keep_checkpoints": 10,
            # one thread: the tiny model gains nothing from two, and OpenMP spin-waits badly
            # when the test machine is oversubscribed
            "threads": 1,
        },
    }
    for section, values in sections.items():
        config[section].update(values)
    return config


def process_env() -> dict:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", MPLBACKEND="Agg")
    return env


def atomlm_command(args: list[str], torchrun_nproc: int = 0) -> list[str]:
    """The command line of `atomlm ARGS`, under torchrun with that many processes when nonzero."""
    if torchrun_nproc:
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        return [torchrun, "--standalone", f"--nproc_per_node={torchrun_nproc}", "-m", "atomlm", *args]
    return [sys.executable, "-m", "atomlm", *args]


def run_atomlm(args: list[str], *, env: dict | None = None, timeout: float = 180, torchrun_nproc: int = 0):
    """Run `atomlm ARGS` (or under torchrun with that many processes); returns CompletedProcess."""
    return subprocess.run(
        atomlm_command(args, torchrun_nproc), env={**process_env(), **(env or {})}, capture_output=True, text=True,
        timeout=timeout,
    )


def start_atomlm_process(args: list[str], stderr_path: Path, torchrun_nproc: int = 0) -> subprocess.Popen:
    """`atomlm ARGS` (or under torchrun) running in the background, its stderr going to
    `stderr_path`, for tests that signal it mid-run (see `wait_until_train_step`)."""
    with open(stderr_path, "w") as stderr:
        return subprocess.Popen(
            atomlm_command(args, torchrun_nproc), env=process_env(), stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,  # its own process group, so a failed test can end all of it
        )


def wait_until_train_step(run_dir: Path, step: int, process: subprocess.Popen, timeout: float = 180) -> int:
    """Poll the run's metrics.jsonl until it records training step `step` or later; returns the
    last step recorded. Fails if the process ends first."""
    from atomlm.training.metrics import read_metrics

    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"atomlm exited with {process.returncode} before step {step}")
        steps = [r["step"] for r in read_metrics(Path(run_dir) / "metrics.jsonl") if r.get("kind") == "train"]
        if steps and steps[-1] >= step:
            return steps[-1]
        time.sleep(0.005)
    raise AssertionError(f"{run_dir}: no step {step} within {timeout} s")


def write_config(path: Path, config: dict) -> Path:
    path.write_text(json.dumps(config, indent=2))
    return path


@pytest.fixture(scope="session", autouse=True)
def private_atomlm_cache(tmp_path_factory):
    """ATOMLM_CACHE_DIR in the session's tmp for every training test and the processes it starts,
    so a config without `data.shard_cache_dir` never writes into the user's cache."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("ATOMLM_CACHE_DIR", str(tmp_path_factory.mktemp("atomlm-cache")))
        yield


@pytest.fixture(scope="session")
def shard_cache(tmp_path_factory) -> Path:
    """One shard cache for the whole session, so the smoke curriculum is tokenized once."""
    return tmp_path_factory.mktemp("shards")


@pytest.fixture(scope="session")
def atomlm():
    """`atomlm(args, env=None, timeout=180, torchrun_nproc=0)` runs a real atomlm process."""
    return run_atomlm


@pytest.fixture(scope="session")
def make_config(shard_cache):
    """`make_config(path, **sections)` writes a tiny-model config file and returns its path."""
    return lambda path, **sections: write_config(Path(path), tiny_config(shard_cache, **sections))


@pytest.fixture
def start_atomlm():
    """`start_atomlm(args, stderr_path, torchrun_nproc=0)` starts a real atomlm process in the
    background; whatever of it still runs when the test ends is killed."""
    started = []

    def start(*args, **kwargs):
        started.append(start_atomlm_process(*args, **kwargs))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def wait_for_train_step():
    """`wait_for_train_step(run_dir, step, process)` polls metrics.jsonl until that step is recorded."""
    return wait_until_train_step


def train_losses(run_dir):
    """The training losses a run's metrics.jsonl recorded, in step order."""
    from atomlm.training.metrics import read_metrics

    return [r["loss"] for r in read_metrics(Path(run_dir) / "metrics.jsonl") if r["kind"] == "train"]


def final_weights(run_dir):
    """The model state dict of a run's latest checkpoint."""
    import torch

    pointer = (Path(run_dir) / "checkpoints" / "latest").read_text().strip()
    return torch.load(Path(run_dir) / "checkpoints" / pointer / "model.pt", weights_only=True)
