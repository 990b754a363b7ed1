"""The lm-eval task on local data agrees with the runner (real `lm_eval` CLI, offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atomlm.evaluation.arithmark_generator import SHIPPED_FILE
from atomlm.evaluation.benchmark_fusion_arithmark import load_arithmark_rows, load_model_and_tokenizer, score_arithmark

TASKS_DIR = Path(__file__).resolve().parents[2] / "src" / "atomlm" / "lm_eval_tasks"


@pytest.mark.slow
def test_lm_eval_acc_equals_runner(atom_dir, tmp_path):
    lines = SHIPPED_FILE.read_text(encoding="utf-8").splitlines()
    data = tmp_path / "slice.jsonl"  # 40 rows across the three difficulties
    data.write_text("\n".join(lines[:16] + lines[1250:1262] + lines[2000:2012]) + "\n", encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "ATOMLM_ARITHMARK_DATA": str(data),
           "HF_DATASETS_CACHE": str(tmp_path / "datasets"), "TOKENIZERS_PARALLELISM": "false"}
    lm_eval = Path(sys.executable).with_name("lm_eval")
    result = subprocess.run(
        [str(lm_eval), "--model", "hf",
         "--model_args", f"pretrained={atom_dir},trust_remote_code=True,max_length=548",
         "--include_path", str(TASKS_DIR), "--tasks", "arithmark_compat",
         "--device", "cpu", "--batch_size", "16", "--output_path", str(tmp_path / "lm_eval")],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results_file = next((tmp_path / "lm_eval").rglob("results_*.json"))
    report = json.loads(results_file.read_text())
    results = report["results"]
    assert {t: report["n-samples"][f"arithmark_compat_{t}"]["effective"] for t in ("easy", "medium", "hard")} == \
        {"easy": 16, "medium": 12, "hard": 12}  # lm-eval read the slice chosen by the variable

    model, tokenizer = load_model_and_tokenizer(str(atom_dir))
    rows = load_arithmark_rows(data)
    ours = score_arithmark(model, tokenizer, rows)
    assert results["arithmark_compat"]["acc,none"] == pytest.approx(ours["acc"] / 100)
    for level in ("easy", "medium", "hard"):
        expected = ours["breakdowns"]["difficulty"][level]["acc"] / 100
        assert results[f"arithmark_compat_{level}"]["acc,none"] == pytest.approx(expected)
