"""How fast Synthetic-Arithmetic is generated and tokenized, against how fast training eats tokens.

Prints one row per difficulty stage (equations/s, generated tokens/s, generated+tokenized
tokens/s on one core) and a baseline measured in the same run: training tokens/s of the default
Atom2.7m (forward + backward + AdamW step, batch 8 x 512, fp32, this machine's threads).

    .venv/bin/python benchmarks/arithmetic_generation.py [--equations 50000] [--train-steps 3]
"""

from __future__ import annotations

import argparse
import time


def measure_generation(stage: int, equations: int, tokenizer) -> dict:
    from atomlm.data.arithmetic import ArithmeticGenerator

    generator = ArithmeticGenerator(seed=0, stage=stage)
    started = time.perf_counter()
    texts = [equation.text for equation in generator.take(equations)]
    generated = time.perf_counter() - started
    started = time.perf_counter()
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    tokenized = time.perf_counter() - started
    tokens = sum(len(ids) + 1 for ids in encoded)  # + <|endoftext|> per document
    return {
        "stage": stage,
        "equations_per_s": equations / generated,
        "tokens_per_equation": tokens / equations,
        "generated_tokens_per_s": tokens / generated,
        "end_to_end_tokens_per_s": tokens / (generated + tokenized),
    }


def measure_training(steps: int, batch_size: int = 8, seq_len: int = 512) -> float:
    import torch

    from atomlm.modeling.configuration_atom import AtomConfig
    from atomlm.modeling.modeling_atom import AtomForCausalLM

    torch.manual_seed(0)
    model = AtomForCausalLM(AtomConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    input_ids = torch.randint(5, 4096, (batch_size, seq_len))

    def step():
        loss = model(input_ids=input_ids, labels=input_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size * seq_len / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equations", type=int, default=50_000)
    parser.add_argument("--train-steps", type=int, default=3)
    args = parser.parse_args()

    from atomlm.data.arithmetic import STAGES
    from atomlm.tokenizer import load_tokenizer

    tokenizer = load_tokenizer()
    tokenizer.model_max_length = 1 << 62
    training_tokens_per_s = measure_training(args.train_steps)
    print(f"baseline: Atom2.7m training consumes {training_tokens_per_s:,.0f} tokens/s (batch 8 x 512, fp32)")
    print()
    print(f"{'stage':<6} {'equations/s':>12} {'tokens/eq':>10} {'gen tokens/s':>13} {'gen+tok tokens/s':>17} {'x training':>11}")
    for stage in STAGES:
        row = measure_generation(stage, args.equations, tokenizer)
        print(
            f"{stage:<6} {row['equations_per_s']:>12,.0f} {row['tokens_per_equation']:>10.1f} "
            f"{row['generated_tokens_per_s']:>13,.0f} {row['end_to_end_tokens_per_s']:>17,.0f} "
            f"{row['end_to_end_tokens_per_s'] / training_tokens_per_s:>10.0f}x"
        )


if __name__ == "__main__":
    main()
