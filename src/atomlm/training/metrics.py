"""What a run records: JSONL metrics, a text log, a final plot, and (`run.report_to`) the same
metrics in TensorBoard or Weights & Biases.

Only the main process constructs an enabled `RunRecorder`; the others get a disabled one whose
methods do nothing, so the loop never branches on rank to log.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

from atomlm.errors import UserError

METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train_log.txt"
PLOT_FILE = "plot.png"
TENSORBOARD_DIR = "tensorboard"
WANDB_PROJECT = "atomlm"  # unless WANDB_PROJECT says otherwise
# The validation losses of an eval record, by field: on every token, and on the tokens
# `data.loss_on: answers` supervises (answers and text, not the questions of equations), so
# runs trained either way compare on both (`periodic_eval.validation_losses` measures them).
VALIDATION_LOSSES = {
    "val_loss": "validation loss",
    "val_loss_answers": "validation loss on answers and text",
}


def read_metrics(path: Path) -> list[dict]:
    """All records of a metrics.jsonl file (a torn last line from a killed run is skipped)."""
    records = []
    path = Path(path)
    if not path.exists():
        return records
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the process died mid-write; the line is incomplete
            raise ValueError(f"{path}: line {number}: not a JSON object") from None
    return records


class RunRecorder:
    """Appends metrics and log lines under `run_dir`, and hands each metrics record to the
    reporter given to `report_to`; does nothing when `enabled` is False."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.reporter = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / METRICS_FILE
        self.log_path = self.run_dir / LOG_FILE

    def truncate_after(self, step: int) -> None:
        """Drop records past `step` (written by a run that died after its last checkpoint), so a
        resumed run's metrics read exactly like an uninterrupted run's."""
        if not self.enabled:
            return
        kept = [r for r in read_metrics(self.metrics_path) if r.get("step", 0) <= step]
        temporary = self.metrics_path.with_name(METRICS_FILE + ".tmp")
        temporary.write_text("".join(json.dumps(r) + "\n" for r in kept))
        temporary.replace(self.metrics_path)

    def report_to(self, reporter) -> None:
        """Send every later metrics record to `reporter` as well (None: to nothing else)."""
        self.reporter = reporter
        if reporter is not None:
            self.log(f"metrics also go to {reporter}")

    def metrics(self, record: dict) -> None:
        """One record ({"kind": "train" or "eval", "step": ..., values...}) to metrics.jsonl and the reporter."""
        if not self.enabled:
            return
        with open(self.metrics_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.reporter is not None:
            self.reporter.report(record["step"], _scalars(record))

    def log(self, message: str) -> None:
        """A line for the user (stderr, kept clear of the progress bar) and for train_log.txt."""
        if not self.enabled:
            return
        stamped = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}"
        try:
            from tqdm import tqdm

            tqdm.write(stamped, file=sys.stderr)
        except ImportError:
            print(stamped, file=sys.stderr)
        with open(self.log_path, "a") as handle:
            handle.write(stamped + "\n")

    def close(self) -> None:
        if self.reporter is not None:
            self.reporter.close()
            self.reporter = None


def _scalars(record: dict) -> dict[str, float]:
    """A metrics record as reporter scalars named `kind/field` ("train/loss", "eval/val_loss")."""
    return {
        f"{record['kind']}/{key}": value
        for key, value in record.items()
        if key not in ("kind", "step") and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def require_report_library(target: str) -> None:
    """Import the library `run.report_to` reports with (named like the target), so a missing one
    stops the run before it starts, not after minutes of building shards."""
    if target == "none":
        return
    try:
        importlib.import_module(target)
    except ImportError:
        raise UserError(
            f"run.report_to={target} (--report-to {target}) needs the {target} package, which is not installed: "
            f"pip install 'atomlm[report]' (or pip install {target})"
        ) from None


def open_reporter(target: str, run_dir: Path, *, first_step: int, config: dict, wandb_run_id: str | None):
    """The reporter for `run.report_to` (None for "none"), reporting from step `first_step + 1` on."""
    if target == "tensorboard":
        return TensorBoardReporter(run_dir, first_step)
    if target == "wandb":
        return WandbReporter(run_dir, config, wandb_run_id)
    return None


class TensorBoardReporter:
    """Scalars against the optimiser step in RUN_DIR/tensorboard event files.

    `purge_step` makes TensorBoard hide what an earlier attempt of this run logged after the
    checkpoint this one resumes from, as `truncate_after` does for metrics.jsonl."""

    def __init__(self, run_dir: Path, first_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(run_dir) / TENSORBOARD_DIR
        self._writer = SummaryWriter(str(self.log_dir), purge_step=first_step + 1)

    def report(self, step: int, scalars: dict[str, float]) -> None:
        for name, value in scalars.items():
            self._writer.add_scalar(name, value, step)

    def close(self) -> None:
        self._writer.close()

    def __str__(self) -> str:
        return f"TensorBoard ({self.log_dir})"


class WandbReporter:
    """A Weights & Biases run (project $WANDB_PROJECT or "atomlm", named after the run directory)
    with the resolved config; its files live in RUN_DIR/wandb. WANDB_MODE and the other WANDB_*
    variables act as wandb documents (offline: nothing leaves the machine; `wandb sync` uploads
    it later). `wandb_run_id` continues that W&B run (--resume): W&B keeps what the earlier
    attempt logged for steps past the checkpoint and ignores them when logged again."""

    def __init__(self, run_dir: Path, config: dict, wandb_run_id: str | None):
        import wandb

        try:
            self._run = wandb.init(
                project=os.environ.get("WANDB_PROJECT") or WANDB_PROJECT,
                name=Path(run_dir).resolve().name,
                dir=str(run_dir),
                config=config,
                id=wandb_run_id,
                resume="allow" if wandb_run_id else None,
            )
        except wandb.errors.Error as error:
            raise UserError(
                f"--report-to wandb: {error} (or set WANDB_MODE=offline to keep the run in the run directory)"
            ) from None
        self.wandb_run_id = self._run.id

    def report(self, step: int, scalars: dict[str, float]) -> None:
        self._run.log(scalars, step=step)

    def close(self) -> None:
        self._run.finish()

    def __str__(self) -> str:
        mode = "offline, " if self._run.offline else ""
        return f"W&B run {self._run.id} ({mode}{Path(self._run.dir).parent})"


def plot_metrics(metrics_path: Path, out_path: Path) -> Path | None:
    """PNG of train/val loss and ArithMark accuracy against tokens seen; None when no records."""
    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4))
    loss_axis.plot([r["tokens"] for r in train], [r["loss"] for r in train], label="train", linewidth=0.8)
    for field, label in VALIDATION_LOSSES.items():
        val = [r for r in evals if field in r]
        if val:
            loss_axis.plot([r["tokens"] for r in val], [r[field] for r in val], "o-", label=label)
    loss_axis.set(xlabel="tokens", ylabel="loss (nats/token)", title="loss")
    loss_axis.legend()
    loss_axis.grid(alpha=0.3)
    accuracy = [r for r in evals if "arithmark_acc" in r]
    if accuracy:
        acc_axis.plot([r["tokens"] for r in accuracy], [r["arithmark_acc"] for r in accuracy], "o-")
    acc_axis.axhline(25.0, color="grey", linestyle="--", linewidth=0.8, label="chance")
    acc_axis.set(xlabel="tokens", ylabel="accuracy (%)", title="ArithMark slice", ylim=(0, 100))
    acc_axis.legend()
    acc_axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out_path, dpi=110)
    plt.close(figure)
    return Path(out_path)
