"""Arithmetic expressions: the one tree, renderer, exact evaluator and parser in atomlm.

Everything that writes or reads an equation goes through here: Synthetic-Arithmetic training
data (`atomlm.data.arithmetic`), the ArithMark 2.0-compatible and v1-style benchmark generators
(`atomlm.evaluation`), and the demo's reference answers.

A tree is a `Number` (an integer; a negative one is written with its minus attached, `-7`) or a
`BinaryOperation` over `BINARY_OPERATORS` (`+ - * /`, the model's own symbol list). The text is
ArithMark's: single spaces around binary operators, none inside brackets, `(12 + -7) * 3`.
`*` and `/` bind tighter than `+` and `-`; operators of equal precedence group from the left.

Where brackets go is a choice, `Bracketing`, because the generators write different texts for
the same tree and their outputs (the shipped benchmark file among them) must not change.
"""

from __future__ import annotations

import enum
import operator
import re
from dataclasses import dataclass
from fractions import Fraction

from atomlm.modeling.arithmetic_features import BINARY_OPERATORS, DIGITS

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@dataclass(frozen=True, slots=True)
class Number:
    """An integer leaf; negative values are written `-7`, the minus attached."""

    value: int


@dataclass(frozen=True, slots=True)
class BinaryOperation:
    """`left operator right`, with `operator` one of `BINARY_OPERATORS`."""

    operator: str
    left: Expression
    right: Expression


Expression = Number | BinaryOperation


class Bracketing(enum.Enum):
    """Which sub-expressions `render` puts in brackets.

    Both bracket a child of lower precedence than its parent (`(a + b) * c`) and neither brackets
    a left child of equal precedence (`a - b - c` is `(a - b) - c`). They differ on a right child
    of equal precedence:

    MINIMAL brackets it only under `-` and `/`, where dropping the brackets changes the value
    (`a - (b + c)`, `a / (b * c)`); `a + (b - c)` is written `a + b - c` and `a * (b / c)` is
    written `a * b / c`, texts that parse to a different tree with the same value. Synthetic-
    Arithmetic uses it.

    EQUAL_PRECEDENCE_RIGHT always brackets it (`a + (b - c)`), so the text parses back to exactly
    the tree it was written from. The ArithMark 2.0-compatible generator uses it.
    """

    MINIMAL = "minimal"
    EQUAL_PRECEDENCE_RIGHT = "equal-precedence-right"


def _brackets_right_child(parent_operator: str, child: Expression, bracketing: Bracketing) -> bool:
    if isinstance(child, Number):
        return False
    parent, own = PRECEDENCE[parent_operator], PRECEDENCE[child.operator]
    if own != parent:
        return own < parent
    return bracketing is Bracketing.EQUAL_PRECEDENCE_RIGHT or parent_operator in "-/"


def _brackets_left_child(parent_operator: str, child: Expression) -> bool:
    return isinstance(child, BinaryOperation) and PRECEDENCE[child.operator] < PRECEDENCE[parent_operator]


def render(expression: Expression, bracketing: Bracketing) -> str:
    """The expression as text, with brackets placed by `bracketing`."""
    if isinstance(expression, Number):
        return str(expression.value)
    left = render(expression.left, bracketing)
    right = render(expression.right, bracketing)
    if _brackets_left_child(expression.operator, expression.left):
        left = f"({left})"
    if _brackets_right_child(expression.operator, expression.right, bracketing):
        right = f"({right})"
    return f"{left} {expression.operator} {right}"


def has_brackets(expression: Expression, bracketing: Bracketing) -> bool:
    """Whether `render` writes any bracket. Depends on the operators only, not on the numbers,
    so a generator can settle it before drawing them."""
    if isinstance(expression, Number):
        return False
    return (
        _brackets_left_child(expression.operator, expression.left)
        or _brackets_right_child(expression.operator, expression.right, bracketing)
        or has_brackets(expression.left, bracketing)
        or has_brackets(expression.right, bracketing)
    )


def evaluate(expression: Expression) -> Fraction:
    """The exact value (`7 / 2` is 7/2). Raises ZeroDivisionError on a division by zero."""
    if isinstance(expression, Number):
        return Fraction(expression.value)
    return _ARITHMETIC[expression.operator](evaluate(expression.left), evaluate(expression.right))


def integer_value(expression: Expression) -> int | None:
    """The value when every division divides evenly (and never by zero), else None.

    This is what "division is always exact" means for the integer generators: each step, not just
    the result, so `(7 / 2) * 2` has no integer value although it evaluates to 7.
    """
    if isinstance(expression, Number):
        return expression.value
    left, right = integer_value(expression.left), integer_value(expression.right)
    if left is None or right is None:
        return None
    if expression.operator == "/":
        return None if right == 0 or left % right else left // right
    return _ARITHMETIC[expression.operator](left, right)


def flat_expression(operands: list[Expression], operators: list[str]) -> Expression:
    """The tree that `operands[0] operators[0] operands[1] ...` written without brackets means:
    `*` and `/` first, then `+` and `-`, each from left to right."""
    terms, additive = [operands[0]], []
    for symbol, operand in zip(operators, operands[1:]):
        if PRECEDENCE[symbol] == 2:
            terms[-1] = BinaryOperation(symbol, terms[-1], operand)
        else:
            additive.append(symbol)
            terms.append(operand)
    tree = terms[0]
    for symbol, term in zip(additive, terms[1:]):
        tree = BinaryOperation(symbol, tree, term)
    return tree


_TOKEN = re.compile(r"[0-9]+|\S")  # a run of digits, or any other single character


def parse(text: str) -> Expression:
    """The tree that `text` means, for text `render` writes with either bracketing (any spacing
    between tokens). A `-` where a number is expected must be attached to it (`-7`).
    Raises ValueError on anything else."""
    tokens = [(match.group(), match.start()) for match in _TOKEN.finditer(text)]
    expression, index = _parse_sequence(text, tokens, 0)
    if index != len(tokens):
        token, start = tokens[index]
        raise ValueError(f"unexpected {token!r} at offset {start} in {text!r}")
    return expression


def _parse_sequence(text: str, tokens: list[tuple[str, int]], index: int) -> tuple[Expression, int]:
    """Operands joined by binary operators, up to a closing bracket or the end."""
    operands, operators = [], []
    while True:
        operand, index = _parse_operand(text, tokens, index)
        operands.append(operand)
        if index < len(tokens) and tokens[index][0] in BINARY_OPERATORS:
            operators.append(tokens[index][0])
            index += 1
        else:
            return flat_expression(operands, operators), index


def _parse_operand(text: str, tokens: list[tuple[str, int]], index: int) -> tuple[Expression, int]:
    if index == len(tokens):
        raise ValueError(f"a number is missing at the end of {text!r}")
    token, start = tokens[index]
    following, following_start = tokens[index + 1] if index + 1 < len(tokens) else ("", -1)
    if _is_number(token):
        return Number(int(token)), index + 1
    if token == "-" and _is_number(following) and following_start == start + 1:
        return Number(-int(following)), index + 2
    if token == "(":
        inner, index = _parse_sequence(text, tokens, index + 1)
        if index == len(tokens) or tokens[index][0] != ")":
            raise ValueError(f"the bracket at offset {start} is never closed in {text!r}")
        return inner, index + 1
    raise ValueError(f"expected a number at offset {start} in {text!r}, found {token!r}")


def _is_number(token: str) -> bool:
    return token != "" and token[0] in DIGITS
