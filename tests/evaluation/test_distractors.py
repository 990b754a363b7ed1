"""Truncation distractors: the answer with leading digits dropped (17 -> 7), unbeatable without a marker."""

import pytest

from atomlm.evaluation.arithmark_generator import SHIPPED_FILE
from atomlm.evaluation.benchmark_fusion_arithmark import load_arithmark_rows
from atomlm.evaluation.distractors import has_truncation_distractor, is_truncation, truncation_accuracy


@pytest.mark.parametrize("distractor, answer, lsd, msd", [
    (" 7", " 17", True, False), (" 4", " 104", True, False), (" -12", " -312", True, False),
    (" 1", " 17", False, True), (" 17", " 17", False, False), (" -7", " 17", False, False),
    (" 7", " -17", False, False), (" 71", " 17", False, False), (" 0.5", " 10.5", False, False),
])
def test_is_truncation(distractor, answer, lsd, msd):
    assert is_truncation(distractor, answer, "lsd") is lsd
    assert is_truncation(distractor, answer, "msd") is msd


def test_the_shipped_set_has_87_truncation_rows():
    rows = load_arithmark_rows(SHIPPED_FILE)
    assert sum(has_truncation_distractor(row) for row in rows) == 87


def test_truncation_accuracy_splits_rows():
    rows = [{"endings": [" 7", " 17"], "label": 1, "metadata": {"difficulty": "easy"}},
            {"endings": [" 8", " 17"], "label": 1, "metadata": {"difficulty": "easy"}}]
    table = truncation_accuracy(rows, [{"correct": False}, {"correct": True}])
    assert table["truncation/all"] == {"acc": 0.0, "correct": 0, "total": 1}
    assert table["other/easy"] == {"acc": 100.0, "correct": 1, "total": 1}


def test_rows_without_a_difficulty_count_once():
    """ArithMark v1-style rows carry no difficulty: each counts once, in the `all` groups."""
    rows = [{"endings": [" 7", " 17"], "label": 1, "metadata": {}},
            {"endings": [" 8", " 17"], "label": 1, "metadata": {}}]
    table = truncation_accuracy(rows, [{"correct": True}, {"correct": True}])
    assert table == {"other/all": {"acc": 100.0, "correct": 1, "total": 1},
                     "truncation/all": {"acc": 100.0, "correct": 1, "total": 1}}
