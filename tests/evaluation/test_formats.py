"""Readers: ArithMark 2.0, v1 and 3 rows, and clear errors for malformed input."""

from __future__ import annotations

import json

import pytest

from atomlm.evaluation.benchmark_fusion_arithmark import ArithMarkFormatError, read_arithmark_file

GOOD = {"ind": 0, "ctx": "59 + 45 =", "endings": [" 104", " 94", " 105", " 114"], "label": "0",
        "metadata": {"difficulty": "easy", "operator_count": 1}}


def write(tmp_path, lines):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_reads_arithmark_2_rows(tmp_path):
    benchmark_format, rows = read_arithmark_file(write(tmp_path, [json.dumps(GOOD), "", json.dumps({**GOOD, "label": 3})]))
    assert benchmark_format == "2.0"
    assert [r["label"] for r in rows] == [0, 3]
    assert rows[0]["endings"][0] == " 104" and rows[0]["metadata"]["difficulty"] == "easy"


@pytest.mark.parametrize("line, message", [
    ('{"ctx": "1 + 1 =", "endings": [" 2"', "invalid JSON"),
    (json.dumps({**GOOD, "label": "4"}), "label 4 is out of range"),
    (json.dumps({**GOOD, "label": "-1"}), "out of range"),
    (json.dumps({**GOOD, "label": "x"}), "label must be"),
    (json.dumps({**GOOD, "endings": [" 104", "94", " 105", " 114"]}), "does not start with a space"),
    (json.dumps({**GOOD, "endings": [" 104", " 94", " 105"]}), "expected 4 endings"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "label"}), "missing field 'label'"),
    (json.dumps({"question": "?"}), "cannot tell the format"),
    ("[1, 2]", "expected a JSON object"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path, [json.dumps(GOOD), line])
    with pytest.raises(ArithMarkFormatError) as error:
        read_arithmark_file(path)
    assert str(error.value).startswith(f"{path}:2: ")
    assert message in str(error.value)


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(ArithMarkFormatError, match="empty"):
        read_arithmark_file(write(tmp_path, ["", "  "]))


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_arithmark_file(tmp_path / "absent.jsonl")


def test_v1_rows_keep_numbers_as_written(tmp_path):
    line = ('{"id": 7, "stage": 3, "n_operands": 2, "expression": "-3 - -5 =", '
            '"options": [2, -8, 0.3333, 15.0], "answer_index": 0, "answer": 2}')
    benchmark_format, rows = read_arithmark_file(write(tmp_path, [line]))
    assert benchmark_format == "v1"
    assert rows[0]["ctx"] == "-3 - -5 ="
    assert rows[0]["endings"] == [" 2", " -8", " 0.3333", " 15.0"]
    assert rows[0]["label"] == 0 and rows[0]["ind"] == 7 and rows[0]["metadata"]["stage"] == 3


def test_v1_answer_index_out_of_range(tmp_path):
    line = '{"expression": "1 + 1", "options": [2, 3, 4, 5], "answer_index": 4}'
    with pytest.raises(ArithMarkFormatError, match=r":1: label 4 is out of range"):
        read_arithmark_file(write(tmp_path, [line]))


def test_v3_rows_with_category(tmp_path):
    line = json.dumps({"ctx": "Tom has 3 apples and buys 2. He has", "endings": [" 5 apples.", " 6 apples.", " 1 apple."],
                       "label": 0, "category": "addition"})
    benchmark_format, rows = read_arithmark_file(write(tmp_path, [line]))
    assert benchmark_format == "3"
    assert rows[0]["metadata"]["category"] == "addition" and len(rows[0]["endings"]) == 3


def test_mixed_formats_are_an_error(tmp_path):
    v1 = '{"expression": "1 + 1 =", "options": [2, 3, 4, 5], "answer_index": 0}'
    with pytest.raises(ArithMarkFormatError, match=r":2: row is ArithMark v1"):
        read_arithmark_file(write(tmp_path, [json.dumps(GOOD), v1]))
