"""`atomlm demo` (what `make demo` runs) fails when fewer than 5 of its 8 greedy completions are right."""

import pytest
import os
import subprocess
import sys
from pathlib import Path

from atomlm.evaluation.arithmark_generator import SHIPPED_FILE

pytestmark = pytest.mark.huggingface  # also run against other transformers releases

REPO = Path(__file__).resolve().parents[1]


def run_demo(model_dir, tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(SHIPPED_FILE.read_text(encoding="utf-8").splitlines()[:20]) + "\n")
    return subprocess.run([sys.executable, "-m", "atomlm", "demo", "--model", str(model_dir), "--data-path", str(data)],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_demo_passes_with_the_shipped_model(tmp_path):
    result = run_demo(REPO / "pretrained" / "atom2.7m", tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.count("| ok") >= 5 and "46" in result.stdout


def test_demo_fails_when_a_completion_is_wrong(tmp_path):
    from atomlm.export import export_random_init

    untrained = export_random_init(tmp_path / "untrained", num_hidden_layers=1)
    result = run_demo(untrained, tmp_path)
    assert result.returncode == 1
    assert "WRONG" in result.stdout and "greedy completions are wrong" in result.stderr


def test_reference_answers_are_exact():
    from atomlm.demo import DEMO_PROMPTS, _exact_answer

    assert [_exact_answer(prompt) for prompt in DEMO_PROMPTS] == [46, 104, -51, -132, 37, 15, 1023, -150]
    assert _exact_answer("7 / 2 =") == 3.5
