"""benchmarks/train_throughput.py --loop: the real training loop against the bare model step."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"


def test_loop_mode_prints_both_rates_and_their_ratio_on_the_cpu(tmp_path, make_config):
    config = make_config(tmp_path / "tiny.json")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--loop", "--device", "cpu", "--config", str(config),
         "--steps", "2", "--rounds", "2", "--warmup", "1"],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "total steps 5 | optimizer adamw" in result.stderr  # the Trainer of `atomlm train`, 1 + 2 x 2 steps
    assert "global batch 8 x seq 64 (micro batch 4, accumulation 2)" in result.stdout, result.stdout
    bare = re.search(r"^bare model step .*? ([\d,]+) +[\d,]+ +[\d,]+ +1\.00x$", result.stdout, re.M)
    loop = re.search(r"^training loop .*? ([\d,]+) +[\d,]+ +[\d,]+ +(\d+\.\d\d)x$", result.stdout, re.M)
    assert bare and loop, result.stdout
    tokens_per_second = {name: int(match.group(1).replace(",", "")) for name, match in (("bare", bare), ("loop", loop))}
    ratio = tokens_per_second["loop"] / tokens_per_second["bare"]
    assert float(loop.group(2)) == pytest.approx(ratio, abs=0.01), result.stdout


def test_muon_benchmark_times_both_iterations_over_the_hidden_matrices():
    script = SCRIPT.parent / "muon_orthogonalisation.py"
    result = subprocess.run([sys.executable, str(script), "--rounds", "1"], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "35 matrices" in result.stdout, result.stdout  # 5 layers x 7 projections of Atom2.7m
    rows = re.findall(r"^(bfloat16|float32) .*? (\d+\.\d{3}) +(\d+\.\d)x$", result.stdout, re.M)
    assert [name for name, _, _ in rows] == ["bfloat16", "float32"] and rows[1][2] == "1.0", result.stdout
    # The ratio is printed to 1 decimal from unrounded times: up to 0.05 off the printed seconds' ratio.
    assert float(rows[0][2]) == pytest.approx(float(rows[0][1]) / float(rows[1][1]), rel=0.06, abs=0.06), result.stdout
