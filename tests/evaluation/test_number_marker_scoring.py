"""The number-end marker removes the least-significant-first ceiling under ArithMark scoring.

ArithMark ranks endings by the summed log-probability of their tokens. With digits written
least-significant first and no marker, ` 7` is a strict token prefix of ` 17`, so a truncated
distractor outscores the right answer whatever the model knows. With `<|number_end|>` after every
number, ` 7` ends with the marker where a trained model expects the digit `1`, and the right
answer wins on its probability.
"""

import subprocess
import sys

import pytest
import torch
from transformers import AutoTokenizer

from atomlm.evaluation.benchmark_fusion_arithmark import score_arithmark
from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.modeling_atom import AtomForCausalLM
from atomlm.tokenizer.training import arithmetic_vocabulary

# Rows whose third ending drops the answer's leading digit (a truncation distractor).
TRUNCATION_ROWS = [
    {"ind": 0, "ctx": "8 + 9 =", "endings": [" 16", " 17", " 7", " 19"], "label": 1, "metadata": {}},
    {"ind": 1, "ctx": "9 + 5 =", "endings": [" 13", " 14", " 4", " 15"], "label": 1, "metadata": {}},
    {"ind": 2, "ctx": "6 + 7 =", "endings": [" 12", " 13", " 3", " 11"], "label": 1, "metadata": {}},
]


def trained_tokenizer(tmp_path, number_marker):
    out = tmp_path / f"tokenizer-{number_marker}"
    subprocess.run([sys.executable, "-m", "atomlm", "tokenizer", "train", "--out", str(out), "--force",
                    "--number-marker", number_marker], check=True, capture_output=True, text=True)
    return AutoTokenizer.from_pretrained(str(out), trust_remote_code=True)


def tiny_model(tokenizer, seed=0):
    torch.manual_seed(seed)
    config = AtomConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                        num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=64,
                        pad_token_id=tokenizer.pad_token_id, **arithmetic_vocabulary(tokenizer.backend_tokenizer))
    return AtomForCausalLM(config)


def train_on_single_digit_sums(model, tokenizer, steps=600, stop_below=None):
    """Every `a + b = c` with single-digit a and b, one row per sequence, loss on the answer tokens.

    Stops early once the loss is under `stop_below`: whether a sum carries (` 7` + marker vs
    ` 7`,`1` + marker) is learnt after a plateau near ln 2 whose length varies with the seed and
    with float rounding, so a fixed step count makes the test flaky rather than stricter.
    """
    lines = [f"{a} + {b} = {a + b}" for a in range(10) for b in range(10)]
    batch = tokenizer(lines, add_special_tokens=False, padding=True, return_tensors="pt")
    prompt_length = len(tokenizer.encode("0 + 0 =", add_special_tokens=False))
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    labels[:, :prompt_length] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
        if stop_below is not None and loss.item() < stop_below:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def test_marker_model_picks_the_true_sum_over_its_truncation(tmp_path):
    tokenizer = trained_tokenizer(tmp_path, "end")
    model = tiny_model(tokenizer)
    final_loss = train_on_single_digit_sums(model, tokenizer, stop_below=0.02)
    assert final_loss < 0.05, f"the tiny model did not learn the sums (loss {final_loss:.3f})"
    result = score_arithmark(model, tokenizer, TRUNCATION_ROWS)
    for prediction in result["predictions"]:
        scores = prediction["scores"]
        assert prediction["prediction"] == prediction["label"], prediction
        assert scores[1] > scores[2] + 1.0, f"true sum should beat its truncation by a margin: {scores}"


def test_without_the_marker_a_truncation_always_wins(tmp_path):
    """The ceiling the marker removes: without it no model can prefer ` 17` over ` 7`."""
    tokenizer = trained_tokenizer(tmp_path, "none")
    model = tiny_model(tokenizer)
    train_on_single_digit_sums(model, tokenizer, steps=100)
    result = score_arithmark(model, tokenizer, TRUNCATION_ROWS)
    for prediction in result["predictions"]:
        assert prediction["scores"][2] > prediction["scores"][1]
        assert prediction["prediction"] != prediction["label"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-v"]))
