"""The optimiser of a run: AdamW, or Muon on the hidden matrices with AdamW on the rest.

Muon (`torch.optim.Muon`) orthogonalises each update of a 2-D weight; it suits the blocks'
projection matrices (q, k, v, o, gate, up, down), not embeddings (rows are looked up, not
multiplied) or norm weights, which stay with AdamW. `optim.muon_matrices` narrows it to the
attention or the MLP projections (the others then train with AdamW). `CombinedOptimizer` puts
both behind one `torch.optim.Optimizer`, so the learning-rate schedule and checkpoints see a
single object: its `param_groups` are the parts' own group dicts (a scheduler that sets `lr`
sets it in the part).
"""

from __future__ import annotations

import warnings

import torch

from atomlm.training.config import MUON_MATRICES


def build_optimizer(model: torch.nn.Module, settings,
                    bf16_run: bool = True) -> tuple[torch.optim.Optimizer, bool]:
    """`(optimizer, fused)` for `settings.optimizer`; weight decay on matrices only, never on norms.
    Muon orthogonalises in bfloat16 as torch does in a `bf16_run`, else in float32 (`Float32Muon`):
    an fp32 run is one on a machine without native bf16 (`run.precision` auto)."""
    if settings.optimizer == "muon":
        modules = MUON_MATRICES[settings.muon_matrices]
        hidden = [p for name, p in model.named_parameters() if p.requires_grad and is_hidden_matrix(name, p)
                  and any(module in f".{name}" for module in modules)]
        hidden_ids = {id(p) for p in hidden}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in hidden_ids]
        muon_class = torch.optim.Muon if bf16_run else Float32Muon.for_this_torch()
        muon = muon_class(hidden, lr=settings.lr, weight_decay=settings.weight_decay,
                          momentum=settings.muon_momentum, adjust_lr_fn="match_rms_adamw")
        adamw, fused = _adamw(rest, settings)
        return CombinedOptimizer([muon, adamw]), fused
    return _adamw([p for p in model.parameters() if p.requires_grad], settings)


def is_hidden_matrix(name: str, parameter: torch.Tensor) -> bool:
    """A 2-D weight inside a block (attention and MLP projections), not an embedding or the head."""
    return parameter.dim() == 2 and ".layers." in f".{name}"


class Float32Muon(torch.optim.Muon):
    """`torch.optim.Muon` with its Newton-Schulz orthogonalisation in float32 instead of bfloat16.

    torch runs those iterations in bfloat16 whatever the weights are; a CPU without native bf16
    (AVX2 only) emulates it, which more than halved the cpu-6h training throughput there (1.45k vs
    the fp32 model step's 3.4k tokens/s). Same update otherwise: only the iteration's dtype differs."""

    @staticmethod
    def for_this_torch() -> type[torch.optim.Muon]:
        """`Float32Muon`, or `torch.optim.Muon` with a warning where this torch no longer has the
        private iteration it replaces (`torch.optim._muon._zeropower_via_newtonschulz`, torch 2.9-2.13):
        the run then orthogonalises in bfloat16, slower on a CPU without native bf16 but correct."""
        from torch.optim import _muon

        if callable(getattr(_muon, "_zeropower_via_newtonschulz", None)):
            return Float32Muon
        warnings.warn(f"torch {torch.__version__} has no torch.optim._muon._zeropower_via_newtonschulz: "
                      "Muon orthogonalises in bfloat16 in this fp32 run", RuntimeWarning, stacklevel=2)
        return torch.optim.Muon

    @torch.no_grad()
    def step(self, closure=None):
        from torch.optim import _muon

        bfloat16_iteration = _muon._zeropower_via_newtonschulz
        _muon._zeropower_via_newtonschulz = newton_schulz_float32
        try:
            return super().step(closure)
        finally:
            _muon._zeropower_via_newtonschulz = bfloat16_iteration


def newton_schulz_float32(grad: torch.Tensor, ns_coefficients: tuple[float, float, float], ns_steps: int,
                          eps: float) -> torch.Tensor:
    """Muon's quintic Newton-Schulz iteration (Jordan et al., 2024) in float32: the approximate
    orthogonal factor of `grad`, computed on its wide orientation, scaled to spectral norm <= 1 first."""
    a, b, c = ns_coefficients
    tall = grad.size(0) > grad.size(1)
    x = grad.float().T if tall else grad.float()
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


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
