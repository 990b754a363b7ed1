"""The optimiser of a run: AdamW, or Muon on the hidden matrices with AdamW on the rest.

Muon (`torch.optim.Muon`) orthogonalises each update of a 2-D weight; it suits the blocks'
projection matrices (q, k, v, o, gate, up, down), not embeddings (rows are looked up, not
multiplied) or norm weights, which stay with AdamW. `CombinedOptimizer` puts both behind one
`torch.optim.Optimizer`, so the learning-rate schedule and checkpoints see a single object: its
`param_groups` are the parts' own group dicts (a scheduler that sets `lr` sets it in the part).
"""

from __future__ import annotations

import torch

OPTIMIZERS = ("adamw", "muon")


def build_optimizer(model: torch.nn.Module, settings) -> tuple[torch.optim.Optimizer, bool]:
    """`(optimizer, fused)` for `settings.optimizer`; weight decay on matrices only, never on norms."""
    if settings.optimizer == "muon":
        hidden = [p for name, p in model.named_parameters() if p.requires_grad and is_hidden_matrix(name, p)]
        hidden_ids = {id(p) for p in hidden}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in hidden_ids]
        muon = torch.optim.Muon(hidden, lr=settings.lr, weight_decay=settings.weight_decay,
                                momentum=settings.muon_momentum, adjust_lr_fn="match_rms_adamw")
        adamw, fused = _adamw(rest, settings)
        return CombinedOptimizer([muon, adamw]), fused
    return _adamw([p for p in model.parameters() if p.requires_grad], settings)


def is_hidden_matrix(name: str, parameter: torch.Tensor) -> bool:
    """A 2-D weight inside a block (attention and MLP projections), not an embedding or the head."""
    return parameter.dim() == 2 and ".layers." in f".{name}"


def _adamw(parameters, settings) -> tuple[torch.optim.AdamW, bool]:
    decay = [p for p in parameters if p.dim() >= 2]
    no_decay = [p for p in parameters if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    options = dict(lr=settings.lr, betas=(settings.beta1, settings.beta2), eps=settings.eps)
    if settings.fused:
        try:
            return torch.optim.AdamW(groups, fused=True, **options), True
        except (RuntimeError, ValueError):
            pass  # this build/device has no fused kernel
    return torch.optim.AdamW(groups, **options), False


class CombinedOptimizer(torch.optim.Optimizer):
    """Several optimisers over disjoint parameters, stepped, zeroed, saved and restored as one."""

    def __init__(self, parts: list[torch.optim.Optimizer]):
        # Optimizer.__init__ would copy the groups; the parts keep theirs and we expose them.
        self.parts = parts
        self.defaults = {}
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}
        self._optimizer_state_dict_pre_hooks = {}
        self._optimizer_state_dict_post_hooks = {}
        self._optimizer_load_state_dict_pre_hooks = {}
        self._optimizer_load_state_dict_post_hooks = {}

    @property
    def param_groups(self) -> list[dict]:
        return [group for part in self.parts for group in part.param_groups]

    @property
    def state(self) -> dict:
        return {key: value for part in self.parts for key, value in part.state.items()}

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for part in self.parts:
            part.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict) -> None:
        if len(state_dict.get("parts", [])) != len(self.parts):
            raise ValueError("optimizer state was saved by another optimiser (optim.optimizer changed?)")
        for part, part_state in zip(self.parts, state_dict["parts"]):
            part.load_state_dict(part_state)

    def __repr__(self) -> str:
        return f"CombinedOptimizer({', '.join(type(part).__name__ for part in self.parts)})"
