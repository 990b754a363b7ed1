"""What a run records: JSONL metrics (plus TensorBoard when installed), a text log, a final plot.

Only the main process constructs an enabled `RunRecorder`; the others get a disabled one whose
methods do nothing, so the loop never branches on rank to log.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train_log.txt"
PLOT_FILE = "plot.png"


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
    """Appends metrics and log lines under `run_dir`; does nothing when `enabled` is False."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._tensorboard = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / METRICS_FILE
        self.log_path = self.run_dir / LOG_FILE
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(str(self.run_dir / "tensorboard"))
        except ImportError:
            self._tensorboard = None

    def truncate_after(self, step: int) -> None:
        """Drop records past `step` (written by a run that died after its last checkpoint), so a
        resumed run's metrics read exactly like an uninterrupted run's."""
        if not self.enabled:
            return
        kept = [r for r in read_metrics(self.metrics_path) if r.get("step", 0) <= step]
        temporary = self.metrics_path.with_name(METRICS_FILE + ".tmp")
        temporary.write_text("".join(json.dumps(r) + "\n" for r in kept))
        temporary.replace(self.metrics_path)

    def metrics(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.metrics_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._tensorboard is not None:
            step = record.get("tokens", record.get("step", 0))
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "tokens"):
                    self._tensorboard.add_scalar(f"{record.get('kind', 'train')}/{key}", value, step)

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
        if self._tensorboard is not None:
            self._tensorboard.close()


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
    val = [r for r in evals if "val_loss" in r]
    if val:
        loss_axis.plot([r["tokens"] for r in val], [r["val_loss"] for r in val], "o-", label="validation")
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
