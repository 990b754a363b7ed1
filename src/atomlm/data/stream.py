"""Training rows generated while training runs, so a run starts without a shard build (`data.stream`).

For curricula made of sources that are generated or installed with the package: Synthetic-Arithmetic,
mathematics-dataset problems and the KJV (`STREAMABLE_KINDS`; not local files or hub datasets). A
streamed row is a shard row in kind: documents read from the source (`iter_documents`), tokenized
and packed by the shard builder's own `encoded_documents` and `RowPacker`, so each document ends
with `<|endoftext|>` and a row is padded with `<|pad|>`. What differs is that rows are made on
demand, in blocks of `block_rows`:

- A phase of `tokens` has `ceil(tokens / seq_len)` rows, rounded up to whole blocks; phases follow
  each other in curriculum order, so every row of a phase comes from that phase's stages.
- Block b is a pure function of (tokenizer, seq_len, seed, split, phase, b): the first
  `block_rows` rows that `RowPacker` closes when fed the block's own seeded documents (those left
  in still-open rows are dropped, so rows stay as full as the shards' rows). The stream is
  therefore the same for any number of worker processes and world size, and restarts exactly at
  any row.
- A phase of several sources gives each source its weight's share of every block's rows
  (`block_source_rows`: the whole part of the share, the fractional rows drawn by seed, so a
  phase's shares are exact on average), each source packed on its own as in its shard, and the
  block's rows shuffled by seed. A phase of one source is made as before sources mixed.
- Training rows never hold a document of a source's held-out 1% hash pool; validation rows are
  made of it only (`in_split`; mathematics problems come from a seed stream of their own),
  `VALIDATION_ROWS` per phase in one seeded permutation, like the shards'.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atomlm.data.curriculum import ARITHMETIC_SOURCE, Curriculum, Phase, load_curriculum
from atomlm.data.loader import RowBatchLoader
from atomlm.data.shards import (
    DEFAULT_VAL_ROWS,
    RowPacker,
    encoded_documents,
    packing_tokenizer,
    special_token_ids,
    tokenizer_fingerprint,
    worker_pool,
)
from atomlm.data.source_readers import check_source_available, iter_documents
from atomlm.data.sources import SourceError, SourceSpec, in_split, stream_seed
from atomlm.errors import UserError

# Changes whenever the same settings would give other rows; part of `CurriculumStream.fingerprint`.
STREAM_FORMAT_VERSION = 1
# Source kinds whose documents a block can make on its own: generated, or shuffled by seed from an
# installed package. Local files and hub datasets are read in order, so they are built into shards.
STREAMABLE_KINDS = ("arithmetic", "mathematics", "kjv")
BLOCK_ROWS = 64
VALIDATION_ROWS = DEFAULT_VAL_ROWS
# Documents tokenized at a time at first, doubling from there: a source with a small share of a
# block (a KJV chapter or two) would otherwise make and tokenize hundreds of documents it drops.
STREAM_ENCODE_BATCH = 4
# Blocks each worker process has queued ahead of the block being read.
BLOCKS_AHEAD_PER_WORKER = 2


class StreamError(UserError):
    """A curriculum that cannot be streamed; the message says which phase and what to do."""


@dataclass(frozen=True)
class StreamPhase:
    """One phase's rows in the stream: global rows [first_row, first_row + rows)."""

    index: int  # 1-based, as in shard names
    name: str
    sources: tuple[tuple[str, float], ...]  # (source name, share of the rows), in curriculum order
    stages: tuple[int, ...]  # of its Synthetic-Arithmetic, if any
    first_row: int
    rows: int


@dataclass(frozen=True)
class StreamSpec:
    """What every block of one stream shares. Sent to each worker process, so it pickles."""

    sources: tuple[SourceSpec, ...]  # every source the curriculum reads
    tokenizer_dir: Path
    seq_len: int
    seed: int

    def source(self, name: str) -> SourceSpec:
        return next(spec for spec in self.sources if spec.name == name)


@dataclass(frozen=True)
class Block:
    """`rows` rows of one phase's stream of `split`, the `index`-th block of that phase."""

    split: str
    phase_index: int
    sources: tuple[tuple[str, float], ...]  # the phase's (source name, share of the rows)
    stages: tuple[int, ...]
    index: int
    rows: int


def generate_block(spec: StreamSpec, block: Block) -> np.ndarray:
    """The block's rows, `(block.rows, seq_len)` uint16: a pure function of its arguments."""
    seed = stream_seed(spec.seed, "stream", block.split, block.phase_index, block.index)
    if len(block.sources) == 1:
        return _packed_rows(spec, spec.source(block.sources[0][0]), seed, block, block.rows)
    counts = block_source_rows([share for _, share in block.sources], block.rows, seed)
    parts = [_packed_rows(spec, spec.source(name), stream_seed(seed, name), block, count)
             for (name, _), count in zip(block.sources, counts) if count]
    rows = np.concatenate(parts)
    return rows[np.random.default_rng(stream_seed(seed, "order")).permutation(rows.shape[0])]


def _packed_rows(spec: StreamSpec, source: SourceSpec, seed: int, block: Block, rows: int) -> np.ndarray:
    """The first `rows` rows that `RowPacker` closes from `source`'s documents of `block.split`."""
    tokenizer = packing_tokenizer(spec.tokenizer_dir)
    end_id, pad_id = special_token_ids(tokenizer)
    documents = iter_documents(source, seed=seed, stages=block.stages)
    texts = (text for text in documents if in_split(source, text, block.split))
    packer = RowPacker(spec.seq_len, pad_id)
    for ids in encoded_documents(texts, tokenizer, end_id, first_batch=STREAM_ENCODE_BATCH):
        packer.add(ids)
        if len(packer.closed) >= rows:
            break
    return np.asarray(packer.closed[:rows], dtype=np.uint16)


def block_source_rows(shares: list[float], rows: int, seed: int) -> list[int]:
    """How many of a block's `rows` each source makes: the whole part of `share * rows`, and the
    rows left over drawn one at a time, by seed, with the fractional parts as weights (each
    source's count is `share * rows` on average). `shares` sum to 1."""
    exact = [share * rows for share in shares]
    counts = [math.floor(value) for value in exact]
    remainders = [value - count for value, count in zip(exact, counts)]
    generator = random.Random(seed)
    for _ in range(rows - sum(counts)):
        weights = remainders if sum(remainders) > 0 else shares  # all zero only by float rounding
        chosen = generator.choices(range(len(shares)), weights=weights)[0]
        counts[chosen] += 1
        remainders[chosen] = 0.0
    return counts


def streamed_sources(curriculum: Curriculum) -> tuple[SourceSpec, ...]:
    """The specs of every source the curriculum reads; `StreamError` for one a block cannot make
    on its own (`STREAMABLE_KINDS`) or whose package is missing."""
    specs = {}
    for number, phase in enumerate(curriculum.phases, start=1):
        for source in phase.sources:
            spec = curriculum.source_spec(source.name)
            if spec.kind not in STREAMABLE_KINDS:
                where = spec.dataset_id if spec.kind == "hub" else spec.path
                raise StreamError(
                    f"data.stream: phase {number} ({phase.name!r}) of curriculum {curriculum.name!r} reads "
                    f"{source.name} from {spec.kind} {'dataset' if spec.kind == 'hub' else 'files'} ({where}), "
                    f"which are read in order, not made by seed; streaming makes rows of "
                    f"{', '.join(STREAMABLE_KINDS)} sources. Set data.stream=false to build shards"
                )
            specs[source.name] = spec
    for spec in specs.values():
        try:
            check_source_available(spec)
        except SourceError as error:
            raise StreamError(f"data.stream: {error}") from error
    return tuple(specs.values())


def phase_shares(phase: Phase) -> tuple[tuple[str, float], ...]:
    """(source name, weight / the phase's total weight) of each source of `phase`."""
    total = sum(source.weight for source in phase.sources)
    return tuple((source.name, source.weight / total) for source in phase.sources)


def phase_stages(phase: Phase) -> tuple[int, ...]:
    """The stages of the phase's Synthetic-Arithmetic (empty without it)."""
    return next((source.stages for source in phase.sources if source.name == ARITHMETIC_SOURCE), ())


class CurriculumStream:
    """The rows of a curriculum of `STREAMABLE_KINDS` sources for one (tokenizer, seq_len, seed),
    made on demand: `block(number)` says which block holds global rows [number * block_rows, ...)."""

    def __init__(self, curriculum: Curriculum | str | Path, *, tokenizer_dir: str | Path | None = None,
                 seq_len: int = 512, seed: int = 0, block_rows: int = BLOCK_ROWS):
        if not isinstance(curriculum, Curriculum):
            curriculum = load_curriculum(curriculum)
        if seq_len < 2 or block_rows < 1:
            raise ValueError(f"need seq_len >= 2 and block_rows >= 1, got {seq_len} and {block_rows}")
        if tokenizer_dir is None:
            from atomlm.tokenizer import default_tokenizer_dir

            tokenizer_dir = default_tokenizer_dir()
        self.curriculum = curriculum
        self.spec = StreamSpec(streamed_sources(curriculum), Path(tokenizer_dir).resolve(), seq_len, seed)
        self.block_rows = block_rows
        tokenizer = packing_tokenizer(self.spec.tokenizer_dir)
        if len(tokenizer) > 65536:
            raise StreamError(f"vocabulary of {len(tokenizer)} tokens does not fit uint16 rows")
        self.pad_id = special_token_ids(tokenizer)[1]
        self.phases: list[StreamPhase] = []
        first_row = 0
        for index, phase in enumerate(curriculum.phases, start=1):
            rows = math.ceil(math.ceil(phase.tokens / seq_len) / block_rows) * block_rows
            self.phases.append(
                StreamPhase(index, phase.name, phase_shares(phase), phase_stages(phase), first_row, rows))
            first_row += rows
        self.num_rows = first_row
        self._phase_starts = [phase.first_row for phase in self.phases]
        self._validation: np.ndarray | None = None

    @property
    def seq_len(self) -> int:
        return self.spec.seq_len

    def block(self, number: int) -> Block:
        """The training block holding global rows [number * block_rows, (number + 1) * block_rows)."""
        first_row = number * self.block_rows
        if not 0 <= first_row < self.num_rows:
            raise IndexError(f"block {number} is outside the stream's {self.num_rows} rows")
        phase = self.phases[bisect.bisect_right(self._phase_starts, first_row) - 1]
        return Block("train", phase.index, phase.sources, phase.stages,
                     (first_row - phase.first_row) // self.block_rows, self.block_rows)

    def phase_boundaries(self) -> list[tuple[str, int, int]]:
        """(phase name, first global row, end row) of each phase."""
        return [(phase.name, phase.first_row, phase.first_row + phase.rows) for phase in self.phases]

    def validation_rows(self) -> np.ndarray:
        """`VALIDATION_ROWS` held-out rows per phase in one seeded permutation (made once)."""
        if self._validation is None:
            blocks = [generate_block(self.spec, Block("val", phase.index, phase.sources, phase.stages, 0,
                                                      VALIDATION_ROWS))
                      for phase in self.phases]
            rows = np.concatenate(blocks)
            self._validation = rows[np.random.default_rng([self.spec.seed, 0]).permutation(rows.shape[0])]
        return self._validation

    def fingerprint(self) -> str:
        """sha256 of what the rows depend on and of the first block of every phase, so that it
        changes when the generator or the tokenizer does (`--resume` compares it)."""
        settings = {
            "format_version": STREAM_FORMAT_VERSION,
            "curriculum": self.curriculum.to_json(),
            "tokenizer_sha256": tokenizer_fingerprint(self.spec.tokenizer_dir),
            "seq_len": self.seq_len,
            "seed": self.spec.seed,
            "block_rows": self.block_rows,
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        for phase in self.phases:
            digest.update(generate_block(self.spec, self.block(phase.first_row // self.block_rows)).tobytes())
        return digest.hexdigest()


class StreamedBatchLoader(RowBatchLoader):
    """`TokenBatchLoader`'s batches and semantics (`RowBatchLoader`) over a `CurriculumStream`.

    `workers` > 0 spawns that many processes when iteration starts; they make the blocks this
    rank will read, in order, a few ahead (`worker_pool`: they ignore SIGINT and exit with this
    process). `workers=0` makes them in this process. The rows are the same either way.
    """

    def __init__(self, stream: CurriculumStream, batch_size: int, *, split: str = "train", rank: int = 0,
                 world_size: int = 1, start_row: int = 0, loop: bool = True, workers: int = 0,
                 with_features: bool = False, model_config=None, loss_on: str = "all"):
        if split not in ("train", "val"):
            raise ValueError(f"unknown split {split!r}; a stream has 'train' and 'val'")
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        super().__init__(batch_size, pad_id=stream.pad_id, rank=rank, world_size=world_size, start_row=start_row,
                         loop=loop, with_features=with_features, model_config=model_config, loss_on=loss_on)
        self.stream, self.split, self.workers = stream, split, workers
        self.seq_len = stream.seq_len
        self.num_rows = stream.num_rows if split == "train" else stream.validation_rows().shape[0]
        self._prefetcher: _BlockPrefetcher | None = None
        self._last_block: tuple[int, np.ndarray] | None = None

    def phase_boundaries(self) -> list[tuple[str, int, int]]:
        if self.split == "val":
            return [("validation", 0, self.num_rows)]
        return self.stream.phase_boundaries()

    def describe(self) -> str:
        return f"the stream of curriculum {self.stream.curriculum.name!r}"

    def rows(self, global_rows: np.ndarray) -> np.ndarray:
        positions = np.asarray(global_rows, dtype=np.int64) % self.num_rows
        if self.split == "val":
            return self.stream.validation_rows()[positions].astype(np.int64)
        block_rows = self.stream.block_rows
        numbers = positions // block_rows
        out = np.empty((positions.shape[0], self.seq_len), dtype=np.int64)
        for number in dict.fromkeys(numbers.tolist()):  # in order of first use
            chosen = numbers == number
            out[chosen] = self._block_rows(number)[positions[chosen] % block_rows]
        return out

    def _block_rows(self, number: int) -> np.ndarray:
        if self._prefetcher is not None:
            return self._prefetcher.get(number)
        if self._last_block is None or self._last_block[0] != number:  # batches smaller than a block reuse it
            self._last_block = (number, generate_block(self.stream.spec, self.stream.block(number)))
        return self._last_block[1]

    def __iter__(self):
        if self.workers == 0 or self.split == "val":
            return super().__iter__()
        # Started here, not at the first batch, so the workers warm up while the caller sets up.
        prefetcher = _BlockPrefetcher(self.stream, self._planned_blocks(self.next_row), self.workers)
        return self._iterate_with(prefetcher)

    def _iterate_with(self, prefetcher: "_BlockPrefetcher"):
        self._prefetcher = prefetcher
        try:
            yield from super().__iter__()
        finally:
            self._prefetcher = None
            prefetcher.close()

    def _planned_blocks(self, next_row: int):
        """The blocks that iterating from `next_row` reads, in order, each once per use."""
        last = None
        for positions in self.rank_positions(next_row):
            for number in dict.fromkeys((positions % self.num_rows // self.stream.block_rows).tolist()):
                if number != last:
                    yield number
                    last = number


class _BlockPrefetcher:
    """Blocks made by worker processes in the order an iteration will read them, a few ahead."""

    def __init__(self, stream: CurriculumStream, order, workers: int):
        self._stream, self._order = stream, order
        self._pool = worker_pool(workers)
        self._pending: collections.deque = collections.deque()
        self._current: tuple[int, np.ndarray] | None = None
        for _ in range(BLOCKS_AHEAD_PER_WORKER * workers + 1):
            self._submit()

    def _submit(self) -> None:
        number = next(self._order, None)
        if number is not None:
            block = self._stream.block(number)
            self._pending.append((number, self._pool.apply_async(generate_block, (self._stream.spec, block))))

    def get(self, number: int) -> np.ndarray:
        if self._current is not None and self._current[0] == number:
            return self._current[1]
        while self._pending:
            planned, result = self._pending.popleft()
            self._submit()
            if planned == number:
                self._current = (number, result.get())
                return self._current[1]
        raise RuntimeError(f"block {number} was read outside the iteration's planned order")

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()
