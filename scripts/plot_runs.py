"""Overlay the curves of several training runs in one PNG: training loss (a running mean),
validation loss and the periodic ArithMark slice, against the optimiser step.

    python scripts/plot_runs.py --run "decay 2000=long_runs/cpu-6h-decay" \
        --run "decay 2500=long_runs/cpu-6h-decay2500" --out docs/decay_length.png

Each --run is LABEL=PATH, PATH a run directory (its metrics.jsonl) or a metrics.jsonl file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atomlm.training.metrics import VALIDATION_LOSSES


def parse_run(text: str) -> tuple[str, Path]:
    label, separator, path = text.partition("=")
    if not separator or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {text!r}")
    path = Path(path)
    return label, path / "metrics.jsonl" if path.is_dir() else path


def running_mean(values: list[float], window: int) -> list[float]:
    means, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        means.append(total / min(index + 1, window))
    return means


def plot_runs(runs: list[tuple[str, list[dict]]], out: Path, window: int, validation: str = "val_loss") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (train_axis, val_axis, acc_axis) = plt.subplots(1, 3, figsize=(15, 4))
    for label, records in runs:
        train = [r for r in records if r.get("kind") == "train"]
        evals = [r for r in records if r.get("kind") == "eval"]
        train_axis.plot([r["step"] for r in train], running_mean([r["loss"] for r in train], window),
                        label=label, linewidth=1)
        val = [r for r in evals if validation in r]
        val_axis.plot([r["step"] for r in val], [r[validation] for r in val], "o-", label=label)
        accuracy = [r for r in evals if "arithmark_acc" in r]
        acc_axis.plot([r["step"] for r in accuracy], [r["arithmark_acc"] for r in accuracy], "o-", label=label)
    train_axis.set(xlabel="step", ylabel="loss (nats/token)", title=f"training loss, mean of {window} steps")
    val_axis.set(xlabel="step", ylabel="loss (nats/token)", title=VALIDATION_LOSSES[validation])
    acc_axis.set(xlabel="step", ylabel="accuracy (%)", title="periodic ArithMark slice")
    for axis in (train_axis, val_axis, acc_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=parse_run, action="append", required=True, metavar="LABEL=PATH",
                        help="a run directory or metrics.jsonl, with its legend label (repeat)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--window", type=int, default=50, help="running-mean window of the training loss (steps)")
    parser.add_argument("--validation", choices=list(VALIDATION_LOSSES), default="val_loss",
                        help="which validation loss to plot: on every token (default), or val_loss_answers, on "
                        "answers and text only, to compare runs trained with data.loss_on answers and all")
    args = parser.parse_args(argv)
    from atomlm.training.metrics import read_metrics

    runs = []
    for label, path in args.run:
        if not path.is_file():
            print(f"plot_runs: {path}: no such metrics file (--run {label}=...)", file=sys.stderr)
            return 2
        try:
            records = read_metrics(path)
        except ValueError as error:  # a corrupt line that is not the last: "PATH: line N: ..."
            print(f"plot_runs: {error}", file=sys.stderr)
            return 2
        if not any(r.get("kind") == "train" for r in records):
            print(f"plot_runs: {path}: no training records", file=sys.stderr)
            return 2
        runs.append((label, records))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_runs(runs, args.out, max(1, args.window), args.validation)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
