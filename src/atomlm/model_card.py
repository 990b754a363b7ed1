"""The README.md model card written into every exported model directory."""

from __future__ import annotations

import json

CARD = """---
library_name: transformers
tags: [atomlm, arithmetic, small-language-model, custom_code]
---
# {title}

A {parameters:,}-parameter decoder-only causal language model with an arithmetic-aware
tokenizer, built with [atomlm](https://github.com/atomlm/atomlm). Load it with
`trust_remote_code=True`; the code files here need only `torch` and `transformers`.

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

Digits are atomic tokens and every digit run is tokenized least-significant digit first
("1234" -> 4 3 2 1); `+ - * / = ( )` and whitespace are isolated. Place and role ids are derived
from token ids inside `forward` (causally), so callers pass only `input_ids` and `attention_mask`.

## Usage
```python
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(".", trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(".", trust_remote_code=True)
inputs = tokenizer("12 + 34 =", return_tensors="pt", add_special_tokens=False)
output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
print(tokenizer.decode(output[0]))
```

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


def render_model_card(config, parameters: int, training_record: dict | None) -> str:
    """Markdown for an exported model directory."""
    if training_record:
        summary = {key: training_record[key] for key in (
            "preset", "curriculum_name", "tokens_seen", "steps", "wall_time_s", "hardware", "final_loss",
            "arithmark",
        ) if key in training_record}
        training = "\n## Training\n```json\n" + json.dumps(summary, indent=2, default=str) + "\n```\n"
        title, record_file = "Atom (trained with atomlm)", ", `training_record.json`"
    else:
        training = "\n## Training\nThis directory holds randomly initialised weights (`atomlm export --random-init`).\n"
        title, record_file = "Atom (random initialisation)", ""
    return CARD.format(
        title=title,
        parameters=parameters,
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
        training=training,
        record_file=record_file,
    )
