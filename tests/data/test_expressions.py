"""The one expression module: rendering, parsing and exact evaluation agree, for both bracketings
and for the equations every generator writes."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from atomlm.data.arithmetic import STAGES, ArithmeticGenerator
from atomlm.data.expressions import (
    PRECEDENCE, BinaryOperation, Bracketing, Number, evaluate, has_brackets, integer_value, parse, render,
)
from atomlm.evaluation.arithmark_generator import generate_arithmark
from atomlm.evaluation.arithmark_v1_generator import format_number, generate_arithmark_v1
from atomlm.modeling.arithmetic_features import BINARY_OPERATORS

numbers = st.integers(-999, 999).map(Number)
expressions = st.recursive(
    numbers,
    lambda children: st.builds(BinaryOperation, st.sampled_from(BINARY_OPERATORS), children, children),
    max_leaves=8,
)
bracketings = st.sampled_from(list(Bracketing))


def value_or_error(evaluate_one, argument):
    try:
        return evaluate_one(argument)
    except ZeroDivisionError:
        return "division by zero"


def python_value(text: str) -> Fraction:
    """Python's own grammar over exact fractions: an oracle that shares no code with the module."""
    source = re.sub(r"\d+", lambda match: f"Fraction({match.group()})", text)
    return eval(source, {"Fraction": Fraction})  # noqa: S307 - digits, operators, brackets and Fraction only


def operation(operator, left, right):
    """A tree from nested (operator, left, right) tuples and ints, for readable expected cases."""
    def side(value):
        return operation(*value) if isinstance(value, tuple) else Number(value)

    return BinaryOperation(operator, side(left), side(right))


def test_precedence_covers_exactly_the_models_operators():
    assert sorted(PRECEDENCE) == sorted(BINARY_OPERATORS)


@given(expressions, bracketings)
def test_rendering_then_parsing_keeps_the_value(tree, bracketing):
    text = render(tree, bracketing)
    assert value_or_error(evaluate, parse(text)) == value_or_error(evaluate, tree)
    assert value_or_error(python_value, text) == value_or_error(evaluate, tree)


@given(expressions)
def test_equal_precedence_right_text_parses_back_to_the_same_tree(tree):
    assert parse(render(tree, Bracketing.EQUAL_PRECEDENCE_RIGHT)) == tree


@given(expressions)
def test_minimal_text_is_what_it_parses_to(tree):
    # The minimal text is canonical: writing its own parse again changes nothing.
    text = render(tree, Bracketing.MINIMAL)
    assert render(parse(text), Bracketing.MINIMAL) == text


@pytest.mark.parametrize("tree, minimal, equal_precedence_right", [
    (operation("-", 1, ("+", 2, 3)), "1 - (2 + 3)", "1 - (2 + 3)"),
    (operation("-", 1, ("-", 2, 3)), "1 - (2 - 3)", "1 - (2 - 3)"),
    (operation("/", 8, ("*", 2, 2)), "8 / (2 * 2)", "8 / (2 * 2)"),
    (operation("/", 8, ("/", 4, 2)), "8 / (4 / 2)", "8 / (4 / 2)"),
    (operation("+", 1, ("+", 2, 3)), "1 + 2 + 3", "1 + (2 + 3)"),
    (operation("+", 1, ("-", 2, 3)), "1 + 2 - 3", "1 + (2 - 3)"),
    (operation("*", 2, ("*", 3, 4)), "2 * 3 * 4", "2 * (3 * 4)"),
    (operation("*", 2, ("/", 8, 4)), "2 * 8 / 4", "2 * (8 / 4)"),
    (operation("*", ("+", 1, 2), 3), "(1 + 2) * 3", "(1 + 2) * 3"),
    (operation("-", ("-", 1, 2), 3), "1 - 2 - 3", "1 - 2 - 3"),
    (operation("+", 1, ("*", 2, -3)), "1 + 2 * -3", "1 + 2 * -3"),
    (operation("-", -1, -2), "-1 - -2", "-1 - -2"),
])
def test_the_bracketings_differ_only_on_an_equal_precedence_right_child_of_plus_or_times(
        tree, minimal, equal_precedence_right):
    assert render(tree, Bracketing.MINIMAL) == minimal
    assert render(tree, Bracketing.EQUAL_PRECEDENCE_RIGHT) == equal_precedence_right


def regroupable(tree) -> bool:
    """Whether some `+` or `*` has a right operand of its own precedence (the documented difference)."""
    if isinstance(tree, Number):
        return False
    right = tree.right
    here = (tree.operator in "+*" and isinstance(right, BinaryOperation)
            and PRECEDENCE[right.operator] == PRECEDENCE[tree.operator])
    return here or regroupable(tree.left) or regroupable(right)


@given(expressions)
def test_the_bracketings_differ_exactly_where_documented(tree):
    minimal, equal_precedence_right = render(tree, Bracketing.MINIMAL), render(tree, Bracketing.EQUAL_PRECEDENCE_RIGHT)
    assert minimal.replace("(", "").replace(")", "") == equal_precedence_right.replace("(", "").replace(")", "")
    assert (minimal != equal_precedence_right) == regroupable(tree)


@settings(max_examples=500)
@given(expressions, bracketings)
@example(operation("+", 1, ("*", 2, ("+", 3, 4))), Bracketing.MINIMAL)  # brackets only deep on the right
def test_has_brackets_says_whether_the_text_has_any(tree, bracketing):
    assert has_brackets(tree, bracketing) == ("(" in render(tree, bracketing))


@given(expressions)
def test_integer_value_is_the_value_when_every_division_divides(tree):
    value = integer_value(tree)
    if value is not None:
        assert value == evaluate(tree)


def test_integer_value_refuses_a_remainder_at_any_step():
    assert integer_value(parse("(7 / 2) * 2")) is None and evaluate(parse("(7 / 2) * 2")) == 7
    assert integer_value(parse("1 / 0")) is None
    assert integer_value(parse("-12 / 4 - 9 / -3")) == 0


@pytest.mark.parametrize("text, value", [
    ("2 + 3 * 4 - 6 / 2", 11), ("10 - 4 - 3", 3), ("64 / 8 / 2", 4), ("2 * (3 + 4)", 14),
    ("(12 + -7) * 3", 15), ("-12 * 11", -132), ("3 - -5", 8), ("3 -5", -2), ("(12+-7)*3", 15),
    ("7 / 2", Fraction(7, 2)),
])
def test_parse_reads_precedence_left_to_right_and_attached_minus(text, value):
    assert evaluate(parse(text)) == value


@pytest.mark.parametrize("text", ["", "1 +", "(1 + 2", "1 + 2)", "- 5", "--5", "1 x 2", "1 2", "()", "1.5 + 2",
                                  "٣ + 1"])
def test_parse_rejects_what_render_never_writes(text):
    with pytest.raises(ValueError):
        parse(text)


# Every generator's equations: the written left side, parsed and evaluated, gives the written answer,
# and the text is exactly what the generator's bracketing writes for that tree.

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), stage=st.sampled_from(sorted(STAGES)))
def test_synthetic_arithmetic_equations_evaluate_to_their_result(seed, stage):
    for equation in ArithmeticGenerator(seed, stage).take(20):
        left, right = equation.text.split(" = ")
        tree = parse(left)
        assert integer_value(tree) == equation.result == int(right), equation.text
        assert render(tree, Bracketing.MINIMAL) == left


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_arithmark_compatible_rows_evaluate_to_their_labelled_ending(seed):
    for row in generate_arithmark(seed, 8, 8, 8):
        text = row["ctx"].removesuffix(" =")
        tree = parse(text)
        assert row["endings"][int(row["label"])] == f" {integer_value(tree)}", row
        assert row["metadata"]["answer"] == integer_value(tree)
        assert render(tree, Bracketing.EQUAL_PRECEDENCE_RIGHT) == text


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_arithmark_v1_rows_evaluate_to_their_answer(seed):
    for row in generate_arithmark_v1(seed, 4):
        text = row["expression"].removesuffix(" =")
        tree = parse(text)
        assert row["options"][row["answer_index"]] == row["answer"] == format_number(evaluate(tree)), row
        assert render(tree, Bracketing.MINIMAL) == text
