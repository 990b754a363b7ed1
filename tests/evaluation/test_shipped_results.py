"""The committed results/ files are what today's code gives on the shipped model.

A fixed slice of the compatible set (16 easy, 12 medium, 12 hard rows) is re-scored and compared
row by row with `results/`; lm-evaluation-harness's generate-style task, run through the real
`lm_eval` CLI, agrees with `atomlm eval exact-match` on the same slice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from atomlm.evaluation.arithmark_generator import SHIPPED_FILE
from atomlm.evaluation.benchmark_fusion_arithmark import load_arithmark_rows, score_arithmark
from atomlm.evaluation.exact_match import exact_match

pytestmark = pytest.mark.huggingface  # also run against other transformers releases

REPO = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = REPO / "pretrained" / "atom2.7m"
RESULTS = REPO / "results"
TASKS_DIR = REPO / "src" / "atomlm" / "lm_eval_tasks"


@pytest.fixture(scope="module")
def slice_file(tmp_path_factory):
    lines = SHIPPED_FILE.read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("slice") / "slice.jsonl"
    path.write_text("\n".join(lines[:16] + lines[1250:1262] + lines[2000:2012]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shipped():
    model = AutoModelForCausalLM.from_pretrained(str(SHIPPED_MODEL), trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(SHIPPED_MODEL), trust_remote_code=True, use_fast=False)
    return model, tokenizer


def committed_predictions(name: str) -> dict:
    return {p["ind"]: p for p in json.loads((RESULTS / name).read_text())["predictions"]}


def test_exact_match_slice_equals_committed_results(shipped, slice_file):
    model, tokenizer = shipped
    result = exact_match(model, tokenizer, load_arithmark_rows(slice_file))
    committed = committed_predictions("exact_match.json")
    for prediction in result["predictions"]:
        expected = committed[prediction["ind"]]
        assert (prediction["completion"], prediction["correct"]) == (expected["completion"], expected["correct"])
    assert 0 < result["correct"] < result["total"]  # the slice separates right from wrong answers


def test_arithmark_slice_equals_committed_results(shipped, slice_file):
    model, tokenizer = shipped
    result = score_arithmark(model, tokenizer, load_arithmark_rows(slice_file))
    committed = committed_predictions("arithmark_compat.json")
    for prediction in result["predictions"]:
        expected = committed[prediction["ind"]]
        assert prediction["prediction"] == expected["prediction"]
        assert prediction["scores"] == pytest.approx(expected["scores"], abs=1e-3)


@pytest.mark.slow
def test_lm_eval_exact_match_task_agrees_with_atomlm(shipped, slice_file, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "ATOMLM_ARITHMARK_DATA": str(slice_file),
           "HF_DATASETS_CACHE": str(tmp_path / "datasets"), "TOKENIZERS_PARALLELISM": "false"}
    lm_eval = Path(sys.executable).with_name("lm_eval")
    result = subprocess.run(
        [str(lm_eval), "--model", "hf",
         "--model_args", f"pretrained={SHIPPED_MODEL},trust_remote_code=True,max_length=548",
         "--include_path", str(TASKS_DIR), "--tasks", "arithmark_compat_exact_match",
         "--device", "cpu", "--batch_size", "16", "--output_path", str(tmp_path / "out"), "--log_samples"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    samples = [json.loads(line) for path in (tmp_path / "out").rglob("samples_*.jsonl") for line in open(path)]
    from_lm_eval = {int(sample["doc"]["ind"]): bool(sample["exact_match"]) for sample in samples}

    model, tokenizer = shipped
    ours = exact_match(model, tokenizer, load_arithmark_rows(slice_file))
    assert from_lm_eval == {p["ind"]: bool(p["correct"]) for p in ours["predictions"]}
    assert 0 < sum(from_lm_eval.values()) < len(from_lm_eval)
