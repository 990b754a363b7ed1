"""`atomlm eval arithmark` and the standalone script write the official output JSON."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import atomlm.evaluation.benchmark_fusion_arithmark as runner
from atomlm.evaluation.arithmark_generator import generate_arithmark

from .conftest import write_rows

ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def run(args, cwd=None):
    import os

    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env={**os.environ, **ENV})


def check_official_schema(output, total):
    assert set(output) >= {"model", "params", "dataset", "results", "acc_norm", "breakdowns", "predictions"}
    headline = output["results"]["arithmark_2.0"]
    assert set(headline) == {"acc", "correct", "total"}
    assert headline["total"] == total == len(output["predictions"])
    assert headline["acc"] == 100.0 * headline["correct"] / total
    assert set(output["breakdowns"]) >= {"difficulty", "operator_count", "has_parentheses"}


def test_atomlm_eval_arithmark(gpt2_dir, tmp_path):
    data = write_rows(tmp_path / "rows.jsonl", generate_arithmark(3, 6, 4, 2))
    result = run([sys.executable, "-m", "atomlm", "eval", "arithmark", "--model", str(gpt2_dir),
                  "--data-path", str(data), "--batch-size", "4", "--output", str(tmp_path / "out.json")])
    assert result.returncode == 0, result.stderr
    output = json.loads((tmp_path / "out.json").read_text())
    check_official_schema(output, 12)
    assert output["params"] > 0 and "operator_count" in result.stdout


def test_malformed_file_fails_with_line(gpt2_dir, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"ctx": "1 + 1 =", "endings": [" 2", " 3", " 4", "5"], "label": "0"}\n')
    result = run([sys.executable, "-m", "atomlm", "eval", "arithmark", "--model", str(gpt2_dir), "--data-path", str(data)])
    assert result.returncode == 2
    assert f"{data}:1: ending 3 '5' does not start with a space" in result.stderr


def test_standalone_script_in_model_directory(gpt2_dir, tmp_path):
    # As in an exported model directory: script and arithmark_2.0.jsonl beside the weights.
    model_dir = tmp_path / "model"
    shutil.copytree(gpt2_dir, model_dir)
    shutil.copy(runner.__file__, model_dir / "benchmark_fusion_arithmark.py")
    write_rows(model_dir / "arithmark_2.0.jsonl", generate_arithmark(4, 4, 2, 2))
    result = run([sys.executable, "benchmark_fusion_arithmark.py", "--checkpoint", ".", "--batch-size", "64",
                  "--device", "cpu", "--output", "results/out.json"], cwd=model_dir)
    assert result.returncode == 0, result.stderr
    output = json.loads((model_dir / "results" / "out.json").read_text())
    check_official_schema(output, 8)
    assert Path(output["dataset"]).name == "arithmark_2.0.jsonl"


def test_standalone_script_imports_only_stdlib_torch_transformers():
    tree = ast.parse(Path(runner.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - {"torch", "transformers", "__future__"} <= set(sys.stdlib_module_names)
