"""A generator of ArithMark 2.0-compatible rows (the real file cannot be downloaded here).

Every choice below is an assumption, documented in docs/evaluation.md: operand ranges, the share
of parenthesised problems, and the distractor rules are not published. The random stream is
namespaced (``arithmark-compat/<seed>``) so it never coincides with the training generator's,
whatever seed either is given.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

OPERATORS = ("+", "-", "*", "/")
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
TOPICS = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division"}
DIFFICULTY_OPERATORS = {"easy": 1, "medium": 2, "hard": 3}
# Share of problems written with parentheses, per difficulty (easy problems never need them).
PARENTHESES_SHARE = {"easy": 0.0, "medium": 0.4, "hard": 0.5}
MAX_ABS_ANSWER = 99_999
SHIPPED_SEED = 2024
SHIPPED_FILE = Path(__file__).resolve().parent / "data" / "arithmark_2.0_compat.jsonl"


def _random_operand(rng: random.Random, operator: str) -> int:
    """Operands for + and - have 1-3 digits; * and / use smaller ones (1-2 digits)."""
    digits = rng.choice((1, 2, 3)) if operator in "+-" else rng.choice((1, 2))
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def _evaluate(node):
    """Exact value of an expression tree; None when a division is not exact or divides by 0."""
    if isinstance(node, (int, Fraction)):
        return Fraction(node)
    operator, left, right = node
    a, b = _evaluate(left), _evaluate(right)
    if a is None or b is None:
        return None
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if b == 0 or (a / b).denominator != 1:
        return None
    return a / b


def _render(node, parent_precedence=0, right_side=False):
    """Text with single spaces around operators and only the parentheses the tree needs."""
    if isinstance(node, int):
        return str(node)
    operator, left, right = node
    precedence = PRECEDENCE[operator]
    text = f"{_render(left, precedence)} {operator} {_render(right, precedence, True)}"
    needs = precedence < parent_precedence or (right_side and precedence == parent_precedence)
    return f"({text})" if needs else text


def _tree_from_flat(operands, operators):
    """The tree that flat text `a op b op c ...` means: * and / first, then left to right."""
    terms, additive = [operands[0]], []
    for operator, operand in zip(operators, operands[1:]):
        if PRECEDENCE[operator] == 2:
            terms[-1] = (operator, terms[-1], operand)
        else:
            additive.append(operator)
            terms.append(operand)
    tree = terms[0]
    for operator, term in zip(additive, terms[1:]):
        tree = (operator, tree, term)
    return tree


def _precedence_errors(tree):
    """Values a solver gets by reading left to right, or by dropping the parentheses."""
    tokens = _render(tree).replace("(", "").replace(")", "").split()
    operands, operators = [int(t) for t in tokens[0::2]], tokens[1::2]
    left_to_right = operands[0]
    for operator, operand in zip(operators, operands[1:]):
        left_to_right = (operator, left_to_right, operand)
    values = [_evaluate(left_to_right), _evaluate(_tree_from_flat(operands, operators))]
    return [int(v) for v in values if v is not None and v.denominator == 1]


def _flat_tree(rng, operators):
    """A tree whose rendering needs no parentheses."""
    operands = [_random_operand(rng, operators[0])] + [_random_operand(rng, op) for op in operators]
    return _tree_from_flat(operands, operators)


def _make_divisions_exact(rng, node):
    """Rewrite each division by a literal so that it is exact: a literal dividend becomes
    quotient * divisor; otherwise the divisor becomes a divisor of the dividend's value."""
    if isinstance(node, int):
        return node
    operator, left, right = node
    left, right = _make_divisions_exact(rng, left), _make_divisions_exact(rng, right)
    if operator == "/" and isinstance(right, int):
        if isinstance(left, int):
            right = rng.randint(2, 99) if rng.random() < 0.5 else rng.randint(2, 12)
            left = right * rng.randint(0 if rng.random() < 0.05 else 1, 99)
        else:
            value = _evaluate(left)
            if value is not None and value.denominator == 1:
                divisors = [d for d in range(2, 100) if value % d == 0] or [1]
                right = rng.choice(divisors)
    return (operator, left, right)


def _parenthesised_tree(rng, operators):
    """Operators applied in a random order; the rendering then needs parentheses where the
    order differs from precedence (the caller rejects trees that end up without any)."""
    nodes = [_random_operand(rng, operators[0])] + [_random_operand(rng, op) for op in operators]
    pending = list(operators)
    while pending:
        i = rng.randrange(len(pending))
        nodes[i:i + 2] = [(pending[i], nodes[i], nodes[i + 1])]
        del pending[i]
    return nodes[0]


def _make_problem(rng, difficulty):
    count = DIFFICULTY_OPERATORS[difficulty]
    with_parentheses = rng.random() < PARENTHESES_SHARE[difficulty]
    while True:
        operators = [rng.choice(OPERATORS) for _ in range(count)]
        tree = _parenthesised_tree(rng, operators) if with_parentheses else _flat_tree(rng, operators)
        tree = _make_divisions_exact(rng, tree)
        text = _render(tree)
        if ("(" in text) != with_parentheses:
            continue
        value = _evaluate(tree)
        if value is None or value.denominator != 1 or abs(value) > MAX_ABS_ANSWER:
            continue
        return tree, text, int(value), operators


def _digit_slips(rng, answer):
    digits = list(str(abs(answer)))
    sign = "-" if answer < 0 else ""
    slips = []
    if len(digits) >= 2:
        i = rng.randrange(len(digits) - 1)
        swapped = digits[:]
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        slips.append(int(sign + "".join(swapped)))
    i = rng.randrange(len(digits))
    changed = digits[:]
    changed[i] = str((int(changed[i]) + rng.choice((1, 9))) % 10)
    if changed[0] != "0" or len(changed) == 1:
        slips.append(int(sign + "".join(changed)))
    return slips


def _distractors(rng, tree, answer):
    """Three distinct wrong integers: a precedence error when the problem has one, a digit
    slip, and near misses (off by 1, 2, 10 or 100; a dropped minus sign for negative answers)."""
    def usable(value, chosen):
        return value != answer and value not in chosen and abs(value) <= 10 * MAX_ABS_ANSWER

    chosen = []
    for pool in (_precedence_errors(tree), _digit_slips(rng, answer)):
        rng.shuffle(pool)
        for value in pool:
            if usable(value, chosen):
                chosen.append(value)
                break
    near = [answer + d for d in (1, -1, 2, -2, 10, -10, 100, -100)]
    rng.shuffle(near)
    if answer < 0:
        near.insert(0, -answer)
    for value in near:
        if len(chosen) == 3:
            break
        if usable(value, chosen):
            chosen.append(value)
    return chosen


def generate_arithmark(seed: int, n_easy: int = 1250, n_medium: int = 750, n_hard: int = 500) -> list[dict]:
    """Rows in the ArithMark 2.0 schema: ctx, four endings with a leading space, label (str), ind, metadata."""
    rng = random.Random(f"arithmark-compat/{seed}")
    rows = []
    for difficulty, count in (("easy", n_easy), ("medium", n_medium), ("hard", n_hard)):
        # Balanced answer positions: each label appears count/4 times (rounded), in random order.
        labels = [i % 4 for i in range(count)]
        rng.shuffle(labels)
        for label in labels:
            tree, text, answer, operators = _make_problem(rng, difficulty)
            wrong = _distractors(rng, tree, answer)
            options = wrong[:label] + [answer] + wrong[label:]
            rows.append({
                "ind": len(rows),
                "ctx": f"{text} =",
                "endings": [f" {value}" for value in options],
                "label": str(label),
                "metadata": {
                    "answer": answer,
                    "topic": TOPICS[operators[0]] if len(operators) == 1 else "mixed",
                    "difficulty": difficulty,
                    "operator_count": len(operators),
                    "has_parentheses": "(" in text,
                    "ascii_only": True,
                },
            })
    return rows


def write_jsonl(rows, path) -> Path:
    """Write rows one JSON object per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def _run(args) -> int:
    rows = generate_arithmark(args.seed, args.n_easy, args.n_medium, args.n_hard)
    path = write_jsonl(rows, args.out)
    print(f"wrote {len(rows)} ArithMark 2.0-compatible rows (seed {args.seed}) to {path}")
    return 0


def register_arithmark_command(data_subparsers):
    """Add `arithmark` under `atomlm data`: write a compatible ArithMark 2.0 file."""
    parser = data_subparsers.add_parser(
        "arithmark", help="generate an ArithMark 2.0-compatible benchmark file (2,500 rows by default)")
    parser.add_argument("--seed", type=int, default=SHIPPED_SEED,
                        help=f"random seed (default {SHIPPED_SEED}, which writes the shipped file)")
    parser.add_argument("--out", required=True, metavar="FILE", help="JSONL file to write")
    parser.add_argument("--n-easy", type=int, default=1250, metavar="N", help="one-operator rows (default 1250)")
    parser.add_argument("--n-medium", type=int, default=750, metavar="N", help="two-operator rows (default 750)")
    parser.add_argument("--n-hard", type=int, default=500, metavar="N", help="three-operator rows (default 500)")
    parser.set_defaults(handler=_run)
    return parser
