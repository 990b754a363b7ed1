"""The model card (README.md) of an exported model directory, as a `huggingface_hub.ModelCard`.

The card data carries the license, pipeline tag and a model-index with the measured results
given to the export (`atomlm eval arithmark` / `atomlm eval exact-match` output files).
"""

from __future__ import annotations

import json
from pathlib import Path

from atomlm.errors import UserError
from atomlm.training.metrics import VALIDATION_LOSSES
from atomlm.training.run_processes import describe_processes

LICENSE = "apache-2.0"
TAGS = ["atomlm", "arithmetic", "small-language-model", "custom_code"]
# What the training record's fields mean, for the card's training table.
RECORD_FIELDS = {
    "curriculum_name": "curriculum",
    "tokens_seen": "tokens seen",
    "steps": "optimizer steps",
    "wall_time_s": "wall time (s)",
    "final_loss": "final training loss",
    **VALIDATION_LOSSES,
    "arithmark_acc": "ArithMark acc on the periodic probe slice (not the full set)",
}

BODY = """
# {title}

A {parameters:,}-parameter decoder-only causal language model with an arithmetic-aware
tokenizer, built with atomlm. Load it with `trust_remote_code=True`; the code files here need
only `torch` and `transformers` (4.46 or newer, 5.x included).

## Usage
```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(".", trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(".", trust_remote_code=True)
inputs = tokenizer("12 + 34 =", return_tensors="pt", add_special_tokens=False)
output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
print(tokenizer.decode(output[0], skip_special_tokens=True))  # 12 + 34 = 46 with a trained model
```
To stream the output, use the tokenizer module's `AtomTextStreamer` (transformers' `TextStreamer`
may print a least-significant-first digit run before it is complete):
`streamer = sys.modules[type(tokenizer).__module__].AtomTextStreamer(tokenizer, skip_special_tokens=True)`.

**Use the remote-code tokenizer.** {tokenizer}

## Architecture
| field | value |
|---|---|
| parameters | {parameters:,} |
| layers / hidden | {num_hidden_layers} / {hidden_size} |
| attention | {num_attention_heads} query heads, {num_key_value_heads} KV heads (GQA), head_dim {head_dim}, RoPE (theta {rope_theta:g}), XSA {xsa} |
| FFN | SwiGLU, intermediate {intermediate_size} |
| vocabulary | {vocab_size}, byte-level BPE, tied input/output embeddings |
| place embedding | {places} |
| role embedding | {roles} |
| context | {max_position_embeddings} tokens (RoPE) |

Digits are atomic tokens; `+ - * / = ( )` and whitespace are isolated. Place and role ids are
derived from token ids inside `forward` (causally), so callers pass only `input_ids` and
`attention_mask`; `generate` works with the dynamic and the static cache.
{results}
## ArithMark 2.0
```
python benchmark_fusion_arithmark.py --checkpoint . --data-path arithmark_2.0.jsonl \\
    --batch-size 64 --device cpu --output benchmark_results/fusion_arithmark_2.0_results.json
```
`arithmark_2.0.jsonl` here is atomlm's ArithMark 2.0-compatible set (same schema, generated
offline), not the official file.
{training}
## Files
`model.safetensors`, `config.json`, `generation_config.json`, `configuration_atom.py`,
`modeling_atom.py`, `arithmetic_features.py`, `tokenizer.json`, `tokenizer_config.json`,
`tokenization_atom.py`, `benchmark_fusion_arithmark.py`, `arithmark_2.0.jsonl`,
`pretraining_curriculum.json`{record_file}.
"""


def read_eval_results(paths) -> list[dict]:
    """Parse `atomlm eval` output files into model-index entries (name, task, metric, value, groups)."""
    entries = []
    for path in map(Path, paths):
        try:
            result = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"--results {path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise UserError(f"--results {path}: not a JSON file ({error})") from None
        entries.append(_eval_entry(path, result))
    return entries


def _eval_entry(path: Path, result) -> dict:
    dataset = Path(str(result.get("dataset", path.stem))).name if isinstance(result, dict) else ""
    if isinstance(result, dict) and isinstance(result.get("results"), dict) and result["results"]:
        (benchmark, headline), = list(result["results"].items())[:1]
        return {"task": "multiple-choice", "metric": "accuracy", "metric_name": f"{benchmark} acc",
                "value": round(float(headline["acc"]), 2), "dataset": dataset,
                "groups": _group_accuracies(result)}
    if isinstance(result, dict) and "acc" in result and "predictions" in result:
        return {"task": "text-generation", "metric": "exact_match", "metric_name": "greedy exact match",
                "value": round(float(result["acc"]), 2), "dataset": dataset, "groups": _group_accuracies(result)}
    raise UserError(f"--results {path}: expected the output of `atomlm eval arithmark` or `atomlm eval exact-match`")


def _group_accuracies(result: dict) -> dict:
    table = result.get("breakdowns", {}).get("difficulty", {})
    return {name: round(float(cell["acc"]), 2) for name, cell in table.items()}


def tokenizer_description(digit_order: str, number_marker: str) -> str:
    """Which of atomlm's tokenizer variants the model uses, and what a runtime must do to match it."""
    if digit_order == "lsd":
        order = ("Every digit run is written least-significant digit first (\"1234\" -> tokens 4 3 2 1) by "
                 "`tokenization_atom.py` before the `tokenizer.json` pipeline runs, and put back in order on "
                 "decode.")
    else:
        order = "Digit runs are tokenized as written, one digit per token (atomlm's `--digit-order msd` ablation)."
    if number_marker == "end":
        marker = ("A `<|number_end|>` token follows every digit run (atomlm's default tokenizer, "
                  "`atomlm tokenizer train --number-marker end`): a truncated answer such as ` 7` for ` 17` is "
                  "then not a token prefix of the right one, so summed log-prob scoring cannot prefer it. "
                  "Decoding drops the marker.")
    else:
        marker = ("No number marker: this is Atom2.7m's original tokenizer (`atomlm tokenizer train "
                  "--number-marker none`). Under summed log-prob scoring an ending that drops the answer's leading "
                  "digits (` 7` for ` 17`) is a token prefix of the right one and always scores higher.")
    runtime = ("`tokenizer.json` alone does not apply these rules, so a runtime that ignores the remote code "
               "(llama.cpp, tokenizers-only or transformers.js loaders, TGI without remote code) feeds the model "
               "wrong ids.")
    return "\n".join([order, marker, runtime])


def render_model_card(config, parameters: int, training_record: dict | None, eval_results: list[dict],
                      digit_order: str = "lsd", number_marker: str = "none"):
    """The card for an exported directory (save it with `.save(path)`); `digit_order` and
    `number_marker` are the exported tokenizer's options."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    title = "Atom (trained with atomlm)" if training_record else "Atom (random initialisation)"
    data = ModelCardData(
        license=LICENSE,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=TAGS,
        model_name=title,
        eval_results=[
            EvalResult(task_type=entry["task"], dataset_type="arithmark", dataset_name=entry["dataset"],
                       metric_type=entry["metric"], metric_name=entry["metric_name"], metric_value=entry["value"])
            for entry in eval_results
        ] or None,
    )
    body = BODY.format(
        title=title,
        parameters=parameters,
        tokenizer=tokenizer_description(digit_order, number_marker),
        num_hidden_layers=config.num_hidden_layers,
        hidden_size=config.hidden_size,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        rope_theta=config.rope_theta,
        xsa="on" if config.use_xsa else "off",
        intermediate_size=config.intermediate_size,
        vocab_size=config.vocab_size,
        places=f"{config.place_vocab_size} x {config.hidden_size}" if config.use_place_ids else "off",
        roles=f"{config.role_vocab_size} x {config.hidden_size}" if config.use_role_ids else "off",
        max_position_embeddings=config.max_position_embeddings,
        results=_results_section(eval_results),
        training=_training_section(training_record),
        record_file=", `training_record.json`" if training_record else "",
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def _results_section(eval_results: list[dict]) -> str:
    if not eval_results:
        return ""
    lines = ["", "## Results", "| dataset | metric | value | by difficulty |", "|---|---|---|---|"]
    for entry in eval_results:
        groups = ", ".join(f"{name} {value:.2f}" for name, value in entry["groups"].items()) or "-"
        lines.append(f"| {entry['dataset']} | {entry['metric_name']} | {entry['value']:.2f} | {groups} |")
    return "\n".join(lines) + "\n"


def _record_value(key: str, value) -> str:
    """A training-record field as the card shows it: counts and seconds in whole numbers with
    thousands separators (23,502, not 2.35e+04), other numbers to 4 significant digits."""
    if key == "wall_time_s" or (isinstance(value, int) and not isinstance(value, bool)):
        return f"{value:,.0f}"
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def _training_section(training_record: dict | None) -> str:
    if not training_record:
        return "\n## Training\nThis directory holds randomly initialised weights (`atomlm export --random-init`).\n"
    lines = ["", "## Training", "| field | value |", "|---|---|"]
    for key, label in RECORD_FIELDS.items():
        if training_record.get(key) is not None:
            lines.append(f"| {label} | {_record_value(key, training_record[key])} |")
    started_from = ((training_record.get("config") or {}).get("model") or {}).get("init_from")
    initialised_from = training_record.get("initialised_from")
    if initialised_from:
        before = initialised_from["tokens_in_all"]
        lines.append(f"| started from | the weights of `{initialised_from['checkpoint']}` (`model.init_from`: step "
                     f"{initialised_from['step']:,}, {before:,} tokens seen in all); the numbers above are this "
                     "stage's only |")
        lines.append(f"| tokens seen in all | {before + training_record.get('tokens_seen', 0):,} (the stages before "
                     "this one included) |")
    elif started_from:  # a record from before the lineage was recorded
        lines.append(f"| started from | the weights of `{started_from}` (`model.init_from`); the numbers "
                     "above are this stage's only |")
    branched_from = training_record.get("branched_from")
    if branched_from:
        lines.append(f"| branched from | step {branched_from['step']:,} ({branched_from['tokens_seen']:,} tokens) of the run "
                     f"checkpointed in `{branched_from['checkpoint']}` (`atomlm train --branch-from`); the numbers above "
                     "include that run's |")
    processes = describe_processes(training_record.get("processes") or [])
    if len(processes) > 1:  # resumed on other hardware: which machine trained which steps
        lines.append(f"| trained by | {'; '.join(processes)} |")
    for key in ("hardware", "versions"):
        if isinstance(training_record.get(key), dict):
            summary = ", ".join(f"{name} {value}" for name, value in training_record[key].items())
            lines.append(f"| {key} | {summary} |")
    return "\n".join(lines) + "\n\nThe full record is `training_record.json`.\n"
