"""ArithMark scoring for any Hugging Face causal LM (ArithMark 2.0 official protocol).

Standalone on purpose: this file is copied into every exported model directory and must run
there with only the standard library, torch and transformers installed:

    python benchmark_fusion_arithmark.py --checkpoint . --data-path arithmark_2.0.jsonl \
        --batch-size 128 --device cpu --output out.json

Protocol (identical predictions to the official runner): the model is loaded with the Auto
classes and ``trust_remote_code=True``, the tokenizer with ``use_fast=False``; ``ctx`` and each
ending are tokenized separately without special tokens and concatenated (no BOS); an ending's
score is the summed log-probability of its tokens; the prediction is the first argmax.

The scoring avoids wasted work without changing the numbers being compared: the shared part
of the four sequences (the context plus the endings' common token prefix) runs once, the
vocabulary projection runs only at the positions whose next token is scored, and batches hold
equal-length shared parts in length order. The endings' remaining tokens ("tails") are grouped
by length across the batch and each group reads a copy of its owners' rows of the shared KV
cache, so no position anywhere is padded and every projected logit is used.

Readers: ArithMark 2.0 rows (``ctx/endings/label``), ArithMark v1 rows
(``expression/options/answer_index``) and ArithMark 3 rows (``ctx/endings/label`` plus
``category``; primary metric ``acc_norm``). Each reader validates every line and fails with
``file:line: what is wrong``.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import sys
import time
from pathlib import Path

# torch and transformers are imported inside the functions that use them, so that building
# the argument parser (e.g. for `atomlm --help`) stays fast.

SCRIPT_DIR = Path(__file__).resolve().parent
# Looked up in order when --data-path is omitted: the exported model directory's copy of the
# benchmark, then the compatible set shipped beside this file inside the atomlm package.
DEFAULT_DATA_CANDIDATES = (
    SCRIPT_DIR / "arithmark_2.0.jsonl",
    SCRIPT_DIR / "data" / "arithmark_2.0_compat.jsonl",
)
BENCHMARK_NAMES = {"2.0": "arithmark_2.0", "v1": "arithmark_v1", "3": "arithmark_3"}
# Items per batch: measured fastest on 2 CPU cores (benchmarks/arithmark_scoring.py).
DEFAULT_BATCH_SIZE = 128
# Row metadata keys a result is broken down by, where the rows carry them (`topic`: the
# operation of a one-operator row, "mixed" otherwise).
BREAKDOWN_KEYS = ("difficulty", "operator_count", "has_parentheses", "topic", "category", "stage", "n_operands")


class ArithMarkFormatError(ValueError):
    """A data file that does not follow the ArithMark schema (message starts with file:line)."""


# ----------------------------------------------------------------------------------- reading


def _fail(path, line_number, message):
    raise ArithMarkFormatError(f"{path}:{line_number}: {message}")


def detect_format(record: dict) -> str:
    """Return "2.0", "v1" or "3" for one parsed JSON row (the first row decides for a file)."""
    if "expression" in record and "options" in record:
        return "v1"
    if "ctx" in record and "endings" in record:
        return "3" if "category" in record and "metadata" not in record else "2.0"
    raise ValueError(
        "cannot tell the format: expected ArithMark 2.0/3 keys ctx, endings, label or "
        f"ArithMark v1 keys expression, options, answer_index; got keys {sorted(record)}"
    )


def _parse_label(value, n_endings, path, line_number):
    # ArithMark 2.0 writes the label as a string ("2"); accept ints too, reject anything else.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        _fail(path, line_number, f"label must be an integer or a digit string, got {value!r}")
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        _fail(path, line_number, f"label must be an integer or a digit string, got {value!r}")
    label = int(text)
    if not 0 <= label < n_endings:
        _fail(path, line_number, f"label {label} is out of range for {n_endings} endings")
    return label


def _row_from_ctx_endings(record, benchmark_format, path, line_number):
    for key in ("ctx", "endings", "label"):
        if key not in record:
            _fail(path, line_number, f"missing field {key!r}")
    ctx, endings = record["ctx"], record["endings"]
    if not isinstance(ctx, str) or not ctx.strip():
        _fail(path, line_number, f"ctx must be a non-empty string, got {ctx!r}")
    if not isinstance(endings, list) or not all(isinstance(e, str) and e for e in endings):
        _fail(path, line_number, "endings must be a list of non-empty strings")
    if benchmark_format == "2.0":
        if len(endings) != 4:
            _fail(path, line_number, f"expected 4 endings, got {len(endings)}")
        for i, ending in enumerate(endings):
            if not ending.startswith(" "):
                _fail(path, line_number, f"ending {i} {ending!r} does not start with a space")
    elif len(endings) < 2:
        _fail(path, line_number, f"expected at least 2 endings, got {len(endings)}")
    metadata = record.get("metadata", {})
    if not isinstance(metadata, dict):
        _fail(path, line_number, "metadata must be an object")
    metadata = dict(metadata)
    if "category" in record:
        metadata.setdefault("category", record["category"])
    return {
        "ind": record.get("ind", line_number - 1),
        "ctx": ctx,
        "endings": list(endings),
        "label": _parse_label(record["label"], len(endings), path, line_number),
        "metadata": metadata,
    }


def _row_from_v1(record, raw_options, path, line_number):
    for key in ("expression", "options", "answer_index"):
        if key not in record:
            _fail(path, line_number, f"missing field {key!r}")
    expression = record["expression"]
    if not isinstance(expression, str) or not expression.strip():
        _fail(path, line_number, f"expression must be a non-empty string, got {expression!r}")
    if not isinstance(raw_options, list) or len(raw_options) != 4:
        _fail(path, line_number, "options must be a list of 4 numbers")
    for option in raw_options:
        # raw_options keeps each number's text exactly as the file writes it ("-3", "0.3333").
        try:
            float(option)
        except (TypeError, ValueError):
            _fail(path, line_number, f"option {option!r} is not a number")
    ctx = expression.rstrip()
    if not ctx.endswith("="):
        ctx += " ="
    metadata = {k: record[k] for k in ("stage", "n_operands", "answer") if k in record}
    return {
        "ind": record.get("id", line_number - 1),
        "ctx": ctx,
        "endings": [" " + option for option in raw_options],
        "label": _parse_label(record["answer_index"], 4, path, line_number),
        "metadata": metadata,
    }


def _same_number(answer, text):
    try:
        return float(answer) == float(text)
    except (TypeError, ValueError):
        return str(answer).strip() == text


def _inconsistency(row):
    """Why a row contradicts its own answer key, or None: scoring it would count a wrong label."""
    endings = [ending.strip() for ending in row["endings"]]
    repeated = sorted({ending for ending in endings if endings.count(ending) > 1})
    if repeated:
        return f"endings repeat ({', '.join(map(repr, repeated))})"
    answer = row["metadata"].get("answer")
    labelled = endings[row["label"]]
    if answer is not None and not _same_number(answer, labelled):
        return f"metadata.answer {answer!r} is not the labelled ending {labelled!r} (label {row['label']})"
    return None


def _inconsistency_report(problems):
    count = len(problems)
    rows = "row" if count == 1 else "rows"
    return (f"{count} inconsistent {rows} (metadata.answer is not the labelled ending, or endings repeat); "
            f"first {problems[0]}")


def read_arithmark_file(path, *, strict=False, warn=None) -> tuple[str, list[dict]]:
    """Read and validate an ArithMark file of any supported format.

    Returns ``(format, rows)`` where format is "2.0", "v1" or "3" and every row is normalised to
    ``{"ind", "ctx", "endings", "label" (int), "metadata"}``. Raises ArithMarkFormatError naming
    the file and line for malformed JSON or UTF-8, missing fields, a label out of range, a 2.0
    ending without its leading space, mixed formats, or an empty file; FileNotFoundError for a
    missing file. Rows whose ``metadata.answer`` is not the labelled ending, or whose endings
    repeat, are read, but reported: as an ArithMarkFormatError when ``strict``, else passed to
    ``warn(message)`` (one message for the whole file, with the count and the first file:line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ArithMark data file")
    benchmark_format = None
    rows = []
    problems = []
    with path.open("rb") as handle:
        for line_number, line_bytes in enumerate(handle, start=1):
            try:
                line = line_bytes.decode("utf-8")
            except UnicodeDecodeError:
                _fail(path, line_number, "not UTF-8 text")
            if not line.strip():
                continue
            try:
                # parse_float/parse_int keep numbers as written, which v1 endings must reproduce.
                raw = json.loads(line, parse_float=str, parse_int=str)
                record = json.loads(line)
            except json.JSONDecodeError as error:
                _fail(path, line_number, f"invalid JSON ({error.msg} at column {error.colno})")
            if not isinstance(record, dict):
                _fail(path, line_number, f"expected a JSON object, got {type(record).__name__}")
            try:
                line_format = detect_format(record)
            except ValueError as error:
                _fail(path, line_number, str(error))
            if benchmark_format is None:
                benchmark_format = line_format
            elif line_format != benchmark_format:
                _fail(path, line_number, f"row is ArithMark {line_format} but the file started as {benchmark_format}")
            if line_format == "v1":
                rows.append(_row_from_v1(record, raw.get("options"), path, line_number))
            else:
                rows.append(_row_from_ctx_endings(record, line_format, path, line_number))
            problem = _inconsistency(rows[-1])
            if problem:
                problems.append(f"{path}:{line_number}: {problem}")
    if not rows:
        raise ArithMarkFormatError(f"{path}: the file is empty (no ArithMark rows)")
    if problems and strict:
        raise ArithMarkFormatError(_inconsistency_report(problems))
    if problems and warn is not None:
        warn(_inconsistency_report(problems))
    return benchmark_format, rows


def load_arithmark_rows(path) -> list[dict]:
    """Read and validate an ArithMark file; return its normalised rows (see read_arithmark_file)."""
    return read_arithmark_file(path)[1]


# ----------------------------------------------------------------------------------- scoring


def _encode(tokenizer, text):
    return list(tokenizer.encode(text, add_special_tokens=False))


def _common_prefix_length(sequences):
    shortest = min(len(s) for s in sequences)
    length = 0
    while length < shortest and all(s[length] == sequences[0][length] for s in sequences):
        length += 1
    return length


def _prepare_items(tokenizer, rows):
    """Tokenize like the official runner, then split each item into shared part and tails."""
    known = {}  # text -> ids: endings repeat across rows, and encoding a text is deterministic

    def encode(text):
        if text not in known:
            known[text] = _encode(tokenizer, text)
        return known[text]

    items = []
    for index, row in enumerate(rows):
        ctx_ids = encode(row["ctx"])
        ending_ids = [encode(ending) for ending in row["endings"]]
        if not ctx_ids or not all(ending_ids):
            raise ValueError(f"row {row['ind']}: ctx or an ending tokenizes to no tokens")
        # Tokens every ending starts with are scored once, as part of the shared sequence.
        prefix = _common_prefix_length(ending_ids)
        if prefix == min(len(e) for e in ending_ids):
            prefix -= 1  # keep at least one tail token per ending so each tail is well defined
        prefix = max(prefix, 0)
        items.append({
            "index": index,
            "shared": ctx_ids + ending_ids[0][:prefix],
            "n_ctx": len(ctx_ids),
            "tails": [e[prefix:] for e in ending_ids],
            "ending_lengths": [len(e) for e in ending_ids],
        })
    return items


def _batches(items, batch_size):
    """Equal shared length inside a batch (no padding in the cached part), length-sorted."""
    order = sorted(items, key=lambda it: (len(it["shared"]), max(len(t) for t in it["tails"])))
    batch = []
    for item in order:
        if batch and (len(batch) == batch_size or len(item["shared"]) != len(batch[0]["shared"])):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _keep_kwargs(model, keep):
    """Ask for logits at the last `keep` positions only, where the model's forward supports it."""
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        return {"logits_to_keep": keep}
    return {}


def _cache_argument(model) -> str:
    """The name the model's forward takes its KV cache under: `cache` in newer transformers, else `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _returned_cache(output):
    """The KV cache a forward returned, under either name transformers has used for it."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _token_log_probs(logits, targets):
    """log p(target) at each position, computed in float32."""
    import torch

    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _forward_tail_groups(model, cache, tails, owners, device):
    """Summed log-probs of tails[i][1:], each read after its owner's cached shared part.

    Tails are grouped by length so that no position is padded: each group gets a copy of the
    cache holding its owners' rows (an item's row repeated once per ending in the group) and one
    forward pass whose every logit is scored. One-token tails need no pass at all.
    """
    import torch

    sums = torch.zeros(len(tails), dtype=torch.float32, device=device)
    groups = {}
    for index, tail in enumerate(tails):
        if len(tail) > 1:
            groups.setdefault(len(tail), []).append(index)
    for number, length in enumerate(sorted(groups)):
        members = groups[length]
        # The last group may consume the cache itself; the others read copies.
        group_cache = cache if number == len(groups) - 1 else copy.deepcopy(cache)
        group_cache.batch_select_indices(torch.tensor([owners[i] for i in members], device=device))
        sequences = torch.tensor([tails[i] for i in members], device=device)
        logits = model(input_ids=sequences[:, :-1], use_cache=True, **{_cache_argument(model): group_cache}).logits
        sums[members] = _token_log_probs(logits, sequences[:, 1:]).sum(-1)
    return sums


def _score_batch(model, batch, device):
    """Per-item lists of summed log-probs, one per ending (items may have different counts)."""
    import torch

    shared = torch.tensor([it["shared"] for it in batch], device=device)
    # Logits are needed from the last ctx position on: it predicts the first ending token.
    keep = max(len(it["shared"]) - it["n_ctx"] for it in batch) + 1
    out = model(input_ids=shared, use_cache=True, **_keep_kwargs(model, keep))
    log_probs = torch.log_softmax(out.logits[:, -keep:].float(), dim=-1)

    # Common-prefix tokens (scored once per item) and each tail's first token.
    n_scored = torch.tensor([len(it["shared"]) - it["n_ctx"] for it in batch], device=device)
    prefix_targets = shared[:, shared.shape[1] - keep + 1:]
    prefix_lp = log_probs[:, :-1].gather(-1, prefix_targets.unsqueeze(-1)).squeeze(-1)
    positions = torch.arange(keep - 1, device=device)
    prefix_sums = (prefix_lp * (positions >= keep - 1 - n_scored.unsqueeze(1))).sum(-1)

    tails = [tail for item in batch for tail in item["tails"]]
    owners = [b for b, item in enumerate(batch) for _ in item["tails"]]
    owner_ids = torch.tensor(owners, device=device)
    first_ids = torch.tensor([tail[0] for tail in tails], device=device)
    totals = prefix_sums[owner_ids] + log_probs[owner_ids, -1, first_ids]
    totals = totals + _forward_tail_groups(model, _returned_cache(out), tails, owners, device)
    totals = totals.tolist()
    results, start = [], 0
    for item in batch:
        results.append(totals[start:start + len(item["tails"])])
        start += len(item["tails"])
    return results


def _first_argmax(values):
    return max(range(len(values)), key=values.__getitem__)


def _breakdowns(rows, correct, correct_norm):
    tables = {}
    for key in BREAKDOWN_KEYS:
        if not any(key in row["metadata"] for row in rows):
            continue
        groups = {}
        for row, hit, hit_norm in zip(rows, correct, correct_norm):
            group = groups.setdefault(str(row["metadata"].get(key)), [0, 0, 0])
            group[0] += hit
            group[1] += hit_norm
            group[2] += 1
        tables[key] = {
            name: {"acc": 100.0 * c / n, "acc_norm": 100.0 * cn / n, "correct": c, "total": n}
            for name, (c, cn, n) in sorted(groups.items())
        }
    return tables


def score_arithmark(model, tokenizer, rows, *, batch_size=DEFAULT_BATCH_SIZE, device="cpu", progress=False) -> dict:
    """Score normalised ArithMark rows with an in-memory causal LM (the official protocol).

    Returns ``acc`` and ``acc_norm`` (percent; acc_norm ranks endings by mean log-prob per
    ending token), ``correct``, ``correct_norm``, ``total``, ``breakdowns`` (by difficulty,
    operator_count, has_parentheses and any other known metadata key present) and
    ``predictions`` (one dict per row, in input order, with the per-ending scores).
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not rows:
        raise ValueError("no rows to score")
    was_training = model.training
    model.eval()
    items = _prepare_items(tokenizer, rows)
    scores = [None] * len(rows)
    batches = list(_batches(items, batch_size))
    iterator = batches
    if progress:
        from transformers.utils.logging import tqdm  # transformers' own tqdm keeps this standalone

        iterator = tqdm(batches, desc="ArithMark", unit="batch")
    try:
        with torch.inference_mode():
            for batch in iterator:
                for item, item_scores in zip(batch, _score_batch(model, batch, device)):
                    scores[item["index"]] = item_scores
    finally:
        model.train(was_training)

    predictions, correct, correct_norm = [], [], []
    for row, item_scores, item in zip(rows, scores, items):
        normalised = [s / n for s, n in zip(item_scores, item["ending_lengths"])]
        predicted, predicted_norm = _first_argmax(item_scores), _first_argmax(normalised)
        correct.append(int(predicted == row["label"]))
        correct_norm.append(int(predicted_norm == row["label"]))
        predictions.append({
            "ind": row["ind"],
            "label": row["label"],
            "prediction": predicted,
            "prediction_norm": predicted_norm,
            "correct": bool(correct[-1]),
            "scores": item_scores,
        })
    total = len(rows)
    return {
        "acc": 100.0 * sum(correct) / total,
        "acc_norm": 100.0 * sum(correct_norm) / total,
        "correct": sum(correct),
        "correct_norm": sum(correct_norm),
        "total": total,
        "breakdowns": _breakdowns(rows, correct, correct_norm),
        "predictions": predictions,
    }


# ----------------------------------------------------------------------------------- running


def load_model_and_tokenizer(name_or_path, device="cpu", dtype=None):
    """Load exactly as the official runner does: Auto classes, remote code, slow-tokenizer request."""
    import torch

    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype is None or dtype == "auto":
        dtype = "bfloat16" if str(device).startswith("cuda") else "float32"
    torch_dtype = getattr(torch, dtype)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=True, use_fast=False)
    model = AutoModelForCausalLM.from_pretrained(name_or_path, trust_remote_code=True, dtype=torch_dtype)
    return model.to(device).eval(), tokenizer


def default_data_path():
    """The first existing default benchmark file, or None."""
    for candidate in DEFAULT_DATA_CANDIDATES:
        if candidate.is_file():
            return candidate
    return None


def run_benchmark(model_name, data_path=None, *, batch_size=DEFAULT_BATCH_SIZE, device="cpu", dtype=None,
                  progress=True, strict=False, warn=None, load_model=load_model_and_tokenizer):
    """Load a model and a data file, score them, and return the output JSON as a dict.

    ``strict`` and ``warn`` are read_arithmark_file's; ``load_model(model_name, device=, dtype=)``
    returns ``(model, tokenizer)`` (the atomlm CLI passes one that checks the files first).
    """

    data_path = Path(data_path) if data_path else default_data_path()
    if data_path is None:
        raise FileNotFoundError("no --data-path given and no default ArithMark file found beside the script")
    benchmark_format, rows = read_arithmark_file(data_path, strict=strict, warn=warn)
    model, tokenizer = load_model(model_name, device=device, dtype=dtype)
    started = time.perf_counter()
    result = score_arithmark(model, tokenizer, rows, batch_size=batch_size, device=device, progress=progress)
    seconds = time.perf_counter() - started
    benchmark = BENCHMARK_NAMES[benchmark_format]
    headline = {"acc": result["acc"], "correct": result["correct"], "total": result["total"]}
    if benchmark_format == "3":
        headline["acc_norm"] = result["acc_norm"]
    return {
        "model": str(model_name),
        "params": sum(p.numel() for p in model.parameters()),
        "dataset": str(data_path),
        "results": {benchmark: headline},
        "primary_metric": "acc_norm" if benchmark_format == "3" else "acc",
        "acc_norm": result["acc_norm"],
        "correct_norm": result["correct_norm"],
        "breakdowns": result["breakdowns"],
        "protocol": {
            "format": benchmark_format,
            "batch_size": batch_size,
            "device": str(device),
            "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
            "seconds": round(seconds, 3),
        },
        "predictions": result["predictions"],
    }


def format_report(output) -> str:
    """A short human-readable summary: headline metric and the per-operator_count table."""
    (benchmark, headline), = output["results"].items()
    lines = [
        f"{benchmark}: acc {headline['acc']:.2f}% ({headline['correct']}/{headline['total']}), "
        f"acc_norm {output['acc_norm']:.2f}%  [{output['model']}, {output['params']:,} params]"
    ]
    for key in ("operator_count", "difficulty", "has_parentheses", "topic", "category"):
        table = output["breakdowns"].get(key)
        if not table:
            continue
        lines.append(f"{key:>16} | {'acc':>7} | {'acc_norm':>8} | total")
        for name, cell in table.items():
            lines.append(f"{name:>16} | {cell['acc']:7.2f} | {cell['acc_norm']:8.2f} | {cell['total']}")
    return "\n".join(lines)


def positive_int(text):
    """argparse type for counts such as --batch-size: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Flags shared by this script (inside an exported model directory) and `atomlm eval arithmark`."""
    parser.add_argument("--checkpoint", "--model", dest="checkpoint", default=".", metavar="MODEL",
                        help="model to score: a Hugging Face model directory (e.g. from atomlm export --out) "
                        "or hub id (default: the current directory)")
    parser.add_argument("--data-path", default=None, metavar="FILE",
                        help="ArithMark 2.0, v1 or 3 .jsonl file (default: the ArithMark 2.0 file beside the "
                        "runner: arithmark_2.0.jsonl in an exported model directory, the compatible set in atomlm)")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help=f"items scored per forward pass (default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16"],
                        help="weights dtype (default and auto: float32 on CPU, bfloat16 on CUDA, "
                        "as the official runner)")
    parser.add_argument("--strict", action="store_true",
                        help="fail on rows whose metadata.answer is not the labelled ending or whose endings "
                        "repeat (default: score them and print a warning)")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help="also write the full result JSON (with predictions) here")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (there is none anyway when stderr is not a terminal)")
    return parser


def _print_warning(message):
    print(f"warning: {message}", file=sys.stderr)


def run_and_report(args, *, warn=_print_warning, load_model=load_model_and_tokenizer, add_findings=None) -> dict:
    """Score as the parsed arguments say (see add_arguments); print a summary, write --output.

    `add_findings(output)` may add keys to the output (and print them) before it is written.
    Errors propagate: ArithMarkFormatError for the data, OSError for missing files.
    """
    progress = not args.no_progress and sys.stderr is not None and sys.stderr.isatty()
    output = run_benchmark(args.checkpoint, args.data_path, batch_size=args.batch_size, device=args.device,
                           dtype=args.dtype, strict=args.strict, warn=warn, load_model=load_model, progress=progress)
    print(format_report(output))
    if add_findings is not None:
        add_findings(output)
    if args.output:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return output


def run_from_args(args) -> int:
    """The standalone script's run: run_and_report, with a data or file error printed as one line."""
    try:
        run_and_report(args)
    except (ArithMarkFormatError, OSError) as error:
        # transformers' OSErrors run to several lines; the first says what is missing.
        print(f"error: {(str(error).strip().splitlines() or [type(error).__name__])[0]}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
