"""Evaluations run during training on the main process: validation loss and an ArithMark slice."""

from __future__ import annotations

import itertools

import torch

from atomlm.training.config import ConfigError


@torch.no_grad()
def validation_loss(model, loader, *, batches: int, device, autocast) -> float | None:
    """Mean loss per supervised token over the first `batches` batches of `loader` (a fresh,
    single-pass loader of the validation rows, e.g. `TokenBatchLoader(DIR, B, split="val", loop=False)`).

    Returns None when there are no validation rows.
    """
    if loader.num_rows == 0:
        return None  # shards built without a validation split
    was_training = model.training
    model.eval()
    summed, count = 0.0, 0
    for batch in itertools.islice(loader, batches):
        labels = batch["labels"].to(device)
        supervised = int((labels[:, 1:] != -100).sum())
        if supervised == 0:
            continue
        with autocast():
            output = model(
                input_ids=batch["input_ids"].to(device),
                attention_mask=batch["attention_mask"].to(device),
                labels=labels,
                num_items_in_batch=supervised,
                use_cache=False,
            )
        summed += float(output.loss) * supervised
        count += supervised
    model.train(was_training)
    return summed / count if count else None


class ArithmarkProbe:
    """ArithMark accuracy on `rows` evenly spaced rows of the shipped benchmark file (0: off)."""

    def __init__(self, tokenizer, rows: int, batch_size: int):
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.rows = None
        if rows <= 0:
            return
        from atomlm.evaluation.benchmark_fusion_arithmark import (
            default_data_path,
            load_arithmark_rows,
            score_arithmark,
        )

        path = default_data_path()
        if path is None:
            raise ConfigError(
                "run.arithmark_rows > 0 but no ArithMark benchmark data file is installed (set run.arithmark_rows=0 to skip)"
            )
        self._score = score_arithmark
        # Evenly spaced rows: the file is ordered by difficulty, so its head would be easy only.
        all_rows = load_arithmark_rows(path)
        stride = max(1, len(all_rows) // rows)
        self.rows = all_rows[::stride][:rows]

    @property
    def enabled(self) -> bool:
        return bool(self.rows)

    @torch.no_grad()
    def accuracy(self, model, device) -> float:
        """Percent correct on the slice (model scored in its current dtype, eval mode)."""
        was_training = model.training
        model.eval()
        result = self._score(model, self.tokenizer, self.rows, batch_size=self.batch_size, device=str(device))
        model.train(was_training)
        return float(result["acc"])
