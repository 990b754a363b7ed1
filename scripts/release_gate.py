"""Score a candidate model and the shipped one on every evaluation the project reports, side by
side, and say whether the candidate may replace the shipped model.

    python scripts/release_gate.py --candidate runs/x/export [--baseline pretrained/atom2.7m] [--out gate.md]

The evaluations, each one `atomlm` command (printed under the table):
    compat   `atomlm eval arithmark` on the compat set: acc, per difficulty, truncation rows
    exact    `atomlm eval exact-match` on the compat set (greedy generation): acc, hard rows
    v1       `atomlm eval arithmark` on the v1-style rows (results/arithmark_v1_rows.jsonl)
    second   a second compat-format file (seed 2027), which no model was tuned on
    wide     wider operands (seed 2028; + and - 1-4 digits, * and / 1-3, |answer| <= 999,999):
             choice acc and greedy exact match
    one-digit  the compat set's operands with three one-digit changes of the answer as the wrong
             endings (seed 2029): choice acc, which needs every digit right

The candidate passes when it is ahead of the baseline on the compat set's acc, its hard rows and
greedy exact match, and not behind on any held-out file (second, wide, one-digit). Exit status: 0 passes,
1 does not, 2 bad input (a folder without weights), 3 an evaluation failed (its log is named).
Results are kept in --work under the sha256 of the weights and of the data file, so a second
call scores only what changed (a new export at the same path is scored again).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from logged_command import CommandFailed, atomlm, run_logged, shown

ROOT = Path(__file__).resolve().parents[1]
COMPAT_FILE: Path | None = None  # None: the compat set the package ships (no --data-path)
V1_ROWS = ROOT / "results" / "arithmark_v1_rows.jsonl"
# The held-out files: `atomlm data arithmark` arguments, written once into --work.
HELD_OUT = {
    "second": ("--seed", "2027"),
    "wide": ("--seed", "2028", "--add-digits", "1-4", "--mul-digits", "1-3", "--max-answer", "999999"),
    "one-digit": ("--seed", "2029", "--distractors", "one-digit"),
}
HELD_OUT_SIZE: tuple[str, ...] = ()  # `atomlm data arithmark` row counts; () is its default 2,500 rows


class GateError(Exception):
    """Bad input (exit 2) or a failed evaluation (exit 3); the message is one line."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Evaluation:
    name: str
    verb: str            # `atomlm eval` verb: arithmark or exact-match
    data: str | None     # None: the compat set; "v1": the v1-style rows; else a HELD_OUT key


EVALUATIONS = (Evaluation("compat", "arithmark", None), Evaluation("exact", "exact-match", None),
               Evaluation("v1", "arithmark", "v1"), Evaluation("second", "arithmark", "second"),
               Evaluation("wide", "arithmark", "wide"), Evaluation("wide-exact", "exact-match", "wide"),
               Evaluation("one-digit", "arithmark", "one-digit"))


def _difficulty(result: dict, level: str) -> float | None:
    """Accuracy on one difficulty's rows; None when the file has none."""
    return result["breakdowns"]["difficulty"].get(level, {}).get("acc")


def _headline(result: dict) -> float:
    """A result file's overall accuracy: `atomlm eval arithmark` nests it, exact-match does not."""
    if "results" in result:
        (scores,) = result["results"].values()
        return scores["acc"]
    return result["acc"]


# Table rows: label, evaluation, how to read the number from its result file, and the verdict's
# rule for it ("ahead": the candidate must be higher; "not behind": higher or equal; None: shown only).
METRICS = (
    ("compat set acc", "compat", _headline, "ahead"),
    ("compat easy", "compat", lambda r: _difficulty(r, "easy"), None),
    ("compat medium", "compat", lambda r: _difficulty(r, "medium"), None),
    ("compat hard", "compat", lambda r: _difficulty(r, "hard"), "ahead"),
    ("compat truncation rows", "compat", lambda r: r["truncation_distractors"].get("truncation/all", {}).get("acc"),
     None),  # none in a file without truncation distractors
    ("greedy exact match", "exact", _headline, "ahead"),
    ("greedy exact match, hard", "exact", lambda r: _difficulty(r, "hard"), None),
    ("v1-style rows", "v1", _headline, None),
    ("second file (seed 2027) acc", "second", _headline, "not behind"),
    ("second file hard", "second", lambda r: _difficulty(r, "hard"), None),
    ("wide operands (seed 2028) acc", "wide", _headline, "not behind"),
    ("wide operands hard", "wide", lambda r: _difficulty(r, "hard"), None),
    ("wide operands exact match", "wide-exact", _headline, None),
    ("one-digit distractors (seed 2029) acc", "one-digit", _headline, "not behind"),
    ("one-digit distractors hard", "one-digit", lambda r: _difficulty(r, "hard"), None),
)


def _shown(path: Path) -> str:
    """A path as the report and the commands show it: relative to the repository when inside it
    (the commands run there)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _run(command: list[str], log: Path) -> None:
    try:
        run_logged(command, log, cwd=ROOT)
    except CommandFailed as error:
        raise GateError(str(error), 3) from None


def _weights(model: Path) -> Path:
    weights = model / "model.safetensors"
    if not weights.is_file():
        restore = model / "RESTORE.md"
        hint = f" ({restore} says how to get them back)" if restore.is_file() else ""
        raise GateError(f"{model}: no model.safetensors, expected an exported model directory{hint}", 2)
    return weights


def _held_out_command(name: str, work: Path) -> list[str]:
    """The `atomlm data arithmark` command that writes held-out file `name` into `work`."""
    return atomlm("data", "arithmark", *HELD_OUT[name], *HELD_OUT_SIZE, "--out", _shown(work / f"{name}.jsonl"))


def _data_files(work: Path, log: Path) -> dict[str | None, Path | None]:
    """Each evaluation's data file by `Evaluation.data` key; the held-out files are written when missing."""
    files: dict[str | None, Path | None] = {None: COMPAT_FILE, "v1": V1_ROWS}
    for name in HELD_OUT:
        path = work / f"{name}.jsonl"
        if not path.is_file():
            _run(_held_out_command(name, work), log)
        files[name] = path
    return files


def _evaluate(model: Path, evaluation: Evaluation, data: Path | None, key: str, work: Path,
              log: Path) -> tuple[dict, str]:
    """The result file of one evaluation of one model (reused while `key`, from the sha256 of the
    weights and of the data, is the same), and the command that makes it."""
    output = work / "results" / f"{evaluation.name}-{key}.json"
    command = atomlm("eval", evaluation.verb, "--model", _shown(model), *(["--data-path", _shown(data)] if data else []),
                     "--output", _shown(output))
    if not output.is_file():
        output.parent.mkdir(parents=True, exist_ok=True)
        _run(command, log)
    return json.loads(output.read_text()), shown(command)


def compare(results: dict, candidate: str, baseline: str) -> tuple[bool, list[str]]:
    """The verdict and the table's lines, from result files keyed by (side, evaluation name)."""
    lines = [f"| metric | {candidate} | {baseline} | difference | rule |", "|---|---|---|---|---|"]
    passes = True
    for label, name, read, rule in METRICS:
        new, old = read(results["candidate", name]), read(results["baseline", name])
        if new is None or old is None:
            lines.append(f"| {label} | n/a | n/a | | |")
            continue
        held = {"ahead": new > old, "not behind": new >= old, None: True}[rule]
        passes &= held
        verdict = "" if rule is None else f"{rule}: {'yes' if held else '**no**'}"
        lines.append(f"| {label} | {new:.2f} | {old:.2f} | {new - old:+.2f} | {verdict} |")
    return passes, lines


def gate(candidate: Path, baseline: Path, work: Path) -> tuple[bool, str]:
    """Score both models; the verdict and the report (a markdown table and the commands)."""
    from atomlm.data.shards import file_sha256
    from atomlm.evaluation.arithmark_generator import SHIPPED_FILE

    for model in (candidate, baseline):
        _weights(model)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "gate.log"
    files = _data_files(work, log)
    # Each file hashed once: the weights of each model and each data file (None: the shipped compat set).
    weights = {model: file_sha256(_weights(model)) for model in (candidate, baseline)}
    data = {name: file_sha256(path or SHIPPED_FILE) for name, path in files.items()}
    results, commands = {}, []
    for evaluation in EVALUATIONS:
        for side, model in (("candidate", candidate), ("baseline", baseline)):
            key = hashlib.sha256((weights[model] + data[evaluation.data]).encode()).hexdigest()[:16]
            results[side, evaluation.name], command = _evaluate(model, evaluation, files[evaluation.data], key,
                                                                work, log)
            commands.append(command)
    passes, lines = compare(results, f"candidate `{_shown(candidate)}`", f"baseline `{_shown(baseline)}`")
    data_commands = [shown(_held_out_command(name, work)) for name in HELD_OUT]
    report = "\n".join([*lines, "", f"Verdict: {'PASS' if passes else 'FAIL'}", "", "Commands:", "",
                        *(f"    {command}" for command in data_commands + commands), ""])
    return passes, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", type=Path, required=True, help="exported model directory to judge")
    parser.add_argument("--baseline", type=Path, default=ROOT / "pretrained" / "atom2.7m",
                        help="the model it would replace (default: pretrained/atom2.7m)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "release-gate",
                        help="held-out files, result files and the log (default: runs/release-gate)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this markdown file")
    args = parser.parse_args(argv)
    try:
        passes, report = gate(args.candidate, args.baseline, args.work)
    except GateError as error:
        print(f"release_gate: error: {error}", file=sys.stderr)
        return error.code
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    return 0 if passes else 1


if __name__ == "__main__":
    sys.exit(main())
