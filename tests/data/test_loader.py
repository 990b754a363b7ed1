"""TokenBatchLoader: batch contents, curriculum order, world-size invariance, exact restarts."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from atomlm.data.loader import TokenBatchLoader


def test_batch_fields_and_labels(tiny_build):
    loader = TokenBatchLoader(tiny_build, 4)
    batch = next(iter(loader))
    assert set(batch) == {"input_ids", "labels", "attention_mask"}
    for value in batch.values():
        assert value.shape == (4, 64) and value.dtype == torch.long
    pad = loader.pad_id
    assert torch.equal(batch["attention_mask"], (batch["input_ids"] != pad).long())
    assert torch.equal(batch["labels"][batch["input_ids"] == pad], torch.full_like(batch["labels"][batch["input_ids"] == pad], -100))
    assert torch.equal(batch["labels"][batch["input_ids"] != pad], batch["input_ids"][batch["input_ids"] != pad])


def test_loss_on_answers_unsupervises_the_questions_only(tiny_build):
    from atomlm.modeling.arithmetic_features import question_tokens
    from atomlm.modeling.configuration_atom import AtomConfig

    config = AtomConfig()
    every, answers = (next(iter(TokenBatchLoader(tiny_build, 4, loss_on=loss_on, model_config=config)))
                      for loss_on in ("all", "answers"))
    assert torch.equal(every["input_ids"], answers["input_ids"])
    question = question_tokens(every["input_ids"], config, every["attention_mask"])
    assert question.any() and (~question & (every["attention_mask"] == 1)).any()
    assert torch.equal(answers["labels"], every["labels"].masked_fill(question, -100))
    with pytest.raises(ValueError, match="loss_on"):
        TokenBatchLoader(tiny_build, 4, loss_on="questions")


def test_features_come_from_the_model_function(tiny_build):
    from atomlm.modeling.arithmetic_features import compute_arithmetic_ids
    from atomlm.modeling.configuration_atom import AtomConfig

    config = AtomConfig()
    batch = next(iter(TokenBatchLoader(tiny_build, 2, with_features=True, model_config=config)))
    place_ids, role_ids = compute_arithmetic_ids(batch["input_ids"], config, batch["attention_mask"])
    assert torch.equal(batch["place_ids"], place_ids) and torch.equal(batch["role_ids"], role_ids)
    assert int(batch["place_ids"].max()) > 0


def test_curriculum_order_phases_in_sequence_and_mixed(tiny_build):
    loader = TokenBatchLoader(tiny_build, 1)
    manifest = loader.manifest
    phase_of_row = np.array([int(manifest["shards"]["train"][f]["phase_index"]) for f in loader._file_of_row])
    assert np.all(np.diff(phase_of_row) >= 0)  # phases never interleave
    bounds = loader.phase_boundaries()
    assert [b[0] for b in bounds] == ["first", "second"] and bounds[-1][2] == loader.num_rows
    start, end = bounds[0][1], bounds[0][2]
    sources = [manifest["shards"]["train"][f]["source"] for f in loader._file_of_row[start:end]]
    half = len(sources) // 2
    # both sources appear in each half of the phase (interleaved, not one block after another)
    assert set(sources[:half]) == set(sources[half:]) == {"kjv", "synthetic-arithmetic"}
    # deterministic
    assert np.array_equal(TokenBatchLoader(tiny_build, 1)._file_of_row, loader._file_of_row)


def test_world_size_invariance(tiny_build):
    single = TokenBatchLoader(tiny_build, 4)
    rank0 = TokenBatchLoader(tiny_build, 4, rank=0, world_size=2)
    rank1 = TokenBatchLoader(tiny_build, 4, rank=1, world_size=2)
    single_batches = [b["input_ids"] for b in itertools.islice(single, 6)]
    for step, (b0, b1) in enumerate(zip(itertools.islice(rank0, 3), itertools.islice(rank1, 3))):
        assert torch.equal(b0["input_ids"], single_batches[2 * step])
        assert torch.equal(b1["input_ids"], single_batches[2 * step + 1])
    assert rank0.state_dict() == rank1.state_dict() == single.state_dict() == {"next_row": 24}


def test_restart_at_exact_position(tiny_build):
    loader = TokenBatchLoader(tiny_build, 3)
    iterator = iter(loader)
    for _ in range(5):
        next(iterator)
    state = loader.state_dict()
    expected = [next(iterator)["input_ids"] for _ in range(4)]
    resumed = TokenBatchLoader(tiny_build, 3)
    resumed.load_state_dict(json.loads(json.dumps(state)))
    got = [b["input_ids"] for b in itertools.islice(resumed, 4)]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    started = TokenBatchLoader(tiny_build, 3, start_row=state["next_row"])
    assert torch.equal(next(iter(started))["input_ids"], expected[0])


def test_looping_and_single_pass(tiny_build):
    loader = TokenBatchLoader(tiny_build, 5, split="val", loop=False)
    rows = sum(b["input_ids"].shape[0] for b in loader)
    assert rows == loader.num_rows > 0
    looping = TokenBatchLoader(tiny_build, 5)
    steps = len(looping) + 2
    assert len(list(itertools.islice(looping, steps))) == steps  # wraps around into a new epoch
    with pytest.raises(ValueError, match="unknown split"):
        TokenBatchLoader(tiny_build, 2, split="test")
