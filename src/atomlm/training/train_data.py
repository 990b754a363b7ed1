"""The rows a run trains and validates on: built token shards (`shard_cache`), or with
`data.stream` rows generated while training runs (`atomlm.data.stream`: Synthetic-Arithmetic,
mathematics problems and KJV text).

A streamed run validates on the stream's held-out rows (`VALIDATION_ROWS` per phase, made of
documents of the held-out hash pool, which training rows never contain, and of mathematics
problems of their own seed stream), so it builds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from atomlm.training.config import DataSettings
from atomlm.training.shard_cache import describe_curriculum, prepare_shards, tokenizer_directory

if TYPE_CHECKING:
    from atomlm.data.stream import CurriculumStream


@dataclass(frozen=True)
class TrainingData:
    """Where a run's rows come from: `shard_dir` (built shards) or `stream` (generated)."""

    curriculum_description: object
    fingerprint: str  # changes whenever the rows would; --resume compares it with the checkpoint's
    shard_dir: Path | None = None
    stream: CurriculumStream | None = None
    stream_workers: int = 0

    def describe(self) -> str:
        """The rows, for messages: "the shards in DIR" or "the streamed rows"."""
        return f"the shards in {self.shard_dir}" if self.shard_dir is not None else "the streamed rows"

    def train_loader(self, batch_size: int, *, rank: int, world_size: int, start_row: int, loss_on: str = "all",
                     model_config=None):
        """The looping train batches of this rank from global row `start_row` on; `loss_on` and
        `model_config` (whose token ids find the equations) as in `RowBatchLoader`."""
        common = dict(split="train", rank=rank, world_size=world_size, start_row=start_row, loop=True,
                      loss_on=loss_on, model_config=model_config)
        if self.shard_dir is not None:
            from atomlm.data.loader import TokenBatchLoader

            return TokenBatchLoader(self.shard_dir, batch_size, **common)
        from atomlm.data.stream import StreamedBatchLoader

        return StreamedBatchLoader(self.stream, batch_size, workers=self.stream_workers, **common)

    def validation_loader(self, batch_size: int):
        """One pass over the validation rows, from the first."""
        if self.shard_dir is not None:
            from atomlm.data.loader import TokenBatchLoader

            return TokenBatchLoader(self.shard_dir, batch_size, split="val", loop=False)
        from atomlm.data.stream import StreamedBatchLoader

        return StreamedBatchLoader(self.stream, batch_size, split="val", loop=False)


def prepare_training_data(settings: DataSettings, is_main: bool, barrier, log, *, progress: bool = True) -> TrainingData:
    """Shards: built by the main process on first use (`prepare_shards`; the others wait at
    `barrier`). Stream: nothing to build; every process makes its own rows."""
    if not settings.stream:
        from atomlm.data.shards import shard_fingerprint

        shard_dir, description = prepare_shards(settings, is_main, barrier, log, progress=progress)
        return TrainingData(description, shard_fingerprint(shard_dir), shard_dir=shard_dir)

    from atomlm.data.curriculum import load_curriculum
    from atomlm.data.stream import CurriculumStream

    curriculum = load_curriculum(settings.curriculum)
    stream = CurriculumStream(curriculum, tokenizer_dir=tokenizer_directory(settings), seq_len=settings.seq_len,
                              seed=settings.seed)
    data = TrainingData(describe_curriculum(curriculum), stream.fingerprint(), stream=stream,
                        stream_workers=settings.stream_workers)
    count = settings.stream_workers
    workers = f"{count} worker process{'es' if count > 1 else ''}" if count else "the training process"
    log(f"data: curriculum {settings.curriculum!r} streamed, its rows generated while training runs by {workers} "
        "on each rank; no shards are built")
    return data
