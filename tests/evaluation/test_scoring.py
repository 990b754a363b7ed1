"""The fast runner's predictions equal a naive, per-sequence official-protocol implementation."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from atomlm.evaluation.arithmark_generator import generate_arithmark
from atomlm.evaluation.benchmark_fusion_arithmark import (
    load_arithmark_rows,
    load_model_and_tokenizer,
    score_arithmark,
)

from .conftest import write_rows

pytestmark = pytest.mark.huggingface  # also run against other transformers releases


def naive_scores(model, tokenizer, row):
    """The protocol as written: one full ctx+ending sequence per ending, summed log-probs."""
    ctx = tokenizer.encode(row["ctx"], add_special_tokens=False)
    scores = []
    for ending in row["endings"]:
        ending_ids = tokenizer.encode(ending, add_special_tokens=False)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ctx + ending_ids])).logits[0].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        scores.append(sum(log_probs[len(ctx) - 1 + j, t].item() for j, t in enumerate(ending_ids)))
    return scores


def random_rows(seed, count):
    """Generated problems plus rows with arbitrary endings (shared prefixes, varied lengths)."""
    rng = random.Random(seed)
    rows = generate_arithmark(seed, n_easy=count // 3, n_medium=count // 3, n_hard=0)
    for _ in range(count - len(rows)):
        base = rng.randint(0, 9999)
        endings = {f" {base}", f" {base}{rng.randint(0, 9)}", f" -{rng.randint(0, 99)}", f" {rng.randint(0, 10**6)}"}
        while len(endings) < 4:
            endings.add(f" {rng.randint(0, 99)}")
        rows.append({"ind": len(rows), "ctx": f"{rng.randint(0, 999)} * ({rng.randint(0, 99)} - 3) =",
                     "endings": sorted(endings, key=lambda _: rng.random()), "label": str(rng.randrange(4))})
    return rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    path = write_rows(tmp_path_factory.mktemp("rows") / "rows.jsonl", random_rows(11, 45))
    return load_arithmark_rows(path)


@pytest.mark.parametrize("model_fixture", ["gpt2_dir", "llama_dir", "atom_dir"])
def test_predictions_equal_naive_protocol(request, model_fixture, rows):
    model, tokenizer = load_model_and_tokenizer(str(request.getfixturevalue(model_fixture)))
    result = score_arithmark(model, tokenizer, rows, batch_size=8)
    hits = 0
    for row, prediction in zip(rows, result["predictions"]):
        expected = naive_scores(model, tokenizer, row)
        assert prediction["scores"] == pytest.approx(expected, abs=1e-3)
        assert prediction["prediction"] == max(range(len(expected)), key=expected.__getitem__)
        hits += prediction["prediction"] == row["label"]
    assert result["correct"] == hits
    assert result["acc"] == pytest.approx(100.0 * hits / len(rows))


@pytest.mark.parametrize("model_fixture", ["gpt2_dir", "atom_dir"])
def test_items_with_different_ending_counts_share_a_batch(request, model_fixture, tmp_path):
    # ArithMark 3 rows may carry 2..n endings; one-token, equal and unequal tails all mix.
    rng = random.Random(5)
    records = []
    for index in range(12):
        count = 2 + index % 4
        endings = sorted({f" {rng.randint(0, 10 ** rng.randint(1, 5))}" for _ in range(count + 3)})[:count]
        records.append({"ctx": f"{rng.randint(0, 99)} + {rng.randint(0, 99)} =", "endings": endings,
                        "label": str(rng.randrange(len(endings))), "category": "mixed"})
    rows = load_arithmark_rows(write_rows(tmp_path / "v3.jsonl", records))
    model, tokenizer = load_model_and_tokenizer(str(request.getfixturevalue(model_fixture)))
    result = score_arithmark(model, tokenizer, rows, batch_size=12)
    for row, prediction in zip(rows, result["predictions"]):
        assert prediction["scores"] == pytest.approx(naive_scores(model, tokenizer, row), abs=1e-3)


def test_batch_size_does_not_change_results(gpt2_dir, rows):
    model, tokenizer = load_model_and_tokenizer(str(gpt2_dir))
    reference = score_arithmark(model, tokenizer, rows, batch_size=1)
    for batch_size in (3, 64):
        result = score_arithmark(model, tokenizer, rows, batch_size=batch_size)
        assert [p["prediction"] for p in result["predictions"]] == [p["prediction"] for p in reference["predictions"]]
        assert result["acc_norm"] == reference["acc_norm"]


def test_acc_norm_uses_mean_log_prob_per_ending_token(gpt2_dir, rows):
    model, tokenizer = load_model_and_tokenizer(str(gpt2_dir))
    result = score_arithmark(model, tokenizer, rows, batch_size=16)
    for row, prediction in zip(rows, result["predictions"]):
        lengths = [len(tokenizer.encode(e, add_special_tokens=False)) for e in row["endings"]]
        means = [s / n for s, n in zip(prediction["scores"], lengths)]
        assert prediction["prediction_norm"] == max(range(4), key=means.__getitem__)


def test_ties_pick_the_first_ending(gpt2_dir, tmp_path):
    # Identical endings have identical scores: the official argmax picks the first of them.
    model, tokenizer = load_model_and_tokenizer(str(gpt2_dir))
    path = write_rows(tmp_path / "ties.jsonl", [{"ctx": "1 + 1 =", "endings": [" 3", " 2", " 2", " 3"], "label": "1"}])
    prediction = score_arithmark(model, tokenizer, load_arithmark_rows(path))["predictions"][0]
    assert prediction["scores"][1] == prediction["scores"][2]
    assert prediction["prediction"] in (0, 1)


def test_breakdowns_cover_metadata(gpt2_dir, rows):
    model, tokenizer = load_model_and_tokenizer(str(gpt2_dir))
    result = score_arithmark(model, tokenizer, rows)
    tagged = [r for r in rows if "operator_count" in r["metadata"]]
    by_operators = result["breakdowns"]["operator_count"]
    assert sum(cell["total"] for name, cell in by_operators.items() if name != "None") == len(tagged)
    assert set(result["breakdowns"]) >= {"difficulty", "operator_count", "has_parentheses", "topic"}
    by_topic = {name: cell["total"] for name, cell in result["breakdowns"]["topic"].items() if name != "None"}
    assert by_topic == Counter(r["metadata"]["topic"] for r in rows if "topic" in r["metadata"])
    assert "mixed" in by_topic and "addition" in by_topic
