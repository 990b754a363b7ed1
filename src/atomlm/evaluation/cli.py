"""`atomlm eval` verbs: `arithmark` (the ArithMark runner), `exact-match` (greedy generation) and
`int-index` (leaderboard index); and the benchmark-file writers `atomlm data arithmark` and
`atomlm data arithmark-v1`, whose generators live in this package.

Only argument parsers are built here: the generators and runners are imported by the handlers,
so that building the CLI imports no torch (the generators reach it through the model's operator list)."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

INDEX_SCORES = (("hellaswag", "HellaSwag"), ("arc_easy", "ARC-Easy"), ("arc_challenge", "ARC-Challenge"),
                ("piqa", "PIQA"), ("arithmark3", "ArithMark 3"))


@contextmanager
def _file_errors_as_user_errors():
    """The standalone runner's own errors (it cannot import atomlm) as atomlm's one-line UserError."""
    from atomlm.errors import UserError
    from atomlm.evaluation.benchmark_fusion_arithmark import ArithMarkFormatError

    try:
        yield
    except (ArithMarkFormatError, OSError) as error:
        raise UserError(_describe(error)) from None


def _describe(error: Exception) -> str:
    """The message, led by the file name: `out/x.json: Permission denied` rather than `[Errno 13] ...`."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def _warner(args):
    """Print a data warning as `atomlm eval VERB: warning: MESSAGE`, the error lines' twin."""
    from atomlm.cli import command_name

    return lambda message: print(f"{command_name(args)}: warning: {message}", file=sys.stderr)


def _run_arithmark(args) -> int:
    from functools import partial

    from atomlm.evaluation.benchmark_fusion_arithmark import run_and_report
    from atomlm.model_loading import load_model_and_tokenizer

    # The ArithMark protocol asks for the slow tokenizer.
    load_model = partial(load_model_and_tokenizer, use_fast_tokenizer=False)
    with _file_errors_as_user_errors():
        run_and_report(args, warn=_warner(args), load_model=load_model, add_findings=_add_truncation_accuracy)
    return 0


def _add_truncation_accuracy(output: dict) -> None:
    """Accuracy on rows whose distractors include the answer with leading digits dropped (see distractors.py)."""
    from atomlm.evaluation.benchmark_fusion_arithmark import load_arithmark_rows
    from atomlm.evaluation.distractors import truncation_accuracy

    rows = load_arithmark_rows(output["dataset"])
    table = truncation_accuracy(rows, output["predictions"])
    output["truncation_distractors"] = table
    if "truncation/all" in table:
        cell, other = table["truncation/all"], table["other/all"]
        print(f"rows with a truncation distractor (17 -> 7): acc {cell['acc']:.2f}% of {cell['total']}; "
              f"other rows {other['acc']:.2f}% of {other['total']}")


def _run_exact_match(args) -> int:
    import json

    from atomlm.errors import UserError
    from atomlm.evaluation.benchmark_fusion_arithmark import default_data_path, read_arithmark_file
    from atomlm.evaluation.exact_match import exact_match
    from atomlm.model_loading import load_model_and_tokenizer
    from atomlm.progress import progress_enabled

    data_path = args.data_path or default_data_path()
    if data_path is None:
        raise UserError("no --data-path given and the shipped ArithMark file is missing from the package")
    with _file_errors_as_user_errors():
        _, rows = read_arithmark_file(data_path, strict=args.strict, warn=_warner(args))
    model, tokenizer = load_model_and_tokenizer(args.model, device=args.device, use_fast_tokenizer=False)
    result = exact_match(model, tokenizer, rows, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                         device=args.device, progress=progress_enabled(not args.no_progress))
    print(f"greedy exact match: {result['acc']:.2f}% ({result['correct']}/{result['total']}) on {data_path}")
    for key, table in result["breakdowns"].items():
        for value, cell in table.items():
            print(f"{key:>16} {value:>8} | {cell['acc']:6.2f}% of {cell['total']}")
    if args.output:
        with _file_errors_as_user_errors():
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps({"model": str(args.model), "dataset": str(data_path), **result},
                                              indent=2))
    return 0


def _run_int_index(args) -> int:
    from atomlm.errors import UserError
    from atomlm.evaluation.int_index import int_index, score_from_arithmark3, scores_from_lm_eval

    try:
        scores = scores_from_lm_eval(args.lm_eval_results) if args.lm_eval_results else {}
        if args.arithmark3_results:
            scores["arithmark3"] = score_from_arithmark3(args.arithmark3_results)
    except (OSError, ValueError) as error:  # int_index's ValueErrors name the file
        raise UserError(_describe(error)) from None
    for name, _label in INDEX_SCORES:
        value = getattr(args, name)
        if value is not None:
            scores[name] = value
    missing = [name for name, _label in INDEX_SCORES if name not in scores]
    if missing:
        raise UserError(f"missing scores for {', '.join(missing)} (give numbers or result files)")
    index = int_index(**scores)
    for name, value in scores.items():
        print(f"{name:>14}: {value:.2f}")
    print(f"{'Int Index':>14}: {index:.2f}")
    return 0


def register(subparsers):
    """Add the `eval` verb with its `arithmark`, `exact-match` and `int-index` sub-verbs."""
    from atomlm.evaluation.benchmark_fusion_arithmark import add_arguments, positive_int

    parser = subparsers.add_parser("eval", help="evaluate a model (ArithMark, greedy exact match, Int Index)")
    verbs = parser.add_subparsers(dest="eval_verb", metavar="EVAL_VERB",
                                  help="which evaluation; `atomlm eval EVAL_VERB --help` lists its flags")
    verbs.required = True

    arithmark = verbs.add_parser("arithmark", help="score ArithMark 2.0 / v1 / 3 (official protocol)")
    add_arguments(arithmark)
    arithmark.set_defaults(handler=_run_arithmark)

    generation = verbs.add_parser("exact-match", help="greedy generation: does the model write the right answer?")
    generation.add_argument("--model", required=True,
                            help="exported model directory (atomlm export --out) or Hugging Face hub id")
    generation.add_argument("--data-path", type=Path, default=None, metavar="FILE",
                            help="ArithMark 2.0, v1 or 3 .jsonl file (default: atomlm's ArithMark 2.0-compatible set)")
    generation.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                            help="prompts generated together, left-padded (default 64)")
    generation.add_argument("--max-new-tokens", type=positive_int, default=12, metavar="N",
                            help="tokens generated per prompt; the answer is the first number in them (default 12)")
    generation.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    generation.add_argument("--strict", action="store_true",
                            help="fail on rows whose metadata.answer is not the labelled ending or whose endings "
                            "repeat (default: evaluate them and print a warning)")
    generation.add_argument("--no-progress", action="store_true",
                            help="no progress bar (there is none anyway when stderr is not a terminal)")
    generation.add_argument("--output", type=Path, default=None, metavar="FILE",
                            help="also write the result JSON (with every completion) here")
    generation.set_defaults(handler=_run_exact_match)

    index = verbs.add_parser("int-index", help="Open SLM leaderboard Int Index from scores or result files")
    for name, label in INDEX_SCORES:
        index.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, default=None,
                           help=f"{label} acc_norm in percent (overrides result files)")
    index.add_argument("--lm-eval-results", nargs="+", default=None, metavar="JSON",
                       help="lm-eval results JSON file(s) with hellaswag, arc_easy, arc_challenge, piqa")
    index.add_argument("--arithmark3-results", default=None, metavar="JSON",
                       help="`atomlm eval arithmark` output JSON on ArithMark 3")
    index.set_defaults(handler=_run_int_index)


def _write_arithmark(args) -> int:
    from atomlm.errors import UserError
    from atomlm.evaluation.arithmark_generator import SHIPPED_SEED, OperandRanges, generate_arithmark, write_jsonl

    seed = SHIPPED_SEED if args.seed is None else args.seed
    try:  # digit counts out of range, or ranges whose problems (almost) never fit --max-answer
        ranges = OperandRanges(args.add_digits, args.mul_digits, args.max_answer)
        rows = generate_arithmark(seed, args.n_easy, args.n_medium, args.n_hard, ranges, args.distractors)
    except ValueError as error:
        raise UserError(str(error)) from None
    path = write_jsonl(rows, args.out)
    print(f"wrote {len(rows)} ArithMark 2.0-compatible rows (seed {seed}; + and - operands of "
          f"{ranges.add_digits[0]}-{ranges.add_digits[1]} digits, * and / {ranges.mul_digits[0]}-"
          f"{ranges.mul_digits[1]}, |answer| <= {ranges.max_abs_answer:,}; {args.distractors} distractors) to {path}")
    return 0


def digit_range(text: str) -> tuple[int, int]:
    """argparse type for --add-digits/--mul-digits: `LOW-HIGH`, or one count `N` (= `N-N`); the
    generator's `OperandRanges` checks the counts."""
    low_text, _, high_text = text.partition("-")
    try:
        return int(low_text), int(high_text or low_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH digit counts such as 1-3, got {text!r}") from None


def _write_arithmark_v1(args) -> int:
    from atomlm.evaluation.arithmark_v1_generator import write_arithmark_v1

    path = write_arithmark_v1(args.out, args.seed, args.rows_per_stage)
    print(f"wrote {5 * args.rows_per_stage} ArithMark v1-style rows to {path}")
    return 0


def register_generator_commands(data_subparsers) -> None:
    """Add `arithmark` and `arithmark-v1` under `atomlm data`: write benchmark files."""
    from atomlm.evaluation.benchmark_fusion_arithmark import positive_int

    parser = data_subparsers.add_parser(
        "arithmark", help="generate an ArithMark 2.0-compatible benchmark file (2,500 rows by default)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: the shipped file's seed, which writes that file again)")
    parser.add_argument("--out", required=True, metavar="FILE", help="JSONL file to write")
    parser.add_argument("--n-easy", type=int, default=1250, metavar="N", help="one-operator rows (default 1250)")
    parser.add_argument("--n-medium", type=int, default=750, metavar="N", help="two-operator rows (default 750)")
    parser.add_argument("--n-hard", type=int, default=500, metavar="N", help="three-operator rows (default 500)")
    parser.add_argument("--add-digits", type=digit_range, default=(1, 3), metavar="LOW-HIGH",
                        help="digit counts of the operands of + and - (default 1-3, the shipped file's; at most 9)")
    parser.add_argument("--mul-digits", type=digit_range, default=(1, 2), metavar="LOW-HIGH",
                        help="digit counts of the operands of * and /, and of divisors and exact quotients "
                             "(default 1-2, the shipped file's; at most 4)")
    parser.add_argument("--max-answer", type=positive_int, default=99_999, metavar="N",
                        help="largest |answer| (default 99999, the shipped file's); problems beyond it are drawn again")
    # Checked by the generator (its DISTRACTOR_KINDS), which the parser does not import: it imports torch.
    parser.add_argument("--distractors", default="mixed", metavar="KIND",
                        help="the wrong endings: the shipped file's mix of precedence errors, digit slips and near "
                             "misses (mixed, the default), or three one-digit changes of the answer (one-digit)")
    parser.set_defaults(handler=_write_arithmark)

    parser = data_subparsers.add_parser("arithmark-v1", help="generate ArithMark v1-style rows (signed operands, decimals)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--rows-per-stage", type=int, default=200, metavar="N",
                        help="rows for each of stages 1-5 (default 200)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="JSONL file to write")
    parser.set_defaults(handler=_write_arithmark_v1)
