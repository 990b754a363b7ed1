"""Source registry: local files, offline generators, and the unreachable-hub error path."""

from __future__ import annotations

import itertools
import json

import pytest

from atomlm.data.sources import (
    SOURCES,
    SourceError,
    check_source_available,
    iter_documents,
    resolve_source,
)


def test_registry_holds_the_card_corpora_and_offline_defaults():
    card = {spec.card_name for spec in SOURCES.values() if spec.card_name}
    assert card == {
        "Ultra-FineWeb", "FineWeb-Edu", "FineMath", "Cosmopedia-v2", "UltraData-Math-L2-preview",
        "Ultra-FineWeb-L3-en-QA-Synthetic", "Synthetic-Arithmetic",
    }
    for spec in SOURCES.values():
        if spec.kind == "hub":
            assert spec.dataset_id and spec.verified


def test_hub_source_offline_fails_naming_source_and_fix(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(SourceError) as error:
        check_source_available(SOURCES["finemath"])
    message = str(error.value)
    assert "'finemath'" in message and "HuggingFaceTB/finemath" in message and "--source-path finemath=" in message


def test_build_fails_before_work_when_a_source_is_missing(tmp_path, monkeypatch):
    from atomlm.data.curriculum import load_curriculum
    from atomlm.data.shards import build_shards

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "out"
    with pytest.raises(SourceError, match="source 'ultra-fineweb'"):
        build_shards(load_curriculum("atom2.7m"), None, out, progress=False)
    assert not out.exists()


def test_local_files_jsonl_parquet_txt(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": f"json {i}"}) for i in range(3)) + "\n")
    pq.write_table(pa.table({"text": ["parquet 0", "parquet 1"]}), tmp_path / "b.parquet")
    (tmp_path / "c.txt").write_text("first paragraph\nstill first\n\n\nsecond paragraph\n")
    (tmp_path / "ignored.csv").write_text("x")
    spec = resolve_source("notes", {"path": str(tmp_path)})
    check_source_available(spec)
    one_pass = list(iter_documents(spec, single_pass=True))
    assert one_pass == ["json 0", "json 1", "json 2", "parquet 0", "parquet 1",
                        "first paragraph\nstill first", "second paragraph"]
    # round-robin shards partition a pass; an endless stream starts a new epoch
    shard0 = list(iter_documents(spec, shard_index=0, shard_count=2, single_pass=True))
    shard1 = list(iter_documents(spec, shard_index=1, shard_count=2, single_pass=True))
    assert sorted(shard0 + shard1) == sorted(one_pass) and not set(shard0) & set(shard1)
    assert list(itertools.islice(iter_documents(spec), 9))[7:] == one_pass[:2]


def test_local_errors_name_file_and_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"body": "no text field"}\n')
    spec = resolve_source("notes", {"path": str(tmp_path / "bad.jsonl")})
    with pytest.raises(SourceError, match=r"bad.jsonl:2: expected a string field text"):
        list(iter_documents(spec, single_pass=True))
    with pytest.raises(SourceError, match="no .jsonl/.parquet/.txt files"):
        check_source_available(resolve_source("fineweb-edu", {"path": str(tmp_path / "missing")}))


def test_offline_generators_are_seeded():
    arithmetic = SOURCES["synthetic-arithmetic"]
    first = list(itertools.islice(iter_documents(arithmetic, seed=3, stages=(1, 2)), 50))
    assert first == list(itertools.islice(iter_documents(arithmetic, seed=3, stages=(1, 2)), 50))
    assert first != list(itertools.islice(iter_documents(arithmetic, seed=3, shard_index=1, shard_count=2,
                                                         stages=(1, 2)), 50))
    mathematics = SOURCES["mathematics"]
    check_source_available(mathematics)
    problems = list(itertools.islice(iter_documents(mathematics, seed=5), 20))
    assert problems == list(itertools.islice(iter_documents(mathematics, seed=5), 20))
    assert all("\nAnswer: " in text for text in problems)
    chapters = list(itertools.islice(iter_documents(SOURCES["kjv"]), 2))
    assert chapters == list(itertools.islice(iter_documents(SOURCES["kjv"]), 2))
    assert any(c.startswith("In the beginning God created") for c in iter_documents(SOURCES["kjv"], single_pass=True))


def test_hub_stream_reads_config_split_and_text_column(tmp_path):
    # A dataset repository laid out as on the hub (card YAML with configs, parquet files), read
    # through the same datasets.load_dataset(..., streaming=True) call as a real hub source.
    import pyarrow as pa
    import pyarrow.parquet as pq
    from dataclasses import replace

    from atomlm.data.sources import _hub_documents

    spec = SOURCES["ultra-fineweb-l3-qa"]
    (tmp_path / "data" / "qa").mkdir(parents=True)
    (tmp_path / "data" / "style").mkdir(parents=True)
    for part in range(2):
        texts = [f"question {part}-{i}? answer {i}." for i in range(5)]
        pq.write_table(pa.table({"uid": [f"{part}-{i}" for i in range(5)], "content": texts, "style": ["qa"] * 5}),
                       tmp_path / "data" / "qa" / f"part-{part}.parquet")
    pq.write_table(pa.table({"content": ["not this config"]}), tmp_path / "data" / "style" / "part-0.parquet")
    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n"
        f"- config_name: {spec.config}\n  data_files:\n  - split: {spec.split}\n    path: data/qa/*.parquet\n"
        "- config_name: other\n  data_files:\n  - split: train\n    path: data/style/*.parquet\n---\n"
    )
    local = replace(spec, dataset_id=str(tmp_path))
    documents = list(itertools.islice(_hub_documents(local, 0, 1), 10))
    assert sorted(documents) == sorted(f"question {p}-{i}? answer {i}." for p in range(2) for i in range(5))
    halves = [list(itertools.islice(_hub_documents(local, index, 2), 5)) for index in range(2)]
    assert sorted(halves[0] + halves[1]) == sorted(documents)
    with pytest.raises(SourceError, match="ran out of documents"):
        list(_hub_documents(local, 0, 1))
    with pytest.raises(SourceError, match="no string field"):
        next(_hub_documents(replace(local, text_fields=("text",)), 0, 1))


def test_mathematics_stream_leaves_the_callers_random_numbers_alone():
    import random

    import numpy

    random.seed(11)
    numpy.random.seed(11)
    expected = (random.random(), float(numpy.random.random()))
    random.seed(11)
    numpy.random.seed(11)
    stream = iter_documents(SOURCES["mathematics"], seed=5)
    first = list(itertools.islice(stream, 10))
    assert (random.random(), float(numpy.random.random())) == expected
    # interleaved with other draws, the stream goes on as if alone
    rest = list(itertools.islice(stream, 10))
    assert first + rest == list(itertools.islice(iter_documents(SOURCES["mathematics"], seed=5), 20))
