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
from pathlib import Path

from atomlm.data.expressions import BinaryOperation, Bracketing, Number, flat_expression, integer_value, render
from atomlm.modeling.arithmetic_features import BINARY_OPERATORS

TOPICS = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division"}
DIFFICULTY_OPERATORS = {"easy": 1, "medium": 2, "hard": 3}
# Share of problems written with parentheses, per difficulty (easy problems never need them).
PARENTHESES_SHARE = {"easy": 0.0, "medium": 0.4, "hard": 0.5}
MAX_ABS_ANSWER = 99_999
SHIPPED_SEED = 2024
SHIPPED_FILE = Path(__file__).resolve().parent / "data" / "arithmark_2.0_compat.jsonl"


def _random_operand(rng: random.Random, operator: str) -> Number:
    """Operands for + and - have 1-3 digits; * and / use smaller ones (1-2 digits)."""
    digits = rng.choice((1, 2, 3)) if operator in "+-" else rng.choice((1, 2))
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


def _flat_tree(rng, operators):
    """A tree whose rendering needs no parentheses."""
    operands = [_random_operand(rng, operators[0])] + [_random_operand(rng, op) for op in operators]
    return flat_expression(operands, operators)


def _make_divisions_exact(rng, node):
    """Rewrite each division by a literal so that it is exact: a literal dividend becomes
    quotient * divisor; otherwise the divisor becomes a divisor of the dividend's value."""
    if isinstance(node, Number):
        return node
    left, right = _make_divisions_exact(rng, node.left), _make_divisions_exact(rng, node.right)
    if node.operator == "/" and isinstance(right, Number):
        if isinstance(left, Number):
            right = Number(rng.randint(2, 99) if rng.random() < 0.5 else rng.randint(2, 12))
            left = Number(right.value * rng.randint(0 if rng.random() < 0.05 else 1, 99))
        else:
            value = integer_value(left)
            if value is not None:
                divisors = [d for d in range(2, 100) if value % d == 0] or [1]
                right = Number(rng.choice(divisors))
    return BinaryOperation(node.operator, left, right)


def _parenthesised_tree(rng, operators):
    """Operators applied in a random order; the rendering then needs parentheses where the
    order differs from precedence (the caller rejects trees that end up without any)."""
    nodes = [_random_operand(rng, operators[0])] + [_random_operand(rng, op) for op in operators]
    pending = list(operators)
    while pending:
        i = rng.randrange(len(pending))
        nodes[i:i + 2] = [BinaryOperation(pending[i], nodes[i], nodes[i + 1])]
        del pending[i]
    return nodes[0]


def _make_problem(rng, difficulty):
    count = DIFFICULTY_OPERATORS[difficulty]
    with_parentheses = rng.random() < PARENTHESES_SHARE[difficulty]
    while True:
        operators = [rng.choice(BINARY_OPERATORS) for _ in range(count)]
        tree = _parenthesised_tree(rng, operators) if with_parentheses else _flat_tree(rng, operators)
        tree = _make_divisions_exact(rng, tree)
        text = _render(tree)
        if ("(" in text) != with_parentheses:
            continue
        value = integer_value(tree)
        if value is None or abs(value) > MAX_ABS_ANSWER:
            continue
        return tree, text, value, operators


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
