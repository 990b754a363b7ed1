"""Training throughput: the full Atom model against the same shape with place/role/XSA off, or
(`--loop`) the real training loop against the bare model step it wraps.

Default: one optimiser step = forward + backward + AdamW (fused where available) on a fixed
batch. The two models are timed in alternating rounds within one run, so background load
affects both alike; the table reports the median round of each and their ratio.

`--loop`: the `Trainer` of `atomlm train` on real shards (`--config`, default the `smoke`
preset: its loader, host->device copies, supervised-token count, gradient accumulation,
clipping, schedule, and the loss check a logged step makes) against the bare step of the same
model and optimizer (forward + backward over the same micro batches, already on the device,
then the optimizer step), in alternating rounds. Nothing is evaluated or checkpointed; the run
directory is temporary. Target with the `gpu` preset on one H100: the loop at >= 0.9x the bare
step and >= 5M tokens/s. Not measured yet: no GPU was available to this work.

    .venv/bin/python benchmarks/train_throughput.py                 # CPU, bf16 autocast
    .venv/bin/python benchmarks/train_throughput.py --device cuda   # where a GPU is available
    .venv/bin/python benchmarks/train_throughput.py --loop          # smoke preset on the CPU
    .venv/bin/python benchmarks/train_throughput.py --loop --config gpu --set data.curriculum=smoke \\
        --device cuda --steps 50 --warmup 20
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.modeling_atom import AtomForCausalLM
from atomlm.training.loop import resolve_precision, use_tf32_matmuls


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


def model_and_optimizer(config: AtomConfig, device: torch.device, seed: int):
    torch.manual_seed(seed)
    model = AtomForCausalLM(config).to(device).train()
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    except (RuntimeError, ValueError):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return model, optimizer


def seconds(work, device: torch.device) -> float:
    """Wall time of `work()`, including the device work it queued."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def train_steps(model, optimizer, batches: list[dict], steps: int, precision: str) -> float:
    """Seconds for `steps` optimiser steps, each a forward and backward pass over every batch of
    `batches` (dicts of `input_ids` and `labels` on the device: gradient accumulation), then the
    optimizer step."""
    device = batches[0]["input_ids"].device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def work():
        for _ in range(steps):
            for batch in batches:
                with autocast:
                    loss = model(input_ids=batch["input_ids"], labels=batch["labels"], use_cache=False).loss
                loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return seconds(work, device)


def loop_steps(trainer, steps: int) -> float:
    """Seconds for `steps` steps of the real loop, ending with the loss check of a logged step."""

    def work():
        for _ in range(steps):
            trainer.train_step()
        trainer.check_losses()

    return seconds(work, trainer.context.device)


def compare_variants(args) -> None:
    from atomlm.tokenizer import load_tokenizer

    device = torch.device(args.device)
    use_tf32_matmuls(device)
    precision = resolve_precision(args.precision, device)
    batch = arithmetic_batch(load_tokenizer(), args.batch_size, args.seq_len).to(device)
    batches = [{"input_ids": batch, "labels": batch}]
    variants = {
        "Atom (place + role + XSA)": AtomConfig(),
        "baseline (all three off)": AtomConfig(use_place_ids=False, use_role_ids=False, use_xsa=False),
    }
    trainers = {}
    for name, config in variants.items():
        model, optimizer = model_and_optimizer(config, device, seed=0)
        parameters = sum(p.numel() for p in model.parameters())
        if args.compile:
            model = torch.compile(model)
        train_steps(model, optimizer, batches, args.warmup, precision)
        trainers[name] = (model, optimizer, parameters, [])

    tokens = args.steps * batch.numel()
    for _ in range(args.rounds):  # alternate, so load spikes hit both variants
        for model, optimizer, _, rates in trainers.values():
            rates.append(tokens / train_steps(model, optimizer, batches, args.steps, precision))

    print(
        f"device {device} | precision {precision} | batch {args.batch_size} x seq {args.seq_len} | "
        f"{args.rounds} rounds x {args.steps} steps | torch threads {torch.get_num_threads()} | compile {args.compile}"
    )
    baseline = statistics.median(trainers["baseline (all three off)"][3])
    print(f"{'model':<28} {'parameters':>11} {'tokens/s (median)':>18} {'min':>8} {'max':>8} {'vs baseline':>12}")
    for name, (_, _, parameters, rates) in trainers.items():
        median = statistics.median(rates)
        print(f"{name:<28} {parameters:>11,} {median:>18,.0f} {min(rates):>8,.0f} {max(rates):>8,.0f} {median / baseline:>11.2f}x")


def compare_loop_with_bare_step(args) -> None:
    from atomlm.training import distributed
    from atomlm.training.config import apply_overrides, load_config
    from atomlm.training.loop import Trainer
    from atomlm.training.optimizers import build_optimizer

    quiet = [
        f"run.device={args.device}", f"optim.max_steps={args.warmup + args.rounds * args.steps}",
        "run.eval_every_steps=0", "run.arithmark_rows=0", "run.checkpoint_every_steps=0",
        "run.checkpoint_every_minutes=0", "run.report_to=none",
    ]
    config = apply_overrides(load_config(args.config), quiet + args.set)
    context = distributed.init_distributed(config.run.device)
    with tempfile.TemporaryDirectory() as run_dir, \
            contextlib.closing(Trainer(config, Path(run_dir), False, context, progress=False)) as trainer:
        device = context.device
        torch.manual_seed(config.run.seed)
        model = AtomForCausalLM(trainer.raw_model.config).to(device).train()
        precision = resolve_precision(config.run.precision, device)
        optimizer, _ = build_optimizer(model, config.optim, bf16_run=precision == "bf16")
        if config.run.compile:
            model = torch.compile(model)
        batches = [
            {"input_ids": batch["input_ids"].to(device), "labels": batch["labels"].to(device)}
            for batch in (next(trainer.batches) for _ in range(trainer.accumulation))
        ]
        loop_steps(trainer, args.warmup)
        train_steps(model, optimizer, batches, args.warmup, precision)

        tokens = args.steps * config.tokens_per_step()
        loop_rates, bare_rates = [], []
        for _ in range(args.rounds):  # alternate, so load spikes hit both
            loop_rates.append(tokens / loop_steps(trainer, args.steps))
            bare_rates.append(tokens / train_steps(model, optimizer, batches, args.steps, precision))

    optim = config.optim
    print(
        f"device {device} | config {args.config} | global batch {optim.global_batch_size} x seq {config.data.seq_len} "
        f"(micro batch {optim.micro_batch_size}, accumulation {trainer.accumulation}) | optimizer {optim.optimizer} | "
        f"precision {precision} | compile {config.run.compile} | {args.rounds} rounds x {args.steps} steps | "
        f"torch threads {torch.get_num_threads()}"
    )
    bare = statistics.median(bare_rates)
    print(f"{'step':<42} {'tokens/s (median)':>18} {'min':>10} {'max':>10} {'vs bare':>8}")
    for name, rates in (("bare model step (batch on the device)", bare_rates),
                        ("training loop (Trainer.train_step)", loop_rates)):
        median = statistics.median(rates)
        print(f"{name:<42} {median:>18,.0f} {min(rates):>10,.0f} {max(rates):>10,.0f} {median / bare:>7.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                        help="model comparison only; auto: bf16 where the device computes it natively, else fp32")
    parser.add_argument("--seq-len", type=int, default=512, help="model comparison only")
    parser.add_argument("--batch-size", type=int, default=16, help="model comparison only")
    parser.add_argument("--compile", action="store_true",
                        help="model comparison only: torch.compile both models (cold compile not timed)")
    parser.add_argument("--loop", action="store_true", help="time the training loop against the bare model step")
    parser.add_argument("--config", default="smoke", help="--loop: preset or config file (default smoke)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="--loop: override one config field, as in atomlm train (repeatable)")
    args = parser.parse_args(argv)
    if args.loop:
        compare_loop_with_bare_step(args)
    else:
        compare_variants(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
