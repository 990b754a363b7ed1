"""Atomic checkpoints: round trip, pruning, RNG capture, and clear errors for corruption."""

import json
import random

import numpy as np
import pytest
import torch

from atomlm.training.checkpoint import (
    CheckpointError,
    capture_rng_states,
    latest_checkpoint,
    load_checkpoint,
    load_model_from_run,
    restore_rng_states,
    save_checkpoint,
)


def _save(run_dir, step, keep=2):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = {"optimizer": optimizer.state_dict(), "rng": capture_rng_states(), "data": {"next_row": step * 8}}
    return save_checkpoint(run_dir, step, model.state_dict(), state, {"tokens_seen": step * 100}, keep=keep), model


def test_round_trip_latest_and_pruning(tmp_path):
    for step in (1, 2, 3):
        path, model = _save(tmp_path, step)
    assert latest_checkpoint(tmp_path) == path
    model_state, state, meta = load_checkpoint(path)
    assert meta["step"] == 3 and meta["tokens_seen"] == 300 and state["data"]["next_row"] == 24
    assert torch.equal(model_state["weight"], model.state_dict()["weight"])
    assert state["optimizer"]["state"][0]["step"] == 1
    remaining = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert remaining == ["latest", "step_000002", "step_000003"]  # kept 2, no temp leftovers


def test_rng_states_restore_exactly():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    states = capture_rng_states()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_states(states)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_corrupt_or_missing_files_give_clear_errors(tmp_path):
    path, _ = _save(tmp_path, 5)
    with open(path / "model.pt", "r+b") as handle:  # flip bytes in the middle of the weights file
        handle.seek(40)
        handle.write(b"\x00\xff\x00\xff")
    with pytest.raises(CheckpointError, match=r"model\.pt: corrupt \(sha256"):
        load_checkpoint(path)
    (path / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"meta\.json: line 1: corrupt JSON"):
        load_checkpoint(path)
    (path / "meta.json").unlink()
    with pytest.raises(CheckpointError, match=r"meta\.json: missing"):
        load_checkpoint(path)
    (tmp_path / "checkpoints" / "latest").write_text("step_999999\n")
    with pytest.raises(CheckpointError, match=r"latest: points at 'step_999999'"):
        latest_checkpoint(tmp_path)


def test_load_model_from_run_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such run directory"):
        load_model_from_run(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="has no checkpoint yet"):
        load_model_from_run(tmp_path)
