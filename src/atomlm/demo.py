"""`atomlm demo`: score the shipped Atom on the shipped ArithMark 2.0-compatible set and show it working."""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = REPO_ROOT / "pretrained" / "atom2.7m"
# A smoke check that generation works end to end (cache, features, decoding of reversed digit
# runs): one to two operators, every operation, signs and parentheses. The accuracy figures are
# the scores above and `atomlm eval exact-match`, not this table.
DEMO_PROMPTS = ["12 + 34 =", "59 + 45 =", "907 - 958 =", "-12 * 11 =", "888 / 24 =", "(12 + -7) * 3 =",
                "345 + 678 =", "100 - 250 ="]
# The demo fails below this many right answers: a broken `generate` or an untrained model gets
# none, while a trained 2.7M model may still miss a hard one (the table shows which).
MIN_RIGHT_COMPLETIONS = 5


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="score the shipped model on ArithMark 2.0-compatible and show greedy completions",
        description="Score a model on an ArithMark file, then greedily complete a few equations. Exits 1 when a "
        "shown completion is wrong (generation is broken, or the model is not good enough for the smoke check).",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR,
                        help="exported model directory (default: pretrained/atom2.7m)")
    parser.add_argument("--data-path", type=Path, default=None,
                        help="ArithMark .jsonl to score (default: the ArithMark 2.0-compatible set shipped with atomlm)")
    parser.add_argument("--batch-size", type=int, default=64, help="items per scoring batch (default 64)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (there is none anyway when stderr is not a terminal)")
    parser.set_defaults(handler=run_demo)


def run_demo(args) -> int:
    from atomlm.errors import UserError
    from atomlm.evaluation.benchmark_fusion_arithmark import (
        ArithMarkFormatError, default_data_path, format_report, read_arithmark_file, score_arithmark,
    )
    from atomlm.generate import complete
    from atomlm.model_loading import load_model_and_tokenizer
    from atomlm.progress import progress_enabled

    if not (args.model / "config.json").is_file():
        raise UserError(
            f"no model at {args.model}: train and export one with `atomlm train --config cpu --out runs/cpu` "
            f"and `atomlm export --checkpoint runs/cpu --out {args.model}`"
        )
    data_path = args.data_path or default_data_path()
    try:
        _, rows = read_arithmark_file(data_path)
    except (ArithMarkFormatError, FileNotFoundError) as error:
        raise UserError(str(error)) from None
    model, tokenizer = load_model_and_tokenizer(args.model, use_fast_tokenizer=False)  # the ArithMark protocol
    started = time.perf_counter()
    result = score_arithmark(model, tokenizer, rows, batch_size=args.batch_size,
                             progress=progress_enabled(not args.no_progress))
    seconds = time.perf_counter() - started
    output = {
        "model": str(args.model), "params": sum(p.numel() for p in model.parameters()), "dataset": str(data_path),
        "results": {"arithmark_2.0": {k: result[k] for k in ("acc", "correct", "total")}},
        "acc_norm": result["acc_norm"], "breakdowns": result["breakdowns"],
    }
    print(f"\nArithMark 2.0-compatible set ({data_path.name}), scored in {seconds:.1f} s with the official protocol:")
    print(format_report(output))

    print("\nGreedy completions (exact integer arithmetic as reference):")
    print(f"{'prompt':>24} | {'model':>10} | {'true':>10} |")
    wrong = 0
    for prompt in DEMO_PROMPTS:
        answer = _exact_answer(prompt)
        completion = complete(model, tokenizer, prompt, max_new_tokens=12, do_sample=False).strip().split()[:1]
        completion = completion[0][:10] if completion else ""
        correct = completion == str(answer)
        wrong += not correct
        print(f"{prompt:>24} | {completion:>10} | {answer:>10} | {'ok' if correct else 'WRONG'}")
    right = len(DEMO_PROMPTS) - wrong
    if right < MIN_RIGHT_COMPLETIONS:
        print(f"atomlm demo: {wrong} of {len(DEMO_PROMPTS)} greedy completions are wrong (at least "
              f"{MIN_RIGHT_COMPLETIONS} must be right)", file=sys.stderr)
        return 1
    return 0


def _exact_answer(prompt: str) -> int | float:
    """Exact value of an ArithMark-style prompt (`... =`); a float only if a division leaves a remainder."""
    from atomlm.data.expressions import evaluate, parse

    value = evaluate(parse(prompt.rstrip("= ")))
    return int(value) if value.denominator == 1 else float(value)
