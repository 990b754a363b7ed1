"""`atomlm eval arithmark` and `eval exact-match` with bad input: one-line errors for a broken data file or
model; inconsistent rows warned about, or refused with --strict (also by the standalone runner)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import atomlm.evaluation.benchmark_fusion_arithmark as runner
from atomlm.evaluation.arithmark_generator import SHIPPED_FILE, generate_arithmark
from atomlm.evaluation.arithmark_v1_generator import write_arithmark_v1
from atomlm.evaluation.benchmark_fusion_arithmark import ArithMarkFormatError, read_arithmark_file

from .conftest import write_rows

VERBS = ["arithmark", "exact-match"]
ROW = {"ind": 0, "ctx": "2 + 2 =", "endings": [" 4", " 5", " 3", " 22"], "label": "0",
       "metadata": {"answer": 4, "difficulty": "easy", "operator_count": 1}}
WRONG_ANSWER = {**ROW, "ind": 1, "metadata": {**ROW["metadata"], "answer": 5}}
REPEATED_ENDINGS = {**ROW, "ind": 2, "endings": [" 4", " 5", " 5", " 22"]}


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("content, expected", [
    (None, "{path}: no such ArithMark data file"),
    ('{"ctx": "1 + 1 =", "endings": [" 2"', "{path}:1: invalid JSON"),
    (json.dumps({k: v for k, v in ROW.items() if k != "label"}), "{path}:1: missing field 'label'"),
    (b'{"ctx": "1 \xff 1 ="}', "{path}:1: not UTF-8 text"),
    ("", "{path}: the file is empty"),
])
def test_bad_data_file_is_one_line(atomlm, tmp_path, verb, content, expected):
    path = tmp_path / "rows.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    message = atomlm.error("eval", verb, "--model", tmp_path, "--data-path", path)
    assert message.startswith(expected.format(path=path))


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("bad_row, problem", [
    (WRONG_ANSWER, "metadata.answer 5 is not the labelled ending '4' (label 0)"),
    (REPEATED_ENDINGS, "endings repeat ('5')"),
])
def test_strict_refuses_an_inconsistent_row(atomlm, tmp_path, verb, bad_row, problem):
    path = write_rows(tmp_path / "rows.jsonl", [ROW, bad_row, bad_row])
    message = atomlm.error("eval", verb, "--model", tmp_path, "--data-path", path, "--strict")
    assert message == ("2 inconsistent rows (metadata.answer is not the labelled ending, or endings repeat); "
                       f"first {path}:2: {problem}")


@pytest.mark.parametrize("verb", VERBS)
def test_broken_model_is_one_line(atomlm, gpt2_dir, tmp_path, verb):
    model = shutil.copytree(gpt2_dir, tmp_path / "model")
    (model / "model.safetensors").write_bytes(b"")
    message = atomlm.error("eval", verb, "--model", model, "--data-path", write_rows(tmp_path / "rows.jsonl", [ROW]))
    assert message.startswith(f"{model}/model.safetensors: empty file")


def test_inconsistent_rows_are_scored_with_one_warning(atomlm, gpt2_dir, tmp_path):
    path = write_rows(tmp_path / "rows.jsonl", [ROW, WRONG_ANSWER, REPEATED_ENDINGS])
    result = atomlm.run("eval", "arithmark", "--model", gpt2_dir, "--data-path", path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("atomlm")]
    assert warnings == ["atomlm eval arithmark: warning: 2 inconsistent rows (metadata.answer is not the labelled "
                        f"ending, or endings repeat); first {path}:2: metadata.answer 5 is not the labelled ending "
                        "'4' (label 0)"]
    assert "/3)" in result.stdout  # all three rows scored


def test_reader_warns_once_and_keeps_the_rows(tmp_path):
    path = write_rows(tmp_path / "rows.jsonl", [ROW, REPEATED_ENDINGS, ROW, WRONG_ANSWER])
    warnings = []
    _, rows = read_arithmark_file(path, warn=warnings.append)
    assert len(rows) == 4
    assert len(warnings) == 1 and warnings[0].startswith("2 inconsistent rows (") and f"first {path}:2: " in warnings[0]
    with pytest.raises(ArithMarkFormatError, match=f"first {path}:2: endings repeat"):
        read_arithmark_file(path, strict=True)


def test_numbers_compare_as_numbers(tmp_path):
    rows = [{**ROW, "endings": [" 4.0", " 5", " 3", " 22"]},
            {**ROW, "ind": 1, "endings": [" -0.5", " 5", " 3", " 22"], "metadata": {"answer": "-0.50"}}]
    read_arithmark_file(write_rows(tmp_path / "rows.jsonl", rows), strict=True)


def test_shipped_and_generated_files_pass_strict(tmp_path):
    read_arithmark_file(SHIPPED_FILE, strict=True)
    read_arithmark_file(write_rows(tmp_path / "compat.jsonl", generate_arithmark(5, 40, 30, 20)), strict=True)
    read_arithmark_file(write_arithmark_v1(tmp_path / "v1.jsonl", seed=2, rows_per_stage=30), strict=True)


def test_standalone_script_strict_and_errors(tmp_path):
    script = shutil.copy(runner.__file__, tmp_path / "benchmark_fusion_arithmark.py")
    path = write_rows(tmp_path / "rows.jsonl", [ROW, WRONG_ANSWER])
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, script, "--data-path", path, "--strict"],
                            capture_output=True, text=True, cwd=tmp_path, env=environment)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"error: 1 inconsistent row (metadata.answer is not the labelled ending, "
                                          f"or endings repeat); first {path}:2: metadata.answer 5 is not the "
                                          "labelled ending '4' (label 0)"]
    missing = subprocess.run([sys.executable, script, "--data-path", tmp_path / "absent.jsonl"],
                             capture_output=True, text=True, cwd=tmp_path, env=environment)
    assert missing.returncode == 2 and missing.stderr.splitlines() == [f"error: {tmp_path}/absent.jsonl: no such "
                                                                       "ArithMark data file"]
