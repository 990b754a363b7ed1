"""Greedy exact-match evaluation and the ArithMark v1-style generator."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from atomlm.data.expressions import evaluate, parse
from atomlm.evaluation.arithmark_v1_generator import format_number, generate_arithmark_v1, write_arithmark_v1
from atomlm.evaluation.benchmark_fusion_arithmark import load_model_and_tokenizer, read_arithmark_file
from atomlm.evaluation.exact_match import exact_match, first_number
from atomlm.generate import complete

REPO = Path(__file__).resolve().parents[2]


def test_v1_rows_are_correct_and_schema_valid():
    rows = generate_arithmark_v1(seed=3, rows_per_stage=60)
    assert len(rows) == 300
    for row in rows:
        assert set(row) == {"id", "stage", "n_operands", "expression", "options", "answer_index", "answer"}
        assert row["n_operands"] == row["stage"] + 1 and 1 <= row["stage"] <= 5
        value = evaluate(parse(row["expression"].removesuffix(" =")))
        assert row["options"][row["answer_index"]] == row["answer"] == format_number(value)
        assert len(set(row["options"])) == 4
    assert any(" - -" in row["expression"] for row in rows)  # signed operands as v1 writes them
    assert any("." in row["answer"] for row in rows)  # non-exact division gives decimals
    assert generate_arithmark_v1(seed=3, rows_per_stage=60) == rows


def test_committed_v1_rows_are_seed_zero_byte_for_byte(tmp_path):
    # results/arithmark_v1_rows.jsonl is scored in results/; the README regenerates it with --seed 0.
    path = write_arithmark_v1(tmp_path / "v1.jsonl", seed=0)
    assert path.read_bytes() == (REPO / "results" / "arithmark_v1_rows.jsonl").read_bytes()


def test_v1_file_reads_through_the_runner(tmp_path):
    path = write_arithmark_v1(tmp_path / "v1.jsonl", seed=1, rows_per_stage=4)
    benchmark_format, rows = read_arithmark_file(path)
    assert benchmark_format == "v1" and len(rows) == 20
    for row in rows:
        assert all(ending.startswith(" ") for ending in row["endings"])


def test_first_number():
    assert first_number(" -51 and more") == "-51"
    assert first_number(" 0.4222") == "0.4222"
    assert first_number(" abc 12") is None


def test_batched_greedy_matches_one_by_one(atom_dir, tmp_path):
    model, tokenizer = load_model_and_tokenizer(str(atom_dir))
    rows = [{"ind": i, "ctx": ctx, "endings": [" 1", " 2", " 3", " 4"], "label": 0, "metadata": {"difficulty": "easy"}}
            for i, ctx in enumerate(["1 + 1 =", "(123 + 456) * 7 =", "9 - 10 =", "88 / 8 ="])]
    result = exact_match(model, tokenizer, rows, batch_size=3, max_new_tokens=5)
    for row, prediction in zip(rows, result["predictions"]):
        alone = complete(model, tokenizer, row["ctx"], max_new_tokens=5, do_sample=False,
                         eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")],
                         pad_token_id=tokenizer.pad_token_id)
        assert prediction["completion"] == alone
    assert result["total"] == 4 and 0 <= result["acc"] <= 100
    assert tokenizer.padding_side == "right"  # restored


def test_exact_match_counts_a_written_answer(gpt2_dir):
    """A GPT-2 whose final hidden state is pinned to the embedding of "7" always writes 7s."""
    model, tokenizer = load_model_and_tokenizer(str(gpt2_dir))
    seven = tokenizer.convert_tokens_to_ids("7")
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(model.transformer.wte.weight[seven] * 100)
    rows = [{"ind": 0, "ctx": "1 + 1 =", "endings": [" 7777", " 1", " 2", " 3"], "label": 0,
             "metadata": {"topic": "addition", "has_parentheses": False}},
            {"ind": 1, "ctx": "2 * 2 =", "endings": [" 0", " 1", " 2", " 777"], "label": 3,
             "metadata": {"topic": "multiplication", "has_parentheses": False}}]
    result = exact_match(model, tokenizer, rows, max_new_tokens=4)
    assert [p["completion"] for p in result["predictions"]] == ["7777", "7777"]
    assert [p["correct"] for p in result["predictions"]] == [True, False]
    assert result["acc"] == 50.0
    # broken down by the same metadata keys as the multiple-choice score
    assert result["breakdowns"]["topic"] == {"addition": {"acc": 100.0, "correct": 1, "total": 1},
                                             "multiplication": {"acc": 0.0, "correct": 0, "total": 1}}
    assert result["breakdowns"]["has_parentheses"]["False"]["total"] == 2


def test_cli_writes_v1_rows(tmp_path):
    out = tmp_path / "v1.jsonl"
    subprocess.run([sys.executable, "-m", "atomlm", "data", "arithmark-v1", "--out", str(out), "--rows-per-stage", "2"],
                   check=True, capture_output=True)
    assert len(out.read_text().splitlines()) == 10
    assert isinstance(json.loads(out.read_text().splitlines()[0])["options"][0], (int, float))
