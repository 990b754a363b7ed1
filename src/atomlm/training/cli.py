"""`atomlm train`: train a model from a preset or config file into a run directory."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    from atomlm.training.config import REPORT_TARGETS, list_presets

    presets = ", ".join(list_presets())
    parser = subparsers.add_parser(
        "train",
        help="train a model (one process, or several under torchrun)",
        description=f"Train Atom from a preset ({presets}) or a JSON config file. "
        "Works the same under `torchrun --nproc_per_node N -m atomlm train ...`.",
    )
    parser.add_argument("--config", default="smoke", help=f"preset ({presets}) or a JSON config file (default: smoke)")
    parser.add_argument("--out", required=True, metavar="DIR", help="run directory for config.json, metrics, checkpoints and the plot; new, empty or an earlier run")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N", help="override optim.max_steps (the learning-rate schedule follows)")
    parser.add_argument("--resume", action="store_true", help="continue exactly from the latest checkpoint in --out (refused if its shards changed)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override one config field, value parsed as JSON (repeatable), e.g. --set optim.lr=1e-3",
    )
    parser.add_argument(
        "--report-to", choices=REPORT_TARGETS, default=None,
        help="also send metrics to TensorBoard (event files in --out/tensorboard) or Weights & Biases "
        "(WANDB_MODE=offline keeps the run local); needs the report extra; default: run.report_to (none)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs and metrics still written)")
    parser.set_defaults(handler=run_train)


def run_train(args) -> int:
    """Load the config (every field type-checked before anything is written) and train; a bad
    config, checkpoint or data set raises a `UserError`, printed as one line by `atomlm.cli`.
    SIGINT/SIGTERM end the run after a checkpoint, with exit status 130/143."""
    from atomlm.training.config import apply_overrides, load_config

    config = load_config(args.config)
    assignments = list(args.set)
    if args.max_steps is not None:
        assignments.append(f"optim.max_steps={args.max_steps}")
    if args.report_to is not None:
        assignments.append(f"run.report_to={args.report_to}")
    if assignments:
        config = apply_overrides(config, assignments)
    from atomlm.data.shards import BuildInterrupted
    from atomlm.training.interrupt import TrainingInterrupted
    from atomlm.training.loop import train  # torch: only once the config is known to be good

    try:
        train(config, args.out, resume=args.resume, progress=not args.no_progress)
    except TrainingInterrupted as stop:
        if stop.announce:
            print(f"atomlm train: {stop}", file=sys.stderr)
        return stop.exit_code
    except BuildInterrupted as stop:  # rank 0 building the shards on first use
        print(f"atomlm train: {stop}", file=sys.stderr)
        return stop.exit_code
    return 0
