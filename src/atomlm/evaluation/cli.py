"""`atomlm eval` verbs: `arithmark` (the ArithMark runner) and `int-index` (leaderboard index)."""

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


def register(subparsers):
    """Add the `eval` verb with its `arithmark` and `int-index` sub-verbs."""
    from atomlm.evaluation.benchmark_fusion_arithmark import add_arguments

    parser = subparsers.add_parser("eval", help="evaluate a model (ArithMark, Int Index)")
    verbs = parser.add_subparsers(dest="eval_verb", metavar="EVAL_VERB")
    verbs.required = True

    arithmark = verbs.add_parser("arithmark", help="score ArithMark 2.0 / v1 / 3 (official protocol)")
    add_arguments(arithmark)
    arithmark.set_defaults(handler=_run_arithmark)

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
