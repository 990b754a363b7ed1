"""Muon's Newton-Schulz orthogonalisation in bfloat16 (what `torch.optim.Muon` does) against
float32 (`Float32Muon`, what an fp32 run uses), on the hidden matrices of Atom2.7m.

One optimiser step of a Muon run orthogonalises every attention and MLP projection once. On a
CPU without native bf16 (AVX2 only) torch emulates the bf16 matmuls; the table shows what that
costs per step, beside the float32 iteration, in alternating rounds of one run.

    .venv/bin/python benchmarks/muon_orthogonalisation.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.optim import _muon

from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.modeling_atom import AtomForCausalLM
from atomlm.training.loop import native_bf16
from atomlm.training.optimizers import is_hidden_matrix, newton_schulz_float32


def step_seconds(orthogonalise, matrices: list[torch.Tensor]) -> float:
    coefficients = (_muon.DEFAULT_A, _muon.DEFAULT_B, _muon.DEFAULT_C)
    start = time.perf_counter()
    for matrix in matrices:
        orthogonalise(matrix, coefficients, _muon.DEFAULT_NS_STEPS, _muon.EPS)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = AtomForCausalLM(AtomConfig())
    matrices = [torch.randn_like(p) for name, p in model.named_parameters() if is_hidden_matrix(name, p)]
    variants = {"bfloat16 (torch.optim.Muon)": _muon._zeropower_via_newtonschulz,
                "float32 (Float32Muon)": newton_schulz_float32}
    times = {name: [] for name in variants}
    for orthogonalise in variants.values():
        step_seconds(orthogonalise, matrices[:2])  # warm-up
    for _ in range(args.rounds):
        for name, orthogonalise in variants.items():
            times[name].append(step_seconds(orthogonalise, matrices))
    shapes = sorted({tuple(m.shape) for m in matrices})
    print(f"cpu capability {torch.backends.cpu.get_cpu_capability()} | native bf16 {native_bf16(torch.device('cpu'))} | "
          f"torch threads {torch.get_num_threads()} | {len(matrices)} matrices {shapes} | {args.rounds} rounds")
    reference = statistics.median(times["float32 (Float32Muon)"])
    print(f"{'iteration':<30} {'s per optimiser step (median)':>30} {'vs float32':>11}")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:<30} {median:>30.3f} {median / reference:>10.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
