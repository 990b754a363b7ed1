"""How fast Synthetic-Arithmetic is generated and tokenized, against how fast training eats tokens.

Prints one row per difficulty stage (equations/s, generated tokens/s, generated+tokenized
tokens/s on one core) and a baseline measured in the same run: training tokens/s of the default
Atom2.7m (forward + backward + AdamW step, batch 8 x 512, fp32, this machine's threads). Then the
streamed batches that `data.stream` trains on (`atomlm.data.stream`), made in the training
process (0 workers) and by 1 and 2 worker processes: seconds to the first batch (worker start-up
included), then rows/s and row tokens/s (padding included: what training consumes).

    .venv/bin/python benchmarks/arithmetic_generation.py [--equations 50000] [--train-steps 3]
        [--stream-rows 4096] [--stream-workers 0 1 2]
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


def measure_stream(workers: int, rows: int, seq_len: int = 512, batch_size: int = 64) -> dict:
    """Streamed batches of all six stages mixed, as `atomlm train` reads them with `data.stream`."""
    from atomlm.data.curriculum import parse_curriculum
    from atomlm.data.stream import CurriculumStream, StreamedBatchLoader

    stages = {"weight": 1, "stage": [1, 2, 3, 4, 5, 6]}
    curriculum = parse_curriculum({"name": "all-stages", "phases": [
        {"name": "all", "tokens": 1 << 40, "sources": {"synthetic-arithmetic": stages}}]})
    stream = CurriculumStream(curriculum, seq_len=seq_len)
    started = time.perf_counter()
    batches = iter(StreamedBatchLoader(stream, batch_size, workers=workers))
    first = next(batches)["attention_mask"]
    first_batch_s = time.perf_counter() - started
    steady_started, real_tokens, made = time.perf_counter(), int(first.sum()), batch_size
    while made < rows:
        real_tokens += int(next(batches)["attention_mask"].sum())
        made += batch_size
    steady_s = time.perf_counter() - steady_started
    batches.close()  # ends the worker processes
    return {
        "workers": workers,
        "first_batch_s": first_batch_s,
        "rows_per_s": (made - batch_size) / steady_s,
        "row_tokens_per_s": (made - batch_size) * seq_len / steady_s,
        "fill": real_tokens / (made * seq_len),
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
    parser.add_argument("--stream-rows", type=int, default=4096, help="rows of 512 tokens per streamed measurement")
    parser.add_argument("--stream-workers", type=int, nargs="+", default=[0, 1, 2])
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
    print()
    print("streamed batches (data.stream), stages 1-6 mixed, batch 64 x 512:")
    print(f"{'workers':<8} {'first batch s':>14} {'rows/s':>9} {'row tokens/s':>13} {'non-pad':>8} {'x training':>11}")
    for workers in args.stream_workers:
        row = measure_stream(workers, args.stream_rows)
        print(
            f"{workers:<8} {row['first_batch_s']:>14.2f} {row['rows_per_s']:>9,.0f} {row['row_tokens_per_s']:>13,.0f} "
            f"{row['fill']:>7.1%} {row['row_tokens_per_s'] / training_tokens_per_s:>10.0f}x"
        )


if __name__ == "__main__":
    main()
