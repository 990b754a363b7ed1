"""Time ArithMark scoring: the runner's fast path against a plain official-protocol baseline.

Baseline (measured in the same run, on the same model and rows): batches of 16 items in file
order, each item as four full ctx+ending sequences right-padded, full-vocabulary logits at
every position. Both must give identical predictions; the script exits non-zero otherwise.

    .venv/bin/python benchmarks/arithmark_scoring.py                 # random-init Atom2.7m
    .venv/bin/python benchmarks/arithmark_scoring.py --model DIR     # any HF causal LM dir
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch

from atomlm.evaluation.benchmark_fusion_arithmark import (
    DEFAULT_BATCH_SIZE,
    default_data_path,
    load_arithmark_rows,
    load_model_and_tokenizer,
    score_arithmark,
)


@torch.inference_mode()
def score_plain(model, tokenizer, rows, batch_size=16):
    """The official protocol written plainly: returns per-row predictions (first argmax)."""
    predictions = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        sequences, spans = [], []
        for row in batch:
            ctx = tokenizer.encode(row["ctx"], add_special_tokens=False)
            for ending in row["endings"]:
                ending_ids = tokenizer.encode(ending, add_special_tokens=False)
                sequences.append(ctx + ending_ids)
                spans.append((len(ctx), len(ctx) + len(ending_ids)))
        width = max(len(s) for s in sequences)
        input_ids = torch.zeros(len(sequences), width, dtype=torch.long)
        attention_mask = torch.zeros(len(sequences), width, dtype=torch.long)
        for i, sequence in enumerate(sequences):
            input_ids[i, :len(sequence)] = torch.tensor(sequence)
            attention_mask[i, :len(sequence)] = 1
        log_probs = torch.log_softmax(model(input_ids=input_ids, attention_mask=attention_mask).logits.float(), -1)
        scores = []
        for i, (begin, end) in enumerate(spans):
            targets = input_ids[i, begin:end]
            scores.append(log_probs[i, begin - 1:end - 1].gather(-1, targets.unsqueeze(-1)).sum().item())
        for j in range(len(batch)):
            item = scores[4 * j:4 * j + 4]
            predictions.append(max(range(4), key=item.__getitem__))
    return predictions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="HF model dir (default: export a random-init Atom2.7m)")
    parser.add_argument("--data-path", default=None, help="default: the shipped compatible set (2,500 rows)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="fast path items per batch")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each scorer (fastest is reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model_dir = args.model
    if model_dir is None:
        from atomlm.export import export_random_init

        model_dir = str(export_random_init(tempfile.mkdtemp(prefix="atom-random-"), seed=0))
    rows = load_arithmark_rows(args.data_path or default_data_path())
    model, tokenizer = load_model_and_tokenizer(model_dir)
    params = sum(p.numel() for p in model.parameters())

    score_arithmark(model, tokenizer, rows[:32], batch_size=args.batch_size)  # warm-up
    score_plain(model, tokenizer, rows[:32])
    # Each scorer scores the whole file, as a real run does; the two alternate (which goes
    # first alternates too) so that a busy shared machine slows both alike, and each scorer's
    # fastest repeat is reported.
    fast_times, plain_times = [], []
    for repeat in range(args.repeats):
        for scorer in (("fast", "plain") if repeat % 2 == 0 else ("plain", "fast")):
            started = time.perf_counter()
            if scorer == "fast":
                result = score_arithmark(model, tokenizer, rows, batch_size=args.batch_size)
                fast_predictions = [p["prediction"] for p in result["predictions"]]
                fast_times.append(time.perf_counter() - started)
            else:
                plain = score_plain(model, tokenizer, rows)
                plain_times.append(time.perf_counter() - started)
    fast_seconds, plain_seconds = min(fast_times), min(plain_times)
    fast_acc = 100.0 * sum(p == r["label"] for p, r in zip(fast_predictions, rows)) / len(rows)

    mismatches = sum(a != b for a, b in zip(fast_predictions, plain))
    print(f"model {model_dir} ({params:,} params), {len(rows)} rows, {torch.get_num_threads()} threads")
    print(f"| scorer | seconds | rows/s | speed-up | acc |")
    print(f"|---|---:|---:|---:|---:|")
    plain_acc = 100.0 * sum(p == r["label"] for p, r in zip(plain, rows)) / len(rows)
    print(f"| plain official protocol (batch 16, 4 full sequences, full logits) | {plain_seconds:.2f} | "
          f"{len(rows) / plain_seconds:.0f} | 1.00x | {plain_acc:.2f} |")
    print(f"| fast runner (shared prefix + cache, logits at ending positions, batch {args.batch_size}) | "
          f"{fast_seconds:.2f} | {len(rows) / fast_seconds:.0f} | {plain_seconds / fast_seconds:.2f}x | {fast_acc:.2f} |")
    print(f"identical predictions: {mismatches == 0} ({mismatches} mismatches)")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
