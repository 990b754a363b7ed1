"""Learning-rate schedules: linear warmup, then cosine or warmup-stable-decay (WSD).

Not transformers' `get_cosine_with_min_lr_schedule_with_warmup` / `get_wsd_schedule`: their
learning rate comes one step later than here (tests/training/test_config_and_schedule.py compares
them at every step of every preset). Their first step is the start of the warmup (learning rate
0 for cosine, `min_lr_ratio * lr` for WSD) and they reach the floor one step after the last, so
no step trains at it; here the first step already trains at lr/warmup and the last at the
floor. Their WSD is otherwise this one shifted by a step; their cosine decay also spans one step
more. Switching would change the learning rate of existing runs at nearly every step (and what
`--resume` of such a run continues) for nothing the schedules could not already express.
"""

from __future__ import annotations

import math

from atomlm.training.config import OptimSettings


def lr_multiplier(step: int, settings: OptimSettings) -> float:
    """Factor applied to `settings.lr` for optimiser step `step` (0-based).

    Warmup ramps linearly from lr/warmup to lr. Cosine then decays to `min_lr_ratio * lr` at the
    last step; WSD holds lr and decays linearly over the last `decay_fraction` of the steps.
    """
    total, warmup, floor = settings.max_steps, settings.warmup_steps, settings.min_lr_ratio
    if step < warmup:
        return (step + 1) / warmup
    if settings.schedule == "constant":
        return 1.0
    if settings.schedule == "cosine":
        span = max(1, total - 1 - warmup)
        progress = min(1.0, (step - warmup) / span)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if settings.schedule == "wsd":
        decay_steps = max(1, round(settings.decay_fraction * total))
        decay_start = max(warmup, total - decay_steps)
        if step < decay_start:
            return 1.0
        progress = min(1.0, (step - decay_start + 1) / max(1, total - decay_start))
        return 1.0 - (1.0 - floor) * progress
    raise ValueError(f"unknown schedule {settings.schedule!r}")


def build_scheduler(optimizer, settings: OptimSettings):
    """A `LambdaLR` over `lr_multiplier`; its state_dict is what checkpoints store."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_multiplier(step, settings))
