"""Exact-match accuracy of greedy generation on ArithMark rows.

Multiple choice only asks the model to rank four endings; here it must write the answer. Each
`ctx` is completed greedily (batched, left padding) and the first number of the continuation is
compared with the right ending, number against number.
"""

from __future__ import annotations

import re
from collections import defaultdict

from atomlm.evaluation.benchmark_fusion_arithmark import BREAKDOWN_KEYS

NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


def first_number(text: str) -> str | None:
    """The number a continuation starts with (`" -51 and"` -> `"-51"`), or None."""
    match = NUMBER.match(text)
    return match.group(1) if match else None


def exact_match(model, tokenizer, rows, *, batch_size: int = 64, max_new_tokens: int = 12,
                device: str = "cpu", progress: bool = False) -> dict:
    """Greedy-complete every row's ctx; returns acc (percent), per-group tables and predictions."""
    import torch

    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    end_ids = [i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")) if i is not None]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["ctx"]))
    completions = [None] * len(rows)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="greedy generation", unit="batch")
    try:
        for batch in batches:
            prompts = [rows[i]["ctx"] for i in batch]
            inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                        eos_token_id=end_ids, pad_token_id=tokenizer.pad_token_id)
            for i, sequence in zip(batch, output):
                # Decode prompt + continuation together so a digit run is re-ordered as a whole.
                text = tokenizer.decode(sequence, skip_special_tokens=True)
                completions[i] = text[len(rows[i]["ctx"]):] if text.startswith(rows[i]["ctx"]) else text
    finally:
        tokenizer.padding_side = padding_side

    groups = defaultdict(lambda: [0, 0])
    predictions, correct = [], 0
    for row, completion in zip(rows, completions):
        expected = row["endings"][row["label"]].strip()
        produced = first_number(completion)
        hit = produced is not None and _same_number(produced, expected)
        correct += hit
        metadata = row.get("metadata", {})
        for key in BREAKDOWN_KEYS:
            if key in metadata:
                cell = groups[(key, str(metadata[key]))]
                cell[0] += hit
                cell[1] += 1
        predictions.append({"ind": row["ind"], "expected": expected, "completion": completion, "correct": hit})
    tables = defaultdict(dict)
    for (key, value), (hits, total) in sorted(groups.items()):
        tables[key][value] = {"acc": 100.0 * hits / total, "correct": hits, "total": total}
    return {"acc": 100.0 * correct / len(rows), "correct": correct, "total": len(rows),
            "breakdowns": dict(tables), "predictions": predictions}


def _same_number(produced: str, expected: str) -> bool:
    try:
        return float(produced) == float(expected) and ("." in produced) == ("." in expected)
    except ValueError:
        return False
