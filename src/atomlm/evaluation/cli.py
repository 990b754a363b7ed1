"""`atomlm eval` verbs: `arithmark` (the ArithMark runner), `exact-match` (greedy generation) and
`int-index` (leaderboard index)."""

from __future__ import annotations

import sys


def _run_arithmark(args) -> int:
    from atomlm.evaluation.benchmark_fusion_arithmark import run_from_args

    return run_from_args(args)


def _run_int_index(args) -> int:
    from atomlm.evaluation.int_index import int_index, score_from_arithmark3, scores_from_lm_eval

    scores = scores_from_lm_eval(args.lm_eval_results) if args.lm_eval_results else {}
    if args.arithmark3_results:
        scores["arithmark3"] = score_from_arithmark3(args.arithmark3_results)
    for name in ("hellaswag", "arc_easy", "arc_challenge", "piqa", "arithmark3"):
        value = getattr(args, name)
        if value is not None:
            scores[name] = value
    missing = [n for n in ("hellaswag", "arc_easy", "arc_challenge", "piqa", "arithmark3") if n not in scores]
    if missing:
        print(f"error: missing scores for {', '.join(missing)} (give numbers or result files)", file=sys.stderr)
        return 2
    index = int_index(**scores)
    for name, value in scores.items():
        print(f"{name:>14}: {value:.2f}")
    print(f"{'Int Index':>14}: {index:.2f}")
    return 0


def _run_exact_match(args) -> int:
    import json

    from atomlm.evaluation.benchmark_fusion_arithmark import (
        default_data_path, load_model_and_tokenizer, read_arithmark_file,
    )
    from atomlm.evaluation.exact_match import exact_match

    data_path = args.data_path or default_data_path()
    _, rows = read_arithmark_file(data_path)
    model, tokenizer = load_model_and_tokenizer(args.model, device=args.device)
    result = exact_match(model, tokenizer, rows, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                         device=args.device, progress=True)
    print(f"greedy exact match: {result['acc']:.2f}% ({result['correct']}/{result['total']}) on {data_path}")
    for key, table in result["breakdowns"].items():
        for value, cell in table.items():
            print(f"{key:>16} {value:>8} | {cell['acc']:6.2f}% of {cell['total']}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"model": str(args.model), "dataset": str(data_path), **result}, indent=2))
    return 0


def register(subparsers):
    """Add the `eval` verb with its `arithmark` and `int-index` sub-verbs."""
    from atomlm.evaluation.benchmark_fusion_arithmark import add_arguments

    parser = subparsers.add_parser("eval", help="evaluate a model (ArithMark, Int Index)")
    verbs = parser.add_subparsers(dest="eval_verb", metavar="EVAL_VERB")
    verbs.required = True

    arithmark = verbs.add_parser("arithmark", help="score ArithMark 2.0 / v1 / 3 (official protocol)")
    add_arguments(arithmark)
    arithmark.set_defaults(handler=_run_arithmark)

    from pathlib import Path

    generation = verbs.add_parser("exact-match", help="greedy generation: does the model write the right answer?")
    generation.add_argument("--model", required=True, help="HF model directory or hub id")
    generation.add_argument("--data-path", type=Path, default=None, help="ArithMark file (default: the shipped set)")
    generation.add_argument("--batch-size", type=int, default=64)
    generation.add_argument("--max-new-tokens", type=int, default=12)
    generation.add_argument("--device", default="cpu")
    generation.add_argument("--output", type=Path, default=None, help="write the result JSON here")
    generation.set_defaults(handler=_run_exact_match)

    index = verbs.add_parser("int-index", help="Open SLM leaderboard Int Index from scores or result files")
    for name, label in (("hellaswag", "HellaSwag"), ("arc_easy", "ARC-Easy"), ("arc_challenge", "ARC-Challenge"),
                        ("piqa", "PIQA"), ("arithmark3", "ArithMark 3")):
        index.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, default=None,
                           help=f"{label} acc_norm in percent (overrides result files)")
    index.add_argument("--lm-eval-results", nargs="+", default=None, metavar="JSON",
                       help="lm-eval results JSON file(s) with hellaswag, arc_easy, arc_challenge, piqa")
    index.add_argument("--arithmark3-results", default=None, metavar="JSON",
                       help="`atomlm eval arithmark` output JSON on ArithMark 3")
    index.set_defaults(handler=_run_int_index)
