"""Training batches in curriculum order, restartable at an exact row: `RowBatchLoader` (what every
loader shares) and `TokenBatchLoader` (rows read from built token shards; the streamed
Synthetic-Arithmetic rows are `atomlm.data.stream.StreamedBatchLoader`).

The global row order of the train split: phases in curriculum order; within a phase, all rows of
all its sources in one seeded permutation, so every stretch of a phase carries the phase's mix
(sources interleave in proportion to their rows). The validation split is one seeded permutation
of all its rows, so any prefix of it covers every (phase, source).

Distributed semantics: iteration i on rank r yields global rows
`[start_row + i*B*W + r*B, start_row + i*B*W + (r+1)*B)`, so W ranks with batch B see exactly the
rows that one process sees with batch B and W accumulation micro-steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from atomlm.data import LOSS_ON


class RowBatchLoader:
    """Iterate `{"input_ids", "labels", "attention_mask"[, "place_ids", "role_ids"]}` LongTensor
    batches of this rank's rows (the distributed semantics above), from `next_row` on.

    A subclass says what the rows are: it sets `num_rows` and `seq_len` and defines
    `rows(global_rows)` and `phase_boundaries()`.
    """

    num_rows: int
    seq_len: int
    split: str

    def __init__(self, batch_size: int, *, pad_id: int, rank: int = 0, world_size: int = 1, start_row: int = 0,
                 loop: bool = True, with_features: bool = False, model_config=None, loss_on: str = "all"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in [0, world_size={world_size})")
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.pad_id = int(pad_id)
        self.loop = loop
        self.with_features = with_features
        self.model_config = model_config
        if loss_on not in LOSS_ON:
            raise ValueError(f"loss_on must be one of {'|'.join(LOSS_ON)}, got {loss_on!r}")
        self.loss_on = loss_on
        if (with_features or loss_on == "answers") and model_config is None:
            from atomlm.modeling.configuration_atom import AtomConfig

            self.model_config = AtomConfig()
        self.next_row = int(start_row)

    def rows(self, global_rows: np.ndarray) -> np.ndarray:
        """Token rows (int64) at global positions (taken modulo the split size)."""
        raise NotImplementedError

    def phase_boundaries(self) -> list[tuple[str, int, int]]:
        """(phase name, first global row, end row) of each phase in the order iterated."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """`{"next_row": int}`: the global row the next global step starts at."""
        return {"next_row": self.next_row}

    def load_state_dict(self, state: dict) -> None:
        self.next_row = int(state["next_row"])

    def __len__(self) -> int:
        """Global steps in one pass over the split (last partial step counted)."""
        step = self.batch_size * self.world_size
        return -(-self.num_rows // step)

    def __iter__(self):
        step = self.batch_size * self.world_size
        if self.num_rows == 0:
            if self.loop:
                raise ValueError(f"split {self.split!r} of {self.describe()} has no rows to loop over")
            return
        for positions in self.rank_positions(self.next_row):
            self.next_row += step
            if positions.shape[0] == 0:
                continue  # this rank's slice of the final global step is empty
            yield self._batch(self.rows(positions))

    def rank_positions(self, next_row: int):
        """The global rows of this rank's batches when iteration starts at global row `next_row`,
        one array per global step (empty where this rank's slice of the final step of a single pass is)."""
        step = self.batch_size * self.world_size
        while True:
            first = next_row + self.rank * self.batch_size
            if self.loop:
                yield np.arange(first, first + self.batch_size)
            else:
                if next_row >= self.num_rows:
                    return
                yield np.arange(first, min(first + self.batch_size, self.num_rows))
            next_row += step

    def describe(self) -> str:
        """Where the rows come from, for messages."""
        return type(self).__name__

    def _batch(self, rows: np.ndarray) -> dict:
        input_ids = torch.from_numpy(rows)
        attention_mask = (input_ids != self.pad_id).long()
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        if self.loss_on == "answers":
            from atomlm.modeling.arithmetic_features import question_tokens

            labels = labels.masked_fill(question_tokens(input_ids, self.model_config, attention_mask), -100)
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
        if self.with_features:
            from atomlm.modeling.arithmetic_features import compute_arithmetic_ids

            place_ids, role_ids = compute_arithmetic_ids(input_ids, self.model_config, attention_mask)
            batch["place_ids"], batch["role_ids"] = place_ids, role_ids
        return batch


class TokenBatchLoader(RowBatchLoader):
    """Batches of the rows of built token shards (`atomlm data build`, `atomlm.data.shards`)."""

    def __init__(
        self,
        shard_dir: str | Path,
        batch_size: int,
        *,
        split: str = "train",
        rank: int = 0,
        world_size: int = 1,
        start_row: int = 0,
        loop: bool = True,
        with_features: bool = False,
        model_config=None,
        order_seed: int | None = None,
        loss_on: str = "all",
    ):
        self.shard_dir = Path(shard_dir)
        manifest_path = self.shard_dir / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"{manifest_path} not found: build shards first with `atomlm data build --out {self.shard_dir}`"
            )
        self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if split not in self.manifest["shards"]:
            raise ValueError(f"unknown split {split!r}; the manifest has {sorted(self.manifest['shards'])}")
        super().__init__(batch_size, pad_id=int(self.manifest["pad_id"]), rank=rank, world_size=world_size,
                         start_row=start_row, loop=loop, with_features=with_features, model_config=model_config,
                         loss_on=loss_on)
        self.split = split
        self.seq_len = int(self.manifest["seq_len"])
        seed = self.manifest["seed"] if order_seed is None else order_seed
        self._arrays, self._file_of_row, self._row_in_file = self._build_order(self.manifest["shards"][split], seed)
        self.num_rows = int(self._file_of_row.shape[0])

    def _build_order(self, shards: list[dict], seed: int):
        arrays = []
        files, rows_in_files = [], []
        phase_blocks: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for file_index, shard in enumerate(shards):
            path = self.shard_dir / shard["file"]
            rows = int(shard["rows"])
            arrays.append(
                np.memmap(path, dtype=np.uint16, mode="r", shape=(rows, self.seq_len)) if rows else None
            )
            block = (np.full(rows, file_index, dtype=np.int32), np.arange(rows, dtype=np.int64))
            phase_blocks.setdefault(int(shard["phase_index"]), []).append(block)
        if self.split != "train":
            # Validation is one mixed pool, so any prefix of it covers every (phase, source).
            phase_blocks = {0: [block for index in sorted(phase_blocks) for block in phase_blocks[index]]}
        for phase_index in sorted(phase_blocks):
            file_ids = np.concatenate([block[0] for block in phase_blocks[phase_index]])
            row_ids = np.concatenate([block[1] for block in phase_blocks[phase_index]])
            permutation = np.random.default_rng([seed, phase_index]).permutation(file_ids.shape[0])
            files.append(file_ids[permutation])
            rows_in_files.append(row_ids[permutation])
        if not files:
            return arrays, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
        return arrays, np.concatenate(files), np.concatenate(rows_in_files)

    def phase_boundaries(self) -> list[tuple[str, int, int]]:
        """(phase name, first global row, end row) of each phase in the order iterated."""
        bounds, start = [], 0
        names = {int(s["phase_index"]): s["phase"] for s in self.manifest["shards"][self.split]}
        counts: dict[int, int] = {}
        for shard in self.manifest["shards"][self.split]:
            counts[int(shard["phase_index"])] = counts.get(int(shard["phase_index"]), 0) + int(shard["rows"])
        for phase_index in sorted(counts):
            bounds.append((names[phase_index], start, start + counts[phase_index]))
            start += counts[phase_index]
        return bounds

    def rows(self, global_rows: np.ndarray) -> np.ndarray:
        """Token rows (uint16 -> int64) at global positions (taken modulo the split size)."""
        positions = np.asarray(global_rows, dtype=np.int64) % self.num_rows
        out = np.empty((positions.shape[0], self.seq_len), dtype=np.int64)
        for slot, position in enumerate(positions):
            out[slot] = self._arrays[self._file_of_row[position]][self._row_in_file[position]]
        return out

    def describe(self) -> str:
        return str(self.shard_dir)
