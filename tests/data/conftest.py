"""Fixtures for the data tests: a tiny curriculum and one shared small shard build."""

from __future__ import annotations

import json

import pytest

TINY_CURRICULUM = {
    "name": "tiny",
    "phases": [
        {"name": "first", "tokens": 24000,
         "sources": {"kjv": {"weight": 1}, "synthetic-arithmetic": {"weight": 2, "stage": 1}}},
        {"name": "second", "tokens": 16000,
         "sources": {"synthetic-arithmetic": {"weight": 3, "stage": [3, 4]}, "kjv": {"weight": 1}}},
    ],
}


@pytest.fixture
def tiny_curriculum():
    """The tiny curriculum as a JSON object (a fresh copy)."""
    return json.loads(json.dumps(TINY_CURRICULUM))


@pytest.fixture
def tiny_curriculum_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_CURRICULUM))
    return path


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """A built shard directory of the tiny curriculum (small shards so each stream has several)."""
    from atomlm.data.curriculum import parse_curriculum
    from atomlm.data.shards import build_shards

    out = tmp_path_factory.mktemp("tiny-shards")
    build_shards(parse_curriculum(TINY_CURRICULUM), None, out, seq_len=64, shard_tokens=4000, val_rows=4,
                 progress=False)
    return out
