"""The evaluations run during training, on hand-written shards and a tiny real model (fast)."""

import contextlib
import json

import numpy as np
import pytest
import torch

from atomlm.data.loader import TokenBatchLoader
from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.modeling_atom import AtomForCausalLM
from atomlm.modeling.arithmetic_features import question_tokens
from atomlm.training.periodic_eval import validation_losses

SEQ_LEN, PAD_ID = 16, 2


def _write_shards(shard_dir, val_rows: np.ndarray) -> None:
    """A shard directory with one train shard and one val shard holding `val_rows` (possibly none)."""
    shard_dir.mkdir()
    splits = {"train": np.full((2, SEQ_LEN), 7, dtype=np.uint16), "val": val_rows.astype(np.uint16)}
    shards = {}
    for split, rows in splits.items():
        rows.tofile(shard_dir / f"{split}.bin")
        shards[split] = [{"file": f"{split}.bin", "rows": len(rows), "phase_index": 1, "phase": "only"}]
    manifest = {"seq_len": SEQ_LEN, "pad_id": PAD_ID, "seed": 0, "shards": shards}
    (shard_dir / "manifest.json").write_text(json.dumps(manifest))


def _val_loader(shard_dir):
    return TokenBatchLoader(shard_dir, 2, split="val", loop=False)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    config = AtomConfig(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                        num_key_value_heads=1, head_dim=16)
    return AtomForCausalLM(config).eval()


def test_validation_loss_is_the_mean_over_supervised_tokens(tmp_path, tiny_model):
    generator = np.random.default_rng(0)
    rows = generator.integers(10, 200, size=(3, SEQ_LEN))
    rows[0, 10:] = PAD_ID  # padding at the end is not supervised
    _write_shards(tmp_path / "shards", rows)

    loss = validation_losses(tiny_model, _val_loader(tmp_path / "shards"), batches=5, device="cpu",
                             autocast=contextlib.nullcontext)["val_loss"]

    # Every val row (order does not matter for a mean): the summed next-token loss over the
    # non-pad targets divided by their count, not a mean of per-batch means.
    ids = torch.from_numpy(rows)
    with torch.no_grad():
        logits = tiny_model(input_ids=ids, attention_mask=(ids != PAD_ID).long()).logits
    targets = ids[:, 1:]
    per_token = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), reduction="none")
    supervised = (targets != PAD_ID).flatten()
    assert loss == pytest.approx(float(per_token[supervised].sum() / supervised.sum()), rel=1e-5)
    assert tiny_model.training is False  # left in the mode it was given


def test_the_answer_loss_leaves_out_the_questions_of_equations(tmp_path, tiny_model):
    """`val_loss_answers` is the loss on the targets `data.loss_on: answers` trains on: text and
    answers, not the "12+34=" of an equation; `val_loss` keeps every target."""
    config = tiny_model.config
    digit, operator = config.digit_token_ids, config.operator_token_ids
    equation = [digit[2], digit[1], operator["+"], digit[4], digit[3], operator["="], digit[6], digit[4]]
    rows = np.array([[150, 151, *equation, 153, 154, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
                     [160, *equation, 161, *equation[:4], PAD_ID, PAD_ID]])
    _write_shards(tmp_path / "shards", rows)

    losses = validation_losses(tiny_model, _val_loader(tmp_path / "shards"), batches=1, device="cpu",
                               autocast=contextlib.nullcontext)

    ids = torch.from_numpy(rows)
    attention_mask = (ids != PAD_ID).long()
    with torch.no_grad():
        logits = tiny_model(input_ids=ids, attention_mask=attention_mask).logits
    per_token = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    every = (ids != PAD_ID)[:, 1:]
    answers = every & ~question_tokens(ids, config, attention_mask)[:, 1:]
    assert 0 < answers.sum() < every.sum() - 10  # both equations' questions are left out
    assert losses["val_loss"] == pytest.approx(float(per_token[every].mean()), rel=1e-5)
    assert losses["val_loss_answers"] == pytest.approx(float(per_token[answers].mean()), rel=1e-5)


def test_validation_loss_reads_only_the_first_batches(tmp_path, tiny_model):
    rows = np.random.default_rng(1).integers(10, 200, size=(4, SEQ_LEN))
    _write_shards(tmp_path / "shards", rows)
    one = validation_losses(tiny_model, _val_loader(tmp_path / "shards"), batches=1, device="cpu",
                            autocast=contextlib.nullcontext)
    two = validation_losses(tiny_model, _val_loader(tmp_path / "shards"), batches=2, device="cpu",
                            autocast=contextlib.nullcontext)
    assert one != two


def test_an_empty_validation_split_gives_none(tmp_path, tiny_model):
    _write_shards(tmp_path / "shards", np.zeros((0, SEQ_LEN)))
    assert validation_losses(tiny_model, _val_loader(tmp_path / "shards"), batches=4, device="cpu",
                             autocast=contextlib.nullcontext) is None
