"""The streamed rows: correct equations, deterministic whatever the worker count, exact restarts,
the loader's distributed semantics, phase boundaries, phases mixing sources, refusals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from atomlm.data.curriculum import load_curriculum, parse_curriculum, shipped_curricula
from atomlm.data.expressions import BinaryOperation, integer_value, parse
from atomlm.data.sources import is_validation_document
from atomlm.data.stream import CurriculumStream, StreamedBatchLoader, StreamError, block_source_rows

SEQ_LEN, BLOCK_ROWS = 64, 8
# Stage 1 is one operator on non-negative numbers; stage 5 is two to four operators.
CURRICULUM = {
    "name": "two-stages",
    "phases": [
        {"name": "easy", "tokens": 1500, "sources": {"synthetic-arithmetic": {"weight": 1, "stage": 1}}},
        {"name": "chains", "tokens": 1000, "sources": {"synthetic-arithmetic": {"weight": 2, "stage": 5}}},
    ],
}


@pytest.fixture(scope="module")
def stream():
    return CurriculumStream(parse_curriculum(CURRICULUM), seq_len=SEQ_LEN, block_rows=BLOCK_ROWS)


def _input_ids(loader, batches: int) -> list[torch.Tensor]:
    return [batch["input_ids"] for batch in itertools.islice(loader, batches)]


def _equations(tokenizer, row) -> list[str]:
    """The equations of one row, in order (a piece cut by the end of the row is left out)."""
    text = tokenizer.decode(row).replace("<|pad|>", "")
    pieces = text.split("<|endoftext|>")
    assert pieces[-1] == "", f"a row ends with <|endoftext|> then padding: {text!r}"
    return pieces[:-1]


def _operators(expression) -> int:
    if isinstance(expression, BinaryOperation):
        return 1 + _operators(expression.left) + _operators(expression.right)
    return 0


def _numbers(expression) -> list[int]:
    if isinstance(expression, BinaryOperation):
        return _numbers(expression.left) + _numbers(expression.right)
    return [expression.value]


def test_batches_follow_the_shard_loader_conventions(stream):
    batch = next(iter(StreamedBatchLoader(stream, 4)))
    assert set(batch) == {"input_ids", "labels", "attention_mask"}
    for value in batch.values():
        assert value.shape == (4, SEQ_LEN) and value.dtype == torch.long
    pad = stream.pad_id
    assert (batch["input_ids"] == pad).any()  # rows end in padding ...
    assert torch.equal(batch["attention_mask"], (batch["input_ids"] != pad).long())
    assert torch.equal(batch["labels"], batch["input_ids"].masked_fill(batch["input_ids"] == pad, -100))


def test_rows_decode_to_correct_equations_of_their_phase_stages(stream, tokenizer):
    loader = StreamedBatchLoader(stream, BLOCK_ROWS)
    assert stream.phase_boundaries() == [("easy", 0, 24), ("chains", 24, 40)]  # 1500/64 rows, in whole blocks
    assert loader.num_rows == 40
    for phase, start, end in stream.phase_boundaries():
        rows = loader.rows(np.arange(start, end))
        assert (rows != stream.pad_id).mean() > 0.8  # rows are packed full, as the shards' are
        equations = [equation for row in rows for equation in _equations(tokenizer, row)]
        assert len(equations) >= end - start
        for equation in equations:
            expression, _, result = equation.partition(" = ")
            tree = parse(expression)
            assert integer_value(tree) == int(result), equation
            assert not is_validation_document(equation)  # the held-out pool never enters training
            if phase == "easy":
                assert _operators(tree) == 1 and min(_numbers(tree)) >= 0, equation
            else:
                assert 2 <= _operators(tree) <= 4, equation


def test_validation_rows_are_held_out_equations(stream, tokenizer):
    loader = StreamedBatchLoader(stream, 5, split="val", loop=False)
    rows = torch.cat([batch["input_ids"] for batch in loader])
    assert rows.shape == (2 * 8, SEQ_LEN) and loader.num_rows == 16  # VALIDATION_ROWS per phase
    equations = [equation for row in rows for equation in _equations(tokenizer, row)]
    assert equations and all(is_validation_document(equation) for equation in equations)


def test_stream_is_deterministic(stream):
    again = CurriculumStream(parse_curriculum(CURRICULUM), seq_len=SEQ_LEN, block_rows=BLOCK_ROWS)
    first, second = _input_ids(StreamedBatchLoader(stream, 3), 16), _input_ids(StreamedBatchLoader(again, 3), 16)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert again.fingerprint() == stream.fingerprint()
    reseeded = CurriculumStream(parse_curriculum(CURRICULUM), seq_len=SEQ_LEN, block_rows=BLOCK_ROWS, seed=1)
    assert not torch.equal(_input_ids(StreamedBatchLoader(reseeded, 3), 1)[0], first[0])
    assert reseeded.fingerprint() != stream.fingerprint()


def test_worker_processes_give_the_rows_of_one_process(stream):
    """From the start and from a restart row, across phases and the wrap into a second pass."""
    in_process = _input_ids(StreamedBatchLoader(stream, 3, start_row=5), 16)
    for workers in (1, 2):
        assert all(torch.equal(a, b) for a, b in
                   zip(in_process, _input_ids(StreamedBatchLoader(stream, 3, start_row=5, workers=workers), 16)))


def test_restart_at_a_row_gives_the_same_batches(stream):
    loader = StreamedBatchLoader(stream, 3)
    iterator = iter(loader)
    for _ in range(5):
        next(iterator)
    state = loader.state_dict()
    assert state == {"next_row": 15}
    expected = [next(iterator)["input_ids"] for _ in range(12)]  # past the end of the stream: it loops
    restarted = _input_ids(StreamedBatchLoader(stream, 3, start_row=state["next_row"]), 12)
    assert all(torch.equal(a, b) for a, b in zip(expected, restarted))
    wrapped = StreamedBatchLoader(stream, 3).rows(np.arange(stream.num_rows, stream.num_rows + 3))
    assert np.array_equal(wrapped, StreamedBatchLoader(stream, 3).rows(np.arange(3)))


def test_two_ranks_together_see_the_rows_of_one_process(stream):
    single = _input_ids(StreamedBatchLoader(stream, 4), 8)
    rank0, rank1 = (StreamedBatchLoader(stream, 4, rank=rank, world_size=2) for rank in (0, 1))
    for step, (b0, b1) in enumerate(zip(_input_ids(rank0, 4), _input_ids(rank1, 4))):
        assert torch.equal(b0, single[2 * step]) and torch.equal(b1, single[2 * step + 1])
    assert rank0.state_dict() == rank1.state_dict() == {"next_row": 32}


# A quarter of each block is KJV text, the rest stage-1 equations.
MIXED = {
    "name": "mixed",
    "phases": [{"name": "mix", "tokens": 6 * BLOCK_ROWS * SEQ_LEN,
                "sources": {"kjv": {"weight": 1}, "synthetic-arithmetic": {"weight": 3, "stage": 1}}}],
}


def _is_equation_row(tokenizer, row) -> bool:
    """Whole equations only (a KJV row is a chapter, or a piece of one, without " = ")."""
    text = tokenizer.decode(row).replace("<|pad|>", "")
    return text.endswith("<|endoftext|>") and all(" = " in piece for piece in text.split("<|endoftext|>")[:-1])


def test_a_mixed_phase_gives_each_source_its_share_of_every_block(tokenizer):
    stream = CurriculumStream(parse_curriculum(MIXED), seq_len=SEQ_LEN, block_rows=BLOCK_ROWS)
    loader = StreamedBatchLoader(stream, BLOCK_ROWS)
    positions_of_text = set()
    for number in range(stream.num_rows // BLOCK_ROWS):
        rows = loader.rows(np.arange(number * BLOCK_ROWS, (number + 1) * BLOCK_ROWS))
        kinds = [_is_equation_row(tokenizer, row) for row in rows]
        assert kinds.count(False) == BLOCK_ROWS // 4, f"block {number}: {kinds}"  # 2 KJV rows of 8
        for row, is_equation in zip(rows, kinds):
            text = tokenizer.decode(row)
            if is_equation:
                for equation in _equations(tokenizer, row):
                    expression, _, result = equation.partition(" = ")
                    assert integer_value(parse(expression)) == int(result), equation
            else:
                assert sum(character.isalpha() for character in text) > len(text) / 2, text  # English
        positions_of_text.update(position for position, kind in enumerate(kinds) if not kind)
    assert len(positions_of_text) > 2  # the rows of a block are shuffled, not text first
    in_process = _input_ids(StreamedBatchLoader(stream, 3, start_row=5), 10)
    with_workers = _input_ids(StreamedBatchLoader(stream, 3, start_row=5, workers=2), 10)
    assert all(torch.equal(a, b) for a, b in zip(in_process, with_workers))
    validation = StreamedBatchLoader(stream, 8, split="val", loop=False).rows(np.arange(8))
    assert sum(not _is_equation_row(tokenizer, row) for row in validation) == 2


def test_block_source_rows_are_the_shares_whole_parts_and_the_rest_by_seed():
    shares = [0.05, 0.3, 0.65]
    counts = [block_source_rows(shares, 64, seed) for seed in range(2000)]
    assert all(sum(count) == 64 for count in counts)
    for index, share in enumerate(shares):  # 3.2, 19.2, 41.6 rows: floor or ceil, exact on average
        assert {count[index] for count in counts} == {int(share * 64), int(share * 64) + 1}
        assert np.mean([count[index] for count in counts]) == pytest.approx(share * 64, abs=0.05)
    assert block_source_rows(shares, 64, 7) == block_source_rows(shares, 64, 7)
    assert block_source_rows([0.5, 0.5], 8, 0) == [4, 4]


def test_curricula_with_sources_read_in_order_are_refused_by_name(tmp_path):
    with pytest.raises(StreamError, match=r"phase 1 \('general-web'\) of curriculum 'atom2.7m' reads ultra-fineweb "
                                          r"from hub dataset .*streaming makes rows of arithmetic, mathematics, kjv "
                                          r"sources. Set data.stream=false to build shards"):
        CurriculumStream("atom2.7m", seq_len=SEQ_LEN)
    (tmp_path / "notes.txt").write_text("1 + 1 = 2\n")
    local = {"name": "local", "sources": {"notes": {"path": str(tmp_path / "notes.txt")}},
             "phases": [{"name": "only", "tokens": 100, "sources": {"notes": {"weight": 1}}}]}
    with pytest.raises(StreamError, match=r"reads notes from local files \(.*notes.txt\)"):
        CurriculumStream(parse_curriculum(local), seq_len=SEQ_LEN)


@pytest.mark.parametrize("name", [name for name in shipped_curricula() if name != "atom2.7m"])
def test_every_offline_curriculum_streams(name):
    """The curricula of generated and packaged sources (the `gpu-offline` preset streams `gpu-2b`)."""
    stream = CurriculumStream(name, seq_len=SEQ_LEN)
    assert stream.num_rows * SEQ_LEN >= load_curriculum(name).total_tokens
    assert [phase.name for phase in stream.phases] == [phase.name for phase in load_curriculum(name).phases]
