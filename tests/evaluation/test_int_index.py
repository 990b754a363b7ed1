"""Int Index: SmolLM2-135M's published inputs give 27.13."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from atomlm.evaluation.int_index import int_index, normalise

SMOLLM2_135M = {"hellaswag": 43.22, "arc_easy": 58.63, "arc_challenge": 29.69, "piqa": 68.44, "arithmark3": 39.20}


def test_smollm2_135m_gives_27_13():
    assert round(int_index(**SMOLLM2_135M), 2) == 27.13


def test_normalise_maps_chance_to_zero():
    assert normalise(25.0, 25.0) == 0.0 and normalise(100.0, 50.0) == 100.0


def test_cli_from_numbers():
    args = [f"--{k.replace('_', '-')}={v}" for k, v in SMOLLM2_135M.items()]
    out = subprocess.run([sys.executable, "-m", "atomlm", "eval", "int-index", *args],
                         capture_output=True, text=True, check=True).stdout
    assert "Int Index: 27.13" in out


def test_cli_from_result_files(tmp_path):
    lm_eval = {"results": {task: {"acc_norm,none": SMOLLM2_135M[task] / 100, "acc,none": 0.0}
                           for task in ("hellaswag", "arc_easy", "arc_challenge", "piqa")}}
    (tmp_path / "lm_eval.json").write_text(json.dumps(lm_eval))
    runner = {"model": "m", "params": 1, "dataset": "am3.jsonl",
              "results": {"arithmark_3": {"acc": 30.0, "acc_norm": 39.20, "correct": 300, "total": 1000}}}
    (tmp_path / "am3.json").write_text(json.dumps(runner))
    out = subprocess.run([sys.executable, "-m", "atomlm", "eval", "int-index",
                          "--lm-eval-results", str(tmp_path / "lm_eval.json"),
                          "--arithmark3-results", str(tmp_path / "am3.json")],
                         capture_output=True, text=True, check=True).stdout
    assert "Int Index: 27.13" in out


def test_cli_reports_missing_scores():
    result = subprocess.run([sys.executable, "-m", "atomlm", "eval", "int-index", "--piqa", "60"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "missing scores" in result.stderr
