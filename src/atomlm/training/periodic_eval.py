"""Evaluations run during training on the main process: validation loss and an ArithMark slice."""

from __future__ import annotations

import itertools

import torch

from atomlm.training.config import ConfigError
from atomlm.training.metrics import VALIDATION_LOSSES


@torch.no_grad()
def validation_losses(model, loader, *, batches: int, device, autocast) -> dict[str, float] | None:
    """Mean loss per target token over the first `batches` batches of `loader` (a fresh,
    single-pass loader of the validation rows, e.g. `TokenBatchLoader(DIR, B, split="val", loop=False)`),
    for each of `VALIDATION_LOSSES`, with one forward pass per batch. `loader`'s labels must
    supervise every token (its default `loss_on`); `model.config` finds the questions.

    Returns None when there are no validation rows.
    """
    from atomlm.modeling.arithmetic_features import question_tokens

    if loader.num_rows == 0:
        return None  # shards built without a validation split
    was_training = model.training
    model.eval()
    sums = {name: torch.zeros((), device=device) for name in VALIDATION_LOSSES}  # on the device: one host
    counts = {name: torch.zeros((), device=device) for name in VALIDATION_LOSSES}  # sync at the end, not per batch
    for batch in itertools.islice(loader, batches):
        input_ids, labels = batch["input_ids"].to(device), batch["labels"].to(device)
        attention_mask = batch["attention_mask"].to(device)
        answer_labels = labels.masked_fill(question_tokens(input_ids, model.config, attention_mask), -100)
        with autocast():
            logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        targets = labels[:, 1:]
        per_token = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets,
                                                      ignore_index=-100, reduction="none")
        for name, supervised in (("val_loss", targets != -100), ("val_loss_answers", answer_labels[:, 1:] != -100)):
            sums[name] += (per_token * supervised).sum()  # per_token is 0 where targets are -100
            counts[name] += supervised.sum()
    model.train(was_training)
    totals = torch.stack([torch.stack((sums[name], counts[name])) for name in VALIDATION_LOSSES]).tolist()
    return {name: total / count for name, (total, count) in zip(VALIDATION_LOSSES, totals) if count} or None


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
