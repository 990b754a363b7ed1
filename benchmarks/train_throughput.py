"""Training throughput of the full Atom model against the same shape with place/role/XSA off.

One optimiser step = forward + backward + AdamW (fused where available), the same work as
`atomlm train`. The two models are timed in alternating rounds within one run, so background
load affects both alike; the table reports the median round of each and their ratio.

    .venv/bin/python benchmarks/train_throughput.py                 # CPU, bf16 autocast
    .venv/bin/python benchmarks/train_throughput.py --device cuda   # where a GPU is available
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.modeling_atom import AtomForCausalLM


def arithmetic_batch(tokenizer, batch_size: int, seq_len: int, seed: int = 0) -> torch.Tensor:
    """Rows of tokenized integer equations mixed with words, so feature derivation does real work."""
    rng = random.Random(seed)
    ids: list[int] = []
    while len(ids) < batch_size * seq_len:
        a, b = rng.randint(0, 99999), rng.randint(0, 9999)
        op = rng.choice("+-*")
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        ids += tokenizer.encode(f"{a} {op} {b} = {value}\nthe answer is {value}.\n", add_special_tokens=False)
    return torch.tensor(ids[: batch_size * seq_len]).view(batch_size, seq_len)


def make_trainer(config: AtomConfig, device: torch.device, seed: int):
    torch.manual_seed(seed)
    model = AtomForCausalLM(config).to(device).train()
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    except (RuntimeError, ValueError):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return model, optimizer


def train_steps(model, optimizer, batch: torch.Tensor, steps: int, precision: str) -> float:
    """Seconds for `steps` optimiser steps on `batch`."""
    autocast = torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    if batch.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        with autocast:
            loss = model(input_ids=batch, labels=batch, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if batch.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="torch.compile both models (cold compile not timed)")
    args = parser.parse_args(argv)

    from atomlm.tokenizer import load_tokenizer

    device = torch.device(args.device)
    batch = arithmetic_batch(load_tokenizer(), args.batch_size, args.seq_len).to(device)
    variants = {
        "Atom (place + role + XSA)": AtomConfig(),
        "baseline (all three off)": AtomConfig(use_place_ids=False, use_role_ids=False, use_xsa=False),
    }
    trainers = {}
    for name, config in variants.items():
        model, optimizer = make_trainer(config, device, seed=0)
        parameters = sum(p.numel() for p in model.parameters())
        if args.compile:
            model = torch.compile(model)
        train_steps(model, optimizer, batch, args.warmup, args.precision)
        trainers[name] = (model, optimizer, parameters, [])

    tokens = args.steps * batch.numel()
    for _ in range(args.rounds):  # alternate, so load spikes hit both variants
        for model, optimizer, _, rates in trainers.values():
            rates.append(tokens / train_steps(model, optimizer, batch, args.steps, args.precision))

    print(
        f"device {device} | precision {args.precision} | batch {args.batch_size} x seq {args.seq_len} | "
        f"{args.rounds} rounds x {args.steps} steps | torch threads {torch.get_num_threads()} | compile {args.compile}"
    )
    baseline = statistics.median(trainers["baseline (all three off)"][3])
    print(f"{'model':<28} {'parameters':>11} {'tokens/s (median)':>18} {'min':>8} {'max':>8} {'vs baseline':>12}")
    for name, (_, _, parameters, rates) in trainers.items():
        median = statistics.median(rates)
        print(f"{name:<28} {parameters:>11,} {median:>18,.0f} {min(rates):>8,.0f} {max(rates):>8,.0f} {median / baseline:>11.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
