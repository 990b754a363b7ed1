"""scripts/gpu_job.sh: jobs on machines that start bare resume each other through the kept state
(packed into $OUT, taken into the state folder, restored by the next job), and train the steps of
one uninterrupted run. Run here on the CPU with a tiny config in place of the `gpu-offline` preset."""

import shutil
import subprocess
import sys
from pathlib import Path

import torch

from .conftest import final_weights, process_env, train_losses

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_job.sh"


def test_jobs_resume_each_other_through_the_kept_state_alone(tmp_path, atomlm, make_config):
    config = make_config(tmp_path / "tiny.json", optim={"max_steps": 4}, run={"checkpoint_every_steps": 0})
    reference = tmp_path / "reference"
    uninterrupted = atomlm(["train", "--config", str(config), "--out", str(reference), "--no-progress"])
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    run, state = tmp_path / "run", tmp_path / "state"
    env = {**process_env(), "GPU_JOB_PRESET": str(config), "GPU_JOB_RUN": str(run), "GPU_JOB_STATE": str(state),
           "PYTHON": sys.executable}

    def gpu_job(*arguments: str, out: Path | None = None) -> subprocess.CompletedProcess:
        job_env = {**env, "OUT": str(out)} if out else env
        return subprocess.run(["bash", str(SCRIPT), *arguments], cwd=REPO, env=job_env, capture_output=True,
                              text=True, timeout=600)

    for job, minutes in enumerate(["0", "0", "60"]):  # 0 minutes: one step per job
        out = tmp_path / f"out{job}"
        out.mkdir()
        result = gpu_job("train", minutes, out=out)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert ("restored" in result.stdout) == (job > 0)
        assert (out / "checkpoint" / "meta.json").is_file() and (out / "metrics.jsonl").is_file()
        kept = gpu_job("keep", str(out))
        assert kept.returncode == 0, kept.stderr
        shutil.rmtree(run)  # the machine goes back: only the kept state survives

    assert gpu_job("restore").returncode == 0
    assert train_losses(run) == train_losses(reference)
    ours, theirs = final_weights(run), final_weights(reference)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[name], theirs[name]) for name in ours)


def test_bad_arguments_exit_2_with_the_usage(tmp_path):
    for arguments, message in [([], "usage: scripts/gpu_job.sh"), (["train"], "train needs the minutes"),
                               (["keep", str(tmp_path)], "holds no checkpoint/meta.json")]:
        result = subprocess.run(["bash", str(SCRIPT), *arguments], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 2 and message in result.stderr, result.stderr
