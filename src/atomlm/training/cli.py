"""`atomlm train`: train a model from a preset or config file into a run directory."""

from __future__ import annotations

import os
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
    parser.add_argument(
        "--stop-after-minutes", type=float, default=None, metavar="M",
        help="stop early, with a checkpoint and exit status 0, after the first step that finds M minutes passed "
        "since this process started (e.g. a GPU job's time limit); --resume continues exactly, the learning-rate "
        "schedule is the full run's",
    )
    parser.add_argument(
        "--branch-from", default=None, metavar="CHECKPOINT",
        help="start this new run from another run's checkpoint (a checkpoints/step_N folder, or long_run.py's "
        "state checkpoint): model, optimizer, step, data position and RNG; same model and training data",
    )
    parser.add_argument(
        "--decay-steps", type=int, default=None, metavar="N",
        help="with --branch-from and a WSD schedule: decay the learning rate now, over N steps from the "
        "checkpoint's step (sets optim.max_steps and optim.decay_fraction)",
    )
    parser.set_defaults(handler=run_train)


def run_train(args) -> int:
    """Load the config (every field type-checked before anything is written) and train; a bad
    config, checkpoint or data set raises a `UserError`, printed as one line by `atomlm.cli`.
    SIGINT/SIGTERM end the run after a checkpoint, with exit status 130/143."""
    from atomlm.errors import UserError
    from atomlm.training.config import apply_overrides, load_config

    if args.stop_after_minutes is not None and args.stop_after_minutes < 0:
        raise UserError(f"--stop-after-minutes: expected a number of minutes >= 0, got {args.stop_after_minutes:g}")
    config = load_config(args.config)
    assignments = list(args.set)
    if args.max_steps is not None:
        assignments.append(f"optim.max_steps={args.max_steps}")
    if args.report_to is not None:
        assignments.append(f"run.report_to={args.report_to}")
    if assignments:
        config = apply_overrides(config, assignments)
    if args.decay_steps is not None:
        config = decay_from_branch(config, args.branch_from, args.decay_steps)
    from atomlm.data.shards import BuildInterrupted
    from atomlm.training.interrupt import TrainingInterrupted
    from atomlm.training.loop import train  # torch: only once the config is known to be good

    try:
        record = train(config, args.out, resume=args.resume, progress=not args.no_progress,
                       stop_after_minutes=args.stop_after_minutes, branch_from=args.branch_from)
    except TrainingInterrupted as stop:
        if stop.announce:
            print(f"atomlm train: {stop}", file=sys.stderr)
        return stop.exit_code
    except BuildInterrupted as stop:  # rank 0 building the shards on first use
        print(f"atomlm train: {stop}", file=sys.stderr)
        return stop.exit_code
    if record.get("stopped_early") and os.environ.get("RANK", "0") == "0":  # said once under torchrun
        print(f"atomlm train: stopped after step {record['steps']} of {config.optim.max_steps} "
              f"(--stop-after-minutes {args.stop_after_minutes:g}); continue with --resume", file=sys.stderr)
    return 0


def decay_from_branch(config, branch_from: str | None, decay_steps: int):
    """The WSD config whose decay starts at the `--branch-from` checkpoint's step and lasts
    `decay_steps` steps: warmup and stable phase are those of the run it branches from."""
    import dataclasses

    from atomlm.errors import UserError
    from atomlm.training.checkpoint import read_checkpoint_meta

    if branch_from is None:
        raise UserError("--decay-steps: needs --branch-from (the checkpoint whose step the decay starts at)")
    if config.optim.schedule != "wsd":
        raise UserError(f"--decay-steps: needs optim.schedule wsd, the config has {config.optim.schedule!r}")
    if decay_steps < 1:
        raise UserError(f"--decay-steps: expected a number of steps >= 1, got {decay_steps}")
    try:
        step = read_checkpoint_meta(branch_from)["step"]
    except UserError as error:
        raise UserError(f"--branch-from {branch_from}: {error}") from None
    total = step + decay_steps
    optim = dataclasses.replace(config.optim, max_steps=total, decay_fraction=decay_steps / total)
    return dataclasses.replace(config, optim=optim)
