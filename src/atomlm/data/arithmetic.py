"""Synthetic-Arithmetic: canonical integer equations with exact results.

An equation is written the way ArithMark writes it, most-significant digit first (the tokenizer
reverses digit runs, not this module): single spaces between operands and operators, unary minus
attached to its number, `=` then the exact integer result, e.g. `(12 + -7) * 3 = 15`.
Division is always exact, so every result is an integer.

Difficulty is a `StageSpec`; `STAGES` is the schedule a curriculum walks through:

| stage | operators | operand digits | ops (+ - * /) weights | parens | negatives | what it teaches |
|---|---|---|---|---|---|---|
| 1 | 1 | 1-2 | 1 1 1 1 | 0 | 0 | single operations on small numbers |
| 2 | 1 | 1-3 | 1 1 1 1 | 0 | 0.15 | all four operations, 3-digit operands, signs |
| 3 | 1-2 | 1-3 | 1 1 1 1 | 0.3 | 0.2 | precedence and parentheses |
| 4 | 1-3 | 1-4 | 1 1 1 1 | 0.4 | 0.25 | the ArithMark band: up to three operators |
| 5 | 2-4 | 1-6 | 1 1 1 1 | 0.5 | 0.25 | longer chains, longer operands |
| 6 | 1-5 | 1-10 | 1 1 1 1 | 0.5 | 0.3 | long operands, up to five operators |

Multiplication operands are capped (`max_mul_digits`) and results longer than `max_result_digits`
are redrawn, so long equations stay readable for a 512-token context. Trees, text and values come
from `atomlm.data.expressions`, written with `Bracketing.MINIMAL`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterator

from atomlm.data.expressions import BinaryOperation, Bracketing, Expression, Number, has_brackets, integer_value, render
from atomlm.modeling.arithmetic_features import BINARY_OPERATORS


@dataclass(frozen=True)
class StageSpec:
    """One difficulty level of the generator.

    `operator_counts` are drawn uniformly; operand lengths are drawn uniformly in
    [`min_digits`, `max_digits`], then a value uniformly among numbers of that length.
    `paren_rate` is the probability that an equation with two or more operators is drawn with a
    shape that needs parentheses; `negative_rate` the probability that an operand is negative.
    """

    name: str
    operator_counts: tuple[int, ...]
    min_digits: int
    max_digits: int
    operator_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    paren_rate: float = 0.0
    negative_rate: float = 0.0
    max_mul_digits: int = 4
    max_result_digits: int = 24

    def __post_init__(self):
        if not self.operator_counts or min(self.operator_counts) < 1:
            raise ValueError(f"stage {self.name!r}: operator_counts must be >= 1, got {self.operator_counts}")
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(f"stage {self.name!r}: need 1 <= min_digits <= max_digits")
        if len(self.operator_weights) != 4 or min(self.operator_weights) < 0 or sum(self.operator_weights) <= 0:
            raise ValueError(f"stage {self.name!r}: operator_weights must be 4 non-negative numbers (+ - * /)")
        for rate_name in ("paren_rate", "negative_rate"):
            if not 0.0 <= getattr(self, rate_name) <= 1.0:
                raise ValueError(f"stage {self.name!r}: {rate_name} must be in [0, 1]")


STAGES: dict[int, StageSpec] = {
    1: StageSpec("1-single-small", (1,), 1, 2),
    2: StageSpec("2-single-signed", (1,), 1, 3, negative_rate=0.15),
    3: StageSpec("3-two-ops-precedence", (1, 2), 1, 3, paren_rate=0.3, negative_rate=0.2),
    4: StageSpec("4-arithmark-band", (1, 2, 3), 1, 4, paren_rate=0.4, negative_rate=0.25),
    5: StageSpec("5-long-chains", (2, 3, 4), 1, 6, paren_rate=0.5, negative_rate=0.25, max_mul_digits=5),
    6: StageSpec("6-long-operands", (1, 2, 3, 4, 5), 1, 10, paren_rate=0.5, negative_rate=0.3,
                 max_mul_digits=6, max_result_digits=30),
}


@dataclass(frozen=True)
class Equation:
    """One generated equation: `text` is the full line, `expression` the left-hand side."""

    text: str
    result: int
    expression: str
    operator_count: int
    has_parentheses: bool
    stage: str = field(default="")

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "result": self.result,
            "expression": self.expression,
            "operator_count": self.operator_count,
            "has_parentheses": self.has_parentheses,
            "stage": self.stage,
        }


class _Redraw(Exception):
    """Raised inside generation when a draw cannot be made exact; the equation is redrawn."""


def resolve_stage(stage: int | StageSpec) -> StageSpec:
    """Map a stage number (1..6) to its `StageSpec`; pass a `StageSpec` through."""
    if isinstance(stage, StageSpec):
        return stage
    if isinstance(stage, bool) or not isinstance(stage, int) or stage not in STAGES:
        raise ValueError(f"unknown arithmetic stage {stage!r}; choose one of {sorted(STAGES)}")
    return STAGES[stage]


class ArithmeticGenerator:
    """Deterministic stream of correct integer equations for one seed and difficulty stage.

    >>> gen = ArithmeticGenerator(seed=0, stage=1)
    >>> eq = gen.equation()   # Equation(text='...', result=..., ...)
    """

    def __init__(self, seed: int, stage: int | StageSpec = 4):
        self.spec = resolve_stage(stage)
        # Our own Random instance: equations depend only on (seed, stage), never on global state.
        self._rng = random.Random(seed)

    def __iter__(self) -> Iterator[Equation]:
        while True:
            yield self.equation()

    def take(self, count: int) -> list[Equation]:
        """The next `count` equations as a list."""
        return [self.equation() for _ in range(count)]

    def equation(self) -> Equation:
        """Draw the next equation (redrawing internally until it is exact and within limits)."""
        spec = self.spec
        rng = self._rng
        while True:
            operator_count = rng.choice(spec.operator_counts)
            want_parens = operator_count >= 2 and rng.random() < spec.paren_rate
            try:
                shape = self._tree_shape(operator_count)
                # Parenthesis need depends only on shape + operators: fix it before drawing numbers.
                for _ in range(20):
                    shape = self._with_operators(shape)
                    if has_brackets(shape, Bracketing.MINIMAL) == want_parens:
                        break
                tree = self._realize(shape)
            except _Redraw:
                continue
            result = integer_value(tree)
            if len(str(abs(result))) > spec.max_result_digits:
                continue
            expression = render(tree, Bracketing.MINIMAL)
            return Equation(
                text=f"{expression} = {result}",
                result=result,
                expression=expression,
                operator_count=operator_count,
                has_parentheses="(" in expression,
                stage=spec.name,
            )

    # -- drawing -------------------------------------------------------------------------------

    # A shape is an expression whose numbers (0) and operators (+) are placeholders: the draws
    # below replace them in a fixed order (shape, then operators, then numbers), which is what
    # keeps a seed's equations the same.

    def _tree_shape(self, operator_count: int) -> Expression:
        if operator_count == 0:
            return Number(0)
        left_count = self._rng.randrange(operator_count)
        return BinaryOperation("+", self._tree_shape(left_count), self._tree_shape(operator_count - 1 - left_count))

    def _with_operators(self, shape: Expression) -> Expression:
        """`shape` with freshly drawn operators (pre-order: this node, then left, then right)."""
        if isinstance(shape, Number):
            return shape
        symbol = self._rng.choices(BINARY_OPERATORS, weights=self.spec.operator_weights)[0]
        return BinaryOperation(symbol, self._with_operators(shape.left), self._with_operators(shape.right))

    def _number(self, max_digits: int | None = None, allow_zero: bool = True) -> int:
        spec, rng = self.spec, self._rng
        high = spec.max_digits if max_digits is None else max(spec.min_digits, min(spec.max_digits, max_digits))
        digits = rng.randint(spec.min_digits, high)
        low = 0 if digits == 1 else 10 ** (digits - 1)
        if not allow_zero:
            low = max(low, 1)
        value = rng.randint(low, 10**digits - 1)
        if value and rng.random() < spec.negative_rate:
            value = -value
        return value

    def _realize(self, shape: Expression, max_digits: int | None = None) -> Expression:
        """`shape` with its numbers drawn, bottom-up, every division exact."""
        if isinstance(shape, Number):
            return Number(self._number(max_digits))
        if shape.operator == "/":
            return self._realize_division(shape)
        cap = self.spec.max_mul_digits if shape.operator == "*" else max_digits
        left = self._realize(shape.left, cap)
        return BinaryOperation(shape.operator, left, self._realize(shape.right, cap))

    def _realize_division(self, shape: BinaryOperation) -> Expression:
        cap = self.spec.max_mul_digits
        # The divisor is drawn first: the dividend is then built (or checked) to be a multiple.
        if isinstance(shape.right, Number):
            right = Number(self._number(cap, allow_zero=False))
        else:
            right = self._realize(shape.right, cap)
        divisor = integer_value(right)
        if divisor == 0:
            raise _Redraw
        if isinstance(shape.left, Number):
            # Draw the quotient and build the dividend from it: `a / b = q` is exact by design.
            quotient = self._number(cap)
            return BinaryOperation("/", Number(quotient * divisor), right)
        left = self._realize(shape.left, cap)
        dividend = integer_value(left)
        if dividend % divisor == 0:
            return BinaryOperation("/", left, right)
        if isinstance(shape.right, Number):
            # Replace the divisor with a small divisor of the dividend, keeping its sign choice.
            candidates = [d for d in range(2, min(abs(dividend), 99) + 1) if dividend % d == 0]
            if candidates:
                sign = -1 if divisor < 0 else 1
                return BinaryOperation("/", left, Number(sign * self._rng.choice(candidates)))
        raise _Redraw


def equations_text_stream(seed: int, stages: list[int] | tuple[int, ...]) -> Iterator[str]:
    """Endless stream of equation lines, mixing `stages` uniformly (one generator per stage)."""
    rng = random.Random(seed)
    generators = [ArithmeticGenerator(seed * 1000 + index, stage) for index, stage in enumerate(stages)]
    while True:
        yield rng.choice(generators).equation().text
