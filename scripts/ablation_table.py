"""Train and score the variants of a study at equal token budget; write the table and a bar chart.

    python scripts/ablation_table.py --out runs/ablations --tokens 10e6 [--preset cpu] [--set optim.lr=3e-3 ...]
    python scripts/ablation_table.py --study recipes --out runs/recipes --tokens 20e6

A study (`scripts/studies/*.json`) names a base tokenizer and its variants: each a tokenizer
change, `--set` overrides, and whether it runs with every seed in --seeds (the others run with
the first). `features` (the default) is the arithmetic-feature ablation: full Atom; no digit
reversal (msd tokenizer); no place ids; no role ids; no XSA; full + the number-end marker.
`recipes` compares training recipes of the `cpu` preset. Each run is one `atomlm` command line
(printed, and written beside the table); steps are --tokens over the variant's tokens per step.

Every step is skipped when its output exists, so the script resumes after an interruption (a
training run continues from its last checkpoint with --resume). Scores: ArithMark 2.0-compatible
`acc` overall and per difficulty, accuracy on the rows with a truncation distractor, and greedy
exact match. Output: OUT/ablation_table.md, OUT/ablation_table.png, OUT/ablation_results.json.

A study can take longer than a machine lives. Each finished run's row is also written to --rows
(default OUT/rows; one small JSON file per variant and seed, meant for git), with the table,
chart and results of every row stored so far beside them (--commit commits the folder after each
run). A later invocation reuses a row whose recipe (preset and its file's content, steps, settings, tokenizer, scoring
file) is unchanged, even when OUT is gone; the table shows every stored row, also those of
variants left out by --only:

    python scripts/ablation_table.py --study recipes --out runs/recipes --tokens 20e6 \
        --rows results/studies/recipes --commit
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

from git_state import commit_folder


STUDIES = Path(__file__).resolve().parent / "studies"


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    digit_order: str = "lsd"
    number_marker: str = "none"
    settings: tuple[str, ...] = ()  # `--set` overrides of this variant
    all_seeds: bool = False

    @property
    def tokenizer_name(self) -> str:
        # Always explicit: the default tokenizer asset (now with the marker) is not the ablations' base.
        return f"{self.digit_order}-{self.number_marker}"


@dataclass(frozen=True)
class Study:
    title: str
    variants: tuple[Variant, ...]


def load_study(name_or_path: str) -> Study:
    """A study file: a title, the base tokenizer, optional `settings` every variant starts from
    (e.g. a fixed precision, so rows from machines with and without native bf16 compare), and
    variants (name, description, optional `tokenizer` fields that differ from the base, `settings`
    overrides, `all_seeds`)."""
    path = Path(name_or_path) if name_or_path.endswith(".json") else STUDIES / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in STUDIES.glob("*.json")))
        raise SystemExit(f"ablation_table: --study {name_or_path}: no such study file (shipped: {known})")
    data = json.loads(path.read_text())
    base = data.get("tokenizer", {})
    variants = tuple(
        Variant(v["name"], v["description"], settings=(*data.get("settings", ()), *v.get("settings", ())),
                all_seeds=v.get("all_seeds", False),
                **{**base, **v.get("tokenizer", {})})
        for v in data["variants"]
    )
    return Study(data["title"], variants)


def atomlm(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "atomlm", *arguments]


def run(command: list[str], log: Path) -> None:
    """Run one step, its output appended to `log`; stop the table on a failure."""
    printable = shlex.join(["atomlm", *command[3:]] if command[:3] == atomlm()[:3] else command)
    print(f"$ {printable}", flush=True)
    with log.open("a") as handle:
        handle.write(f"$ {printable}\n")
        handle.flush()
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"ablation_table: step failed (exit {result.returncode}); see {log}")


def tokenizer_dir(variant: Variant, out: Path) -> Path:
    return out / "tokenizers" / variant.tokenizer_name


def train_tokenizer(variant: Variant, out: Path, log: Path) -> None:
    directory = tokenizer_dir(variant, out)
    if not (directory / "tokenizer.json").is_file():
        run(atomlm("tokenizer", "train", "--out", str(directory), "--force", "--digit-order", variant.digit_order,
                   "--number-marker", variant.number_marker), log)


def steps_for(variant: Variant, args) -> int:
    """Steps that give --tokens with this variant's batch and sequence length."""
    from atomlm.training.config import apply_overrides, load_config

    config = apply_overrides(load_config(args.preset), [*args.set, *variant.settings])
    return max(1, round(args.tokens / (config.optim.global_batch_size * config.data.seq_len)))


def train_command(variant: Variant, seed: int, run_dir: Path, tokenizer: str, args) -> list[str]:
    settings = [f"run.seed={seed}", *args.set, *variant.settings, f"data.tokenizer_dir={json.dumps(tokenizer)}"]
    command = atomlm("train", "--config", args.preset, "--out", str(run_dir), "--max-steps",
                     str(steps_for(variant, args)), "--no-progress")
    for setting in settings:
        command += ["--set", setting]
    return command


def trained_steps(run_dir: Path) -> int:
    """Steps in the run's latest checkpoint (0 when it has none)."""
    if not (run_dir / "checkpoints" / "latest").is_file():
        return 0
    from atomlm.training.checkpoint import load_model_from_run

    return load_model_from_run(run_dir)[1].get("steps", 0)


def recipe(variant: Variant, seed: int, args) -> dict:
    """What a run's row depends on (not where its files are): a stored row with the same recipe is
    reused. The preset's content (with what it extends) is part of it, so a row made before the preset
    changed is not."""
    from atomlm.training.config import load_config_dict

    preset_content = load_config_dict(args.preset)
    return {"preset": args.preset, "preset_content": preset_content, "steps": steps_for(variant, args), "seed": seed,
            "settings": [*args.set, *variant.settings], "tokenizer": variant.tokenizer_name,
            "data_path": str(args.data_path) if args.data_path else None}


def stored_row(path: Path, wanted: dict) -> dict | None:
    """The row at `path` when it was made with the `wanted` recipe, else None."""
    if not path.is_file():
        return None
    row = json.loads(path.read_text())
    return row if row.get("recipe") == wanted else None


def run_label(variant_name: str, seed: int) -> str:
    return f"{variant_name}-seed{seed}"


def row_path(variant: Variant, seed: int, args) -> Path:
    return args.rows / f"{run_label(variant.name, seed)}.json"


def study_runs(study: Study, args) -> list[tuple[Variant, int]]:
    """Every (variant, seed) of the study under --seeds, in study order."""
    return [(variant, seed) for variant in study.variants
            for seed in (args.seeds if variant.all_seeds else args.seeds[:1])]


def stored_results(study: Study, args) -> list[dict]:
    """The stored rows of the study's runs that match their recipe, in study order."""
    rows = (stored_row(row_path(variant, seed, args), recipe(variant, seed, args))
            for variant, seed in study_runs(study, args))
    return [row for row in rows if row is not None]


def run_variant(variant: Variant, seed: int, args, log: Path) -> dict:
    """Train, export and score one (variant, seed), each step skipped when already done; store
    and return its row."""
    out = args.out
    label = run_label(variant.name, seed)
    train_tokenizer(variant, out, log)
    run_dir, model_dir = out / "runs" / label, out / "models" / label
    arithmark, exact = out / "results" / f"{label}-arithmark.json", out / "results" / f"{label}-exact-match.json"
    command = train_command(variant, seed, run_dir, str(tokenizer_dir(variant, out)), args)
    if not model_dir.is_dir():
        if trained_steps(run_dir) < steps_for(variant, args):
            resume = ["--resume"] if (run_dir / "checkpoints" / "latest").is_file() else []
            run(command + resume, log)
        run(atomlm("export", "--checkpoint", str(run_dir), "--out", str(model_dir), "--overwrite"), log)
    data = ["--data-path", str(args.data_path)] if args.data_path else []
    if not arithmark.is_file():
        run(atomlm("eval", "arithmark", "--model", str(model_dir), "--output", str(arithmark), *data), log)
    if not exact.is_file():
        run(atomlm("eval", "exact-match", "--model", str(model_dir), "--output", str(exact), *data), log)
    scored, generated = json.loads(arithmark.read_text()), json.loads(exact.read_text())
    difficulty = scored["breakdowns"].get("difficulty", {})
    record = json.loads((model_dir / "training_record.json").read_text())
    row = {
        "variant": variant.name, "seed": seed, "command": shlex.join(["atomlm", *command[3:]]),
        "acc": scored["results"]["arithmark_2.0"]["acc"],
        **{level: difficulty[level]["acc"] for level in ("easy", "medium", "hard") if level in difficulty},
        "truncation_rows": scored.get("truncation_distractors", {}).get("truncation/all", {}).get("acc"),
        "other_rows": scored.get("truncation_distractors", {}).get("other/all", {}).get("acc"),
        "exact_match": generated["acc"],
        "train_minutes": record["wall_time_s"] / 60,
        "machine": machine(record),
        "recipe": recipe(variant, seed, args),
    }
    args.rows.mkdir(parents=True, exist_ok=True)
    row_path(variant, seed, args).write_text(json.dumps(row, indent=2) + "\n")
    return row


def machine(record: dict) -> str:
    """Where a run trained, from its training record: its minutes compare only with runs alike.
    A run resumed on other hardware names each machine's steps and speed."""
    from atomlm.training.run_processes import describe_hardware, describe_processes

    stretches = describe_processes(record.get("processes") or [])
    if len(stretches) > 1:
        return "; ".join(stretches)
    tokens_per_s = record["tokens_seen"] / record["wall_time_s"]
    return f"{describe_hardware(record.get('hardware', {}))}, {tokens_per_s / 1e3:.1f}k tokens/s"


COLUMNS = [("acc", "acc"), ("easy", "easy"), ("medium", "medium"), ("hard", "hard"),
           ("truncation_rows", "truncation rows"), ("other_rows", "other rows"), ("exact_match", "exact match"),
           ("train_minutes", "train min")]


def summarise(study: Study, results: list[dict]) -> list[dict]:
    """One row per variant: the mean over seeds and the spread (max - min) of acc."""
    rows = []
    for variant in study.variants:
        runs = [r for r in results if r["variant"] == variant.name]
        if not runs:
            continue
        row = {"variant": variant.name, "description": variant.description, "seeds": [r["seed"] for r in runs]}
        for key, _ in COLUMNS:
            values = [r[key] for r in runs if r.get(key) is not None]
            row[key] = mean(values) if values else None
        row["acc_spread"] = max(r["acc"] for r in runs) - min(r["acc"] for r in runs)
        rows.append(row)
    return rows


def markdown(study: Study, rows: list[dict], results: list[dict], args) -> str:
    lines = [f"{study.title}: {args.tokens / 1e6:.1f}M tokens per run from the `{args.preset}` preset, "
             f"seeds {args.seeds}; extra settings: {args.set or 'none'}. Train min: the run's training wall "
             "time on its machine (named beside its command below): minutes compare only between runs on "
             "machines alike.",
             "", "| variant | seeds | " + " | ".join(title for _, title in COLUMNS) + " | acc spread |",
             "|---|---|" + "---|" * len(COLUMNS) + "---|"]
    for row in rows:
        cells = ["-" if row[key] is None else f"{row[key]:.2f}" for key, _ in COLUMNS]
        lines.append(f"| {row['variant']} ({row['description']}) | {len(row['seeds'])} | " + " | ".join(cells)
                     + f" | {row['acc_spread']:.2f} |")
    commands = [f"# {run_label(r['variant'], r['seed'])}: {r.get('machine', 'machine not recorded')}\n{r['command']}"
                for r in results]
    lines += ["", "Commands (one per run):", "", "```"] + commands + ["```", ""]
    return "\n".join(lines)


def write_table(study: Study, args, folder: Path) -> Path:
    """The table, chart and results of every stored row into `folder`; returns the table's path."""
    results = stored_results(study, args)
    rows = summarise(study, results)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ablation_results.json").write_text(json.dumps({"runs": results, "summary": rows}, indent=2) + "\n")
    (folder / "ablation_table.md").write_text(markdown(study, rows, results, args))
    bar_chart(study, rows, folder / "ablation_table.png")
    return folder / "ablation_table.md"


def bar_chart(study: Study, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("acc", "all"), ("easy", "easy"), ("medium", "medium"), ("hard", "hard"), ("truncation_rows", "truncation")]
    figure, axis = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(keys)
    for offset, (key, label) in enumerate(keys):
        values = [row[key] or 0.0 for row in rows]
        axis.bar([i + offset * width for i in range(len(rows))], values, width, label=label)
    axis.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(rows))], [row["variant"] for row in rows])
    axis.set_ylabel("ArithMark 2.0-compatible acc (%)")
    axis.set_ylim(0, 112)  # the legend sits above the 100 line, clear of the bars
    axis.set_yticks(range(0, 101, 20))
    axis.legend(ncols=len(keys), fontsize=8, loc="upper center")
    axis.set_title(f"{study.title} (mean over seeds)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for tokenizers, runs, models and results")
    parser.add_argument("--study", default="features",
                        help="study file, or a shipped one in scripts/studies: features (default), recipes")
    parser.add_argument("--tokens", type=float, default=10e6, help="training tokens per run (default 10M)")
    parser.add_argument("--preset", default="cpu", help="training preset the runs start from (default cpu)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="seeds of the full model and the marker variant; the others use the first (default 0 1)")
    parser.add_argument("--only", nargs="+", default=None, metavar="VARIANT",
                        help="run only these variants of the study (the table also shows the others' stored rows)")
    parser.add_argument("--data-path", type=Path, default=None,
                        help="ArithMark file to score on (default: the shipped 2,500-row compatible set)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="extra config override for every run, e.g. --set optim.lr=3e-3 (repeatable)")
    parser.add_argument("--rows", type=Path, default=None,
                        help="folder for each finished run's row, reused by later invocations (default OUT/rows)")
    parser.add_argument("--commit", action="store_true", help="git-commit --rows after each finished run")
    args = parser.parse_args(argv)
    args.rows = args.rows or args.out / "rows"

    study = load_study(args.study)
    unknown = set(args.only or ()) - {v.name for v in study.variants}
    if unknown:
        parser.error(f"--only: {', '.join(sorted(unknown))} not in the study "
                     f"({', '.join(v.name for v in study.variants)})")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "ablation_log.txt"
    for variant, seed in study_runs(study, args):
        label, path = run_label(variant.name, seed), row_path(variant, seed, args)
        if args.only and variant.name not in args.only:
            continue
        if stored_row(path, recipe(variant, seed, args)) is not None:
            print(f"ablation_table: {label}: reusing {path}", flush=True)
            continue
        row = run_variant(variant, seed, args, log)
        write_table(study, args, args.rows)  # the committed folder always holds the whole table so far
        if args.commit and commit_folder(args.rows, f"{args.study} study: {label}, acc {row['acc']:.2f}"):
            print(f"ablation_table: committed {args.rows}", flush=True)
    print(write_table(study, args, args.out).read_text())  # every stored row, also of variants not in --only
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
