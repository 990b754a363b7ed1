"""A training run that outlives sessions and machines: train in segments, and after each one
export the model, score it on a full ArithMark file, keep the best export, and save (and with
--commit, git-commit) everything resuming needs.

    python scripts/long_run.py --config cpu-2h --run runs/long --state long_run --commit

Each segment is `atomlm train --resume --stop-after-minutes M` (M = --export-every-minutes of
training), so the learning-rate schedule is the full run's and the steps are exactly those of an
uninterrupted run. After each segment, --state (a folder meant for git) receives:

    checkpoint/      the latest checkpoint (model, optimizer, scheduler, RNG and data position)
    config.json      the run's config       metrics.jsonl   its metrics up to that checkpoint
    exports.jsonl    one line per export: step, tokens, training seconds, full-set scores
    best/            the Hugging Face export with the best full-set acc so far (its results beside)
    curve.png        the periodic ArithMark slice of the run, with the full-set score of each export

With --slim-best (and --commit), a new best export is committed whole, then a second commit takes
its weights, tokenizer, code and predictions out of the tree and leaves best/ its record (model
card, training record and curves, config, curriculum) and RESTORE.md, which names the first commit:
an export of about 13 MB does not fit beside the checkpoint under the tree's size limit
(tests/test_packaging.py).

A new machine (or a lost --run) continues from --state: the same command copies its checkpoint
into --run and resumes. The shards are rebuilt from their seeds; `atomlm train --resume` refuses
them if they differ. SIGINT or SIGTERM stops the current segment with a checkpoint, then the
export, scoring and state saving still happen before the driver exits (130 / 143).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from git_state import commit_folder, head_commit, repo_root
from logged_command import CommandFailed, atomlm, run_logged, shown

CHECKPOINT, BEST, EXPORTS, CURVE = "checkpoint", "best", "exports.jsonl", "curve.png"
# What --slim-best leaves of best/ in the tree: the export's record, small and worth reading there.
BEST_RECORD = frozenset({"README.md", "training_record.json", "training_curves.png", "config.json",
                         "pretraining_curriculum.json"})
RESTORE = "RESTORE.md"


class Segment:
    """One `atomlm train` process; SIGINT/SIGTERM to the driver are passed on to it."""

    def __init__(self):
        self.received = 0
        self.process: subprocess.Popen | None = None
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self._forward)

    def _forward(self, number, _frame) -> None:
        self.received = self.received or number
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the trainer checkpoints, then exits 130

    def run(self, command: list[str], log: Path) -> int:
        print(f"$ {shown(command)}", flush=True)
        with log.open("a") as handle:
            self.process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
            if self.received:  # a signal that came before the process existed
                self.process.send_signal(signal.SIGINT)
            code = self.process.wait()
        self.process = None
        return code


def check(command: list[str], log: Path) -> None:
    """Run an export or scoring step; stop the driver with the log's name on failure."""
    try:
        run_logged(command, log)
    except CommandFailed as error:
        raise SystemExit(f"long_run: {error}") from None


def checkpoint_meta(checkpoint: Path) -> dict:
    """The checkpoint's meta file; a missing or corrupt one stops the driver with its path."""
    from atomlm.training.checkpoint import CheckpointError, read_checkpoint_meta

    try:
        return read_checkpoint_meta(checkpoint)
    except CheckpointError as error:
        raise SystemExit(f"long_run: {error}") from None


def latest_run_checkpoint(run: Path) -> Path | None:
    from atomlm.training.checkpoint import latest_checkpoint

    return latest_checkpoint(run)


def restore_from_state(state: Path, run: Path) -> None:
    """Copy the state's checkpoint, config and metrics into --run when it is newer than the run's own."""
    from atomlm.training.checkpoint import checkpoint_name, checkpoints_dir, is_checkpoint, point_latest_at

    saved = state / CHECKPOINT
    if not is_checkpoint(saved):
        return
    step = checkpoint_meta(saved)["step"]
    current = latest_run_checkpoint(run)  # None when the run has no checkpoint yet
    if current is not None and checkpoint_meta(current)["step"] >= step:
        return
    checkpoints = checkpoints_dir(run)
    checkpoints.mkdir(parents=True, exist_ok=True)
    target = checkpoints / checkpoint_name(step)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(saved, target)
    for name in ("config.json", "metrics.jsonl"):
        shutil.copy2(state / name, run / name)
    point_latest_at(target)
    print(f"long_run: restored step {step} from {saved} into {run}", flush=True)


def export_and_score(run: Path, step: int, args, log: Path) -> dict:
    """Export the run's latest checkpoint and score it; one exports.jsonl entry."""
    from atomlm.training.checkpoint import checkpoint_name

    model = run / "exports" / checkpoint_name(step)
    check(atomlm("export", "--checkpoint", str(run), "--out", str(model), "--overwrite"), log)
    data = ["--data-path", str(args.data_path)] if args.data_path else []
    scores = model / "arithmark.json"
    check(atomlm("eval", "arithmark", "--model", str(model), "--output", str(scores), "--no-progress", *data), log)
    scored = json.loads(scores.read_text())
    (benchmark, result), = scored["results"].items()
    difficulty = scored.get("breakdowns", {}).get("difficulty", {})
    record = json.loads((model / "training_record.json").read_text())
    entry = {
        "step": step, "tokens": record.get("tokens_seen"), "train_seconds": round(record.get("wall_time_s") or 0, 1),
        "benchmark": benchmark, "data_path": str(args.data_path or "compat set"), "acc": result["acc"],
        **{level: difficulty[level]["acc"] for level in ("easy", "medium", "hard") if level in difficulty},
        "model": str(model), "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.exact_match:
        generated = model / "exact_match.json"
        check(atomlm("eval", "exact-match", "--model", str(model), "--output", str(generated), *data), log)
        entry["exact_match"] = json.loads(generated.read_text())["acc"]
    return entry


def read_exports(state: Path) -> list[dict]:
    path = state / EXPORTS
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def save_state(run: Path, state: Path, entry: dict) -> bool:
    """Write the checkpoint, config, metrics and export record into --state; keep the export as
    best/ when its acc beats every earlier one. Returns whether it is the new best."""
    exports = read_exports(state)
    best = entry["acc"] > max((e["acc"] for e in exports), default=float("-inf"))
    exports.append({**entry, "best": best})
    state.mkdir(parents=True, exist_ok=True)
    staging = state / f".{CHECKPOINT}.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(latest_run_checkpoint(run), staging)
    if (state / CHECKPOINT).exists():
        shutil.rmtree(state / CHECKPOINT)
    staging.rename(state / CHECKPOINT)
    for name in ("config.json", "metrics.jsonl"):
        shutil.copy2(run / name, state / name)
    if best:
        if (state / BEST).exists():
            shutil.rmtree(state / BEST)
        shutil.copytree(entry["model"], state / BEST)
    (state / EXPORTS).write_text("".join(json.dumps(e) + "\n" for e in exports))
    plot_curve(state / "metrics.jsonl", exports, state / CURVE)
    return best


def slim_best(state: Path, full_export_commit: str) -> None:
    """Leave best/ its record files and a RESTORE.md that names the commit holding the whole export."""
    best = state / BEST
    for path in best.iterdir():
        if path.name not in BEST_RECORD:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    relative = best.resolve().relative_to(repo_root(state))
    (best / RESTORE).write_text(
        f"# The whole export\n\nThis folder keeps the best export's record only. Its weights, tokenizer, code and "
        f"per-row predictions are in commit {full_export_commit}; from the top of the repository:\n\n"
        f"    git checkout {full_export_commit} -- {relative.as_posix()}\n")


def slice_points(metrics_path: Path) -> tuple[list[float], list[float]]:
    """(millions of tokens, acc in %) of each periodic ArithMark slice in metrics.jsonl (already in %)."""
    from atomlm.training.metrics import read_metrics

    probes = [m for m in read_metrics(metrics_path) if m.get("kind") == "eval" and "arithmark_acc" in m]
    return [m["tokens"] / 1e6 for m in probes], [m["arithmark_acc"] for m in probes]


def plot_curve(metrics_path: Path, exports: list[dict], out: Path) -> None:
    """The periodic ArithMark slice over tokens, and each export's full-set score as a marked point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tokens, accuracy = slice_points(metrics_path)
    figure, axis = plt.subplots(figsize=(8, 4.5))
    if tokens:
        axis.plot(tokens, accuracy, color="tab:blue", label="periodic slice (run.arithmark_rows rows)")
    axis.scatter([e["tokens"] / 1e6 for e in exports], [e["acc"] for e in exports], color="tab:red", zorder=3,
                 label="export, full set")
    for e in exports:
        axis.annotate(f"{e['acc']:.2f}" + (" best" if e.get("best") else ""), (e["tokens"] / 1e6, e["acc"]),
                      textcoords="offset points", xytext=(4, -12), fontsize=8)
    axis.set_xlabel("training tokens (millions)")
    axis.set_ylabel("ArithMark acc (%)")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="preset or config file, as in atomlm train")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="config override, as in atomlm train (repeatable; the same on every call)")
    parser.add_argument("--run", type=Path, required=True, help="the training run directory (may be lost)")
    parser.add_argument("--state", type=Path, required=True, help="folder for what must last (commit it)")
    parser.add_argument("--export-every-minutes", type=float, default=120.0,
                        help="minutes of training between exports (default 120)")
    parser.add_argument("--segments", type=int, default=0, help="stop after this many segments (default 0: run to the end)")
    parser.add_argument("--data-path", type=Path, default=None,
                        help="ArithMark file to score and pick the best export on (default: the compat set)")
    parser.add_argument("--exact-match", action="store_true", help="also score greedy exact match at each export")
    parser.add_argument("--commit", action="store_true", help="git-commit --state after each export")
    parser.add_argument("--slim-best", action="store_true",
                        help="with --commit: after committing a new best export, move all but its record files "
                             "to git history (best/RESTORE.md names the commit)")
    args = parser.parse_args(argv)
    if args.slim_best and not args.commit:
        parser.error("--slim-best needs --commit: the files it takes out of the tree must be in a commit first")

    log = args.run.with_name(args.run.name + ".log")  # beside --run: a fresh run directory must be empty
    log.parent.mkdir(parents=True, exist_ok=True)
    restore_from_state(args.state, args.run)
    segment, done = Segment(), 0
    while True:
        resume = ["--resume"] if (args.run / "config.json").is_file() else []
        command = atomlm("train", "--config", args.config, "--out", str(args.run), "--no-progress",
                         "--stop-after-minutes", f"{args.export_every_minutes:g}", *resume)
        for setting in args.set:
            command += ["--set", setting]
        code = segment.run(command, log)
        if code not in (0, 128 + signal.SIGINT):
            raise SystemExit(f"long_run: atomlm train failed (exit {code}); see {log}")
        latest = latest_run_checkpoint(args.run)
        if latest is None:
            raise SystemExit(f"long_run: atomlm train left no checkpoint in {args.run}; see {log}")
        meta = checkpoint_meta(latest)
        step, max_steps = meta["step"], meta["record"]["config"]["optim"]["max_steps"]
        exports = read_exports(args.state)
        if not exports or exports[-1]["step"] != step:
            entry = export_and_score(args.run, step, args, log)
            best = save_state(args.run, args.state, entry)
            print(f"long_run: step {step}/{max_steps}: acc {entry['acc']:.2f}{' (best so far)' if best else ''}",
                  flush=True)
            if args.commit:
                message = (f"long run {args.run.name}: step {step} of {max_steps}, {entry['tokens']:,} tokens, "
                           f"full-set acc {entry['acc']:.2f}" + (" (best so far)" if best else ""))
                if commit_folder(args.state, message):
                    print(f"long_run: committed {args.state}: {message}", flush=True)
                    if best and args.slim_best:
                        full = head_commit(args.state)
                        slim_best(args.state, full)
                        commit_folder(args.state, f"long run {args.run.name}: step {step} export to git history "
                                                  f"({full[:12]}); best/ keeps its record")
                        print(f"long_run: best/ slimmed to its record; the whole export is in {full[:12]}",
                              flush=True)
        done += 1
        if segment.received:
            return 128 + segment.received
        if step >= max_steps or (args.segments and done >= args.segments):
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
