"""The compatible ArithMark 2.0 generator: correct, schema-valid, balanced, deterministic."""

from __future__ import annotations

import collections
import random

import pytest

from atomlm.data.expressions import integer_value, parse
import atomlm.evaluation.arithmark_generator as generator
from atomlm.evaluation.arithmark_generator import (
    SHIPPED_FILE,
    SHIPPED_SEED,
    OperandRanges,
    generate_arithmark,
    write_jsonl,
)
from atomlm.evaluation.benchmark_fusion_arithmark import load_arithmark_rows


@pytest.fixture(scope="module")
def rows():
    return generate_arithmark(SHIPPED_SEED)


def test_every_row_is_correct_and_every_division_exact(rows):
    for row in rows:
        value = integer_value(parse(row["ctx"].removesuffix(" =")))  # None if a division step is inexact
        assert value is not None, row
        assert row["endings"][int(row["label"])] == f" {value}", row
        assert row["metadata"]["answer"] == value


def test_schema_counts_and_balance(rows, tmp_path):
    loaded = load_arithmark_rows(write_jsonl(rows, tmp_path / "compat.jsonl"))  # the runner's validation
    assert len(loaded) == 2500
    difficulty = collections.Counter(r["metadata"]["difficulty"] for r in rows)
    assert difficulty == {"easy": 1250, "medium": 750, "hard": 500}
    for row in rows:
        meta = row["metadata"]
        assert isinstance(row["label"], str) and isinstance(row["ind"], int)
        assert row["ctx"].endswith(" =") and row["ctx"].isascii()
        assert len(set(row["endings"])) == 4
        assert all(e.startswith(" ") and int(e[1:]) == int(e[1:].strip()) for e in row["endings"])
        assert set(meta) == {"answer", "topic", "difficulty", "operator_count", "has_parentheses", "ascii_only"}
        assert meta["operator_count"] == {"easy": 1, "medium": 2, "hard": 3}[meta["difficulty"]]
        assert meta["operator_count"] == sum(row["ctx"].split().count(op) for op in "+-*/")
        assert meta["has_parentheses"] == ("(" in row["ctx"])
    for level in ("easy", "medium", "hard"):
        labels = collections.Counter(r["label"] for r in rows if r["metadata"]["difficulty"] == level)
        assert max(labels.values()) - min(labels.values()) <= 1
    with_parentheses = collections.Counter(r["metadata"]["difficulty"] for r in rows if r["metadata"]["has_parentheses"])
    assert with_parentheses["easy"] == 0 and 0 < with_parentheses["medium"] < 750 and 0 < with_parentheses["hard"] < 500
    assert {op for r in rows for op in r["ctx"].split() if op in "+-*/"} == set("+-*/")
    assert any(r["metadata"]["answer"] < 0 for r in rows)


def test_deterministic_and_seeded(rows):
    assert generate_arithmark(SHIPPED_SEED) == rows
    assert generate_arithmark(SHIPPED_SEED + 1, 20, 10, 10) != generate_arithmark(SHIPPED_SEED, 20, 10, 10)


def test_shipped_file_is_the_fixed_seed_set_byte_for_byte(rows, tmp_path):
    assert write_jsonl(rows, tmp_path / "regenerated.jsonl").read_bytes() == SHIPPED_FILE.read_bytes()


def test_random_stream_is_namespaced():
    # The generator must not consume the plain random.Random(seed) stream a training generator might use.
    plain = random.Random(SHIPPED_SEED)
    namespaced = random.Random(f"arithmark-compat/{SHIPPED_SEED}")
    assert [plain.random() for _ in range(5)] != [namespaced.random() for _ in range(5)]


def _operand_digits(row):
    """(operator, digit count) for every operand of a row, the operator being the one next to it."""
    tokens = row["ctx"].removesuffix(" =").replace("(", "").replace(")", "").split()
    operands, operators = tokens[0::2], tokens[1::2]
    return [(operators[max(i - 1, 0)] if i else operators[0], len(operand)) for i, operand in enumerate(operands)]


def test_other_operand_ranges_are_drawn_and_kept():
    ranges = OperandRanges(add_digits=(4, 5), mul_digits=(3, 3), max_abs_answer=999_999)
    rows = generate_arithmark(7, 300, 150, 100, ranges)
    for row in rows:
        value = integer_value(parse(row["ctx"].removesuffix(" =")))
        assert value is not None and row["endings"][int(row["label"])] == f" {value}", row
        assert abs(value) <= 999_999
        assert len(set(row["endings"])) == 4
    easy = [row for row in rows if row["metadata"]["difficulty"] == "easy"]
    add_digits = {d for row in easy for op, d in _operand_digits(row) if op in "+-"}
    mul_digits = {d for row in easy if "*" in row["ctx"] for op, d in _operand_digits(row)}
    assert add_digits == {4, 5}  # both ends of the range, nothing outside it
    assert mul_digits == {3}
    divisors = {int(row["ctx"].split()[2]) for row in easy if "/" in row["ctx"]}
    assert max(divisors) > 99  # divisors reach the wider range, not the shipped 2-99
    assert max(abs(row["metadata"]["answer"]) for row in rows) > 99_999


def test_single_digit_multiplication_keeps_divisors_and_quotients_to_one_digit():
    rows = generate_arithmark(8, 400, 0, 0, OperandRanges(mul_digits=(1, 1)))
    divisions = [row["ctx"].split() for row in rows if "/" in row["ctx"]]
    assert divisions and all(2 <= int(divisor) <= 9 for _, _, divisor, _ in divisions)
    assert all(int(dividend) // int(divisor) <= 9 for dividend, _, divisor, _ in divisions)


def test_impossible_ranges_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="--add-digits: expected"):
        OperandRanges(add_digits=(3, 2))
    with pytest.raises(ValueError, match="--mul-digits: expected"):
        OperandRanges(mul_digits=(1, 5))
    monkeypatch.setattr(generator, "MAX_DRAWS", 3)
    with pytest.raises(ValueError, match=r"widen --max-answer"):
        generate_arithmark(1, 0, 0, 20, OperandRanges(add_digits=(6, 6), mul_digits=(4, 4), max_abs_answer=1))


def test_cli_writes_other_ranges_and_refuses_bad_ones(atomlm, tmp_path):
    out = tmp_path / "wide.jsonl"
    result = atomlm.run("data", "arithmark", "--out", out, "--n-easy", "40", "--n-medium", "0", "--n-hard", "0",
                        "--add-digits", "4-4", "--mul-digits", "3", "--max-answer", "999999")
    assert result.returncode == 0, result.stderr
    rows = load_arithmark_rows(out)
    assert {d for row in rows for op, d in _operand_digits(row) if op in "+-"} == {4}
    assert "+ and - operands of 4-4 digits" in result.stdout
    result = atomlm.run("data", "arithmark", "--out", out, "--mul-digits", "ten")  # argparse: usage, then the error
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith("atomlm data arithmark: error: argument --mul-digits: expected")
    assert atomlm.error("data", "arithmark", "--out", out, "--add-digits", "3-1").startswith("--add-digits: expected")
    assert atomlm.error("data", "arithmark", "--out", out, "--mul-digits", "5").startswith("--mul-digits: expected")
    assert not out.exists() or load_arithmark_rows(out) == rows  # a refused command leaves no file behind


def test_one_digit_distractors_each_change_one_digit_of_the_answer():
    rows = generate_arithmark(7, 400, 200, 100, distractors="one-digit")
    changed_positions = collections.Counter()
    for row in rows:
        answer = row["metadata"]["answer"]
        assert row["endings"][int(row["label"])] == f" {answer}"
        wrong = [int(ending) for i, ending in enumerate(row["endings"]) if i != int(row["label"])]
        assert len(set(wrong)) == 3 and answer not in wrong, row
        for value in wrong:
            assert (value < 0) == (answer < 0) and len(str(abs(value))) == len(str(abs(answer))), row
            differing = [i for i, (a, b) in enumerate(zip(str(abs(value)), str(abs(answer)))) if a != b]
            assert len(differing) == 1, row
            changed_positions[len(str(abs(answer))) - 1 - differing[0]] += 1  # 0: the ones digit
    assert set(changed_positions) >= {0, 1, 2, 3}  # every place is changed somewhere, the ones digit too
    assert len({row["ctx"] for row in rows}) > 600  # the problems are drawn as before


def test_cli_writes_one_digit_distractors_and_refuses_an_unknown_kind(atomlm, tmp_path):
    out = tmp_path / "one-digit.jsonl"
    result = atomlm.run("data", "arithmark", "--out", out, "--n-easy", "20", "--n-medium", "0", "--n-hard", "0",
                        "--distractors", "one-digit")
    assert result.returncode == 0 and "one-digit distractors" in result.stdout, result.stderr
    assert len(load_arithmark_rows(out)) == 20
    assert atomlm.error("data", "arithmark", "--out", tmp_path / "x.jsonl", "--distractors", "near").startswith(
        "distractors must be one of mixed, one-digit")
