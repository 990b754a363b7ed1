"""A generator of ArithMark 2.0-compatible rows (the real file cannot be downloaded here).

Every choice below is an assumption, documented in docs/evaluation.md: operand ranges, the share
of parenthesised problems, and the distractor rules are not published. The random stream is
namespaced (``arithmark-compat/<seed>``) so it never coincides with the training generator's,
whatever seed either is given. Trees, text and exact values come from `atomlm.data.expressions`;
problems are written with `Bracketing.EQUAL_PRECEDENCE_RIGHT` (`8 - (5 + 1)`, but also
`8 + (5 + 1)`), so a problem's text reads back as exactly the tree it was drawn as.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from atomlm.data.expressions import BinaryOperation, Bracketing, Number, flat_expression, integer_value, render
from atomlm.modeling.arithmetic_features import BINARY_OPERATORS

TOPICS = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division"}
DIFFICULTY_OPERATORS = {"easy": 1, "medium": 2, "hard": 3}
# Share of problems written with parentheses, per difficulty (easy problems never need them).
PARENTHESES_SHARE = {"easy": 0.0, "medium": 0.4, "hard": 0.5}
SHIPPED_SEED = 2024
SHIPPED_FILE = Path(__file__).resolve().parent / "data" / "arithmark_2.0_compat.jsonl"


# Digit counts the generator accepts: exact divisions search the divisors up to 10**MAX_MUL_DIGITS.
MAX_ADD_DIGITS = 9
MAX_MUL_DIGITS = 4


@dataclass(frozen=True)
class OperandRanges:
    """How large a file's numbers are: digit counts (inclusive) of the operands of + and -, and of
    * and / (a divisor and an exact quotient of a literal dividend have at most `mul_digits[1]`
    digits), and the largest |answer|. The defaults are the shipped file's; other ranges write
    held-out files that test whether arithmetic generalises beyond them."""

    add_digits: tuple[int, int] = (1, 3)
    mul_digits: tuple[int, int] = (1, 2)
    max_abs_answer: int = 99_999

    def __post_init__(self):
        for flag, (low, high), most in (("--add-digits", self.add_digits, MAX_ADD_DIGITS),
                                        ("--mul-digits", self.mul_digits, MAX_MUL_DIGITS)):
            if not 1 <= low <= high <= most:
                raise ValueError(f"{flag}: expected digit counts 1 <= LOW <= HIGH <= {most}, got {low}-{high}")
        if self.max_abs_answer < 1:
            raise ValueError(f"--max-answer: expected at least 1, got {self.max_abs_answer}")

    @property
    def largest_divisor(self) -> int:
        return 10 ** self.mul_digits[1] - 1


SHIPPED_RANGES = OperandRanges()
# Draws per problem before ranges are refused as impossible (the shipped ranges need a few at most).
MAX_DRAWS = 10_000


def _random_operand(rng: random.Random, operator: str, ranges: OperandRanges) -> Number:
    """An operand whose digit count is drawn uniformly from the operator's range (shipped file:
    1-3 digits for + and -, 1-2 for * and /)."""
    low_digits, high_digits = ranges.add_digits if operator in "+-" else ranges.mul_digits
    digits = rng.choice(tuple(range(low_digits, high_digits + 1)))
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return Number(rng.randint(low, 10**digits - 1))


def _render(tree) -> str:
    """A problem's text: every equal-precedence right operand in brackets, as the shipped file has it."""
    return render(tree, Bracketing.EQUAL_PRECEDENCE_RIGHT)


def _precedence_errors(tree):
    """Values a solver gets by reading left to right, or by dropping the parentheses."""
    tokens = _render(tree).replace("(", "").replace(")", "").split()
    operands, operators = [Number(int(t)) for t in tokens[0::2]], tokens[1::2]
    left_to_right = operands[0]
    for operator, operand in zip(operators, operands[1:]):
        left_to_right = BinaryOperation(operator, left_to_right, operand)
    values = [integer_value(left_to_right), integer_value(flat_expression(operands, operators))]
    return [value for value in values if value is not None]


def _operands(rng, operators, ranges):
    """One operand more than operators; the first takes the first operator's range."""
    return [_random_operand(rng, operators[0], ranges)] + [_random_operand(rng, op, ranges) for op in operators]


def _flat_tree(rng, operators, ranges):
    """A tree whose rendering needs no parentheses."""
    return flat_expression(_operands(rng, operators, ranges), operators)


def _make_divisions_exact(rng, node, ranges):
    """Rewrite each division by a literal so that it is exact: a literal dividend becomes
    quotient * divisor (half the divisors small: at most 12); otherwise the divisor becomes a
    divisor of the dividend's value."""
    if isinstance(node, Number):
        return node
    left, right = _make_divisions_exact(rng, node.left, ranges), _make_divisions_exact(rng, node.right, ranges)
    largest = ranges.largest_divisor
    if node.operator == "/" and isinstance(right, Number):
        if isinstance(left, Number):
            right = Number(rng.randint(2, largest) if rng.random() < 0.5 else rng.randint(2, min(12, largest)))
            left = Number(right.value * rng.randint(0 if rng.random() < 0.05 else 1, largest))
        else:
            value = integer_value(left)
            if value is not None:
                divisors = [d for d in range(2, largest + 1) if value % d == 0] or [1]
                right = Number(rng.choice(divisors))
    return BinaryOperation(node.operator, left, right)


def _parenthesised_tree(rng, operators, ranges):
    """Operators applied in a random order; the rendering then needs parentheses where the
    order differs from precedence (the caller rejects trees that end up without any)."""
    nodes = _operands(rng, operators, ranges)
    pending = list(operators)
    while pending:
        i = rng.randrange(len(pending))
        nodes[i:i + 2] = [BinaryOperation(pending[i], nodes[i], nodes[i + 1])]
        del pending[i]
    return nodes[0]


def _make_problem(rng, difficulty, ranges):
    count = DIFFICULTY_OPERATORS[difficulty]
    with_parentheses = rng.random() < PARENTHESES_SHARE[difficulty]
    build = _parenthesised_tree if with_parentheses else _flat_tree
    for _ in range(MAX_DRAWS):
        operators = [rng.choice(BINARY_OPERATORS) for _ in range(count)]
        tree = _make_divisions_exact(rng, build(rng, operators, ranges), ranges)
        text = _render(tree)
        if ("(" in text) != with_parentheses:
            continue
        value = integer_value(tree)
        if value is None or abs(value) > ranges.max_abs_answer:
            continue
        return tree, text, value, operators
    raise ValueError(f"no {difficulty} problem{' with parentheses' if with_parentheses else ''} in {MAX_DRAWS:,} "
                     f"draws has |answer| <= {ranges.max_abs_answer:,} with operands of {ranges.add_digits[0]}-"
                     f"{ranges.add_digits[1]} digits for + and - and {ranges.mul_digits[0]}-{ranges.mul_digits[1]} "
                     f"for * and /: widen --max-answer or narrow the digit ranges")


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


def _distractors(rng, tree, answer, max_abs_answer):
    """Three distinct wrong integers: a precedence error when the problem has one, a digit
    slip, and near misses (off by 1, 2, 10 or 100; a dropped minus sign for negative answers)."""
    def usable(value, chosen):
        return value != answer and value not in chosen and abs(value) <= 10 * max_abs_answer

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


def _one_digit_changes(rng, answer):
    """Three distinct wrong integers that each differ from `answer` in one digit (distinct
    positions while there are enough; the sign kept, never a leading zero): a row that only
    a model with every digit right can score."""
    digits, sign = str(abs(answer)), -1 if answer < 0 else 1
    positions = list(range(len(digits)))
    rng.shuffle(positions)
    chosen = []
    while len(chosen) < 3:  # a 1-digit answer has 9 changes, longer ones more: this ends
        for i in positions:
            if len(chosen) == 3:
                break
            leading = i == 0 and len(digits) > 1
            replacement = rng.choice([d for d in "0123456789" if d != digits[i] and not (leading and d == "0")])
            value = sign * int(digits[:i] + replacement + digits[i + 1:])
            if value not in chosen and (value < 0) == (answer < 0):  # -2 -> -0 would drop the sign
                chosen.append(value)
    return chosen


# --distractors: the shipped file's mix (precedence errors, digit slips, near misses), or
# one-digit changes only.
DISTRACTOR_KINDS = ("mixed", "one-digit")


def generate_arithmark(seed: int, n_easy: int = 1250, n_medium: int = 750, n_hard: int = 500,
                       ranges: OperandRanges = SHIPPED_RANGES, distractors: str = "mixed") -> list[dict]:
    """Rows in the ArithMark 2.0 schema: ctx, four endings with a leading space, label (str), ind,
    metadata; numbers as `ranges` says (default: the shipped file's), wrong endings of the kind
    `distractors` names (`DISTRACTOR_KINDS`; default: the shipped file's mix)."""
    if distractors not in DISTRACTOR_KINDS:
        raise ValueError(f"distractors must be one of {', '.join(DISTRACTOR_KINDS)}, not {distractors!r}")
    rng = random.Random(f"arithmark-compat/{seed}")
    rows = []
    for difficulty, count in (("easy", n_easy), ("medium", n_medium), ("hard", n_hard)):
        # Balanced answer positions: each label appears count/4 times (rounded), in random order.
        labels = [i % 4 for i in range(count)]
        rng.shuffle(labels)
        for label in labels:
            tree, text, answer, operators = _make_problem(rng, difficulty, ranges)
            wrong = (_distractors(rng, tree, answer, ranges.max_abs_answer) if distractors == "mixed"
                     else _one_digit_changes(rng, answer))
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
