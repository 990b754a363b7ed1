"""What a training step may not do on a GPU: wait for the device. Checked on the CPU by handing
the step's input preparation a `meta` device, whose tensors hold no values: any decision taken
on the copied tensors would fail."""

import torch

from atomlm.training.loop import _model_inputs, _training_mask


def _batch(attention_mask: list[list[int]]) -> dict:
    mask = torch.tensor(attention_mask)
    input_ids = torch.arange(mask.numel()).view(mask.shape)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": input_ids.masked_fill(mask == 0, -100)}


def test_the_padding_decision_is_taken_on_the_cpu_mask_before_the_copy():
    meta = torch.device("meta")
    packed = _model_inputs(_batch([[1, 1, 1, 0], [1, 1, 1, 1]]), meta)  # padding only at row ends
    assert packed["attention_mask"] is None
    assert packed["input_ids"].device == meta and packed["labels"].device == meta
    left_padded = _model_inputs(_batch([[0, 1, 1, 1], [1, 1, 1, 1]]), meta)
    assert left_padded["attention_mask"].device == meta and left_padded["attention_mask"].shape == (2, 4)


def test_training_mask_keeps_a_mask_only_where_a_pad_precedes_a_token():
    assert _training_mask(torch.tensor([[1, 1, 0, 0]])) is None
    mask = torch.tensor([[1, 0, 1, 0]])
    assert _training_mask(mask) is mask


def test_a_global_batch_without_supervised_tokens_is_reported_at_the_check_naming_its_step(tmp_path, make_config):
    import contextlib
    import itertools

    import pytest

    from atomlm.training.config import load_config
    from atomlm.training.distributed import init_distributed
    from atomlm.training.loop import Trainer

    config = load_config(str(make_config(tmp_path / "tiny.json", run={"log_every": 4})))
    with contextlib.closing(Trainer(config, tmp_path / "run", False, init_distributed("cpu"), progress=False)) as trainer:
        real = next(trainer.batches)
        unsupervised = {**real, "labels": torch.full_like(real["labels"], -100)}
        loader_batches = trainer.batches
        trainer.batches = itertools.chain([real, real, unsupervised, unsupervised], loader_batches)
        trainer.train_step()
        trainer.train_step()  # queued like the first: nothing is read yet
        with pytest.raises(RuntimeError, match=r"^step 2: the global batch has no supervised tokens"):
            trainer.check_losses()
        trainer.batches = loader_batches  # what `close` shuts down
