"""The compatible ArithMark 2.0 generator: correct, schema-valid, balanced, deterministic."""

from __future__ import annotations

import collections
import random

import pytest

from atomlm.data.expressions import integer_value, parse
from atomlm.evaluation.arithmark_generator import SHIPPED_FILE, SHIPPED_SEED, generate_arithmark, write_jsonl
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
