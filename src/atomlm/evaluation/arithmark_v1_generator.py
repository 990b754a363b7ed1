"""ArithMark v1-style rows: signed operands, 2-6 operands by stage, non-exact division.

The real `mathmark.jsonl` is not available here; these rows follow its published schema:
`id`, `stage` (1-5), `n_operands` (2-6), `expression` (e.g. `-3 - -5 =`), `options`
(4 numbers), `answer_index`, `answer`. Assumptions, all ours: stage k has k+1 operands; operand
magnitudes grow with the stage (1-2 digits at stage 1 up to 1-3 digits at stage 5); each operand
is negative with probability 0.3; operators are uniform over `+ - * /` with the usual
precedence and no parentheses; a division that is not exact makes the answer a decimal rounded
to 4 places (`0.3333`); divisions by zero are redrawn. Options are the answer and three distinct
near misses (+-1, +-2, +-10, sign flip), in a balanced random order. The random stream
(`arithmark-v1-compat/<seed>`) is shared with nothing else. Trees, text and exact values come
from `atomlm.data.expressions` (`Bracketing.MINIMAL`; the expressions have no brackets either way).
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

from atomlm.data.expressions import Bracketing, Number, evaluate, flat_expression, render
from atomlm.modeling.arithmetic_features import BINARY_OPERATORS

STAGE_DIGITS = {1: (1, 2), 2: (1, 2), 3: (1, 3), 4: (1, 3), 5: (1, 3)}


def format_number(value: Fraction) -> str:
    """Integers as integers, everything else rounded to 4 decimals."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(round(value, 4)):.4f}"
    return "0.0000" if text == "-0.0000" else text


def _distractors(answer: Fraction, rng: random.Random) -> list[str]:
    step = Fraction(1) if answer.denominator == 1 else Fraction(1, 10000)
    candidates = [answer + d * step for d in (1, -1, 2, -2)] + [answer + 10, answer - 10, -answer]
    rng.shuffle(candidates)
    chosen = []
    for candidate in candidates:
        text = format_number(candidate)
        if text != format_number(answer) and text not in chosen:
            chosen.append(text)
        if len(chosen) == 3:
            return chosen
    raise AssertionError("not enough distinct distractors")


def generate_arithmark_v1(seed: int = 0, rows_per_stage: int = 200) -> list[dict]:
    """Rows in the ArithMark v1 schema, `rows_per_stage` for each stage 1-5."""
    rng = random.Random(f"arithmark-v1-compat/{seed}")
    rows = []
    for stage in range(1, 6):
        low, high = STAGE_DIGITS[stage]
        for position in range(rows_per_stage):
            while True:
                operands = []
                for _ in range(stage + 1):
                    digits = rng.randint(low, high)
                    value = rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)
                    operands.append(-value if rng.random() < 0.3 else value)
                operators = [rng.choice(BINARY_OPERATORS) for _ in range(stage)]
                if any(op == "/" and operand == 0 for op, operand in zip(operators, operands[1:])):
                    continue
                break
            tree = flat_expression([Number(operand) for operand in operands], operators)
            answer = evaluate(tree)
            options = _distractors(answer, rng)
            answer_index = position % 4
            options.insert(answer_index, format_number(answer))
            rows.append({
                "id": len(rows), "stage": stage, "n_operands": stage + 1,
                "expression": render(tree, Bracketing.MINIMAL) + " =", "options": options,
                "answer_index": answer_index, "answer": format_number(answer),
            })
    rng.shuffle(rows)
    return rows


def write_arithmark_v1(path: str | Path, seed: int = 0, rows_per_stage: int = 200) -> Path:
    """Write v1-style rows as JSONL (options are numbers in the file, as in mathmark.jsonl)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for row in generate_arithmark_v1(seed, rows_per_stage):
            record = dict(row, options=[json.loads(option) for option in row["options"]],
                          answer=json.loads(row["answer"]))
            handle.write(json.dumps(record) + "\n")
    return path
